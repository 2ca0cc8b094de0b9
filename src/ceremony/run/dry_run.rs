//! The dry run: the plan printed, each sign step's requests judged and each
//! CRL step's revocations resolved, with no token opened and nothing written.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use super::super::plan::{Plan, PlannedStep, RevokeTarget};
use super::super::script::OnRejection;
use super::super::Error;
use super::super::{crl, sign};
use crate::events::Outcome;

/// Prints what `plan` would do and refuses, naming every reason, when the
/// ceremony would: existing outputs, refused requests under `stop`, bad revocations.
pub(super) fn dry_run(plan: &Plan, out: &mut dyn Write) -> Result<Outcome, Error> {
    let _ = write!(out, "{plan}");
    let mut reasons: Vec<String> = plan
        .existing_outputs()
        .iter()
        .map(|p| format!("output {} already exists", p.display()))
        .collect();
    let mut earlier_outputs: Vec<&Path> = Vec::new();
    for step in &plan.steps {
        if let PlannedStep::SignRequests(g) = step {
            let made_earlier = g
                .issuers
                .iter()
                .any(|(_, spec)| earlier_outputs.contains(&spec.certificate.as_path()));
            if made_earlier {
                let _ = writeln!(
                    out,
                    "step {}: issuer certificates are made by an earlier step; requests are judged when the ceremony runs",
                    g.id
                );
            } else {
                match sign::prepare(g, SystemTime::now()) {
                    Ok(prepared) => {
                        let _ = writeln!(
                            out,
                            "step {}: {} request(s) in the bundle:",
                            g.id,
                            prepared.entries.len()
                        );
                        for (entry, verdict) in prepared.requests() {
                            match verdict {
                                Ok(sign::Approval {
                                    profile,
                                    approved: a,
                                    ..
                                }) => {
                                    let sans: Vec<String> = a
                                        .dns
                                        .iter()
                                        .map(|d| format!("DNS:{d}"))
                                        .chain(a.ips.iter().map(|i| format!("IP:{i}")))
                                        .collect();
                                    let _ = writeln!(
                                        out,
                                        "  sign    {} ({}): CN={}{}, by the {} CA, {} days{}{}",
                                        entry.id,
                                        profile.name,
                                        a.cn,
                                        a.orgs
                                            .iter()
                                            .map(|o| format!(" O={o}"))
                                            .collect::<String>(),
                                        profile.issuer.name(),
                                        a.days,
                                        if sans.is_empty() {
                                            String::new()
                                        } else {
                                            format!(", SANs {}", sans.join(" "))
                                        },
                                        if a.ca_path_len.is_some() {
                                            ", CA:TRUE"
                                        } else {
                                            ""
                                        }
                                    );
                                }
                                Err(r) => {
                                    let _ = writeln!(
                                        out,
                                        "  REJECT  {} ({}): {}",
                                        entry.id, entry.profile, r.rule
                                    );
                                    if g.on_rejection == OnRejection::Stop {
                                        reasons.push(format!(
                                            "step {}: request {}: {}",
                                            g.id, entry.id, r.rule
                                        ));
                                    }
                                }
                            }
                        }
                    }
                    Err(Error::Refused { reasons: r, .. }) => {
                        reasons.extend(r.into_iter().map(|r| format!("step {}: {r}", g.id)))
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if let PlannedStep::IssueCrl(c) = step {
            let made_earlier = earlier_outputs.contains(&c.issuer.certificate.as_path())
                || c.revoke.iter().any(|r| {
                    matches!(&r.target, RevokeTarget::Certificate(p) if earlier_outputs.contains(&p.as_path()))
                });
            if made_earlier {
                let _ = writeln!(
                    out,
                    "step {}: certificates are made by an earlier step; revocations are resolved when the ceremony runs",
                    c.id
                );
            } else {
                crl::dry_run(c, out, &mut reasons);
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
