//! Tests of the kubeadm errors' hints: chosen by the kind of rule, not by
//! the words of the message.

use super::*;

#[test]
fn hints_follow_the_kind_of_rule() {
    let p = Path::new("pki/apiserver.crt");
    let occupied = tree_rule(
        p,
        TreeRule::Occupied,
        "already holds a different certificate",
    );
    assert_eq!(
        occupied.to_string(),
        "pki/apiserver.crt: already holds a different certificate"
    );
    assert!(occupied.hint().is_some_and(|h| h.contains("--force")));
    let mismatch = tree_rule(p, TreeRule::KeyMismatch, "does not match the certificate");
    assert!(mismatch
        .hint()
        .is_some_and(|h| h.contains("issued for other keys")));
    // The same words under another kind give no hint.
    assert_eq!(tree_err(p, "already does not match").hint(), None);
}
