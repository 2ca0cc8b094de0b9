//! Where the user PIN (or the security officer's) comes from: a prompt without echo, a file, or an
//! inherited file descriptor. Never argv, never the environment.
//!
//! Also what the token says of its user PIN before one is asked for
//! ([`PinFlags`], from `CK_TOKEN_INFO`'s flags) and what the ceremony does
//! about it ([`PinFlags::verdict`]): a pure mapping, no token in it. This
//! module never changes, unlocks or stores a PIN.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{Error, Result};

/// The longest PIN accepted, in bytes; longer input is refused, not truncated.
const MAX_PIN_LEN: u64 = 256;

/// A source of the token's user PIN.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// Ask on the controlling terminal, without echo.
    Prompt,
    /// Read from a file that only its owner can read.
    File(PathBuf),
    /// Read from an already-open file descriptor (for example a pipe).
    Fd(u32),
}

impl fmt::Debug for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PinSource {
    /// A description of the source that never contains the PIN.
    pub fn describe(&self) -> String {
        match self {
            PinSource::Prompt => "prompt".into(),
            PinSource::File(p) => format!("file {}", p.display()),
            PinSource::Fd(fd) => format!("fd {fd}"),
        }
    }

    /// Reads the user PIN. A single trailing newline is removed; an empty PIN is refused.
    pub fn read(&self, token_label: &str) -> Result<AuthPin> {
        self.read_as("user PIN", token_label)
    }

    /// Reads the security officer's PIN, as [`PinSource::read`] the user's
    /// (the prompt asks for the SO PIN).
    pub fn read_so(&self, token_label: &str) -> Result<AuthPin> {
        self.read_as("SO PIN", token_label)
    }

    fn read_as(&self, what: &str, token_label: &str) -> Result<AuthPin> {
        let fail = |reason: String| Error::Pin {
            source_name: self.describe(),
            reason,
        };
        let raw: Zeroizing<Vec<u8>> = match self {
            PinSource::Prompt => {
                let text = rpassword::prompt_password(format!("{what} for token {token_label}: "))
                    .map_err(|e| fail(format!("cannot prompt on a terminal: {e}")))?;
                Zeroizing::new(text.into_bytes())
            }
            PinSource::File(path) => {
                // Check the mode of the file actually opened, not of the path.
                let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
                let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(fail(format!(
                        "readable or writable by other users (mode {mode:04o}); run chmod 600 on it"
                    )));
                }
                read_limited(file).map_err(fail)?
            }
            PinSource::Fd(fd) => {
                // /dev/fd/N reopens the inherited descriptor without unsafe code.
                let file = std::fs::File::open(format!("/dev/fd/{fd}"))
                    .map_err(|e| fail(format!("cannot open inherited descriptor: {e}")))?;
                read_limited(file).map_err(fail)?
            }
        };
        let mut end = raw.len();
        if raw[..end].ends_with(b"\n") {
            end -= 1;
            if raw[..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        if end == 0 {
            return Err(fail("the PIN is empty".into()));
        }
        let text = std::str::from_utf8(&raw[..end])
            .map_err(|_| fail("the PIN is not valid UTF-8".into()))?;
        Ok(AuthPin::from(text))
    }
}

/// How many times a PIN typed at the prompt may be tried in one run. A PIN
/// file or descriptor is tried once: it cannot be retyped.
pub const MAX_PROMPT_ATTEMPTS: u32 = 3;

impl PinSource {
    /// How many logins this source may attempt: [`MAX_PROMPT_ATTEMPTS`]
    /// at the prompt, one from a file or descriptor.
    pub fn max_attempts(&self) -> u32 {
        match self {
            PinSource::Prompt => MAX_PROMPT_ATTEMPTS,
            PinSource::File(_) | PinSource::Fd(_) => 1,
        }
    }
}

/// `CKF_USER_PIN_COUNT_LOW`: a wrong user PIN was given since the last good login.
const CKF_USER_PIN_COUNT_LOW: u64 = 0x0001_0000;
/// `CKF_USER_PIN_FINAL_TRY`: one more wrong user PIN locks it.
const CKF_USER_PIN_FINAL_TRY: u64 = 0x0002_0000;
/// `CKF_USER_PIN_LOCKED`: the user PIN is locked.
const CKF_USER_PIN_LOCKED: u64 = 0x0004_0000;
/// `CKF_USER_PIN_TO_BE_CHANGED`: the user PIN is a default or expired one.
const CKF_USER_PIN_TO_BE_CHANGED: u64 = 0x0008_0000;

/// The token's user-PIN flags from `CK_TOKEN_INFO`, as it reports them
/// (a token may keep them false by policy; SoftHSM sets only count-low).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PinFlags {
    /// `CKF_USER_PIN_COUNT_LOW`: a wrong PIN was given since the last good login.
    pub count_low: bool,
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong PIN locks the user PIN.
    pub final_try: bool,
    /// `CKF_USER_PIN_LOCKED`: the user PIN is locked; no login is possible.
    pub locked: bool,
    /// `CKF_USER_PIN_TO_BE_CHANGED`: the user PIN is a default or expired one.
    pub to_be_changed: bool,
}

/// What the ceremony does before asking for a PIN, given the token's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinVerdict {
    /// No flag set: ask for the PIN.
    Proceed,
    /// Count low: warn (shown and recorded), then ask.
    Warn,
    /// Final try: the operator confirms on the terminal before the PIN is asked.
    ConfirmFinalTry,
    /// Locked or to be changed: refuse before any prompt.
    Refuse(PinRefusal),
}

/// Why the ceremony will not ask for a PIN at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRefusal {
    /// `CKF_USER_PIN_LOCKED`.
    Locked,
    /// `CKF_USER_PIN_TO_BE_CHANGED`.
    MustChange,
}

impl PinFlags {
    /// The flags in a `CK_TOKEN_INFO.flags` word.
    pub fn from_bits(flags: u64) -> PinFlags {
        PinFlags {
            count_low: flags & CKF_USER_PIN_COUNT_LOW != 0,
            final_try: flags & CKF_USER_PIN_FINAL_TRY != 0,
            locked: flags & CKF_USER_PIN_LOCKED != 0,
            to_be_changed: flags & CKF_USER_PIN_TO_BE_CHANGED != 0,
        }
    }

    /// The flags set, by the names the transcript records: `count_low`,
    /// `final_try`, `locked`, `to_be_changed` (empty when none is).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.count_low, "count_low"),
            (self.final_try, "final_try"),
            (self.locked, "locked"),
            (self.to_be_changed, "to_be_changed"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }

    /// What to do before the prompt. The worst flag decides: locked, then
    /// to be changed (both refuse), then final try (confirm), then count
    /// low (warn).
    pub fn verdict(&self) -> PinVerdict {
        if self.locked {
            PinVerdict::Refuse(PinRefusal::Locked)
        } else if self.to_be_changed {
            PinVerdict::Refuse(PinRefusal::MustChange)
        } else if self.final_try {
            PinVerdict::ConfirmFinalTry
        } else if self.count_low {
            PinVerdict::Warn
        } else {
            PinVerdict::Proceed
        }
    }
}

impl fmt::Display for PinFlags {
    /// The line shown before the prompt: each flag set, in words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = [
            (self.locked, "locked (CKF_USER_PIN_LOCKED)"),
            (
                self.to_be_changed,
                "to be changed (CKF_USER_PIN_TO_BE_CHANGED)",
            ),
            (
                self.final_try,
                "final try: one more wrong PIN locks it (CKF_USER_PIN_FINAL_TRY)",
            ),
            (
                self.count_low,
                "count low: a wrong PIN was given since the last good login (CKF_USER_PIN_COUNT_LOW)",
            ),
        ]
        .into_iter()
        .filter_map(|(set, words)| set.then_some(words))
        .collect();
        if words.is_empty() {
            f.write_str("no PIN flag set")
        } else {
            f.write_str(&words.join("; "))
        }
    }
}

impl fmt::Display for PinRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinRefusal::Locked => {
                "the user PIN is locked (CKF_USER_PIN_LOCKED); no PIN was asked for"
            }
            PinRefusal::MustChange => {
                "the user PIN must be changed before use (CKF_USER_PIN_TO_BE_CHANGED); no PIN was asked for"
            }
        })
    }
}

impl PinRefusal {
    /// The fix, for the operator.
    pub fn hint(self) -> &'static str {
        match self {
            PinRefusal::Locked => {
                "the token's security officer must unlock the user PIN or set a new one (C_InitPIN, e.g. pkcs11-tool --init-pin --login --login-type so), following the token's own procedure; this tool never logs in as SO"
            }
            PinRefusal::MustChange => {
                "change the user PIN first with the token's own tools (e.g. pkcs11-tool --change-pin); this tool never changes PINs"
            }
        }
    }
}

fn read_limited(file: std::fs::File) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_PIN_LEN as usize + 1));
    file.take(MAX_PIN_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_PIN_LEN {
        return Err(format!("longer than {MAX_PIN_LEN} bytes"));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests;
