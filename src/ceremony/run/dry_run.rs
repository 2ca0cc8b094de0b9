//! The dry run: the plan printed, then each step prepared and previewed
//! (a sign step's requests judged, a CRL step's revocations resolved), with
//! no token opened and nothing written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::super::approvals;
use super::super::plan::Plan;
use super::super::{Error, Reason};
use crate::events::Outcome;

/// Prints what `plan` would do and refuses, naming every reason, when the
/// ceremony would: existing outputs, refused requests under `stop`, bad
/// revocations.
pub(super) fn dry_run(
    plan: &Plan,
    approval_files: &[PathBuf],
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    let _ = write!(out, "{plan}");
    let mut reasons: Vec<Reason> = plan
        .existing_outputs()
        .into_iter()
        .map(|path| Reason::OutputExists { path })
        .collect();
    let judgement = approvals::judge(
        &plan.script_path,
        &plan.script_bytes,
        plan.approvals.as_ref(),
        approvals::anchored(&plan.transcript)?,
        approval_files,
        super::unix_now(),
    );
    for line in judgement.lines() {
        let _ = writeln!(out, "{line}");
    }
    if judgement.given > 0 {
        reasons.extend(judgement.reasons.iter().cloned().map(Reason::Rule));
    } else if judgement.needed() {
        // The dry run is what approvers read before they sign: without
        // approvals it says what the run will need, and does not refuse.
        let _ = writeln!(
            out,
            "approvals: none given; the run refuses without them (each approver signs the script: ssh-keygen -Y sign -f KEY -n {} {}; then run with --approval FILE for each)",
            crate::sshsig::APPROVAL_NAMESPACE,
            plan.script_path.display()
        );
    }
    let mut earlier_outputs: Vec<&Path> = Vec::new();
    for step in &plan.steps {
        let id = step.id();
        if step.inputs().iter().any(|p| earlier_outputs.contains(p)) {
            let _ = writeln!(out, "step {id}: {}", step.deferred());
        } else {
            match step.prepare(SystemTime::now()) {
                Ok(prepared) => reasons.extend(
                    prepared
                        .preview(out)
                        .into_iter()
                        .map(|r| Reason::in_step(id, r)),
                ),
                Err(Error::Refused { reasons: r, .. }) => {
                    reasons.extend(r.into_iter().map(|r| Reason::in_step(id, r)))
                }
                Err(e) => return Err(e),
            }
        }
        earlier_outputs.extend(step.outputs());
    }
    if !reasons.is_empty() {
        return Err(Error::Refused {
            ceremony: plan.script.ceremony.name.clone(),
            reasons,
        });
    }
    let _ = writeln!(
        out,
        "dry run: no token was opened, no key touched, nothing written (key labels and issuer keys are checked against the token when the ceremony runs)"
    );
    Ok(Outcome::Completed)
}
