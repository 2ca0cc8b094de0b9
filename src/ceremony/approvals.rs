//! Approvals: before the token is opened, K distinct signers of the
//! script's `[approvals]` signers file must have signed the script's exact
//! bytes (`ssh-keygen -Y sign -n ceremony-approval`).
//!
//! The first approved ceremony anchors its signers file in the transcript
//! (`approvers_set`, with the file's text). From then on a ceremony on that
//! transcript whose script names another set, or none, must also be
//! approved by the anchored set's K: approvers are rotated by the set they
//! replace, as TUF rotates root keys, and dropping `[approvals]` from a
//! script does not drop the rule. A refused ceremony anchors nothing.
//!
//! [`judge`] is pure: it reads the signature files and decides. The runner
//! records what it decided (every approval that counted, every one that did
//! not and why) and refuses; the dry run prints it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::script;
use super::Error;
use crate::events::{Event, ReplacedSet, SshApproval};
use crate::sshsig::{self, AllowedSigners, Verified, APPROVAL_NAMESPACE};

/// A signers file and how many of it must approve.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The signers.
    pub signers: AllowedSigners,
    /// How many distinct signers must approve.
    pub required: u32,
}

impl Policy {
    /// Reads the script's `[approvals]`; `Err` names the rule broken.
    pub fn load(spec: &script::Approvals) -> Result<Policy, String> {
        let signers = AllowedSigners::read(&spec.allowed_signers)?;
        Policy::new(signers, spec.required)
    }

    fn new(signers: AllowedSigners, required: u32) -> Result<Policy, String> {
        let n = signers.signers.len();
        if required == 0 || required as usize > n {
            return Err(format!(
                "approvals.required = {required}: must be from 1 to the {n} signer(s) {} lists",
                signers.path.display()
            ));
        }
        Ok(Policy { signers, required })
    }
}

/// The approvers' set a transcript is anchored to.
#[derive(Debug)]
pub struct Anchor {
    /// The `approvers_set` entry.
    pub seq: u64,
    /// The set, rebuilt from the entry's text.
    pub policy: Policy,
}

/// The last `approvers_set` of the transcript at `path`, if it exists and
/// has one. The transcript must verify.
pub fn anchored(path: &Path) -> Result<Option<Anchor>, Error> {
    if !path.exists() {
        return Ok(None);
    }
    let mut last = None;
    crate::transcript::verify_file_with(path, |v| {
        if v.kind == "approvers_set" {
            if let Event::ApproversSet {
                file,
                signers,
                required,
                ..
            } = v.parse::<Event<'static>>()?
            {
                last = Some((v.seq, file, signers.into_owned(), required));
            }
        }
        Ok(())
    })?;
    let Some((seq, file, text, required)) = last else {
        return Ok(None);
    };
    let named = PathBuf::from(format!(
        "{file} (as entry {seq} of {} records it)",
        path.display()
    ));
    let policy = AllowedSigners::parse(&named, text)
        .and_then(|signers| Policy::new(signers, required))
        .map_err(|reason| Error::Refused {
            ceremony: "approvals".into(),
            reasons: vec![super::Reason::Rule(format!(
                "the approvers' set the transcript anchors cannot be read: {reason}"
            ))],
        })?;
    Ok(Some(Anchor { seq, policy }))
}

/// One approval that counted towards a set.
#[derive(Debug)]
pub struct Counted {
    /// The signature file.
    pub file: PathBuf,
    /// Who signed.
    pub verified: Verified,
    /// SHA-256 of the set it counted in.
    pub signers_sha256: String,
}

/// What the approvals given add up to.
#[derive(Debug)]
pub struct Judgement<'p> {
    /// The script's set.
    pub current: Option<&'p Policy>,
    /// The transcript's anchored set.
    pub anchor: Option<Anchor>,
    /// Whether the anchored set must approve (it is not the script's).
    pub anchor_must_approve: bool,
    /// Approvals that counted (a file may count in both sets).
    pub counted: Vec<Counted>,
    /// Signature files that counted in no set, each with why.
    pub not_counted: Vec<(PathBuf, String)>,
    /// How many signature files were given.
    pub given: usize,
    /// Why the ceremony may not run; empty when it may.
    pub reasons: Vec<String>,
}

impl Judgement<'_> {
    /// True when every set that must approve did.
    pub fn approved(&self) -> bool {
        self.reasons.is_empty()
    }

    /// Whether the ceremony needs approvals at all.
    pub fn needed(&self) -> bool {
        self.current.is_some() || self.anchor.is_some()
    }

    /// The approvals that counted in the set with `sha256`.
    fn count_in(&self, sha256: &str) -> usize {
        self.counted
            .iter()
            .filter(|c| c.signers_sha256 == sha256)
            .count()
    }

    /// The entries the runner records: every approval that counted, every
    /// file that did not, and, when approved and the script's set is new to
    /// the transcript, the `approvers_set` that anchors it.
    pub fn events<'a>(&'a self, script_sha256: &'a str) -> Vec<Event<'a>> {
        let mut events: Vec<Event<'a>> = self
            .counted
            .iter()
            .map(|c| {
                Event::Approval(Box::new(SshApproval {
                    file: c.file.display().to_string(),
                    principal: Cow::Borrowed(&c.verified.principals[0]),
                    key_type: Cow::Borrowed(&c.verified.key_type),
                    fingerprint: Cow::Borrowed(&c.verified.fingerprint),
                    namespace: Cow::Borrowed(APPROVAL_NAMESPACE),
                    signed_sha256: Cow::Borrowed(script_sha256),
                    signers_sha256: Cow::Borrowed(&c.signers_sha256),
                    signature: Cow::Borrowed(&c.verified.armored),
                }))
            })
            .collect();
        events.extend(
            self.not_counted
                .iter()
                .map(|(file, reason)| Event::ApprovalNotCounted {
                    file: file.display().to_string(),
                    reason: reason.clone(),
                }),
        );
        if let (true, Some(current)) = (self.approved(), self.current) {
            let anchored = self.anchor.as_ref();
            if anchored.is_none_or(|a| a.policy.signers.sha256 != current.signers.sha256) {
                events.push(Event::ApproversSet {
                    file: current.signers.path.display().to_string(),
                    sha256: Cow::Borrowed(&current.signers.sha256),
                    required: current.required,
                    signers: Cow::Borrowed(&current.signers.text),
                    replaces: anchored.map(|a| ReplacedSet {
                        seq: a.seq,
                        sha256: a.policy.signers.sha256.clone(),
                        approved_by: self.count_in(&a.policy.signers.sha256) as u32,
                    }),
                });
            }
        }
        events
    }

    /// The judgement in lines for the operator (the dry run and the run).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let sets = self
            .current
            .map(|p| ("the script's", p, None))
            .into_iter()
            .chain(
                self.anchor
                    .as_ref()
                    .filter(|_| self.anchor_must_approve)
                    .map(|a| ("the transcript's anchored", &a.policy, Some(a.seq))),
            );
        for (whose, policy, seq) in sets {
            let at = seq.map_or(String::new(), |s| format!(", entry {s}"));
            lines.push(format!(
                "approvals: {} of {} required from {whose} signers {} (sha256 {}{at})",
                self.count_in(&policy.signers.sha256),
                policy.required,
                policy.signers.path.display(),
                &policy.signers.sha256[..16],
            ));
            for c in self
                .counted
                .iter()
                .filter(|c| c.signers_sha256 == policy.signers.sha256)
            {
                lines.push(format!(
                    "  approved by {} ({} {}), {}",
                    c.verified.principals[0],
                    c.verified.key_type,
                    c.verified.fingerprint,
                    c.file.display()
                ));
            }
        }
        for (file, reason) in &self.not_counted {
            lines.push(format!("  not counted: {}: {reason}", file.display()));
        }
        lines
    }
}

/// Judges the signature files `files` for `plan`'s script (its exact
/// `bytes`, named `script`), against the script's set `current` and the
/// transcript's `anchor`, at `now` (Unix seconds).
pub fn judge<'p>(
    script: &Path,
    bytes: &[u8],
    current: Option<&'p Policy>,
    anchor: Option<Anchor>,
    files: &[PathBuf],
    now: u64,
) -> Judgement<'p> {
    let anchor_must_approve = anchor
        .as_ref()
        .is_some_and(|a| current.is_none_or(|c| c.signers.sha256 != a.policy.signers.sha256));
    let mut judgement = Judgement {
        current,
        anchor,
        anchor_must_approve,
        counted: Vec::new(),
        not_counted: Vec::new(),
        given: files.len(),
        reasons: Vec::new(),
    };
    let mut sets: Vec<&Policy> = current.into_iter().collect();
    if anchor_must_approve {
        sets.extend(judgement.anchor.as_ref().map(|a| &a.policy));
    }
    if sets.is_empty() {
        if !files.is_empty() {
            judgement.reasons.push(format!(
                "--approval given, but script {} has no [approvals] and the transcript anchors no approvers' set",
                script.display()
            ));
        }
        return judgement;
    }
    let name = script.display().to_string();
    let mut counted = Vec::new();
    let mut not_counted = Vec::new();
    for file in files {
        let armored = match crate::fsutil::read_limited(file, sshsig::MAX_SIGNATURE_BYTES)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|b| String::from_utf8(b).map_err(|_| "is not text".to_string()))
        {
            Ok(text) => text,
            Err(reason) => {
                not_counted.push((file.clone(), reason));
                continue;
            }
        };
        let mut first_reason = None;
        let mut counted_any = false;
        for policy in &sets {
            let sha = &policy.signers.sha256;
            let result = sshsig::check(
                &policy.signers,
                APPROVAL_NAMESPACE,
                bytes,
                &name,
                &armored,
                now,
            )
            .and_then(|v| {
                let twice = counted.iter().find(|c: &&Counted| {
                    &c.signers_sha256 == sha
                        && (c.verified.fingerprint == v.fingerprint
                            || c.verified
                                .principals
                                .iter()
                                .any(|p| v.principals.contains(p)))
                });
                match twice {
                    Some(c) => Err(format!(
                        "is a second approval by {} (already counted from {})",
                        v.principals[0],
                        c.file.display()
                    )),
                    None => Ok(v),
                }
            });
            match result {
                Ok(verified) => {
                    counted_any = true;
                    counted.push(Counted {
                        file: file.clone(),
                        verified,
                        signers_sha256: sha.clone(),
                    });
                }
                Err(reason) => {
                    first_reason.get_or_insert(reason);
                }
            }
        }
        if !counted_any {
            not_counted.push((file.clone(), first_reason.unwrap_or_default()));
        }
    }
    judgement.counted = counted;
    judgement.not_counted = not_counted;
    if let Some(policy) = current {
        let n = judgement.count_in(&policy.signers.sha256);
        if n < policy.required as usize {
            judgement.reasons.push(format!(
                "approvals: {n} of the {} required from {} verified (each approver signs the script: ssh-keygen -Y sign -f KEY -n {APPROVAL_NAMESPACE} {name})",
                policy.required,
                policy.signers.path.display()
            ));
        }
    }
    if let (true, Some(anchor)) = (anchor_must_approve, &judgement.anchor) {
        let n = judgement.count_in(&anchor.policy.signers.sha256);
        if n < anchor.policy.required as usize {
            let why = match current {
                Some(c) => format!(
                    "this script names another approvers' set ({}, sha256 {})",
                    c.signers.path.display(),
                    &c.signers.sha256[..16]
                ),
                None => "this script has no [approvals]".to_string(),
            };
            judgement.reasons.push(format!(
                "the transcript anchors approvers' set sha256 {} (entry {}) and {why}: {n} of the {} required from the anchored set approved it",
                &anchor.policy.signers.sha256[..16],
                anchor.seq,
                anchor.policy.required
            ));
        }
    }
    judgement
}
