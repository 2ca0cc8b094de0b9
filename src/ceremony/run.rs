//! Executing a plan: open the transcript, open and log in to the token,
//! refuse on any conflict before changing anything, then run each step and
//! record it. Every ceremony that starts records how it ended.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use der::Encode;
use x509_cert::Certificate;

use super::plan::{Plan, PlannedStep, RootStep};
use super::script::IssuerSpec;
use super::witness::Acknowledgements;
use super::Error;
use crate::events::{Event, Outcome};
use crate::fsutil;
use crate::token::{KeyRecord, PinSource, Token, TokenSigner};
use crate::transcript::Transcript;
use crate::x509;

mod acknowledge;
mod dry_run;
use dry_run::dry_run;

/// How to run a ceremony.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Print the plan and stop: no token, no transcript, no files.
    pub dry_run: bool,
    /// Witness acknowledgements from a file (a rehearsal), instead of the terminal.
    pub answers: Option<std::path::PathBuf>,
    /// Token sessions signing at once in a batch; `None` for the default,
    /// `default_sessions()`.
    pub sessions: Option<usize>,
}

/// Half the CPU cores, at least one: the signing sessions of a batch when
/// `--sessions` is not given.
pub fn default_sessions() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .max(1)
}

/// Runs (or, with `dry_run`, previews) the ceremony script at `script`.
/// Progress goes to `out`; the result says how the ceremony ended.
pub fn run(script: &Path, opts: &RunOptions, out: &mut dyn Write) -> Result<Outcome, Error> {
    let plan = Plan::load(script)?;
    if opts.dry_run {
        return dry_run(&plan, out);
    }
    let _locks = take_locks(&plan)?;
    let transcript = Transcript::open(&plan.transcript)?;
    let mut runner = Runner {
        plan: &plan,
        transcript,
        out,
        keys: 0,
        certificates: 0,
        crls: 0,
        acks: Acknowledgements::new(opts.answers.as_deref()),
        sessions: opts.sessions.unwrap_or_else(default_sessions),
    };
    let interrupted = match runner.transcript.open_ceremony() {
        Some(seq) => Some(runner.record_unfinished(seq)?),
        None => None,
    };
    runner.remove_stale_temporaries()?;
    runner.record(&Event::CeremonyStart {
        administrator: plan
            .script
            .participants
            .administrator
            .as_deref()
            .map(Cow::Borrowed),
        rehearsal: opts.answers.is_some(),
        ceremony: Cow::Borrowed(&plan.script.ceremony.name),
        script: plan.script_path.display().to_string(),
        script_sha256: Cow::Borrowed(&plan.script_sha256),
        tool: Cow::Borrowed(env!("CARGO_PKG_NAME")),
        version: Cow::Borrowed(env!("CARGO_PKG_VERSION")),
        operator: Cow::Borrowed(&plan.script.participants.operator),
        witnesses: Cow::Borrowed(&plan.script.participants.witnesses),
        steps: plan.steps.iter().map(|s| Cow::Borrowed(s.id())).collect(),
        interrupted,
    })?;
    runner.say(format_args!(
        "ceremony {:?} started; transcript {}",
        plan.script.ceremony.name,
        plan.transcript.display()
    ));
    let mut token = None;
    let result = runner.execute(opts, &mut token);
    let (outcome, error) = match &result {
        Ok(()) => (Outcome::Completed, None),
        Err(e) if e.is_refusal() => (Outcome::Refused, Some(e.to_string())),
        Err(e) => (Outcome::Failed, Some(e.to_string())),
    };
    // The token as the ceremony leaves it, before its end is recorded.
    let inventory = match &token {
        Some(token) => runner.record_inventory(token, "end"),
        None => Ok(()),
    };
    let end = runner.record(&Event::CeremonyEnd {
        outcome,
        error,
        keys_generated: runner.keys,
        certificates_issued: runner.certificates,
        crls_issued: runner.crls,
    });
    // Every ceremony that reached the token ends with a signed checkpoint.
    let checkpoint = match &token {
        Some(token) => runner.checkpoint(token),
        None => Ok(()),
    };
    result?;
    inventory?;
    end?;
    checkpoint?;
    let crls = if runner.crls > 0 {
        format!(", {} CRL(s) written", runner.crls)
    } else {
        String::new()
    };
    let summary = format!(
        "ceremony completed: {} key(s) generated, {} certificate(s) written{crls}; transcript head {}",
        runner.keys,
        runner.certificates,
        runner.transcript.head()
    );
    runner.say(format_args!("{summary}"));
    Ok(outcome)
}

/// Refuses world-writable directories and takes the transcript's and the
/// output directory's locks, so two ceremonies never run on them at once.
fn take_locks(plan: &Plan) -> Result<Vec<crate::safety::Lock>, Error> {
    let refuse = |reason: String| Error::Refused {
        ceremony: plan.script.ceremony.name.clone(),
        reasons: vec![reason],
    };
    let out_dir = &plan.script.output.directory;
    let transcript_dir = fsutil::parent_dir(&plan.transcript);
    for dir in [&transcript_dir, out_dir] {
        crate::safety::check_not_world_writable(dir).map_err(refuse)?;
    }
    // Lock files sit beside what they guard: TRANSCRIPT.lock, and
    // .DIR.ceremony-lock beside the output directory (which may not exist yet).
    let out_name = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let out_lock = fsutil::parent_dir(out_dir).join(format!(".{out_name}.ceremony-lock"));
    let mut locks = Vec::new();
    for path in [transcript_lock_path(&plan.transcript), out_lock] {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Output {
                path: parent.to_path_buf(),
                action: "create directory",
                source,
            })?;
        }
        locks.push(crate::safety::lock(&path).map_err(refuse)?);
    }
    Ok(locks)
}

/// The lock file beside a transcript: `TRANSCRIPT.lock`.
fn transcript_lock_path(transcript: &Path) -> PathBuf {
    let mut lock = transcript.as_os_str().to_os_string();
    lock.push(".lock");
    PathBuf::from(lock)
}

/// Takes the transcript's lock for an append outside a ceremony (`what`
/// names the command), so it never races a ceremony's appends.
fn lock_transcript(path: &Path, what: &str) -> Result<crate::safety::Lock, Error> {
    crate::safety::lock(&transcript_lock_path(path)).map_err(|reason| Error::Refused {
        ceremony: what.to_string(),
        reasons: vec![reason],
    })
}

/// Writes a new public output file (a certificate, a CRL, a public key),
/// creating its directory; never overwrites.
pub(super) fn write_output(file: &Path, bytes: &[u8]) -> Result<(), Error> {
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

/// Signs a checkpoint of the transcript at `path` on demand, outside a
/// ceremony: verifies it, signs origin, entry count and head with the audit
/// key `key_label` in `token` (logged in), appends the `checkpoint` entry and
/// writes the text to `out`. `origin` defaults to the last checkpoint's.
/// Holds the transcript's lock, as a ceremony does.
pub fn checkpoint_now(
    path: &Path,
    token: &Token,
    key_label: &str,
    origin: Option<&str>,
    out: &Path,
) -> Result<crate::checkpoint::Checkpoint, Error> {
    let _lock = lock_transcript(path, "checkpoint")?;
    let mut last_origin = None;
    crate::transcript::verify_file_with(path, |v| {
        if v.kind == "checkpoint" {
            if let Event::Checkpoint { checkpoint, .. } = v.parse::<Event<'static>>()? {
                last_origin = Some(checkpoint.into_owned().origin);
            }
        }
        Ok(())
    })?;
    let origin = match (origin, last_origin) {
        (Some(o), _) => o.to_string(),
        (None, Some(o)) => o,
        (None, None) => {
            return Err(Error::Refused {
                ceremony: "checkpoint".into(),
                reasons: vec![format!(
                    "transcript {} holds no checkpoint to take the origin name from; give --origin",
                    path.display()
                )],
            })
        }
    };
    let mut transcript = Transcript::open(path)?;
    let key = token.find_key(key_label)?;
    let cp = crate::checkpoint::Checkpoint::sign(
        token,
        &key,
        &origin,
        transcript.len(),
        transcript.head(),
    )
    .map_err(|e| Error::Output {
        path: out.to_path_buf(),
        action: "sign checkpoint",
        source: std::io::Error::other(e.to_string()),
    })?;
    transcript.append(&Event::Checkpoint {
        checkpoint: Cow::Borrowed(&cp),
        file: out.display().to_string(),
    })?;
    fsutil::replace(out, cp.to_text().as_bytes(), 0o644).map_err(|source| Error::Output {
        path: out.to_path_buf(),
        action: "write checkpoint",
        source,
    })?;
    Ok(cp)
}

/// Appends a `note` event to the transcript at `path` (which must verify),
/// holding the transcript's lock. Returns the note's sequence number.
pub fn note(path: &Path, author: &str, text: &str) -> Result<u64, Error> {
    let _lock = lock_transcript(path, "note")?;
    let mut transcript = Transcript::open(path)?;
    Ok(transcript.append(&Event::Note {
        author: Cow::Borrowed(author),
        text: Cow::Borrowed(text),
    })?)
}

/// A ceremony in progress: the plan, the open transcript and the counts.
pub(super) struct Runner<'p, 'o> {
    pub(super) plan: &'p Plan,
    pub(super) transcript: Transcript,
    out: &'o mut dyn Write,
    keys: usize,
    pub(super) certificates: usize,
    pub(super) crls: usize,
    pub(super) acks: Acknowledgements,
    /// Token sessions signing at once in a batch.
    pub(super) sessions: usize,
}

impl Runner<'_, '_> {
    /// Appends an event to the transcript (fsync'd before this returns, and
    /// with it every entry appended unsynced before).
    pub(super) fn record(&mut self, event: &Event<'_>) -> Result<(), Error> {
        self.transcript.append(event)?;
        Ok(())
    }

    /// Records every object in the token with its policy flags.
    pub(super) fn record_inventory(
        &mut self,
        token: &Token,
        when: &'static str,
    ) -> Result<(), Error> {
        let objects = token.inventory()?;
        let report = crate::token::inventory::Report::new(token.identity(), &objects);
        if report.flagged > 0 {
            self.say(format_args!(
                "warning: {} object(s) in the token break the key policy (see the inventory entry)",
                report.flagged
            ));
        }
        self.record(&Event::Inventory {
            when: Cow::Borrowed(when),
            report,
        })
    }

    /// One line of progress for the operator.
    pub(super) fn say(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = writeln!(self.out, "{args}");
    }

    /// Records a refusal and returns the error that ends the ceremony.
    pub(super) fn refuse(&mut self, step: Option<&str>, reasons: Vec<String>) -> Error {
        let recorded = self.record(&Event::Refused {
            step: step.map(Cow::Borrowed),
            reasons: reasons.clone(),
        });
        match recorded {
            Err(e) => e,
            Ok(()) => Error::Refused {
                ceremony: self.plan.script.ceremony.name.clone(),
                reasons,
            },
        }
    }

    fn execute(&mut self, opts: &RunOptions, slot: &mut Option<Token>) -> Result<(), Error> {
        let plan = self.plan;
        let token = Token::open(&plan.module, &plan.selector)?;
        self.record(&Event::Token {
            identity: Cow::Borrowed(token.identity()),
        })?;
        let id = token.identity();
        self.say(format_args!(
            "token {:?}: {} {} serial {}",
            id.label, id.manufacturer, id.model, id.serial
        ));

        let pin = opts.pin.read(&token.identity().label);
        let attempted = pin.is_ok();
        let login = pin.and_then(|pin| token.login(&pin));
        self.record(&Event::Login {
            user: Cow::Borrowed("user"),
            pin_source: opts.pin.describe(),
            attempted,
            success: login.is_ok(),
            error: login.as_ref().err().map(|e| e.to_string()),
        })?;
        login?;
        let token = &*slot.insert(token);
        self.say(format_args!("logged in as user"));
        self.record_inventory(token, "start")?;

        let mut reasons = Vec::new();
        for step in &plan.steps {
            for label in step.new_key_labels() {
                if token.label_exists(label)? {
                    reasons.push(format!(
                        "step {:?}: key label {label:?} already exists in token {:?}",
                        step.id(),
                        token.identity().label
                    ));
                }
            }
        }
        for path in plan.existing_outputs() {
            reasons.push(format!("output {} already exists", path.display()));
        }
        if !reasons.is_empty() {
            return Err(self.refuse(None, reasons));
        }

        for (i, step) in plan.steps.iter().enumerate() {
            let id = step.id();
            if plan.witnessed[i] {
                self.acknowledge(i)?;
            }
            self.record(&Event::StepStart {
                step: Cow::Borrowed(id),
                action: Cow::Borrowed(step.action()),
            })?;
            let result = match step {
                PlannedStep::GenerateRoot(r) => self.generate_root(token, r),
                PlannedStep::SignRequests(g) => self.sign_requests(token, g),
                PlannedStep::GenerateAuditKey(a) => self.generate_audit_key(token, a),
                PlannedStep::IssueCrl(c) => self.issue_crl(token, c),
            };
            if let Err(e) = result {
                if e.is_refusal() {
                    return Err(e);
                }
                self.record(&Event::StepFailed {
                    step: Cow::Borrowed(id),
                    error: e.to_string(),
                })?;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Finds an issuing CA's key in the token, checks its attributes and that
    /// `cert` is its certificate, and records `issuer_checked`. A missing key
    /// or a certificate of another key is a refusal.
    pub(super) fn check_issuer(
        &mut self,
        token: &Token,
        step: &str,
        role: &'static str,
        spec: &IssuerSpec,
        cert: &Certificate,
    ) -> Result<KeyRecord, Error> {
        let label = &spec.key_label;
        let key = match token.find_key(label) {
            Ok(k) => k,
            Err(crate::token::Error::KeyNotFound { .. }) => {
                return Err(self.refuse(
                    Some(step),
                    vec![format!(
                        "issuer {role}: no key labelled {label:?} in token {:?}",
                        token.identity().label
                    )],
                ))
            }
            Err(e) => return Err(e.into()),
        };
        key.check_policy(&token.identity().label)?;
        let cert_spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| x509::Error::Der {
                what: spec.certificate.display().to_string(),
                reason: e.to_string(),
            })?;
        if cert_spki != key.spki_der {
            return Err(self.refuse(
                Some(step),
                vec![format!(
                    "issuer {role}: certificate {} does not belong to key {label:?} in the token",
                    spec.certificate.display()
                )],
            ));
        }
        self.record(&Event::IssuerChecked {
            step: Cow::Borrowed(step),
            issuer: Cow::Borrowed(role),
            key_label: Cow::Borrowed(label),
            certificate: spec.certificate.display().to_string(),
            subject: cert.tbs_certificate().subject().to_string(),
            spki_sha256: Cow::Borrowed(&key.spki_sha256),
        })?;
        Ok(key)
    }

    fn generate_root(&mut self, token: &Token, step: &RootStep) -> Result<(), Error> {
        let key = token.generate_ca_key(&step.key_label, step.algorithm)?;
        self.keys += 1;
        self.record(&Event::KeyGenerated {
            step: Cow::Borrowed(&step.id),
            key: Cow::Borrowed(&key),
        })?;
        key.check_policy(&token.identity().label)?;
        self.say(format_args!(
            "step {}: generated {} key {:?} (id {}, public key sha256 {})",
            step.id, key.algorithm, key.label, key.id, key.spki_sha256
        ));

        let signer = TokenSigner::new(token, &key, step.hash)?;
        let serial = x509::serial_from_random(&token.random16()?);
        let validity = x509::validity(&step.id, SystemTime::now(), step.backdate, step.lifetime)?;
        let spki = x509::spki_from_der(&step.id, &key.spki_der)?;
        let issued = x509::issue(
            &step.id,
            step.profile.clone(),
            serial,
            validity,
            spki,
            &signer,
        )?;
        let pem = issued.pem()?;
        let file = &step.certificate;
        self.record(&Event::CertificateIssued {
            step: Cow::Borrowed(&step.id),
            request: None,
            profile: None,
            sans: Cow::Borrowed(&[]),
            file: file.display().to_string(),
            certificate: Cow::Borrowed(&issued),
        })?;
        write_output(file, pem.as_bytes())?;
        self.certificates += 1;
        self.say(format_args!(
            "step {}: wrote {} ({}, serial {}, sha256 {})",
            step.id,
            file.display(),
            issued.subject,
            issued.serial,
            issued.sha256
        ));
        Ok(())
    }
}
