//! Signed checkpoints: a transcript's origin name, entry count and head hash,
//! signed by the audit key in the token. A hash chain shows edits; only a
//! checkpoint shows that entries were cut from the end.
//!
//! The signed text is exactly:
//!
//! ```text
//! ceremony-checkpoint/1
//! origin <origin name>
//! entries <N>
//! head <hash of entry N-1, 64 hex digits>
//! ```
//!
//! A checkpoint file is that text followed by `key <SHA-256 of the audit
//! key's SubjectPublicKeyInfo>` and `signature <algorithm OID> <base64 DER>`
//! lines. This module never signs with a CA key.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use der::oid::ObjectIdentifier;
use der::DecodePem;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::hex;
use crate::token::{KeyRecord, SignatureHash, TokenSigner};
use crate::transcript;
use crate::x509::verify_signature;

mod cosigners;
pub mod interrupted;
mod render;
mod verify;

/// A signed checkpoint (its fields are an event's, so the type lives with the events).
pub use crate::events::Checkpoint;
pub use cosigners::{CosignCount, Cosigner, Cosigners};
pub use interrupted::Interrupted;
pub use render::Uncovered;
pub use verify::{verify, verify_with_cosigners, Verified};

/// The first line of every checkpoint.
pub const FORMAT: &str = "ceremony-checkpoint/1";

/// Errors about checkpoints.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A checkpoint or key file could not be read.
    #[error("{}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint is malformed.
    #[error("checkpoint {}: {reason}", path.display())]
    Malformed {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint's signature does not verify with the audit key.
    #[error("checkpoint {}: the signature does not verify with audit key {}: {reason}", path.display(), key.display())]
    BadSignature {
        /// The checkpoint (file, or entry as text).
        path: PathBuf,
        /// The audit key file.
        key: PathBuf,
        /// Why it does not verify.
        reason: String,
    },
    /// The transcript does not hold the checkpointed prefix.
    #[error("transcript {}: {reason}", path.display())]
    Mismatch {
        /// The transcript.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// An audit key was given, and the transcript holds no checkpoint.
    #[error("transcript {}: holds no checkpoint, so none of its {entries} entries is covered by a signature of the audit key", path.display())]
    NoCheckpoint {
        /// The transcript.
        path: PathBuf,
        /// How many entries it holds.
        entries: u64,
    },
    /// The audit key given is not the one the transcript recorded.
    #[error("transcript {}: audit key {} (sha256 {given}) is not the audit key the transcript recorded at entry {seq} (generate-audit-key, sha256 {recorded})", path.display(), key.display())]
    ForeignAuditKey {
        /// The transcript.
        path: PathBuf,
        /// The audit key file given.
        key: PathBuf,
        /// SHA-256 of the given key's SubjectPublicKeyInfo.
        given: String,
        /// The `generate-audit-key` entry that recorded the key.
        seq: u64,
        /// SHA-256 of the recorded key's SubjectPublicKeyInfo.
        recorded: String,
    },
    /// The checkpoint is cosigned by fewer signers than required.
    #[error("transcript {}: checkpoint {} is cosigned by {counted} of the {min} required signers of {}{}", path.display(), checkpoint.display(), signers.display(), not_counted_text(not_counted))]
    TooFewCosigners {
        /// The transcript.
        path: PathBuf,
        /// The checkpoint file.
        checkpoint: PathBuf,
        /// The signers file.
        signers: PathBuf,
        /// How many cosignatures counted.
        counted: usize,
        /// How many were required.
        min: usize,
        /// The cosignature entries that did not count, each with why.
        not_counted: Vec<String>,
    },
    /// The token could not sign.
    #[error(transparent)]
    Token(#[from] crate::token::Error),
    /// The transcript itself does not verify.
    #[error(transparent)]
    Transcript(#[from] transcript::Error),
}

fn not_counted_text(not_counted: &[String]) -> String {
    if not_counted.is_empty() {
        String::new()
    } else {
        format!("; not counted: {}", not_counted.join("; "))
    }
}

impl Error {
    /// A likely fix, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Mismatch { .. } => Some(
                "the transcript does not hold what the checkpoint on the paper record says: entries were cut or changed"
                    .into(),
            ),
            Error::NoCheckpoint { .. } => Some(
                "a transcript cut before its first checkpoint looks like this, and so does one whose ceremonies never reached an audit key; compare it with the paper record, or sign a checkpoint with `ceremony transcript checkpoint`"
                    .into(),
            ),
            Error::ForeignAuditKey { .. } => Some(
                "checkpoints signed by another key prove nothing about this ceremony; use the audit key from the paper record (its sha256 is on it)"
                    .into(),
            ),
            Error::Transcript(e) => e.hint(),
            _ => None,
        }
    }
}

/// The text a checkpoint signs.
pub fn body(origin: &str, entries: u64, head: &str) -> String {
    format!("{FORMAT}\norigin {origin}\nentries {entries}\nhead {head}\n")
}

/// Signs `msg` with the audit key in `token` (SHA-256: ECDSA, or RSA
/// PKCS#1 v1.5) and verifies the signature in software before returning it,
/// with the algorithm's OID: the one sign-then-verify for everything the
/// audit key signs (checkpoints, and output bundles' `SHA256SUMS`).
/// `what` names what was signed in the error (as a checkpoint's path).
pub fn audit_sign(
    token: &crate::token::Token,
    audit_key: &KeyRecord,
    what: &str,
    msg: &[u8],
) -> Result<(ObjectIdentifier, Vec<u8>), Error> {
    let signer = TokenSigner::new(token, audit_key, SignatureHash::Sha256)?;
    let signature = signer.sign_raw(msg)?;
    let alg = AlgorithmIdentifierOwned {
        oid: signer.algorithm_oid(),
        parameters: None,
    };
    verify_signature(&audit_key.spki_der, &alg, msg, &signature).map_err(|reason| {
        Error::BadSignature {
            path: PathBuf::from(what),
            key: PathBuf::from(&audit_key.label),
            reason,
        }
    })?;
    Ok((alg.oid, signature))
}

impl Checkpoint {
    /// Signs a checkpoint of `entries` entries ending at `head` with the
    /// audit key, and verifies the signature in software.
    pub fn sign(
        token: &crate::token::Token,
        audit_key: &KeyRecord,
        origin: &str,
        entries: u64,
        head: &str,
    ) -> Result<Checkpoint, Error> {
        let text = body(origin, entries, head);
        let (algorithm, signature) =
            audit_sign(token, audit_key, "(new checkpoint)", text.as_bytes())?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            entries,
            head: head.to_string(),
            key_sha256: audit_key.spki_sha256.clone(),
            algorithm: algorithm.to_string(),
            signature: Base64::encode_string(&signature),
        })
    }

    /// The checkpoint as a small text file to print and file with the paper record.
    pub fn to_text(&self) -> String {
        format!(
            "{}key {}\nsignature {} {}\n",
            body(&self.origin, self.entries, &self.head),
            self.key_sha256,
            self.algorithm,
            self.signature
        )
    }

    /// Parses a checkpoint file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Checkpoint, Error> {
        let bad = |reason: &str| Error::Malformed {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(FORMAT) {
            return Err(bad(&format!("the first line must be {FORMAT}")));
        }
        let mut field = |name: &str| {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(' '))
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("expected a `{name}` line")))
        };
        let origin = field("origin")?;
        let entries = field("entries")?
            .parse()
            .map_err(|_| bad("entries is not a number"))?;
        let head = field("head")?;
        let key_sha256 = field("key")?;
        let sig = field("signature")?;
        let (algorithm, signature) = sig
            .split_once(' ')
            .ok_or_else(|| bad("signature must be `<algorithm OID> <base64>`"))?;
        if head.len() != 64 || hex::decode(&head).is_none() {
            return Err(bad("head is not 64 hex digits"));
        }
        Ok(Checkpoint {
            origin,
            entries,
            head,
            key_sha256,
            algorithm: algorithm.to_string(),
            signature: signature.to_string(),
        })
    }

    /// Checks the signature with the audit key's DER SubjectPublicKeyInfo.
    pub fn verify(&self, spki_der: &[u8]) -> Result<(), String> {
        let oid: ObjectIdentifier = self
            .algorithm
            .parse()
            .map_err(|_| format!("{:?} is not an algorithm OID", self.algorithm))?;
        let signature = Base64::decode_vec(&self.signature)
            .map_err(|e| format!("signature is not base64: {e}"))?;
        let alg = AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        };
        let text = body(&self.origin, self.entries, &self.head);
        verify_signature(spki_der, &alg, text.as_bytes(), &signature)
    }
}

/// Reads an audit public key (PEM SubjectPublicKeyInfo) and returns its DER.
pub fn read_public_key(path: &Path) -> Result<Vec<u8>, Error> {
    let read = |reason: String| Error::Read {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read_to_string(path).map_err(|e| read(e.to_string()))?;
    let spki = SubjectPublicKeyInfoOwned::from_pem(pem.as_bytes())
        .map_err(|e| read(format!("not a PEM public key: {e}")))?;
    der::Encode::to_der(&spki).map_err(|e| read(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests;
