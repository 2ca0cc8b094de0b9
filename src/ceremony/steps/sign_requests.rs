//! The `sign-requests` step: a sealed request bundle, opened against its
//! pinned digest, every request judged against its profile before the
//! token (`judge`), then the approved ones signed in one batch, each
//! signature verified, and one output bundle written, encrypted to the
//! requester and signed by the audit key (`batch`).

mod batch;
mod judge;
mod spec;

pub use judge::{Approval, Prepared as Judged, OUTPUT_FORMAT};
pub use spec::{ClusterSpec, IntermediateEku, IntermediateSpec, Issuers, OnRejection, Spec};

use std::any::Any;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::super::step::{Context, PlanContext, Prepared, Step, StepSpec, StepType};
use super::super::{Error, Reason};
use super::issuer::IssuerSpec;
use crate::profile::{Issuer, NodeNames, NodeScope, StepPolicy};

/// The step type.
pub(super) const TYPE: StepType = StepType {
    action: "sign-requests",
    parse: super::super::step::parse_as::<Spec>,
};

/// A resolved `sign-requests` step.
#[derive(Debug)]
pub struct SignStep {
    /// Step id.
    pub id: String,
    /// The request bundle.
    pub bundle: PathBuf,
    /// Its pinned SHA-256, lowercase hex.
    pub bundle_sha256: String,
    /// The output bundle (`NAME.tar.age`).
    pub output: PathBuf,
    /// The checksum file beside it (`NAME.tar.age.sha256`).
    pub checksum: PathBuf,
    /// age recipients, as written in the script (already checked).
    pub recipients: Vec<String>,
    /// What a rejection does.
    pub on_rejection: OnRejection,
    /// Break-glass and intermediate settings.
    pub policy: StepPolicy,
    /// The CAs this step may sign with.
    pub issuers: Vec<(Issuer, IssuerSpec)>,
}

impl StepSpec for Spec {
    fn id(&self) -> &str {
        &self.id
    }

    fn witnessed(&self) -> bool {
        self.witnessed
    }

    fn plan(&self, cx: &PlanContext<'_>) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(spec::plan(cx.out_dir, self)?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Step for SignStep {
    fn id(&self) -> &str {
        &self.id
    }

    fn action(&self) -> &'static str {
        TYPE.action
    }

    fn outputs(&self) -> Vec<&Path> {
        vec![&self.output, &self.checksum]
    }

    fn inputs(&self) -> Vec<&Path> {
        self.issuers
            .iter()
            .map(|(_, spec)| spec.certificate.as_path())
            .collect()
    }

    fn deferred(&self) -> &'static str {
        "issuer certificates are made by an earlier step; requests are judged when the ceremony runs"
    }

    fn prepare(&self, now: SystemTime) -> Result<Box<dyn Prepared + '_>, Error> {
        let judged = judge::prepare(self, now)?;
        Ok(Box::new(Ready {
            step: self,
            judged,
            now,
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A `sign-requests` step with every request judged.
struct Ready<'s> {
    step: &'s SignStep,
    judged: Judged,
    now: SystemTime,
}

impl Prepared for Ready<'_> {
    fn preview(&self, out: &mut dyn Write) -> Vec<Reason> {
        let step = self.step;
        let _ = writeln!(
            out,
            "step {}: {} request(s) in the bundle:",
            step.id,
            self.judged.entries.len()
        );
        let mut reasons = Vec::new();
        for (entry, verdict) in self.judged.requests() {
            match verdict {
                Ok(Approval {
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
                        a.orgs.iter().map(|o| format!(" O={o}")).collect::<String>(),
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
                    if step.on_rejection == OnRejection::Stop {
                        reasons.push(Reason::Rejected {
                            request: entry.id.clone(),
                            rule: r.rule.clone(),
                        });
                    }
                }
            }
        }
        reasons
    }

    fn execute(self: Box<Self>, cx: &mut Context<'_>) -> Result<(), Error> {
        batch::sign(cx, self.step, &self.judged, self.now)
    }
}

impl fmt::Display for SignStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  bundle       {} (sha256 {}, checked before anything inside is read)",
            self.bundle.display(),
            self.bundle_sha256
        )?;
        for (issuer, spec) in &self.issuers {
            writeln!(
                f,
                "  issuer       {}: key {:?} in the token, certificate {}",
                issuer.name(),
                spec.key_label,
                spec.certificate.display()
            )?;
        }
        let p = &self.policy;
        writeln!(
            f,
            "  policy       on rejection: {}; break-glass super-admin: {}",
            match self.on_rejection {
                OnRejection::Stop => "stop, sign nothing",
                OnRejection::Skip => "skip the request, sign the rest",
            },
            if p.allow_break_glass {
                "ALLOWED"
            } else {
                "refused"
            }
        )?;
        let ip = &p.intermediate;
        writeln!(
            f,
            "  intermediate pathlen {}, EKU {}, permitted DNS [{}] IP [{}], excluded DNS [{}] IP [{}]",
            ip.path_len,
            if ip.server_and_client_eku { "serverAuth+clientAuth" } else { "none" },
            ip.permitted_dns.join(", "),
            ip.permitted_ips.join(", "),
            ip.excluded_dns.join(", "),
            ip.excluded_ips.join(", ")
        )?;
        match &p.nodes {
            NodeScope::Stated(n) if *n == NodeNames::default() => writeln!(
                f,
                "  nodes        node-bound requests (kubelet-serving, etcd-server, etcd-peer) may name only their node ([step.cluster] states no names or networks); the API server's names (kubernetes, kubernetes.default…) only for profile apiserver"
            )?,
            NodeScope::Stated(n) => writeln!(
                f,
                "  nodes        node-bound requests (kubelet-serving, etcd-server, etcd-peer) may name their node, names under [{}] and addresses in [{}]; service networks [{}] and the API server's names (kubernetes, kubernetes.default…) only for profile apiserver",
                n.dns_suffixes.join(", "),
                joined(&n.networks),
                joined(&n.service_networks)
            )?,
            NodeScope::Unknown => writeln!(
                f,
                "  nodes        not judged against the cluster's names; the API server's names only for profile apiserver"
            )?,
        }
        writeln!(
            f,
            "  writes       {} and {} (age, {} recipient(s))",
            self.output.display(),
            self.checksum.display(),
            self.recipients.len()
        )
    }
}

/// Items joined with `, `.
fn joined<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
