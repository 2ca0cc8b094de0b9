//! Certificate revocation lists: a v2 TBSCertList with the CRL number and
//! the authority key identifier, one entry per revoked certificate with its
//! reason code, signed by any signer and verified in software
//! against the issuer certificate's key before it is returned.
//!
//! The TBSCertList is built here rather than with x509-cert's `CrlBuilder`:
//! that builder copies the issuer certificate's own authority key identifier
//! (right only for a self-signed issuer; an intermediate's CRL must carry the
//! intermediate's subject key identifier) and leaves times as given, where
//! RFC 5280 wants UTCTime through 2049.

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, OctetString};
use der::referenced::OwnedToRef;
use der::{DateTime, Decode, Encode, EncodePem};
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, SubjectKeyIdentifier};
use x509_cert::ext::ToExtension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;
use x509_cert::{Certificate, Version};

use super::key_identifier;
use super::{der_err, verify_signature, Error, Result};
use crate::hex;

/// One revoked certificate.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// Its serial number.
    pub serial: SerialNumber,
    /// When it was revoked.
    pub revoked_at: SystemTime,
    /// Why; `None` writes no reasonCode (RFC 5280 prefers that to `unspecified`).
    pub reason: Option<CrlReason>,
}

/// What a CRL says.
#[derive(Debug, Clone)]
pub struct CrlContents<'a> {
    /// The issuing CA's certificate: the CRL's issuer name and key identifier.
    pub issuer: &'a Certificate,
    /// The CRL number.
    pub crl_number: u64,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: SystemTime,
    /// The revoked certificates, in order.
    pub revoked: &'a [Revocation],
}

/// A signed CRL and the facts the transcript records about it.
#[derive(Debug, Clone)]
pub struct IssuedCrl {
    /// The CRL number.
    pub crl_number: u64,
    /// The issuer, RFC 4514.
    pub issuer: String,
    /// thisUpdate, RFC 3339 UTC.
    pub this_update: String,
    /// nextUpdate, RFC 3339 UTC.
    pub next_update: String,
    /// SHA-256 of the DER CRL, lowercase hex.
    pub sha256: String,
    /// The DER CRL.
    pub der: Vec<u8>,
}

impl IssuedCrl {
    /// The CRL as PEM (`X509 CRL`).
    pub fn pem(&self) -> Result<String> {
        let what = format!("CRL {} of {}", self.crl_number, self.issuer);
        <CertificateList>::from_der(&self.der)
            .and_then(|crl| crl.to_pem(der::pem::LineEnding::LF))
            .map_err(der_err(&what))
    }
}

/// A serial number as the transcript writes it: lowercase hex, no leading zero byte.
pub fn serial_hex(serial: &SerialNumber) -> String {
    let bytes = serial.as_bytes();
    let first = bytes
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    hex::encode(&bytes[first..])
}

/// An X.509 time, to the second: UTCTime through 2049, GeneralizedTime after.
fn x509_time(what: &str, t: SystemTime) -> Result<Time> {
    let err = |reason: String| Error::Validity {
        what: what.to_string(),
        reason,
    };
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|e| err(e.to_string()))?;
    let dt = DateTime::from_unix_duration(Duration::from_secs(since.as_secs()))
        .map_err(|e| err(e.to_string()))?;
    Ok(Time::from(dt))
}

/// The TBSCertList for `c`, to be signed with algorithm `alg`.
fn tbs_cert_list(
    what: &str,
    c: &CrlContents<'_>,
    alg: AlgorithmIdentifierOwned,
) -> Result<TbsCertList> {
    let issuer_tbs = c.issuer.tbs_certificate();
    let issuer_name = issuer_tbs.subject().clone();
    let key_id = match issuer_tbs.get_extension::<SubjectKeyIdentifier>() {
        Ok(Some((_, ski))) => ski.0.as_bytes().to_vec(),
        _ => key_identifier(&issuer_tbs.subject_public_key_info().owned_to_ref()),
    };
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id).map_err(der_err(what))?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let number = CrlNumber::try_from(c.crl_number).map_err(der_err(what))?;
    let mut extensions = Vec::new();
    let ext_err = |e: der::Error| Error::Der {
        what: what.to_string(),
        reason: e.to_string(),
    };
    extensions.push(
        (&aki)
            .to_extension(&issuer_name, &extensions)
            .map_err(ext_err)?,
    );
    extensions.push(
        (&number)
            .to_extension(&issuer_name, &extensions)
            .map_err(ext_err)?,
    );
    let mut revoked = Vec::with_capacity(c.revoked.len());
    for r in c.revoked {
        let entry_extensions = match r.reason {
            Some(reason) => Some(vec![reason
                .to_extension(&issuer_name, &[])
                .map_err(ext_err)?]),
            None => None,
        };
        revoked.push(RevokedCert {
            serial_number: r.serial.clone(),
            revocation_date: x509_time(what, r.revoked_at)?,
            crl_entry_extensions: entry_extensions,
        });
    }
    Ok(TbsCertList {
        version: Version::V2,
        signature: alg,
        issuer: issuer_name,
        this_update: x509_time(what, c.this_update)?,
        next_update: Some(x509_time(what, c.next_update)?),
        // RFC 5280 5.1.2.6: absent, not empty, when nothing is revoked.
        revoked_certificates: if revoked.is_empty() {
            None
        } else {
            Some(revoked)
        },
        crl_extensions: Some(extensions),
    })
}

/// Builds the CRL `c`, signs it with `signer`, and verifies the signature
/// against the issuer certificate's public key before returning it.
pub fn issue_crl<K, S>(what: &str, c: &CrlContents<'_>, signer: &K) -> Result<IssuedCrl>
where
    K: DynSignatureAlgorithmIdentifier + signature::Signer<S>,
    S: SignatureBitStringEncoding,
{
    let alg = signer
        .signature_algorithm_identifier()
        .map_err(|e| Error::Der {
            what: what.to_string(),
            reason: format!("the signer's algorithm: {e}"),
        })?;
    sign_checked(what, c, alg, |tbs| {
        let signature = signer.try_sign(tbs).map_err(|source| Error::Sign {
            what: what.to_string(),
            source,
        })?;
        let bits = signature.to_bitstring().map_err(der_err(what))?;
        Ok(bits.raw_bytes().to_vec())
    })
}

/// Signs the TBSCertList of `c` with `sign` (which returns the signature's
/// X.509 encoding) and checks the result.
fn sign_checked(
    what: &str,
    c: &CrlContents<'_>,
    alg: AlgorithmIdentifierOwned,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<IssuedCrl> {
    let tbs = tbs_cert_list(what, c, alg.clone())?;
    let tbs_der = tbs.to_der().map_err(der_err(what))?;
    let signature = sign(&tbs_der)?;
    let issuer_spki = c
        .issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(der_err(what))?;
    verify_signature(&issuer_spki, &alg, &tbs_der, &signature).map_err(|reason| {
        Error::BadSignature {
            what: what.to_string(),
            reason,
        }
    })?;
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&signature).map_err(der_err(what))?,
    };
    let der = crl.to_der().map_err(der_err(what))?;
    let tbs = &crl.tbs_cert_list;
    Ok(IssuedCrl {
        crl_number: c.crl_number,
        issuer: tbs.issuer.to_string(),
        this_update: tbs.this_update.to_date_time().to_string(),
        next_update: tbs
            .next_update
            .map(|t| t.to_date_time().to_string())
            .unwrap_or_default(),
        sha256: hex::encode(&Sha256::digest(&der)),
        der,
    })
}

#[cfg(test)]
mod tests;
