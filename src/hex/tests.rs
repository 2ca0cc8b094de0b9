//! Tests of lowercase hexadecimal, with property tests.

use proptest::prelude::*;

proptest! {
    #[test]
    fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(super::decode(&super::encode(&bytes)), Some(bytes));
    }
}

#[test]
fn rejects_bad_hex() {
    assert_eq!(super::decode("abc"), None);
    assert_eq!(super::decode("zz"), None);
    assert_eq!(super::colon(&[0xab, 0x01]), "AB:01");
}
