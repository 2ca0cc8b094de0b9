//! Token discovery: every slot with a token, read and named, or listed
//! with the reason it could not be read; never skipped in silence.
//!
//! A slot's `CK_TOKEN_INFO` is read through cryptoki. Where cryptoki
//! cannot convert it (opencryptoki sets `CKF_CLOCK_ON_TOKEN` and writes its
//! clock as `HH:MM:SS` and NULs, which cryptoki 0.12 fails to parse), the
//! structure is read again unconverted (`ceremony-token-info`, the one
//! crate with a foreign call of its own) and only the fields the tool
//! uses are taken from it; the clock never is.
//!
//! Every string a token reports is trimmed of its padding (spaces and
//! NULs) and has its control characters escaped ([`printable`]) before it
//! goes anywhere: a [`TokenIdentity`], an error, the inventory, the
//! transcript.

use std::fmt::{self, Write as _};
use std::path::Path;

use cryptoki::context::Pkcs11;
use cryptoki::slot::{Limit, Slot, TokenInfo};
use serde::{Deserialize, Serialize};

use super::{PinFlags, Token, TokenIdentity};

/// A slot whose token could not be read, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnreadableSlot {
    /// The slot's ID as the module numbers it (for the operator's eyes
    /// only: slots are never used to select a token).
    pub slot: u64,
    /// Why its token could not be read.
    pub reason: String,
}

impl fmt::Display for UnreadableSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "slot {}: {}", self.slot, self.reason)
    }
}

/// How many sessions the token says an application may have open, and
/// how many this one has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// `ulMaxSessionCount` (read-only and read-write sessions together);
    /// `None` when the token reports it effectively infinite or unavailable.
    pub max_sessions: Option<u64>,
    /// `ulSessionCount`, the sessions this application has open; `None`
    /// when unavailable.
    pub open_sessions: Option<u64>,
}

/// What discovery reads of one token, however it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Info {
    pub(super) label: String,
    pub(super) manufacturer: String,
    pub(super) model: String,
    pub(super) serial: String,
    /// `hardwareVersion` as `MAJOR.MINOR`.
    pub(super) hardware_version: String,
    /// `firmwareVersion` as `MAJOR.MINOR`.
    pub(super) firmware_version: String,
    pub(super) initialized: bool,
    pub(super) limits: SessionLimits,
    pub(super) pin: PinFlags,
}

impl Info {
    pub(super) fn identity(&self, module: &Path) -> TokenIdentity {
        TokenIdentity {
            module: escape_controls(&module.display().to_string()),
            label: self.label.clone(),
            manufacturer: self.manufacturer.clone(),
            model: self.model.clone(),
            serial: self.serial.clone(),
            hardware_version: Some(self.hardware_version.clone()),
            firmware_version: Some(self.firmware_version.clone()),
        }
    }

    fn from_cryptoki(info: &TokenInfo) -> Info {
        Info {
            label: printable(info.label()),
            manufacturer: printable(info.manufacturer_id()),
            model: printable(info.model()),
            serial: printable(info.serial_number()),
            hardware_version: version(
                info.hardware_version().major(),
                info.hardware_version().minor(),
            ),
            firmware_version: version(
                info.firmware_version().major(),
                info.firmware_version().minor(),
            ),
            initialized: info.token_initialized(),
            limits: SessionLimits {
                max_sessions: match info.max_session_count() {
                    Limit::Max(n) => Some(n),
                    Limit::Unavailable | Limit::Infinite => None,
                },
                open_sessions: info.session_count(),
            },
            pin: PinFlags {
                count_low: info.user_pin_count_low(),
                final_try: info.user_pin_final_try(),
                locked: info.user_pin_locked(),
                to_be_changed: info.user_pin_to_be_changed(),
            },
        }
    }

    /// The fields of an unconverted `CK_TOKEN_INFO`; its clock is ignored.
    pub(super) fn from_raw(raw: &ceremony_token_info::RawTokenInfo) -> Info {
        const CKF_TOKEN_INITIALIZED: u64 = 0x400;
        const CK_EFFECTIVELY_INFINITE: u64 = 0;
        const CK_UNAVAILABLE_INFORMATION: u64 = u64::MAX;
        let text = |bytes: &[u8]| printable(&String::from_utf8_lossy(bytes));
        Info {
            label: text(&raw.label),
            manufacturer: text(&raw.manufacturer_id),
            model: text(&raw.model),
            serial: text(&raw.serial_number),
            hardware_version: version(raw.hardware_version.0, raw.hardware_version.1),
            firmware_version: version(raw.firmware_version.0, raw.firmware_version.1),
            initialized: raw.flags & CKF_TOKEN_INITIALIZED != 0,
            limits: SessionLimits {
                max_sessions: match raw.max_session_count {
                    CK_EFFECTIVELY_INFINITE | CK_UNAVAILABLE_INFORMATION => None,
                    n => Some(n),
                },
                open_sessions: (raw.session_count != CK_UNAVAILABLE_INFORMATION)
                    .then_some(raw.session_count),
            },
            pin: PinFlags::from_bits(raw.flags),
        }
    }
}

/// A `CK_VERSION` as the tool records it: `MAJOR.MINOR`, both in decimal,
/// as `pkcs11-tool -L` prints them.
pub fn version(major: u8, minor: u8) -> String {
    format!("{major}.{minor}")
}

/// A string a token reported, as the tool shows and records it: padding
/// (spaces and NULs) trimmed from the end, every other control character
/// escaped as Rust escapes it (`\u{7}`, `\n`), so no output carries a raw
/// control byte.
pub fn printable(s: &str) -> String {
    escape_controls(s.trim_end_matches([' ', '\0']))
}

/// `s` with every control character escaped (`\u{0}`, `\t`).
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// One slot's token information, or why it could not be read.
pub(super) fn read(ctx: &Pkcs11, module: &Path, slot: Slot) -> Result<Info, String> {
    let converted = ctx.get_token_info(slot);
    #[cfg(feature = "fault-injection")]
    let converted = super::fault::token_info(converted);
    match converted {
        Ok(info) => Ok(Info::from_cryptoki(&info)),
        Err(cryptoki::error::Error::Pkcs11(rv, _)) => Err(format!("C_GetTokenInfo failed: {rv:?}")),
        // The module answered but cryptoki could not convert the answer:
        // read the structure itself.
        Err(conversion) => match ceremony_token_info::token_info(module, slot.id()) {
            Ok(raw) => Ok(Info::from_raw(&raw)),
            Err(raw) => Err(format!(
                "C_GetTokenInfo's answer cannot be converted ({conversion}) nor read unconverted ({raw})"
            )),
        },
    }
}

impl Token {
    /// The user-PIN flags the token reports now, read as discovery reads
    /// its information (unconverted where cryptoki cannot convert it);
    /// `Err` says why they could not be read.
    pub fn pin_flags(&self) -> Result<PinFlags, String> {
        let flags = read(&self.ctx, &self.module, self.slot).map(|info| info.pin);
        #[cfg(feature = "fault-injection")]
        let flags = flags.map(super::fault::pin_flags);
        flags
    }
}

/// Every slot with a token: the tokens read, and the slots that could not be.
pub(super) fn discover(
    ctx: &Pkcs11,
    module: &Path,
    slots: Vec<Slot>,
) -> (Vec<(Slot, Info)>, Vec<UnreadableSlot>) {
    let mut read_ok = Vec::new();
    let mut unreadable = Vec::new();
    for slot in slots {
        match read(ctx, module, slot) {
            Ok(info) => read_ok.push((slot, info)),
            Err(reason) => unreadable.push(UnreadableSlot {
                slot: slot.id(),
                reason,
            }),
        }
    }
    (read_ok, unreadable)
}

#[cfg(test)]
mod tests;
