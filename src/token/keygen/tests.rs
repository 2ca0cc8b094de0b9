//! Tests of the key policy checks and DER unwrapping that need no token.

use super::*;

#[test]
fn octet_string_unwrap() {
    assert_eq!(
        unwrap_octet_string(&[0x04, 0x02, 0xaa, 0xbb]),
        Some(&[0xaa, 0xbb][..])
    );
    let mut long = vec![0x04, 0x81, 0x81];
    long.extend([7u8; 0x81]);
    assert_eq!(unwrap_octet_string(&long).map(|b| b.len()), Some(0x81));
    assert_eq!(unwrap_octet_string(&[0x04, 0x03, 0xaa]), None);
    assert_eq!(unwrap_octet_string(&[0x03, 0x01, 0xaa]), None);
}

#[test]
fn policy_flags_each_bad_attribute() {
    let good = KeyAttributes {
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        always_sensitive: true,
        never_extractable: true,
        local: true,
        sign: true,
        decrypt: false,
        unwrap: false,
        derive: false,
    };
    assert_eq!(good.policy_violation(), None);
    let mut bad = good.clone();
    bad.extractable = true;
    assert_eq!(
        bad.policy_violation(),
        Some(("CKA_EXTRACTABLE", true, false))
    );
    let mut bad = good;
    bad.local = false;
    assert_eq!(bad.policy_violation(), Some(("CKA_LOCAL", false, true)));
}
