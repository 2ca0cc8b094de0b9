//! Tests of laying out a bundle's members: fixed modes, all or nothing, nothing overwritten.

use super::*;

fn members(tar: &[u8]) -> Vec<Member> {
    super::super::archive::read(Path::new("t.tar"), tar, |_| 1 << 20).expect("tar")
}

fn ls(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn lays_out_files_and_directories_with_fixed_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = super::super::archive::write(
        Path::new("t.tar"),
        &[("a/b/c.crt", b"C"), ("a/d.crt", b"D"), ("e", b"E")],
    )
    .expect("tar");
    let out = dir.path().join("out");
    assert!(!check_out(&out).expect("check"));
    unpack(&out, false, &tar, &members(&tar)).expect("unpack");
    assert_eq!(ls(dir.path()), ["out"]);
    assert_eq!(fs::read(out.join("a/b/c.crt")).expect("read"), b"C");
    for (path, mode) in [
        ("", 0o755),
        ("a", 0o755),
        ("a/b", 0o755),
        ("a/b/c.crt", 0o644),
        ("e", 0o644),
    ] {
        let got = fs::metadata(out.join(path))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(got & 0o777, mode, "{path}");
    }
}

#[test]
fn refuses_targets_that_are_not_new_or_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    assert!(check_out(&empty).expect("empty is fine"));
    fs::write(empty.join("x"), b"x").expect("write");
    assert!(matches!(check_out(&empty), Err(Error::NotEmpty { .. })));
    assert!(matches!(
        check_out(&empty.join("x")),
        Err(Error::Exists { .. })
    ));
    std::os::unix::fs::symlink(dir.path(), dir.path().join("link")).expect("symlink");
    assert!(matches!(
        check_out(&dir.path().join("link")),
        Err(Error::Exists { .. })
    ));
    assert!(matches!(
        check_out(Path::new("/")),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn missing_parents_are_created_and_removed_again_on_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = super::super::archive::write(Path::new("t.tar"), &[("a", b"A")]).expect("tar");
    let out = dir.path().join("x/y/out");
    unpack(&out, false, &tar, &members(&tar)).expect("unpack");
    assert_eq!(fs::read(out.join("a")).expect("read"), b"A");
    assert_eq!(ls(&dir.path().join("x/y")), ["out"]);

    // Members that cannot both be files (never let through by `archive`)
    // make filling fail half-way: nothing at all is left.
    let bad = [
        Member {
            name: "a".into(),
            range: 0..0,
        },
        Member {
            name: "a/b".into(),
            range: 0..0,
        },
    ];
    let out = dir.path().join("p/q/out");
    let err = unpack(&out, false, &tar, &bad).expect_err("fill fails");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(ls(dir.path()), ["x"]);
}

#[test]
fn a_temporary_name_it_did_not_create_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = super::super::archive::write(Path::new("t.tar"), &[("a", b"A")]).expect("tar");
    let squatter = dir
        .path()
        .join(format!("{}out.{}", fsutil::TMP_PREFIX, std::process::id()));
    fs::create_dir(&squatter).expect("mkdir");
    fs::write(squatter.join("keep"), b"not ours").expect("write");
    let err = unpack(&dir.path().join("out"), false, &tar, &members(&tar)).expect_err("taken");
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(ls(&squatter), ["keep"]);
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_target_that_fills_up_meanwhile_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = super::super::archive::write(Path::new("t.tar"), &[("a/b", b"B")]).expect("tar");
    let out = dir.path().join("out");
    fs::create_dir(&out).expect("mkdir");
    assert!(check_out(&out).expect("empty"));
    fs::write(out.join("keep"), b"mine").expect("write");
    let err = unpack(&out, true, &tar, &members(&tar)).expect_err("not empty now");
    assert!(matches!(err, Error::NotEmpty { .. }), "{err}");
    let new = dir.path().join("new");
    assert!(!check_out(&new).expect("new"));
    fs::create_dir(&new).expect("mkdir");
    let err = unpack(&new, false, &tar, &members(&tar)).expect_err("exists now");
    assert!(matches!(err, Error::Exists { .. }), "{err}");
    assert_eq!(ls(dir.path()), ["new", "out"]);
    assert_eq!(ls(&out), ["keep"]);
    assert!(ls(&new).is_empty());
}
