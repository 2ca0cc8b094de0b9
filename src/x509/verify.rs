//! Software verification of signatures, used right after the token signs.

use der::oid::ObjectIdentifier;
use signature::Verifier;
use spki::{AlgorithmIdentifierOwned, DecodePublicKey};

use crate::oid::*;

/// Verifies `sig` over `msg` with the DER SubjectPublicKeyInfo `spki_der`
/// under signature algorithm `alg`. The error says why it failed.
pub fn verify_signature(
    spki_der: &[u8],
    alg: &AlgorithmIdentifierOwned,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let spki = spki::SubjectPublicKeyInfoRef::try_from(spki_der)
        .map_err(|e| format!("cannot parse public key: {e}"))?;
    let curve = if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
        spki.algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
    } else {
        None
    };
    let bad = |e: signature::Error| format!("signature check failed: {e}");
    let digest = |oid| -> Option<Vec<u8>> {
        use sha2::Digest;
        match oid {
            ECDSA_WITH_SHA256 => Some(sha2::Sha256::digest(msg).to_vec()),
            ECDSA_WITH_SHA384 => Some(sha2::Sha384::digest(msg).to_vec()),
            ECDSA_WITH_SHA512 => Some(sha2::Sha512::digest(msg).to_vec()),
            _ => None,
        }
    };
    match (alg.oid, curve) {
        (oid, Some(SECP256R1)) if digest(oid).is_some() => {
            use signature::hazmat::PrehashVerifier;
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|e| format!("P-256 key: {e}"))?;
            let sig = p256::ecdsa::Signature::from_der(sig).map_err(bad)?;
            let hash = digest(oid).expect("matched above");
            key.verify_prehash(&hash, &sig).map_err(bad)
        }
        (oid, Some(SECP384R1)) if digest(oid).is_some() => {
            use signature::hazmat::PrehashVerifier;
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|e| format!("P-384 key: {e}"))?;
            let sig = p384::ecdsa::Signature::from_der(sig).map_err(bad)?;
            let hash = digest(oid).expect("matched above");
            key.verify_prehash(&hash, &sig).map_err(bad)
        }
        (ED25519, None) if spki.algorithm.oid == ED25519 => {
            let key = ed25519_dalek::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|e| format!("Ed25519 key: {e}"))?;
            let sig = ed25519_dalek::Signature::from_slice(sig).map_err(bad)?;
            key.verify_strict(msg, &sig).map_err(bad)
        }
        (SHA256_WITH_RSA | SHA384_WITH_RSA | SHA512_WITH_RSA, None)
            if spki.algorithm.oid == RSA_ENCRYPTION =>
        {
            let key = rsa::PublicKey::from_public_key_der(spki_der)
                .map_err(|e| format!("RSA key: {e}"))?;
            let sig = rsa::pkcs1v15::Signature::try_from(sig).map_err(bad)?;
            match alg.oid {
                SHA256_WITH_RSA => rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                    .verify(msg, &sig)
                    .map_err(bad),
                SHA384_WITH_RSA => rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key)
                    .verify(msg, &sig)
                    .map_err(bad),
                _ => rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key)
                    .verify(msg, &sig)
                    .map_err(bad),
            }
        }
        (oid, _) => Err(format!(
            "signature algorithm {oid} does not fit the key or is not supported"
        )),
    }
}

#[cfg(test)]
mod tests {
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
}
