use super::*;
use crate::ceremony::steps::{generate_root, issue_crl};
use crate::token::KeyAlgorithm;
use issue_crl::{RevocationReason, Revoke};

/// The typed spec of step `i`, as its type read it.
fn spec<T: 'static>(s: &Script, i: usize) -> &T {
    s.steps[i]
        .spec
        .as_any()
        .downcast_ref::<T>()
        .expect("a step of that type")
}

const MINIMAL: &str = r#"
[ceremony]
name = "t"
[token]
module = "/m.so"
label = "ceremony"
[participants]
operator = "Op"
[output]
transcript = "t.jsonl"
directory = "pki"
[[step]]
action = "generate-root"
id = "cluster-root"
key_label = "cluster-root-ca"
algorithm = "ecdsa-p256"
subject = "CN=kubernetes"
certificate = "ca.crt"
"#;

#[test]
fn parses_with_defaults() {
    let s = parse(MINIMAL).expect("valid");
    assert_eq!(s.steps[0].action, "generate-root");
    let g: &generate_root::Spec = spec(&s, 0);
    assert_eq!(g.validity_days, 3650);
    assert_eq!(g.backdate_minutes, 5);
    assert_eq!(g.algorithm, KeyAlgorithm::EcdsaP256);
}

const CRL_STEP: &str = r#"
[[step]]
action = "issue-crl"
id = "revoke"
crl = "x.crl"
[step.issuer]
key_label = "cluster-root-ca"
certificate = "pki/ca.crt"
[[step.revoke]]
serial = "01"
reason = "key-compromise"
revoked_at = 2026-05-01T12:00:00Z
[[step.revoke]]
certificate = "a.crt"
reason = "ca-compromise"
revoked_at = "2026-05-02T00:00:00Z"
"#;

#[test]
fn parses_an_issue_crl_step() {
    let s = parse(&format!("{MINIMAL}{CRL_STEP}")).expect("valid");
    assert_eq!(s.steps[1].action, "issue-crl");
    let c: &issue_crl::Spec = spec(&s, 1);
    assert_eq!(c.next_update_days, 30);
    assert_eq!(c.revoke.len(), 2);
    assert_eq!(c.revoke[0].reason, RevocationReason::KeyCompromise);
    assert_eq!(c.revoke[1].reason.name(), "ca-compromise");
    let t = |r: &Revoke| r.revoked_at.expect("given").0.to_string();
    assert_eq!(t(&c.revoke[0]), "2026-05-01T12:00:00Z", "TOML date-time");
    assert_eq!(t(&c.revoke[1]), "2026-05-02T00:00:00Z", "string");
}

#[test]
fn refuses_bad_crl_values() {
    for (from, to, needle) in [
        (
            "reason = \"key-compromise\"",
            "reason = \"keyCompromise\"",
            "revoke[0].reason: unknown variant `keyCompromise`, expected one of `unspecified`, `key-compromise`",
        ),
        (
            "revoked_at = 2026-05-01T12:00:00Z",
            "revoked_at = 2026-05-01T12:00:00+02:00",
            "revoke[0].revoked_at: \"2026-05-01T12:00:00+02:00\" is not an RFC 3339 UTC time to the second",
        ),
        (
            "revoked_at = 2026-05-01T12:00:00Z",
            "revoked_at = 5",
            "revoke[0].revoked_at: expected an RFC 3339 UTC time like 2026-05-01T12:00:00Z, not a integer",
        ),
        ("crl = \"x.crl\"", "crl = \"x.crl\"\nnumber = 4", "number"),
        ("serial = \"01\"", "serial = \"01\"\nhold = true", "hold"),
    ] {
        let text = format!("{MINIMAL}{CRL_STEP}").replacen(from, to, 1);
        let err = parse(&text).expect_err(to);
        assert!(err.contains(needle), "{to}: {err}");
    }
}

#[test]
fn rejects_unknown_keys_everywhere() {
    for (from, to, needle) in [
        ("[token]\n", "[token]\ncolour = 1\n", "colour"),
        (
            "subject = \"CN=kubernetes\"",
            "subject = \"CN=kubernetes\"\nextractable = true",
            "extractable",
        ),
        (
            "operator = \"Op\"",
            "operator = \"Op\"\npin = \"1234\"",
            "pin",
        ),
        (
            "action = \"generate-root\"",
            "action = \"launch\"",
            "launch",
        ),
        (
            "algorithm = \"ecdsa-p256\"",
            "algorithm = \"rsa-1024\"",
            "rsa-1024",
        ),
        (
            "certificate = \"ca.crt\"",
            "certificate = \"ca.crt\"\nvalidity_days = \"x\"",
            "validity_days",
        ),
    ] {
        let text = MINIMAL.replacen(from, to, 1);
        let err = parse(&text).expect_err(to);
        assert!(err.contains(needle), "{to}: {err}");
    }
}
