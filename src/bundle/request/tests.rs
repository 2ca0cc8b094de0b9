//! Tests for sealing and opening request bundles.

use super::super::archive::tests::{raw_header, raw_tar};
use super::*;
use crate::fsutil::{private_file, unlinked_file};
use proptest::prelude::*;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

/// What `seal` takes.
type Requests = Vec<(RequestEntry, Vec<u8>)>;
/// A raw tar header and its body.
type RawEntry<'a> = ([u8; 512], &'a [u8]);

fn entry(id: &str) -> RequestEntry {
    RequestEntry {
        id: id.into(),
        profile: "kubelet-client".into(),
        csr: String::new(),
        csr_sha256: String::new(),
        node: None,
        dns: vec![],
        ips: vec![],
        emails: vec![],
        uris: vec![],
        validity_days: None,
        kubeadm_path: None,
        kubeconfig: None,
    }
}

/// Writes `bytes` as a bundle and opens it against its own digest.
fn open_bytes(bytes: &[u8]) -> Result<RequestBundle> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    std::fs::write(&path, bytes).expect("write");
    RequestBundle::open(&path, &sha256_hex(bytes))
}

/// A manifest JSON listing `ids`, each with the given member and digest.
fn manifest_json(entries: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let manifest = RequestManifest {
        format: FORMAT.into(),
        requests: entries
            .iter()
            .map(|(id, member, der)| RequestEntry {
                csr: member.to_string(),
                csr_sha256: sha256_hex(der),
                ..entry(id)
            })
            .collect(),
    };
    serde_json::to_vec(&manifest).expect("json")
}

/// A well-formed tar (written by us) with the given members.
fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    archive::write(Path::new("t.tar"), members).expect("tar")
}

fn err_of(bytes: &[u8]) -> String {
    open_bytes(bytes).expect_err("must refuse").to_string()
}

#[test]
fn seal_then_open_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let mut node3 = entry("kubelet-node3");
    node3.node = Some("node3".into());
    node3.dns = vec!["node3.example".into()];
    node3.ips = vec!["10.0.0.3".into()];
    node3.validity_days = Some(30);
    node3.kubeadm_path = Some("kubelet.crt".into());
    let digest = seal(
        &path,
        vec![
            (node3.clone(), b"der-one".to_vec()),
            (entry("apiserver"), b"der-two".to_vec()),
        ],
    )
    .expect("seal");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(digest, sha256_hex(&bytes));
    let bundle = RequestBundle::open(&path, &digest.to_uppercase()).expect("open");
    assert_eq!(bundle.sha256, digest);
    assert_eq!(bundle.manifest.format, FORMAT);
    let ids: Vec<_> = bundle
        .manifest
        .requests
        .iter()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(ids, ["kubelet-node3", "apiserver"]);
    let first = &bundle.manifest.requests[0];
    assert_eq!(first.csr, "csr/kubelet-node3.csr");
    assert_eq!(first.csr_sha256, sha256_hex(b"der-one"));
    assert_eq!(first.dns, node3.dns);
    assert_eq!(first.validity_days, Some(30));
    assert_eq!(bundle.csr(first).expect("csr"), b"der-one");
    assert_eq!(
        bundle.csr(&bundle.manifest.requests[1]).expect("csr"),
        b"der-two"
    );
    let other = RequestEntry {
        csr: "csr/other.csr".into(),
        ..entry("other")
    };
    let err = bundle.csr(&other).expect_err("not in the bundle");
    assert_eq!(
        err.to_string(),
        format!(
            "bundle {}: member \"csr/other.csr\": not the CSR of any request in this bundle",
            path.display()
        )
    );
    // The CSRs in request order, then manifest.json, last and pretty.
    let members = archive::read(&path, &bytes, |_| 1 << 20).expect("tar");
    let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["csr/kubelet-node3.csr", "csr/apiserver.csr", MANIFEST]
    );
    assert!(archive::slice(&bytes, &members[2].range).starts_with(b"{\n  \"format\""));
    // Sealing is deterministic: the same requests give the same bytes.
    let again = dir.path().join("again.tar");
    let digest2 = seal(
        &again,
        vec![
            (node3, b"der-one".to_vec()),
            (entry("apiserver"), b"der-two".to_vec()),
        ],
    )
    .expect("seal");
    assert_eq!(digest, digest2);
    assert_eq!(std::fs::read(&again).expect("read"), bytes);
}

#[test]
fn seal_refuses_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let cases: Vec<(Requests, &str)> = vec![
        (
            vec![(entry("a"), b"x".to_vec()), (entry("a"), b"y".to_vec())],
            "request \"a\": duplicate id",
        ),
        (
            vec![(entry("Bad_Id"), b"x".to_vec())],
            "request \"Bad_Id\": id must be",
        ),
        (vec![(entry(""), b"x".to_vec())], "id must be"),
        (vec![(entry(".a"), b"x".to_vec())], "id must be"),
        (vec![(entry(&"a".repeat(64)), b"x".to_vec())], "id must be"),
        (vec![(entry("a"), vec![])], "CSR is empty"),
        (
            vec![(entry("a"), vec![0; MAX_CSR_BYTES as usize + 1])],
            "over the limit of 65536",
        ),
        (vec![], "no requests"),
    ];
    for (requests, rule) in cases {
        let err = seal(&path, requests).expect_err("must refuse").to_string();
        assert!(err.contains(rule), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
    assert!(check_id(&"a".repeat(63)).is_ok());
    assert!(check_id("0.k8s-node.example").is_ok());
}

#[test]
fn seal_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    std::fs::write(&path, b"precious").expect("write");
    let err = seal(&path, vec![(entry("a"), b"x".to_vec())]).expect_err("exists");
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), b"precious");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

/// The names in `dir`, sorted.
fn ls(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `n` requests `r0`, `r1`, … whose CSRs have lengths around the 512-byte
/// blocks of a tar, so that every amount of padding occurs.
fn many(n: usize) -> Requests {
    (0..n)
        .map(|i| {
            let der: Vec<u8> = (0..(i * 37) % 1500 + 1).map(|b| (b + i) as u8).collect();
            (entry(&format!("r{i}")), der)
        })
        .collect()
}

#[test]
fn sealing_streams_the_csrs_into_a_temporary_file_then_the_manifest_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let requests = many(50);
    let mut writer = RequestWriter::create(&path).expect("create");
    for (i, (entry, der)) in requests.iter().enumerate() {
        writer.add(entry.clone(), der).expect("add");
        if i == 24 {
            // Halfway: only the temporary file, beside the bundle.
            let tmp = format!(
                "{}req.tar.{}",
                crate::fsutil::TMP_PREFIX,
                std::process::id()
            );
            assert_eq!(ls(dir.path()), [tmp]);
        }
    }
    let digest = writer.finish().expect("finish");
    assert_eq!(ls(dir.path()), ["req.tar"]);
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(digest, sha256_hex(&bytes));

    // Byte for byte the tar of the CSRs in request order, then the pretty
    // manifest with every CSR's member name and digest, then the end marker.
    let manifest = RequestManifest {
        format: FORMAT.into(),
        requests: requests
            .iter()
            .map(|(entry, der)| RequestEntry {
                csr: format!("csr/{}.csr", entry.id),
                csr_sha256: sha256_hex(der),
                ..entry.clone()
            })
            .collect(),
    };
    let mut json = serde_json::to_vec_pretty(&manifest).expect("json");
    json.push(b'\n');
    let mut members: Vec<(&str, &[u8])> = manifest
        .requests
        .iter()
        .zip(&requests)
        .map(|(entry, (_, der))| (entry.csr.as_str(), der.as_slice()))
        .collect();
    members.push((MANIFEST, &json));
    assert_eq!(bytes, tar_of(&members));

    // It opens, and every CSR comes back.
    let bundle = RequestBundle::open(&path, &digest).expect("open");
    assert_eq!(bundle.manifest, manifest);
    for (entry, (_, der)) in bundle.manifest.requests.iter().zip(&requests) {
        assert_eq!(&bundle.csr(entry).expect("csr"), der);
    }

    // The same requests sealed again give the same bytes.
    let again = dir.path().join("again.tar");
    assert_eq!(seal(&again, requests).expect("seal"), digest);
    assert_eq!(std::fs::read(&again).expect("read"), bytes);
}

#[test]
fn a_failure_after_many_csrs_were_written_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let cases: Vec<((RequestEntry, Vec<u8>), &str)> = vec![
        (
            (entry("r3"), b"again".to_vec()),
            "request \"r3\": duplicate id",
        ),
        (
            (entry("last"), vec![1; MAX_CSR_BYTES as usize + 1]),
            "request \"last\": CSR is 65537 bytes, over the limit of 65536 bytes",
        ),
        ((entry("last"), vec![]), "request \"last\": CSR is empty"),
        (
            (entry("La.st"), b"x".to_vec()),
            "request \"La.st\": id must be",
        ),
    ];
    for (last, rule) in cases {
        let mut requests = many(40);
        requests.push(last);
        let err = seal(&path, requests).expect_err("must refuse").to_string();
        assert!(
            err.starts_with(&format!("bundle {}: {rule}", path.display())),
            "{err}"
        );
        assert!(ls(dir.path()).is_empty(), "{:?}", ls(dir.path()));
    }
    // A writer dropped before it is finished leaves nothing either.
    let mut writer = RequestWriter::create(&path).expect("create");
    for (entry, der) in many(10) {
        writer.add(entry, &der).expect("add");
    }
    drop(writer);
    assert!(ls(dir.path()).is_empty(), "{:?}", ls(dir.path()));
}

#[test]
fn a_refused_request_is_not_written_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let mut writer = RequestWriter::create(&path).expect("create");
    writer.add(entry("a"), b"A").expect("add");
    writer.add(entry("a"), b"B").expect_err("duplicate");
    writer.add(entry("b"), b"").expect_err("empty");
    writer.add(entry("b"), b"B").expect("add");
    let digest = writer.finish().expect("finish");
    let bundle = RequestBundle::open(&path, &digest).expect("open");
    let got: Vec<_> = bundle
        .manifest
        .requests
        .iter()
        .map(|e| (e.id.clone(), bundle.csr(e).expect("csr")))
        .collect();
    assert_eq!(
        got,
        [("a".into(), b"A".to_vec()), ("b".into(), b"B".to_vec())]
    );
}

#[test]
fn the_bundle_limits_are_checked_as_requests_are_added() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let too_large = |size: u64| {
        format!(
            "bundle {}: {size} bytes is over the limit of {MAX_REQUEST_BUNDLE_BYTES} bytes",
            path.display()
        )
    };
    // A one-byte CSR takes 1,024 bytes of tar, and the end marker 1,024 more.
    let mut writer = RequestWriter::create(&path).expect("create");
    writer.tar.pretend_len(MAX_REQUEST_BUNDLE_BYTES - 2047);
    let err = writer.add(entry("a"), b"A").expect_err("too large");
    assert_eq!(err.to_string(), too_large(MAX_REQUEST_BUNDLE_BYTES + 1));
    // Exactly at the limit it is written, and then the manifest does not fit.
    writer.tar.pretend_len(MAX_REQUEST_BUNDLE_BYTES - 2048);
    writer.add(entry("a"), b"A").expect("fits");
    let err = writer.finish().expect_err("too large");
    let size = match err {
        Error::TooLarge { size, .. } => size,
        ref other => panic!("{other}"),
    };
    // The whole tar: a manifest of one entry takes 1,024 bytes too.
    assert_eq!(size, MAX_REQUEST_BUNDLE_BYTES + 1024);
    assert_eq!(err.to_string(), too_large(size));
    assert!(ls(dir.path()).is_empty(), "{:?}", ls(dir.path()));

    // The member count includes manifest.json.
    let mut writer = RequestWriter::create(&path).expect("create");
    writer.entries = vec![entry(""); MAX_MEMBERS - 2];
    writer
        .add(entry("a"), b"A")
        .expect("the last member that fits");
    let err = writer.add(entry("b"), b"B").expect_err("too many");
    assert_eq!(
        err.to_string(),
        format!("bundle {}: more than 250000 members", path.display())
    );
    drop(writer);
    assert!(ls(dir.path()).is_empty(), "{:?}", ls(dir.path()));
}

#[test]
fn a_bundle_that_appears_while_sealing_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let mut writer = RequestWriter::create(&path).expect("create");
    writer.add(entry("a"), b"A").expect("add");
    std::fs::write(&path, b"precious").expect("write");
    let err = writer.finish().expect_err("exists");
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), b"precious");
    assert_eq!(ls(dir.path()), ["req.tar"]);
}

#[test]
fn digest_is_checked_before_anything_is_parsed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    std::fs::write(&path, b"this is not a tar").expect("write");
    let wrong = "ab".repeat(32);
    let err = RequestBundle::open(&path, &wrong).expect_err("mismatch");
    let actual = sha256_hex(b"this is not a tar");
    assert!(matches!(err, Error::Digest { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "bundle {}: SHA-256 mismatch: expected {wrong}, actual {actual}",
            path.display()
        )
    );
    assert!(err.hint().is_some());
    // With the right digest, the same bytes fail as a tar.
    let err = RequestBundle::open(&path, &actual).expect_err("not a tar");
    assert!(matches!(err, Error::Archive { .. }), "{err}");
    let err = RequestBundle::open(&path, "abc").expect_err("bad pin");
    assert!(err.to_string().contains("not 64 hex digits"), "{err}");
}

#[test]
fn refuses_a_file_over_the_limit_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(MAX_REQUEST_BUNDLE_BYTES + 1).expect("sparse");
    let err = RequestBundle::open(&path, &"00".repeat(32)).expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    // Refused before the copy is even started: a temporary directory that
    // does not exist is never noticed.
    let nowhere = dir.path().join("no-such-dir");
    let err =
        RequestBundle::open_with_tmp(&path, &"00".repeat(32), &nowhere).expect_err("too large");
    assert!(
        matches!(err, Error::TooLarge { size, .. } if size == MAX_REQUEST_BUNDLE_BYTES + 1),
        "{err}"
    );
    let err = RequestBundle::open(dir.path(), &"00".repeat(32)).expect_err("dir");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// Seals one request, `a`, whose CSR is `der`, at `path`.
fn seal_one(path: &Path, der: &[u8]) -> String {
    seal(path, vec![(entry("a"), der.to_vec())]).expect("seal")
}

#[test]
fn a_bundle_changed_on_disk_after_open_is_never_read_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let digest = seal_one(&path, b"approved-csr");
    let bundle = RequestBundle::open(&path, &digest).expect("open");
    // Another bundle of the same length, with a different CSR, written over
    // the same file (same inode) after the digest was checked.
    let other = dir.path().join("other.tar");
    seal_one(&other, b"swapped!-csr");
    let swapped = std::fs::read(&other).expect("read");
    assert_eq!(
        swapped.len() as u64,
        std::fs::metadata(&path).expect("stat").len()
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&swapped))
        .expect("overwrite in place");
    assert_eq!(std::fs::read(&path).expect("read"), swapped);
    let entry = &bundle.manifest.requests[0];
    assert_eq!(bundle.csr(entry).expect("csr"), b"approved-csr");
    // Removing the file changes nothing either.
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(bundle.csr(entry).expect("csr"), b"approved-csr");
}

#[test]
fn the_private_copy_is_not_visible_in_the_temporary_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let digest = seal_one(&path, b"der");
    let tmp = tempfile::tempdir().expect("tempdir");
    let bundle = RequestBundle::open_with_tmp(&path, &digest, tmp.path()).expect("open");
    assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 0);
    assert_eq!(
        bundle.csr(&bundle.manifest.requests[0]).expect("csr"),
        b"der"
    );
    // A failed open leaves nothing behind either.
    let err = RequestBundle::open_with_tmp(&path, &"00".repeat(32), tmp.path())
        .expect_err("wrong digest");
    assert!(matches!(err, Error::Digest { .. }), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 0);
}

#[test]
fn private_files_have_no_name_and_mode_0600() {
    use std::io::{Read, Seek};
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    // O_TMPFILE where the file system has it, and the fallback on its own.
    for mut file in [
        private_file(tmp.path()).expect("private file"),
        unlinked_file(tmp.path()).expect("unlinked file"),
    ] {
        assert_eq!(std::fs::read_dir(tmp.path()).expect("ls").count(), 0);
        let meta = file.metadata().expect("stat");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert_eq!(meta.nlink(), 0, "the file must have no name");
        file.write_all(b"kept").expect("write");
        file.rewind().expect("rewind");
        let mut back = String::new();
        file.read_to_string(&mut back).expect("read");
        assert_eq!(back, "kept");
    }
    let err = private_file(&tmp.path().join("missing")).expect_err("no such directory");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn a_bundle_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<RequestBundle>();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("req.tar");
    let requests: Requests = (0..8)
        .map(|i| (entry(&format!("r{i}")), format!("der-{i}").into_bytes()))
        .collect();
    let digest = seal(&path, requests).expect("seal");
    let bundle = RequestBundle::open(&path, &digest).expect("open");
    std::thread::scope(|s| {
        for entry in &bundle.manifest.requests {
            let bundle = &bundle;
            s.spawn(move || {
                let want = format!("der-{}", &entry.id[1..]);
                assert_eq!(bundle.csr(entry).expect("csr"), want.as_bytes());
            });
        }
    });
}

mod hostile;
