//! Tests of the file digests `ceremony_start` records.

use super::*;

#[test]
fn a_file_is_recorded_by_path_and_the_sha256_of_its_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("module.so");
    std::fs::write(&path, b"abc").expect("write");
    let d = file(&path);
    assert_eq!(d.path, path.display().to_string());
    // FIPS 180-2's example for "abc".
    assert_eq!(
        d.sha256.as_deref(),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(d.error, None);
    // More than one read block.
    let big = vec![7u8; 200 * 1024 + 3];
    std::fs::write(&path, &big).expect("write");
    assert_eq!(file(&path).sha256, Some(hex::encode(&Sha256::digest(&big))));
}

#[test]
fn a_file_that_cannot_be_read_is_recorded_with_the_reason() {
    let d = file(Path::new("/nonexistent/libpkcs11.so"));
    assert_eq!(d.path, "/nonexistent/libpkcs11.so");
    assert_eq!(d.sha256, None);
    let error = d.error.expect("a reason");
    assert!(error.contains("No such file"), "{error}");
}

#[test]
fn the_running_binary_is_found_and_hashed() {
    let d = binary();
    assert!(Path::new(&d.path).is_file(), "{d:?}");
    assert_eq!(d.sha256.map(|s| s.len()), Some(64), "{:?}", d.error);
}
