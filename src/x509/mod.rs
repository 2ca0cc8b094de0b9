//! Certificate and CRL building: serials, validity, signing through any
//! signer, and the software check of every signature a signer makes.
//!
//! This module never touches a key itself: it receives a signer (anything
//! with `signature`'s [`signature::Keypair`] and [`signature::Signer`] and
//! `spki`'s [`spki::DynSignatureAlgorithmIdentifier`]: the token's key in a
//! ceremony, a software key in the tests) and a profile, and it refuses to
//! return a certificate whose signature does not verify against the
//! signer's public key. It knows nothing of the token.

mod crl;
mod csr;
mod name;
mod verify;

pub use crl::{issue_crl, serial_hex, CrlContents, IssuedCrl, Revocation};
pub use csr::{
    describe_general_name, holds_private_key, parse_csr, Csr, CsrError, KeyKind, MAX_CSR_BYTES,
};
pub use name::name_string;
pub use verify::verify_signature;

use std::time::{Duration, SystemTime};

use der::asn1::GeneralizedTime;
use der::{Decode, Encode, Header, Length, Tag};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use signature::Keypair;
use spki::{DynSignatureAlgorithmIdentifier, EncodePublicKey, SignatureBitStringEncoding};

use crate::hex;

/// Errors while building or checking a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A DER structure could not be built or parsed.
    #[error("{what}: DER error: {reason}")]
    Der {
        /// The certificate or CRL concerned.
        what: String,
        /// Why, as the encoder, builder or verifier says.
        reason: String,
    },
    /// The signature did not verify in software (the message says "the
    /// token's", as every signature a ceremony makes is).
    #[error(
        "{what}: the token's signature does not verify against the key's public half: {reason}"
    )]
    BadSignature {
        /// The certificate or CRL concerned.
        what: String,
        /// Why, as the encoder, builder or verifier says.
        reason: String,
    },
    /// The certificate builder failed before anything was signed.
    #[error("{what}: cannot build the certificate: {source}")]
    Build {
        /// The certificate concerned.
        what: String,
        /// Why, as the builder says.
        source: x509_cert::builder::Error,
    },
    /// The signer failed to sign (the token's error, if it was the token,
    /// is the source of `source`).
    #[error("{what}: signing failed: {}", signer_cause(source))]
    Sign {
        /// The certificate or CRL concerned.
        what: String,
        /// The signer's error.
        source: signature::Error,
    },
    /// A validity period that cannot be represented.
    #[error("{what}: validity: {reason}")]
    Validity {
        /// The certificate or CRL concerned.
        what: String,
        /// Why, as the encoder, builder or verifier says.
        reason: String,
    },
}

/// Shorthand for results in this module.
pub type Result<T> = std::result::Result<T, Error>;

/// What a signer's error says: its cause (a token's error, for example),
/// since `signature::Error` itself only says "signature error".
fn signer_cause(e: &signature::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => cause.to_string(),
        None => e.to_string(),
    }
}

/// What this module needs of a signing key besides signing: its public
/// half (for the authority key identifier and the software check of each
/// signature) and its signature algorithm. The token's keys have it, and so
/// has any RustCrypto signing key.
pub trait SignerKey:
    Keypair<VerifyingKey: EncodePublicKey> + DynSignatureAlgorithmIdentifier
{
}

impl<K> SignerKey for K where
    K: Keypair<VerifyingKey: EncodePublicKey> + DynSignatureAlgorithmIdentifier
{
}

fn der_err(what: &str) -> impl Fn(der::Error) -> Error + '_ {
    move |e| Error::Der {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

/// A random, positive serial number of 126 bits from 16 random bytes.
///
/// The top bit is cleared (positive) and the next one set, so the encoding
/// is always 16 bytes and never needs a leading zero.
pub fn serial_from_random(random: &[u8; 16]) -> SerialNumber {
    let mut bytes = *random;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::new(&bytes).expect("16 positive bytes are a valid serial")
}

/// A validity period: from `backdate` before `now` to `lifetime` after `now`.
pub fn validity(
    what: &str,
    now: SystemTime,
    backdate: Duration,
    lifetime: Duration,
) -> Result<Validity> {
    let err = |reason: String| Error::Validity {
        what: what.to_string(),
        reason,
    };
    let to_time = |t: SystemTime| -> Result<Time> {
        let since = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|e| err(e.to_string()))?;
        // Whole seconds: X.509 times carry no fractions.
        let gt = GeneralizedTime::from_unix_duration(Duration::from_secs(since.as_secs()))
            .map_err(|e| err(e.to_string()))?;
        Ok(Time::GeneralTime(gt))
    };
    let not_before = now
        .checked_sub(backdate)
        .ok_or_else(|| err("backdate before 1970".into()))?;
    let not_after = now
        .checked_add(lifetime)
        .ok_or_else(|| err("lifetime overflows".into()))?;
    Ok(Validity::new(to_time(not_before)?, to_time(not_after)?))
}

/// An issued certificate and the facts the transcript records about it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Issued {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// notBefore, RFC 3339 UTC.
    pub not_before: String,
    /// notAfter, RFC 3339 UTC.
    pub not_after: String,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// The DER certificate.
    #[serde(skip)]
    pub der: Vec<u8>,
}

impl Issued {
    /// Summarises a DER certificate.
    pub fn from_der(what: &str, der: Vec<u8>) -> Result<Issued> {
        let cert = Certificate::from_der(&der).map_err(der_err(what))?;
        Ok(Issued::from_cert(&cert, der))
    }

    /// Summarises `cert`, whose DER encoding is `der`.
    fn from_cert(cert: &Certificate, der: Vec<u8>) -> Issued {
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        Issued {
            serial: hex::encode(tbs.serial_number().as_bytes()),
            subject: name_string(tbs.subject()),
            issuer: name_string(tbs.issuer()),
            not_before: validity.not_before.to_date_time().to_string(),
            not_after: validity.not_after.to_date_time().to_string(),
            sha256: hex::encode(&Sha256::digest(&der)),
            der,
        }
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> Result<String> {
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.der)
            .map_err(|e| der_err(&self.subject)(e.into()))
    }
}

/// Builds a certificate for `subject_spki` under `profile`, signs it with
/// `signer`, and verifies the signature in software before returning it.
pub fn issue<P, K, S>(
    what: &str,
    profile: P,
    serial: SerialNumber,
    validity: Validity,
    subject_spki: SubjectPublicKeyInfoOwned,
    signer: &K,
) -> Result<Issued>
where
    P: BuilderProfile,
    K: SignerKey + signature::Signer<S>,
    S: SignatureBitStringEncoding,
{
    let unsigned = Unsigned::new(what, profile, serial, validity, subject_spki, signer)?;
    let signature = signer
        .try_sign(unsigned.tbs())
        .map_err(|source| Error::Sign {
            what: what.to_string(),
            source,
        })?;
    let bits = signature.to_bitstring().map_err(der_err(what))?;
    unsigned.finish(bits.raw_bytes().to_vec(), signer)
}

/// A certificate built and encoded, waiting for its signature: the two
/// halves of [`issue`], for a batch whose signing threads sign what worker
/// threads build and check.
pub struct Unsigned<P: BuilderProfile> {
    what: String,
    builder: CertificateBuilder<P>,
    tbs: Vec<u8>,
}

impl<P: BuilderProfile> Unsigned<P> {
    /// Builds the TBSCertificate for `subject_spki` under `profile`, to be
    /// signed by `signer`'s key.
    pub fn new<K: SignerKey>(
        what: &str,
        profile: P,
        serial: SerialNumber,
        validity: Validity,
        subject_spki: SubjectPublicKeyInfoOwned,
        signer: &K,
    ) -> Result<Self> {
        let build_err = |source| Error::Build {
            what: what.to_string(),
            source,
        };
        let mut builder =
            CertificateBuilder::new(profile, serial, validity, subject_spki).map_err(build_err)?;
        let tbs = builder.finalize(signer).map_err(build_err)?;
        Ok(Unsigned {
            what: what.to_string(),
            builder,
            tbs,
        })
    }

    /// The DER TBSCertificate, the bytes the signer signs.
    pub fn tbs(&self) -> &[u8] {
        &self.tbs
    }

    /// Completes the certificate with `signature` (its X.509 encoding, the
    /// BIT STRING's bytes) and verifies it in software against `signer`'s
    /// public key.
    pub fn finish<K: SignerKey>(self, signature: Vec<u8>, signer: &K) -> Result<Issued> {
        let what = self.what.as_str();
        let bits = der::asn1::BitString::from_bytes(&signature).map_err(der_err(what))?;
        let cert = self
            .builder
            .assemble(bits, signer)
            .map_err(|source| Error::Build {
                what: what.to_string(),
                source,
            })?;
        let signer_spki = signer
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| Error::Der {
                what: what.to_string(),
                reason: e.to_string(),
            })?;
        verify_signature(
            signer_spki.as_bytes(),
            cert.signature_algorithm(),
            &self.tbs,
            &signature,
        )
        .map_err(|reason| Error::BadSignature {
            what: what.to_string(),
            reason,
        })?;
        let der = certificate_der(&self.tbs, &cert).map_err(der_err(what))?;
        Ok(Issued::from_cert(&cert, der))
    }
}

/// The DER of `cert`, whose TBSCertificate is already encoded as `tbs`:
/// the same bytes as `cert.to_der()`, without encoding the TBSCertificate
/// a second time (most of the work of a batch certificate's encoding).
fn certificate_der(tbs: &[u8], cert: &Certificate) -> der::Result<Vec<u8>> {
    let algorithm = cert.signature_algorithm().to_der()?;
    let signature = cert.signature().to_der()?;
    let body = Length::try_from(tbs.len() + algorithm.len() + signature.len())?;
    let mut der = Vec::with_capacity(usize::try_from(body)? + 8);
    Header::new(Tag::Sequence, body).encode_to_vec(&mut der)?;
    der.extend_from_slice(tbs);
    der.extend_from_slice(&algorithm);
    der.extend_from_slice(&signature);
    Ok(der)
}

/// Decodes a DER SubjectPublicKeyInfo.
pub fn spki_from_der(what: &str, der: &[u8]) -> Result<SubjectPublicKeyInfoOwned> {
    SubjectPublicKeyInfoOwned::from_der(der).map_err(der_err(what))
}

/// Key identifier per RFC 7093 method 1: the leftmost 160 bits of the
/// SHA-256 of the subjectPublicKey BIT STRING's bytes (the SKI and AKI of
/// every certificate and CRL the tool makes).
pub fn key_identifier(spki: &spki::SubjectPublicKeyInfoRef<'_>) -> Vec<u8> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    digest[..20].to_vec()
}

#[cfg(test)]
mod tests;
