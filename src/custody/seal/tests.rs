use super::*;
use crate::custody::share_file::Purpose;
use crate::custody::vss::{combine, split, Share};
use age::secrecy::ExposeSecret;
use getrandom::SysRng;
use p256::elliptic_curve::ff::PrimeField;
use p256::Scalar;
use std::fs;
use std::os::unix::fs::PermissionsExt;

struct Custodian {
    recipient: age::x25519::Recipient,
    identity_file: PathBuf,
}

/// A fresh identity, saved as age-keygen writes it, mode 0600.
fn custodian(dir: &Path, name: &str) -> Custodian {
    let identity = age::x25519::Identity::generate();
    let identity_file = dir.join(format!("{name}.key"));
    let text = format!(
        "# created: 2026-01-01T00:00:00Z\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    fs::write(&identity_file, text).expect("identity file");
    fs::set_permissions(&identity_file, fs::Permissions::from_mode(0o600)).expect("chmod");
    Custodian {
        recipient: identity.to_public(),
        identity_file,
    }
}

struct Dealt {
    secret: Scalar,
    files: Vec<ShareFile>,
}

fn deal(m: u8, n: u8) -> Dealt {
    let secret = Scalar::from(0x5eed_u64) + Scalar::from(u64::from(m) << 32);
    let (shares, commitments) = split(&secret, m, n, &mut SysRng).expect("split");
    let files = shares
        .into_iter()
        .map(|share| {
            let name = format!("custodian-{}", share.index);
            ShareFile::new(Purpose::Backup, &name, n, commitments.clone(), share).expect("fields")
        })
        .collect();
    Dealt { secret, files }
}

fn sealed_in(dir: &Path, file: &ShareFile, to: &Custodian) -> PathBuf {
    let path = dir.join(format!("share-{}.age", file.index()));
    fs::write(&path, seal(file, &to.recipient)).expect("write sealed share");
    path
}

#[test]
fn sealed_shares_open_and_rebuild_the_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dealt = deal(2, 3);
    let custodians: Vec<Custodian> = (1..=3)
        .map(|i| custodian(dir.path(), &format!("c{i}")))
        .collect();
    let paths: Vec<PathBuf> = dealt
        .files
        .iter()
        .zip(&custodians)
        .map(|(f, c)| sealed_in(dir.path(), f, c))
        .collect();
    let sealed = fs::read(&paths[0]).expect("read");
    assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
    // The share's value is not in the sealed file.
    let value_hex = crate::hex::encode(&dealt.files[0].share().value.to_repr());
    assert!(!String::from_utf8_lossy(&sealed).contains(&value_hex));

    let opened: Vec<ShareFile> = [2, 0]
        .iter()
        .map(|&i| open(&paths[i], &custodians[i].identity_file).expect("opens"))
        .collect();
    assert_eq!(opened[0].custodian(), "custodian-3");
    assert_eq!(opened[0].index(), 3);
    assert_eq!(opened[0].to_text(), dealt.files[2].to_text());
    let shares: Vec<Share> = opened.iter().map(|f| f.share().clone()).collect();
    let secret = combine(&shares, opened[0].commitments()).expect("2 of 3");
    assert_eq!(*secret, dealt.secret);
}

#[test]
fn another_custodians_identity_cannot_open_a_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dealt = deal(2, 2);
    let alice = custodian(dir.path(), "alice");
    let bob = custodian(dir.path(), "bob");
    let path = sealed_in(dir.path(), &dealt.files[0], &alice);
    let err = open(&path, &bob.identity_file).expect_err("wrong identity");
    assert!(
        matches!(&err, OpenError::NoMatchingIdentity { path: p, identity } if *p == path && *identity == bob.identity_file),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "share file {}: no identity in {} can decrypt it",
            path.display(),
            bob.identity_file.display()
        )
    );
}

#[test]
fn a_truncated_share_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dealt = deal(2, 2);
    let alice = custodian(dir.path(), "alice");
    let sealed = seal(&dealt.files[0], &alice.recipient);
    let name = dir.path().join("share.age");
    for len in 0..sealed.len() {
        let err = open_bytes(&sealed[..len], &name, &alice.identity_file).expect_err("truncated");
        assert!(
            matches!(&err, OpenError::Decrypt { path, .. } if *path == name),
            "length {len}: {err:?}"
        );
    }
}

#[test]
fn a_share_file_with_any_byte_changed_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dealt = deal(2, 2);
    let alice = custodian(dir.path(), "alice");
    let sealed = seal(&dealt.files[0], &alice.recipient);
    let name = dir.path().join("share.age");
    for at in 0..sealed.len() {
        let mut changed = sealed.clone();
        changed[at] ^= 0x01;
        let err = open_bytes(&changed, &name, &alice.identity_file).expect_err("changed");
        // A changed recipient stanza no longer names alice's key; anything
        // else is a damaged header or ciphertext.
        assert!(
            matches!(
                &err,
                OpenError::Decrypt { .. } | OpenError::NoMatchingIdentity { .. }
            ),
            "byte {at}: {err:?}"
        );
    }
}

#[test]
fn a_share_that_fails_its_commitments_is_named_by_custodian_and_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dealt = deal(2, 3);
    let alice = custodian(dir.path(), "alice");
    let good = &dealt.files[1];
    let mut share = good.share().clone();
    share.value += Scalar::ONE;
    let forged = ShareFile::new(
        Purpose::Backup,
        "custodian-2",
        3,
        good.commitments().clone(),
        share,
    )
    .expect("fields");
    let path = sealed_in(dir.path(), &forged, &alice);
    let err = open(&path, &alice.identity_file).expect_err("bad share");
    assert_eq!(
        err.to_string(),
        format!(
            "share file {}: share 2 of custodian \"custodian-2\" does not match its commitments",
            path.display()
        )
    );
    assert!(err.hint().is_some());
}

/// Encrypts any text to `to`, as someone other than the tool might
/// (armored as age -a writes it, when asked).
fn encrypt(text: &[u8], to: &Custodian, armor: bool) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&to.recipient as &dyn age::Recipient))
            .expect("encryptor");
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).expect("wrap");
    writer.write_all(text).expect("write");
    writer.finish().expect("finish");
    if !armor {
        return out;
    }
    use base64ct::Encoding;
    let body = base64ct::Base64::encode_string(&out);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN AGE ENCRYPTED FILE-----\n{}\n-----END AGE ENCRYPTED FILE-----\n",
        lines.join("\n")
    )
    .into_bytes()
}

#[test]
fn decrypted_text_that_is_not_a_share_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = custodian(dir.path(), "alice");
    let name = dir.path().join("share.age");
    let text = deal(2, 2).files[0]
        .to_text()
        .replacen("custodian: ", "custodian:", 1);
    let err = open_bytes(
        &encrypt(text.as_bytes(), &alice, false),
        &name,
        &alice.identity_file,
    )
    .expect_err("not a share file");
    assert_eq!(
        err.to_string(),
        format!(
            "share file {}: line 4 is not `field: value`",
            name.display()
        )
    );
    let err = open_bytes(
        &encrypt(&[0xff, 0xfe, b'\n'], &alice, false),
        &name,
        &alice.identity_file,
    )
    .expect_err("not text");
    assert!(
        matches!(
            err,
            OpenError::Text {
                source: ParseError::Layout {
                    rule: "is not UTF-8 text"
                },
                ..
            }
        ),
        "{err:?}"
    );
    let big = vec![b'a'; MAX_SHARE_TEXT_BYTES as usize + 1];
    let err = open_bytes(&encrypt(&big, &alice, false), &name, &alice.identity_file)
        .expect_err("too large");
    assert!(
        matches!(
            err,
            OpenError::Text {
                source: ParseError::Layout { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn armored_and_passphrase_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = custodian(dir.path(), "alice");
    let name = dir.path().join("share.age");
    let text = deal(2, 2).files[0].to_text();
    let err = open_bytes(
        &encrypt(text.as_bytes(), &alice, true),
        &name,
        &alice.identity_file,
    )
    .expect_err("armored");
    assert!(err.to_string().contains("armored"), "{err}");

    let passphrase = age::scrypt::Recipient::new("correct horse".to_string().into());
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&passphrase as &dyn age::Recipient))
            .expect("encryptor");
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).expect("wrap");
    writer.write_all(text.as_bytes()).expect("write");
    writer.finish().expect("finish");
    let err = open_bytes(&out, &name, &alice.identity_file).expect_err("passphrase");
    assert!(err.to_string().contains("passphrase"), "{err}");
}

#[test]
fn an_identity_file_open_to_others_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dealt = deal(2, 2);
    let alice = custodian(dir.path(), "alice");
    let path = sealed_in(dir.path(), &dealt.files[0], &alice);
    for mode in [0o640, 0o604, 0o620, 0o602] {
        fs::set_permissions(&alice.identity_file, fs::Permissions::from_mode(mode)).expect("chmod");
        let err = open(&path, &alice.identity_file).expect_err("open to others");
        assert_eq!(
            err.to_string(),
            format!(
                "identity file {}: readable or writable by other users (mode {mode:04o}); run chmod 600 on it",
                alice.identity_file.display()
            )
        );
    }
    fs::set_permissions(&alice.identity_file, fs::Permissions::from_mode(0o400)).expect("chmod");
    assert!(open(&path, &alice.identity_file).is_ok());
}

#[test]
fn unusable_identity_and_share_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dealt = deal(2, 2);
    let alice = custodian(dir.path(), "alice");
    let path = sealed_in(dir.path(), &dealt.files[0], &alice);

    let missing = dir.path().join("missing.age");
    let err = open(&missing, &alice.identity_file).expect_err("missing share");
    assert!(
        matches!(&err, OpenError::Read { path, .. } if *path == missing),
        "{err:?}"
    );

    let big = dir.path().join("big.age");
    fs::write(&big, vec![0u8; MAX_SEALED_BYTES as usize + 1]).expect("write");
    let err = open(&big, &alice.identity_file).expect_err("too large");
    assert!(
        matches!(&err, OpenError::Read { path, .. } if *path == big),
        "{err:?}"
    );

    let empty = dir.path().join("empty.key");
    fs::write(&empty, "# nothing here\n").expect("write");
    fs::set_permissions(&empty, fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = open(&path, &empty).expect_err("no identity");
    assert_eq!(
        err.to_string(),
        format!("identity file {}: holds no identity", empty.display())
    );

    let junk = dir.path().join("junk.key");
    fs::write(&junk, "AGE-SECRET-KEY-1NOTAKEY\n").expect("write");
    fs::set_permissions(&junk, fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = open(&path, &junk).expect_err("junk identity");
    assert!(
        matches!(&err, OpenError::Identity { path, .. } if *path == junk),
        "{err:?}"
    );
    assert!(!err.to_string().contains("NOTAKEY"), "{err}");
}
