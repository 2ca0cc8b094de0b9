//! The request bundle reader: the input is written to a file and opened
//! with its real SHA-256 pinned, so everything after the digest check (the
//! strict tar rules, the manifest, the CSR members) is exercised. Each input
//! is tried as given and, when that differs, with its tar header checksums
//! corrected.
#![no_main]

use ceremony::bundle::request::RequestBundle;
use libfuzzer_sys::fuzz_target;

fn check(data: &[u8]) {
    let path = ceremony_fuzz::write_scratch("request.tar", data);
    let sha256 = ceremony_fuzz::sha256_hex(data);
    let Ok(bundle) = RequestBundle::open(&path, &sha256) else {
        return;
    };
    assert_eq!(bundle.sha256, sha256);
    assert!(!bundle.manifest.requests.is_empty());
    for entry in &bundle.manifest.requests {
        let csr = bundle
            .csr(entry)
            .expect("every entry of an opened bundle has its CSR");
        assert_eq!(
            ceremony_fuzz::sha256_hex(&csr),
            entry.csr_sha256.to_ascii_lowercase(),
            "request {}: the CSR handed out is not the one the manifest pins",
            entry.id
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut fixed = data.to_vec();
    if ceremony_fuzz::fix_tar_checksums(&mut fixed) {
        check(&fixed);
    }
});
