//! Certificate profiles: what a certificate of each kind must contain.
//!
//! A profile decides every extension; nothing a requester asks for is copied
//! into a certificate. This module is pure: no I/O, no token.

mod root;

pub use root::RootProfile;

use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoRef;

/// Errors from profile construction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A subject string is not a valid RFC 4514 name, or is empty.
    #[error("subject {subject:?}: {reason}")]
    Subject { subject: String, reason: String },
}

/// Key identifier per RFC 7093 method 1: the leftmost 160 bits of the
/// SHA-256 of the subjectPublicKey BIT STRING's bytes.
pub fn key_identifier(spki: &SubjectPublicKeyInfoRef<'_>) -> Vec<u8> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    digest[..20].to_vec()
}
