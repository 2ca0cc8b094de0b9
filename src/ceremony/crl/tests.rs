//! Tests of the issue-crl step: CRL numbers per issuer and reason codes.

use super::*;
use serde_json::json;

fn crl_event(label: &str, sha: &str, number: u64, serials: &[&str]) -> serde_json::Value {
    json!({
        "type": "crl_issued",
        "issuer_key_label": label,
        "issuer_certificate_sha256": sha,
        "crl_number": number,
        "revoked": serials.iter().map(|s| json!({"serial": s, "reason": "superseded"})).collect::<Vec<_>>(),
    })
}

#[test]
fn the_number_follows_the_highest_of_the_same_issuer() {
    let mut h = CrlHistory::default();
    assert_eq!(h.next_number(), Some(1));
    for e in [
        json!({"type": "certificate_issued", "crl_number": 99}),
        crl_event("cluster-root-ca", "aa", 1, &["01"]),
        crl_event("etcd-root-ca", "bb", 7, &["02"]),
        crl_event("other-label", "aa", 3, &["03", "04"]),
        crl_event("cluster-root-ca", "cc", 2, &["05"]),
    ] {
        h.observe(&e, "cluster-root-ca", "aa");
    }
    assert_eq!(h.last_number, 3, "matched by certificate digest too");
    assert_eq!(h.next_number(), Some(4));
    assert_eq!(
        h.revoked,
        vec![
            ("03".to_string(), "superseded".to_string()),
            ("04".to_string(), "superseded".to_string())
        ]
    );
    let dropped = h.dropped(["04", "09"].into_iter());
    assert_eq!(dropped.len(), 1);
    assert!(
        dropped[0].starts_with(
            "serial 03 (superseded) is revoked by this issuer's CRL #3 but not listed here"
        ),
        "{dropped:?}"
    );
    h.last_number = u64::MAX;
    assert_eq!(h.next_number(), None);
}

#[test]
fn unspecified_writes_no_reason_code() {
    assert_eq!(reason_code(RevocationReason::Unspecified), None);
    assert_eq!(
        reason_code(RevocationReason::CaCompromise),
        Some(CrlReason::CaCompromise)
    );
}
