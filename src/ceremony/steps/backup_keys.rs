//! The `backup-keys` step: backup-capable keys wrapped under a one-time
//! trusted key whose value is split M of N among custodians.
//!
//! In order: each listed key is found and must have the `backup` (or
//! `restored`) policy, else the step refuses (and the dry run refuses a
//! key that this script or the transcript says was made never-extractable);
//! a secret is made from 64 bytes of the token's RNG and 64 of the
//! operating system's; it is split M of N (Feldman VSS) and each share is
//! sealed to its custodian's age recipient; the security officer creates
//! the trusted wrap key (`CKA_TRUSTED`, a session object, so that it dies
//! with the session whatever happens) from a value derived from the
//! secret; the user wraps each key with it (`CKM_AES_KEY_WRAP_PAD`); the
//! wrap key is destroyed on every path; the bundle is written under a
//! temporary name and renamed into place whole. The secret, the wrap key's
//! value and the shares are zeroized; the transcript records everything
//! else.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::super::step::{
    key_labels, parse_as, write_output_dir, Context, PlanContext, Prepared, Step, StepSpec,
    StepType,
};
use super::super::{Error, Reason};
use super::custodians::{self, Holder, HolderSpec};
use crate::custody::manifest::{self, Manifest, SourceToken, WrappedKey};
use crate::custody::{self, Purpose};
use crate::events::{BackupRecord, Event, KeyCustodyRecord};
use crate::hex;
use crate::token::{KeyPolicy, KeyRecord, Token};

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "backup-keys",
    parse: parse_as::<Spec>,
};

/// A `backup-keys` step as the script gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id.
    pub id: String,
    /// Labels of the keys to back up (each made with `backup = true`).
    pub keys: Vec<String>,
    /// Shares needed to restore (M, at least 2).
    pub threshold: u8,
    /// Who holds a share (N of them), in index order.
    pub custodians: Vec<HolderSpec>,
    /// The backup bundle's directory, inside the output directory; it must
    /// not exist.
    pub directory: PathBuf,
    /// Whether every witness acknowledges the step first.
    #[serde(default)]
    pub witnessed: bool,
}

/// A `backup-keys` step, resolved.
#[derive(Debug)]
pub struct BackupStep {
    /// Step id.
    pub id: String,
    /// The keys, by label, with what the plan knows of each one's policy.
    pub keys: Vec<(String, Option<KeyPolicy>)>,
    /// M.
    pub threshold: u8,
    /// The custodians, in index order.
    pub custodians: Vec<Holder>,
    /// The bundle's directory.
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
        key_labels("keys", &self.keys)?;
        let custodians = custodians::resolve("custodians", &self.custodians, self.threshold)?;
        Ok(Box::new(BackupStep {
            id: self.id.clone(),
            keys: self
                .keys
                .iter()
                .map(|l| (l.clone(), cx.known_keys.get(l).copied()))
                .collect(),
            threshold: self.threshold,
            custodians,
            directory: cx.output(&self.directory)?,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for BackupStep {
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
        let reasons: Vec<Reason> = self
            .keys
            .iter()
            .filter(|(_, policy)| *policy == Some(KeyPolicy::NeverExtractable))
            .map(|(label, _)| Reason::Rule(not_backup_capable(label, KeyPolicy::NeverExtractable)))
            .collect();
        if !reasons.is_empty() {
            return Err(Error::Refused {
                ceremony: String::new(),
                reasons,
            });
        }
        Ok(Box::new(Ready(self)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn not_backup_capable(label: &str, policy: KeyPolicy) -> String {
    format!(
        "key {label:?} has policy {policy}, not backup: only a key generated with `backup = true` can be backed up"
    )
}

/// The step, ready to run (its inputs are all in the script).
struct Ready<'s>(&'s BackupStep);

impl Prepared for Ready<'_> {
    fn preview(&self, out: &mut dyn Write) -> Vec<Reason> {
        let step = self.0;
        for (label, policy) in &step.keys {
            let known = match policy {
                Some(p) => format!("policy {p}"),
                None => "policy checked in the token when the ceremony runs".into(),
            };
            let _ = writeln!(out, "step {}: backs up key {label:?} ({known})", step.id);
        }
        Vec::new()
    }

    fn execute(self: Box<Self>, cx: &mut Context<'_>) -> Result<(), Error> {
        self.0.execute(cx)
    }
}

impl BackupStep {
    fn wrap_key_label(&self) -> String {
        format!("ceremony-backup-wrap-{}", self.id)
    }

    fn execute(&self, cx: &mut Context<'_>) -> Result<(), Error> {
        let token = cx.token();
        // Every key first: a key that may not be backed up stops the step
        // before any secret is made.
        let mut reasons = Vec::new();
        for (label, _) in &self.keys {
            let key = token.find_key(label)?;
            let policy = key.policy();
            if !matches!(policy, KeyPolicy::Backup | KeyPolicy::Restored) {
                reasons.push(Reason::Rule(not_backup_capable(label, policy)));
            } else {
                key.check_policy(&token.identity().label)?;
            }
        }
        if !reasons.is_empty() {
            return Err(cx.refuse(reasons));
        }

        // The secret, its shares (sealed), and the wrap key's value.
        let count = self.custodians.len() as u8;
        let custodians::Dealt {
            secret,
            commitments,
            sealed,
        } = custodians::deal(token, Purpose::Backup, self.threshold, &self.custodians)?;
        let wrap_value = custody::wrap_key(&secret);
        drop(secret);

        // The security officer makes the trusted wrap key; the user wraps.
        let label = self.wrap_key_label();
        cx.as_security_officer(|token| {
            token
                .create_trusted_wrap_key(&wrap_value, &label)
                .map(drop)
                .map_err(Error::from)
        })?;
        drop(wrap_value);
        cx.record(&Event::WrapKeyCreated {
            step: Cow::Borrowed(&self.id),
            label: Cow::Borrowed(&label),
        })?;
        let wrapped = self.wrap_all(token, &label);
        let destroyed = token
            .find_trusted_wrap_key(&label)
            .and_then(|key| token.destroy_object(key));
        cx.record(&Event::WrapKeyDestroyed {
            step: Cow::Borrowed(&self.id),
            label: Cow::Borrowed(&label),
            error: destroyed.as_ref().err().map(ToString::to_string),
        })?;
        let wrapped = wrapped?;
        destroyed?;

        // The bundle, written whole under a temporary name, then placed.
        let id = token.identity();
        let manifest = Manifest {
            format: manifest::FORMAT.into(),
            ceremony: cx.ceremony().to_string(),
            step: self.id.clone(),
            created: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            token: SourceToken {
                label: id.label.clone(),
                serial: id.serial.clone(),
                manufacturer: id.manufacturer.clone(),
                model: id.model.clone(),
            },
            mechanism: manifest::MECHANISM.into(),
            wrap_key_derivation: manifest::DERIVATION.into(),
            sharing: manifest::Sharing {
                scheme: manifest::SCHEME.into(),
                threshold: self.threshold,
                count,
                set: commitments.fingerprint(),
                commitments: commitments.to_hex(),
            },
            custodians: self
                .custodians
                .iter()
                .zip(&sealed)
                .enumerate()
                .map(|(i, (c, (file, bytes)))| manifest::Custodian {
                    name: c.name.clone(),
                    recipient: c.recipient_text.clone(),
                    index: i as u8 + 1,
                    file: file.clone(),
                    sha256: hex::encode(&Sha256::digest(bytes)),
                })
                .collect(),
            keys: wrapped
                .iter()
                .map(|(key, bytes)| WrappedKey {
                    label: key.label.clone(),
                    id: key.id.clone(),
                    algorithm: key.algorithm,
                    policy: key.policy(),
                    spki: hex::encode(&key.spki_der),
                    spki_sha256: key.spki_sha256.clone(),
                    wrapped: hex::encode(bytes),
                    wrapped_sha256: hex::encode(&Sha256::digest(bytes)),
                })
                .collect(),
        };
        manifest
            .check()
            .map_err(|e| cx.refuse(vec![Reason::Rule(format!("the backup manifest: {e}"))]))?;
        let manifest_json = manifest.to_json();
        let custodian_records = custodians::records(&self.custodians, &sealed, &self.directory);
        let mut files: Vec<(String, Vec<u8>)> = vec![(manifest::MANIFEST.into(), manifest_json)];
        files.extend(sealed);
        let sums = custodians::sums(&files);
        let signature = custodians::sign_sums(cx, &sums)?;
        let record = BackupRecord {
            directory: self.directory.display().to_string(),
            manifest_sha256: hex::encode(&Sha256::digest(&files[0].1)),
            sums_sha256: hex::encode(&Sha256::digest(sums.as_bytes())),
            signed: signature.is_some(),
            threshold: self.threshold,
            count,
            set: manifest.sharing.set.clone(),
            commitments: manifest.sharing.commitments.clone(),
            custodians: custodian_records,
            keys: manifest
                .keys
                .iter()
                .map(|k| KeyCustodyRecord {
                    label: k.label.clone(),
                    id: k.id.clone(),
                    algorithm: k.algorithm,
                    policy: k.policy,
                    spki_sha256: k.spki_sha256.clone(),
                    wrapped_sha256: k.wrapped_sha256.clone(),
                    test_signature_verified: None,
                })
                .collect(),
        };
        files.push((manifest::SUMS.into(), sums.into_bytes()));
        if let Some(sig) = signature {
            files.push((manifest::SUMS_SIGNATURE.into(), sig));
        }
        write_output_dir(&self.directory, &files)?;
        cx.record(&Event::KeysBackedUp {
            step: Cow::Borrowed(&self.id),
            backup: Box::new(record),
        })?;
        cx.say(format_args!(
            "step {}: backed up {} key(s) to {} ({} of {} custodians' shares restore them; share set {})",
            self.id,
            wrapped.len(),
            self.directory.display(),
            self.threshold,
            count,
            manifest.sharing.set
        ));
        Ok(())
    }

    /// Wraps every key with the trusted key `label` (found again: the
    /// user's handles died at the security officer's login).
    fn wrap_all(&self, token: &Token, label: &str) -> Result<Vec<(KeyRecord, Vec<u8>)>, Error> {
        let wrap_key = token.find_trusted_wrap_key(label)?;
        self.keys
            .iter()
            .map(|(label, _)| {
                let key = token.find_key(label)?;
                let wrapped = token.wrap_private_key(&wrap_key, &key)?;
                Ok((key, wrapped))
            })
            .collect()
    }
}

impl fmt::Display for BackupStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<String> = self.keys.iter().map(|(l, _)| format!("{l:?}")).collect();
        writeln!(
            f,
            "  keys         {} (each must have policy backup)",
            labels.join(", ")
        )?;
        writeln!(
            f,
            "  quorum       {} of {} custodians restore them; the wrap key's value is split among them (Feldman VSS over P-256)",
            self.threshold,
            self.custodians.len()
        )?;
        custodians::plan_lines(f, "custodian", &self.custodians)?;
        writeln!(
            f,
            "  officer      logs in as the security officer (SO PIN) to create a trusted wrap key, destroyed after"
        )?;
        writeln!(
            f,
            "  writes       {}/ (manifest.json, shares/, SHA256SUMS)",
            self.directory.display()
        )
    }
}
