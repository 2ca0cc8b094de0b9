//! The `generate-audit-key` step: the audit key generated in the token
//! under `[audit] key_label` (never extractable; or with `backup = true`
//! extractable only under a trusted wrap key), and its public key written. The audit key
//! signs transcript checkpoints and output bundles' `SHA256SUMS`, never
//! certificates.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use der::EncodePem;
use serde::Deserialize;

use super::super::step::{
    parse_as, write_output, Context, PlanContext, Prepared, Ready, Step, StepSpec, StepType,
};
use super::super::Error;
use crate::events::Event;
use crate::token::{KeyAlgorithm, KeyPolicy};

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "generate-audit-key",
    parse: parse_as::<Spec>,
};

fn default_algorithm() -> KeyAlgorithm {
    KeyAlgorithm::EcdsaP256
}

/// A `generate-audit-key` step as the script gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id.
    pub id: String,
    /// The key's algorithm: ECDSA, or RSA for a token without EC (its
    /// signatures are RSA PKCS#1 v1.5 with SHA-256).
    #[serde(default = "default_algorithm")]
    pub algorithm: KeyAlgorithm,
    /// Where the public key goes, inside the output directory.
    pub public_key: PathBuf,
    /// Whether the key may be backed up: extractable, but only wrapped by
    /// a trusted key ([`KeyPolicy::Backup`]).
    #[serde(default)]
    pub backup: bool,
    /// Whether every witness acknowledges the step first.
    #[serde(default)]
    pub witnessed: bool,
}

/// A `generate-audit-key` step, resolved.
#[derive(Debug)]
pub struct AuditKeyStep {
    /// Step id.
    pub id: String,
    /// The key's label (`[audit] key_label`).
    pub key_label: String,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// Its policy.
    pub policy: KeyPolicy,
    /// Where the public key goes.
    pub public_key: PathBuf,
}

impl StepSpec for Spec {
    fn id(&self) -> &str {
        &self.id
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(AuditKeyStep {
            id: self.id.clone(),
            key_label: cx.audit_key_label.to_string(),
            algorithm: self.algorithm,
            policy: KeyPolicy::chosen(self.backup),
            public_key: cx.output(&self.public_key)?,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for AuditKeyStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn action(&self) -> &'static str {
        TYPE.action
    }

    fn new_key_labels(&self) -> Vec<&str> {
        vec![&self.key_label]
    }

    fn new_key_policies(&self) -> Vec<(&str, KeyPolicy)> {
        vec![(&self.key_label, self.policy)]
    }

    fn outputs(&self) -> Vec<&Path> {
        vec![&self.public_key]
    }

    fn prepare(&self, _now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error> {
        Ok(Box::new(Ready(self, AuditKeyStep::execute)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl AuditKeyStep {
    fn execute(&self, cx: &mut Context<'_>) -> Result<(), Error> {
        let token = cx.token();
        let key = token.generate_ca_key(&self.key_label, self.algorithm, self.policy)?;
        let file = &self.public_key;
        let spki = crate::x509::spki_from_der(&self.id, &key.spki_der)?;
        let pem = spki
            .to_pem(der::pem::LineEnding::LF)
            .map_err(|e| crate::x509::Error::Der {
                what: self.id.clone(),
                reason: e.to_string(),
            })?;
        cx.record(&Event::AuditKeyGenerated {
            step: Cow::Borrowed(&self.id),
            file: file.display().to_string(),
            key: Cow::Borrowed(&key),
        })?;
        key.check_policy(&token.identity().label)?;
        write_output(file, pem.as_bytes())?;
        cx.say(format_args!(
            "step {}: generated audit key {:?} (policy {}, public key sha256 {}), wrote {}",
            self.id,
            key.label,
            key.policy(),
            key.spki_sha256,
            file.display()
        ));
        Ok(())
    }
}

impl fmt::Display for AuditKeyStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  key          generate {} key pair labelled {:?} in the token ({}); it signs transcript checkpoints, never certificates",
            self.algorithm,
            self.key_label,
            self.policy.plan_text()
        )?;
        writeln!(
            f,
            "  writes       {} (its public key)",
            self.public_key.display()
        )
    }
}
