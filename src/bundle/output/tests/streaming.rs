//! Tests for the streaming writer of output bundles: member order, refused
//! members, temporary files left by a dropped writer, an existing target,
//! unsafe directories, and a manifest writer that is not repeatable.

use super::*;

/// The temporary name a writer for bundle `name` uses.
fn tmp_name(name: &str) -> String {
    format!(
        "{}{name}.tar.age.{}",
        fsutil::TMP_PREFIX,
        std::process::id()
    )
}

#[test]
fn a_streamed_bundle_ends_with_manifest_and_sums_in_the_order_added() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let manifest = serde_json::json!({"format": "ceremony-output-bundle/1", "issued": [1, 2, 3]});
    let mut writer =
        OutputWriter::create(dir.path(), "s", &[alice.identity.to_public()]).expect("create");
    assert_eq!(ls(dir.path()), [tmp_name("s"), "alice.key".to_string()]);
    for f in files() {
        writer.add(&f.path, &f.bytes).expect("add");
    }
    // serde_json writes in many small pieces, twice.
    let finished = writer
        .finish(|out| serde_json::to_writer(out, &manifest).map_err(io::Error::from))
        .expect("finish");
    // Complete, but not yet under its name.
    assert_eq!(ls(dir.path()), [tmp_name("s"), "alice.key".to_string()]);
    let sha256 = finished.sha256().to_string();
    let written = finished.place().expect("place");
    assert_eq!(
        ls(dir.path()),
        ["alice.key", "s.tar.age", "s.tar.age.sha256"]
    );
    assert_eq!(written.sha256, sha256);
    assert_eq!(sha256_hex(&fs::read(&written.path).expect("read")), sha256);
    assert_eq!(
        fs::read_to_string(&written.checksum_path).expect("read"),
        format!("{sha256}  s.tar.age\n")
    );

    // The files in the order added, then manifest.json, then SHA256SUMS
    // listing all of them in that order: byte for byte what archive::write
    // makes of the same members.
    let manifest_json = serde_json::to_vec(&manifest).expect("json");
    let files = files();
    let mut members: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.path.as_str(), f.bytes.as_slice()))
        .collect();
    members.push((MANIFEST, &manifest_json));
    let sums = sums_of(&members);
    assert_eq!(
        sums.lines().map(|l| &l[66..]).collect::<Vec<_>>(),
        [
            "pki/etcd/server.crt",
            "certs/apiserver.crt",
            "ca.crt",
            "manifest.json"
        ]
    );
    members.push((SUMS, sums.as_bytes()));
    let tar = tar_of(&written.path, &alice);
    assert_eq!(tar, archive::write(Path::new("t"), &members).expect("tar"));

    let out = dir.path().join("out");
    let names = open(&written.path, &alice.file, &out).expect("open");
    assert_eq!(
        names,
        [
            "SHA256SUMS",
            "ca.crt",
            "certs/apiserver.crt",
            "manifest.json",
            "pki/etcd/server.crt"
        ]
    );
    assert_eq!(fs::read(out.join(MANIFEST)).expect("read"), manifest_json);
    assert_eq!(fs::read_to_string(out.join(SUMS)).expect("read"), sums);
}

#[test]
fn a_refused_member_is_not_written_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let mut writer =
        OutputWriter::create(dir.path(), "m", &[alice.identity.to_public()]).expect("create");
    writer.add("ca.crt", b"CA").expect("add");
    writer.add("certs/a.crt", b"A").expect("add");
    let bundle = dir.path().join("m.tar.age");
    let big = vec![0; MAX_OUTPUT_MEMBER_BYTES as usize + 1];
    for (path, bytes, rule) in [
        ("ca.crt", &b"again"[..], "duplicate member"),
        (
            "CA.crt",
            b"",
            "collides with member \"ca.crt\" when case is ignored",
        ),
        (
            "manifest.json",
            b"",
            "name is reserved for the bundle's own file",
        ),
        (
            "SHA256SUMS",
            b"",
            "name is reserved for the bundle's own file",
        ),
        (
            "Manifest.JSON",
            b"",
            "collides with member \"manifest.json\" when case is ignored",
        ),
        (
            "sha256sums",
            b"",
            "collides with member \"SHA256SUMS\" when case is ignored",
        ),
        (
            "certs",
            b"",
            "is also a directory, of member \"certs/a.crt\"",
        ),
        ("../x", b"", "'..' path component is not allowed"),
        (
            "big.crt",
            &big,
            "size 1048577 bytes is over the limit of 1048576 bytes",
        ),
    ] {
        let err = writer.add(path, bytes).expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!("bundle {}: member {path:?}: {rule}", bundle.display())
        );
    }
    writer.add("b.crt", b"B").expect("still usable");
    let written = writer
        .finish(|out| out.write_all(b"{}"))
        .expect("finish")
        .place()
        .expect("place");
    let out = dir.path().join("out");
    let names = open(&written.path, &alice.file, &out).expect("open");
    assert_eq!(
        names,
        [
            "SHA256SUMS",
            "b.crt",
            "ca.crt",
            "certs/a.crt",
            "manifest.json"
        ]
    );
    assert_eq!(fs::read(out.join("ca.crt")).expect("read"), b"CA");
}

#[test]
fn dropping_a_writer_or_a_finished_bundle_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let r = [alice.identity.to_public()];
    let writer = OutputWriter::create(dir.path(), "d", &r).expect("create");
    assert_eq!(ls(dir.path()), [tmp_name("d"), "alice.key".to_string()]);
    drop(writer);
    assert_eq!(ls(dir.path()), ["alice.key"]);

    let mut writer = OutputWriter::create(dir.path(), "d", &r).expect("create");
    writer.add("big.bin", &[7; 200_000]).expect("add");
    drop(writer);
    assert_eq!(ls(dir.path()), ["alice.key"]);

    let mut writer = OutputWriter::create(dir.path(), "d", &r).expect("create");
    writer.add("a.crt", b"A").expect("add");
    let finished = writer.finish(|out| out.write_all(b"{}")).expect("finish");
    assert_eq!(ls(dir.path()), [tmp_name("d"), "alice.key".to_string()]);
    drop(finished);
    assert_eq!(ls(dir.path()), ["alice.key"]);

    // A failed finish too.
    let writer = OutputWriter::create(dir.path(), "d", &r).expect("create");
    let err = writer
        .finish(|out| out.write_all(b"{} trailing"))
        .expect_err("not JSON");
    assert!(
        err.to_string()
            .contains("member \"manifest.json\": not valid JSON: trailing characters"),
        "{err}"
    );
    assert_eq!(ls(dir.path()), ["alice.key"]);
}

#[test]
fn an_existing_target_is_refused_at_create_and_at_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let r = [alice.identity.to_public()];
    for existing in ["x.tar.age", "x.tar.age.sha256"] {
        let path = dir.path().join(existing);
        fs::write(&path, b"precious").expect("write");
        let err = OutputWriter::create(dir.path(), "x", &r).expect_err("exists");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: already exists, refusing to overwrite it",
                path.display()
            )
        );
        assert_eq!(ls(dir.path()), ["alice.key", existing]);
        fs::remove_file(&path).expect("rm");
    }
    for (name, rule) in [
        ("../x", "must be a plain file name"),
        (".x", "must be a plain file name"),
    ] {
        let err = OutputWriter::create(dir.path(), name, &r).expect_err("bad name");
        assert!(err.to_string().contains(rule), "{err}");
    }
    let err = OutputWriter::create(dir.path(), "x", &[]).expect_err("no recipients");
    assert!(err.to_string().contains("no recipients"), "{err}");
    assert_eq!(ls(dir.path()), ["alice.key"]);

    // Something appears under the name while the bundle is written: place
    // refuses it, leaves it alone and removes the temporary file.
    let writer = OutputWriter::create(dir.path(), "x", &r).expect("create");
    let finished = writer.finish(|out| out.write_all(b"{}")).expect("finish");
    fs::write(dir.path().join("x.tar.age"), b"precious").expect("write");
    let err = finished.place().expect_err("exists");
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert_eq!(ls(dir.path()), ["alice.key", "x.tar.age"]);
    assert_eq!(
        fs::read(dir.path().join("x.tar.age")).expect("read"),
        b"precious"
    );
}

#[test]
fn a_world_writable_directory_is_refused_at_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let open_dir = dir.path().join("tmp");
    fs::create_dir(&open_dir).expect("mkdir");
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = OutputWriter::create(&open_dir, "w", &[alice.identity.to_public()])
        .expect_err("world-writable");
    assert!(err.to_string().contains("writable by every user"), "{err}");
    assert!(ls(&open_dir).is_empty());
}

#[test]
fn a_manifest_writer_that_writes_differently_the_second_time_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keys(dir.path(), "alice.key");
    let r = [alice.identity.to_public()];
    let bundle = dir.path().join("c.tar.age");
    let prefix = format!("bundle {}: member \"manifest.json\": ", bundle.display());

    // The same size, other bytes.
    let calls = std::cell::Cell::new(0);
    let err = OutputWriter::create(dir.path(), "c", &r)
        .expect("create")
        .finish(|out| {
            calls.set(calls.get() + 1);
            write!(out, "{{\"n\":{}}}", calls.get())
        })
        .expect_err("changed");
    assert_eq!(calls.get(), 2);
    assert_eq!(
        err.to_string(),
        format!(
            "{prefix}the writer gave different bytes on its two calls (first 7 bytes, SHA-256 {}; then 7 bytes, SHA-256 {}); it must write the same bytes each time",
            sha256_hex(br#"{"n":1}"#),
            sha256_hex(br#"{"n":2}"#)
        )
    );
    assert_eq!(ls(dir.path()), ["alice.key"]);

    // More bytes: stopped before they reach the tar.
    let calls = std::cell::Cell::new(0);
    let err = OutputWriter::create(dir.path(), "c", &r)
        .expect("create")
        .finish(|out| {
            calls.set(calls.get() + 1);
            out.write_all(if calls.get() == 1 { b"[1]" } else { b"[1, 2]" })
        })
        .expect_err("longer");
    assert_eq!(
        err.to_string(),
        format!(
            "{prefix}the writer gave different bytes on its two calls (first 3 bytes, SHA-256 {}; then more than 3 bytes); it must write the same bytes each time",
            sha256_hex(b"[1]")
        )
    );
    assert_eq!(ls(dir.path()), ["alice.key"]);

    // Fewer bytes.
    let calls = std::cell::Cell::new(0);
    let err = OutputWriter::create(dir.path(), "c", &r)
        .expect("create")
        .finish(|out| {
            calls.set(calls.get() + 1);
            out.write_all(if calls.get() == 1 { b"[1, 2]" } else { b"[1]" })
        })
        .expect_err("shorter");
    assert!(err.to_string().contains("then 3 bytes, SHA-256"), "{err}");
    assert_eq!(ls(dir.path()), ["alice.key"]);

    // The writer's own error is reported as such.
    let err = OutputWriter::create(dir.path(), "c", &r)
        .expect("create")
        .finish(|_| Err(io::Error::other("serializer broke")))
        .expect_err("failed");
    assert_eq!(
        err.to_string(),
        format!("{prefix}cannot be written: serializer broke")
    );
    assert_eq!(ls(dir.path()), ["alice.key"]);
}
