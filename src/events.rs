//! What the ceremony records in the transcript. Each event is one entry;
//! the `type` field names it. No event ever carries a PIN or key material.
//!
//! [`Event`] is the one type of a transcript event in both directions: the
//! ceremony runner writes it, and every reader (CRL numbering, the
//! checkpoint origin, checkpoint verification, the interrupted-ceremony
//! count, the report) reads it back with it, never as untyped JSON. What is
//! written borrows (`Cow::Borrowed`); what is read owns. A field added
//! after transcripts were first written reads as its default when an older
//! entry lacks it, so old transcripts still parse; the bytes written for
//! today's events are those written before this type read them back.
//!
//! This module sits below `ceremony`, `checkpoint` and `report`, which
//! import it, and imports only the record types of `token` and `x509`; the
//! transcript layer stays generic over its events.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::token::{KeyRecord, TokenIdentity};
use crate::x509::Issued;

/// How a ceremony ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step ran.
    Completed,
    /// The ceremony refused to start a step (a conflict or bad input).
    Refused,
    /// A step failed part-way.
    Failed,
}

impl Outcome {
    /// The name the transcript records.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// The ceremony an earlier run left unfinished, as the next
/// `ceremony_start` names it (the full record is `unfinished_ceremony_found`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Interrupted {
    /// The entry where it started.
    pub ceremony_start_seq: u64,
    /// Its name.
    pub ceremony: String,
    /// The certificates it signed and never delivered in an output bundle.
    pub certificates_undelivered: u64,
}

/// One transcript event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    /// An earlier ceremony in this transcript never recorded its end (a crash
    /// or a kill); this ceremony records that it found it, and goes on.
    /// It names the ceremony and counts the certificates it signed, and of
    /// those the ones never delivered (no output bundle of their step).
    /// Entries older than its name and counts read them as empty and 0.
    UnfinishedCeremonyFound {
        ceremony_start_seq: u64,
        #[serde(default)]
        ceremony: Cow<'a, str>,
        #[serde(default)]
        certificates_issued: u64,
        #[serde(default)]
        certificates_undelivered: u64,
    },
    /// A ceremony begins.
    CeremonyStart {
        ceremony: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        administrator: Option<Cow<'a, str>>,
        /// True when witness answers come from a file (a rehearsal).
        #[serde(default)]
        rehearsal: bool,
        script: String,
        script_sha256: Cow<'a, str>,
        tool: Cow<'a, str>,
        version: Cow<'a, str>,
        operator: Cow<'a, str>,
        witnesses: Cow<'a, [String]>,
        steps: Vec<Cow<'a, str>>,
        /// The ceremony an earlier run left unfinished, when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        interrupted: Option<Interrupted>,
    },
    /// The token the ceremony uses.
    Token {
        #[serde(flatten)]
        identity: Cow<'a, TokenIdentity>,
    },
    /// A login and how it went; `attempted` is false when the PIN could not
    /// be read, so `C_Login` was never called.
    Login {
        user: Cow<'a, str>,
        pin_source: String,
        attempted: bool,
        success: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The ceremony refused to proceed.
    Refused {
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<Cow<'a, str>>,
        reasons: Vec<String>,
    },
    /// A step starts.
    StepStart {
        step: Cow<'a, str>,
        action: Cow<'a, str>,
    },
    /// A key pair was generated in the token.
    KeyGenerated {
        step: Cow<'a, str>,
        #[serde(flatten)]
        key: Cow<'a, KeyRecord>,
    },
    /// A certificate was issued and is about to be written.
    CertificateIssued {
        step: Cow<'a, str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        request: Option<Cow<'a, str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        profile: Option<Cow<'a, str>>,
        #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
        sans: Cow<'a, [String]>,
        file: String,
        #[serde(flatten)]
        certificate: Cow<'a, Issued>,
    },
    /// A request bundle matched its pinned digest and every member checked out.
    RequestBundleVerified {
        step: Cow<'a, str>,
        bundle: String,
        sha256: Cow<'a, str>,
        requests: usize,
    },
    /// An issuing CA: its certificate matches its key in the token.
    IssuerChecked {
        step: Cow<'a, str>,
        issuer: Cow<'a, str>,
        key_label: Cow<'a, str>,
        certificate: String,
        subject: String,
        spki_sha256: Cow<'a, str>,
    },
    /// A request that breaks its profile.
    RequestRejected {
        step: Cow<'a, str>,
        request: Cow<'a, str>,
        profile: Cow<'a, str>,
        rule: Cow<'a, str>,
    },
    /// An encrypted output bundle was written.
    OutputBundleWritten {
        step: Cow<'a, str>,
        file: String,
        checksum_file: String,
        sha256: Cow<'a, str>,
        certificates: usize,
        rejected: usize,
        recipients: Cow<'a, [String]>,
        /// SHA-256 of the SubjectPublicKeyInfo of the audit key that signed
        /// the bundle's `SHA256SUMS` (`SHA256SUMS.sig`); empty in entries
        /// written before bundles were signed.
        #[serde(default)]
        signature_key_sha256: Cow<'a, str>,
    },
    /// A CRL was signed and verified, and is about to be written.
    CrlIssued {
        step: Cow<'a, str>,
        issuer: Cow<'a, str>,
        issuer_key_label: Cow<'a, str>,
        issuer_certificate: String,
        issuer_certificate_sha256: Cow<'a, str>,
        crl_number: u64,
        this_update: Cow<'a, str>,
        next_update: Cow<'a, str>,
        revoked: Cow<'a, [RevokedRecord]>,
        file: String,
        sha256: Cow<'a, str>,
    },
    /// A step failed.
    StepFailed { step: Cow<'a, str>, error: String },
    /// A witness acknowledged a step before it ran.
    WitnessAcknowledged {
        step: Cow<'a, str>,
        witness: Cow<'a, str>,
        code: Cow<'a, str>,
        source: Cow<'a, str>,
    },
    /// A witness did not acknowledge a step, or the operator aborted; the step did not run.
    WitnessRefused {
        step: Cow<'a, str>,
        witness: Cow<'a, str>,
        code: Cow<'a, str>,
        source: Cow<'a, str>,
        reason: String,
    },
    /// The audit key was generated and its public key written.
    AuditKeyGenerated {
        step: Cow<'a, str>,
        file: String,
        #[serde(flatten)]
        key: Cow<'a, KeyRecord>,
    },
    /// A signed checkpoint of every entry before this one.
    Checkpoint {
        #[serde(flatten)]
        checkpoint: Cow<'a, Checkpoint>,
        file: String,
    },
    /// No checkpoint could be signed.
    CheckpointSkipped { reason: String },
    /// Every object in the token and its policy flags, at the start
    /// (after login) and at the end of the ceremony.
    Inventory {
        when: Cow<'a, str>,
        #[serde(flatten)]
        report: crate::token::inventory::Report<'a>,
    },
    /// A note added to the record (a deviation, an observation).
    Note {
        author: Cow<'a, str>,
        text: Cow<'a, str>,
    },
    /// The ceremony ends.
    CeremonyEnd {
        outcome: Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        keys_generated: usize,
        certificates_issued: usize,
        #[serde(default, skip_serializing_if = "is_zero")]
        crls_issued: usize,
    },
    /// Before `ceremony_start`: temporary files a dead run left beside this
    /// ceremony's outputs (`.ceremony-tmp.NAME.PID`, PID no longer running)
    /// were removed.
    StaleTemporariesRemoved {
        paths: Vec<String>,
        /// Stale files that could not be removed, each with the reason.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        not_removed: Vec<String>,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
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

#[cfg(test)]
mod tests;
