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
    if let Some(verified) = verify_with_ring(&spki, alg.oid, curve, msg, sig) {
        return verified;
    }
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

/// The fast path: `ring` verifies ECDSA on P-256 and P-384 with SHA-256 or
/// SHA-384, and RSA PKCS#1 v1.5 with keys of 2048 to 8192 bits, several
/// times faster than the pure-Rust crates. `None` when ring does not cover
/// the combination (or the key encoding, e.g. a compressed point); the
/// caller then verifies with RustCrypto, so the answer never depends on
/// which path ran, only the speed.
fn verify_with_ring(
    spki: &spki::SubjectPublicKeyInfoRef<'_>,
    alg: ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
    msg: &[u8],
    sig: &[u8],
) -> Option<Result<(), String>> {
    use ring::signature as rs;
    let key = spki.subject_public_key.as_bytes()?;
    let algorithm: &dyn rs::VerificationAlgorithm = match (alg, curve) {
        (ECDSA_WITH_SHA256, Some(SECP256R1)) => &rs::ECDSA_P256_SHA256_ASN1,
        (ECDSA_WITH_SHA384, Some(SECP256R1)) => &rs::ECDSA_P256_SHA384_ASN1,
        (ECDSA_WITH_SHA256, Some(SECP384R1)) => &rs::ECDSA_P384_SHA256_ASN1,
        (ECDSA_WITH_SHA384, Some(SECP384R1)) => &rs::ECDSA_P384_SHA384_ASN1,
        (SHA256_WITH_RSA | SHA384_WITH_RSA | SHA512_WITH_RSA, None)
            if spki.algorithm.oid == RSA_ENCRYPTION =>
        {
            let bits = rsa_modulus_bits(key)?;
            if !(2048..=8192).contains(&bits) {
                return None;
            }
            match alg {
                SHA256_WITH_RSA => &rs::RSA_PKCS1_2048_8192_SHA256,
                SHA384_WITH_RSA => &rs::RSA_PKCS1_2048_8192_SHA384,
                _ => &rs::RSA_PKCS1_2048_8192_SHA512,
            }
        }
        _ => return None,
    };
    // ring takes uncompressed points only.
    if curve.is_some() && key.first() != Some(&0x04) {
        return None;
    }
    Some(
        rs::UnparsedPublicKey::new(algorithm, key)
            .verify(msg, sig)
            .map_err(|_| "signature check failed: signature error".to_string()),
    )
}

/// The bit length of an RSAPublicKey's modulus, or `None` if it does not parse.
fn rsa_modulus_bits(key: &[u8]) -> Option<usize> {
    use der::{asn1::UintRef, Decode, Reader, SliceReader};
    let mut reader = SliceReader::new(key).ok()?;
    let modulus = reader
        .sequence(|r| {
            let modulus = UintRef::decode(r)?;
            UintRef::decode(r)?;
            Ok::<_, der::Error>(modulus)
        })
        .ok()?;
    let modulus = modulus.as_bytes();
    let first = *modulus.first()?;
    Some(modulus.len() * 8 - first.leading_zeros() as usize)
}

#[cfg(test)]
mod tests;
