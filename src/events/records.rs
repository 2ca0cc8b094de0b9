//! The record types events share or carry boxed: approvals and
//! cosignatures (SSHSIG), checkpoints, file digests, CRL entries.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The approvers' set an `approvers_set` entry replaces.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplacedSet {
    /// The entry that recorded it.
    pub seq: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// How many of it approved the change.
    pub approved_by: u32,
}

/// One OpenSSH signature (SSHSIG) that verified: an approval of a script or
/// a cosignature of a checkpoint.
#[derive(Debug, Serialize, Deserialize)]
pub struct SshApproval<'a> {
    /// The signature file it was read from.
    pub file: String,
    /// The signer's first principal in the signers file.
    pub principal: Cow<'a, str>,
    /// The signer's key type (`ssh-ed25519`, …).
    pub key_type: Cow<'a, str>,
    /// The key's fingerprint (`SHA256:…`).
    pub fingerprint: Cow<'a, str>,
    /// The namespace signed in.
    pub namespace: Cow<'a, str>,
    /// What was signed: the script's SHA-256 or the checkpoint file's, hex.
    pub signed_sha256: Cow<'a, str>,
    /// SHA-256 of the signers file that lists the key, hex.
    pub signers_sha256: Cow<'a, str>,
    /// The signature, armored as `ssh-keygen -Y sign` wrote it.
    pub signature: Cow<'a, str>,
}

/// A signed checkpoint: the fields the `checkpoint` event records and the
/// checkpoint file holds. Signing, parsing and checking it are
/// [`crate::checkpoint`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The transcript's origin name.
    pub origin: String,
    /// How many entries it covers.
    pub entries: u64,
    /// The hash of entry `entries - 1`.
    pub head: String,
    /// SHA-256 of the audit key's SubjectPublicKeyInfo, hex.
    pub key_sha256: String,
    /// The signature algorithm OID.
    pub algorithm: String,
    /// The DER signature, base64.
    pub signature: String,
}

/// A file the ceremony depends on (the running binary, the PKCS#11
/// module), as `ceremony_start` records it: its path and SHA-256, or why
/// it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// The path, as the tool found or was given it.
    pub path: String,
    /// SHA-256 of the file's bytes, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why the file could not be read, in place of `sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One entry of a CRL, as `crl_issued` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokedRecord {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// The reason, as the script names it.
    pub reason: Cow<'static, str>,
    /// The revocation date, RFC 3339 UTC.
    pub revoked_at: String,
    /// The certificate file the serial was read from, when the script named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// That certificate's subject, RFC 4514.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}
