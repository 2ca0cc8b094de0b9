//! The runner's side of witnessed steps: every witness acknowledges a step
//! before it runs (see `witness.rs` for where answers come from), each
//! answer is recorded, and a wrong answer, no answer or `abort` refuses the
//! ceremony before the step.

use std::borrow::Cow;

use super::super::witness::normalise;
use super::super::{Error, Reason};
use super::Runner;
use crate::events::Event;

impl Runner<'_, '_> {
    /// Every witness acknowledges step `i` before it runs, or the ceremony stops.
    pub(super) fn acknowledge(&mut self, i: usize) -> Result<(), Error> {
        let plan = self.plan;
        let step = &plan.steps[i];
        let code = plan.step_digest(i);
        self.say(format_args!(
            "step {} ({}) is witnessed: each witness types their name and the code {code}",
            step.id(),
            step.action()
        ));
        for witness in &plan.script.participants.witnesses {
            let prompt = format!("witness {witness}, acknowledge step {} by typing \"{witness} {code}\" (or abort): ", step.id());
            let answer = self.acks.ask(&prompt);
            let source = self.acks.source_name();
            let reason = match &answer {
                Ok(a) if normalise(a) == normalise(&format!("{witness} {code}")) => None,
                Ok(a) if a.eq_ignore_ascii_case("abort") => {
                    Some("aborted the ceremony".to_string())
                }
                Ok(_) => Some("answered, but not with their name and this step's code".to_string()),
                Err(e) => Some(format!("gave no answer: {e}")),
            };
            match reason {
                None => {
                    self.record(&Event::WitnessAcknowledged {
                        step: Cow::Borrowed(step.id()),
                        witness: Cow::Borrowed(witness),
                        code: Cow::Borrowed(&code),
                        source: Cow::Borrowed(source),
                    })?;
                }
                Some(reason) => {
                    self.record(&Event::WitnessRefused {
                        step: Cow::Borrowed(step.id()),
                        witness: Cow::Borrowed(witness),
                        code: Cow::Borrowed(&code),
                        source: Cow::Borrowed(source),
                        reason: reason.clone(),
                    })?;
                    return Err(self.refuse(
                        Some(step.id()),
                        vec![Reason::Rule(format!(
                            "witness {witness} {reason} (step {}, code {code}); the step did not run",
                            step.id()
                        ))],
                    ));
                }
            }
        }
        Ok(())
    }
}
