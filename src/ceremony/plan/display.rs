//! The plan as text: the ceremony, the token and the people, then every
//! step with what it will create, sign and write, as `--dry-run` prints it.
//!
//! A step's text is also what its witness acknowledgement code is computed
//! over ([`Plan::step_digest`]), so changing the wording of a step changes
//! its code.

use std::fmt;

use super::super::script::OnRejection;
use super::{Plan, PlannedRevocation, PlannedStep, RevokeTarget};
use crate::hex;
use crate::profile::{NodeNames, NodeScope};
use crate::token::{KeyAlgorithm, SignatureHash};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.script;
        writeln!(
            f,
            "ceremony {:?}: {}",
            s.ceremony.name, s.ceremony.description
        )?;
        writeln!(
            f,
            "  script      {} (sha256 {})",
            self.script_path.display(),
            self.script_sha256
        )?;
        writeln!(f, "  module      {}", self.module.display())?;
        writeln!(f, "  token       {}", self.selector)?;
        writeln!(f, "  operator    {}", s.participants.operator)?;
        if !s.participants.witnesses.is_empty() {
            writeln!(f, "  witnesses   {}", s.participants.witnesses.join(", "))?;
        }
        writeln!(f, "  transcript  {} (append)", self.transcript.display())?;
        writeln!(f, "  output dir  {}", s.output.directory.display())?;
        let n = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "step {}/{n} {}: {}{}",
                i + 1,
                step.id(),
                step.action(),
                if self.witnessed[i] {
                    format!(" (witnessed: acknowledgement code {})", self.step_digest(i))
                } else {
                    String::new()
                }
            )?;
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

impl fmt::Display for PlannedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlannedStep::GenerateRoot(r) => {
                writeln!(
                    f,
                    "  key          generate {} key pair labelled {:?} in the token (sensitive, never extractable, sign only)",
                    r.algorithm, r.key_label
                )?;
                let sig = match (r.algorithm, r.hash) {
                    (KeyAlgorithm::EcdsaP256, _) => "ecdsa-with-SHA256",
                    (KeyAlgorithm::EcdsaP384, _) => "ecdsa-with-SHA384",
                    (_, SignatureHash::Sha256) => "sha256WithRSAEncryption",
                    (_, SignatureHash::Sha384) => "sha384WithRSAEncryption",
                    (_, SignatureHash::Sha512) => "sha512WithRSAEncryption",
                };
                writeln!(
                    f,
                    "  certificate  self-signed {}: CA:TRUE{} (critical), keyCertSign+cRLSign (critical), SKI+AKI, signature {sig}",
                    r.profile.subject(),
                    match r.profile.path_len() {
                        Some(n) => format!(", pathlen:{n}"),
                        None => String::new(),
                    }
                )?;
                writeln!(
                    f,
                    "  validity     {} days from now, notBefore backdated {} min",
                    r.lifetime.as_secs() / 86_400,
                    r.backdate.as_secs() / 60
                )?;
                writeln!(f, "  writes       {}", r.certificate.display())?;
            }
            PlannedStep::GenerateAuditKey(a) => {
                writeln!(
                    f,
                    "  key          generate {} key pair labelled {:?} in the token (sensitive, never extractable, sign only); it signs transcript checkpoints, never certificates",
                    a.algorithm, a.key_label
                )?;
                writeln!(
                    f,
                    "  writes       {} (its public key)",
                    a.public_key.display()
                )?;
            }
            PlannedStep::SignRequests(g) => {
                writeln!(
                    f,
                    "  bundle       {} (sha256 {}, checked before anything inside is read)",
                    g.bundle.display(),
                    g.bundle_sha256
                )?;
                for (issuer, spec) in &g.issuers {
                    writeln!(
                        f,
                        "  issuer       {}: key {:?} in the token, certificate {}",
                        issuer.name(),
                        spec.key_label,
                        spec.certificate.display()
                    )?;
                }
                let p = &g.policy;
                writeln!(
                    f,
                    "  policy       on rejection: {}; break-glass super-admin: {}",
                    match g.on_rejection {
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
                    g.output.display(),
                    g.checksum.display(),
                    g.recipients.len()
                )?;
            }
            PlannedStep::IssueCrl(c) => {
                writeln!(
                    f,
                    "  issuer       key {:?} in the token, certificate {}",
                    c.issuer.key_label,
                    c.issuer.certificate.display()
                )?;
                writeln!(
                    f,
                    "  crl          issue CRL #n (number decided at run time from the transcript: one more than this issuer's highest, 1 for its first), AKI, CRL number, signed by the issuer's key"
                )?;
                writeln!(
                    f,
                    "  validity     thisUpdate now, nextUpdate {} days from now",
                    c.next_update_days
                )?;
                if c.revoke.is_empty() {
                    writeln!(f, "  revoke       nothing (an empty CRL)")?;
                }
                for r in &c.revoke {
                    writeln!(f, "  revoke       {r}")?;
                }
                writeln!(f, "  writes       {}", c.crl.display())?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for PlannedRevocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            RevokeTarget::Certificate(p) => write!(
                f,
                "certificate {} (serial read from it; it must be issued by this issuer)",
                p.display()
            )?,
            RevokeTarget::Serial(b) => write!(f, "serial {}", hex::encode(b))?,
        }
        write!(f, ", reason {}, ", self.reason.name())?;
        match self.revoked_at {
            Some(t) => write!(f, "revoked at {t}"),
            None => write!(f, "revoked now"),
        }
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
