//! The runner's quorum login (`--pin-share SHARE=IDENTITY …`): the user PIN
//! of a token under an `activate-quorum` rebuilt from M officers' shares,
//! in memory only, for the login. Each share is judged alone against the
//! commitments the transcript's last `quorum_activated` entry for this
//! token (by serial) recorded; the judgement is recorded (which officers'
//! shares counted, which did not and why); fewer than M good shares refuse
//! the ceremony before `C_Login` is called.

use std::borrow::Cow;
use std::path::Path;

use cryptoki::types::AuthPin;

use super::super::shares::{self, ShareInput};
use super::super::{Error, Reason};
use super::Runner;
use crate::custody::{self, Commitments, Purpose};
use crate::events::{Event, QuorumRecord};
use crate::token::Token;

impl Runner<'_, '_> {
    /// Logs in to `token` with the PIN rebuilt from `inputs`; returns it.
    pub(super) fn quorum_login(
        &mut self,
        token: &Token,
        inputs: &[ShareInput],
    ) -> Result<AuthPin, Error> {
        let id = token.identity().clone();
        let Some(quorum) = last_quorum(&self.plan.transcript, &id.serial)? else {
            return Err(self.refuse(
                None,
                vec![Reason::Rule(format!(
                    "--pin-share: transcript {} records no activate-quorum for token {:?} (serial {}); log in with its user PIN",
                    self.plan.transcript.display(),
                    id.label,
                    id.serial
                ))],
            ));
        };
        let commitments = match Commitments::from_hex(&quorum.commitments) {
            Ok(c) => c,
            Err(e) => {
                return Err(self.refuse(
                    None,
                    vec![Reason::Rule(format!(
                        "the transcript's quorum_activated commitments do not decode: {e}"
                    ))],
                ))
            }
        };
        let judged = shares::judge(inputs, Purpose::UserPin, &commitments);
        for (file, share) in &judged.good {
            self.say(format_args!(
                "share {} of officer {:?} ({}) counts",
                share.index(),
                share.custodian(),
                file.display()
            ));
        }
        for refused in &judged.refused {
            self.say(format_args!("not counted: {refused}"));
        }
        self.record(&Event::SharesJudged {
            step: None,
            shares: Box::new(judged.record(Purpose::UserPin, &quorum.set, quorum.threshold)),
        })?;
        let secret = match judged.combine(&commitments) {
            Ok(secret) => secret,
            Err(why) => {
                return Err(self.refuse(
                    None,
                    vec![Reason::Rule(format!(
                        "--pin-share: {why}; no login was attempted"
                    ))],
                ))
            }
        };
        let officers = judged.custodians().join(", ");
        drop(judged);
        let text = custody::user_pin(&secret);
        drop(secret);
        let pin = AuthPin::from(text.as_str());
        drop(text);
        let login = token.login(&pin);
        self.record(&Event::Login {
            user: Cow::Borrowed("user"),
            pin_source: format!(
                "quorum: {} of {} officers' shares (set {}): {officers}",
                quorum.threshold, quorum.count, quorum.set
            ),
            attempt: Some(1),
            pin_flags: None,
            pin_flags_unreadable: None,
            final_try_confirmed: None,
            attempted: true,
            success: login.is_ok(),
            rv: match &login {
                Err(crate::token::Error::Login { rv, .. }) => Some(rv.to_string()),
                _ => None,
            },
            error: login.as_ref().err().map(ToString::to_string),
        })?;
        login?;
        Ok(pin)
    }
}

/// The transcript's last `quorum_activated` entry for the token with
/// serial `serial`, if any.
fn last_quorum(path: &Path, serial: &str) -> Result<Option<QuorumRecord>, Error> {
    let mut last = None;
    if !path.exists() {
        return Ok(None);
    }
    crate::transcript::verify_file_with(path, |v| {
        if v.kind == "quorum_activated" {
            if let Event::QuorumActivated { quorum, .. } = v.parse::<Event<'static>>()? {
                if quorum.token_serial == serial {
                    last = Some(*quorum);
                }
            }
        }
        Ok(())
    })?;
    Ok(last)
}
