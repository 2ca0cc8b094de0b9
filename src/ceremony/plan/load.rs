//! Building a plan: reading a script (at most [`MAX_SCRIPT_BYTES`]),
//! parsing it, checking every field and every step against the limits and
//! against the steps before it, and resolving each step into a
//! [`PlannedStep`] with its output paths inside the output directory.
//!
//! It touches no token and writes nothing. A script that cannot be read is
//! an [`Error::ScriptRead`]; every refusal of its contents is an
//! [`Error::Script`] naming the script and, where there is one, the step.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::super::script::{self, IntermediateEku, Step};
use super::super::Error;
use super::{
    AuditKeyStep, CrlStep, Plan, PlannedRevocation, PlannedStep, RevokeTarget, RootStep, SignStep,
    MAX_BACKDATE_MINUTES, MAX_NEXT_UPDATE_DAYS, MAX_SCRIPT_BYTES, MAX_VALIDITY_DAYS,
};
use crate::hex;
use crate::profile::nodes::api_server_name;
use crate::profile::{
    cidr_bytes, component::is_dns_name, IntermediatePolicy, Issuer, Network, NodeNames, NodeScope,
    RootProfile, StepPolicy,
};
use crate::token::TokenSelector;

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
        Plan::from_bytes(path, &bytes)
    }

    /// Parses and checks script bytes; `path` names the script in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Plan, Error> {
        let bad = |reason: String| Error::Script {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not valid UTF-8".into()))?;
        let script = script::parse(text).map_err(bad)?;
        let script_sha256 = hex::encode(&Sha256::digest(bytes));

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
            let planned = match step {
                Step::GenerateRoot(g) => {
                    nonempty("key_label", &g.key_label).map_err(at)?;
                    if g.hash.is_some() && !g.algorithm.is_rsa() {
                        return Err(at(format!(
                            "hash applies to RSA keys only; {} signs with its own digest",
                            g.algorithm
                        )));
                    }
                    if g.validity_days == 0 || g.validity_days > MAX_VALIDITY_DAYS {
                        return Err(at(format!(
                            "validity_days must be 1 to {MAX_VALIDITY_DAYS}, not {}",
                            g.validity_days
                        )));
                    }
                    if g.backdate_minutes > MAX_BACKDATE_MINUTES {
                        return Err(at(format!(
                            "backdate_minutes must be at most {MAX_BACKDATE_MINUTES}"
                        )));
                    }
                    let profile =
                        RootProfile::new(&g.subject, g.path_len).map_err(|e| at(e.to_string()))?;
                    PlannedStep::GenerateRoot(RootStep {
                        id: g.id.clone(),
                        key_label: g.key_label.clone(),
                        algorithm: g.algorithm,
                        hash: g.hash.unwrap_or_default(),
                        profile,
                        lifetime: Duration::from_secs(u64::from(g.validity_days) * 86_400),
                        backdate: Duration::from_secs(u64::from(g.backdate_minutes) * 60),
                        certificate: contained(out_dir, &g.certificate).map_err(at)?,
                    })
                }
                Step::SignRequests(g) => {
                    PlannedStep::SignRequests(Box::new(sign_step(out_dir, g).map_err(at)?))
                }
                Step::GenerateAuditKey(g) => {
                    if g.algorithm.is_rsa() {
                        return Err(at("the audit key must be ecdsa-p256 or ecdsa-p384".into()));
                    }
                    PlannedStep::GenerateAuditKey(AuditKeyStep {
                        id: g.id.clone(),
                        key_label: script.audit.key_label.clone(),
                        algorithm: g.algorithm,
                        public_key: contained(out_dir, &g.public_key).map_err(at)?,
                    })
                }
                Step::IssueCrl(c) => {
                    PlannedStep::IssueCrl(Box::new(crl_step(out_dir, c).map_err(at)?))
                }
            };
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
            module: token.module.clone(),
            selector,
            transcript: script.output.transcript.clone(),
            steps,
            witnessed,
            script,
        })
    }
}

fn sign_step(out_dir: &Path, g: &script::SignRequests) -> Result<SignStep, String> {
    let sha = g.bundle_sha256.to_ascii_lowercase();
    if sha.len() != 64 || hex::decode(&sha).is_none() {
        return Err(format!(
            "bundle_sha256 must be the 64 hex digits the requester sent, not {:?}",
            g.bundle_sha256
        ));
    }
    if g.output.is_empty()
        || !g
            .output
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        || g.output.starts_with('.')
    {
        return Err(format!(
            "output {:?} must be a plain file name (letters, digits, '-', '_', '.')",
            g.output
        ));
    }
    if g.recipients.is_empty() {
        return Err("recipients must name at least one age recipient (age1…)".into());
    }
    for r in &g.recipients {
        r.parse::<age::x25519::Recipient>()
            .map_err(|e| format!("recipient {r:?} is not an age X25519 recipient: {e}"))?;
    }
    let mut issuers = Vec::new();
    for (issuer, spec) in [
        (Issuer::Cluster, &g.issuers.cluster),
        (Issuer::Etcd, &g.issuers.etcd),
        (Issuer::FrontProxy, &g.issuers.front_proxy),
    ] {
        if let Some(spec) = spec {
            nonempty(
                &format!("issuers.{}.key_label", issuer.name()),
                &spec.key_label,
            )?;
            issuers.push((issuer, spec.clone()));
        }
    }
    if issuers.is_empty() {
        return Err("[step.issuers] must name at least one of cluster, etcd, front-proxy".into());
    }
    let i = &g.intermediate;
    for d in i.permitted_dns.iter().chain(&i.excluded_dns) {
        if !is_dns_name(d.trim_start_matches('.')) {
            return Err(format!(
                "intermediate name constraint {d:?} is not a DNS name"
            ));
        }
    }
    for c in i.permitted_ips.iter().chain(&i.excluded_ips) {
        cidr_bytes(c).map_err(|e| format!("intermediate name constraint {c:?}: {e}"))?;
    }
    let nodes = cluster(&g.cluster)?;
    let output = out_dir.join(format!("{}.tar.age", g.output));
    let checksum = out_dir.join(format!("{}.tar.age.sha256", g.output));
    Ok(SignStep {
        id: g.id.clone(),
        bundle: g.bundle.clone(),
        bundle_sha256: sha,
        output,
        checksum,
        recipients: g.recipients.clone(),
        on_rejection: g.on_rejection,
        policy: StepPolicy {
            allow_break_glass: g.allow_break_glass,
            intermediate: IntermediatePolicy {
                path_len: i.path_len,
                server_and_client_eku: i.eku == IntermediateEku::ServerAndClient,
                permitted_dns: i.permitted_dns.clone(),
                excluded_dns: i.excluded_dns.clone(),
                permitted_ips: i.permitted_ips.clone(),
                excluded_ips: i.excluded_ips.clone(),
            },
            nodes: NodeScope::Stated(nodes),
        },
        issuers,
    })
}

/// The `[step.cluster]` table, checked: suffixes are DNS names that are not
/// the API server's, networks parse, and no node network overlaps a service
/// network.
fn cluster(c: &script::ClusterSpec) -> Result<NodeNames, String> {
    let mut suffixes = Vec::with_capacity(c.node_dns_suffixes.len());
    for s in &c.node_dns_suffixes {
        let bare = s.strip_prefix('.').unwrap_or(s);
        if !is_dns_name(bare) {
            return Err(format!(
                "cluster.node_dns_suffixes: {s:?} is not a DNS name"
            ));
        }
        if api_server_name(bare) {
            return Err(format!(
                "cluster.node_dns_suffixes: {s:?} would put node names among the API server's"
            ));
        }
        suffixes.push(bare.to_ascii_lowercase());
    }
    let networks = |field: &str, list: &[String]| -> Result<Vec<Network>, String> {
        list.iter()
            .map(|n| Network::parse(n).map_err(|e| format!("cluster.{field}: {n:?}: {e}")))
            .collect()
    };
    let node_networks = networks("node_networks", &c.node_networks)?;
    let service_networks = networks("service_networks", &c.service_networks)?;
    for n in &node_networks {
        if let Some(s) = service_networks.iter().find(|s| s.overlaps(n)) {
            return Err(format!(
                "cluster.node_networks: {n} overlaps the service network {s}; a node's addresses must not be the API server's"
            ));
        }
    }
    Ok(NodeNames {
        dns_suffixes: suffixes,
        networks: node_networks,
        service_networks,
    })
}

fn crl_step(out_dir: &Path, c: &script::IssueCrl) -> Result<CrlStep, String> {
    nonempty("issuer.key_label", &c.issuer.key_label)?;
    if c.next_update_days == 0 || c.next_update_days > MAX_NEXT_UPDATE_DAYS {
        return Err(format!(
            "next_update_days must be 1 to {MAX_NEXT_UPDATE_DAYS}, not {}",
            c.next_update_days
        ));
    }
    let mut revoke = Vec::new();
    let mut serials = BTreeSet::new();
    let mut files = BTreeSet::new();
    for (i, r) in c.revoke.iter().enumerate() {
        let at = |reason: String| format!("revoke[{i}]: {reason}");
        let target =
            match (&r.certificate, &r.serial) {
                (Some(path), None) => {
                    if !files.insert(path.clone()) {
                        return Err(at(format!(
                            "certificate {} is listed twice",
                            path.display()
                        )));
                    }
                    RevokeTarget::Certificate(path.clone())
                }
                (None, Some(serial)) => {
                    let bytes = parse_serial(serial).map_err(at)?;
                    if !serials.insert(bytes.clone()) {
                        return Err(at(format!(
                            "serial {} is listed twice",
                            hex::encode(&bytes)
                        )));
                    }
                    RevokeTarget::Serial(bytes)
                }
                _ => return Err(at(
                    "name the revoked certificate with certificate or with serial (one of them)"
                        .into(),
                )),
            };
        revoke.push(PlannedRevocation {
            target,
            reason: r.reason,
            revoked_at: r.revoked_at.map(|t| t.0),
        });
    }
    Ok(CrlStep {
        id: c.id.clone(),
        issuer: c.issuer.clone(),
        crl: contained(out_dir, &c.crl)?,
        next_update_days: c.next_update_days,
        revoke,
    })
}

/// A serial number from the script: hex digits, optionally in colon-separated
/// pairs as openssl prints them. Returns the big-endian bytes without leading
/// zero bytes.
pub fn parse_serial(text: &str) -> Result<Vec<u8>, String> {
    let not_hex = || {
        format!(
            "serial {text:?} is not hex (digits 0-9 and a-f, optionally in colon-separated pairs as openssl prints them)"
        )
    };
    let digits: String = if text.contains(':') {
        if text.split(':').any(|pair| pair.len() != 2) {
            return Err(not_hex());
        }
        text.split(':').collect()
    } else {
        text.to_string()
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_hex());
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes = hex::decode(&padded).ok_or_else(not_hex)?;
    let first = bytes.iter().position(|&b| b != 0);
    let Some(first) = first else {
        return Err(format!(
            "serial {text:?} is zero; serial numbers are positive"
        ));
    };
    let bytes = bytes[first..].to_vec();
    // RFC 5280: at most 20 octets, counting the sign byte DER adds when the
    // top bit is set.
    let encoded = bytes.len() + usize::from(bytes[0] & 0x80 != 0);
    if encoded > 20 {
        return Err(format!(
            "serial {text:?} is longer than the 20 octets RFC 5280 allows"
        ));
    }
    Ok(bytes)
}

fn nonempty(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field} must not be empty"))
    } else {
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `dir/rel`, refusing a `rel` that is absolute or climbs out with `..`.
fn contained(dir: &Path, rel: &Path) -> Result<PathBuf, String> {
    let ok =
        !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(dir.join(rel))
    } else {
        Err(format!(
            "output path {:?} must be relative and stay inside the output directory",
            rel.display().to_string()
        ))
    }
}
