//! Test-only token faults, compiled in only with the `fault-injection`
//! feature (never in release builds). `CEREMONY_FAULT` chooses one:
//!
//! - `sign-error:N`: the signature after the first N fails as the token's
//!   `C_Sign` would (`CKR_DEVICE_ERROR`), simulated here;
//! - `session-closed:N`: the signature after the first N fails as `C_Sign`
//!   does on a session the token closed (`CKR_SESSION_CLOSED`), simulated;
//! - `logout:N`: after N signatures the session really logs out (`C_Logout`),
//!   so the next real `C_Sign` fails with `CKR_USER_NOT_LOGGED_IN`, as when a
//!   login expires.

use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki::context::Function;
use cryptoki::error::RvError;
use cryptoki::session::Session;

use super::{Error, Result, Rv};

static SIGNED: AtomicU64 = AtomicU64::new(0);

/// Called before every signature.
pub(super) fn before_sign(token: &str, session: &Session) -> Result<()> {
    let Ok(spec) = std::env::var("CEREMONY_FAULT") else {
        return Ok(());
    };
    let Some((kind, after)) = spec.split_once(':') else {
        return Ok(());
    };
    let Ok(after) = after.parse::<u64>() else {
        return Ok(());
    };
    let done = SIGNED.fetch_add(1, Ordering::SeqCst);
    if done != after {
        return Ok(());
    }
    match kind {
        "sign-error" => Err(Error::Call {
            token: token.to_string(),
            function: Function::Sign,
            rv: Rv::Injected(RvError::DeviceError),
        }),
        "session-closed" => Err(Error::Call {
            token: token.to_string(),
            function: Function::Sign,
            rv: Rv::Injected(RvError::SessionClosed),
        }),
        "logout" => {
            let _ = session.logout();
            Ok(())
        }
        _ => Ok(()),
    }
}
