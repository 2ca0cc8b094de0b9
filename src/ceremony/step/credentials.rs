//! The credentials a ceremony holds for steps that act as the token's
//! security officer or rebuild a secret from custodians' shares, and the
//! [`Context`] methods that use them. No PIN is ever recorded or printed.

use std::borrow::Cow;

use cryptoki::types::AuthPin;

use super::super::shares::ShareInput;
use super::super::{Error, Reason};
use super::Context;
use crate::events::Event;
use crate::token::{PinSource, Token};

/// The secrets a ceremony holds for steps that switch to the security
/// officer or rebuild a secret from custodians' shares: the SO PIN's
/// source (read once, when a step first needs it), the user PIN kept from
/// the runner's login (only when a step logs in as the SO), and the shares
/// given with `--share`. PINs are zeroized on drop.
pub struct Credentials {
    so_source: PinSource,
    so_pin: Option<AuthPin>,
    user_pin: Option<AuthPin>,
    shares: Vec<ShareInput>,
}

impl Credentials {
    /// Credentials with the SO PIN's source and the shares given.
    pub fn new(so_source: PinSource, shares: Vec<ShareInput>) -> Self {
        Credentials {
            so_source,
            so_pin: None,
            user_pin: None,
            shares,
        }
    }

    /// Keeps the user PIN the runner logged in with, for logging in again
    /// after a security officer's step.
    pub fn keep_user_pin(&mut self, pin: AuthPin) {
        self.user_pin = Some(pin);
    }
}

impl Context<'_> {
    /// The shares given with `--share`, for a step that rebuilds a secret.
    pub fn shares(&self) -> &[ShareInput] {
        &self.credentials.shares
    }

    /// Runs `f` logged in as the token's security officer, then logs the
    /// user in again with the PIN kept from the ceremony's login, whatever
    /// `f` returned. The SO PIN is read from its source the first time
    /// (prompt, file or descriptor) and kept for a later step. Each login
    /// is recorded; no entry holds a PIN. Handles to private objects die
    /// with the user's logout: find them again after.
    pub fn as_security_officer<T>(
        &mut self,
        f: impl FnOnce(&Token) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.officer(f, None).1
    }

    /// As the security officer, sets the token's user PIN to `pin`
    /// (`C_InitPIN`); the user then logs in with it, and it is kept (for a
    /// later security officer's step) in place of the old one. When the
    /// change fails, the user logs in again with the old PIN. The first
    /// value says whether the token took the new PIN, which stays true when
    /// a later part (the logout, the login) fails.
    pub fn set_user_pin(&mut self, pin: AuthPin) -> (bool, Result<(), Error>) {
        let new = pin.clone();
        let (changed, result) = self.officer(
            move |token| token.init_user_pin(&new).map_err(Error::from),
            Some(pin),
        );
        (changed, result)
    }

    /// Runs `f` as the security officer and logs the user in again: with
    /// `new_pin` when `f` succeeded and one is given, else with the kept
    /// PIN. Returns whether `f` succeeded, and the whole result.
    fn officer<T>(
        &mut self,
        f: impl FnOnce(&Token) -> Result<T, Error>,
        new_pin: Option<AuthPin>,
    ) -> (bool, Result<T, Error>) {
        let token = self.token;
        let label = token.identity().label.clone();
        let Some(old_pin) = self.credentials.user_pin.take() else {
            let refused = self.refuse(vec![Reason::Rule(format!(
                "step {}: the user PIN was not kept for logging in again after the security officer",
                self.step
            ))]);
            return (false, Err(refused));
        };
        let (done, logout) = self.so_phase(token, &label, f);
        let succeeded = done.is_ok();
        let (user_pin, source) = match (succeeded, new_pin) {
            (true, Some(new)) => (new, "set by this step"),
            _ => (old_pin, "kept from this ceremony's login"),
        };
        let again = token.login(&user_pin);
        let recorded = self.record_login("user", source.into(), again.as_ref().err());
        self.credentials.user_pin = Some(user_pin);
        let result = done.and_then(|value| {
            logout?;
            recorded?;
            again?;
            Ok(value)
        });
        (succeeded, result)
    }

    /// Logs the user out and the security officer in, runs `f`, and logs
    /// the SO out: `f`'s result (or why the SO could not log in), and the
    /// SO's logout.
    fn so_phase<T>(
        &mut self,
        token: &Token,
        label: &str,
        f: impl FnOnce(&Token) -> Result<T, Error>,
    ) -> (Result<T, Error>, Result<(), Error>) {
        if let Err(e) = token.logout() {
            return (Err(e.into()), Ok(()));
        }
        let source = self.credentials.so_source.describe();
        let pin = match self.credentials.so_pin.take() {
            Some(pin) => pin,
            None => match self.credentials.so_source.read_so(label) {
                Ok(pin) => pin,
                Err(e) => {
                    let recorded = self.record_login("so", source, Some(&e));
                    return (recorded.and(Err(e.into())), Ok(()));
                }
            },
        };
        let login = token.login_so(&pin);
        if let Err(e) = self.record_login("so", source, login.as_ref().err()) {
            // Not logged in as the SO past this point, whatever happened.
            let _ = token.logout();
            return (Err(e), Ok(()));
        }
        if let Err(e) = login {
            return (Err(e.into()), Ok(()));
        }
        self.credentials.so_pin = Some(pin);
        let result = f(token);
        let logout = token.logout().map_err(Error::from);
        (result, logout)
    }

    fn record_login(
        &mut self,
        user: &'static str,
        pin_source: String,
        failure: Option<&crate::token::Error>,
    ) -> Result<(), Error> {
        use crate::token::Error as TokenError;
        self.record(&Event::Login {
            user: Cow::Borrowed(user),
            pin_source,
            attempt: None,
            pin_flags: None,
            pin_flags_unreadable: None,
            final_try_confirmed: None,
            attempted: !matches!(failure, Some(TokenError::Pin { .. })),
            success: failure.is_none(),
            rv: match failure {
                Some(TokenError::Login { rv, .. } | TokenError::SoLogin { rv, .. }) => {
                    Some(rv.to_string())
                }
                _ => None,
            },
            error: failure.map(ToString::to_string),
        })
    }
}
