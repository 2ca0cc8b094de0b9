//! CA key generation inside the token, and reading a key's public half and
//! attributes back.
//!
//! Every private key is created sensitive and sign-only, under the policy
//! the script chose ([`KeyPolicy`]): never extractable (the default), or
//! extractable only under a trusted wrap key (`CKA_EXTRACTABLE` and
//! `CKA_WRAP_WITH_TRUSTED` true) for a key that is to be backed up.
//! The templates carry the key policy and what the mechanism needs, nothing
//! else: the public template has no `CKA_VERIFY`/`CKA_ENCRYPT`/`CKA_DERIVE`
//! (tpm2-pkcs11 refuses a `CKA_VERIFY` or `CKA_ENCRYPT` that differs from
//! what it derives from the TPM object; they carry no policy), but keeps
//! `CKA_WRAP` false (opencryptoki makes a public RSA key able to wrap when
//! the template is silent). The private template sends every policy
//! attribute, the false ones too (opencryptoki and tpm2-pkcs11 default
//! `CKA_DECRYPT`/`CKA_UNWRAP` to true), except `CKA_DERIVE` on RSA: no
//! PKCS#11 mechanism derives from an RSA key and yubihsm-shell's module
//! before 2.4.0 refuses the attribute in an RSA template. After generation
//! every policy attribute is read back ([`super::policy::read_back`]: one the
//! module cannot report is asked alone, then named unknown, never false)
//! and checked, so a token that silently ignores part of the template is
//! caught; so is the `CKA_ID` the token actually holds, which is recorded
//! and must be held by no object but the new pair.

use std::fmt;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spki::EncodePublicKey;

use super::policy::{read_back, KeyAttributes, KeyPolicy, ObjectAttributes, ReadBack};
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

    /// The curve's `CKA_EC_PARAMS` (DER of its OID); empty for RSA.
    pub(super) fn ec_params(self) -> &'static [u8] {
        match self {
            KeyAlgorithm::EcdsaP256 => P256_PARAMS,
            KeyAlgorithm::EcdsaP384 => P384_PARAMS,
            _ => &[],
        }
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
    /// The private key's `CKA_ID` as the token holds it (read back), hex.
    pub id: String,
    /// The `CKA_ID` the tool asked for, hex, when the token holds another
    /// (a module that shortens it) or reports none; absent when they agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_requested: Option<String>,
    /// How many objects other than the new pair hold its `CKA_ID`, counted
    /// when the key is generated (0 for a key found by label); more than 0
    /// breaks the policy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id_held_by_others: u64,
    /// The key algorithm.
    pub algorithm: KeyAlgorithm,
    /// The policy the key is held to: the one it was generated under, or
    /// for a key found by label the one its attributes claim
    /// ([`KeyPolicy::of`]). Absent in records written before policies were
    /// named, which were all `never-extractable` ([`KeyRecord::policy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<KeyPolicy>,
    /// The private key's attributes as read back from the token. One named
    /// in `unknown` was not reported: its field holds the value that breaks
    /// the policy, never a guessed pass.
    pub attributes: KeyAttributes,
    /// The attributes the token did not report, even asked alone
    /// (`CKA_DERIVE`, …): unknown, and so against the policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
    /// The DER SubjectPublicKeyInfo.
    #[serde(skip)]
    pub spki_der: Vec<u8>,
    #[serde(skip)]
    pub(crate) private_handle: Option<ObjectHandle>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How an attribute the token did not report reads in an error.
const UNKNOWN: &str = "unknown (the token does not report it)";

impl KeyRecord {
    /// The key's policy; `never-extractable` for a record written before
    /// policies were named.
    pub fn policy(&self) -> KeyPolicy {
        self.policy.unwrap_or_default()
    }

    /// Refuses a key whose attributes (as read back) break its policy
    /// ([`KeyRecord::policy`]), an attribute the token did not report among them, and a key
    /// whose `CKA_ID` another object holds or the token does not report.
    pub fn check_policy(&self, token: &str) -> Result<()> {
        let refuse = |attribute: &'static str, actual: String, expected: &'static str| {
            Err(Error::KeyPolicy {
                token: token.to_string(),
                label: self.label.clone(),
                attribute,
                actual,
                expected,
            })
        };
        if let Some((attribute, actual, expected)) =
            self.attributes.policy_violation_under(self.policy())
        {
            let actual = if self.unknown.iter().any(|u| u == attribute) {
                UNKNOWN.to_string()
            } else {
                actual.to_string()
            };
            return refuse(attribute, actual, if expected { "true" } else { "false" });
        }
        if self.unknown.iter().any(|u| u == "CKA_ID") {
            return refuse("CKA_ID", UNKNOWN.to_string(), "reported");
        }
        if self.id_held_by_others > 0 {
            return refuse(
                "CKA_ID",
                format!(
                    "{}, also held by {} other object(s)",
                    self.id, self.id_held_by_others
                ),
                "unique in the token",
            );
        }
        Ok(())
    }
}

impl Token {
    /// Generates a CA key pair labelled `label` under `policy`, refusing an existing label
    /// or a `CKA_ID` some object already holds (nothing is generated then).
    /// The caller records the returned key and then calls
    /// [`KeyRecord::check_policy`] before using it: that refuses, among the
    /// rest, a `CKA_ID` the token holds on another object too (a module that
    /// shortened it), and the key stays in the token, explained by the record.
    pub fn generate_ca_key(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
        policy: KeyPolicy,
    ) -> Result<KeyRecord> {
        if self.label_exists(label)? {
            return Err(Error::LabelExists {
                token: self.identity().label.clone(),
                label: label.to_string(),
            });
        }
        let id = self.random(16)?;
        #[cfg(feature = "fault-injection")]
        let id = super::fault::key_id(id);
        if !self.id_holders(&id)?.is_empty() {
            return Err(Error::BadOutput {
                token: self.identity().label.clone(),
                function: cryptoki::context::Function::GenerateRandom,
                reason: "returned a CKA_ID another object already holds; no key was generated",
            });
        }
        let (mechanism, public, private) = templates(label, &id, algorithm, policy);
        let (pub_handle, priv_handle) = self
            .session()
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| self.call_error(e))?;
        #[cfg(feature = "fault-injection")]
        super::fault::after_generate(self.session(), priv_handle);
        self.describe_key(
            label,
            algorithm,
            pub_handle,
            priv_handle,
            Some((&id, policy)),
        )
    }

    /// Every object that holds `id` as its `CKA_ID`.
    fn id_holders(&self, id: &[u8]) -> Result<Vec<ObjectHandle>> {
        self.session()
            .find_objects(&[Attribute::Id(id.to_vec())])
            .map_err(|e| self.call_error(e))
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
            .get_attributes(priv_handle, &[AttributeType::KeyType])
            .map_err(|e| self.call_error(e))?;
        let key_type = attrs.into_iter().find_map(|a| match a {
            Attribute::KeyType(k) => Some(k),
            _ => None,
        });
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
        self.describe_key(label, algorithm, pub_handle, priv_handle, None)
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

    /// The record of a key pair: its public half, its private key's policy
    /// attributes and `CKA_ID` as read back. `made` is the `CKA_ID` and
    /// policy a key just made was given; then the objects other than the
    /// pair that hold the read-back `CKA_ID` are counted. A key found by
    /// label is held to the policy its attributes claim.
    pub(super) fn describe_key(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
        pub_handle: ObjectHandle,
        priv_handle: ObjectHandle,
        made: Option<(&[u8], KeyPolicy)>,
    ) -> Result<KeyRecord> {
        let requested = made.map(|(id, _)| id);
        let spki_der = self.public_key_der(label, algorithm, pub_handle)?;
        let mut types = KeyAttributes::TYPES.to_vec();
        types.push(AttributeType::Id);
        let read = self.read_back(priv_handle, &types)?;
        let reported = ObjectAttributes::collect(&read.values);
        let attributes = KeyAttributes::from_reported(&reported);
        let policy = made.map_or_else(|| KeyPolicy::of(&reported), |(_, policy)| policy);
        let id = read.values.iter().find_map(|a| match a {
            Attribute::Id(v) => Some(v.clone()),
            _ => None,
        });
        let mut unknown: Vec<String> = read.unknown.iter().map(|t| t.to_string()).collect();
        if policy == KeyPolicy::NeverExtractable {
            // Not part of that policy (a module without it may still hold
            // never-extractable keys); the record leaves it absent.
            unknown.retain(|u| u != "CKA_WRAP_WITH_TRUSTED");
        }
        if requested.is_none() {
            // A key found by label is refused for its policy attributes
            // alone, as before; only a new key must report its CKA_ID.
            unknown.retain(|u| u != "CKA_ID");
        }
        let id_held_by_others = match &id {
            Some(id) if requested.is_some() => {
                let holders = self.id_holders(id)?;
                holders
                    .iter()
                    .filter(|h| **h != pub_handle && **h != priv_handle)
                    .count() as u64
            }
            _ => 0,
        };
        let id_requested = requested
            .filter(|asked| id.as_deref() != Some(*asked))
            .map(hex::encode);
        Ok(KeyRecord {
            label: label.to_string(),
            id: hex::encode(id.as_deref().unwrap_or_default()),
            id_requested,
            id_held_by_others,
            algorithm,
            policy: Some(policy),
            attributes,
            unknown,
            spki_sha256: hex::encode(&Sha256::digest(&spki_der)),
            spki_der,
            private_handle: Some(priv_handle),
        })
    }

    /// `types` of the object `handle` by the read-back rule
    /// ([`read_back`]): one `C_GetAttributeValue` for all of them, and when
    /// the module leaves one out, one for each, an attribute asked alone
    /// first for its size (no buffer cryptoki pre-fills) and then its value.
    pub(super) fn read_back(
        &self,
        handle: ObjectHandle,
        types: &[AttributeType],
    ) -> Result<ReadBack> {
        let session = self.session();
        let batch = session
            .get_attributes(handle, types)
            .map_err(|e| self.call_error(e))?;
        read_back(types, batch, |t| {
            let info = session
                .get_attribute_info(handle, &[t])
                .map_err(|e| self.call_error(e))?;
            if !matches!(info.first(), Some(AttributeInfo::Available(_))) {
                return Ok(None);
            }
            let value = session
                .get_attributes(handle, &[t])
                .map_err(|e| self.call_error(e))?;
            Ok(value.into_iter().next())
        })
    }
}

/// The mechanism and the public and private templates of a new CA key pair
/// (the module docs say why each attribute is there or not).
pub(super) fn templates(
    label: &str,
    id: &[u8],
    algorithm: KeyAlgorithm,
    policy: KeyPolicy,
) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>) {
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Wrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let private = private_template(label, id, algorithm, policy);
    let mechanism = match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            public.push(Attribute::EcParams(algorithm.ec_params().to_vec()));
            Mechanism::EccKeyPairGen
        }
        rsa => {
            let bits = rsa.rsa_bits().expect("every non-EC algorithm is RSA");
            public.push(Attribute::ModulusBits(bits.into()));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
            Mechanism::RsaPkcsKeyPairGen
        }
    };
    (mechanism, public, private)
}

/// The private key's template under `policy`: every policy attribute, the
/// false ones too, but `CKA_DERIVE` on EC keys only (the module docs say
/// why). Shared by key generation and by unwrapping a backed-up key.
pub(super) fn private_template(
    label: &str,
    id: &[u8],
    algorithm: KeyAlgorithm,
    policy: KeyPolicy,
) -> Vec<Attribute> {
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
    ];
    match policy {
        KeyPolicy::NeverExtractable => private.push(Attribute::Extractable(false)),
        KeyPolicy::Backup | KeyPolicy::Restored => private.extend([
            Attribute::Extractable(true),
            Attribute::WrapWithTrusted(true),
        ]),
    }
    private.extend([
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]);
    if !algorithm.is_rsa() {
        private.push(Attribute::Derive(false));
    }
    private
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
