//! The audit key and checkpoints, run side: generating the audit key in the
//! token, and signing a checkpoint at the end of every ceremony.

use std::borrow::Cow;

use der::EncodePem;

use super::plan::AuditKeyStep;
use super::run::Runner;
use super::Error;
use crate::checkpoint::Checkpoint;
use crate::events::Event;
use crate::fsutil;
use crate::token::{KeyRecord, Token};

impl Runner<'_, '_> {
    pub(super) fn generate_audit_key(
        &mut self,
        token: &Token,
        step: &AuditKeyStep,
    ) -> Result<(), Error> {
        let key = token.generate_ca_key(&step.key_label, step.algorithm)?;
        let file = &step.public_key;
        let spki = crate::x509::spki_from_der(&step.id, &key.spki_der)?;
        let pem = spki
            .to_pem(der::pem::LineEnding::LF)
            .map_err(|e| crate::x509::Error::Der {
                what: step.id.clone(),
                reason: e.to_string(),
            })?;
        self.record(&Event::AuditKeyGenerated {
            step: Cow::Borrowed(&step.id),
            file: file.display().to_string(),
            key: Cow::Borrowed(&key),
        })?;
        key.check_policy(&token.identity().label)?;
        super::run::write_output(file, pem.as_bytes())?;
        self.say(format_args!(
            "step {}: generated audit key {:?} (public key sha256 {}), wrote {}",
            step.id,
            key.label,
            key.spki_sha256,
            file.display()
        ));
        Ok(())
    }

    /// The audit key (`[audit] key_label`), or `None` when the token has none.
    pub(super) fn find_audit_key(&self, token: &Token) -> Result<Option<KeyRecord>, Error> {
        match token.find_key(&self.plan.script.audit.key_label) {
            Ok(key) => Ok(Some(key)),
            Err(crate::token::Error::KeyNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Signs a checkpoint of the whole transcript with the audit key, appends
    /// it, and writes it as text to `[audit] checkpoint`.
    pub(super) fn checkpoint(&mut self, token: &Token) -> Result<(), Error> {
        let audit = &self.plan.script.audit;
        let Some(key) = self.find_audit_key(token)? else {
            let reason = format!(
                "no audit key labelled {:?} in the token (a generate-audit-key step makes one)",
                audit.key_label
            );
            self.say(format_args!("note: no checkpoint signed: {reason}"));
            return self.record(&Event::CheckpointSkipped { reason });
        };
        let entries = self.transcript.len();
        let head = self.transcript.head().to_string();
        let cp = Checkpoint::sign(token, &key, &audit.origin, entries, &head).map_err(|e| {
            Error::Output {
                path: audit.checkpoint.clone(),
                action: "sign checkpoint",
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        self.record(&Event::Checkpoint {
            checkpoint: Cow::Borrowed(&cp),
            file: audit.checkpoint.display().to_string(),
        })?;
        fsutil::replace(&audit.checkpoint, cp.to_text().as_bytes(), 0o644).map_err(|source| {
            Error::Output {
                path: audit.checkpoint.clone(),
                action: "write checkpoint",
                source,
            }
        })?;
        self.say(format_args!(
            "checkpoint: {entries} entries, head {head}, signed by audit key {:?}; written to {}",
            key.label,
            audit.checkpoint.display()
        ));
        Ok(())
    }
}
