//! Tests of software signature verification: raw to DER signatures, compressed points, refusals.

use super::*;
use proptest::prelude::*;
use signature::Signer;
use spki::EncodePublicKey;

fn p256_key(seed: u8) -> p256::ecdsa::SigningKey {
    let mut bytes = [seed.max(1); 32];
    bytes[0] = 0x11;
    p256::ecdsa::SigningKey::from_slice(&bytes).expect("valid scalar")
}

proptest! {
    // The token returns r||s; we convert with from_slice + to_der. The
    // DER form must verify and must round-trip back to the same r||s.
    #[test]
    fn raw_signature_converts_to_der_that_verifies(msg in proptest::collection::vec(any::<u8>(), 0..256), seed in any::<u8>()) {
        let key = p256_key(seed);
        let sig: p256::ecdsa::Signature = key.sign(&msg);
        let rs = sig.to_bytes();
        let der = p256::ecdsa::Signature::from_slice(&rs).expect("r||s").to_der();
        let back = p256::ecdsa::Signature::from_der(der.as_bytes()).expect("der");
        prop_assert_eq!(back.to_bytes(), rs);
        let spki = key.verifying_key().to_public_key_der().expect("spki");
        let alg = AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA256, parameters: None };
        prop_assert!(verify_signature(spki.as_bytes(), &alg, &msg, der.as_bytes()).is_ok());
    }
}

#[test]
fn a_compressed_point_is_verified_too() {
    // ring takes uncompressed points only; the fallback must give the same answer.
    let key = p256_key(9);
    let sig: p256::ecdsa::Signature = key.sign(b"tbs");
    let der = sig.to_der();
    let point = key.verifying_key().to_sec1_point(true);
    let spki = spki::SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::from(&SECP256R1)),
        },
        subject_public_key: der::asn1::BitString::from_bytes(point.as_bytes()).expect("bits"),
    };
    let spki = der::Encode::to_der(&spki).expect("spki");
    let alg = AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    };
    assert_eq!(
        verify_signature(&spki, &alg, b"tbs", der.as_bytes()),
        Ok(())
    );
    let err = verify_signature(&spki, &alg, b"tbz", der.as_bytes()).expect_err("changed");
    assert!(err.contains("signature check failed"), "{err}");
}

#[test]
fn rejects_a_changed_message_and_a_mismatched_algorithm() {
    let key = p256_key(7);
    let sig: p256::ecdsa::Signature = key.sign(b"tbs");
    let der = sig.to_der();
    let spki = key.verifying_key().to_public_key_der().expect("spki");
    let alg = AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    };
    let err = verify_signature(spki.as_bytes(), &alg, b"tbz", der.as_bytes())
        .expect_err("changed message");
    assert!(err.contains("signature check failed"), "{err}");
    let rsa_alg = AlgorithmIdentifierOwned {
        oid: SHA256_WITH_RSA,
        parameters: None,
    };
    let err = verify_signature(spki.as_bytes(), &rsa_alg, b"tbs", der.as_bytes())
        .expect_err("wrong algorithm");
    assert!(err.contains("does not fit the key"), "{err}");
}
