//! Tests of the issue-crl step: CRL numbers per issuer and reason codes.

use super::*;
use serde_json::json;

fn crl_event(label: &str, sha: &str, number: u64, serials: &[&str]) -> serde_json::Value {
    json!({
        "type": "crl_issued",
        "step": "crl",
        "issuer": "CN=kubernetes",
        "issuer_key_label": label,
        "issuer_certificate": "ca.crt",
        "issuer_certificate_sha256": sha,
        "crl_number": number,
        "this_update": "2026-11-23T13:45:00Z",
        "next_update": "2026-12-23T13:45:00Z",
        "revoked": serials.iter().map(|s| json!({"serial": s, "reason": "superseded", "revoked_at": "2026-11-23T13:45:00Z"})).collect::<Vec<_>>(),
        "file": "ca.crl",
        "sha256": "ff",
    })
}

fn typed(event: serde_json::Value) -> Event<'static> {
    serde_json::from_value(event).expect("an event")
}

#[test]
fn a_crl_issued_that_does_not_read_fails_instead_of_restarting_at_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.jsonl");
    let earlier = crl_event("cluster-root-ca", "aa", 5, &["01"]);
    std::fs::write(
        &path,
        crate::checkpoint::tests::chain(std::slice::from_ref(&earlier)),
    )
    .expect("write");
    let h = CrlHistory::read(&path, "cluster-root-ca", "aa").expect("reads");
    assert_eq!(h.next_number(), Some(6));

    // A re-chained transcript whose crl_issued lost its number (a renamed
    // field) is refused at that entry.
    let mut renamed = earlier.clone();
    let number = renamed
        .as_object_mut()
        .and_then(|m| m.remove("crl_number"))
        .expect("had a number");
    renamed["number"] = number;
    std::fs::write(&path, crate::checkpoint::tests::chain(&[renamed])).expect("write");
    let err = CrlHistory::read(&path, "cluster-root-ca", "aa").expect_err("must fail");
    assert!(
        err.to_string().starts_with("transcript ")
            && err
                .to_string()
                .contains("entry 0 (line 1): crl_issued event: missing field `crl_number`"),
        "{err}"
    );
}

#[test]
fn the_number_follows_the_highest_of_the_same_issuer() {
    let mut h = CrlHistory::default();
    assert_eq!(h.next_number(), Some(1));
    for e in [
        typed(json!({"type": "step_failed", "step": "cluster-root-ca", "error": "aa"})),
        typed(crl_event("cluster-root-ca", "aa", 1, &["01"])),
        typed(crl_event("etcd-root-ca", "bb", 7, &["02"])),
        typed(crl_event("other-label", "aa", 3, &["03", "04"])),
        typed(crl_event("cluster-root-ca", "cc", 2, &["05"])),
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
        dropped[0].to_string().starts_with(
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
