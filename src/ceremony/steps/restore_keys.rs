//! The `restore-keys` step: keys from a backup bundle unwrapped into this
//! ceremony's token, under a quorum of custodians' shares.
//!
//! `prepare` reads the bundle (no token): `SHA256SUMS` must list
//! `manifest.json` and match it, and every listed file that is present;
//! the manifest must keep its rules and hold every key the script names.
//! The run then judges the shares given with `--share` against the
//! manifest's commitments (each alone; a bad one is named and recorded),
//! rebuilds the secret from at least M good ones, has the security officer
//! create the trusted unwrap key (a session object), and as the user
//! unwraps each key with the policy it had, creates its public key from
//! the manifest, signs a test message with the restored private key and
//! verifies it in software with the backed-up public key. The unwrap key
//! is destroyed on every path; on a failure every object the step created
//! is destroyed too, so the token holds all the keys or none of them.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::super::shares;
use super::super::step::{
    key_labels, parse_as, Context, PlanContext, Prepared, Step, StepSpec, StepType,
};
use super::super::{Error, Reason};
use crate::custody::manifest::{self, Manifest, WrappedKey};
use crate::custody::{self, Purpose};
use crate::events::{Event, KeyCustodyRecord, RestoreRecord};
use crate::hex;
use crate::token::{KeyPolicy, SignatureHash, Token, TokenObject, TokenSigner};

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "restore-keys",
    parse: parse_as::<Spec>,
};

/// The largest `SHA256SUMS` read.
const MAX_SUMS_BYTES: u64 = 64 * 1024;

/// A `restore-keys` step as the script gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id.
    pub id: String,
    /// The backup bundle's directory (relative to the current directory).
    pub backup: PathBuf,
    /// Labels of the keys to restore; each must be in the backup and not
    /// in the token.
    pub keys: Vec<String>,
    /// The backup ceremony's audit public key (PEM): when given, the
    /// bundle's `SHA256SUMS.sig` must verify with it.
    #[serde(default)]
    pub audit_key: Option<PathBuf>,
    /// Whether every witness acknowledges the step first.
    #[serde(default)]
    pub witnessed: bool,
}

/// A `restore-keys` step, resolved.
#[derive(Debug)]
pub struct RestoreStep {
    /// Step id.
    pub id: String,
    /// The backup bundle's directory.
    pub backup: PathBuf,
    /// The keys to restore.
    pub keys: Vec<String>,
    /// The audit public key `SHA256SUMS.sig` must verify with, if any.
    pub audit_key: Option<PathBuf>,
    manifest_path: PathBuf,
}

impl StepSpec for Spec {
    fn id(&self) -> &str {
        &self.id
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn plan(&self, _cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String> {
        key_labels("keys", &self.keys)?;
        Ok(Box::new(RestoreStep {
            id: self.id.clone(),
            manifest_path: self.backup.join(manifest::MANIFEST),
            backup: self.backup.clone(),
            keys: self.keys.clone(),
            audit_key: self.audit_key.clone(),
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for RestoreStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn action(&self) -> &'static str {
        TYPE.action
    }

    fn new_key_labels(&self) -> Vec<&str> {
        self.keys.iter().map(String::as_str).collect()
    }

    fn new_key_policies(&self) -> Vec<(&str, KeyPolicy)> {
        self.keys
            .iter()
            .map(|l| (l.as_str(), KeyPolicy::Restored))
            .collect()
    }

    fn outputs(&self) -> Vec<&Path> {
        Vec::new()
    }

    fn inputs(&self) -> Vec<&Path> {
        vec![&self.manifest_path]
    }

    fn security_officer(&self) -> bool {
        true
    }

    fn prepare(&self, _now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error> {
        let refuse = |rule: String| Error::Refused {
            ceremony: String::new(),
            reasons: vec![Reason::Rule(format!(
                "backup {}: {rule}",
                self.backup.display()
            ))],
        };
        let (manifest, manifest_sha256) =
            read_bundle(&self.backup, self.audit_key.as_deref()).map_err(refuse)?;
        let missing: Vec<Reason> = self
            .keys
            .iter()
            .filter(|l| manifest.key(l).is_none())
            .map(|l| {
                Reason::Rule(format!(
                    "backup {}: holds no key {l:?} (it holds {})",
                    self.backup.display(),
                    manifest
                        .keys
                        .iter()
                        .map(|k| format!("{:?}", k.label))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::Refused {
                ceremony: String::new(),
                reasons: missing,
            });
        }
        Ok(Box::new(Loaded {
            step: self,
            manifest,
            manifest_sha256,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Reads and checks the bundle at `dir`: with `audit_key`, the signature
/// `SHA256SUMS.sig` over `SHA256SUMS`; its `SHA256SUMS` (which must list
/// `manifest.json`) against every listed file present; then the manifest.
/// Returns the manifest and its SHA-256.
fn read_bundle(dir: &Path, audit_key: Option<&Path>) -> Result<(Manifest, String), String> {
    let sums_path = dir.join(manifest::SUMS);
    let sums = crate::fsutil::read_limited(&sums_path, MAX_SUMS_BYTES)
        .map_err(|e| format!("{}: cannot read: {e}", manifest::SUMS))?;
    if let Some(key_file) = audit_key {
        let key = crate::bundle::output::AuditKey::read(key_file).map_err(|e| e.to_string())?;
        let signature = crate::fsutil::read_limited(&dir.join(manifest::SUMS_SIGNATURE), 16 * 1024)
            .map_err(|e| {
                format!(
                    "{}: cannot read ({e}); audit_key asks for the backup ceremony's signature",
                    manifest::SUMS_SIGNATURE
                )
            })?;
        key.verify(&sums, &signature).map_err(|why| {
            format!(
                "{} does not verify over {} with audit key {}: {why}",
                manifest::SUMS_SIGNATURE,
                manifest::SUMS,
                key_file.display()
            )
        })?;
    }
    let sums = String::from_utf8(sums).map_err(|_| format!("{}: not UTF-8", manifest::SUMS))?;
    let mut manifest_sum = None;
    for (n, line) in sums.lines().enumerate() {
        let bad = || format!("{} line {}: not `SHA256  NAME`", manifest::SUMS, n + 1);
        let (digest, name) = line.split_once("  ").ok_or_else(bad)?;
        if digest.len() != 64 || hex::decode(digest).is_none() {
            return Err(bad());
        }
        if name != manifest::MANIFEST && !name.starts_with("shares/") || name.contains("..") {
            return Err(format!(
                "{} line {}: names {name:?}, which is not part of a backup",
                manifest::SUMS,
                n + 1
            ));
        }
        if name == manifest::MANIFEST {
            manifest_sum = Some(digest.to_string());
        } else if let Ok(bytes) =
            crate::fsutil::read_limited(&dir.join(name), custody::seal::MAX_SEALED_BYTES)
        {
            // A share file still in the bundle (custodians may have taken
            // theirs away): it must be the one the backup wrote.
            if hex::encode(&Sha256::digest(&bytes)) != digest {
                return Err(format!(
                    "{name} does not match its line in {}: the file was altered",
                    manifest::SUMS
                ));
            }
        }
    }
    let Some(expected) = manifest_sum else {
        return Err(format!(
            "{} does not list {}",
            manifest::SUMS,
            manifest::MANIFEST
        ));
    };
    let bytes =
        crate::fsutil::read_limited(&dir.join(manifest::MANIFEST), manifest::MAX_MANIFEST_BYTES)
            .map_err(|e| format!("{}: cannot read: {e}", manifest::MANIFEST))?;
    let actual = hex::encode(&Sha256::digest(&bytes));
    if actual != expected {
        return Err(format!(
            "{} does not match its line in {} (sha256 {actual}, listed {expected}): the manifest was altered",
            manifest::MANIFEST,
            manifest::SUMS
        ));
    }
    let manifest = Manifest::parse(&bytes).map_err(|e| format!("{}: {e}", manifest::MANIFEST))?;
    Ok((manifest, actual))
}

/// The step with its bundle read and checked.
struct Loaded<'s> {
    step: &'s RestoreStep,
    manifest: Manifest,
    manifest_sha256: String,
}

impl Prepared for Loaded<'_> {
    fn preview(&self, out: &mut dyn Write) -> Vec<Reason> {
        let (step, m) = (self.step, &self.manifest);
        let _ = writeln!(
            out,
            "step {}: backup {} from token {:?} (serial {}), made by ceremony {:?}; {} of {} custodians' shares needed (share set {})",
            step.id,
            step.backup.display(),
            m.token.label,
            m.token.serial,
            m.ceremony,
            m.sharing.threshold,
            m.sharing.count,
            m.sharing.set
        );
        for c in &m.custodians {
            let _ = writeln!(out, "step {}: custodian {} {:?}", step.id, c.index, c.name);
        }
        for label in &step.keys {
            if let Some(k) = m.key(label) {
                let _ = writeln!(
                    out,
                    "step {}: restores key {label:?} ({}, backed up with policy {}, public key sha256 {})",
                    step.id, k.algorithm, k.policy, k.spki_sha256
                );
            }
        }
        Vec::new()
    }

    fn execute(self: Box<Self>, cx: &mut Context<'_>) -> Result<(), Error> {
        self.run(cx)
    }
}

impl Loaded<'_> {
    fn wrap_key_label(&self) -> String {
        format!("ceremony-restore-wrap-{}", self.step.id)
    }

    fn run(&self, cx: &mut Context<'_>) -> Result<(), Error> {
        let step = self.step;
        let m = &self.manifest;
        let commitments = m
            .commitments()
            .map_err(|e| cx.refuse(vec![Reason::Rule(e)]))?;
        let judged = shares::judge(cx.shares(), Purpose::Backup, &commitments);
        for (file, share) in &judged.good {
            cx.say(format_args!(
                "step {}: share {} of custodian {:?} ({}) counts",
                step.id,
                share.index(),
                share.custodian(),
                file.display()
            ));
        }
        for refused in &judged.refused {
            cx.say(format_args!("step {}: not counted: {refused}", step.id));
        }
        cx.record(&Event::SharesJudged {
            step: Some(Cow::Borrowed(&step.id)),
            shares: Box::new(judged.record(Purpose::Backup, &m.sharing.set, m.sharing.threshold)),
        })?;
        let secret = judged.combine(&commitments).map_err(|why| {
            cx.refuse(vec![Reason::Rule(format!(
                "backup {}: {why}",
                step.backup.display()
            ))])
        })?;
        drop(judged);
        let value = custody::wrap_key(&secret);
        drop(secret);

        let label = self.wrap_key_label();
        cx.as_security_officer(|token| {
            token
                .create_trusted_wrap_key(&value, &label)
                .map(drop)
                .map_err(Error::from)
        })?;
        drop(value);
        cx.record(&Event::WrapKeyCreated {
            step: Cow::Borrowed(&step.id),
            label: Cow::Borrowed(&label),
        })?;
        let token = cx.token();
        let mut created = Vec::new();
        let restored = self.restore_all(token, &label, &mut created);
        let destroyed = token
            .find_trusted_wrap_key(&label)
            .and_then(|key| token.destroy_object(key));
        cx.record(&Event::WrapKeyDestroyed {
            step: Cow::Borrowed(&step.id),
            label: Cow::Borrowed(&label),
            error: destroyed.as_ref().err().map(ToString::to_string),
        })?;
        let restored = match restored.and_then(|r| destroyed.map(|()| r).map_err(Error::from)) {
            Ok(r) => r,
            Err(e) => {
                // All or nothing: what this step made goes again.
                for object in created {
                    let _ = token.destroy_object(object);
                }
                return Err(match e {
                    Error::Refused { reasons, .. } => cx.refuse(reasons),
                    other => other,
                });
            }
        };
        let count = restored.len();
        cx.record(&Event::KeysRestored {
            step: Cow::Borrowed(&step.id),
            restored: Box::new(RestoreRecord {
                directory: step.backup.display().to_string(),
                manifest_sha256: self.manifest_sha256.clone(),
                set: m.sharing.set.clone(),
                source_token: format!("{} (serial {})", m.token.label, m.token.serial),
                keys: restored,
            }),
        })?;
        cx.say(format_args!(
            "step {}: restored {count} key(s) from {}, each checked by a test signature",
            step.id,
            step.backup.display()
        ));
        Ok(())
    }

    /// Unwraps each key and makes its public key, then checks the pair; the
    /// objects made are pushed on `created` as they are made.
    fn restore_all(
        &self,
        token: &Token,
        label: &str,
        created: &mut Vec<TokenObject>,
    ) -> Result<Vec<KeyCustodyRecord>, Error> {
        let unwrap_key = token.find_trusted_wrap_key(label)?;
        let mut records = Vec::new();
        for key_label in &self.step.keys {
            let key = self
                .manifest
                .key(key_label)
                .expect("prepare checked every key is in the manifest");
            records.push(self.restore_one(token, &unwrap_key, key, created)?);
        }
        Ok(records)
    }

    fn restore_one(
        &self,
        token: &Token,
        unwrap_key: &TokenObject,
        key: &WrappedKey,
        created: &mut Vec<TokenObject>,
    ) -> Result<KeyCustodyRecord, Error> {
        let refuse = |rule: String| Error::Refused {
            ceremony: String::new(),
            reasons: vec![Reason::Rule(format!("key {:?}: {rule}", key.label))],
        };
        let hex_field = |field: &str, text: &str| {
            hex::decode(text).ok_or_else(|| refuse(format!("{field} is not hex")))
        };
        let id = hex_field("id", &key.id)?;
        let spki = hex_field("spki", &key.spki)?;
        let wrapped = hex_field("wrapped", &key.wrapped)?;
        let private = token
            .unwrap_private_key(unwrap_key, &wrapped, &key.label, &id, key.algorithm)
            .map_err(|e| {
                refuse(format!(
                    "the token refused to unwrap it ({e}): the wrapped key was altered, or the shares are not this backup's"
                ))
            })?;
        created.push(private);
        let public = token.create_public_key(&key.label, &id, key.algorithm, &spki)?;
        created.push(public);
        let record = token.find_key(&key.label)?;
        if record.spki_sha256 != key.spki_sha256 {
            return Err(refuse(format!(
                "the restored public key's sha256 {} is not the backup's {}",
                record.spki_sha256, key.spki_sha256
            )));
        }
        record.check_policy(&token.identity().label)?;
        // The private key must be the one the public key names: sign here,
        // verify in software with the backed-up public key.
        let message = format!(
            "ceremony restore-keys test signature\nkey {}\nset {}\n",
            key.label, self.manifest.sharing.set
        );
        let signer = TokenSigner::new(token, &record, SignatureHash::Sha256)?;
        let signature = signer.sign_raw(message.as_bytes())?;
        let alg = spki::AlgorithmIdentifierOwned {
            oid: signer.algorithm_oid(),
            parameters: None,
        };
        crate::x509::verify_signature(&spki, &alg, message.as_bytes(), &signature).map_err(
            |why| {
                refuse(format!(
                    "its test signature does not verify with the backed-up public key: {why}"
                ))
            },
        )?;
        Ok(KeyCustodyRecord {
            label: key.label.clone(),
            id: key.id.clone(),
            algorithm: key.algorithm,
            policy: record.policy(),
            spki_sha256: record.spki_sha256.clone(),
            wrapped_sha256: key.wrapped_sha256.clone(),
            test_signature_verified: Some(true),
        })
    }
}

impl fmt::Display for RestoreStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<String> = self.keys.iter().map(|l| format!("{l:?}")).collect();
        writeln!(f, "  backup       {}", self.backup.display())?;
        if let Some(key) = &self.audit_key {
            writeln!(
                f,
                "  signed by    the audit key {} (SHA256SUMS.sig must verify)",
                key.display()
            )?;
        }
        writeln!(
            f,
            "  keys         {} (unwrapped as sensitive and extractable only under a trusted key, policy restored; each checked by a test signature)",
            labels.join(", ")
        )?;
        writeln!(
            f,
            "  shares       given with --share SHARE=IDENTITY (or SHARE, the identity typed at the terminal), one per custodian present; each checked against the backup's commitments"
        )?;
        writeln!(
            f,
            "  officer      logs in as the security officer (SO PIN) to create a trusted unwrap key, destroyed after"
        )
    }
}
