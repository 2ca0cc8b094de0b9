//! Interrupted ceremonies, read from a transcript: a `ceremony_start` with
//! no `ceremony_end` before the next `ceremony_start` (or the end of the
//! file), and how many certificates it signed that were never delivered.
//!
//! A certificate is delivered by a `sign-requests` step only in its output
//! bundle: its `certificate_issued` entry counts as undelivered until an
//! `output_bundle_written` entry of the same step follows it. A
//! `generate-root` step writes its certificate right after recording it, so
//! it is counted as issued, never as undelivered. Only the entries that
//! name a ceremony, a step or a bundle are parsed, so the count costs
//! nothing on a transcript of a million certificates.

use serde::Serialize;

use crate::events::Event;
use crate::transcript::Visited;

/// How many interrupted ceremonies are kept by name; more are only counted.
pub const MAX_LISTED: usize = 100;

/// A ceremony that started and never recorded its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interrupted {
    /// The sequence number of its `ceremony_start`.
    pub start_seq: u64,
    /// Its name, as `ceremony_start` records it.
    pub ceremony: String,
    /// Its `certificate_issued` entries.
    pub certificates_issued: u64,
    /// Of those, the ones signed in a `sign-requests` step whose output
    /// bundle was never recorded as written.
    pub undelivered: u64,
}

/// A visitor that finds interrupted ceremonies in one pass.
#[derive(Debug, Default)]
pub struct Tracker {
    open: Option<Open>,
    found: Vec<Interrupted>,
    total: u64,
}

/// The ceremony being read.
#[derive(Debug)]
struct Open {
    seen: Interrupted,
    step: Option<Step>,
}

/// The step being read.
#[derive(Debug)]
struct Step {
    name: String,
    /// True for a `sign-requests` step (it delivers through a bundle).
    bundles: bool,
    /// Certificates issued in it and not yet in a written bundle.
    pending: u64,
}

impl Open {
    fn end_step(&mut self) {
        if let Some(step) = self.step.take() {
            self.seen.undelivered += step.pending;
        }
    }
}

impl Tracker {
    /// Looks at one verified entry.
    pub fn visit(&mut self, v: &Visited<'_>) -> Result<(), String> {
        match v.kind {
            "ceremony_start" => {
                let Event::CeremonyStart { ceremony, .. } = v.parse()? else {
                    return Ok(());
                };
                self.close();
                self.open = Some(Open {
                    seen: Interrupted {
                        start_seq: v.seq,
                        ceremony: ceremony.into_owned(),
                        certificates_issued: 0,
                        undelivered: 0,
                    },
                    step: None,
                });
            }
            "ceremony_end" => self.open = None,
            "step_start" => {
                if let Some(open) = &mut self.open {
                    let Event::StepStart { step, action } = v.parse()? else {
                        return Ok(());
                    };
                    open.end_step();
                    open.step = Some(Step {
                        name: step.into_owned(),
                        bundles: action == "sign-requests",
                        pending: 0,
                    });
                }
            }
            "certificate_issued" => {
                // Recorded only inside its step: no need to parse it.
                if let Some(open) = &mut self.open {
                    open.seen.certificates_issued += 1;
                    if let Some(step) = open.step.as_mut().filter(|s| s.bundles) {
                        step.pending += 1;
                    }
                }
            }
            "output_bundle_written" => {
                if let Some(open) = &mut self.open {
                    let Event::OutputBundleWritten { step: written, .. } = v.parse()? else {
                        return Ok(());
                    };
                    if let Some(step) = open.step.as_mut() {
                        if written == step.name {
                            step.pending = 0;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The ceremony being read, if any, never ended.
    fn close(&mut self) {
        if let Some(mut open) = self.open.take() {
            open.end_step();
            self.total += 1;
            if self.found.len() < MAX_LISTED {
                self.found.push(open.seen);
            }
        }
    }

    /// Every interrupted ceremony (the first [`MAX_LISTED`]) and how many
    /// there are; the last ceremony counts when the file ends before its end.
    pub fn finish(mut self) -> (Vec<Interrupted>, u64) {
        self.close();
        (self.found, self.total)
    }
}

#[cfg(test)]
mod tests;
