//! `.ci/reproducible-build.sh` stays runnable: its shell syntax parses, and
//! the arguments it refuses are refused before anything is built or written.
//! The real run (two cold release builds, minutes) is not part of the suite;
//! docs/reproducible-build.md says how and when to run it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/reproducible-build.sh")
}

fn run(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("run bash")
}

#[test]
fn the_script_parses() {
    let out = Command::new("bash")
        .arg("-n")
        .arg(script())
        .output()
        .expect("run bash -n");
    assert!(
        out.status.success(),
        "bash -n .ci/reproducible-build.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_expected_hash_is_refused_by_name() {
    let out = run(&["--expect", "not-a-hash"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "reproducible-build: --expect not-a-hash: not a SHA-256 (64 hex digits)\n"
    );
}

#[test]
fn an_existing_out_file_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_file = dir.path().join("ceremony");
    fs::write(&out_file, "the operator's binary").expect("write");
    let arg = out_file.to_str().expect("utf-8 temp path");
    let out = run(&["--out", arg]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("reproducible-build: --out {arg}: the file exists; this script never overwrites\n")
    );
    assert_eq!(
        fs::read_to_string(&out_file).expect("read"),
        "the operator's binary"
    );
}

#[test]
fn an_unknown_argument_is_named() {
    let out = run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.ends_with("reproducible-build: unknown argument --bogus\n"),
        "{stderr}"
    );
    assert!(stderr.starts_with("usage: "), "{stderr}");
}
