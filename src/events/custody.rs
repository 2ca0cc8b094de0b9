//! The records of key custody in the transcript: a backup made, shares
//! judged, keys restored, a trusted wrap key created and destroyed. They
//! hold public values only (public keys, digests, commitments, names,
//! recipients), never a share, a wrap key or a wrapped key's bytes.

use serde::{Deserialize, Serialize};

use crate::token::{KeyAlgorithm, KeyPolicy};

/// What a `backup-keys` step made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// The backup bundle's directory.
    pub directory: String,
    /// SHA-256 of its `manifest.json`, hex.
    pub manifest_sha256: String,
    /// SHA-256 of its `SHA256SUMS`, hex.
    pub sums_sha256: String,
    /// Whether the audit key signed `SHA256SUMS` (`SHA256SUMS.sig`).
    pub signed: bool,
    /// Shares needed (M).
    pub threshold: u8,
    /// Shares made (N).
    pub count: u8,
    /// The commitments' fingerprint, as every share file names it.
    pub set: String,
    /// The Feldman commitments, hex.
    pub commitments: String,
    /// Each custodian's sealed share.
    pub custodians: Vec<CustodianRecord>,
    /// Each key wrapped.
    pub keys: Vec<KeyCustodyRecord>,
}

/// One custodian and the share sealed to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodianRecord {
    /// Their name.
    pub name: String,
    /// Their age recipient.
    pub recipient: String,
    /// Their share's index.
    pub index: u8,
    /// The sealed share file.
    pub file: String,
    /// SHA-256 of the sealed file, hex.
    pub sha256: String,
}

/// One key backed up or restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCustodyRecord {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// Its policy: in the source token for a backup, in this token for a
    /// restore.
    pub policy: KeyPolicy,
    /// SHA-256 of the public key's DER, hex.
    pub spki_sha256: String,
    /// SHA-256 of the wrapped bytes, hex.
    pub wrapped_sha256: String,
    /// For a restore: a test signature by the restored private key,
    /// verified in software with the backed-up public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_signature_verified: Option<bool>,
}

/// The shares presented for a secret, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharesRecord {
    /// `backup` or `user-pin`.
    pub purpose: String,
    /// The set the shares were judged against.
    pub set: String,
    /// Shares needed.
    pub threshold: u8,
    /// The shares that counted.
    pub counted: Vec<ShareUse>,
    /// The shares that did not, each with its reason.
    pub refused: Vec<ShareRefusal>,
}

/// A share that counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareUse {
    /// The custodian it names.
    pub custodian: String,
    /// Its index.
    pub index: u8,
    /// The sealed share file.
    pub file: String,
}

/// A share that did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRefusal {
    /// The sealed share file.
    pub file: String,
    /// The custodian it names, when it could be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodian: Option<String>,
    /// Its index, when it could be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u8>,
    /// The rule it breaks.
    pub reason: String,
}

/// What a `restore-keys` step restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// The backup bundle's directory.
    pub directory: String,
    /// SHA-256 of its `manifest.json`, hex.
    pub manifest_sha256: String,
    /// The backup's share set.
    pub set: String,
    /// The source token's label and serial, as the manifest names them.
    pub source_token: String,
    /// Each key restored.
    pub keys: Vec<KeyCustodyRecord>,
}

/// What an `activate-quorum` step did: the token's user PIN set to a value
/// no one saw, its secret split among officers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumRecord {
    /// The token's label.
    pub token_label: String,
    /// The token's serial number: a quorum login looks its record up by it.
    pub token_serial: String,
    /// The directory holding the sealed shares.
    pub directory: String,
    /// SHA-256 of the directory's `SHA256SUMS`, hex.
    pub sums_sha256: String,
    /// Shares needed to log in (M).
    pub threshold: u8,
    /// Shares made (N).
    pub count: u8,
    /// The commitments' fingerprint, as every share file names it.
    pub set: String,
    /// The Feldman commitments, hex: what a quorum login checks shares against.
    pub commitments: String,
    /// Each officer's sealed share.
    pub officers: Vec<CustodianRecord>,
}
