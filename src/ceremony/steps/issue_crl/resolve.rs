//! An `issue-crl` step's inputs resolved, before the token: the issuing
//! CA's certificate loaded and allowed to sign CRLs, and every revoked
//! certificate the script names read and checked to be that CA's (its
//! issuer name, key identifiers and signature), or its serial taken as given.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use der::{Decode, DecodePem, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use super::super::issuer::{load_issuer, LoadedIssuer};
use super::spec::RevocationReason;
use super::{CrlStep, RevokeTarget, ROLE};
use crate::{hex, x509};

/// The most a revoked certificate file may hold.
const MAX_CERTIFICATE_BYTES: u64 = 64 * 1024;

/// One revoked certificate, resolved.
#[derive(Debug)]
pub struct Resolved {
    /// The serial, exactly as the certificate encodes it (or as the script gave it).
    pub serial: SerialNumber,
    /// The serial, lowercase hex.
    pub serial_hex: String,
    /// Why.
    pub reason: RevocationReason,
    /// When.
    pub revoked_at: SystemTime,
    /// The certificate file, when the script named one.
    pub certificate: Option<PathBuf>,
    /// Its subject.
    pub subject: Option<String>,
}

/// An `issue-crl` step checked and resolved, ready for the token.
#[derive(Debug)]
pub struct PreparedCrl {
    /// The issuing CA.
    pub issuer: LoadedIssuer,
    /// SHA-256 of the issuer's DER certificate, hex.
    pub issuer_sha256: String,
    /// The revoked certificates, in script order.
    pub revoked: Vec<Resolved>,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: SystemTime,
}

/// Loads the issuer and resolves every revocation. `now` is thisUpdate.
/// The error lists every reason the step is refused.
pub fn resolve(step: &CrlStep, now: SystemTime) -> Result<PreparedCrl, Vec<String>> {
    let issuer = load_issuer(ROLE, &step.issuer).map_err(|e| vec![e])?;
    let issuer_der = issuer.cert.to_der().map_err(|e| {
        vec![format!(
            "issuer certificate {}: {e}",
            step.issuer.certificate.display()
        )]
    })?;
    let mut reasons = Vec::new();
    if let Ok(Some((_, ku))) = issuer.cert.tbs_certificate().get_extension::<KeyUsage>() {
        if !ku.0.contains(KeyUsages::CRLSign) {
            reasons.push(format!(
                "issuer certificate {}: its keyUsage does not include cRLSign, so it may not sign CRLs",
                step.issuer.certificate.display()
            ));
        }
    }
    let this_update = whole_seconds(now);
    let next_update = this_update + Duration::from_secs(u64::from(step.next_update_days) * 86_400);
    if next_update > issuer.not_after {
        reasons.push(format!(
            "nextUpdate in {} days would be after the issuer's notAfter {}",
            step.next_update_days,
            issuer.cert.tbs_certificate().validity().not_after
        ));
    }

    let mut revoked: Vec<Resolved> = Vec::new();
    for (i, r) in step.revoke.iter().enumerate() {
        let at = |reason: String| format!("revoke[{i}]: {reason}");
        let revoked_at = match r.revoked_at {
            Some(t) => {
                let t = t.to_system_time();
                if t > this_update {
                    reasons.push(at(format!(
                        "revoked_at {} is in the future",
                        r.revoked_at.map(|t| t.to_string()).unwrap_or_default()
                    )));
                    continue;
                }
                t
            }
            None => this_update,
        };
        let (serial, certificate, subject) = match &r.target {
            RevokeTarget::Serial(bytes) => match SerialNumber::new(bytes) {
                Ok(s) => (s, None, None),
                Err(e) => {
                    reasons.push(at(format!("serial {}: {e}", hex::encode(bytes))));
                    continue;
                }
            },
            RevokeTarget::Certificate(path) => match revoked_certificate(path, &issuer) {
                Ok(cert) => {
                    let tbs = cert.tbs_certificate();
                    (
                        tbs.serial_number().clone(),
                        Some(path.clone()),
                        Some(tbs.subject().to_string()),
                    )
                }
                Err(reason) => {
                    reasons.push(at(reason));
                    continue;
                }
            },
        };
        let serial_hex = x509::serial_hex(&serial);
        if let Some(j) = revoked.iter().position(|e| e.serial_hex == serial_hex) {
            reasons.push(at(format!(
                "serial {serial_hex} is already listed by an earlier entry ({})",
                revoked[j]
                    .certificate
                    .as_ref()
                    .map_or_else(|| "by serial".into(), |p| p.display().to_string())
            )));
            continue;
        }
        revoked.push(Resolved {
            serial,
            serial_hex,
            reason: r.reason,
            revoked_at,
            certificate,
            subject,
        });
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    Ok(PreparedCrl {
        issuer_sha256: hex::encode(&Sha256::digest(&issuer_der)),
        issuer,
        revoked,
        this_update,
        next_update,
    })
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Reads a certificate to revoke and checks that `issuer` issued it: the
/// issuer name, the key identifiers and the signature. The error names the
/// file and the rule.
fn revoked_certificate(
    path: &std::path::Path,
    issuer: &LoadedIssuer,
) -> Result<Certificate, String> {
    let what = format!("certificate {}", path.display());
    let bytes = read_small(path).map_err(|e| format!("{what}: {e}"))?;
    let cert = if bytes.starts_with(b"-----BEGIN") {
        Certificate::from_pem(&bytes).map_err(|e| format!("{what}: not a PEM certificate: {e}"))?
    } else {
        Certificate::from_der(&bytes).map_err(|e| format!("{what}: not a DER certificate: {e}"))?
    };
    let ca = issuer.cert.tbs_certificate();
    let tbs = cert.tbs_certificate();
    let ca_file = issuer.spec.certificate.display();
    if cert == issuer.cert {
        return Err(format!(
            "{what} is the issuer's own certificate; a CA cannot revoke itself in its own CRL"
        ));
    }
    if tbs.issuer() != ca.subject() {
        return Err(format!(
            "{what} was not issued by {}: its issuer is {}",
            ca.subject(),
            tbs.issuer()
        ));
    }
    let aki = tbs
        .get_extension::<AuthorityKeyIdentifier>()
        .ok()
        .flatten()
        .and_then(|(_, aki)| aki.key_identifier);
    let ski = ca
        .get_extension::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, ski)| ski.0);
    if let (Some(aki), Some(ski)) = (aki, ski) {
        if aki != ski {
            return Err(format!(
                "{what} names {} as its issuer, but its authority key identifier is not the subject key identifier of {ca_file}",
                ca.subject()
            ));
        }
    }
    let spki = ca
        .subject_public_key_info()
        .to_der()
        .map_err(|e| format!("{ca_file}: {e}"))?;
    let tbs_der = tbs.to_der().map_err(|e| format!("{what}: {e}"))?;
    x509::verify_signature(
        &spki,
        cert.signature_algorithm(),
        &tbs_der,
        cert.signature().raw_bytes(),
    )
    .map_err(|e| {
        format!(
            "{what} names {} as its issuer, but its signature does not verify with the key of {ca_file}: {e}",
            ca.subject()
        )
    })?;
    Ok(cert)
}

/// Reads a regular file of at most [`MAX_CERTIFICATE_BYTES`].
fn read_small(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CERTIFICATE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_CERTIFICATE_BYTES {
        return Err(format!(
            "larger than {MAX_CERTIFICATE_BYTES} bytes: not a certificate"
        ));
    }
    Ok(bytes)
}
