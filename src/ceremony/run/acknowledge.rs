//! The runner's side of witnessed steps: every witness acknowledges a step
//! before it runs (see `witness.rs` for where answers come from and how a
//! line is judged), and each answer is recorded. A wrong line is recorded
//! (`witness_attempt_failed`, never the line itself) and asked again, up to
//! `ATTEMPTS` lines per witness and step; the last wrong line, no answer or
//! `abort` refuses the ceremony before the step.

use std::borrow::Cow;

use super::super::witness::{judge, Answer, ATTEMPTS};
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
            let mut retry = String::new();
            let mut attempt = 1;
            let reason = loop {
                let prompt = format!(
                    "{retry}witness {witness}, acknowledge step {} by typing \"{witness} {code}\" (or abort): ",
                    step.id()
                );
                let answer = self.acks.ask(&prompt);
                let source = self.acks.source_name();
                let why = match answer.as_deref().map(|a| judge(a, witness, &code)) {
                    Ok(Answer::Acknowledged) => {
                        self.record(&Event::WitnessAcknowledged {
                            step: Cow::Borrowed(step.id()),
                            witness: Cow::Borrowed(witness),
                            code: Cow::Borrowed(&code),
                            source: Cow::Borrowed(source),
                        })?;
                        break None;
                    }
                    Ok(Answer::Abort) => break Some("aborted the ceremony".to_string()),
                    Err(e) => break Some(format!("gave no answer: {e}")),
                    Ok(Answer::Wrong(why)) => why,
                };
                self.record(&Event::WitnessAttemptFailed {
                    step: Cow::Borrowed(step.id()),
                    witness: Cow::Borrowed(witness),
                    code: Cow::Borrowed(&code),
                    source: Cow::Borrowed(source),
                    attempt,
                    attempts: ATTEMPTS,
                    reason: Cow::Borrowed(why),
                })?;
                let left = ATTEMPTS - attempt;
                self.say(format_args!(
                    "witness {witness}: attempt {attempt} of {ATTEMPTS} for step {} did not match ({why}); {left} attempt(s) left",
                    step.id()
                ));
                if left == 0 {
                    break Some(
                        "answered, but not with their name and this step's code".to_string(),
                    );
                }
                retry = format!("that did not match: {why}; {left} attempt(s) left.\n");
                attempt += 1;
            };
            if let Some(reason) = reason {
                let source = self.acks.source_name();
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
        Ok(())
    }
}
