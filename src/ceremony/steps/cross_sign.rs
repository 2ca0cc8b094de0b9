//! The `cross-sign` step: an existing root's key, in the token, signs a
//! link certificate for another root: that root's subject, public key,
//! subject key identifier and CA constraints, issued by the existing root.
//! What the other root signs then verifies for a client that trusts only
//! the existing root (through the link), which is how a root is rotated
//! without an outage. The reverse link is a second step the other way.
//!
//! `prepare` reads both certificates (no token) and refuses a pair that
//! cannot link: a subject that is not a CA, the same key or the same key
//! identifier on both sides, or a subject already expired. The link never
//! outlives the root it certifies or the root that signs it. The run
//! checks the issuer's key against its certificate in the token, signs,
//! verifies in software and records `certificate_issued` (profile `link`).

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use der::DecodePem;
use serde::Deserialize;
use x509_cert::Certificate;

use super::super::plan::{MAX_BACKDATE_MINUTES, MAX_VALIDITY_DAYS};
use super::super::step::{
    parse_as, write_output, Context, PlanContext, Prepared, Step, StepSpec, StepType,
};
use super::super::{Error, Reason};
use super::issuer::{check_issuer, load_issuer, IssuerSpec, LoadedIssuer};
use crate::events::Event;
use crate::profile::LinkProfile;
use crate::token::TokenSigner;
use crate::x509;

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "cross-sign",
    parse: parse_as::<Spec>,
};

fn default_backdate_minutes() -> u32 {
    5
}

/// A `cross-sign` step as the script gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id.
    pub id: String,
    /// The existing root that signs: its key in the token and its certificate.
    pub issuer: IssuerSpec,
    /// The other root's certificate (PEM), relative to the current
    /// directory: its subject and public key are certified.
    pub subject_certificate: PathBuf,
    /// Where the link certificate goes, inside the output directory.
    pub certificate: PathBuf,
    /// The link's lifetime from now, in days; it never outlives either
    /// root. Default: until the earlier of the two roots' notAfter.
    pub validity_days: Option<u32>,
    /// notBefore backdate, minutes.
    #[serde(default = "default_backdate_minutes")]
    pub backdate_minutes: u32,
    /// Whether every witness acknowledges the step first.
    #[serde(default)]
    pub witnessed: bool,
}

/// A `cross-sign` step, resolved.
#[derive(Debug)]
pub struct CrossSignStep {
    /// Step id.
    pub id: String,
    /// The signing root.
    pub issuer: IssuerSpec,
    /// The other root's certificate.
    pub subject_certificate: PathBuf,
    /// The link's file.
    pub certificate: PathBuf,
    /// The lifetime asked for, if any.
    pub lifetime: Option<Duration>,
    /// notBefore backdate.
    pub backdate: Duration,
}

impl StepSpec for Spec {
    fn id(&self) -> &str {
        &self.id
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String> {
        if let Some(days) = self.validity_days {
            if days == 0 || days > MAX_VALIDITY_DAYS {
                return Err(format!(
                    "validity_days must be 1 to {MAX_VALIDITY_DAYS}, not {days}"
                ));
            }
        }
        if self.backdate_minutes > MAX_BACKDATE_MINUTES {
            return Err(format!(
                "backdate_minutes must be at most {MAX_BACKDATE_MINUTES}"
            ));
        }
        if self.issuer.certificate == self.subject_certificate {
            return Err("subject_certificate is the issuer's certificate: a root does not cross-sign itself".into());
        }
        Ok(Box::new(CrossSignStep {
            id: self.id.clone(),
            issuer: self.issuer.clone(),
            subject_certificate: self.subject_certificate.clone(),
            certificate: cx.output(&self.certificate)?,
            lifetime: self
                .validity_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400)),
            backdate: Duration::from_secs(u64::from(self.backdate_minutes) * 60),
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for CrossSignStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn action(&self) -> &'static str {
        TYPE.action
    }

    fn outputs(&self) -> Vec<&Path> {
        vec![&self.certificate]
    }

    fn inputs(&self) -> Vec<&Path> {
        vec![&self.issuer.certificate, &self.subject_certificate]
    }

    fn prepare(&self, now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error> {
        let refuse = |rule: String| Error::Refused {
            ceremony: String::new(),
            reasons: vec![Reason::Rule(rule)],
        };
        let issuer = load_issuer("cross-sign", &self.issuer).map_err(refuse)?;
        let what = format!("subject_certificate {}", self.subject_certificate.display());
        let subject = std::fs::read_to_string(&self.subject_certificate)
            .map_err(|e| format!("{what}: {e}"))
            .and_then(|pem| {
                Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| format!("{what}: not a PEM certificate: {e}"))
            })
            .map_err(refuse)?;
        let profile = LinkProfile::new(&issuer.cert, &subject)
            .map_err(|rule| refuse(format!("{what}: {rule}")))?;
        let subject_end = subject
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time();
        let end = subject_end.min(issuer.not_after);
        let left = end
            .duration_since(now)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                refuse(format!(
                    "{what}: it or the issuer has expired; a link would never be valid"
                ))
            })?;
        let lifetime = self.lifetime.map_or(left, |asked| asked.min(left));
        Ok(Box::new(Loaded {
            step: self,
            issuer,
            subject,
            profile,
            lifetime,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The step with both certificates read and the link checked.
struct Loaded<'s> {
    step: &'s CrossSignStep,
    issuer: LoadedIssuer,
    subject: Certificate,
    profile: LinkProfile,
    lifetime: Duration,
}

impl Prepared for Loaded<'_> {
    fn preview(&self, out: &mut dyn Write) -> Vec<Reason> {
        let _ = writeln!(
            out,
            "step {}: link certificate for {} (its key and key identifier), issued by {}, valid {} days",
            self.step.id,
            self.profile.subject(),
            self.profile.issuer(),
            self.lifetime.as_secs() / 86_400
        );
        Vec::new()
    }

    fn execute(self: Box<Self>, cx: &mut Context<'_>) -> Result<(), Error> {
        let step = self.step;
        let key = check_issuer(cx, "cross-sign", &step.issuer, &self.issuer.cert)?;
        let token = cx.token();
        let signer = TokenSigner::new(token, &key, step.issuer.hash.unwrap_or_default())?;
        let serial = x509::serial_from_random(&token.random16()?);
        let validity = x509::validity(&step.id, SystemTime::now(), step.backdate, self.lifetime)?;
        let spki = self
            .subject
            .tbs_certificate()
            .subject_public_key_info()
            .clone();
        let issued = x509::issue(
            &step.id,
            self.profile.clone(),
            serial,
            validity,
            spki,
            &signer,
        )?;
        let pem = issued.pem()?;
        let file = &step.certificate;
        cx.record(&Event::CertificateIssued {
            step: Cow::Borrowed(&step.id),
            request: None,
            profile: Some(Cow::Borrowed("link")),
            sans: Cow::Borrowed(&[]),
            file: file.display().to_string(),
            certificate: Cow::Borrowed(&issued),
        })?;
        write_output(file, pem.as_bytes())?;
        cx.tally().certificates += 1;
        cx.say(format_args!(
            "step {}: wrote {} (link: {} issued by {}, serial {}, sha256 {})",
            step.id,
            file.display(),
            issued.subject,
            issued.issuer,
            issued.serial,
            issued.sha256
        ));
        Ok(())
    }
}

impl fmt::Display for CrossSignStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  issuer       key {:?}, certificate {}",
            self.issuer.key_label,
            self.issuer.certificate.display()
        )?;
        writeln!(
            f,
            "  certifies    the root in {} (its subject, public key, key identifier and CA constraints): a link certificate",
            self.subject_certificate.display()
        )?;
        writeln!(
            f,
            "  validity     {}, notBefore backdated {} min; never past either root's notAfter",
            match self.lifetime {
                Some(l) => format!("{} days from now", l.as_secs() / 86_400),
                None => "until the earlier root's notAfter".into(),
            },
            self.backdate.as_secs() / 60
        )?;
        writeln!(f, "  writes       {}", self.certificate.display())
    }
}
