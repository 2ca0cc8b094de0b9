//! A `sign-requests` step as the script gives it, and its check into a
//! [`SignStep`]: the pinned bundle digest, the output name, the age
//! recipients, the issuers, the intermediate constraints and the cluster's
//! node names and networks.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::super::super::step::nonempty;
use super::super::issuer::IssuerSpec;
use super::SignStep;
use crate::hex;
use crate::profile::nodes::api_server_name;
use crate::profile::{
    cidr_bytes, component::is_dns_name, IntermediatePolicy, Issuer, Network, NodeNames, NodeScope,
    StepPolicy,
};

/// What a signing step does when a request breaks its profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnRejection {
    /// Sign nothing in the step (the default).
    #[default]
    Stop,
    /// Sign the other requests; report the rejected ones.
    Skip,
}

/// A `sign-requests` step: sign a sealed request bundle in one batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id, unique within the script.
    pub id: String,
    /// The request bundle file.
    pub bundle: PathBuf,
    /// Its SHA-256, as the requester sent it out of band.
    pub bundle_sha256: String,
    /// Output bundle name: writes `NAME.tar.age` and `NAME.tar.age.sha256`
    /// in the output directory.
    pub output: String,
    /// age X25519 recipients (`age1…`) the output bundle is encrypted to.
    pub recipients: Vec<String>,
    /// Stop (default) or skip when a request breaks its profile.
    #[serde(default)]
    pub on_rejection: OnRejection,
    /// Allow `super-admin` (O=system:masters) requests.
    #[serde(default)]
    pub allow_break_glass: bool,
    /// The CA keys and certificates this step may sign with.
    pub issuers: Issuers,
    /// Settings for `intermediate-ca` requests.
    #[serde(default)]
    pub intermediate: IntermediateSpec,
    /// The cluster's node names and networks, for node-bound requests.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Each witness acknowledges the step before it runs.
    #[serde(default)]
    pub witnessed: bool,
}

/// What a signing step knows of the cluster (`[step.cluster]`): where node
/// names and addresses live, and the service networks whose addresses only
/// the API server's certificate may carry. With none stated, a node-bound
/// request may name only its node.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// DNS suffixes node names live under (`nodes.example.com`).
    #[serde(default)]
    pub node_dns_suffixes: Vec<String>,
    /// The node networks (CIDR, or a single address).
    #[serde(default)]
    pub node_networks: Vec<String>,
    /// The service networks (CIDR), or the service IPs.
    #[serde(default)]
    pub service_networks: Vec<String>,
}

/// The CAs a signing step may use, by role.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Issuers {
    /// The cluster CA (`ca`).
    pub cluster: Option<IssuerSpec>,
    /// The etcd CA (`etcd/ca`).
    pub etcd: Option<IssuerSpec>,
    /// The front-proxy CA.
    #[serde(rename = "front-proxy")]
    pub front_proxy: Option<IssuerSpec>,
}

/// What intermediate CAs signed in a step look like.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IntermediateSpec {
    /// pathLenConstraint (default 0: it may sign only leaves).
    #[serde(default)]
    pub path_len: u8,
    /// `none` (default) or `server-and-client`.
    #[serde(default)]
    pub eku: IntermediateEku,
    /// Permitted DNS subtrees.
    #[serde(default)]
    pub permitted_dns: Vec<String>,
    /// Excluded DNS subtrees.
    #[serde(default)]
    pub excluded_dns: Vec<String>,
    /// Permitted IP subtrees (CIDR).
    #[serde(default)]
    pub permitted_ips: Vec<String>,
    /// Excluded IP subtrees (CIDR).
    #[serde(default)]
    pub excluded_ips: Vec<String>,
}

/// An intermediate's EKU: Go requires EKUs to nest, so none or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IntermediateEku {
    /// No EKU extension.
    #[default]
    None,
    /// serverAuth and clientAuth.
    ServerAndClient,
}

/// Checks the step and resolves it, with its outputs in `out_dir`.
pub(super) fn plan(out_dir: &Path, g: &Spec) -> Result<SignStep, String> {
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
fn cluster(c: &ClusterSpec) -> Result<NodeNames, String> {
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
