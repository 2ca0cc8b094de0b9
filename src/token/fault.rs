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
//! - `session-count:N`: the signing session after the first N of a batch
//!   fails to open as `C_OpenSession` does on a token with no session left
//!   (`CKR_SESSION_COUNT`), simulated;
//! - `token-info-unconvertible`: cryptoki's reading of every slot's token
//!   information fails as it does on opencryptoki's clock, so discovery
//!   reads the structure unconverted.
//! - `cka-id:HEX`: a key generation asks for `CKA_ID` HEX instead of 16
//!   random bytes, as if the token's RNG had returned an ID another object
//!   holds;
//! - `cka-id-changed:HEX`: right after a key pair is generated, its private
//!   key's `CKA_ID` is really set to HEX (`C_SetAttributeValue`), as a
//!   module that shortens or rewrites the ID the tool asked for would;
//! - `pin-count-low`, `pin-final-try`, `pin-locked`, `pin-to-be-changed`:
//!   the token's user-PIN flag of that name reads as set (added to the
//!   flags the token reports) whenever the ceremony reads it before a login.

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

/// The kind and count of `CEREMONY_FAULT`, when it is `kind:N`.
fn spec() -> Option<(String, u64)> {
    let spec = std::env::var("CEREMONY_FAULT").ok()?;
    let (kind, after) = spec.split_once(':')?;
    Some((kind.to_string(), after.parse().ok()?))
}

/// Called before the signing session after the first `opened` of a batch
/// is opened.
pub(super) fn before_open_session(token: &str, opened: usize) -> Result<()> {
    match spec() {
        Some((kind, after)) if kind == "session-count" && opened as u64 >= after => {
            Err(Error::Call {
                token: token.to_string(),
                function: Function::OpenSession,
                rv: Rv::Injected(RvError::SessionCount),
            })
        }
        _ => Ok(()),
    }
}

/// cryptoki's reading of a slot's token information, failed as on
/// opencryptoki when `CEREMONY_FAULT=token-info-unconvertible`.
pub(super) fn token_info(
    read: cryptoki::error::Result<cryptoki::slot::TokenInfo>,
) -> cryptoki::error::Result<cryptoki::slot::TokenInfo> {
    match std::env::var("CEREMONY_FAULT").as_deref() {
        Ok("token-info-unconvertible") => Err(cryptoki::error::Error::InvalidValue),
        _ => read,
    }
}

/// The user-PIN flags the token reported, with the one `CEREMONY_FAULT`
/// names (`pin-locked`, …) set.
pub(super) fn pin_flags(mut flags: super::PinFlags) -> super::PinFlags {
    match std::env::var("CEREMONY_FAULT").as_deref() {
        Ok("pin-count-low") => flags.count_low = true,
        Ok("pin-final-try") => flags.final_try = true,
        Ok("pin-locked") => flags.locked = true,
        Ok("pin-to-be-changed") => flags.to_be_changed = true,
        _ => {}
    }
    flags
}

/// The HEX of `CEREMONY_FAULT=KIND:HEX`, decoded, when the fault is `kind`.
fn hex_arg(kind: &str) -> Option<Vec<u8>> {
    let spec = std::env::var("CEREMONY_FAULT").ok()?;
    let (k, hex) = spec.split_once(':')?;
    (k == kind).then(|| crate::hex::decode(hex)).flatten()
}

/// The `CKA_ID` a key generation asks for: `id`, or the one
/// `CEREMONY_FAULT=cka-id:HEX` names.
pub(super) fn key_id(id: Vec<u8>) -> Vec<u8> {
    hex_arg("cka-id").unwrap_or(id)
}

/// After a key pair is generated: with `CEREMONY_FAULT=cka-id-changed:HEX`,
/// sets the private key's `CKA_ID` to HEX in the token.
pub(super) fn after_generate(session: &Session, private: cryptoki::object::ObjectHandle) {
    if let Some(id) = hex_arg("cka-id-changed") {
        let _ = session.update_attributes(private, &[cryptoki::object::Attribute::Id(id)]);
    }
}
