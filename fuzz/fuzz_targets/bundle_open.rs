//! `ceremony bundle open`: the tar and SHA256SUMS checks behind the age
//! decryption, the trust checks of the manifest and certificates (against
//! a fixed pinned CA and audit key: an input passes them only with the
//! fixtures' keys, which nobody has), and the unpacking.
//!
//! The input is the decrypted tar: it is encrypted to a fixed identity,
//! written beside that identity, and opened into a fresh directory (as
//! given and, when that differs, with its tar header checksums corrected).
//! An input that already is an age file (`age-encryption.org/v1` header) is
//! opened as it is, to reach the age header handling. After every call:
//! on success every listed file is there; on failure the output directory
//! does not exist; and no temporary file or directory is left behind.
#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

struct Fixed {
    identity: PathBuf,
    recipient: age::x25519::Recipient,
    pins: ceremony::bundle::output::Pins,
    audit_key: ceremony::bundle::output::AuditKey,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let identity = ceremony_fuzz::scratch("identity.agekey");
        std::fs::write(&identity, format!("{}\n", ceremony_fuzz::AGE_IDENTITY))
            .expect("write the identity");
        // Only its owner may read an identity file.
        std::fs::set_permissions(
            &identity,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod the identity");
        let ca = ceremony_fuzz::write_scratch("ca.crt", include_bytes!("../fixtures/ca.crt"));
        let pins = ceremony::bundle::output::Pins::read(&[ca]).expect("the fixed CA");
        let key =
            ceremony_fuzz::write_scratch("audit-key.pub", ceremony_fuzz::AUDIT_KEY_PEM.as_bytes());
        let audit_key =
            ceremony::bundle::output::AuditKey::read(&key).expect("the fixed audit key");
        let recipient = ceremony_fuzz::AGE_RECIPIENT
            .parse()
            .expect("the fixed recipient");
        Fixed {
            identity,
            recipient,
            pins,
            audit_key,
        }
    })
}

fn encrypt(plain: &[u8], recipient: &age::x25519::Recipient) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .expect("one recipient");
    let mut out = Vec::with_capacity(plain.len() + 1024);
    let mut writer = encryptor.wrap_output(&mut out).expect("encrypt");
    writer.write_all(plain).expect("encrypt");
    writer.finish().expect("encrypt");
    out
}

fn open(encrypted: &[u8]) {
    let f = fixed();
    let dir = ceremony_fuzz::scratch_dir().join("open");
    std::fs::create_dir(&dir).expect("a fresh directory");
    let bundle = dir.join("out.tar.age");
    std::fs::write(&bundle, encrypted).expect("write the bundle");
    let out = dir.join("opened");
    // The trust checks on the structure that passed, then the unpacking
    // (what `bundle open --out` does once they pass).
    let opened = ceremony::bundle::output::Opened::read(&bundle, &f.identity).and_then(|opened| {
        let now = std::time::SystemTime::now();
        let _ = ceremony::bundle::output::check(&opened, &f.pins, Some(&f.audit_key), now);
        let _ = ceremony::bundle::output::check(&opened, &f.pins, None, now);
        opened.unpack(&out, false)
    });
    match opened {
        Ok(names) => {
            for name in &names {
                assert!(
                    out.join(name).is_file(),
                    "{name} was listed but not written"
                );
            }
        }
        Err(_) => assert!(!out.exists(), "a failed open left {}", out.display()),
    }
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .expect("read the directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "out.tar.age" && n != "opened")
        .collect();
    left.sort();
    assert!(left.is_empty(), "left behind: {left:?}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    if data.starts_with(b"age-encryption.org/v1\n") {
        open(data);
        return;
    }
    open(&encrypt(data, &f.recipient));
    let mut fixed_tar = data.to_vec();
    if ceremony_fuzz::fix_tar_checksums(&mut fixed_tar) {
        open(&encrypt(&fixed_tar, &f.recipient));
    }
});
