//! Tests of PIN files: one newline stripped, loose modes and empty files refused, never shown by Debug.

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
