//! Tests of what an approved request becomes: CIDR SANs and subject order.

use super::*;

#[test]
fn cidrs_become_address_and_mask() {
    assert_eq!(
        cidr_bytes("10.0.0.0/8").expect("v4"),
        vec![10, 0, 0, 0, 255, 0, 0, 0]
    );
    assert_eq!(
        cidr_bytes("192.168.4.0/22").expect("v4"),
        vec![192, 168, 4, 0, 255, 255, 252, 0]
    );
    assert_eq!(cidr_bytes("fd00::/8").expect("v6").len(), 32);
    assert!(cidr_bytes("10.0.0.1/8")
        .expect_err("host bits")
        .contains("host bits"));
    assert!(cidr_bytes("10.0.0.0").is_err());
    assert!(cidr_bytes("10.0.0.0/33").is_err());
}

#[test]
fn subjects_put_o_before_cn() {
    let n = subject_name("system:node:w1", &["system:nodes".into()]).expect("name");
    assert_eq!(n.to_string(), "CN=system:node:w1,O=system:nodes");
}
