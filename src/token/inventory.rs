//! The token's inventory: every object it holds, the public facts about it,
//! and the attributes that show whether a key can leave the token, with each
//! private key checked against the key policy its attributes claim
//! ([`KeyPolicy::of`]: `backup` or `restored` for an extractable key that
//! only a trusted key may wrap, `never-extractable` for every other one, so
//! that an extractable key without `CKA_WRAP_WITH_TRUSTED` is flagged).
//!
//! This module asks the token only for public attributes (class, label, id,
//! key type, modulus, public exponent, curve, public point and the key
//! attributes). It never asks for `CKA_VALUE` or a private key component, so
//! nothing it returns or prints can hold key material.

use std::fmt::{self, Write as _};

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use der::asn1::{BitString, ObjectIdentifier, PrintableStringRef, UintRef};
use der::{Any, Decode, Encode};
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::keygen::unwrap_octet_string;
use super::{
    KeyPolicy, ObjectAttributes, PolicyViolation, Result, Token, TokenIdentity, UnreadableSlot,
};
use crate::{hex, oid};

/// The class name of a private key, as [`ObjectInfo::class`] spells it.
pub const PRIVATE_KEY: &str = "private-key";
/// The class name of a public key.
pub const PUBLIC_KEY: &str = "public-key";

/// Ed448 (key and signature algorithm).
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// One object in the token, as the inventory lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectInfo {
    /// `private-key`, `public-key`, `secret-key`, `certificate`, `data`, or
    /// the PKCS#11 name of another class.
    pub class: String,
    /// `CKA_LABEL` (invalid UTF-8 replaced).
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// `CKA_KEY_TYPE`: `ec`, `rsa`, `ec-edwards`, `aes`, …; `None` for an object that is not a key.
    pub key_type: Option<String>,
    /// The RSA modulus size in bits.
    pub bits: Option<u64>,
    /// The EC curve: `P-256`, `P-384`, `P-521`, `Ed25519`, `Ed448`, or its OID.
    pub curve: Option<String>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, hex: of a public key, and of
    /// a private key through the one public key with the same `CKA_ID`.
    pub spki_sha256: Option<String>,
    /// The key attributes; `None` where the token reports none.
    pub attributes: ObjectAttributes,
}

/// Why the inventory flags an object.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flag {
    /// The rule: `ca-key-policy` (a never-extractable private key),
    /// `backup-key-policy` (a backup-capable one) or `no-wrap` (any key).
    #[serde(deserialize_with = "flag_rule")]
    pub rule: super::policy::StaticName,
    /// The attribute that breaks it, its value and the value the rule requires.
    #[serde(flatten)]
    pub violation: PolicyViolation,
}

fn flag_rule<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<&'static str, D::Error> {
    super::policy::known_name(d, &["ca-key-policy", "backup-key-policy", "no-wrap"])
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = &self.violation;
        match v.actual {
            Some(actual) => write!(f, "{} is {actual}", v.attribute)?,
            None => write!(f, "{} is not reported", v.attribute)?,
        }
        if self.rule == "no-wrap" {
            f.write_str(": a wrapping key can carry extractable keys out of the token")
        } else if self.rule == "backup-key-policy" {
            write!(f, ", must be {} (backup key policy)", v.required)
        } else {
            write!(f, ", must be {} (CA key policy)", v.required)
        }
    }
}

impl ObjectInfo {
    /// The key policy a private key is held to ([`KeyPolicy::of`]);
    /// `None` for any other object.
    pub fn policy(&self) -> Option<KeyPolicy> {
        (self.class == PRIVATE_KEY).then(|| KeyPolicy::of(&self.attributes))
    }

    /// What is wrong with this object: for a private key every attribute
    /// that breaks its key policy; for any key, `CKA_WRAP` true.
    pub fn flags(&self) -> Vec<Flag> {
        let mut flags = Vec::new();
        if let Some(policy) = self.policy() {
            let rule = match policy {
                KeyPolicy::NeverExtractable => "ca-key-policy",
                KeyPolicy::Backup | KeyPolicy::Restored => "backup-key-policy",
            };
            flags.extend(
                self.attributes
                    .policy_violations_under(policy)
                    .into_iter()
                    .map(|violation| Flag { rule, violation }),
            );
        }
        if self.attributes.wrap == Some(true) {
            flags.push(Flag {
                rule: "no-wrap",
                violation: PolicyViolation {
                    attribute: "CKA_WRAP",
                    actual: Some(true),
                    required: false,
                },
            });
        }
        flags
    }

    /// `private-key "cluster-root-ca" (id 0102)`, for summaries.
    fn name(&self) -> String {
        format!("{} {:?} (id {})", self.class, self.label, self.id)
    }
}

/// The inventory as `ceremony inventory --json` prints it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report<'a> {
    /// The token listed.
    pub token: Cow<'a, TokenIdentity>,
    /// Every object, with its flags.
    pub objects: Vec<ReportEntry<'a>>,
    /// How many objects are flagged.
    pub flagged: usize,
    /// The module's other slots whose token could not be read, with the
    /// reason; absent when there are none.
    #[serde(default, skip_serializing_if = "<[UnreadableSlot]>::is_empty")]
    pub unreadable_slots: Cow<'a, [UnreadableSlot]>,
}

/// One object in a [`Report`].
#[derive(Debug, Serialize, Deserialize)]
pub struct ReportEntry<'a> {
    /// The object.
    #[serde(flatten)]
    /// The object as the token reports it.
    pub object: Cow<'a, ObjectInfo>,
    /// The key policy of a private key ([`ObjectInfo::policy`]); absent
    /// for other objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<KeyPolicy>,
    /// What is wrong with the object; empty when nothing is.
    pub flags: Vec<Flag>,
}

impl<'a> Report<'a> {
    /// The report on `objects`, listed from `token`.
    pub fn new(token: &'a TokenIdentity, objects: &'a [ObjectInfo]) -> Report<'a> {
        let objects: Vec<ReportEntry<'a>> = objects
            .iter()
            .map(|object| ReportEntry {
                object: Cow::Borrowed(object),
                policy: object.policy(),
                flags: object.flags(),
            })
            .collect();
        let flagged = objects.iter().filter(|e| !e.flags.is_empty()).count();
        Report {
            token: Cow::Borrowed(token),
            objects,
            flagged,
            unreadable_slots: Cow::Borrowed(&[]),
        }
    }

    /// The report, listing `slots` as the module's unreadable slots.
    pub fn with_unreadable_slots(self, slots: &'a [UnreadableSlot]) -> Report<'a> {
        Report {
            unreadable_slots: Cow::Borrowed(slots),
            ..self
        }
    }
}

/// One line naming every flagged object, or `None` when none is flagged.
pub fn flagged_summary(objects: &[ObjectInfo]) -> Option<String> {
    let flagged: Vec<String> = objects
        .iter()
        .filter(|o| !o.flags().is_empty())
        .map(ObjectInfo::name)
        .collect();
    match flagged.len() {
        0 => None,
        1 => Some(format!("1 object is flagged: {}", flagged[0])),
        n => Some(format!("{n} objects are flagged: {}", flagged.join(", "))),
    }
}

/// The inventory as a table for people: one line per object, its attributes
/// indented below it, then one `FLAGGED` line per broken rule; first, one
/// `unreadable` line per slot of the module whose token could not be read.
/// Every string from the token is printed as [`TokenIdentity`] and
/// [`ObjectInfo`] hold it, control characters escaped.
pub fn render(
    token: &TokenIdentity,
    unreadable: &[UnreadableSlot],
    objects: &[ObjectInfo],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "token {:?} (serial {:?}, {} {}, module {})",
        token.label, token.serial, token.manufacturer, token.model, token.module
    );
    for slot in unreadable {
        let _ = writeln!(out, "unreadable {slot}");
    }
    let mut private_keys = 0;
    let mut flagged = 0;
    for o in objects {
        let _ = write!(out, "{} {:?} id {}", o.class, o.label, empty_as_dash(&o.id));
        if let Some(key_type) = &o.key_type {
            let _ = write!(out, " {key_type}");
        }
        if let Some(bits) = o.bits {
            let _ = write!(out, " {bits}");
        }
        if let Some(curve) = &o.curve {
            let _ = write!(out, " {curve}");
        }
        if let Some(sha) = &o.spki_sha256 {
            let _ = write!(out, " spki-sha256 {sha}");
        }
        out.push('\n');
        let a = &o.attributes;
        if *a != ObjectAttributes::default() {
            let lines: [&[(&str, Option<bool>)]; 2] = [
                &[
                    ("token", a.token),
                    ("private", a.private),
                    ("sensitive", a.sensitive),
                    ("extractable", a.extractable),
                    ("always-sensitive", a.always_sensitive),
                    ("never-extractable", a.never_extractable),
                    ("local", a.local),
                    ("wrap-with-trusted", a.wrap_with_trusted),
                ],
                &[
                    ("sign", a.sign),
                    ("decrypt", a.decrypt),
                    ("wrap", a.wrap),
                    ("unwrap", a.unwrap),
                    ("derive", a.derive),
                    ("trusted", a.trusted),
                ],
            ];
            for line in lines {
                // The attributes added with key custody are shown where the
                // token reports them; the older ones always.
                let cells: Vec<String> = line
                    .iter()
                    .filter(|(name, v)| {
                        v.is_some() || !matches!(*name, "wrap-with-trusted" | "trusted")
                    })
                    .map(|(name, v)| match v {
                        Some(v) => format!("{name}={v}"),
                        None => format!("{name}=-"),
                    })
                    .collect();
                let _ = writeln!(out, "    {}", cells.join(" "));
            }
        }
        if let Some(policy) = o.policy() {
            let _ = writeln!(out, "    policy {} ({})", policy.name(), policy.describe());
        }
        let flags = o.flags();
        for flag in &flags {
            let _ = writeln!(out, "    FLAGGED {flag}");
        }
        private_keys += usize::from(o.class == PRIVATE_KEY);
        flagged += usize::from(!flags.is_empty());
    }
    let _ = write!(
        out,
        "{} object(s), {private_keys} private key(s), ",
        objects.len()
    );
    let _ = if flagged == 0 {
        writeln!(out, "none flagged")
    } else {
        writeln!(out, "{flagged} flagged")
    };
    out
}

fn empty_as_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// What the token reports about one object: public attributes only.
#[derive(Debug, Default)]
struct RawObject {
    class: Option<ObjectClass>,
    label: Vec<u8>,
    id: Vec<u8>,
    key_type: Option<KeyType>,
    modulus: Option<Vec<u8>>,
    modulus_bits: Option<u64>,
    public_exponent: Option<Vec<u8>>,
    ec_params: Option<Vec<u8>>,
    ec_point: Option<Vec<u8>>,
    attributes: ObjectAttributes,
}

/// The public attributes the inventory reads. Never `CKA_VALUE` or a
/// private key component.
const PUBLIC_TYPES: [AttributeType; 9] = [
    AttributeType::Class,
    AttributeType::Label,
    AttributeType::Id,
    AttributeType::KeyType,
    AttributeType::Modulus,
    AttributeType::ModulusBits,
    AttributeType::PublicExponent,
    AttributeType::EcParams,
    AttributeType::EcPoint,
];

impl RawObject {
    fn from_attributes(attrs: Vec<Attribute>) -> RawObject {
        let mut raw = RawObject {
            attributes: ObjectAttributes::collect(&attrs),
            ..RawObject::default()
        };
        for a in attrs {
            match a {
                Attribute::Class(c) => raw.class = Some(c),
                Attribute::Label(v) => raw.label = v,
                Attribute::Id(v) => raw.id = v,
                Attribute::KeyType(k) => raw.key_type = Some(k),
                Attribute::Modulus(v) => raw.modulus = Some(v),
                Attribute::ModulusBits(v) => raw.modulus_bits = Some(v.into()),
                Attribute::PublicExponent(v) => raw.public_exponent = Some(v),
                Attribute::EcParams(v) => raw.ec_params = Some(v),
                Attribute::EcPoint(v) => raw.ec_point = Some(v),
                _ => {}
            }
        }
        raw
    }

    fn is_rsa(&self) -> bool {
        self.key_type == Some(KeyType::RSA)
    }

    /// The modulus size: the bit length of `CKA_MODULUS` (which a private
    /// key carries too), else `CKA_MODULUS_BITS`.
    fn rsa_bits(&self) -> Option<u64> {
        if !self.is_rsa() {
            return None;
        }
        let from_modulus = self.modulus.as_deref().and_then(|n| {
            let first = n.iter().position(|b| *b != 0)?;
            Some((n.len() - first) as u64 * 8 - u64::from(n[first].leading_zeros()))
        });
        from_modulus.or(self.modulus_bits)
    }

    /// The DER SubjectPublicKeyInfo of a public key, when its type is known.
    fn spki_der(&self) -> Option<Vec<u8>> {
        if self.class != Some(ObjectClass::PUBLIC_KEY) {
            return None;
        }
        let key_type = self.key_type?;
        if key_type == KeyType::RSA {
            return rsa_spki(self.modulus.as_deref()?, self.public_exponent.as_deref()?);
        }
        let params = self.ec_params.as_deref()?;
        let point = unwrap_octet_string(self.ec_point.as_deref()?)?;
        if key_type == KeyType::EC {
            ec_spki(params, point)
        } else if key_type == KeyType::EC_EDWARDS {
            let algorithm = match curve_name(params).as_str() {
                "Ed25519" => oid::ED25519,
                "Ed448" => ED448,
                _ => return None,
            };
            spki(algorithm, None, point)
        } else {
            None
        }
    }

    fn into_info(self, spki_sha256: Option<String>) -> ObjectInfo {
        let curve = match self.key_type {
            Some(k) if k == KeyType::EC || k == KeyType::EC_EDWARDS => {
                self.ec_params.as_deref().map(curve_name)
            }
            _ => None,
        };
        ObjectInfo {
            class: self.class.map_or_else(|| "unknown".into(), class_name),
            label: String::from_utf8_lossy(&self.label).into_owned(),
            id: hex::encode(&self.id),
            key_type: self.key_type.map(key_type_name),
            bits: self.rsa_bits(),
            curve,
            spki_sha256,
            attributes: self.attributes,
        }
    }
}

fn class_name(class: ObjectClass) -> String {
    match class {
        ObjectClass::PRIVATE_KEY => PRIVATE_KEY.into(),
        ObjectClass::PUBLIC_KEY => PUBLIC_KEY.into(),
        ObjectClass::SECRET_KEY => "secret-key".into(),
        ObjectClass::CERTIFICATE => "certificate".into(),
        ObjectClass::DATA => "data".into(),
        other => other.to_string(),
    }
}

fn key_type_name(key_type: KeyType) -> String {
    match key_type {
        KeyType::RSA => "rsa".into(),
        KeyType::EC => "ec".into(),
        KeyType::EC_EDWARDS => "ec-edwards".into(),
        KeyType::EC_MONTGOMERY => "ec-montgomery".into(),
        KeyType::AES => "aes".into(),
        KeyType::GENERIC_SECRET => "generic-secret".into(),
        KeyType::DES3 => "des3".into(),
        other => other.to_string(),
    }
}

/// The curve `CKA_EC_PARAMS` names: a NIST name, `Ed25519`/`Ed448`, the
/// OID, a printable curve name (`edwards25519`), or the parameters in hex.
fn curve_name(params: &[u8]) -> String {
    if let Ok(curve) = ObjectIdentifier::from_der(params) {
        return match curve {
            oid::SECP256R1 => "P-256".into(),
            oid::SECP384R1 => "P-384".into(),
            oid::SECP521R1 => "P-521".into(),
            oid::ED25519 => "Ed25519".into(),
            ED448 => "Ed448".into(),
            other => other.to_string(),
        };
    }
    match PrintableStringRef::from_der(params).map(|s| s.as_str()) {
        Ok("edwards25519") => "Ed25519".into(),
        Ok("edwards448") => "Ed448".into(),
        _ => format!("parameters {}", hex::encode(params)),
    }
}

fn spki(algorithm: ObjectIdentifier, parameters: Option<Any>, key: &[u8]) -> Option<Vec<u8>> {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: algorithm,
            parameters,
        },
        subject_public_key: BitString::from_bytes(key).ok()?,
    }
    .to_der()
    .ok()
}

/// rsaEncryption SPKI (NULL parameters) over the PKCS#1 `RSAPublicKey`.
fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Option<Vec<u8>> {
    let key = rsa::pkcs1::RsaPublicKey {
        modulus: UintRef::new(modulus).ok()?,
        public_exponent: UintRef::new(exponent).ok()?,
    }
    .to_der()
    .ok()?;
    spki(oid::RSA_ENCRYPTION, Some(Any::null()), &key)
}

/// id-ecPublicKey SPKI with the token's curve parameters and point.
fn ec_spki(params: &[u8], point: &[u8]) -> Option<Vec<u8>> {
    spki(
        oid::ID_EC_PUBLIC_KEY,
        Some(Any::from_der(params).ok()?),
        point,
    )
}

impl Token {
    /// Every object the logged-in session can see, sorted by label, id and
    /// class. A private key's fingerprint comes from the one public key with
    /// the same non-empty `CKA_ID` and key type, when there is exactly one.
    pub fn inventory(&self) -> Result<Vec<ObjectInfo>> {
        let handles = self
            .session()
            .find_objects(&[])
            .map_err(|e| self.call_error(e))?;
        let raws = handles
            .into_iter()
            .map(|h| self.read_object(h))
            .collect::<Result<Vec<RawObject>>>()?;
        let fingerprints: Vec<Option<String>> = raws
            .iter()
            .map(|r| r.spki_der().map(|der| hex::encode(&Sha256::digest(der))))
            .collect();
        let of_matching_public_key = |private: &RawObject| {
            let mut found = raws
                .iter()
                .zip(&fingerprints)
                .filter(|(r, _)| {
                    r.class == Some(ObjectClass::PUBLIC_KEY)
                        && !private.id.is_empty()
                        && r.id == private.id
                        && r.key_type == private.key_type
                })
                .map(|(_, fp)| fp.clone());
            match (found.next(), found.next()) {
                (Some(fp), None) => fp,
                _ => None,
            }
        };
        let private_fingerprints: Vec<Option<String>> = raws
            .iter()
            .map(|r| {
                (r.class == Some(ObjectClass::PRIVATE_KEY))
                    .then(|| of_matching_public_key(r))
                    .flatten()
            })
            .collect();
        let mut objects: Vec<ObjectInfo> = raws
            .into_iter()
            .zip(fingerprints.into_iter().zip(private_fingerprints))
            .map(|(raw, (own, matched))| raw.into_info(own.or(matched)))
            .collect();
        objects.sort_by(|a, b| (&a.label, &a.id, &a.class).cmp(&(&b.label, &b.id, &b.class)));
        Ok(objects)
    }

    fn read_object(&self, handle: ObjectHandle) -> Result<RawObject> {
        let types: Vec<AttributeType> = PUBLIC_TYPES
            .iter()
            .chain(&ObjectAttributes::TYPES)
            .copied()
            .collect();
        let attrs = self
            .session()
            .get_attributes(handle, &types)
            .map_err(|e| self.call_error(e))?;
        Ok(RawObject::from_attributes(attrs))
    }
}

#[cfg(test)]
mod tests;
