//! The private keys already in a kubeadm tree, read only to derive their
//! public half (held in zeroizing buffers, never copied or printed).

use std::path::Path;

use spki::EncodePublicKey;
use zeroize::Zeroizing;

use super::{tree_err, Error};

/// The largest key file read.
pub(super) const MAX_KEY_BYTES: u64 = 64 * 1024;

pub(super) fn read_key_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| tree_err(path, format!("the private key beside the certificate: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_KEY_BYTES {
        return Err(tree_err(path, "is not a regular key file"));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| tree_err(path, e.to_string()))?);
    let text = std::str::from_utf8(&bytes).map_err(|_| tree_err(path, "is not a PEM key"))?;
    Ok(Zeroizing::new(text.to_string()))
}

/// The DER SubjectPublicKeyInfo of a PEM private key (PKCS#8, PKCS#1 RSA,
/// or SEC1 P-256/P-384).
pub fn public_key_of(pem: &str) -> Result<Vec<u8>, String> {
    use p256::pkcs8::DecodePrivateKey;
    let (label, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| format!("not a PEM key: {e}"))?;
    let der = Zeroizing::new(der);
    let spki = match label {
        "PRIVATE KEY" => {
            if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(&der) {
                k.to_public_key().to_public_key_der()
            } else if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
                k.public_key().to_public_key_der()
            } else if let Ok(k) = p384::SecretKey::from_pkcs8_der(&der) {
                k.public_key().to_public_key_der()
            } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(&der) {
                k.verifying_key().to_public_key_der()
            } else {
                return Err("a PKCS#8 key of a type this tool does not read".into());
            }
        }
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::PrivateKey::from_pkcs1_der(&der)
                .map_err(|e| format!("bad RSA key: {e}"))?
                .to_public_key()
                .to_public_key_der()
        }
        "EC PRIVATE KEY" => {
            if let Ok(k) = p256::SecretKey::from_sec1_der(&der) {
                k.public_key().to_public_key_der()
            } else {
                p384::SecretKey::from_sec1_der(&der)
                    .map_err(|e| format!("bad EC key: {e}"))?
                    .public_key()
                    .to_public_key_der()
            }
        }
        other => return Err(format!("PEM label {other:?} is not a private key")),
    };
    spki.map(|d| d.into_vec()).map_err(|e| e.to_string())
}
