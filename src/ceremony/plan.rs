//! The plan: a script checked and resolved into the exact actions a
//! ceremony will take. Building a plan touches no token and writes nothing,
//! so `--dry-run` prints the same plan the real run executes.
//!
//! This module owns the plan's types, the script limits, and what a plan
//! says about itself: its outputs and each step's acknowledgement code.
//! Building a plan from a script ([`Plan::load`], [`Plan::from_bytes`]) is
//! in the `load` submodule; the plan as text, what `--dry-run` prints, is in
//! `display`.

mod display;
mod load;

pub use load::parse_serial;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::script::{IssuerSpec, OnRejection, RevocationReason, Script};
use crate::hex;
use crate::profile::{Issuer, RootProfile, StepPolicy};
use crate::token::{KeyAlgorithm, SignatureHash, TokenSelector};

/// Longest certificate lifetime a script may ask for (30 years).
pub const MAX_VALIDITY_DAYS: u32 = 30 * 365;
/// Largest notBefore backdate a script may ask for (one day).
pub const MAX_BACKDATE_MINUTES: u32 = 24 * 60;
/// Longest a CRL may be valid: nextUpdate at most this many days from now.
pub const MAX_NEXT_UPDATE_DAYS: u32 = 366;
/// The largest script accepted, checked before it is read.
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// A checked, resolved ceremony.
#[derive(Debug)]
pub struct Plan {
    /// The script file.
    pub script_path: PathBuf,
    /// SHA-256 of the script's bytes, hex.
    pub script_sha256: String,
    /// The parsed script.
    pub script: Script,
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// Which token.
    pub selector: TokenSelector,
    /// The transcript file.
    pub transcript: PathBuf,
    /// The steps, resolved.
    pub steps: Vec<PlannedStep>,
    /// For each step, whether every witness must acknowledge it first.
    pub witnessed: Vec<bool>,
}

/// One resolved step.
#[derive(Debug)]
pub enum PlannedStep {
    /// Generate a key pair and self-sign a root certificate.
    GenerateRoot(RootStep),
    /// Sign a sealed request bundle.
    SignRequests(Box<SignStep>),
    /// Generate the audit key and write its public key.
    GenerateAuditKey(AuditKeyStep),
    /// Issue a CRL.
    IssueCrl(Box<CrlStep>),
}

/// A resolved `generate-audit-key` step.
#[derive(Debug)]
pub struct AuditKeyStep {
    /// Step id.
    pub id: String,
    /// The key's label (`[audit] key_label`).
    pub key_label: String,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// Where the public key goes.
    pub public_key: PathBuf,
}

/// A resolved `issue-crl` step.
#[derive(Debug)]
pub struct CrlStep {
    /// Step id.
    pub id: String,
    /// The CA that signs the CRL.
    pub issuer: IssuerSpec,
    /// Where the CRL goes.
    pub crl: PathBuf,
    /// Days from thisUpdate to nextUpdate.
    pub next_update_days: u32,
    /// What the CRL revokes, in script order.
    pub revoke: Vec<PlannedRevocation>,
}

/// One revocation as the script names it.
#[derive(Debug, Clone)]
pub struct PlannedRevocation {
    /// The certificate file or the serial.
    pub target: RevokeTarget,
    /// Why.
    pub reason: RevocationReason,
    /// When; `None` means when the CRL is signed.
    pub revoked_at: Option<der::DateTime>,
}

/// How a script names a revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// A certificate file; its serial is read when the step runs.
    Certificate(PathBuf),
    /// A serial number: big-endian bytes, no leading zero byte.
    Serial(Vec<u8>),
}

/// A resolved `sign-requests` step.
#[derive(Debug)]
pub struct SignStep {
    /// Step id.
    pub id: String,
    /// The request bundle.
    pub bundle: PathBuf,
    /// Its pinned SHA-256, lowercase hex.
    pub bundle_sha256: String,
    /// The output bundle (`NAME.tar.age`).
    pub output: PathBuf,
    /// The checksum file beside it (`NAME.tar.age.sha256`).
    pub checksum: PathBuf,
    /// age recipients, as written in the script (already checked).
    pub recipients: Vec<String>,
    /// What a rejection does.
    pub on_rejection: OnRejection,
    /// Break-glass and intermediate settings.
    pub policy: StepPolicy,
    /// The CAs this step may sign with.
    pub issuers: Vec<(Issuer, IssuerSpec)>,
}

/// A resolved `generate-root` step.
#[derive(Debug)]
pub struct RootStep {
    /// Step id.
    pub id: String,
    /// New key's label.
    pub key_label: String,
    /// New key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// Digest for the signature.
    pub hash: SignatureHash,
    /// The certificate profile.
    pub profile: RootProfile,
    /// Lifetime from now.
    pub lifetime: Duration,
    /// notBefore backdate.
    pub backdate: Duration,
    /// Where the certificate goes.
    pub certificate: PathBuf,
}

impl PlannedStep {
    /// The step's id.
    pub fn id(&self) -> &str {
        match self {
            PlannedStep::GenerateRoot(s) => &s.id,
            PlannedStep::SignRequests(s) => &s.id,
            PlannedStep::GenerateAuditKey(s) => &s.id,
            PlannedStep::IssueCrl(s) => &s.id,
        }
    }

    /// The action name.
    pub fn action(&self) -> &'static str {
        match self {
            PlannedStep::GenerateRoot(_) => "generate-root",
            PlannedStep::SignRequests(_) => "sign-requests",
            PlannedStep::GenerateAuditKey(_) => "generate-audit-key",
            PlannedStep::IssueCrl(_) => "issue-crl",
        }
    }

    /// Key labels this step creates in the token.
    pub fn new_key_labels(&self) -> Vec<&str> {
        match self {
            PlannedStep::GenerateRoot(s) => vec![s.key_label.as_str()],
            PlannedStep::SignRequests(_) | PlannedStep::IssueCrl(_) => vec![],
            PlannedStep::GenerateAuditKey(s) => vec![s.key_label.as_str()],
        }
    }

    /// Files this step writes.
    pub fn outputs(&self) -> Vec<&Path> {
        match self {
            PlannedStep::GenerateRoot(s) => vec![s.certificate.as_path()],
            PlannedStep::SignRequests(s) => vec![s.output.as_path(), s.checksum.as_path()],
            PlannedStep::GenerateAuditKey(s) => vec![s.public_key.as_path()],
            PlannedStep::IssueCrl(s) => vec![s.crl.as_path()],
        }
    }
}

impl Plan {
    /// The code a witness types to acknowledge step `i`: the first 8 hex
    /// digits of SHA-256 over the script's digest and the step as planned.
    pub fn step_digest(&self, i: usize) -> String {
        let text = format!("{}\n{}", self.script_sha256, self.steps[i]);
        hex::encode(&Sha256::digest(text.as_bytes())[..4])
    }

    /// Every file the ceremony writes, in order.
    pub fn outputs(&self) -> Vec<&Path> {
        self.steps.iter().flat_map(|s| s.outputs()).collect()
    }

    /// Outputs that already exist and would make the run refuse.
    pub fn existing_outputs(&self) -> Vec<PathBuf> {
        self.outputs()
            .into_iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .map(Path::to_path_buf)
            .collect()
    }
}

#[cfg(test)]
mod tests;
