//! Tests of PIN files (one newline stripped, loose modes and empty files
//! refused, never shown by Debug) and of the user-PIN flags: bits, verdicts, words.

use super::*;
use secrecy_like::expose;

mod secrecy_like {
    use cryptoki::types::AuthPin;
    use secrecy::ExposeSecret;
    pub fn expose(pin: &AuthPin) -> String {
        pin.expose_secret().to_string()
    }
}

fn write(dir: &tempfile::TempDir, body: &[u8], mode: u32) -> PathBuf {
    let path = dir.path().join("pin");
    std::fs::write(&path, body).expect("write pin");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn file_pin_strips_one_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, b"1234\r\n", 0o600);
    let pin = PinSource::File(path).read("t").expect("pin");
    assert_eq!(expose(&pin), "1234");
}

#[test]
fn file_pin_refuses_loose_mode_and_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, b"1234\n", 0o644);
    let err = PinSource::File(path.clone()).read("t").expect_err("0644");
    assert!(err.to_string().contains("mode 0644"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(&path, b"\n").expect("write");
    let err = PinSource::File(path).read("t").expect_err("empty");
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn debug_never_shows_the_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, b"987654\n", 0o600);
    let src = PinSource::File(path);
    assert!(!format!("{src:?}").contains("987654"));
}

#[test]
fn pin_flags_come_from_the_token_info_bits() {
    assert_eq!(PinFlags::from_bits(0x44d), PinFlags::default());
    let all = PinFlags::from_bits(0x000f_0000 | 0x44d);
    assert_eq!(
        all,
        PinFlags {
            count_low: true,
            final_try: true,
            locked: true,
            to_be_changed: true,
        }
    );
    assert_eq!(
        all.names(),
        ["count_low", "final_try", "locked", "to_be_changed"]
    );
    assert_eq!(PinFlags::from_bits(0x0001_0000).names(), ["count_low"]);
    assert_eq!(PinFlags::from_bits(0x0002_0000).names(), ["final_try"]);
    assert_eq!(PinFlags::from_bits(0x0004_0000).names(), ["locked"]);
    assert_eq!(PinFlags::from_bits(0x0008_0000).names(), ["to_be_changed"]);
    // The SO PIN's flags (0x0010_0000..0x0080_0000) are not the user's.
    assert_eq!(PinFlags::from_bits(0x00f0_0000), PinFlags::default());
}

#[test]
fn the_worst_flag_decides_before_the_prompt() {
    let flags = |bits: u64| PinFlags::from_bits(bits);
    assert_eq!(flags(0).verdict(), PinVerdict::Proceed);
    assert_eq!(flags(0x0001_0000).verdict(), PinVerdict::Warn);
    assert_eq!(flags(0x0003_0000).verdict(), PinVerdict::ConfirmFinalTry);
    assert_eq!(flags(0x0002_0000).verdict(), PinVerdict::ConfirmFinalTry);
    assert_eq!(
        flags(0x0008_0000).verdict(),
        PinVerdict::Refuse(PinRefusal::MustChange)
    );
    assert_eq!(
        flags(0x000b_0000).verdict(),
        PinVerdict::Refuse(PinRefusal::MustChange)
    );
    // Locked outranks everything.
    assert_eq!(
        flags(0x000f_0000).verdict(),
        PinVerdict::Refuse(PinRefusal::Locked)
    );
}

#[test]
fn pin_states_are_shown_in_words_with_their_flag_and_a_fix() {
    assert_eq!(PinFlags::default().to_string(), "no PIN flag set");
    let shown = PinFlags::from_bits(0x0003_0000).to_string();
    assert_eq!(
        shown,
        "final try: one more wrong PIN locks it (CKF_USER_PIN_FINAL_TRY); count low: a wrong PIN was given since the last good login (CKF_USER_PIN_COUNT_LOW)"
    );
    let locked = PinRefusal::Locked;
    assert!(
        locked.to_string().contains("CKF_USER_PIN_LOCKED"),
        "{locked}"
    );
    assert!(locked.hint().contains("security officer"));
    let change = PinRefusal::MustChange;
    assert!(change.to_string().contains("CKF_USER_PIN_TO_BE_CHANGED"));
    assert!(change.hint().contains("never changes PINs"));
}

#[test]
fn only_the_prompt_is_retried() {
    assert_eq!(PinSource::Prompt.max_attempts(), MAX_PROMPT_ATTEMPTS);
    assert_eq!(MAX_PROMPT_ATTEMPTS, 3);
    assert_eq!(PinSource::File("p".into()).max_attempts(), 1);
    assert_eq!(PinSource::Fd(3).max_attempts(), 1);
}
