//! The `issue-crl` step: load the issuing CA's certificate and every revoked
//! certificate the script names (each must have been issued by that CA),
//! take the CRL number from the transcript, sign through the token, verify,
//! record, and write the CRL. The dry run prints what `prepare` resolves.
//!
//! A CRL replaces its issuer's previous one. So a serial that the issuer's
//! latest CRL lists must be listed again, or the step refuses: a ceremony
//! never silently un-revokes a certificate.

mod history;
mod resolve;
mod spec;

pub use history::CrlHistory;
pub use resolve::{PreparedCrl, Resolved};
pub use spec::{parse_serial, RevocationReason, Revoke, Spec, Timestamp};

use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use x509_cert::ext::pkix::crl::CrlReason;

use super::super::plan::MAX_NEXT_UPDATE_DAYS;
use super::super::step::{
    nonempty, parse_as, write_output, Context, PlanContext, Prepared, Step, StepSpec, StepType,
};
use super::super::{Error, Reason};
use super::issuer::check_issuer;
use super::issuer::IssuerSpec;
use crate::events::{Event, RevokedRecord};
use crate::token::TokenSigner;
use crate::{hex, x509};

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "issue-crl",
    parse: parse_as::<Spec>,
};

/// The role an `issue-crl` issuer is recorded under in `issuer_checked`.
const ROLE: &str = "crl";

/// A resolved `issue-crl` step.
#[derive(Debug)]
pub struct CrlStep {
    /// Step id.
    pub id: String,
    /// The CA that signs the CRL.
    pub issuer: IssuerSpec,
    /// Where the CRL goes.
    pub crl: PathBuf,
    /// Days from thisUpdate to nextUpdate.
    pub next_update_days: u32,
    /// What the CRL revokes, in script order.
    pub revoke: Vec<PlannedRevocation>,
}

/// One revocation as the script names it.
#[derive(Debug, Clone)]
pub struct PlannedRevocation {
    /// The certificate file or the serial.
    pub target: RevokeTarget,
    /// Why.
    pub reason: RevocationReason,
    /// When; `None` means when the CRL is signed.
    pub revoked_at: Option<der::DateTime>,
}

/// How a script names a revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// A certificate file; its serial is read when the step runs.
    Certificate(PathBuf),
    /// A serial number: big-endian bytes, no leading zero byte.
    Serial(Vec<u8>),
}

impl StepSpec for Spec {
    fn id(&self) -> &str {
        &self.id
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String> {
        nonempty("issuer.key_label", &self.issuer.key_label)?;
        if self.next_update_days == 0 || self.next_update_days > MAX_NEXT_UPDATE_DAYS {
            return Err(format!(
                "next_update_days must be 1 to {MAX_NEXT_UPDATE_DAYS}, not {}",
                self.next_update_days
            ));
        }
        let mut revoke = Vec::new();
        let mut serials = BTreeSet::new();
        let mut files = BTreeSet::new();
        for (i, r) in self.revoke.iter().enumerate() {
            let at = |reason: String| format!("revoke[{i}]: {reason}");
            let target = match (&r.certificate, &r.serial) {
                (Some(path), None) => {
                    if !files.insert(path.clone()) {
                        return Err(at(format!(
                            "certificate {} is listed twice",
                            path.display()
                        )));
                    }
                    RevokeTarget::Certificate(path.clone())
                }
                (None, Some(serial)) => {
                    let bytes = parse_serial(serial).map_err(at)?;
                    if !serials.insert(bytes.clone()) {
                        return Err(at(format!(
                            "serial {} is listed twice",
                            hex::encode(&bytes)
                        )));
                    }
                    RevokeTarget::Serial(bytes)
                }
                _ => return Err(at(
                    "name the revoked certificate with certificate or with serial (one of them)"
                        .into(),
                )),
            };
            revoke.push(PlannedRevocation {
                target,
                reason: r.reason,
                revoked_at: r.revoked_at.map(|t| t.0),
            });
        }
        Ok(Box::new(CrlStep {
            id: self.id.clone(),
            issuer: self.issuer.clone(),
            crl: cx.output(&self.crl)?,
            next_update_days: self.next_update_days,
            revoke,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for CrlStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn action(&self) -> &'static str {
        TYPE.action
    }

    fn outputs(&self) -> Vec<&Path> {
        vec![&self.crl]
    }

    fn inputs(&self) -> Vec<&Path> {
        let revoked = self.revoke.iter().filter_map(|r| match &r.target {
            RevokeTarget::Certificate(p) => Some(p.as_path()),
            RevokeTarget::Serial(_) => None,
        });
        std::iter::once(self.issuer.certificate.as_path())
            .chain(revoked)
            .collect()
    }

    fn deferred(&self) -> &'static str {
        "certificates are made by an earlier step; revocations are resolved when the ceremony runs"
    }

    fn prepare(&self, now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error> {
        let prepared = resolve::resolve(self, now).map_err(|reasons| Error::Refused {
            ceremony: format!("step {}", self.id),
            reasons: reasons.into_iter().map(Reason::Rule).collect(),
        })?;
        Ok(Box::new(Ready {
            step: self,
            prepared,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
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

/// An `issue-crl` step with its revocations resolved.
struct Ready<'s> {
    step: &'s CrlStep,
    prepared: PreparedCrl,
}

impl Prepared for Ready<'_> {
    fn preview(&self, out: &mut dyn Write) -> Vec<Reason> {
        let (step, p) = (self.step, &self.prepared);
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
        Vec::new()
    }

    fn execute(self: Box<Self>, cx: &mut Context<'_>) -> Result<(), Error> {
        let Ready { step, prepared } = *self;
        let key = check_issuer(cx, ROLE, &step.issuer, &prepared.issuer.cert)?;

        // The transcript verified when it was opened; it is read again,
        // entry by entry and checked, for this issuer's earlier CRLs.
        let history = CrlHistory::read(
            cx.transcript_path(),
            &step.issuer.key_label,
            &prepared.issuer_sha256,
        )?;
        let dropped = history.dropped(prepared.revoked.iter().map(|r| r.serial_hex.as_str()));
        if !dropped.is_empty() {
            return Err(cx.refuse(dropped));
        }
        let Some(crl_number) = history.next_number() else {
            return Err(cx.refuse(vec![Reason::Rule(format!(
                "this issuer's last CRL number is {}; there is no next",
                history.last_number
            ))]));
        };

        let token = cx.token();
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
        cx.record(&Event::CrlIssued {
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
        write_output(file, pem.as_bytes())?;
        cx.tally().crls += 1;
        cx.say(format_args!(
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

impl fmt::Display for CrlStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  issuer       key {:?} in the token, certificate {}",
            self.issuer.key_label,
            self.issuer.certificate.display()
        )?;
        writeln!(
            f,
            "  crl          issue CRL #n (number decided at run time from the transcript: one more than this issuer's highest, 1 for its first), AKI, CRL number, signed by the issuer's key"
        )?;
        writeln!(
            f,
            "  validity     thisUpdate now, nextUpdate {} days from now",
            self.next_update_days
        )?;
        if self.revoke.is_empty() {
            writeln!(f, "  revoke       nothing (an empty CRL)")?;
        }
        for r in &self.revoke {
            writeln!(f, "  revoke       {r}")?;
        }
        writeln!(f, "  writes       {}", self.crl.display())
    }
}

impl fmt::Display for PlannedRevocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            RevokeTarget::Certificate(p) => write!(
                f,
                "certificate {} (serial read from it; it must be issued by this issuer)",
                p.display()
            )?,
            RevokeTarget::Serial(b) => write!(f, "serial {}", hex::encode(b))?,
        }
        write!(f, ", reason {}, ", self.reason.name())?;
        match self.revoked_at {
            Some(t) => write!(f, "revoked at {t}"),
            None => write!(f, "revoked now"),
        }
    }
}

#[cfg(test)]
mod tests;
