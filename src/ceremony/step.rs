//! The one interface every step type sits behind, and the narrow context a
//! step runs with.
//!
//! A step type is one module under `steps/` and one entry in
//! [`steps::TYPES`](super::steps::TYPES). It has three parts, each a trait
//! here:
//!
//! - [`StepSpec`]: its `[[step]]` table as the script gives it (serde,
//!   unknown keys refused), and [`StepSpec::plan`], which checks it and
//!   resolves it into a [`Step`] (no token, no writes);
//! - [`Step`]: the step as planned: what it creates and writes, its text in
//!   the plan (which the witnesses' acknowledgement code covers), and a pure
//!   [`Step::prepare`] that reads its inputs and judges them, touching no
//!   token and writing nothing;
//! - [`Prepared`]: what `prepare` found. The dry run prints it
//!   ([`Prepared::preview`]); the runner executes it ([`Prepared::execute`])
//!   with a [`Context`]: record an event, tell the operator, refuse, and the
//!   token.
//!
//! Steps never import the runner, and the runner knows steps only through
//! these traits. A step refuses by returning the [`Error::Refused`] that
//! [`Context::refuse`] builds; the runner records the refusal.

use std::any::Any;
use std::fmt;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use super::{Error, Reason};
use crate::events::Event;
use crate::fsutil;
use crate::token::{KeyPolicy, KeyRecord, Token};

mod credentials;
use crate::transcript::Transcript;
pub use credentials::Credentials;

/// A step type: its `action` name and how its `[[step]]` table is read.
pub struct StepType {
    /// The `action` a script names it by.
    pub action: &'static str,
    /// Reads the step's table (without `action`); the error is
    /// `PATH: MESSAGE` for the field at fault.
    pub parse: fn(toml::Value) -> Result<Box<dyn StepSpec>, String>,
}

/// Reads a step's table as `T`: the [`StepType::parse`] of most step types.
pub fn parse_as<T>(value: toml::Value) -> Result<Box<dyn StepSpec>, String>
where
    T: StepSpec + DeserializeOwned + 'static,
{
    serde_path_to_error::deserialize::<_, T>(value)
        .map(|spec| Box::new(spec) as Box<dyn StepSpec>)
        .map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner().message())
        })
}

/// What planning a step may look at besides its own table.
#[derive(Debug)]
pub struct PlanContext<'a> {
    /// `[output] directory`: every output lands inside it.
    pub out_dir: &'a Path,
    /// `[audit] key_label`: the audit key's label.
    pub audit_key_label: &'a str,
    /// The policy of each key an earlier step of this script creates, or
    /// an earlier ceremony on the same transcript recorded, by label.
    pub known_keys: &'a std::collections::BTreeMap<String, KeyPolicy>,
}

impl PlanContext<'_> {
    /// `out_dir/rel`, refusing a `rel` that is absolute or climbs out with `..`.
    pub fn output(&self, rel: &Path) -> Result<PathBuf, String> {
        let ok = !rel.as_os_str().is_empty()
            && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if ok {
            Ok(self.out_dir.join(rel))
        } else {
            Err(format!(
                "output path {:?} must be relative and stay inside the output directory",
                rel.display().to_string()
            ))
        }
    }
}

/// A refusal unless `value` has something besides white space.
pub fn nonempty(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(())
    }
}

/// A refusal unless `labels` (the script's `field`) names at least one key
/// label, none empty and none twice.
pub fn key_labels(field: &str, labels: &[String]) -> Result<(), String> {
    if labels.is_empty() {
        return Err(format!("{field}: name at least one key label"));
    }
    for (i, label) in labels.iter().enumerate() {
        nonempty(field, label)?;
        if labels[..i].contains(label) {
            return Err(format!("{field}: {label:?} is listed twice"));
        }
    }
    Ok(())
}

/// A step as the script gives it.
pub trait StepSpec: fmt::Debug + Send + Sync {
    /// The step's id.
    fn id(&self) -> &str;
    /// Whether every witness acknowledges it before it runs.
    fn witnessed(&self) -> bool;
    /// Checks the step and resolves it; the error names the field and the
    /// rule (the plan adds the script and the step).
    fn plan(&self, cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String>;
    /// The spec itself, for tests that look inside.
    fn as_any(&self) -> &dyn Any;
}

/// A step, checked and resolved. Its [`fmt::Display`] is its text in the
/// plan, under the `step i/n ID: ACTION` line; the acknowledgement code is
/// computed over it, so changing the wording changes the code.
pub trait Step: fmt::Display + fmt::Debug + Send + Sync {
    /// The step's id.
    fn id(&self) -> &str;
    /// The action, as the script names it.
    fn action(&self) -> &'static str;
    /// Key labels the step creates in the token.
    fn new_key_labels(&self) -> Vec<&str> {
        Vec::new()
    }
    /// The policy of each key the step creates, by label.
    fn new_key_policies(&self) -> Vec<(&str, KeyPolicy)> {
        Vec::new()
    }
    /// Whether the step logs in as the token's security officer (its PIN
    /// is asked for; the user is logged in again after).
    fn security_officer(&self) -> bool {
        false
    }
    /// Files the step writes.
    fn outputs(&self) -> Vec<&Path>;
    /// Files the step reads that an earlier step of the same ceremony may
    /// write: when one is, the dry run cannot judge the step.
    fn inputs(&self) -> Vec<&Path> {
        Vec::new()
    }
    /// What the dry run says (after `step ID: `) when an input is made by
    /// an earlier step.
    fn deferred(&self) -> &'static str {
        "its inputs are made by an earlier step; it is judged when the ceremony runs"
    }
    /// Reads and judges the step's inputs as of `now`, with no token and no
    /// writes. A refusal is an [`Error::Refused`] naming each reason.
    fn prepare(&self, now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error>;
    /// The step itself, for tests that look inside.
    fn as_any(&self) -> &dyn Any;
}

/// A step prepared: ready for the dry run to print or the runner to execute.
pub trait Prepared {
    /// Prints what the step would do; returns the reasons the run would
    /// refuse it (each also printed).
    fn preview(&self, out: &mut dyn Write) -> Vec<Reason>;
    /// Runs the step.
    fn execute(self: Box<Self>, cx: &mut Context<'_>) -> Result<(), Error>;
}

/// A prepared step that has nothing to preview: the plan says it all.
pub struct Ready<'s, S>(pub &'s S, pub fn(&S, &mut Context<'_>) -> Result<(), Error>);

impl<S> Prepared for Ready<'_, S> {
    fn preview(&self, _: &mut dyn Write) -> Vec<Reason> {
        Vec::new()
    }

    fn execute(self: Box<Self>, cx: &mut Context<'_>) -> Result<(), Error> {
        (self.1)(self.0, cx)
    }
}

/// What a ceremony has made so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Keys generated in the token.
    pub keys: usize,
    /// Certificates issued and recorded.
    pub certificates: usize,
    /// CRLs issued and recorded.
    pub crls: usize,
}

/// What a step gets to run with, and nothing more.
pub struct Context<'r> {
    token: &'r Token,
    credentials: &'r mut Credentials,
    transcript: &'r mut Transcript,
    out: &'r mut dyn Write,
    tally: &'r mut Tally,
    ceremony: &'r str,
    step: &'r str,
    audit_key_label: &'r str,
    sessions: usize,
}

impl<'r> Context<'r> {
    /// A context for step `step` of ceremony `ceremony` (the runner's).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        token: &'r Token,
        transcript: &'r mut Transcript,
        out: &'r mut dyn Write,
        tally: &'r mut Tally,
        ceremony: &'r str,
        step: &'r str,
        audit_key_label: &'r str,
        sessions: usize,
        credentials: &'r mut Credentials,
    ) -> Self {
        Context {
            token,
            credentials,
            transcript,
            out,
            tally,
            ceremony,
            step,
            audit_key_label,
            sessions,
        }
    }

    /// The token, logged in.
    pub fn token(&self) -> &'r Token {
        self.token
    }

    /// The ceremony's name.
    pub fn ceremony(&self) -> &'r str {
        self.ceremony
    }

    /// `[audit] key_label`: the audit key's label.
    pub fn audit_key_label(&self) -> &'r str {
        self.audit_key_label
    }

    /// Token sessions a batch may sign on at once.
    pub fn sessions(&self) -> usize {
        self.sessions
    }

    /// Appends an event to the transcript, on disk (with every unsynced
    /// entry before it) when this returns.
    pub fn record(&mut self, event: &Event<'_>) -> Result<(), Error> {
        self.transcript.append(event)?;
        Ok(())
    }

    /// Appends an event without waiting for the disk: a batch's group
    /// commit, which [`Context::sync`] or the next [`Context::record`] ends.
    pub fn record_unsynced(&mut self, event: &Event<'_>) -> Result<(), Error> {
        self.transcript.append_unsynced(event)?;
        Ok(())
    }

    /// Waits until every entry appended is on disk.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.transcript.sync()?;
        Ok(())
    }

    /// The transcript file, for a step that reads what earlier ceremonies
    /// recorded (it verified when the ceremony opened it).
    pub fn transcript_path(&self) -> &Path {
        self.transcript.path()
    }

    /// One line of progress for the operator.
    pub fn say(&mut self, args: fmt::Arguments<'_>) {
        let _ = writeln!(self.out, "{args}");
    }

    /// The error that refuses the step, for `reasons`; the runner records it.
    pub fn refuse(&self, reasons: Vec<Reason>) -> Error {
        Error::Refused {
            ceremony: self.ceremony.to_string(),
            reasons,
        }
    }

    /// Counts what the step made, for the ceremony's end.
    pub fn tally(&mut self) -> &mut Tally {
        self.tally
    }

    /// The step being run.
    pub fn step(&self) -> &'r str {
        self.step
    }

    /// The audit key (`[audit] key_label`), or `None` when the token has none.
    pub fn audit_key(&self) -> Result<Option<KeyRecord>, Error> {
        find_audit_key(self.token, self.audit_key_label)
    }
}

/// The audit key (labelled `label`) in `token`, or `None` when it has none.
pub fn find_audit_key(token: &Token, label: &str) -> Result<Option<KeyRecord>, Error> {
    match token.find_key(label) {
        Ok(key) => Ok(Some(key)),
        Err(crate::token::Error::KeyNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes a new public output file (a certificate, a CRL, a public key),
/// creating its directory; never overwrites.
pub fn write_output(file: &Path, bytes: &[u8]) -> Result<(), Error> {
    let output_err = |action| {
        move |source| Error::Output {
            path: file.to_path_buf(),
            action,
            source,
        }
    };
    std::fs::create_dir_all(fsutil::parent_dir(file)).map_err(output_err("create directory"))?;
    fsutil::write_new(file, bytes, 0o644).map_err(output_err("write"))
}

/// Writes a new output directory whole ([`fsutil::write_tree`]): `files`
/// (relative names, e.g. `shares/01-a.age`) under `dir`, which must not
/// exist; either the whole directory is there or none of it.
pub fn write_output_dir(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), Error> {
    let files: Vec<(String, &[u8], u32)> = files
        .iter()
        .map(|(rel, bytes)| (rel.clone(), bytes.as_slice(), 0o644))
        .collect();
    fsutil::write_tree(dir, &files).map_err(|(path, action, source)| Error::Output {
        path,
        action,
        source,
    })
}
