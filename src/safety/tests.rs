//! Tests of the operating-safety checks: the ceremony lock and world-writable directories.

use super::*;

#[test]
fn a_second_lock_names_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.lock");
    let first = lock(&path).expect("first");
    let err = lock(&path).expect_err("second");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(first);
    lock(&path).expect("free again");
}

#[test]
fn world_writable_directories_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    check_not_world_writable(dir.path()).expect("0700 is fine");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = check_not_world_writable(dir.path()).expect_err("0777");
    assert!(err.contains("writable by every user (mode 0777)"), "{err}");
}
