//! Tests of writing outputs: never over an existing file, temporaries cleaned up only when ours.

use super::*;

#[test]
fn never_overwrites_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ca.crt");
    write_new(&path, b"first", 0o644).expect("first write");
    let err = write_new(&path, b"second", 0o644).expect_err("must not overwrite");
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(fs::read(&path).expect("read"), b"first");
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("ca.crt")]);
}

#[test]
fn only_a_dead_processs_temporaries_of_the_named_outputs_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A PID no process has: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let dead = child.id();
    child.wait().expect("wait");
    let live = std::process::id();
    let name = |n: &str| dir.path().join(n);
    for n in [
        format!("{TMP_PREFIX}out.tar.age.{dead}"),
        format!("{TMP_PREFIX}out.tar.age.sha256.{dead}"),
        format!("{TMP_PREFIX}out.tar.age.{live}"),
        format!("{TMP_PREFIX}other.crt.{dead}"),
        format!("{TMP_PREFIX}out.tar.age.x{dead}"),
        format!("{TMP_PREFIX}private.0123456789abcdef"),
        "out.tar.age".to_string(),
    ] {
        fs::write(name(&n), b"x").expect("write");
    }
    // A dead process's temporary directory (write_tree), with a file and a
    // link to a file outside it: removed whole, the link not followed.
    let tmp_dir = name(&format!("{TMP_PREFIX}out.crt.{dead}"));
    fs::create_dir_all(tmp_dir.join("shares")).expect("mkdir");
    fs::write(tmp_dir.join("shares/01-a.age"), b"x").expect("write");
    std::os::unix::fs::symlink(name("out.tar.age"), tmp_dir.join("link")).expect("symlink");
    std::os::unix::fs::symlink("out.tar.age", name(&format!("{TMP_PREFIX}out.pem.{dead}")))
        .expect("symlink");
    let names: Vec<&std::ffi::OsStr> = ["out.tar.age", "out.tar.age.sha256", "out.crt", "out.pem"]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    let stale = remove_stale_temporaries(dir.path(), &names).expect("clean");
    assert_eq!(stale.kept, vec![]);
    let mut removed = stale.removed;
    removed.sort();
    assert_eq!(
        removed,
        vec![
            name(&format!("{TMP_PREFIX}out.crt.{dead}")),
            name(&format!("{TMP_PREFIX}out.tar.age.{dead}")),
            name(&format!("{TMP_PREFIX}out.tar.age.sha256.{dead}")),
        ]
    );
    assert_eq!(fs::read(name("out.tar.age")).expect("kept"), b"x");
    let mut left: Vec<String> = fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 6, "{left:?}");
    assert!(left.contains(&format!("{TMP_PREFIX}out.tar.age.{live}")));
    assert_eq!(
        remove_stale_temporaries(&dir.path().join("missing"), &names).expect("missing"),
        Stale::default()
    );
}

#[test]
fn a_temporary_name_it_did_not_create_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.crt");
    let squatter = dir
        .path()
        .join(format!("{TMP_PREFIX}x.crt.{}", std::process::id()));
    fs::write(&squatter, b"not ours").expect("write");
    assert!(write_new(&path, b"data", 0o644).is_err());
    assert_eq!(fs::read(&squatter).expect("still there"), b"not ours");
    assert!(!path.exists());
}
