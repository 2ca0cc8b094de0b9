//! The `generate-root` step: a key pair generated in the token (sensitive,
//! never extractable, sign only; or with `backup = true` extractable only
//! under a trusted wrap key) and its self-signed root CA certificate,
//! verified in software, recorded, then written.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::super::plan::{MAX_BACKDATE_MINUTES, MAX_VALIDITY_DAYS};
use super::super::step::{
    nonempty, parse_as, write_output, Context, PlanContext, Prepared, Ready, Step, StepSpec,
    StepType,
};
use super::super::Error;
use crate::events::Event;
use crate::profile::RootProfile;
use crate::token::{KeyAlgorithm, KeyPolicy, SignatureHash, TokenSigner};
use crate::x509;

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "generate-root",
    parse: parse_as::<Spec>,
};

fn default_validity_days() -> u32 {
    3650
}

fn default_backdate_minutes() -> u32 {
    5
}

/// A `generate-root` step as the script gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id.
    pub id: String,
    /// The new key's label.
    pub key_label: String,
    /// The new key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// Digest for RSA signatures (ECDSA keys use their own).
    pub hash: Option<SignatureHash>,
    /// The certificate's subject, RFC 4514.
    pub subject: String,
    /// Lifetime in days.
    #[serde(default = "default_validity_days")]
    pub validity_days: u32,
    /// notBefore backdate in minutes.
    #[serde(default = "default_backdate_minutes")]
    pub backdate_minutes: u32,
    /// pathLenConstraint, if any.
    pub path_len: Option<u8>,
    /// Where the certificate goes, inside the output directory.
    pub certificate: PathBuf,
    /// Whether the key may be backed up: extractable, but only wrapped by
    /// a trusted key ([`KeyPolicy::Backup`]).
    #[serde(default)]
    pub backup: bool,
    /// Whether every witness acknowledges the step first.
    #[serde(default)]
    pub witnessed: bool,
}

/// A `generate-root` step, resolved.
#[derive(Debug)]
pub struct RootStep {
    /// Step id.
    pub id: String,
    /// New key's label.
    pub key_label: String,
    /// New key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// New key's policy.
    pub policy: KeyPolicy,
    /// Digest for the signature.
    pub hash: SignatureHash,
    /// The certificate profile.
    pub profile: RootProfile,
    /// Lifetime from now.
    pub lifetime: Duration,
    /// notBefore backdate.
    pub backdate: Duration,
    /// Where the certificate goes.
    pub certificate: PathBuf,
}

impl StepSpec for Spec {
    fn id(&self) -> &str {
        &self.id
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String> {
        nonempty("key_label", &self.key_label)?;
        if self.hash.is_some() && !self.algorithm.is_rsa() {
            return Err(format!(
                "hash applies to RSA keys only; {} signs with its own digest",
                self.algorithm
            ));
        }
        if self.validity_days == 0 || self.validity_days > MAX_VALIDITY_DAYS {
            return Err(format!(
                "validity_days must be 1 to {MAX_VALIDITY_DAYS}, not {}",
                self.validity_days
            ));
        }
        if self.backdate_minutes > MAX_BACKDATE_MINUTES {
            return Err(format!(
                "backdate_minutes must be at most {MAX_BACKDATE_MINUTES}"
            ));
        }
        let profile = RootProfile::new(&self.subject, self.path_len).map_err(|e| e.to_string())?;
        Ok(Box::new(RootStep {
            id: self.id.clone(),
            key_label: self.key_label.clone(),
            algorithm: self.algorithm,
            policy: KeyPolicy::chosen(self.backup),
            hash: self.hash.unwrap_or_default(),
            profile,
            lifetime: Duration::from_secs(u64::from(self.validity_days) * 86_400),
            backdate: Duration::from_secs(u64::from(self.backdate_minutes) * 60),
            certificate: cx.output(&self.certificate)?,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for RootStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn action(&self) -> &'static str {
        TYPE.action
    }

    fn new_key_labels(&self) -> Vec<&str> {
        vec![&self.key_label]
    }

    fn new_key_policies(&self) -> Vec<(&str, KeyPolicy)> {
        vec![(&self.key_label, self.policy)]
    }

    fn outputs(&self) -> Vec<&Path> {
        vec![&self.certificate]
    }

    fn prepare(&self, _now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error> {
        Ok(Box::new(Ready(self, RootStep::execute)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl RootStep {
    fn execute(&self, cx: &mut Context<'_>) -> Result<(), Error> {
        let token = cx.token();
        let key = token.generate_ca_key(&self.key_label, self.algorithm, self.policy)?;
        cx.tally().keys += 1;
        cx.record(&Event::KeyGenerated {
            step: Cow::Borrowed(&self.id),
            key: Cow::Borrowed(&key),
        })?;
        key.check_policy(&token.identity().label)?;
        cx.say(format_args!(
            "step {}: generated {} key {:?} (id {}, policy {}, public key sha256 {})",
            self.id,
            key.algorithm,
            key.label,
            key.id,
            key.policy(),
            key.spki_sha256
        ));

        let signer = TokenSigner::new(token, &key, self.hash)?;
        let serial = x509::serial_from_random(&token.random16()?);
        let validity = x509::validity(&self.id, SystemTime::now(), self.backdate, self.lifetime)?;
        let spki = x509::spki_from_der(&self.id, &key.spki_der)?;
        let issued = x509::issue(
            &self.id,
            self.profile.clone(),
            serial,
            validity,
            spki,
            &signer,
        )?;
        let pem = issued.pem()?;
        let file = &self.certificate;
        cx.record(&Event::CertificateIssued {
            step: Cow::Borrowed(&self.id),
            request: None,
            profile: None,
            sans: Cow::Borrowed(&[]),
            file: file.display().to_string(),
            certificate: Cow::Borrowed(&issued),
        })?;
        write_output(file, pem.as_bytes())?;
        cx.tally().certificates += 1;
        cx.say(format_args!(
            "step {}: wrote {} ({}, serial {}, sha256 {})",
            self.id,
            file.display(),
            issued.subject,
            issued.serial,
            issued.sha256
        ));
        Ok(())
    }
}

impl fmt::Display for RootStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The never-extractable text is what acknowledgement codes of
        // existing scripts cover: it stays as it was.
        writeln!(
            f,
            "  key          generate {} key pair labelled {:?} in the token ({})",
            self.algorithm,
            self.key_label,
            self.policy.plan_text()
        )?;
        let sig = match (self.algorithm, self.hash) {
            (KeyAlgorithm::EcdsaP256, _) => "ecdsa-with-SHA256",
            (KeyAlgorithm::EcdsaP384, _) => "ecdsa-with-SHA384",
            (_, SignatureHash::Sha256) => "sha256WithRSAEncryption",
            (_, SignatureHash::Sha384) => "sha384WithRSAEncryption",
            (_, SignatureHash::Sha512) => "sha512WithRSAEncryption",
        };
        writeln!(
            f,
            "  certificate  self-signed {}: CA:TRUE{} (critical), keyCertSign+cRLSign (critical), SKI+AKI, signature {sig}",
            self.profile.subject(),
            match self.profile.path_len() {
                Some(n) => format!(", pathlen:{n}"),
                None => String::new(),
            }
        )?;
        writeln!(
            f,
            "  validity     {} days from now, notBefore backdated {} min",
            self.lifetime.as_secs() / 86_400,
            self.backdate.as_secs() / 60
        )?;
        writeln!(f, "  writes       {}", self.certificate.display())
    }
}
