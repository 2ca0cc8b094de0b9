//! The `activate-quorum` step: the token's user PIN set, by the security
//! officer, to a value no person sees, whose secret is split M of N among
//! officers; from then on the user logs in only with M officers' shares
//! (`ceremony run --pin-share SHARE=IDENTITY …`).
//!
//! In order: a secret from the token's and the operating system's random
//! bytes; the PIN derived from it (32 hex characters); the secret split and
//! each share (purpose `user-pin`) sealed to its officer; the sealed shares
//! and their `SHA256SUMS` (signed by the audit key when the token has one)
//! written whole into the step's directory; then the PIN set
//! (`C_InitPIN`, as the SO) and the user logged in with it. When the token
//! does not take the PIN, the directory is removed again: its shares would
//! open nothing. When it took the PIN and a later part failed (the SO's
//! logout, the user's login), the shares stay and the quorum is recorded:
//! they are then the only way in. The secret and the PIN are zeroized; the transcript records the
//! commitments (what a quorum login checks shares against) and everything
//! else public.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use cryptoki::types::AuthPin;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::super::step::{
    parse_as, write_output_dir, Context, PlanContext, Prepared, Ready, Step, StepSpec, StepType,
};
use super::super::Error;
use super::custodians::{self, Holder, HolderSpec};
use crate::custody::{self, Purpose};
use crate::events::{Event, QuorumRecord};
use crate::hex;

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "activate-quorum",
    parse: parse_as::<Spec>,
};

/// An `activate-quorum` step as the script gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id.
    pub id: String,
    /// Officers' shares needed to log in (M, at least 2).
    pub threshold: u8,
    /// The officers (N of them), in index order.
    pub officers: Vec<HolderSpec>,
    /// The directory for the sealed shares, inside the output directory;
    /// it must not exist.
    pub directory: PathBuf,
    /// Whether every witness acknowledges the step first.
    #[serde(default)]
    pub witnessed: bool,
}

/// An `activate-quorum` step, resolved.
#[derive(Debug)]
pub struct QuorumStep {
    /// Step id.
    pub id: String,
    /// M.
    pub threshold: u8,
    /// The officers, in index order.
    pub officers: Vec<Holder>,
    /// The shares' directory.
    pub directory: PathBuf,
}

impl StepSpec for Spec {
    fn id(&self) -> &str {
        &self.id
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(QuorumStep {
            id: self.id.clone(),
            threshold: self.threshold,
            officers: custodians::resolve("officers", &self.officers, self.threshold)?,
            directory: cx.output(&self.directory)?,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for QuorumStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn action(&self) -> &'static str {
        TYPE.action
    }

    fn outputs(&self) -> Vec<&Path> {
        vec![&self.directory]
    }

    fn security_officer(&self) -> bool {
        true
    }

    fn prepare(&self, _now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error> {
        Ok(Box::new(Ready(self, QuorumStep::execute)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl QuorumStep {
    fn execute(&self, cx: &mut Context<'_>) -> Result<(), Error> {
        let token = cx.token();
        let count = self.officers.len() as u8;
        let custodians::Dealt {
            secret,
            commitments,
            sealed,
        } = custodians::deal(token, Purpose::UserPin, self.threshold, &self.officers)?;
        let pin = custody::user_pin(&secret);
        drop(secret);
        let officers = custodians::records(&self.officers, &sealed, &self.directory);
        let mut files = sealed;
        let sums = custodians::sums(&files);
        let signature = custodians::sign_sums(cx, &sums)?;
        let sums_sha256 = hex::encode(&Sha256::digest(sums.as_bytes()));
        files.push(("SHA256SUMS".into(), sums.into_bytes()));
        if let Some(sig) = signature {
            files.push(("SHA256SUMS.sig".into(), sig));
        }
        // The shares first: a PIN set without them would lock the user out.
        write_output_dir(&self.directory, &files)?;
        let (changed, result) = cx.set_user_pin(AuthPin::from(pin.as_str()));
        drop(pin);
        if !changed {
            // The token kept its PIN: these shares would open nothing.
            let _ = std::fs::remove_dir_all(&self.directory);
            return result;
        }
        // The token took the PIN: the shares are now the only way in, so
        // they stay and are recorded even if what followed failed.
        let id = token.identity();
        let set = commitments.fingerprint();
        let recorded = cx.record(&Event::QuorumActivated {
            step: Cow::Borrowed(&self.id),
            quorum: Box::new(QuorumRecord {
                token_label: id.label.clone(),
                token_serial: id.serial.clone(),
                directory: self.directory.display().to_string(),
                sums_sha256,
                threshold: self.threshold,
                count,
                set: set.clone(),
                commitments: commitments.to_hex(),
                officers,
            }),
        });
        result?;
        recorded?;
        cx.say(format_args!(
            "step {}: the user PIN of token {:?} is now under a quorum: {} of {} officers' shares log in (share set {set}); shares in {}",
            self.id,
            id.label,
            self.threshold,
            count,
            self.directory.display()
        ));
        Ok(())
    }
}

impl fmt::Display for QuorumStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  user PIN     set by the security officer (SO PIN) to a random value no one sees; {} of {} officers' shares log in from now on (--pin-share)",
            self.threshold,
            self.officers.len()
        )?;
        custodians::plan_lines(f, "officer", &self.officers)?;
        writeln!(
            f,
            "  writes       {}/ (shares/, SHA256SUMS)",
            self.directory.display()
        )
    }
}
