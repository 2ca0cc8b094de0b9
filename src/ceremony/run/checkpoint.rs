//! The end of every ceremony that reached the token: a checkpoint of the
//! whole transcript signed by the audit key, appended, and written as text
//! to `[audit] checkpoint`; or, with no audit key in the token, a
//! `checkpoint_skipped` entry saying why.

use std::borrow::Cow;

use super::super::step::find_audit_key;
use super::super::Error;
use super::Runner;
use crate::checkpoint::Checkpoint;
use crate::events::Event;
use crate::fsutil;
use crate::token::Token;

impl Runner<'_, '_> {
    /// Signs a checkpoint of the whole transcript with the audit key, appends
    /// it, and writes it as text to `[audit] checkpoint`.
    pub(super) fn checkpoint(&mut self, token: &Token) -> Result<(), Error> {
        let audit = &self.plan.script.audit;
        let Some(key) = find_audit_key(token, &audit.key_label)? else {
            let reason = format!(
                "no audit key labelled {:?} in the token (a generate-audit-key step makes one)",
                audit.key_label
            );
            self.say(format_args!("note: no checkpoint signed: {reason}"));
            return self.record(&Event::CheckpointSkipped { reason });
        };
        let entries = self.transcript.len();
        let head = self.transcript.head().to_string();
        let cp =
            Checkpoint::sign(token, &key, &audit.origin, entries, &head).map_err(|source| {
                Error::SignCheckpoint {
                    path: audit.checkpoint.clone(),
                    source: Box::new(source),
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
