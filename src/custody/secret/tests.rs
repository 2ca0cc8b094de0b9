use super::*;
use proptest::prelude::*;

fn hex_of(scalar: &Scalar) -> String {
    crate::hex::encode(&scalar.to_repr())
}

fn inputs() -> ([u8; 64], [u8; 64]) {
    let token: [u8; 64] = std::array::from_fn(|i| i as u8);
    let os: [u8; 64] = std::array::from_fn(|i| (i + 64) as u8);
    (token, os)
}

// The expected values were computed outside this crate, with Python's
// hashlib and integer arithmetic:
//   int(sha512(b"ceremony/custody-secret/1" + b"\0" + token + os)) mod n
//   sha256(b"ceremony/backup-wrap-key/1" + (0x1234).to_bytes(32, "big"))
//   sha256(b"ceremony/user-pin/1" + (0x1234).to_bytes(32, "big"))[:32 hex]

#[test]
fn secret_from_entropy_is_sha512_reduced_mod_the_order() {
    let (token, os) = inputs();
    assert_eq!(
        hex_of(&secret_from_entropy(&token, &os)),
        "7dcd8dfe6442fd5788330a794c56aecf68c8f0568b3e2697a7e672c0733fe851"
    );
}

#[test]
fn wrap_key_and_user_pin_match_an_outside_computation() {
    let secret = Scalar::from(0x1234u64);
    assert_eq!(
        crate::hex::encode(wrap_key(&secret).as_slice()),
        "066deb09fcc1df9938fd012dc6524ba9dffb4cb0c1bc1687a5e3588171216f4d"
    );
    assert_eq!(
        user_pin(&secret).as_str(),
        "2db821f9619e6e5e19167129db58f6f3"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn either_source_changes_the_secret(bit in 0usize..512, token_side: bool) {
        let (mut token, mut os) = inputs();
        let before = secret_from_entropy(&token, &os);
        let side = if token_side { &mut token } else { &mut os };
        side[bit / 8] ^= 1 << (bit % 8);
        let after = secret_from_entropy(&token, &os);
        prop_assert_ne!(*before, *after);
        prop_assert!(!bool::from(after.is_zero()));
    }

    #[test]
    fn the_sources_are_not_interchangeable(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        prop_assume!(a != b);
        let mut x = [0u8; 64];
        let mut y = [0u8; 64];
        x[..32].copy_from_slice(&a);
        y[..32].copy_from_slice(&b);
        prop_assert_ne!(*secret_from_entropy(&x, &y), *secret_from_entropy(&y, &x));
    }

    #[test]
    fn the_derived_values_are_separate(seed in any::<u64>()) {
        let secret = Scalar::from(seed) + Scalar::ONE;
        let key = wrap_key(&secret);
        let pin = user_pin(&secret);
        prop_assert_eq!(pin.len(), 32);
        prop_assert!(pin.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        // Neither value gives the other, and neither is the secret's bytes.
        prop_assert!(!crate::hex::encode(key.as_slice()).starts_with(pin.as_str()));
        let repr = secret.to_repr();
        prop_assert_ne!(key.as_slice(), repr.as_slice());
        prop_assert_ne!(*wrap_key(&(secret + Scalar::ONE)), *key);
    }
}
