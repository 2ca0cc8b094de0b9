//! `ceremony`: scripted, witnessed, HSM-backed root CA ceremonies for
//! Kubernetes clusters.
//!
//! Data flows one way: a script ([`ceremony::script`]) becomes a plan
//! ([`ceremony::plan`]), the runner ([`ceremony::run`]) generates keys in the
//! token ([`token`]), builds and signs certificates ([`x509`], [`profile`])
//! and records every step in the hash-chained [`transcript`].
//!
//! The library never prints secrets and never reads a PIN from anywhere but
//! a terminal prompt, a file or an inherited file descriptor.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agekey;
pub mod bundle;
pub mod ceremony;
pub mod checkpoint;
pub mod custody;
pub mod events;
pub mod expiry;
pub mod fsutil;
pub mod hex;
pub mod kubeadm;
pub mod oid;
pub mod profile;
pub mod report;
pub mod requester;
pub mod rotation;
pub mod safety;
pub mod sshsig;
pub mod token;
pub mod transcript;
pub mod x509;

/// Any error the command-line tool can report, with its hint (the binary
/// maps each to an exit code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ceremony script or its execution failed.
    #[error(transparent)]
    Ceremony(#[from] ceremony::Error),
    /// The transcript could not be read or does not verify.
    #[error(transparent)]
    Transcript(#[from] transcript::Error),
    /// The token or PKCS#11 module failed.
    #[error(transparent)]
    Token(#[from] token::Error),
    /// Sealing requests failed.
    #[error(transparent)]
    Requester(#[from] requester::Error),
    /// Opening an output bundle failed.
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
    /// Opening an output bundle into a kubeadm tree failed.
    #[error(transparent)]
    Kubeadm(#[from] kubeadm::Error),
    /// A checkpoint could not be read or does not match.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::Error),
    /// Checking certificate expiry failed or was incomplete.
    #[error(transparent)]
    Expiry(#[from] expiry::Error),
    /// A report could not be made.
    #[error(transparent)]
    Report(#[from] report::Error),
    /// A rotation plan could not be made.
    #[error(transparent)]
    Rotation(#[from] rotation::Error),
    /// A report was made, but the transcript did not verify.
    #[error("{verdict}")]
    ReportFailed {
        /// The verifier's verdict on the transcript.
        verdict: String,
    },
}

impl Error {
    /// A likely fix, printed on its own line after the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Ceremony(e) => e.hint(),
            Error::Token(e) => e.hint(),
            Error::Transcript(e) => e.hint(),
            Error::Requester(e) => e.hint(),
            Error::Bundle(e) => e.hint(),
            Error::Kubeadm(e) => e.hint(),
            Error::Checkpoint(e) => e.hint(),
            Error::Expiry(e) => e.hint(),
            Error::Report(_) => None,
            Error::Rotation(e) => e.hint(),
            Error::ReportFailed { .. } => Some(
                "the report was written with this verdict at the top; keep the transcript as evidence".into(),
            ),
        }
    }
}
