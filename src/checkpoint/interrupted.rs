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
mod tests {
    use super::*;
    use crate::transcript::verify_reader_with;

    fn track(events: &[serde_json::Value]) -> (Vec<Interrupted>, u64) {
        let text = crate::checkpoint::tests::chain(events);
        let mut tracker = Tracker::default();
        verify_reader_with(std::path::Path::new("t"), text.as_bytes(), |v| {
            tracker.visit(v)
        })
        .expect("intact");
        tracker.finish()
    }

    fn ceremony_start(name: &str) -> serde_json::Value {
        serde_json::json!({"type": "ceremony_start", "ceremony": name, "script": "s.toml",
                           "script_sha256": "00", "tool": "ceremony", "version": "0.1.0",
                           "operator": "o", "witnesses": [], "steps": []})
    }

    #[test]
    fn a_ceremony_start_that_does_not_read_fails_the_entry() {
        let mut start = ceremony_start("x");
        start["ceremony"] = 7.into();
        let text = crate::checkpoint::tests::chain(&[start]);
        let mut tracker = Tracker::default();
        let err = verify_reader_with(std::path::Path::new("t"), text.as_bytes(), |v| {
            tracker.visit(v)
        })
        .expect_err("a ceremony name that is not a string");
        assert!(
            err.to_string().starts_with(
                "transcript t: entry 0 (line 1): ceremony_start event: invalid type: integer `7`, expected a string"
            ),
            "{err}"
        );
    }

    #[test]
    fn undelivered_certificates_are_those_without_a_bundle_of_their_step() {
        use serde_json::json;
        let start = |name: &str| ceremony_start(name);
        let step =
            |id: &str, action: &str| json!({"type": "step_start", "step": id, "action": action});
        let cert = |id: &str| json!({"type": "certificate_issued", "step": id});
        let bundle = |id: &str| {
            json!({"type": "output_bundle_written", "step": id, "file": "b.age",
                   "checksum_file": "b.age.sha256", "sha256": "00", "certificates": 2,
                   "rejected": 0, "recipients": [], "signature_key_sha256": "00"})
        };
        let end = json!({"type": "ceremony_end"});
        let events = vec![
            // A ceremony that ended is never interrupted.
            start("done"),
            step("a", "sign-requests"),
            cert("a"),
            end.clone(),
            // Killed in its second batch: the first batch was delivered.
            start("killed"),
            step("root", "generate-root"),
            cert("root"),
            step("a", "sign-requests"),
            cert("a"),
            cert("a"),
            bundle("a"),
            step("b", "sign-requests"),
            cert("b"),
            cert("b"),
            cert("b"),
            // The next run starts; it is killed too, before any step.
            json!({"type": "unfinished_ceremony_found"}),
            start("again"),
            step("a", "sign-requests"),
        ];
        let (found, total) = track(&events);
        assert_eq!(total, 2);
        assert_eq!(
            found,
            vec![
                Interrupted {
                    start_seq: 4,
                    ceremony: "killed".into(),
                    certificates_issued: 6,
                    undelivered: 3
                },
                Interrupted {
                    start_seq: 16,
                    ceremony: "again".into(),
                    certificates_issued: 0,
                    undelivered: 0
                }
            ]
        );
    }

    #[test]
    fn a_transcript_of_ended_ceremonies_has_none() {
        use serde_json::json;
        let events = vec![
            ceremony_start("x"),
            json!({"type": "ceremony_end"}),
            json!({"type": "note"}),
        ];
        assert_eq!(track(&events), (vec![], 0));
    }
}
