//! The PKCS#11 token: loading a module, finding a token by label, serial or
//! `pkcs11:` URI, logging in, generating CA keys, signing with them, and
//! listing what the token holds, and the primitives of key custody.
//!
//! This module owns every call into cryptoki. It must never read a PIN from
//! argv or the environment, print one, or create a key that can leave the
//! token other than wrapped under a trusted key (`CKA_WRAP_WITH_TRUSTED`,
//! [`KeyPolicy::Backup`], chosen per key).

pub mod custody;
#[cfg(feature = "fault-injection")]
mod fault;
pub mod inventory;
mod keygen;
mod pin;
mod policy;
mod sessions;
mod signer;
mod slots;
mod uri;

pub use custody::TokenObject;
pub use inventory::{Flag, ObjectInfo};
pub use keygen::{KeyAlgorithm, KeyRecord, SignatureHash};
pub use pin::{PinFlags, PinRefusal, PinSource, PinVerdict, MAX_PROMPT_ATTEMPTS};
pub use policy::{KeyAttributes, KeyPolicy, ObjectAttributes, PolicyViolation};
pub use sessions::{session_cap, CapBy, SessionCap, SigningSessions};
pub use signer::{SigningSession, TokenKey, TokenSignature, TokenSigner, TokenVerifyingKey};
pub use slots::{escape_controls, printable, SessionLimits, UnreadableSlot};
pub use uri::TokenSelector;

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::object::Attribute;
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use serde::{Deserialize, Serialize};

/// Errors from the token layer. Each names the module, token or key it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("PKCS#11 module {}: cannot load: {reason}", module.display())]
    ModuleLoad {
        /// The PKCS#11 module's path.
        module: PathBuf,
        /// Why it could not be loaded.
        reason: String,
    },
    /// No token matched the selector.
    #[error("module {}: no token matches {selector} (tokens present: {}{})", module.display(), list_or_none(present), unreadable_list(unreadable))]
    TokenNotFound {
        /// The PKCS#11 module's path.
        module: PathBuf,
        /// The token selector as given.
        selector: String,
        /// The labels of the tokens that are present.
        present: Vec<String>,
        /// The slots whose token could not be read, with the reason.
        unreadable: Vec<UnreadableSlot>,
    },
    /// More than one token matched the selector.
    #[error("module {}: {count} tokens match {selector}; a ceremony needs exactly one", module.display())]
    TokenAmbiguous {
        /// The PKCS#11 module's path.
        module: PathBuf,
        /// The token selector as given.
        selector: String,
        /// How many tokens matched.
        count: usize,
    },
    /// A PKCS#11 call failed with a return value.
    #[error("token {token}: C_{function:?} failed: {rv}")]
    Call {
        /// The token's label.
        token: String,
        /// The PKCS#11 function that failed.
        function: Function,
        /// The return value the module gave.
        rv: Rv,
    },
    /// cryptoki failed around a PKCS#11 call, with no return value.
    #[error("token {token}: PKCS#11 failed: {source}")]
    Library {
        /// The token's label.
        token: String,
        /// cryptoki's error.
        source: cryptoki::error::Error,
    },
    /// A PKCS#11 call succeeded but returned something unusable.
    #[error("token {token}: C_{function:?} failed: {reason}")]
    BadOutput {
        /// The token's label.
        token: String,
        /// The PKCS#11 function.
        function: Function,
        /// What was wrong with its output.
        reason: &'static str,
    },
    /// The token refused the PIN.
    #[error("token {token}: login refused: {rv}")]
    Login {
        /// The token's label.
        token: String,
        /// The return value the module gave.
        rv: Rv,
    },
    /// The token refused the security officer's PIN.
    #[error("token {token}: security officer login refused: {rv}")]
    SoLogin {
        /// The token's label.
        token: String,
        /// The return value the module gave.
        rv: Rv,
    },
    /// The PIN could not be read from its source.
    #[error("PIN source {source_name}: {reason}")]
    Pin {
        /// Where the PIN was to come from (prompt, file or descriptor).
        source_name: String,
        /// Why it could not be loaded.
        reason: String,
    },
    /// A `pkcs11:` URI was malformed or asked for something not allowed.
    #[error("pkcs11 URI {uri:?}: {reason}")]
    Uri {
        /// The URI as given.
        uri: String,
        /// Why it could not be loaded.
        reason: String,
    },
    /// An object with the requested label already exists.
    #[error("token {token}: an object labelled {label:?} already exists; existing keys are never overwritten")]
    LabelExists {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// No key with the requested label exists.
    #[error("token {token}: no key labelled {label:?}")]
    KeyNotFound {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// A generated key's attributes break the key policy.
    #[error("token {token}: key {label:?} breaks the key policy: {attribute} is {actual}, must be {expected}")]
    KeyPolicy {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
        /// The attribute that breaks the policy.
        attribute: &'static str,
        /// Its value on the token.
        actual: String,
        /// The value the policy requires.
        expected: &'static str,
    },
    /// The token returned a public key or signature this tool cannot use.
    #[error("token {token}: key {label:?}: {reason}")]
    KeyMaterial {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
        /// Why it could not be loaded.
        reason: String,
    },
}

fn unreadable_list(slots: &[UnreadableSlot]) -> String {
    if slots.is_empty() {
        return String::new();
    }
    let slots: Vec<String> = slots.iter().map(UnreadableSlot::to_string).collect();
    format!("; unreadable: {}", slots.join("; "))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

impl Error {
    /// A likely fix for the error, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::ModuleLoad { .. } => Some(
                "check the module path; SoftHSM on Debian is /usr/lib/softhsm/libsofthsm2.so (package softhsm2)"
                    .into(),
            ),
            Error::TokenNotFound { unreadable, .. } if !unreadable.is_empty() => Some(
                "a slot's token could not be read (see \"unreadable\"): check the module's daemon and configuration, or name a token listed as present"
                    .into(),
            ),
            Error::TokenNotFound { .. } => Some(
                "check the token label or serial; for SoftHSM check SOFTHSM2_CONF points at the right token directory"
                    .into(),
            ),
            Error::Call {
                function: Function::OpenSession,
                rv,
                ..
            } if rv.value() == RvError::SessionCount => Some(
                "the token has no session left to open: close other programs using it, or run with --sessions 1".into(),
            ),
            Error::Login { rv, .. } if rv.value() == RvError::PinIncorrect => {
                Some("the PIN is wrong; repeated failures may lock the token".into())
            }
            Error::SoLogin { rv, .. } if rv.value() == RvError::PinIncorrect => Some(
                "the SO PIN is wrong; repeated failures may lock the security officer out".into(),
            ),
            Error::SoLogin { rv, .. } if rv.value() == RvError::UserAnotherAlreadyLoggedIn => {
                Some("the user is logged in: log out before the security officer logs in".into())
            }
            Error::Call {
                function: Function::WrapKey,
                rv,
                ..
            } if rv.value() == RvError::KeyNotWrappable => Some(
                "the token wraps a backup key only under a trusted wrap key (CKA_TRUSTED, made by the security officer)".into(),
            ),
            Error::Call {
                function: Function::WrapKey,
                rv,
                ..
            } if rv.value() == RvError::KeyUnextractable => Some(
                "the key was generated never extractable; only a key generated with backup = true can be backed up".into(),
            ),
            Error::Login { rv, .. } if rv.value() == RvError::PinLocked => {
                Some(PinRefusal::Locked.hint().into())
            }
            Error::Login { rv, .. } if rv.value() == RvError::PinExpired => {
                Some(PinRefusal::MustChange.hint().into())
            }
            Error::LabelExists { .. } => Some(
                "choose a new label in the script; a ceremony never replaces an existing key".into(),
            ),
            Error::Call { rv, .. } if rv.session_lost() => Some(SESSION_LOST_HINT.into()),
            Error::Pin { .. } => Some(
                "give the PIN with --pin-file FILE (mode 0600), --pin-fd N, or run on a terminal to be prompted"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl Error {
    /// True for a login the token refused as a mistyped PIN
    /// (`CKR_PIN_INCORRECT`, `CKR_PIN_INVALID`, `CKR_PIN_LEN_RANGE`): one
    /// typed at the prompt may be typed again.
    pub fn pin_mistyped(&self) -> bool {
        matches!(self, Error::Login { rv, .. } if matches!(
            rv.value(),
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange
        ))
    }
}

/// The hint for a token that lost its login or went away mid-ceremony.
pub const SESSION_LOST_HINT: &str = "the token session lost its login or the token went away mid-ceremony; nothing after the last recorded entry was written: check the token and run the ceremony again";

/// True when `error` or one of its causes is this module's [`Error`] for a
/// session that lost its login or a token that went away (a signer's
/// failure reaches the x509 module as a cause of its error, for example).
pub fn session_lost(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(
        |e| matches!(e.downcast_ref::<Error>(), Some(Error::Call { rv, .. }) if rv.session_lost()),
    )
}

/// What a failed PKCS#11 call returned, kept as a value (printed as
/// cryptoki names it: `SessionClosed`, `PinIncorrect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rv {
    /// The return value the module gave.
    Module(RvError),
    /// A return value simulated by the fault injector (test builds with
    /// the `fault-injection` feature, `CEREMONY_FAULT`), never the module's.
    Injected(RvError),
}

impl Rv {
    /// The return value itself.
    pub fn value(self) -> RvError {
        match self {
            Rv::Module(rv) | Rv::Injected(rv) => rv,
        }
    }

    /// True when the return value means the session lost its login or the
    /// token went away.
    pub fn session_lost(self) -> bool {
        matches!(
            self.value(),
            RvError::UserNotLoggedIn
                | RvError::ObjectHandleInvalid
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
        )
    }
}

impl std::fmt::Display for Rv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rv::Module(rv) => write!(f, "{rv:?}"),
            Rv::Injected(rv) => write!(f, "{rv:?} (injected by CEREMONY_FAULT)"),
        }
    }
}

/// Shorthand for results in this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The identity of a token, as recorded in the transcript. Every string the
/// token reported is trimmed of its padding (spaces, NULs) and has its
/// control characters escaped ([`printable`]); a selector is matched
/// against these strings, as the inventory prints them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenIdentity {
    /// The PKCS#11 module path.
    pub module: String,
    /// Token label.
    pub label: String,
    /// Token manufacturer ID.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// Token serial number.
    pub serial: String,
    /// `hardwareVersion`, `MAJOR.MINOR`; absent in entries written before
    /// it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_version: Option<String>,
    /// `firmwareVersion`, `MAJOR.MINOR`; absent in entries written before
    /// it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
}

/// An open session on one token.
pub struct Token {
    ctx: Pkcs11,
    module: PathBuf,
    slot: Slot,
    session: Session,
    identity: TokenIdentity,
    unreadable: Vec<UnreadableSlot>,
}

/// A cryptoki failure: the function and its return value, or cryptoki's
/// own error when there is no return value.
fn call_error(token: &str, e: cryptoki::error::Error) -> Error {
    match e {
        cryptoki::error::Error::Pkcs11(rv, function) => Error::Call {
            token: token.to_string(),
            function,
            rv: Rv::Module(rv),
        },
        source => Error::Library {
            token: token.to_string(),
            source,
        },
    }
}

impl Token {
    /// Loads `module`, finds the one token `selector` names, and opens a
    /// read-write session on it. Does not log in.
    pub fn open(module: &Path, selector: &TokenSelector) -> Result<Token> {
        let load_err = |reason: String| Error::ModuleLoad {
            module: module.to_path_buf(),
            reason,
        };
        if !module.exists() {
            return Err(load_err("no such file".into()));
        }
        let ctx = Pkcs11::new(module).map_err(|e| load_err(e.to_string()))?;
        // A module this process already initialised (a second token opened
        // next to the first, as a restore onto another token does) is used as it is.
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(load_err(format!("C_Initialize failed: {e}"))),
        }
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| load_err(format!("C_GetSlotList failed: {e}")))?;
        let (tokens, unreadable) = slots::discover(&ctx, module, slots);
        let mut present = Vec::new();
        let mut matching: Vec<(Slot, TokenIdentity)> = Vec::new();
        for (slot, info) in tokens {
            if !info.initialized {
                continue;
            }
            let identity = info.identity(module);
            present.push(format!("{:?} (serial {})", identity.label, identity.serial));
            if selector.matches(&identity) {
                matching.push((slot, identity));
            }
        }
        let (slot, identity) = match matching.len() {
            1 => matching.remove(0),
            0 => {
                return Err(Error::TokenNotFound {
                    module: module.to_path_buf(),
                    selector: selector.to_string(),
                    present,
                    unreadable,
                })
            }
            count => {
                return Err(Error::TokenAmbiguous {
                    module: module.to_path_buf(),
                    selector: selector.to_string(),
                    count,
                })
            }
        };
        let session = ctx
            .open_rw_session(slot)
            .map_err(|e| call_error(&identity.label, e))?;
        Ok(Token {
            ctx,
            module: module.to_path_buf(),
            slot,
            session,
            identity,
            unreadable,
        })
    }

    /// The token's identity (module, label, manufacturer, model, serial).
    pub fn identity(&self) -> &TokenIdentity {
        &self.identity
    }

    /// The module's other slots whose token could not be read, with the
    /// reason, as found when this token was opened.
    pub fn unreadable_slots(&self) -> &[UnreadableSlot] {
        &self.unreadable
    }

    /// Logs in as the normal user. The PIN is dropped (and zeroized) by the caller.
    pub fn login(&self, pin: &AuthPin) -> Result<()> {
        match self.session.login(UserType::User, Some(pin)) {
            Ok(()) => Ok(()),
            Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(cryptoki::error::Error::Pkcs11(rv, _)) => Err(Error::Login {
                token: self.identity.label.clone(),
                rv: Rv::Module(rv),
            }),
            Err(other) => Err(call_error(&self.identity.label, other)),
        }
    }

    /// True while the token's session is logged in as the user; false when
    /// the token dropped the login or the session (`C_GetSessionInfo`
    /// answers a public state, or fails).
    pub fn logged_in(&self) -> bool {
        self.session.get_session_info().is_ok_and(|info| {
            matches!(
                info.session_state(),
                SessionState::RoUser | SessionState::RwUser
            )
        })
    }

    /// Random bytes from the token's RNG.
    pub fn random(&self, len: u32) -> Result<Vec<u8>> {
        self.session
            .generate_random_vec(len)
            .map_err(|e| call_error(&self.identity.label, e))
    }

    /// 16 random bytes from the token's RNG, for a certificate serial.
    pub fn random16(&self) -> Result<[u8; 16]> {
        self.random(16)?.try_into().map_err(|_| Error::BadOutput {
            token: self.identity.label.clone(),
            function: Function::GenerateRandom,
            reason: "returned the wrong number of bytes",
        })
    }

    /// True when any object (of any class) carries `label`.
    pub fn label_exists(&self, label: &str) -> Result<bool> {
        let found = self
            .session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(|e| call_error(&self.identity.label, e))?;
        Ok(!found.is_empty())
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    pub(crate) fn call_error(&self, e: cryptoki::error::Error) -> Error {
        call_error(&self.identity.label, e)
    }
}

#[cfg(test)]
mod tests;
