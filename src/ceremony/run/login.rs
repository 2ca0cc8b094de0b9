//! The runner's login: the token's user-PIN flags read, shown and recorded
//! before each attempt; a locked PIN or one to be changed refused before
//! any prompt; a final try confirmed by the operator on the terminal
//! first; a PIN mistyped at the prompt typed again (at most
//! [`MAX_PROMPT_ATTEMPTS`](crate::token::MAX_PROMPT_ATTEMPTS)), each
//! attempt its own `login` entry. A PIN file or descriptor is tried once.
//! No entry ever carries the PIN; this module never changes or unlocks one.

use std::borrow::Cow;

use cryptoki::types::AuthPin;

use super::super::witness::Acknowledgements;
use super::super::{Error, Reason};
use super::Runner;
use crate::events::Event;
use crate::token::{PinFlags, PinSource, PinVerdict, Token};

/// What one login entry records besides its outcome.
struct Attempt {
    number: u32,
    flags: Option<PinFlags>,
    unreadable: Option<String>,
    confirmed: Option<bool>,
}

impl Runner<'_, '_> {
    /// Logs in to `token` as the user with the PIN from `source`, or
    /// refuses or fails with every attempt recorded. Returns the PIN that
    /// logged in (zeroized on drop).
    pub(super) fn login(&mut self, token: &Token, source: &PinSource) -> Result<AuthPin, Error> {
        let label = token.identity().label.clone();
        let max = source.max_attempts();
        let mut number = 1;
        loop {
            let mut attempt = Attempt {
                number,
                flags: None,
                unreadable: None,
                confirmed: None,
            };
            // Read again before every attempt: a token may lock sooner than
            // this tool's limit.
            match token.pin_flags() {
                Ok(flags) => {
                    self.say(format_args!("token {label:?} user PIN: {flags}"));
                    attempt.flags = Some(flags);
                }
                Err(why) => {
                    self.say(format_args!(
                        "token {label:?}: its user-PIN flags cannot be read ({why}); going on without them"
                    ));
                    attempt.unreadable = Some(why);
                }
            }
            match attempt.flags.map_or(PinVerdict::Proceed, |f| f.verdict()) {
                PinVerdict::Refuse(refusal) => {
                    self.record_login(source, &attempt, Ok(false))?;
                    return Err(self.refuse(
                        None,
                        vec![Reason::Pin {
                            token: label,
                            refusal,
                        }],
                    ));
                }
                PinVerdict::ConfirmFinalTry => {
                    let answer = Acknowledgements::new(None).ask(&format!(
                        "token {label:?}: one more wrong user PIN locks it; type yes to enter the PIN, anything else stops the ceremony: "
                    ));
                    let confirmed = matches!(&answer, Ok(a) if a.eq_ignore_ascii_case("yes"));
                    attempt.confirmed = Some(confirmed);
                    if !confirmed {
                        self.record_login(source, &attempt, Ok(false))?;
                        let why = match answer {
                            Ok(_) => "the operator did not confirm it".to_string(),
                            Err(e) => format!("it could not be confirmed: {e}"),
                        };
                        return Err(self.refuse(
                            None,
                            vec![Reason::Rule(format!(
                                "token {label:?}: the user PIN is on its final try (CKF_USER_PIN_FINAL_TRY) and {why}; no PIN was asked for"
                            ))],
                        ));
                    }
                }
                PinVerdict::Warn => self.say(format_args!(
                    "warning: token {label:?}: a wrong user PIN was given since its last good login; a token may lock the PIN after a few more"
                )),
                PinVerdict::Proceed => {}
            }
            let login = match source.read(&label) {
                Ok(pin) => token.login(&pin).map(|()| pin),
                Err(e) => {
                    self.record_login(source, &attempt, Err(&e))?;
                    return Err(e.into());
                }
            };
            match login {
                Ok(pin) => {
                    self.record_login(source, &attempt, Ok(true))?;
                    return Ok(pin);
                }
                Err(e) => {
                    self.record_login(source, &attempt, Err(&e))?;
                    if !(e.pin_mistyped() && number < max) {
                        return Err(e.into());
                    }
                    self.say(format_args!(
                        "the token refused the PIN (attempt {number} of {max}); type it again"
                    ));
                }
            }
            number += 1;
        }
    }

    /// Records one login entry: `Ok(true)` logged in, `Ok(false)` never
    /// called `C_Login`, `Err` the reason it failed (the PIN's source or the
    /// token's answer).
    fn record_login(
        &mut self,
        source: &PinSource,
        attempt: &Attempt,
        outcome: Result<bool, &crate::token::Error>,
    ) -> Result<(), Error> {
        let (attempted, rv) = match outcome {
            Ok(called) => (called, None),
            Err(crate::token::Error::Pin { .. }) => (false, None),
            Err(crate::token::Error::Login { rv, .. }) => (true, Some(rv.to_string())),
            Err(_) => (true, None),
        };
        self.record(&Event::Login {
            user: Cow::Borrowed("user"),
            pin_source: source.describe(),
            attempt: Some(attempt.number),
            pin_flags: attempt
                .flags
                .map(|f| f.names().into_iter().map(Cow::Borrowed).collect()),
            pin_flags_unreadable: attempt.unreadable.clone(),
            final_try_confirmed: attempt.confirmed,
            attempted,
            success: matches!(outcome, Ok(true)),
            rv,
            error: outcome.err().map(ToString::to_string),
        })
    }
}
