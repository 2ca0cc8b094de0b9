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

mod custody;
mod records;
pub use custody::{
    BackupRecord, CustodianRecord, KeyCustodyRecord, QuorumRecord, RestoreRecord, ShareRefusal,
    ShareUse, SharesRecord,
};
pub use records::{Checkpoint, FileDigest, ReplacedSet, RevokedRecord, SshApproval};

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
        /// The entry where that ceremony started.
        ceremony_start_seq: u64,
        /// The ceremony's name, as its script gives it.
        #[serde(default)]
        ceremony: Cow<'a, str>,
        /// How many certificates it issued.
        #[serde(default)]
        certificates_issued: u64,
        /// Of those, how many were never delivered in an output bundle.
        #[serde(default)]
        certificates_undelivered: u64,
    },
    /// A ceremony begins.
    CeremonyStart {
        /// The ceremony's name, as its script gives it.
        ceremony: Cow<'a, str>,
        /// The administrator, when the script names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        administrator: Option<Cow<'a, str>>,
        /// True when witness answers come from a file (a rehearsal).
        #[serde(default)]
        rehearsal: bool,
        /// The script file.
        script: String,
        /// SHA-256 of the script, hex.
        script_sha256: Cow<'a, str>,
        /// The tool's name.
        tool: Cow<'a, str>,
        /// The tool's version.
        version: Cow<'a, str>,
        /// The operator at the keyboard.
        operator: Cow<'a, str>,
        /// The witnesses present.
        witnesses: Cow<'a, [String]>,
        /// The step ids, in order.
        steps: Vec<Cow<'a, str>>,
        /// The ceremony an earlier run left unfinished, when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        interrupted: Option<Interrupted>,
        /// The running binary: its path and SHA-256. Entries written before
        /// the tool recorded its identity lack it (as the four below).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        binary: Option<Box<FileDigest>>,
        /// The PKCS#11 module the script names: its path and SHA-256.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<Box<FileDigest>>,
        /// The token as found before the login: label, manufacturer, model,
        /// serial, hardware and firmware versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<Box<TokenIdentity>>,
        /// Why the token could not be opened (or was not), in place of
        /// `token`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_unavailable: Option<String>,
    },
    /// The token the ceremony uses.
    Token {
        /// Which token.
        #[serde(flatten)]
        identity: Cow<'a, TokenIdentity>,
    },
    /// One login attempt and how it went; `attempted` is false when
    /// `C_Login` was never called (the PIN could not be read, the token's
    /// PIN flags refused it, or the operator did not confirm a final try).
    /// A PIN mistyped at the prompt is retried: each attempt is its own
    /// entry. Entries older than the attempt number, flags and return value
    /// lack them.
    Login {
        /// `user` or `so`.
        user: Cow<'a, str>,
        /// Where the PIN came from (never the PIN).
        pin_source: String,
        /// The attempt's number in this run, from 1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// The user-PIN flags the token reported just before this attempt
        /// (`count_low`, `final_try`, `locked`, `to_be_changed`; empty when
        /// none was set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_flags: Option<Vec<Cow<'a, str>>>,
        /// Why the PIN flags could not be read, when they could not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_flags_unreadable: Option<String>,
        /// On a final try (`final_try`), whether the operator confirmed it
        /// on the terminal before the PIN was asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        final_try_confirmed: Option<bool>,
        /// Whether `C_Login` was called.
        attempted: bool,
        /// Whether the login succeeded.
        success: bool,
        /// `C_Login`'s return value when it failed (`PinIncorrect`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rv: Option<String>,
        /// The error, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The ceremony refused to proceed.
    Refused {
        /// The step id.
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<Cow<'a, str>>,
        /// Why, one reason per rule broken.
        reasons: Vec<String>,
    },
    /// A step starts.
    StepStart {
        /// The step id.
        step: Cow<'a, str>,
        /// The step's action, as the script names it.
        action: Cow<'a, str>,
    },
    /// A key pair was generated in the token.
    KeyGenerated {
        /// The step id.
        step: Cow<'a, str>,
        /// The key as read back from the token.
        #[serde(flatten)]
        key: Cow<'a, KeyRecord>,
    },
    /// A certificate was issued and is about to be written.
    CertificateIssued {
        /// The step id.
        step: Cow<'a, str>,
        /// The request id, for a signed request.
        #[serde(skip_serializing_if = "Option::is_none")]
        request: Option<Cow<'a, str>>,
        /// The profile it was issued under, for a signed request.
        #[serde(skip_serializing_if = "Option::is_none")]
        profile: Option<Cow<'a, str>>,
        /// Its subject alternative names.
        #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
        sans: Cow<'a, [String]>,
        /// The file written.
        file: String,
        /// The certificate's facts.
        #[serde(flatten)]
        certificate: Cow<'a, Issued>,
    },
    /// A request bundle matched its pinned digest and every member checked out.
    RequestBundleVerified {
        /// The step id.
        step: Cow<'a, str>,
        /// The request bundle.
        bundle: String,
        /// SHA-256 of the file, hex.
        sha256: Cow<'a, str>,
        /// How many requests it holds.
        requests: usize,
    },
    /// An issuing CA: its certificate matches its key in the token.
    IssuerChecked {
        /// The step id.
        step: Cow<'a, str>,
        /// The issuing CA.
        issuer: Cow<'a, str>,
        /// The issuer key's label.
        key_label: Cow<'a, str>,
        /// The issuer certificate file.
        certificate: String,
        /// The certificate's subject, RFC 4514.
        subject: String,
        /// SHA-256 of the key's SubjectPublicKeyInfo, hex.
        spki_sha256: Cow<'a, str>,
    },
    /// A request that breaks its profile.
    RequestRejected {
        /// The step id.
        step: Cow<'a, str>,
        /// The request id, for a signed request.
        request: Cow<'a, str>,
        /// The profile it was issued under, for a signed request.
        profile: Cow<'a, str>,
        /// The rule it breaks.
        rule: Cow<'a, str>,
    },
    /// An encrypted output bundle was written.
    OutputBundleWritten {
        /// The step id.
        step: Cow<'a, str>,
        /// The file written.
        file: String,
        /// The `.sha256` file beside it.
        checksum_file: String,
        /// SHA-256 of the file, hex.
        sha256: Cow<'a, str>,
        /// How many certificates it holds.
        certificates: usize,
        /// How many requests were rejected.
        rejected: usize,
        /// The age recipients it is encrypted to.
        recipients: Cow<'a, [String]>,
        /// SHA-256 of the SubjectPublicKeyInfo of the audit key that signed
        /// the bundle's `SHA256SUMS` (`SHA256SUMS.sig`); empty in entries
        /// written before bundles were signed.
        #[serde(default)]
        signature_key_sha256: Cow<'a, str>,
    },
    /// A CRL was signed and verified, and is about to be written.
    CrlIssued {
        /// The step id.
        step: Cow<'a, str>,
        /// The issuing CA.
        issuer: Cow<'a, str>,
        /// The issuer key's label.
        issuer_key_label: Cow<'a, str>,
        /// The issuer certificate file.
        issuer_certificate: String,
        /// SHA-256 of the issuer certificate, hex.
        issuer_certificate_sha256: Cow<'a, str>,
        /// The CRL number.
        crl_number: u64,
        /// thisUpdate, RFC 3339 UTC.
        this_update: Cow<'a, str>,
        /// nextUpdate, RFC 3339 UTC.
        next_update: Cow<'a, str>,
        /// The certificates it revokes.
        revoked: Cow<'a, [RevokedRecord]>,
        /// The file written.
        file: String,
        /// SHA-256 of the file, hex.
        sha256: Cow<'a, str>,
    },
    /// A step failed.
    StepFailed {
        /// The step id.
        step: Cow<'a, str>,
        /// What failed.
        error: String,
        /// True when the token had dropped the login (or the session, or
        /// went away) by the time the step failed: the ceremony stops, and
        /// records no end inventory and no checkpoint, which both need it.
        #[serde(default, skip_serializing_if = "is_false")]
        session_lost: bool,
    },
    /// A witness acknowledged a step before it ran.
    WitnessAcknowledged {
        /// The step id.
        step: Cow<'a, str>,
        /// The witness.
        witness: Cow<'a, str>,
        /// The code the witness was asked to confirm.
        code: Cow<'a, str>,
        /// Where the answer came from (the terminal or an answers file).
        source: Cow<'a, str>,
    },
    /// A witness did not acknowledge a step, or the operator aborted; the step did not run.
    WitnessRefused {
        /// The step id.
        step: Cow<'a, str>,
        /// The witness.
        witness: Cow<'a, str>,
        /// The code the witness was asked to confirm.
        code: Cow<'a, str>,
        /// Where the answer came from (the terminal or an answers file).
        source: Cow<'a, str>,
        /// Why.
        reason: String,
    },
    /// A witness's acknowledgement did not match (a typo): the witness may
    /// type it again, `attempts` times in all; after the last,
    /// `witness_refused` follows. The line typed is never recorded (a
    /// witness may have typed a secret into the wrong prompt).
    WitnessAttemptFailed {
        /// The step id.
        step: Cow<'a, str>,
        /// The witness.
        witness: Cow<'a, str>,
        /// The code the witness was asked to confirm.
        code: Cow<'a, str>,
        /// Where the answer came from (the terminal or an answers file).
        source: Cow<'a, str>,
        /// This attempt's number, from 1.
        attempt: u32,
        /// The attempts a witness has per step.
        attempts: u32,
        /// What did not match, in words that never quote the line.
        reason: Cow<'a, str>,
    },
    /// The audit key was generated and its public key written.
    AuditKeyGenerated {
        /// The step id.
        step: Cow<'a, str>,
        /// The file written.
        file: String,
        /// The key as read back from the token.
        #[serde(flatten)]
        key: Cow<'a, KeyRecord>,
    },
    /// A signed checkpoint of every entry before this one.
    Checkpoint {
        /// The checkpoint.
        #[serde(flatten)]
        checkpoint: Cow<'a, Checkpoint>,
        /// The file written.
        file: String,
    },
    /// No checkpoint could be signed.
    CheckpointSkipped {
        /// Why.
        reason: String,
    },
    /// Every object in the token and its policy flags, at the start
    /// (after login) and at the end of the ceremony.
    Inventory {
        /// `start` or `end`.
        when: Cow<'a, str>,
        /// The inventory.
        #[serde(flatten)]
        report: crate::token::inventory::Report<'a>,
    },
    /// A note added to the record (a deviation, an observation).
    Note {
        /// Who wrote it.
        author: Cow<'a, str>,
        /// The note.
        text: Cow<'a, str>,
    },
    /// The ceremony ends.
    CeremonyEnd {
        /// How it ended.
        outcome: Outcome,
        /// The error, when there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// How many keys it generated.
        keys_generated: usize,
        /// How many certificates it issued.
        certificates_issued: usize,
        /// How many CRLs it issued.
        #[serde(default, skip_serializing_if = "is_zero")]
        crls_issued: usize,
    },
    /// Before `ceremony_start`: temporary files a dead run left beside this
    /// ceremony's outputs (`.ceremony-tmp.NAME.PID`, PID no longer running)
    /// were removed.
    StaleTemporariesRemoved {
        /// The temporary files removed.
        paths: Vec<String>,
        /// Stale files that could not be removed, each with the reason.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        not_removed: Vec<String>,
    },
    /// A `sign-requests` step opened its signing sessions on the token:
    /// how many were asked for, how many opened, and why that many (the
    /// work, the token's session limit, or the token answering
    /// `CKR_SESSION_COUNT`).
    SigningSessions {
        /// The step id.
        step: Cow<'a, str>,
        /// Sessions asked for (`--sessions` or its default).
        asked: usize,
        /// Sessions opened; the batch signs on these.
        opened: usize,
        /// The token's `ulMaxSessionCount`, when it reports a limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_max: Option<u64>,
        /// Why this many, in words.
        reason: Cow<'a, str>,
    },
    /// The approvers' set this transcript is anchored to from here on:
    /// recorded by the first approved ceremony that names it, and by an
    /// approved ceremony that changes it (approved by the set it replaces).
    ApproversSet {
        /// The `allowed_signers` file, as the script names it.
        file: String,
        /// SHA-256 of the file's bytes, hex.
        sha256: Cow<'a, str>,
        /// Approvals a ceremony needs from this set.
        required: u32,
        /// The file's text (public keys only), so that a later ceremony
        /// can check approvals by this set.
        signers: Cow<'a, str>,
        /// The set this one replaces, when it replaces one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<ReplacedSet>,
    },
    /// A signed approval of the ceremony's script that counted. Check it
    /// with `ssh-keygen -Y verify -f SIGNERS -I PRINCIPAL -n
    /// ceremony-approval -s SIG < SCRIPT`.
    Approval(Box<SshApproval<'a>>),
    /// An approval that did not count, and why.
    ApprovalNotCounted {
        /// The signature file.
        file: String,
        /// Why it does not count.
        reason: String,
    },
    /// A witness's cosignature of a checkpoint file, checked against a
    /// signers file and recorded. Check it with `ssh-keygen -Y verify -f
    /// SIGNERS -I PRINCIPAL -n ceremony-checkpoint -s SIG < CHECKPOINT`.
    CheckpointCosigned(Box<SshApproval<'a>>),
    /// The security officer created a trusted wrap key (`CKA_TRUSTED`)
    /// from a value split among custodians; its value is never recorded.
    WrapKeyCreated {
        /// The step id.
        step: Cow<'a, str>,
        /// Its label.
        label: Cow<'a, str>,
    },
    /// The trusted wrap key was destroyed (or, with `error`, could not be).
    WrapKeyDestroyed {
        /// The step id.
        step: Cow<'a, str>,
        /// Its label.
        label: Cow<'a, str>,
        /// Why it could not be destroyed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Keys wrapped and their backup bundle written.
    KeysBackedUp {
        /// The step id.
        step: Cow<'a, str>,
        /// What was made.
        #[serde(flatten)]
        backup: Box<BackupRecord>,
    },
    /// Custodians' shares presented and judged against recorded commitments.
    SharesJudged {
        /// The step id (none for a quorum login).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<Cow<'a, str>>,
        /// Which shares counted and which did not.
        #[serde(flatten)]
        shares: Box<SharesRecord>,
    },
    /// The token's user PIN put under an M-of-N quorum of officers.
    QuorumActivated {
        /// The step id.
        step: Cow<'a, str>,
        /// What was done.
        #[serde(flatten)]
        quorum: Box<QuorumRecord>,
    },
    /// Keys restored from a backup bundle, each checked.
    KeysRestored {
        /// The step id.
        step: Cow<'a, str>,
        /// What was restored.
        #[serde(flatten)]
        restored: Box<RestoreRecord>,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests;
