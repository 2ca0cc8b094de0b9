//! Tests for writing and opening output bundles.

use super::super::archive::tests::{raw_header, raw_tar};
use super::open::{decrypt, open_with_tmp, read_identities};
use super::*;
use age::secrecy::ExposeSecret;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

/// Opens a bundle's structure only (no pins), as `open` did before trust.
fn open(bundle: &Path, identity: &Path, out: &Path) -> Result<Vec<String>> {
    open_with_tmp(bundle, identity, out, &std::env::temp_dir())
}

/// A member name and its bytes.
type Raw<'a> = (&'a str, &'a [u8]);

struct Keys {
    identity: age::x25519::Identity,
    file: PathBuf,
}

/// A fresh identity, saved as an identity file with comments, as age-keygen writes it.
fn keys(dir: &Path, name: &str) -> Keys {
    let identity = age::x25519::Identity::generate();
    let file = dir.join(name);
    let text = format!(
        "# created: 2026-01-01T00:00:00Z\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    fs::write(&file, text).expect("identity file");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
    Keys { identity, file }
}

fn files() -> Vec<OutputFile> {
    vec![
        OutputFile {
            path: "pki/etcd/server.crt".into(),
            bytes: b"etcd server".to_vec(),
        },
        OutputFile {
            path: "certs/apiserver.crt".into(),
            bytes: b"apiserver".to_vec(),
        },
        OutputFile {
            path: "ca.crt".into(),
            bytes: vec![0xff; 5000],
        },
    ]
}

/// Lists a directory's entry names, sorted.
fn ls(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Encrypts an arbitrary tar to `keys`, as a hostile or broken writer would.
fn encrypt_raw(dir: &Path, tar: &[u8], keys: &Keys) -> PathBuf {
    let path = dir.join("raw.tar.age");
    let bytes = encrypt(tar, &[keys.identity.to_public()]);
    fs::write(&path, bytes).expect("write");
    path
}

/// Encrypts `plain` to `recipients` (binary age format), in memory.
fn encrypt(plain: &[u8], recipients: &[age::x25519::Recipient]) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .expect("recipients");
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).expect("header");
    writer.write_all(plain).expect("encrypt");
    writer.finish().expect("finish");
    out
}

fn sums_of(members: &[(&str, &[u8])]) -> String {
    members
        .iter()
        .map(|(n, b)| format!("{}  {n}\n", sha256_hex(b)))
        .collect()
}

#[test]
fn write_then_open_with_either_of_two_identities() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice, bob) = (keys(dir.path(), "alice.key"), keys(dir.path(), "bob.key"));
    let manifest = br#"{"format":"ceremony-output-bundle/1"}"#;
    let recipients = [alice.identity.to_public(), bob.identity.to_public()];
    let written = write(dir.path(), "out-1", manifest, &files(), &recipients).expect("write");
    assert_eq!(written.path, dir.path().join("out-1.tar.age"));
    assert_eq!(
        written.checksum_path,
        dir.path().join("out-1.tar.age.sha256")
    );
    let encrypted = fs::read(&written.path).expect("read");
    assert!(encrypted.starts_with(b"age-encryption.org/v1\n"));
    assert_eq!(written.sha256, sha256_hex(&encrypted));
    assert_eq!(
        fs::read_to_string(&written.checksum_path).expect("read"),
        format!("{}  out-1.tar.age\n", written.sha256)
    );

    let expected = [
        "SHA256SUMS",
        "ca.crt",
        "certs/apiserver.crt",
        "manifest.json",
        "pki/etcd/server.crt",
    ];
    for (who, keys) in [("alice", &alice), ("bob", &bob)] {
        let out = dir.path().join(who);
        let names = open(&written.path, &keys.file, &out).expect("open");
        assert_eq!(names, expected);
        for f in files() {
            assert_eq!(fs::read(out.join(&f.path)).expect("read"), f.bytes);
            let mode = fs::metadata(out.join(&f.path))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644, "{}", f.path);
        }
        for d in ["", "pki", "pki/etcd", "certs"] {
            let mode = fs::metadata(out.join(d))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755, "{d}");
        }
        assert_eq!(fs::read(out.join("manifest.json")).expect("read"), manifest);
        let sums = fs::read_to_string(out.join("SHA256SUMS")).expect("read");
        // Every member in the order written, manifest.json last.
        let files = files();
        let mut listed: Vec<(&str, &[u8])> = files
            .iter()
            .map(|f| (f.path.as_str(), f.bytes.as_slice()))
            .collect();
        listed.push((MANIFEST, manifest));
        assert_eq!(sums, sums_of(&listed));
    }
    // An empty directory is fine too.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    open(&written.path, &alice.file, &empty).expect("open into empty dir");
    assert_eq!(
        ls(&empty),
        ["SHA256SUMS", "ca.crt", "certs", "manifest.json", "pki"]
    );
}

#[test]
fn the_tar_inside_is_laid_out_as_documented() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let written = write(
        dir.path(),
        "b",
        b"{}",
        &files(),
        &[alice.identity.to_public()],
    )
    .expect("write");
    let tar = tar_of(&written.path, &alice);
    let members = archive::read(&written.path, &tar, |_| 1 << 20).expect("tar");
    let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pki/etcd/server.crt",
            "certs/apiserver.crt",
            "ca.crt",
            "manifest.json",
            "SHA256SUMS",
        ]
    );
    // Deterministic headers: mode 0644, uid/gid 0, mtime 0, regular file.
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().expect("entries") {
        let header = entry.expect("entry").header().clone();
        assert_eq!(header.mode().expect("mode"), 0o644);
        assert_eq!(header.uid().expect("uid"), 0);
        assert_eq!(header.gid().expect("gid"), 0);
        assert_eq!(header.mtime().expect("mtime"), 0);
        assert_eq!(header.entry_type(), tar::EntryType::Regular);
    }
}

#[test]
fn write_refuses_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let r = [alice.identity.to_public()];
    let with = |path: &str, bytes: &[u8]| {
        let mut f = files();
        f.push(OutputFile {
            path: path.into(),
            bytes: bytes.to_vec(),
        });
        f
    };
    let cases: Vec<(&str, Vec<OutputFile>, &[age::x25519::Recipient], &str)> = vec![
        ("../evil", files(), &r, "must be a plain file name"),
        (".hidden", files(), &r, "must be a plain file name"),
        ("ok", files(), &[], "no recipients"),
        (
            "ok",
            with("../x", b""),
            &r,
            "member \"../x\": '..' path component",
        ),
        ("ok", with("/abs", b""), &r, "absolute path"),
        (
            "ok",
            with("ca.crt", b""),
            &r,
            "member \"ca.crt\": duplicate member",
        ),
        ("ok", with("CA.crt", b""), &r, "when case is ignored"),
        ("ok", with("SHA256SUMS", b""), &r, "reserved"),
        ("ok", with("sha256sums", b""), &r, "when case is ignored"),
        ("ok", with("ca.crt/x", b""), &r, "its directory \"ca.crt\""),
        (
            "ok",
            with("big", &vec![0; MAX_OUTPUT_MEMBER_BYTES as usize + 1]),
            &r,
            "over the limit",
        ),
    ];
    for (name, files, recipients, rule) in cases {
        let err = write(dir.path(), name, b"{}", &files, recipients).expect_err("refuse");
        assert!(err.to_string().contains(rule), "{rule}: {err}");
        assert_eq!(ls(dir.path()), ["alice.key"]);
    }
    let err = write(dir.path(), "ok", b"not json", &files(), &r).expect_err("json");
    assert!(
        err.to_string().contains("manifest.json\": not valid JSON"),
        "{err}"
    );

    // Either file already there: refused, and the other is not written.
    fs::write(dir.path().join("x.tar.age.sha256"), b"precious").expect("write");
    let err = write(dir.path(), "x", b"{}", &files(), &r).expect_err("exists");
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert_eq!(ls(dir.path()), ["alice.key", "x.tar.age.sha256"]);
    fs::write(dir.path().join("y.tar.age"), b"precious").expect("write");
    let err = write(dir.path(), "y", b"{}", &files(), &r).expect_err("exists");
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert_eq!(
        ls(dir.path()),
        ["alice.key", "x.tar.age.sha256", "y.tar.age"]
    );
    assert_eq!(
        fs::read(dir.path().join("y.tar.age")).expect("read"),
        b"precious"
    );
}

#[test]
fn wrong_identity_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice, mallory) = (
        keys(dir.path(), "alice.key"),
        keys(dir.path(), "mallory.key"),
    );
    let written = write(
        dir.path(),
        "b",
        b"{}",
        &files(),
        &[alice.identity.to_public()],
    )
    .expect("write");
    let before = ls(dir.path());
    let out = dir.path().join("out");
    let err = open(&written.path, &mallory.file, &out).expect_err("wrong key");
    assert!(matches!(err, Error::NoMatchingIdentity { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "bundle {}: no identity in {} can decrypt it",
            written.path.display(),
            mallory.file.display()
        )
    );
    assert!(err.hint().is_some());
    assert_eq!(ls(dir.path()), before);
}

#[test]
fn truncated_or_garbage_bundles_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let big = vec![OutputFile {
        path: "big.bin".into(),
        bytes: vec![7; 200_000],
    }];
    let written =
        write(dir.path(), "b", b"{}", &big, &[alice.identity.to_public()]).expect("write");
    let full = fs::read(&written.path).expect("read");
    let out = dir.path().join("out");
    // With the checksum file beside it, the checksum catches truncation first.
    fs::write(&written.path, &full[..full.len() - 10]).expect("truncate");
    let err = open(&written.path, &alice.file, &out).expect_err("truncated");
    assert!(matches!(err, Error::ChecksumFile { .. }), "{err}");
    // Without it, decryption does, wherever the cut is.
    fs::remove_file(&written.checksum_path).expect("rm");
    for cut in [10, 100, 200, 65_536 + 300, full.len() - 17, full.len() - 1] {
        fs::write(&written.path, &full[..cut]).expect("truncate");
        let err = open(&written.path, &alice.file, &out).expect_err("truncated");
        assert!(matches!(err, Error::Decrypt { .. }), "cut {cut}: {err}");
        assert!(!out.exists());
    }
    let mut flipped = full.clone();
    let last = flipped.len() - 100;
    flipped[last] ^= 1;
    fs::write(&written.path, &flipped).expect("tamper");
    let err = open(&written.path, &alice.file, &out).expect_err("tampered");
    assert!(err.to_string().contains("truncated or modified"), "{err}");
    fs::write(&written.path, b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n").expect("armor");
    let err = open(&written.path, &alice.file, &out).expect_err("armored");
    assert!(err.to_string().contains("armored"), "{err}");
    fs::write(&written.path, b"garbage, not age").expect("garbage");
    let err = open(&written.path, &alice.file, &out).expect_err("garbage");
    assert!(err.to_string().contains("not an age file"), "{err}");
    assert_eq!(ls(dir.path()), ["alice.key", "b.tar.age"]);
}

#[test]
fn checksum_file_is_checked_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let written = write(
        dir.path(),
        "b",
        b"{}",
        &files(),
        &[alice.identity.to_public()],
    )
    .expect("write");
    let out = dir.path().join("out");
    let good = fs::read_to_string(&written.checksum_path).expect("read");
    let tampered = format!("{}{}", "0".repeat(64), &good[64..]);
    for (text, rule) in [
        (
            tampered.as_str(),
            "SHA-256 mismatch for b.tar.age: expected 0000",
        ),
        (
            &good.replace("b.tar.age", "c.tar.age"),
            "names \"c.tar.age\", not \"b.tar.age\"",
        ),
        ("nonsense\n", "must be one line"),
        (&format!("{good}{good}"), "must be one line"),
    ] {
        fs::write(&written.checksum_path, text).expect("tamper");
        let err = open(&written.path, &alice.file, &out).expect_err("checksum");
        assert!(err.to_string().contains(rule), "{rule}: {err}");
        assert!(!out.exists());
    }
    // Binary-mode marker and a missing final newline are what sha256sum accepts too.
    fs::write(
        &written.checksum_path,
        good.replacen("  ", " *", 1).trim_end(),
    )
    .expect("write");
    open(&written.path, &alice.file, &out).expect("open");
}

#[test]
fn sha256sums_must_cover_exactly_the_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let out = dir.path().join("out");
    let m: (&str, &[u8]) = (MANIFEST, b"{}");
    let a: (&str, &[u8]) = ("a.crt", b"A");
    let b: (&str, &[u8]) = ("b.crt", b"B");
    let cases: Vec<(String, Vec<Raw>, &str)> = vec![
        (
            sums_of(&[a, b, m]),
            vec![m, a],
            "line 2 lists \"b.crt\", which is not in the bundle",
        ),
        (
            sums_of(&[a, m]),
            vec![m, a, b],
            "does not list member \"b.crt\"",
        ),
        (
            sums_of(&[a, a, m]),
            vec![m, a],
            "line 2 lists \"a.crt\" again (first on line 1)",
        ),
        (
            sums_of(&[("a.crt", b"X"), m]),
            vec![m, a],
            "SHA-256 mismatch for \"a.crt\" (line 1)",
        ),
        (
            sums_of(&[a, m]).replace("  ", " "),
            vec![m, a],
            "line 1 is not",
        ),
        (
            sums_of(&[a, m]).trim_end().to_string(),
            vec![m, a],
            "does not end in a newline",
        ),
        (String::new(), vec![m, a], "empty"),
        (
            format!("{}\n", sums_of(&[a, m])),
            vec![m, a],
            "line 3 is not",
        ),
    ];
    for (sums, members, rule) in cases {
        let mut all = vec![(SUMS, sums.as_bytes())];
        all.extend(members);
        let tar = archive::write(Path::new("t"), &all).expect("tar");
        let path = encrypt_raw(dir.path(), &tar, &alice);
        let err = open(&path, &alice.file, &out).expect_err("sums");
        assert!(matches!(err, Error::Checksums { .. }), "{err}");
        assert!(err.to_string().contains(rule), "{rule}: {err}");
        assert!(!out.exists());
        fs::remove_file(path).expect("rm");
    }
    // No SHA256SUMS at all.
    let tar = archive::write(Path::new("t"), &[m, a]).expect("tar");
    let path = encrypt_raw(dir.path(), &tar, &alice);
    let err = open(&path, &alice.file, &out).expect_err("no sums");
    assert!(err.to_string().contains("SHA256SUMS: missing"), "{err}");
    assert_eq!(ls(dir.path()), ["alice.key", "raw.tar.age"]);
}

#[test]
fn hostile_members_inside_the_encryption_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let out = dir.path().join("out");
    let sums = sums_of(&[(MANIFEST, b"{}")]);
    for (header, rule) in [
        (raw_header(b"../x", b'0', 0), "'..' path component"),
        (raw_header(b"x", b'2', 0), "a symbolic link"),
        (
            raw_header(b"big", b'0', MAX_OUTPUT_MEMBER_BYTES + 1),
            "over the limit",
        ),
    ] {
        let tar = raw_tar(&[
            (
                raw_header(SUMS.as_bytes(), b'0', sums.len() as u64),
                sums.as_bytes(),
            ),
            (raw_header(MANIFEST.as_bytes(), b'0', 2), b"{}"),
            (header, b""),
        ]);
        let path = encrypt_raw(dir.path(), &tar, &alice);
        let err = open(&path, &alice.file, &out).expect_err("hostile");
        assert!(err.to_string().contains(rule), "{rule}: {err}");
        assert!(!out.exists());
        fs::remove_file(path).expect("rm");
    }
}

#[test]
fn out_must_be_new_or_empty_and_failures_leave_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let written = write(
        dir.path(),
        "b",
        b"{}",
        &files(),
        &[alice.identity.to_public()],
    )
    .expect("write");
    let out = dir.path().join("out");
    fs::create_dir(&out).expect("mkdir");
    fs::write(out.join("keep"), b"mine").expect("write");
    let err = open(&written.path, &alice.file, &out).expect_err("not empty");
    assert!(matches!(err, Error::NotEmpty { .. }), "{err}");
    assert_eq!(ls(&out), ["keep"]);
    let file = dir.path().join("file");
    fs::write(&file, b"x").expect("write");
    let err = open(&written.path, &alice.file, &file).expect_err("a file");
    assert!(matches!(err, Error::Exists { .. }), "{err}");

    // A failed open leaves the parent exactly as it was (the staging
    // directory's own clean-up is tested in `unpack`).
    assert_eq!(
        ls(dir.path()),
        ["alice.key", "b.tar.age", "b.tar.age.sha256", "file", "out"]
    );
    assert_eq!(ls(&out), ["keep"]);
}

#[test]
fn identity_files_and_recipients_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let written = write(
        dir.path(),
        "b",
        b"{}",
        &files(),
        &[alice.identity.to_public()],
    )
    .expect("write");
    let out = dir.path().join("out");
    let bad = dir.path().join("bad.key");
    fs::write(&bad, "# comment\nAGE-SECRET-KEY-NOTREALLY\n").expect("write");
    // Like the PIN file, an identity others can read is refused first.
    let err = open(&written.path, &bad, &out).expect_err("loose mode");
    assert_eq!(
        err.to_string(),
        format!(
            "identity file {}: readable or writable by other users (mode 0644); run chmod 600 on it",
            bad.display()
        )
    );
    fs::set_permissions(&alice.file, fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = open(&written.path, &alice.file, &out).expect_err("group-readable");
    assert!(err.to_string().contains("(mode 0640)"), "{err}");
    fs::set_permissions(&alice.file, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(!out.exists());
    fs::set_permissions(&bad, fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = open(&written.path, &bad, &out).expect_err("bad identity");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("identity file {}:", bad.display())),
        "{text}"
    );
    assert!(
        text.contains("line 2") && !text.contains("NOTREALLY"),
        "{text}"
    );
    fs::write(&bad, "# only a comment\n").expect("write");
    let err = open(&written.path, &bad, &out).expect_err("empty identity");
    assert!(err.to_string().contains("holds no identity"), "{err}");
    let err = open(&written.path, &dir.path().join("missing.key"), &out).expect_err("missing");
    assert!(matches!(err, Error::Identity { .. }), "{err}");
    assert!(!out.exists());

    let text = alice.identity.to_public().to_string();
    assert_eq!(
        parse_recipient(&text).expect("parse"),
        alice.identity.to_public()
    );
    let err = parse_recipient("age1nope").expect_err("bad");
    assert!(err
        .to_string()
        .starts_with("recipient \"age1nope\": not an age X25519 recipient"));
    assert!(parse_recipient(&format!(" {text}")).is_err());
}

#[test]
fn open_takes_members_and_sums_lines_in_any_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let m: Raw = (MANIFEST, b"{}");
    let a: Raw = ("a.crt", b"A");
    let b: Raw = ("certs/b.crt", b"B");
    let sorted = sums_of(&[a, b, m]);
    let unsorted = sums_of(&[m, b, a]);
    for (i, order) in [
        // As the streaming writer makes them.
        vec![a, b, m, (SUMS, sorted.as_bytes())],
        // As bundles written before it have them.
        vec![(SUMS, sorted.as_bytes()), m, a, b],
        // Anything else, with the lines in no particular order.
        vec![b, (SUMS, unsorted.as_bytes()), a, m],
        vec![b, a, m, (SUMS, unsorted.as_bytes())],
    ]
    .into_iter()
    .enumerate()
    {
        let tar = archive::write(Path::new("t"), &order).expect("tar");
        let path = encrypt_raw(dir.path(), &tar, &alice);
        let out = dir.path().join(format!("out{i}"));
        let names = open(&path, &alice.file, &out).expect("open");
        assert_eq!(
            names,
            ["SHA256SUMS", "a.crt", "certs/b.crt", "manifest.json"],
            "{i}"
        );
        assert_eq!(fs::read(out.join("certs/b.crt")).expect("read"), b"B");
        fs::remove_file(path).expect("rm");
    }
}

#[test]
fn open_works_from_private_copies_and_leaves_none_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = keys(dir.path(), "alice.key");
    let bob = keys(dir.path(), "bob.key");
    let written = write(
        dir.path(),
        "b",
        b"{}",
        &files(),
        &[alice.identity.to_public()],
    )
    .expect("write");
    let out = dir.path().join("out");
    let names = open_with_tmp(&written.path, &alice.file, &out, tmp.path()).expect("open");
    assert_eq!(names.len(), files().len() + 2);
    assert!(ls(tmp.path()).is_empty(), "{:?}", ls(tmp.path()));
    // A failure after the copy (no identity matches) leaves nothing either.
    let refused = dir.path().join("refused");
    let err =
        open_with_tmp(&written.path, &bob.file, &refused, tmp.path()).expect_err("wrong identity");
    assert!(matches!(err, Error::NoMatchingIdentity { .. }), "{err}");
    assert!(ls(tmp.path()).is_empty(), "{:?}", ls(tmp.path()));
    assert!(!refused.exists());
}

/// The tar inside a bundle, decrypted with `keys`.
fn tar_of(bundle: &Path, keys: &Keys) -> Vec<u8> {
    let ids = read_identities(&keys.file).expect("identities");
    let tmp = std::env::temp_dir();
    let (encrypted, _) =
        super::super::copy_private(bundle, MAX_ENCRYPTED_BYTES, &tmp).expect("copy");
    let plain = decrypt(bundle, &keys.file, &encrypted, &ids, &tmp).expect("decrypt");
    let mut tar = Vec::new();
    plain.reader().read_to_end(&mut tar).expect("read");
    tar
}

mod streaming;
