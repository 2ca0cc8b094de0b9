//! Certificate signing requests from the online world: parsed strictly,
//! their proof of possession (self-signature) verified, and described so a
//! profile can judge them. Nothing here trusts what a CSR asks for.

use std::fmt;

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, ExtensionReq};

use super::verify_signature;
use crate::oid::*;

/// The largest CSR accepted, in bytes (PEM or DER).
pub const MAX_CSR_BYTES: usize = 64 * 1024;

/// Why a CSR was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The input holds a private key, which never belongs in a request.
    #[error("{what}: holds a private key; only the CSR may leave the requester's machine")]
    PrivateKey {
        /// The CSR concerned (file or request id).
        what: String,
    },
    /// Larger than [`MAX_CSR_BYTES`].
    #[error("{what}: {size} bytes is larger than the {MAX_CSR_BYTES}-byte limit for a CSR")]
    TooLarge {
        /// The CSR concerned (file or request id).
        what: String,
        /// Its size in bytes.
        size: usize,
    },
    /// Not a well-formed PKCS#10 request.
    #[error("{what}: not a valid CSR: {reason}")]
    Malformed {
        /// The CSR concerned (file or request id).
        what: String,
        /// Why, as the parser or verifier says.
        reason: String,
    },
    /// The CSR's key is of a kind this tool never accepts, so its
    /// signature is not even checked.
    #[error("{what}: key {key} is not accepted: keys must be RSA 2048 to 8192 bits, P-256, P-384 or Ed25519")]
    UnsupportedKey {
        /// The CSR concerned (file or request id).
        what: String,
        /// The kind of key it holds.
        key: KeyKind,
    },
    /// The CSR's self-signature does not verify.
    #[error(
        "{what}: the CSR's signature does not verify (no proof of possession of the key): {reason}"
    )]
    BadSignature {
        /// The CSR concerned (file or request id).
        what: String,
        /// Why, as the parser or verifier says.
        reason: String,
    },
}

/// The kind and size of a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA with a modulus of this many bits.
    Rsa {
        /// The modulus size.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
    /// Ed25519.
    Ed25519,
    /// An elliptic curve this tool does not accept (named when known).
    OtherCurve {
        /// The curve's name, or its OID.
        name: String,
    },
    /// Any other key algorithm.
    Other {
        /// The algorithm's OID.
        oid: String,
    },
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::P256 => f.write_str("P-256"),
            KeyKind::P384 => f.write_str("P-384"),
            KeyKind::Ed25519 => f.write_str("Ed25519"),
            KeyKind::OtherCurve { name } => write!(f, "EC {name}"),
            KeyKind::Other { oid } => write!(f, "key algorithm {oid}"),
        }
    }
}

/// A parsed CSR whose signature verified.
#[derive(Debug, Clone)]
pub struct Csr {
    /// The DER encoding.
    pub der: Vec<u8>,
    /// The requested subject.
    pub subject: Name,
    /// The DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The key's kind and size.
    pub key: KeyKind,
    /// True when the CSR asks for basicConstraints CA:TRUE.
    pub requests_ca: bool,
    /// SANs the CSR asks for, as `DNS:x`, `IP:x`, `email:x`, `URI:x` (never copied).
    pub requested_sans: Vec<String>,
}

/// Parses a CSR (PEM or DER), refusing private keys, trailing data, and a
/// self-signature that does not verify. `what` names the input in errors.
pub fn parse_csr(what: &str, bytes: &[u8]) -> Result<Csr, CsrError> {
    let malformed = |reason: String| CsrError::Malformed {
        what: what.to_string(),
        reason,
    };
    if bytes.len() > MAX_CSR_BYTES {
        return Err(CsrError::TooLarge {
            what: what.to_string(),
            size: bytes.len(),
        });
    }
    if holds_private_key(bytes) {
        return Err(CsrError::PrivateKey {
            what: what.to_string(),
        });
    }
    let der = if bytes.starts_with(b"-----BEGIN")
        || bytes.trim_ascii_start().starts_with(b"-----BEGIN")
    {
        let (label, der) =
            der::pem::decode_vec(bytes.trim_ascii()).map_err(|e| malformed(format!("PEM: {e}")))?;
        if label != "CERTIFICATE REQUEST" && label != "NEW CERTIFICATE REQUEST" {
            return Err(malformed(format!(
                "PEM label is {label:?}, not CERTIFICATE REQUEST"
            )));
        }
        der
    } else {
        bytes.to_vec()
    };
    let req = CertReq::from_der(&der).map_err(|e| malformed(e.to_string()))?;
    let spki_der = req
        .info
        .public_key
        .to_der()
        .map_err(|e| malformed(e.to_string()))?;
    let key = key_kind(&req.info.public_key);
    if matches!(key, KeyKind::OtherCurve { .. } | KeyKind::Other { .. }) {
        return Err(CsrError::UnsupportedKey {
            what: what.to_string(),
            key,
        });
    }
    let info_der = req.info.to_der().map_err(|e| malformed(e.to_string()))?;
    verify_signature(
        &spki_der,
        &req.algorithm,
        &info_der,
        req.signature.raw_bytes(),
    )
    .map_err(|reason| CsrError::BadSignature {
        what: what.to_string(),
        reason,
    })?;
    let (requests_ca, requested_sans) = requested_extensions(&req).map_err(malformed)?;
    Ok(Csr {
        subject: req.info.subject.clone(),
        spki_der,
        key,
        requests_ca,
        requested_sans,
        der,
    })
}

/// True when the bytes look like (or contain) a private key in PEM, or
/// parse as a DER PKCS#8 private key.
pub fn holds_private_key(bytes: &[u8]) -> bool {
    const MARKERS: [&[u8]; 2] = [b"PRIVATE KEY-----", b"-----BEGIN OPENSSH PRIVATE"];
    if MARKERS
        .iter()
        .any(|m| bytes.windows(m.len()).any(|w| w == *m))
    {
        return true;
    }
    pkcs8_like(bytes)
}

/// A DER private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn pkcs8_like(bytes: &[u8]) -> bool {
    p256::pkcs8::PrivateKeyInfoRef::try_from(bytes).is_ok()
        || rsa::pkcs1::RsaPrivateKeyRef::try_from(bytes).is_ok()
        || p256::SecretKey::from_sec1_der(bytes).is_ok()
        || p384::SecretKey::from_sec1_der(bytes).is_ok()
}

fn key_kind(spki: &spki::SubjectPublicKeyInfoOwned) -> KeyKind {
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        return match spki.to_der().ok().and_then(|d| {
            use spki::DecodePublicKey;
            rsa::PublicKey::from_public_key_der(&d).ok()
        }) {
            Some(key) => {
                use rsa::traits::PublicKeyParts;
                KeyKind::Rsa {
                    bits: key.n().bit_width_vartime() as usize,
                }
            }
            None => KeyKind::Rsa { bits: 0 },
        };
    }
    if oid == ED25519 {
        return KeyKind::Ed25519;
    }
    if oid == ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve {
            Some(SECP256R1) => KeyKind::P256,
            Some(SECP384R1) => KeyKind::P384,
            Some(SECP192R1) => KeyKind::OtherCurve {
                name: "P-192".into(),
            },
            Some(SECP224R1) => KeyKind::OtherCurve {
                name: "P-224".into(),
            },
            Some(SECP521R1) => KeyKind::OtherCurve {
                name: "P-521".into(),
            },
            Some(other) => KeyKind::OtherCurve {
                name: other.to_string(),
            },
            None => KeyKind::OtherCurve {
                name: "with explicit or missing parameters".into(),
            },
        };
    }
    KeyKind::Other {
        oid: oid.to_string(),
    }
}

type Requested = (bool, Vec<String>);

fn requested_extensions(req: &CertReq) -> Result<Requested, String> {
    let mut ca = false;
    let mut sans = Vec::new();
    for attr in req.info.attributes.iter() {
        if attr.oid != EXTENSION_REQUEST {
            continue;
        }
        for value in attr.values.iter() {
            let exts: ExtensionReq = value
                .decode_as()
                .map_err(|e| format!("extensionRequest: {e}"))?;
            for ext in exts.0 {
                if ext.extn_id == CE_BASIC_CONSTRAINTS {
                    let bc = BasicConstraints::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| format!("requested basicConstraints: {e}"))?;
                    ca |= bc.ca;
                } else if ext.extn_id == CE_SUBJECT_ALT_NAME {
                    let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                        .map_err(|e| format!("requested subjectAltName: {e}"))?;
                    sans.extend(san.0.iter().map(describe_general_name));
                }
            }
        }
    }
    Ok((ca, sans))
}

/// A general name as `DNS:x`, `IP:x`, `email:x`, `URI:x` or its kind.
pub fn describe_general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(s) => format!("DNS:{}", s.as_str()),
        GeneralName::Rfc822Name(s) => format!("email:{}", s.as_str()),
        GeneralName::UniformResourceIdentifier(s) => format!("URI:{}", s.as_str()),
        GeneralName::IpAddress(o) => match o.as_bytes().len() {
            4 => {
                let b: [u8; 4] = o.as_bytes().try_into().expect("length checked");
                format!("IP:{}", std::net::Ipv4Addr::from(b))
            }
            16 => {
                let b: [u8; 16] = o.as_bytes().try_into().expect("length checked");
                format!("IP:{}", std::net::Ipv6Addr::from(b))
            }
            _ => "IP:(malformed)".into(),
        },
        GeneralName::DirectoryName(n) => format!("dirName:{n}"),
        GeneralName::OtherName(_) => "otherName".into(),
        GeneralName::EdiPartyName(_) => "ediPartyName".into(),
        GeneralName::RegisteredId(o) => format!("RID:{o}"),
    }
}

#[cfg(test)]
mod tests;
