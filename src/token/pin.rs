//! Where the user PIN comes from: a prompt without echo, a file, or an
//! inherited file descriptor. Never argv, never the environment.

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

    /// Reads the PIN. A single trailing newline is removed; an empty PIN is refused.
    pub fn read(&self, token_label: &str) -> Result<AuthPin> {
        let fail = |reason: String| Error::Pin {
            source_name: self.describe(),
            reason,
        };
        let raw: Zeroizing<Vec<u8>> = match self {
            PinSource::Prompt => {
                let text =
                    rpassword::prompt_password(format!("user PIN for token {token_label}: "))
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
