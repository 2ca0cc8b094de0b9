//! Verifying a transcript with its checkpoints, in one streaming pass: the
//! chain, every embedded checkpoint, the checkpoint from the paper record,
//! which entries a signature covers, whether the audit key given is the one
//! the transcript recorded, and the ceremonies that never ended.
//!
//! What counts as covered: a checkpoint entry at sequence number N signs
//! entries 0 to N-1 and is itself the signature, so entries 0 to N are
//! covered; a `--checkpoint` file of N entries covers entries 0 to N-1. The
//! entries after the longest covered prefix are reported by count: nothing
//! but the chain, which uses no secret, vouches for them.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::interrupted::{Interrupted, Tracker};
use super::{Checkpoint, CosignCount, Cosigners, Error};
use crate::events::Event;
use crate::hex;
use crate::transcript::{self, Summary, Visited};

/// What a verification with checkpoints found.
#[derive(Debug, Serialize)]
pub struct Verified {
    /// The transcript's entry count and head.
    pub summary: Summary,
    /// How many checkpoint entries the transcript holds.
    pub embedded: usize,
    /// The sequence number of the last checkpoint entry, if there is one.
    pub last_checkpoint: Option<u64>,
    /// Whether their signatures were checked (an audit key was given).
    pub signatures_checked: bool,
    /// How many entries, from the first, a checkpoint covers (see the module
    /// docs); the rest are covered by no signature.
    pub covered: u64,
    /// The audit key the transcript recorded at `generate-audit-key` (the
    /// last one, if there are several): its entry and SPKI SHA-256.
    pub recorded_key: Option<(u64, String)>,
    /// The `keys_restored` entry that restored the audit key given (by its
    /// SPKI SHA-256) into this transcript's token, if one did.
    pub restored_key: Option<u64>,
    /// Ceremonies that started and never recorded their end (the first
    /// [`super::interrupted::MAX_LISTED`]).
    pub interrupted: Vec<Interrupted>,
    /// How many there are in all.
    pub interrupted_total: u64,
    /// The last `checkpoint_skipped` entry after the last checkpoint, and
    /// its reason: a ceremony that ended without signing one (no audit key
    /// in its token), which is not an interruption.
    pub skipped: Option<(u64, String)>,
    /// With `--cosigners`: the checkpoint's cosignatures.
    pub cosigned: Option<CosignCount>,
}

impl Verified {
    /// How many entries at the end no signature covers.
    pub fn uncovered(&self) -> u64 {
        self.summary.entries.saturating_sub(self.covered)
    }
}

/// Verifies the transcript at `path`, every checkpoint embedded in it (each
/// must cover exactly the entries before it and extend the one before), and,
/// when given, that it holds exactly the prefix `checkpoint` names.
///
/// With `audit_key`, also: every checkpoint is signed by it, the transcript
/// holds at least one checkpoint ([`Error::NoCheckpoint`]), and the key is
/// the audit key the transcript recorded when it was generated, if it
/// recorded one ([`Error::ForeignAuditKey`]). Entries no signature covers
/// are not an error here: [`Verified::uncovered`] counts them.
pub fn verify(
    path: &Path,
    checkpoint: Option<(&Path, &Checkpoint)>,
    audit_key: Option<(&Path, &[u8])>,
) -> Result<Verified, Error> {
    verify_with_cosigners(path, checkpoint, audit_key, None)
}

/// [`verify`], and with `cosigners`, that the checkpoint is cosigned by
/// enough of them ([`Error::TooFewCosigners`]); cosignatures that verify at
/// the end of the transcript cover themselves (see `cosigners.rs`).
pub fn verify_with_cosigners(
    path: &Path,
    checkpoint: Option<(&Path, &Checkpoint)>,
    audit_key: Option<(&Path, &[u8])>,
    cosigners: Option<&Cosigners<'_>>,
) -> Result<Verified, Error> {
    if let (Some((cp_path, cp)), Some((key_path, key))) = (checkpoint, audit_key) {
        cp.verify(key).map_err(|reason| Error::BadSignature {
            path: cp_path.to_path_buf(),
            key: key_path.to_path_buf(),
            reason,
        })?;
    }
    let key_sha = audit_key.map(|(_, k)| hex::encode(&Sha256::digest(k)));
    let mut embedded = 0usize;
    let mut last_checkpoint: Option<u64> = None;
    let mut last_entries: Option<u64> = None;
    let mut head_at_checkpoint: Option<String> = None;
    let mut recorded_key: Option<(u64, String)> = None;
    let mut restored_key: Option<u64> = None;
    let mut skipped: Option<(u64, String)> = None;
    let mut tracker = Tracker::default();
    let mut cosigned = cosigners.map(Cosigners::start);
    let summary = transcript::verify_file_with(path, |v: &Visited<'_>| {
        if let (Some(c), Some(count)) = (cosigners, cosigned.as_mut()) {
            c.visit(count, v)?;
        }
        if let Some((_, cp)) = checkpoint {
            if cp.entries > 0 && v.seq == cp.entries - 1 {
                head_at_checkpoint = Some(v.hash.to_string());
            }
        }
        tracker.visit(v)?;
        if v.kind == "audit_key_generated" {
            if let Event::AuditKeyGenerated { key, .. } = v.parse()? {
                recorded_key = Some((v.seq, key.into_owned().spki_sha256));
            }
            return Ok(());
        }
        if v.kind == "keys_restored" {
            if let (Event::KeysRestored { restored, .. }, Some(sha)) = (v.parse()?, &key_sha) {
                if restored.keys.iter().any(|k| &k.spki_sha256 == sha) {
                    restored_key = Some(v.seq);
                }
            }
            return Ok(());
        }
        if v.kind == "checkpoint_skipped" {
            if let Event::CheckpointSkipped { reason } = v.parse()? {
                skipped = Some((v.seq, reason));
            }
            return Ok(());
        }
        if v.kind != "checkpoint" {
            return Ok(());
        }
        embedded += 1;
        let cp: Checkpoint = match v
            .parse()
            .map_err(|e| format!("checkpoint entry is malformed: {e}"))?
        {
            Event::Checkpoint { checkpoint, .. } => checkpoint.into_owned(),
            _ => return Err("checkpoint entry is malformed: not a checkpoint".into()),
        };
        if cp.entries != v.seq || cp.head != v.prev {
            return Err("checkpoint entry does not cover exactly the entries before it".into());
        }
        if last_entries.is_some_and(|last| cp.entries <= last) {
            return Err("checkpoint does not extend the one before it".into());
        }
        last_entries = Some(cp.entries);
        last_checkpoint = Some(v.seq);
        skipped = None;
        if let (Some((_, key)), Some(sha)) = (audit_key, &key_sha) {
            if &cp.key_sha256 != sha {
                return Err("checkpoint was signed by another key than the audit key given".into());
            }
            cp.verify(key)
                .map_err(|r| format!("checkpoint signature: {r}"))?;
        }
        Ok(())
    })?;
    if let Some((cp_path, cp)) = checkpoint {
        check_prefix(path, &summary, cp_path, cp, head_at_checkpoint)?;
    }
    if let (Some((key_path, _)), Some(sha)) = (audit_key, &key_sha) {
        if embedded == 0 {
            return Err(Error::NoCheckpoint {
                path: path.to_path_buf(),
                entries: summary.entries,
            });
        }
        if let Some((seq, recorded)) = &recorded_key {
            if recorded != sha {
                return Err(Error::ForeignAuditKey {
                    path: path.to_path_buf(),
                    key: key_path.to_path_buf(),
                    given: sha.clone(),
                    seq: *seq,
                    recorded: recorded.clone(),
                });
            }
        }
    }
    let mut covered = last_checkpoint
        .map_or(0, |seq| seq + 1)
        .max(checkpoint.map_or(0, |(_, cp)| cp.entries));
    if let (Some(c), Some(count)) = (cosigners, &cosigned) {
        if !count.enough() {
            return Err(Error::TooFewCosigners {
                path: path.to_path_buf(),
                checkpoint: c.checkpoint_path.to_path_buf(),
                signers: c.signers.path.clone(),
                counted: count.counted.len(),
                min: count.min,
                not_counted: count.not_counted.iter().map(|(_, r)| r.clone()).collect(),
            });
        }
        if count.last_other.is_none_or(|seq| seq < covered) {
            covered = summary.entries;
        }
    }
    let (interrupted, interrupted_total) = tracker.finish();
    Ok(Verified {
        summary,
        embedded,
        last_checkpoint,
        signatures_checked: audit_key.is_some(),
        covered,
        recorded_key,
        restored_key,
        interrupted,
        interrupted_total,
        skipped,
        cosigned,
    })
}

/// Checks that the transcript holds exactly the prefix `cp` names.
fn check_prefix(
    path: &Path,
    summary: &Summary,
    cp_path: &Path,
    cp: &Checkpoint,
    head_at_checkpoint: Option<String>,
) -> Result<(), Error> {
    let mismatch = |reason: String| Error::Mismatch {
        path: path.to_path_buf(),
        reason,
    };
    if summary.entries < cp.entries {
        return Err(mismatch(format!(
            "holds {} entries, but checkpoint {} covers {}: entries were cut from the end",
            summary.entries,
            cp_path.display(),
            cp.entries
        )));
    }
    let at = if cp.entries == 0 {
        Some(transcript::GENESIS.to_string())
    } else {
        head_at_checkpoint
    };
    if at.as_deref() != Some(cp.head.as_str()) {
        return Err(mismatch(format!(
            "entry {} is not the head checkpoint {} names: the transcript was changed",
            cp.entries.saturating_sub(1),
            cp_path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
