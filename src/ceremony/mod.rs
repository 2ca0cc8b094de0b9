//! Ceremonies: the script format, the plan (what `--dry-run` prints), and
//! the runner that executes a plan against the token while writing the
//! transcript.
//!
//! The runner is the only place that sequences token, certificate and
//! transcript work. It must never sign anything the plan does not name, and
//! it must record how every ceremony it starts ends.

pub mod approvals;
mod cosign;
pub mod plan;
mod reason;
mod run;
pub mod script;
pub mod shares;
pub mod step;
pub mod steps;
mod witness;

pub use crate::events::{Event, Outcome};
pub use cosign::{cosign, Cosigned};
pub use plan::Plan;
pub use reason::Reason;
pub use run::{checkpoint_now, note, run, RunOptions};
pub use shares::ShareInput;

use std::path::PathBuf;

/// Errors from loading or running a ceremony.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The script file could not be read.
    #[error("script {}: cannot read: {source}", path.display())]
    ScriptRead {
        /// The file concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The script is not valid.
    #[error("script {}: {reason}", path.display())]
    Script {
        /// The file concerned.
        path: PathBuf,
        /// Why, naming the rule broken.
        reason: String,
    },
    /// The ceremony refused to proceed; nothing was changed.
    #[error("ceremony {ceremony:?} refused: {}", reason::joined(reasons))]
    Refused {
        /// The ceremony's name.
        ceremony: String,
        /// Every reason, each naming its input and rule.
        reasons: Vec<Reason>,
    },
    /// An output could not be written.
    #[error("output {}: {action}: {source}", path.display())]
    Output {
        /// The file concerned.
        path: PathBuf,
        /// What was being done: open, read, write, sync.
        action: &'static str,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The audit key could not sign a checkpoint.
    #[error("output {}: sign checkpoint: {source}", path.display())]
    SignCheckpoint {
        /// The checkpoint file it was for.
        path: PathBuf,
        /// Why.
        source: Box<crate::checkpoint::Error>,
    },
    /// A token operation failed.
    #[error(transparent)]
    Token(#[from] crate::token::Error),
    /// Building or checking a certificate failed.
    #[error(transparent)]
    X509(#[from] crate::x509::Error),
    /// A certificate profile could not be built.
    #[error(transparent)]
    Profile(#[from] crate::profile::Error),
    /// A request or output bundle failed.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::Error),
    /// The transcript could not be opened or appended to.
    #[error(transparent)]
    Transcript(#[from] crate::transcript::Error),
}

impl Error {
    /// True for refusals: bad input or a conflict, caught before any change.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::Script { .. } | Error::Refused { .. })
    }

    /// A likely fix for the error, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Token(e) => e.hint(),
            Error::X509(e @ crate::x509::Error::Sign { .. }) if crate::token::session_lost(e) => {
                Some(crate::token::SESSION_LOST_HINT.into())
            }
            Error::SignCheckpoint { source, .. } => source.hint(),
            Error::Transcript(e) => e.hint(),
            Error::Bundle(e) => e.hint(),
            Error::Refused { reasons, .. } => reasons.iter().find_map(Reason::hint).map(Into::into),
            _ => None,
        }
    }
}
