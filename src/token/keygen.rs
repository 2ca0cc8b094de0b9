//! CA key generation inside the token, and reading a key's public half and
//! attributes back.
//!
//! Every private key is created sensitive, non-extractable and sign-only;
//! after generation its attributes are read back and checked, so a token
//! that silently ignores part of the template is caught.

use std::fmt;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spki::EncodePublicKey;

use super::policy::{KeyAttributes, ObjectAttributes};
use super::{Error, Result, Token};
use crate::hex;

/// Key algorithms a CA key may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256, signing with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384, signing with SHA-384.
    EcdsaP384,
    /// RSA with a 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
        })
    }
}

/// DER of the named-curve OIDs, as `CKA_EC_PARAMS` wants them.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

impl KeyAlgorithm {
    fn rsa_bits(self) -> Option<u64> {
        match self {
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// True for the RSA algorithms.
    pub fn is_rsa(self) -> bool {
        self.rsa_bits().is_some()
    }
}

/// The digest an RSA signature uses (ECDSA keys fix their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureHash {
    /// SHA-256 (`CKM_SHA256_RSA_PKCS`).
    #[default]
    Sha256,
    /// SHA-384 (`CKM_SHA384_RSA_PKCS`).
    Sha384,
    /// SHA-512 (`CKM_SHA512_RSA_PKCS`).
    Sha512,
}

/// A key pair in the token, as recorded in the transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The key algorithm.
    pub algorithm: KeyAlgorithm,
    /// The private key's attributes as read back from the token.
    pub attributes: KeyAttributes,
    /// SHA-256 of the DER SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
    /// The DER SubjectPublicKeyInfo.
    #[serde(skip)]
    pub spki_der: Vec<u8>,
    #[serde(skip)]
    pub(crate) private_handle: Option<ObjectHandle>,
}

impl KeyRecord {
    /// Refuses a key whose attributes (as read back) break the CA key policy.
    pub fn check_policy(&self, token: &str) -> Result<()> {
        match self.attributes.policy_violation() {
            None => Ok(()),
            Some((attribute, actual, expected)) => Err(Error::KeyPolicy {
                token: token.to_string(),
                label: self.label.clone(),
                attribute,
                actual: actual.to_string(),
                expected: if expected { "true" } else { "false" },
            }),
        }
    }
}

impl Token {
    /// Generates a CA key pair labelled `label`, refusing an existing label.
    /// The caller records the returned key and then calls
    /// [`KeyRecord::check_policy`] before using it.
    pub fn generate_ca_key(&self, label: &str, algorithm: KeyAlgorithm) -> Result<KeyRecord> {
        if self.label_exists(label)? {
            return Err(Error::LabelExists {
                token: self.identity().label.clone(),
                label: label.to_string(),
            });
        }
        let id = self.random(16)?;
        let label_bytes = label.as_bytes().to_vec();
        let mut public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
            Attribute::Label(label_bytes.clone()),
            Attribute::Id(id.clone()),
        ];
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label_bytes),
            Attribute::Id(id.clone()),
        ];
        let mechanism = match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                public.push(Attribute::EcParams(P256_PARAMS.to_vec()));
                Mechanism::EccKeyPairGen
            }
            KeyAlgorithm::EcdsaP384 => {
                public.push(Attribute::EcParams(P384_PARAMS.to_vec()));
                Mechanism::EccKeyPairGen
            }
            rsa => {
                let bits = rsa.rsa_bits().expect("every non-EC algorithm is RSA");
                public.push(Attribute::ModulusBits(bits.into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        let (pub_handle, priv_handle) = self
            .session()
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| self.call_error(e))?;
        self.describe_key(label, id, algorithm, pub_handle, priv_handle)
    }

    /// Finds the key pair labelled `label` (for signing with an existing CA key).
    pub fn find_key(&self, label: &str) -> Result<KeyRecord> {
        let not_found = || Error::KeyNotFound {
            token: self.identity().label.clone(),
            label: label.to_string(),
        };
        let find = |class| {
            self.session()
                .find_objects(&[
                    Attribute::Class(class),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
                .map_err(|e| self.call_error(e))
        };
        let privs = find(ObjectClass::PRIVATE_KEY)?;
        let pubs = find(ObjectClass::PUBLIC_KEY)?;
        let (&[priv_handle], &[pub_handle]) = (privs.as_slice(), pubs.as_slice()) else {
            return Err(not_found());
        };
        let attrs = self
            .session()
            .get_attributes(priv_handle, &[AttributeType::Id, AttributeType::KeyType])
            .map_err(|e| self.call_error(e))?;
        let mut id = Vec::new();
        let mut key_type = None;
        for a in attrs {
            match a {
                Attribute::Id(v) => id = v,
                Attribute::KeyType(k) => key_type = Some(k),
                _ => {}
            }
        }
        let algorithm = match key_type {
            Some(KeyType::EC) => {
                let params = self.ec_params(pub_handle)?;
                if params == P256_PARAMS {
                    KeyAlgorithm::EcdsaP256
                } else if params == P384_PARAMS {
                    KeyAlgorithm::EcdsaP384
                } else {
                    return Err(self.material(label, "unsupported EC curve"));
                }
            }
            Some(KeyType::RSA) => {
                let bits = self.rsa_public(pub_handle, label)?.1;
                match bits {
                    2048 => KeyAlgorithm::Rsa2048,
                    3072 => KeyAlgorithm::Rsa3072,
                    4096 => KeyAlgorithm::Rsa4096,
                    other => {
                        return Err(self.material(label, &format!("unsupported RSA size {other}")))
                    }
                }
            }
            _ => return Err(self.material(label, "unsupported key type")),
        };
        self.describe_key(label, id, algorithm, pub_handle, priv_handle)
    }

    fn material(&self, label: &str, reason: &str) -> Error {
        Error::KeyMaterial {
            token: self.identity().label.clone(),
            label: label.to_string(),
            reason: reason.to_string(),
        }
    }

    fn ec_params(&self, handle: ObjectHandle) -> Result<Vec<u8>> {
        let attrs = self
            .session()
            .get_attributes(handle, &[AttributeType::EcParams])
            .map_err(|e| self.call_error(e))?;
        Ok(attrs
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcParams(p) => Some(p),
                _ => None,
            })
            .unwrap_or_default())
    }

    /// The RSA public key and its modulus size in bits.
    fn rsa_public(&self, handle: ObjectHandle, label: &str) -> Result<(rsa::PublicKey, usize)> {
        let attrs = self
            .session()
            .get_attributes(
                handle,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            )
            .map_err(|e| self.call_error(e))?;
        let (mut n, mut e) = (Vec::new(), Vec::new());
        for a in attrs {
            match a {
                Attribute::Modulus(v) => n = v,
                Attribute::PublicExponent(v) => e = v,
                _ => {}
            }
        }
        let n = rsa::BoxedUint::from_be_slice_vartime(&n);
        let bits = n.bit_width_vartime() as usize;
        let e = rsa::BoxedUint::from_be_slice_vartime(&e);
        let key = rsa::PublicKey::new(n, e)
            .map_err(|err| self.material(label, &format!("bad RSA public key: {err}")))?;
        Ok((key, bits))
    }

    fn public_key_der(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
        pub_handle: ObjectHandle,
    ) -> Result<Vec<u8>> {
        let der = if algorithm.is_rsa() {
            let (key, bits) = self.rsa_public(pub_handle, label)?;
            if Some(bits as u64) != algorithm.rsa_bits() {
                return Err(
                    self.material(label, &format!("modulus is {bits} bits, not {algorithm}"))
                );
            }
            key.to_public_key_der()
        } else {
            let attrs = self
                .session()
                .get_attributes(pub_handle, &[AttributeType::EcPoint])
                .map_err(|e| self.call_error(e))?;
            let wrapped = attrs
                .into_iter()
                .find_map(|a| match a {
                    Attribute::EcPoint(p) => Some(p),
                    _ => None,
                })
                .ok_or_else(|| self.material(label, "token returned no CKA_EC_POINT"))?;
            let point = unwrap_octet_string(&wrapped)
                .ok_or_else(|| self.material(label, "CKA_EC_POINT is not a DER OCTET STRING"))?;
            let bad_point =
                |e: &dyn fmt::Display| self.material(label, &format!("bad EC point: {e}"));
            match algorithm {
                KeyAlgorithm::EcdsaP256 => p256::PublicKey::from_sec1_bytes(point)
                    .map_err(|e| bad_point(&e))?
                    .to_public_key_der(),
                _ => p384::PublicKey::from_sec1_bytes(point)
                    .map_err(|e| bad_point(&e))?
                    .to_public_key_der(),
            }
        };
        der.map(|d| d.into_vec())
            .map_err(|e| self.material(label, &format!("cannot encode public key: {e}")))
    }

    fn describe_key(
        &self,
        label: &str,
        id: Vec<u8>,
        algorithm: KeyAlgorithm,
        pub_handle: ObjectHandle,
        priv_handle: ObjectHandle,
    ) -> Result<KeyRecord> {
        let spki_der = self.public_key_der(label, algorithm, pub_handle)?;
        let attributes = self.key_attributes(priv_handle)?;
        Ok(KeyRecord {
            label: label.to_string(),
            id: hex::encode(&id),
            algorithm,
            attributes,
            spki_sha256: hex::encode(&Sha256::digest(&spki_der)),
            spki_der,
            private_handle: Some(priv_handle),
        })
    }

    fn key_attributes(&self, handle: ObjectHandle) -> Result<KeyAttributes> {
        Ok(KeyAttributes::from_reported(&self.read_attributes(handle)?))
    }

    /// The key attributes of any object, `None` where the token reports none.
    fn read_attributes(&self, handle: ObjectHandle) -> Result<ObjectAttributes> {
        let attrs = self
            .session()
            .get_attributes(handle, &ObjectAttributes::TYPES)
            .map_err(|e| self.call_error(e))?;
        Ok(ObjectAttributes::collect(&attrs))
    }
}

/// Strips a DER OCTET STRING header (short or long form length).
pub(super) fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, body) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 2 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (body.len() == len).then_some(body)
}

#[cfg(test)]
mod tests;
