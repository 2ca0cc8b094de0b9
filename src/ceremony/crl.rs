//! The `issue-crl` step: load the issuing CA's certificate and every revoked
//! certificate the script names (each must have been issued by that CA),
//! take the CRL number from the transcript, sign through the token, verify,
//! record, and write the CRL. The dry run prints what [`prepare`] finds.
//!
//! A CRL replaces its issuer's previous one. So a serial that the issuer's
//! latest CRL lists must be listed again, or the step refuses: a ceremony
//! never silently un-revokes a certificate.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use der::{Decode, DecodePem, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use super::plan::{CrlStep, RevokeTarget};
use super::run::Runner;
use super::script::RevocationReason;
use super::sign::{load_issuer, LoadedIssuer};
use super::Error;
use crate::events::{Event, RevokedRecord};
use crate::token::{Token, TokenSigner};
use crate::{hex, transcript, x509};

/// The most a revoked certificate file may hold.
const MAX_CERTIFICATE_BYTES: u64 = 64 * 1024;

/// The role an `issue-crl` issuer is recorded under in `issuer_checked`.
const ROLE: &str = "crl";

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

fn refused(step: &CrlStep, reasons: Vec<String>) -> Error {
    Error::Refused {
        ceremony: format!("step {}", step.id),
        reasons,
    }
}

/// The CRL reason code for a script's reason; `None` for unspecified, which
/// RFC 5280 asks to express by leaving the extension out.
fn reason_code(reason: RevocationReason) -> Option<CrlReason> {
    match reason {
        RevocationReason::Unspecified => None,
        RevocationReason::KeyCompromise => Some(CrlReason::KeyCompromise),
        RevocationReason::CaCompromise => Some(CrlReason::CaCompromise),
        RevocationReason::AffiliationChanged => Some(CrlReason::AffiliationChanged),
        RevocationReason::Superseded => Some(CrlReason::Superseded),
        RevocationReason::CessationOfOperation => Some(CrlReason::CessationOfOperation),
    }
}

/// Loads the issuer and resolves every revocation. `now` is thisUpdate.
pub fn prepare(step: &CrlStep, now: SystemTime) -> Result<PreparedCrl, Error> {
    let issuer = load_issuer(ROLE, &step.issuer).map_err(|e| refused(step, vec![e]))?;
    let issuer_der = issuer.cert.to_der().map_err(|e| {
        refused(
            step,
            vec![format!(
                "issuer certificate {}: {e}",
                step.issuer.certificate.display()
            )],
        )
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
        return Err(refused(step, reasons));
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

/// What the transcript says about an issuer's CRLs so far: the highest CRL
/// number, and the serials that CRL revoked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CrlHistory {
    /// The highest `crl_number` recorded (0 when none).
    pub last_number: u64,
    /// The serials (hex) and reasons in the CRL with that number.
    pub revoked: Vec<(String, String)>,
}

impl CrlHistory {
    /// Takes one event into account: a `crl_issued` of the same issuer,
    /// matched by key label or by the issuer certificate's SHA-256.
    pub fn observe(&mut self, event: &Event<'_>, key_label: &str, cert_sha256: &str) {
        let Event::CrlIssued {
            issuer_key_label,
            issuer_certificate_sha256,
            crl_number,
            revoked,
            ..
        } = event
        else {
            return;
        };
        let same = issuer_key_label == key_label || issuer_certificate_sha256 == cert_sha256;
        if !same || *crl_number < self.last_number {
            return;
        }
        self.last_number = *crl_number;
        self.revoked = revoked
            .iter()
            .map(|r| (r.serial.clone(), r.reason.to_string()))
            .collect();
    }

    /// Reads the transcript at `path`, verifying it, for the CRLs of the
    /// issuer with key `key_label` or certificate `cert_sha256`. A
    /// `crl_issued` entry that does not read as that event fails the read
    /// at that entry: it never restarts the numbering.
    pub fn read(
        path: &std::path::Path,
        key_label: &str,
        cert_sha256: &str,
    ) -> Result<CrlHistory, transcript::Error> {
        let mut history = CrlHistory::default();
        transcript::verify_file_with(path, |entry| {
            if entry.kind == "crl_issued" {
                let event: Event<'static> = entry.parse()?;
                history.observe(&event, key_label, cert_sha256);
            }
            Ok(())
        })?;
        Ok(history)
    }

    /// The next CRL number, or `None` if it would overflow.
    pub fn next_number(&self) -> Option<u64> {
        self.last_number.checked_add(1)
    }

    /// Serials the last CRL revoked that `listed` does not, as reasons to refuse.
    pub fn dropped<'a>(&self, listed: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
        self.revoked
            .iter()
            .filter(|(serial, _)| !listed.clone().any(|l| l == serial))
            .map(|(serial, reason)| {
                format!(
                    "serial {serial} ({reason}) is revoked by this issuer's CRL #{} but not listed here; a new CRL replaces the last one, so it would no longer be revoked",
                    self.last_number
                )
            })
            .collect()
    }
}

/// The dry run's part: what the step would revoke, or why it refuses.
pub(super) fn dry_run(step: &CrlStep, out: &mut dyn Write, reasons: &mut Vec<String>) {
    match prepare(step, SystemTime::now()) {
        Ok(p) => {
            let _ = writeln!(
                out,
                "step {}: CRL from {} revoking {} certificate(s){}",
                step.id,
                p.issuer.cert.tbs_certificate().subject(),
                p.revoked.len(),
                if p.revoked.is_empty() {
                    " (an empty CRL)"
                } else {
                    ":"
                }
            );
            for (r, planned) in p.revoked.iter().zip(&step.revoke) {
                let _ = writeln!(
                    out,
                    "  revoke  serial {} ({}){}{}",
                    r.serial_hex,
                    r.reason.name(),
                    match (&r.subject, &r.certificate) {
                        (Some(s), Some(c)) => format!(", {s}, from {}", c.display()),
                        _ => String::new(),
                    },
                    match planned.revoked_at {
                        Some(t) => format!(", revoked at {t}"),
                        None => ", revoked when the CRL is signed".into(),
                    }
                );
            }
        }
        Err(Error::Refused { reasons: r, .. }) => {
            reasons.extend(r.into_iter().map(|r| format!("step {}: {r}", step.id)))
        }
        Err(e) => reasons.push(format!("step {}: {e}", step.id)),
    }
}

impl Runner<'_, '_> {
    pub(super) fn issue_crl(&mut self, token: &Token, step: &CrlStep) -> Result<(), Error> {
        let prepared = match prepare(step, SystemTime::now()) {
            Ok(p) => p,
            Err(Error::Refused { reasons, .. }) => return Err(self.refuse(Some(&step.id), reasons)),
            Err(e) => return Err(e),
        };
        let key = self.check_issuer(token, &step.id, ROLE, &step.issuer, &prepared.issuer.cert)?;

        // The transcript verified when it was opened; it is read again,
        // entry by entry and checked, for this issuer's earlier CRLs.
        let history = CrlHistory::read(
            self.transcript.path(),
            &step.issuer.key_label,
            &prepared.issuer_sha256,
        )?;
        let dropped = history.dropped(prepared.revoked.iter().map(|r| r.serial_hex.as_str()));
        if !dropped.is_empty() {
            return Err(self.refuse(Some(&step.id), dropped));
        }
        let Some(crl_number) = history.next_number() else {
            return Err(self.refuse(
                Some(&step.id),
                vec![format!(
                    "this issuer's last CRL number is {}; there is no next",
                    history.last_number
                )],
            ));
        };

        let signer = TokenSigner::new(token, &key, step.issuer.hash.unwrap_or_default())?;
        let revocations: Vec<x509::Revocation> = prepared
            .revoked
            .iter()
            .map(|r| x509::Revocation {
                serial: r.serial.clone(),
                revoked_at: r.revoked_at,
                reason: reason_code(r.reason),
            })
            .collect();
        let contents = x509::CrlContents {
            issuer: &prepared.issuer.cert,
            crl_number,
            this_update: prepared.this_update,
            next_update: prepared.next_update,
            revoked: &revocations,
        };
        let crl = x509::issue_crl(&format!("step {}: CRL", step.id), &contents, &signer)?;
        let pem = crl.pem()?;
        let records: Vec<RevokedRecord> = prepared
            .revoked
            .iter()
            .map(|r| RevokedRecord {
                serial: r.serial_hex.clone(),
                reason: Cow::Borrowed(r.reason.name()),
                revoked_at: der::DateTime::from_system_time(r.revoked_at)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                certificate: r.certificate.as_ref().map(|p| p.display().to_string()),
                subject: r.subject.clone(),
            })
            .collect();
        let file = &step.crl;
        self.record(&Event::CrlIssued {
            step: Cow::Borrowed(&step.id),
            issuer: Cow::Borrowed(&crl.issuer),
            issuer_key_label: Cow::Borrowed(&step.issuer.key_label),
            issuer_certificate: step.issuer.certificate.display().to_string(),
            issuer_certificate_sha256: Cow::Borrowed(&prepared.issuer_sha256),
            crl_number,
            this_update: Cow::Borrowed(&crl.this_update),
            next_update: Cow::Borrowed(&crl.next_update),
            revoked: Cow::Borrowed(&records),
            file: file.display().to_string(),
            sha256: Cow::Borrowed(&crl.sha256),
        })?;
        super::run::write_output(file, pem.as_bytes())?;
        self.crls += 1;
        self.say(format_args!(
            "step {}: wrote {} (CRL #{crl_number} of {}, {} revoked, nextUpdate {}, sha256 {})",
            step.id,
            file.display(),
            crl.issuer,
            records.len(),
            crl.next_update,
            crl.sha256
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
