//! Reads one slot's `CK_TOKEN_INFO` as the PKCS#11 module fills it, with no
//! conversion, for the `ceremony` tool's token discovery.
//!
//! cryptoki (0.12) converts `CK_TOKEN_INFO` as it reads it, and fails the
//! whole read when the module sets `CKF_CLOCK_ON_TOKEN` with a `utcTime`
//! that is not `YYYYMMDDhhmmss00` (opencryptoki 3.8 writes `HH:MM:SS` and
//! NULs), and it keeps the module's function list to itself. Calling
//! `C_GetTokenInfo` any other way is a foreign call, and so `unsafe`; it is
//! here, in about forty lines, so that the `ceremony` crate keeps
//! `#![forbid(unsafe_code)]`.
//!
//! The function neither loads nor initialises a module of its own: it asks
//! the dynamic loader for the module already loaded (by cryptoki, same
//! path), takes its function list and calls `C_GetTokenInfo` on a slot. A
//! module that was not initialised answers `CKR_CRYPTOKI_NOT_INITIALIZED`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

use std::path::Path;

use cryptoki_sys::{CKR_OK, CK_FUNCTION_LIST, CK_RV, CK_SLOT_ID, CK_TOKEN_INFO};

/// The fields of `CK_TOKEN_INFO` the tool uses, exactly as the module
/// wrote them (padding, NULs and all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTokenInfo {
    /// `label`, 32 bytes.
    pub label: [u8; 32],
    /// `manufacturerID`, 32 bytes.
    pub manufacturer_id: [u8; 32],
    /// `model`, 16 bytes.
    pub model: [u8; 16],
    /// `serialNumber`, 16 bytes.
    pub serial_number: [u8; 16],
    /// `flags`.
    pub flags: u64,
    /// `ulMaxSessionCount`.
    pub max_session_count: u64,
    /// `ulSessionCount`.
    pub session_count: u64,
    /// `ulMaxRwSessionCount`.
    pub max_rw_session_count: u64,
    /// `utcTime`, 16 bytes.
    pub utc_time: [u8; 16],
    /// `hardwareVersion`, as (major, minor).
    pub hardware_version: (u8, u8),
    /// `firmwareVersion`, as (major, minor).
    pub firmware_version: (u8, u8),
}

/// Why the structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The module could not be opened again, or has no `C_GetFunctionList`.
    Load(String),
    /// `C_GetFunctionList` failed with this return value.
    GetFunctionList(CK_RV),
    /// The function list is missing, or has no `C_GetTokenInfo`.
    NoFunction,
    /// `C_GetTokenInfo` failed with this return value.
    GetTokenInfo(CK_RV),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Load(reason) => write!(f, "cannot reach the module: {reason}"),
            Error::GetFunctionList(rv) => write!(f, "C_GetFunctionList failed: 0x{rv:x}"),
            Error::NoFunction => f.write_str("the module lists no C_GetTokenInfo"),
            Error::GetTokenInfo(rv) => write!(f, "C_GetTokenInfo failed: 0x{rv:x}"),
        }
    }
}

impl std::error::Error for Error {}

/// `C_GetTokenInfo(slot)` on the module at `module`, which this process has
/// already loaded and initialised (through cryptoki).
pub fn token_info(module: &Path, slot: CK_SLOT_ID) -> Result<RawTokenInfo, Error> {
    type GetFunctionList = unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV;
    // SAFETY: the module is already loaded in this process (cryptoki loaded
    // it from the same path), so the loader returns the same handle and
    // runs no initialiser again; `library` outlives every pointer taken
    // from it below.
    let library =
        unsafe { libloading::Library::new(module) }.map_err(|e| Error::Load(e.to_string()))?;
    // SAFETY: `C_GetFunctionList` has this signature in every PKCS#11
    // module (the standard's `CK_C_GetFunctionList`).
    let get_function_list = unsafe { library.get::<GetFunctionList>(b"C_GetFunctionList\0") }
        .map_err(|e| Error::Load(e.to_string()))?;
    let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    // SAFETY: `list` is a valid place for the module to write a pointer.
    let rv = unsafe { get_function_list(&mut list) };
    if rv != CKR_OK {
        return Err(Error::GetFunctionList(rv));
    }
    // SAFETY: on CKR_OK the module wrote a pointer to its function list,
    // which lives as long as the module stays loaded; null is checked.
    let get_token_info = unsafe { list.as_ref() }
        .and_then(|list| list.C_GetTokenInfo)
        .ok_or(Error::NoFunction)?;
    let mut info = CK_TOKEN_INFO::default();
    // SAFETY: `info` is a valid, writable CK_TOKEN_INFO for the call.
    let rv = unsafe { get_token_info(slot, &mut info) };
    drop(library);
    if rv != CKR_OK {
        return Err(Error::GetTokenInfo(rv));
    }
    Ok(RawTokenInfo {
        label: info.label,
        manufacturer_id: info.manufacturerID,
        model: info.model,
        serial_number: info.serialNumber,
        flags: info.flags,
        max_session_count: info.ulMaxSessionCount,
        session_count: info.ulSessionCount,
        max_rw_session_count: info.ulMaxRwSessionCount,
        utc_time: info.utcTime,
        hardware_version: (info.hardwareVersion.major, info.hardwareVersion.minor),
        firmware_version: (info.firmwareVersion.major, info.firmwareVersion.minor),
    })
}
