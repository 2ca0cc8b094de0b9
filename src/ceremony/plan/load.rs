//! Building a plan: reading a script (at most [`MAX_SCRIPT_BYTES`]),
//! parsing it, checking every field and every step against the limits and
//! against the steps before it, and resolving each step (its type's
//! `StepSpec::plan`) with its output paths inside the output directory.
//!
//! It touches no token and writes nothing. A script that cannot be read is
//! an [`Error::ScriptRead`]; every refusal of its contents is an
//! [`Error::Script`] naming the script and, where there is one, the step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::super::approvals::Policy;
use super::super::script;
use super::super::step::{nonempty, PlanContext};
use super::super::Error;
use super::{Plan, MAX_SCRIPT_BYTES};
use crate::events::Event;
use crate::hex;
use crate::token::{KeyPolicy, TokenSelector};

impl Plan {
    /// Reads, parses and checks the script at `path`.
    pub fn load(path: &Path) -> Result<Plan, Error> {
        let read_err = |source| Error::ScriptRead {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let len = file.metadata().map_err(read_err)?.len();
        if len > MAX_SCRIPT_BYTES {
            return Err(Error::Script {
                path: path.to_path_buf(),
                reason: format!(
                    "{len} bytes is larger than the {MAX_SCRIPT_BYTES}-byte limit for a script"
                ),
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_SCRIPT_BYTES + 1),
            &mut bytes,
        )
        .map_err(read_err)?;
        Plan::build(path, &bytes, true)
    }

    /// Parses and checks script bytes; `path` names the script in errors.
    /// Unlike [`Plan::load`], reads no transcript: only the script's own
    /// steps tell a key's policy.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Plan, Error> {
        Plan::build(path, bytes, false)
    }

    fn build(path: &Path, bytes: &[u8], read_transcript: bool) -> Result<Plan, Error> {
        let bad = |reason: String| Error::Script {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not valid UTF-8".into()))?;
        let script = script::parse(text).map_err(bad)?;
        let script_sha256 = hex::encode(&Sha256::digest(bytes));
        let approvals = script
            .approvals
            .as_ref()
            .map(Policy::load)
            .transpose()
            .map_err(bad)?;

        nonempty("ceremony.name", &script.ceremony.name).map_err(bad)?;
        nonempty("participants.operator", &script.participants.operator).map_err(bad)?;
        for w in &script.participants.witnesses {
            nonempty("participants.witnesses", w).map_err(bad)?;
        }
        let token = &script.token;
        let selector = match (&token.uri, &token.label, &token.serial) {
            (Some(uri), None, None) => {
                TokenSelector::parse_uri(uri).map_err(|e| bad(e.to_string()))?
            }
            (None, label, serial) => TokenSelector::new(label.clone(), serial.clone())
                .ok_or_else(|| bad("[token] needs label, serial or uri".into()))?,
            _ => return Err(bad("[token]: give uri, or label/serial, not both".into())),
        };
        if script.steps.is_empty() {
            return Err(bad("the script has no [[step]]".into()));
        }

        // What a key's policy is, by label: as earlier ceremonies on this
        // transcript recorded it, then as this script's steps make it.
        let mut known_keys = if read_transcript {
            recorded_key_policies(&script.output.transcript)?
        } else {
            BTreeMap::new()
        };
        let out_dir = &script.output.directory;
        let mut ids = BTreeSet::new();
        let mut labels = BTreeSet::new();
        let mut files = BTreeSet::new();
        let mut steps = Vec::new();
        let mut witnessed = Vec::new();
        for step in &script.steps {
            let id = step.id();
            let at = |reason: String| bad(format!("step {id:?}: {reason}"));
            if !is_identifier(id) {
                return Err(at(
                    "id must be non-empty lowercase letters, digits and '-'".into()
                ));
            }
            if !ids.insert(id.to_string()) {
                return Err(at("id is used by an earlier step".into()));
            }
            let planned = step
                .spec
                .plan(&PlanContext {
                    out_dir,
                    audit_key_label: &script.audit.key_label,
                    known_keys: &known_keys,
                })
                .map_err(at)?;
            for (label, policy) in planned.new_key_policies() {
                known_keys.insert(label.to_string(), policy);
            }
            for label in planned.new_key_labels() {
                if !labels.insert(label.to_string()) {
                    return Err(at(format!(
                        "key label {label:?} is created by an earlier step"
                    )));
                }
            }
            for file in planned.outputs() {
                if !files.insert(file.to_path_buf()) {
                    return Err(at(format!(
                        "{} is written by an earlier step",
                        file.display()
                    )));
                }
            }
            if step.witnessed() && script.participants.witnesses.is_empty() {
                return Err(at(
                    "is witnessed, but [participants] names no witnesses".into()
                ));
            }
            witnessed.push(step.witnessed());
            steps.push(planned);
        }
        Ok(Plan {
            script_path: path.to_path_buf(),
            script_sha256,
            script_bytes: bytes.to_vec(),
            approvals,
            module: token.module.clone(),
            selector,
            transcript: script.output.transcript.clone(),
            steps,
            witnessed,
            script,
        })
    }
}

/// The policy of every key the transcript at `path` records as generated
/// or restored (the last record of a label wins); empty when there is no
/// transcript yet. The transcript must verify.
fn recorded_key_policies(path: &Path) -> Result<BTreeMap<String, KeyPolicy>, Error> {
    let mut keys = BTreeMap::new();
    if !path.exists() {
        return Ok(keys);
    }
    crate::transcript::verify_file_with(path, |v| {
        if matches!(
            v.kind,
            "key_generated" | "audit_key_generated" | "keys_restored"
        ) {
            match v.parse::<Event<'static>>()? {
                Event::KeyGenerated { key, .. } | Event::AuditKeyGenerated { key, .. } => {
                    keys.insert(key.label.clone(), key.policy());
                }
                Event::KeysRestored { restored, .. } => {
                    for key in restored.keys.iter() {
                        keys.insert(key.label.clone(), key.policy);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    Ok(keys)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
