//! What `transcript verify` prints about a verified transcript: the chain,
//! the signatures, the audit key, the checkpoint from the paper record,
//! which entries no signature covers, and the ceremonies that never ended.

use std::fmt::Write as _;
use std::path::Path;

use super::{Checkpoint, Verified};

/// With an audit key, entries at the end that no signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncovered {
    /// The one-line error.
    pub message: String,
    /// The likely fix.
    pub hint: &'static str,
}

/// "the last entry (entry 7) is" or "the last 3 entries (entries 5 to 7)
/// are", for entries `from` to `entries - 1`.
fn last_entries(from: u64, entries: u64) -> String {
    let last = entries.saturating_sub(1);
    if from >= last {
        format!("the last entry (entry {last}) is")
    } else {
        format!(
            "the last {} entries (entries {from} to {last}) are",
            entries - from
        )
    }
}

impl Verified {
    /// The report, one fact a line: `file` and `audit_key` name the files
    /// given, `checkpoint` the one from the paper record.
    pub fn render(
        &self,
        file: &Path,
        audit_key: Option<&Path>,
        checkpoint: Option<(&Path, &Checkpoint)>,
    ) -> String {
        let s = &self.summary;
        let mut out = format!(
            "transcript {}: intact, {} entries, head {}\n{} embedded checkpoint(s), {}\n",
            file.display(),
            s.entries,
            s.head,
            self.embedded,
            if self.signatures_checked {
                "every signature verified with the audit key"
            } else {
                "signatures not checked (give --audit-key)"
            }
        );
        if let Some(key) = audit_key {
            let _ = match &self.recorded_key {
                Some((seq, _)) => writeln!(
                    out,
                    "audit key {}: the key the transcript recorded at entry {seq} (generate-audit-key)",
                    key.display()
                ),
                None => match self.restored_key {
                    Some(seq) => writeln!(
                        out,
                        "audit key {}: restored into this transcript's token at entry {seq} (restore-keys); its generate-audit-key is in the backup ceremony's transcript",
                        key.display()
                    ),
                    None => writeln!(
                        out,
                        "audit key {}: the transcript records no generate-audit-key (the key was made in another transcript); the key is trusted as given",
                        key.display()
                    ),
                },
            };
        }
        if let Some((path, cp)) = checkpoint {
            let after = s.entries - cp.entries;
            let _ = writeln!(
                out,
                "checkpoint {}: the transcript holds exactly its {} entries (head {}), signed by the audit key; {}",
                path.display(),
                cp.entries,
                cp.head,
                match after {
                    0 => "no entry follows them".to_string(),
                    1 => "1 entry after them is not covered by it".to_string(),
                    n => format!("{n} entries after them are not covered by it"),
                }
            );
        }
        if let Some(c) = &self.cosigned {
            let _ = writeln!(
                out,
                "cosigned: {} of the {} required signers (signers file sha256 {}) signed the checkpoint (sha256 {}), each signature verified again",
                c.counted.len(),
                c.min,
                &c.signers_sha256[..16],
                &c.checkpoint_sha256[..16],
            );
            for s in &c.counted {
                let _ = writeln!(
                    out,
                    "  cosigned by {} ({}), entry {}",
                    s.principal, s.fingerprint, s.seq
                );
            }
            for (_, reason) in &c.not_counted {
                let _ = writeln!(out, "  not counted: {reason}");
            }
        }
        let _ = writeln!(out, "{}", self.coverage());
        if let Some((seq, reason)) = &self.skipped {
            let _ = writeln!(
                out,
                "checkpoint skipped: the ceremony that ended at entry {seq} signed no checkpoint ({reason}); it ended, it was not interrupted"
            );
        }
        for c in &self.interrupted {
            let _ = writeln!(
                out,
                "interrupted: ceremony {:?} started at entry {} and never recorded its end; it signed {} certificate(s), {} of them never delivered (no output bundle recorded for their step)",
                c.ceremony, c.start_seq, c.certificates_issued, c.undelivered
            );
        }
        let more = self.interrupted_total - self.interrupted.len() as u64;
        if more > 0 {
            let _ = writeln!(out, "interrupted: {more} more ceremonies, not listed");
        }
        out
    }

    /// One line: which entries a checkpoint covers.
    pub fn coverage(&self) -> String {
        let entries = self.summary.entries;
        if entries == 0 {
            "covered: the transcript is empty".into()
        } else if self.uncovered() == 0
            && self.cosigned.is_some()
            && self.last_checkpoint.map_or(0, |seq| seq + 1) < entries
        {
            format!(
                "covered: all {entries} entries are covered by a checkpoint, or are its cosignatures, each verified by its own signature"
            )
        } else if self.uncovered() == 0 {
            format!("covered: all {entries} entries are covered by a checkpoint")
        } else if self.covered == 0 {
            format!(
                "not covered: the transcript holds no checkpoint; none of its {entries} entries is covered by a signature"
            )
        } else {
            format!(
                "not covered: {} covered by no checkpoint, only by the hash chain",
                last_entries(self.covered, entries)
            )
        }
    }

    /// With an audit key given, entries at the end that no signature covers
    /// are an error of their own (exit code 4): everything that was checked
    /// holds, but not everything is vouched for.
    pub fn uncovered_error(&self, file: &Path) -> Option<Uncovered> {
        if !self.signatures_checked || self.uncovered() == 0 {
            return None;
        }
        let hint = if self.skipped.is_some() {
            "a ceremony whose token held no audit key ends with checkpoint_skipped, not a checkpoint, and entries a forger appended look the same; compare them with the paper record, then sign a checkpoint with `ceremony transcript checkpoint` on a token that holds the audit key"
        } else {
            "entries added after the last checkpoint (a note, an interrupted ceremony) look like this, and so do entries a forger appended; compare them with the paper record, then sign a checkpoint with `ceremony transcript checkpoint`"
        };
        Some(Uncovered {
            message: format!(
                "transcript {}: {} covered by no signature of the audit key",
                file.display(),
                last_entries(self.covered, self.summary.entries)
            ),
            hint,
        })
    }
}

#[cfg(test)]
mod tests;
