//! Executing a plan: open the transcript, open the token (no login), record
//! `ceremony_start` with the tool's and the token's identity (or why the
//! token could not be opened), log in, refuse on any conflict before
//! changing anything, then run each step and record it. Every ceremony
//! that starts records how it ended.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::approvals;
use super::plan::Plan;
use super::shares::ShareInput;
use super::step::{Context, Credentials, Tally};
use super::witness::Acknowledgements;
use super::{Error, Reason};
use crate::events::{Event, Interrupted, Outcome};
use crate::fsutil;
use crate::token::{PinSource, Token};
use crate::transcript::Transcript;

mod acknowledge;
mod checkpoint;
mod dry_run;
mod identity;
mod login;
mod quorum;
mod recovery;
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
    /// Signed approvals of the script (`ssh-keygen -Y sign -n
    /// ceremony-approval`), one file each.
    pub approvals: Vec<PathBuf>,
    /// Where the security officer's PIN comes from, for a step that needs it.
    pub so_pin: PinSource,
    /// Custodians' shares, for a step that rebuilds a secret from them.
    pub shares: Vec<ShareInput>,
    /// Officers' shares of the user PIN of a token under a quorum
    /// (`activate-quorum`): when given, the PIN is rebuilt from them
    /// instead of read from `pin`.
    pub pin_shares: Vec<ShareInput>,
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
        return dry_run(&plan, &opts.approvals, out);
    }
    let _locks = take_locks(&plan)?;
    let transcript = Transcript::open(&plan.transcript)?;
    // Approvals are judged before anything else happens, and before any
    // token is opened; the judgement is recorded once the ceremony starts.
    let judgement = approvals::judge(
        &plan.script_path,
        &plan.script_bytes,
        plan.approvals.as_ref(),
        approvals::anchored(&plan.transcript)?,
        &opts.approvals,
        unix_now(),
    );
    let mut runner = Runner {
        plan: &plan,
        transcript,
        out,
        tally: Tally::default(),
        acks: Acknowledgements::new(opts.answers.as_deref()),
        sessions: opts.sessions.unwrap_or_else(default_sessions),
        credentials: Credentials::new(opts.so_pin.clone(), opts.shares.clone()),
    };
    let interrupted = match runner.transcript.open_ceremony() {
        Some(seq) => Some(runner.record_unfinished(seq)?),
        None => None,
    };
    runner.remove_stale_temporaries()?;
    // The token is opened only for a ceremony its approvals allow.
    const NOT_APPROVED: &str =
        "not opened: the script's approvals do not suffice (see the approval entries and the refusal)";
    let opened = judgement.approved().then(|| open_token(&plan));
    let facts = match &opened {
        Some(Ok(token)) => Ok(token),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(NOT_APPROVED.to_string()),
    };
    runner.record_start(opts, interrupted, facts)?;
    runner.say(format_args!(
        "ceremony {:?} started; transcript {}",
        plan.script.ceremony.name,
        plan.transcript.display()
    ));
    let mut token = None;
    let result = runner.record_approvals(&judgement).and_then(|()| {
        let opened = opened.unwrap_or_else(|| {
            Err(Error::Refused {
                ceremony: plan.script.ceremony.name.clone(),
                reasons: vec![Reason::Rule(NOT_APPROVED.into())],
            })
        });
        runner.execute(opts, opened, &mut token)
    });
    let (outcome, error) = match &result {
        Ok(()) => (Outcome::Completed, None),
        Err(e) if e.is_refusal() => (Outcome::Refused, Some(e.to_string())),
        Err(e) => (Outcome::Failed, Some(e.to_string())),
    };
    // A token that dropped the login shows no private object and signs
    // nothing: no end inventory, no checkpoint, and the entry says why.
    let session_lost = result.is_err() && token.as_ref().is_some_and(|t| !t.logged_in());
    // The token as the ceremony leaves it, before its end is recorded.
    let inventory = match &token {
        Some(token) if !session_lost => runner.record_inventory(token, "end"),
        _ => Ok(()),
    };
    let end = runner.record(&Event::CeremonyEnd {
        outcome,
        error,
        keys_generated: runner.tally.keys,
        certificates_issued: runner.tally.certificates,
        crls_issued: runner.tally.crls,
    });
    // Every ceremony that reached the token ends with a signed checkpoint.
    let checkpoint = match &token {
        Some(_) if session_lost => {
            let reason = "the token dropped the login (or the session) before the end: no end inventory and no checkpoint could be made; sign one later with `ceremony transcript checkpoint`".to_string();
            runner.say(format_args!("note: no checkpoint signed: {reason}"));
            runner.record(&Event::CheckpointSkipped { reason })
        }
        Some(token) => runner.checkpoint(token),
        None => Ok(()),
    };
    result?;
    inventory?;
    end?;
    checkpoint?;
    let crls = if runner.tally.crls > 0 {
        format!(", {} CRL(s) written", runner.tally.crls)
    } else {
        String::new()
    };
    let summary = format!(
        "ceremony completed: {} key(s) generated, {} certificate(s) written{crls}; transcript head {}",
        runner.tally.keys,
        runner.tally.certificates,
        runner.transcript.head()
    );
    runner.say(format_args!("{summary}"));
    Ok(outcome)
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Loads the script's module and opens its token, without a login, so
/// that `ceremony_start` can name the token; a failure is recorded there
/// and ends the ceremony (in `execute`) as any token failure does.
fn open_token(plan: &Plan) -> Result<Token, Error> {
    Ok(Token::open(&plan.module, &plan.selector)?)
}

/// Refuses world-writable directories and takes the transcript's and the
/// output directory's locks, so two ceremonies never run on them at once.
fn take_locks(plan: &Plan) -> Result<Vec<crate::safety::Lock>, Error> {
    let refuse = |reason: String| Error::Refused {
        ceremony: plan.script.ceremony.name.clone(),
        reasons: vec![Reason::Rule(reason)],
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
pub(super) fn lock_transcript(path: &Path, what: &str) -> Result<crate::safety::Lock, Error> {
    crate::safety::lock(&transcript_lock_path(path)).map_err(|reason| Error::Refused {
        ceremony: what.to_string(),
        reasons: vec![Reason::Rule(reason)],
    })
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
                reasons: vec![Reason::Rule(format!(
                    "transcript {} holds no checkpoint to take the origin name from; give --origin",
                    path.display()
                ))],
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
    .map_err(|source| Error::SignCheckpoint {
        path: out.to_path_buf(),
        source: Box::new(source),
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
/// Only the runner and its parts (`run/`) see it; a step gets a
/// [`Context`].
struct Runner<'p, 'o> {
    plan: &'p Plan,
    transcript: Transcript,
    out: &'o mut dyn Write,
    tally: Tally,
    acks: Acknowledgements,
    /// Token sessions signing at once in a batch.
    sessions: usize,
    /// The SO PIN's source, the kept user PIN and the shares given.
    credentials: Credentials,
}

impl Runner<'_, '_> {
    /// Appends an event to the transcript (fsync'd before this returns, and
    /// with it every entry appended unsynced before).
    fn record(&mut self, event: &Event<'_>) -> Result<(), Error> {
        self.transcript.append(event)?;
        Ok(())
    }

    /// Records `ceremony_start`: the script, the people, the steps, the
    /// tool's identity (version, binary and module by SHA-256) and the
    /// token's facts, or why the token was not opened (`Err`).
    fn record_start(
        &mut self,
        opts: &RunOptions,
        interrupted: Option<Interrupted>,
        token: Result<&Token, String>,
    ) -> Result<(), Error> {
        let plan = self.plan;
        let (token, token_unavailable) = match token {
            Ok(t) => (Some(Box::new(t.identity().clone())), None),
            Err(reason) => (None, Some(reason)),
        };
        self.record(&Event::CeremonyStart {
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
            binary: Some(Box::new(identity::binary())),
            module: Some(Box::new(identity::file(&plan.module))),
            token,
            token_unavailable,
        })
    }

    /// Records every object in the token with its policy flags.
    fn record_inventory(&mut self, token: &Token, when: &'static str) -> Result<(), Error> {
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

    /// Records the approvals judged before the start and refuses the
    /// ceremony, before any token is opened, when they are not enough.
    fn record_approvals(&mut self, judgement: &approvals::Judgement<'_>) -> Result<(), Error> {
        if !judgement.needed() && judgement.given == 0 {
            return Ok(());
        }
        for line in judgement.lines() {
            self.say(format_args!("{line}"));
        }
        for event in judgement.events(&self.plan.script_sha256) {
            self.record(&event)?;
        }
        if judgement.approved() {
            return Ok(());
        }
        let reasons = judgement
            .reasons
            .iter()
            .cloned()
            .map(Reason::Rule)
            .collect();
        Err(self.refuse(None, reasons))
    }

    /// One line of progress for the operator.
    fn say(&mut self, args: std::fmt::Arguments<'_>) {
        let _ = writeln!(self.out, "{args}");
    }

    /// Records a refusal and returns the error that ends the ceremony.
    fn refuse(&mut self, step: Option<&str>, reasons: Vec<Reason>) -> Error {
        let recorded = self.record(&Event::Refused {
            step: step.map(Cow::Borrowed),
            reasons: reasons.iter().map(ToString::to_string).collect(),
        });
        match recorded {
            Err(e) => e,
            Ok(()) => Error::Refused {
                ceremony: self.plan.script.ceremony.name.clone(),
                reasons,
            },
        }
    }

    /// The ceremony from the token on: `opened` is [`open_token`]'s result.
    fn execute(
        &mut self,
        opts: &RunOptions,
        opened: Result<Token, Error>,
        slot: &mut Option<Token>,
    ) -> Result<(), Error> {
        let plan = self.plan;
        let token = opened?;
        self.record(&Event::Token {
            identity: Cow::Borrowed(token.identity()),
        })?;
        let id = token.identity();
        self.say(format_args!(
            "token {:?}: {} {} serial {}",
            id.label, id.manufacturer, id.model, id.serial
        ));

        let pin = if opts.pin_shares.is_empty() {
            self.login(&token, &opts.pin)?
        } else {
            self.quorum_login(&token, &opts.pin_shares)?
        };
        // The user PIN is kept only for a step that logs in as the
        // security officer, after which the user logs in again.
        if plan.steps.iter().any(|s| s.security_officer()) {
            self.credentials.keep_user_pin(pin);
        }
        let token = &*slot.insert(token);
        self.say(format_args!("logged in as user"));
        self.record_inventory(token, "start")?;

        let mut reasons = Vec::new();
        for step in &plan.steps {
            for label in step.new_key_labels() {
                if token.label_exists(label)? {
                    reasons.push(Reason::KeyLabelExists {
                        step: step.id().to_string(),
                        label: label.to_string(),
                        token: token.identity().label.clone(),
                    });
                }
            }
        }
        for path in plan.existing_outputs() {
            reasons.push(Reason::OutputExists { path });
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
            let result = step.prepare(SystemTime::now()).and_then(|prepared| {
                let mut cx = Context::new(
                    token,
                    &mut self.transcript,
                    &mut *self.out,
                    &mut self.tally,
                    &plan.script.ceremony.name,
                    id,
                    &plan.script.audit.key_label,
                    self.sessions,
                    &mut self.credentials,
                );
                prepared.execute(&mut cx)
            });
            if let Err(e) = result {
                if let Error::Refused { reasons, .. } = e {
                    return Err(self.refuse(Some(id), reasons));
                }
                if e.is_refusal() {
                    return Err(e);
                }
                let session_lost = !token.logged_in();
                self.record(&Event::StepFailed {
                    step: Cow::Borrowed(id),
                    error: e.to_string(),
                    session_lost,
                })?;
                if session_lost {
                    self.say(format_args!(
                        "the token dropped the login (or the session) during step {id}: the ceremony stops here"
                    ));
                }
                return Err(e);
            }
        }
        Ok(())
    }
}
