//! Tests of the self-signed root CA profile.

use super::*;

#[test]
fn parses_subjects_and_refuses_bad_ones() {
    let p = RootProfile::new("CN=kubernetes", None).expect("valid");
    assert_eq!(p.subject(), "CN=kubernetes");
    let p = RootProfile::new("CN=etcd-ca,O=example", None).expect("valid");
    assert!(p.subject().contains("CN=etcd-ca"));
    for bad in ["", "O=only-org", "CN"] {
        let err = RootProfile::new(bad, None).expect_err(bad).to_string();
        assert!(err.starts_with(&format!("subject {bad:?}")), "{err}");
    }
}
