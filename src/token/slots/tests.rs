//! Tests of discovery's pure parts: strings as the tool shows them, and an
//! unconverted `CK_TOKEN_INFO` as opencryptoki and tpm2-pkcs11 fill it.

use std::path::Path;

use ceremony_token_info::RawTokenInfo;

use super::*;

fn padded<const N: usize>(text: &[u8], pad: u8) -> [u8; N] {
    let mut out = [pad; N];
    out[..text.len()].copy_from_slice(text);
    out
}

/// opencryptoki 3.8.1's soft token, as measured (issue 13's findings).
fn opencryptoki() -> RawTokenInfo {
    RawTokenInfo {
        label: padded(b"ceremony", b' '),
        manufacturer_id: padded(b"IBM Corp.", b' '),
        model: padded(b"IBM SoftTok", b' '),
        serial_number: padded(b"123", b' '),
        flags: 0x44d,
        max_session_count: u64::MAX - 1,
        session_count: u64::MAX,
        max_rw_session_count: u64::MAX - 1,
        utc_time: padded(b"18:38:05", 0),
        hardware_version: (0, 0),
        firmware_version: (3, 8),
    }
}

#[test]
fn padding_is_trimmed_and_control_characters_escaped() {
    assert_eq!(printable("SW   TPM\0\0\0\0\0\0\0\0"), "SW   TPM");
    assert_eq!(printable("ceremony                        "), "ceremony");
    assert_eq!(printable("a\u{7}b\nc\0d \0 "), "a\\u{7}b\\nc\\u{0}d");
    assert_eq!(printable("  leading kept"), "  leading kept");
    assert_eq!(printable("\u{9b}x"), "\\u{9b}x");
    assert_eq!(escape_controls("/p/m.so\n "), "/p/m.so\\n ");
}

#[test]
fn an_unconverted_opencryptoki_token_info_names_the_token_and_ignores_its_clock() {
    let info = Info::from_raw(&opencryptoki());
    assert_eq!(info.label, "ceremony");
    assert_eq!(info.manufacturer, "IBM Corp.");
    assert_eq!(info.model, "IBM SoftTok");
    assert_eq!(info.serial, "123");
    assert!(info.initialized);
    // ULONG_MAX-1 is a number, not a marker; ULONG_MAX is "unavailable".
    assert_eq!(
        info.limits,
        SessionLimits {
            max_sessions: Some(u64::MAX - 1),
            open_sessions: None
        }
    );
    let id = info.identity(Path::new("/usr/lib/libopencryptoki.so"));
    assert_eq!(id.label, "ceremony");
    assert_eq!(id.module, "/usr/lib/libopencryptoki.so");
    assert_eq!(id.hardware_version.as_deref(), Some("0.0"));
    assert_eq!(id.firmware_version.as_deref(), Some("3.8"));
}

#[test]
fn a_tpm2_model_loses_its_nuls_and_session_markers_read_as_no_limit() {
    let raw = RawTokenInfo {
        model: padded(b"SW   TPM", 0),
        max_session_count: 1024,
        session_count: 1,
        flags: 0x40d,
        ..opencryptoki()
    };
    let info = Info::from_raw(&raw);
    assert_eq!(info.model, "SW   TPM");
    assert_eq!(
        info.limits,
        SessionLimits {
            max_sessions: Some(1024),
            open_sessions: Some(1)
        }
    );
    for marker in [0, u64::MAX] {
        let raw = RawTokenInfo {
            max_session_count: marker,
            ..raw
        };
        assert_eq!(Info::from_raw(&raw).limits.max_sessions, None, "{marker}");
    }
    let uninitialized = RawTokenInfo {
        flags: 0x40d & !0x400,
        ..raw
    };
    assert!(!Info::from_raw(&uninitialized).initialized);
}

#[test]
fn a_label_with_invalid_utf8_is_replaced_not_dropped() {
    let raw = RawTokenInfo {
        label: padded(b"ca\xff\x1b[31m", b' '),
        ..opencryptoki()
    };
    assert_eq!(Info::from_raw(&raw).label, "ca\u{fffd}\\u{1b}[31m");
}

#[test]
fn an_unreadable_slot_names_its_slot_and_reason() {
    let slot = UnreadableSlot {
        slot: 3,
        reason: "C_GetTokenInfo failed: TokenNotRecognized".into(),
    };
    assert_eq!(
        slot.to_string(),
        "slot 3: C_GetTokenInfo failed: TokenNotRecognized"
    );
}

#[test]
fn the_user_pin_flags_are_read_from_an_unconverted_token_info_too() {
    assert_eq!(Info::from_raw(&opencryptoki()).pin, PinFlags::default());
    let raw = RawTokenInfo {
        flags: 0x44d | 0x0001_0000 | 0x0004_0000,
        ..opencryptoki()
    };
    let pin = Info::from_raw(&raw).pin;
    assert!(pin.count_low && pin.locked && !pin.final_try && !pin.to_be_changed);
}
