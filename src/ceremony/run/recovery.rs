//! What a run finds that a crashed run left, run side: the ceremony that
//! started and never ended (named, with the certificates it signed and
//! never delivered) and the temporary files beside this plan's outputs
//! (removed when their process is gone). Both are recorded before
//! `ceremony_start`, under the ceremony's locks.

use std::borrow::Cow;
use std::path::PathBuf;

use super::super::Error;
use super::Runner;
use crate::checkpoint::interrupted::Tracker;
use crate::events::{Event, Interrupted};
use crate::fsutil;

impl Runner<'_, '_> {
    /// Records the ceremony that started at entry `seq` and never ended: its
    /// name and the certificates it signed and never delivered. Read in a
    /// second pass over the transcript, only after a crash.
    pub(super) fn record_unfinished(&mut self, seq: u64) -> Result<Interrupted, Error> {
        let mut tracker = Tracker::default();
        crate::transcript::verify_file_with(self.transcript.path(), |v| tracker.visit(v))?;
        let (found, _) = tracker.finish();
        let found = found.into_iter().rfind(|c| c.start_seq == seq);
        let (ceremony, issued, undelivered) = found
            .map(|c| (c.ceremony, c.certificates_issued, c.undelivered))
            .unwrap_or_default();
        self.say(format_args!(
            "note: ceremony {ceremony:?}, started at entry {seq}, never recorded its end (interrupted): it signed {issued} certificate(s), {undelivered} of them never delivered; recorded, going on"
        ));
        self.record(&Event::UnfinishedCeremonyFound {
            ceremony_start_seq: seq,
            ceremony: Cow::Borrowed(&ceremony),
            certificates_issued: issued,
            certificates_undelivered: undelivered,
        })?;
        Ok(Interrupted {
            ceremony_start_seq: seq,
            ceremony,
            certificates_undelivered: undelivered,
        })
    }

    /// Removes the temporary files a killed run left beside this plan's
    /// outputs and its checkpoint file (see
    /// [`fsutil::remove_stale_temporaries`]) and records what it removed
    /// and what it could not. Never fails the run: a temporary file left in
    /// place is never taken for an output.
    pub(super) fn remove_stale_temporaries(&mut self) -> Result<(), Error> {
        let plan = self.plan;
        let mut files = plan.outputs();
        files.push(&plan.script.audit.checkpoint);
        let mut dirs: Vec<PathBuf> = files.iter().map(|f| fsutil::parent_dir(f)).collect();
        dirs.sort();
        dirs.dedup();
        let mut stale = fsutil::Stale::default();
        for dir in dirs {
            let names: Vec<&std::ffi::OsStr> = files
                .iter()
                .filter(|f| fsutil::parent_dir(f) == dir)
                .filter_map(|f| f.file_name())
                .collect();
            match fsutil::remove_stale_temporaries(&dir, &names) {
                Ok(found) => {
                    stale.removed.extend(found.removed);
                    stale.kept.extend(found.kept);
                }
                Err(e) => stale.kept.push((dir, e.to_string())),
            }
        }
        if stale.removed.is_empty() && stale.kept.is_empty() {
            return Ok(());
        }
        let paths: Vec<String> = stale
            .removed
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let not_removed: Vec<String> = stale
            .kept
            .iter()
            .map(|(p, e)| format!("{}: {e}", p.display()))
            .collect();
        if !paths.is_empty() {
            self.say(format_args!(
                "note: removed {} temporary file(s) a killed run left: {}",
                paths.len(),
                paths.join(", ")
            ));
        }
        for problem in &not_removed {
            self.say(format_args!(
                "warning: cannot remove the temporary files a killed run left: {problem}"
            ));
        }
        self.record(&Event::StaleTemporariesRemoved { paths, not_removed })
    }
}
