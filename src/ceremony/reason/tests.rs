//! Tests for refusal reasons: their text (the transcript keeps it) and the
//! hint each kind leads to.

use super::*;

#[test]
fn each_kind_reads_as_before_and_picks_its_hint_by_kind() {
    let exists = Reason::KeyLabelExists {
        step: "root".into(),
        label: "ca".into(),
        token: "ceremony".into(),
    };
    assert_eq!(
        exists.to_string(),
        "step \"root\": key label \"ca\" already exists in token \"ceremony\""
    );
    let output = Reason::OutputExists {
        path: "pki/ca.crt".into(),
    };
    assert_eq!(output.to_string(), "output pki/ca.crt already exists");
    assert_eq!(exists.hint(), output.hint());
    assert!(exists.hint().expect("a hint").contains("never overwrites"));

    let unrevoke = Reason::WouldUnrevoke {
        serial: "4a".into(),
        reason: "superseded".into(),
        crl_number: 3,
    };
    assert!(unrevoke
        .to_string()
        .starts_with("serial 4a (superseded) is revoked by this issuer's CRL #3"));
    assert!(unrevoke.hint().expect("a hint").contains("[[step.revoke]]"));

    // The hint follows the kind, not the words: a rule that happens to say
    // "exists" gets none, and a wrapped reason keeps its own.
    assert_eq!(Reason::Rule("the file exists".into()).hint(), None);
    let wrapped = Reason::in_step("crl", unrevoke.clone());
    assert_eq!(wrapped.hint(), unrevoke.hint());
    assert!(wrapped.to_string().starts_with("step crl: serial 4a"));
    let rejected = Reason::Rejected {
        request: "kubelet".into(),
        rule: "SAN not allowed".into(),
    };
    assert_eq!(rejected.to_string(), "request kubelet: SAN not allowed");
    assert_eq!(rejected.hint(), None);
    assert_eq!(
        joined(&[output, rejected]),
        "output pki/ca.crt already exists; request kubelet: SAN not allowed"
    );
}

#[test]
fn a_pin_refusal_names_the_token_and_the_flag_and_hints_the_fix() {
    use crate::token::PinRefusal;
    for refusal in [PinRefusal::Locked, PinRefusal::MustChange] {
        let reason = Reason::Pin {
            token: "ceremony".into(),
            refusal,
        };
        assert_eq!(reason.to_string(), format!("token \"ceremony\": {refusal}"));
        assert_eq!(reason.hint(), Some(refusal.hint()));
    }
}
