//! Kubernetes component profiles (one per row of kubeadm's certificate
//! table) and the intermediate-CA profile: the table of [`PROFILES`], what
//! each profile allows, and where kubeadm keeps its certificate.
//!
//! The policy check that turns a request into the exact contents of a
//! certificate, or a rejection that names the rule, is [`Profile::check`],
//! in the `check` submodule with its inputs and results.
//!
//! Everything a certificate carries comes from the profile and the
//! request's manifest entry; nothing requested inside the CSR is copied.

mod check;

pub use check::{
    is_dns_name, Approved, IntermediatePolicy, Rejection, RequestParams, StepPolicy, SYSTEM_MASTERS,
};

use serde::{Deserialize, Serialize};

/// Which root CA issues a profile's certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Issuer {
    /// The cluster CA (`ca`, CN=kubernetes).
    Cluster,
    /// The etcd CA (`etcd/ca`).
    Etcd,
    /// The front-proxy CA (`front-proxy-ca`).
    FrontProxy,
}

impl Issuer {
    /// The issuer's name as written in scripts.
    pub fn name(self) -> &'static str {
        match self {
            Issuer::Cluster => "cluster",
            Issuer::Etcd => "etcd",
            Issuer::FrontProxy => "front-proxy",
        }
    }

    /// Where kubeadm keeps this CA's certificate.
    pub fn kubeadm_path(self) -> &'static str {
        match self {
            Issuer::Cluster => "pki/ca.crt",
            Issuer::Etcd => "pki/etcd/ca.crt",
            Issuer::FrontProxy => "pki/front-proxy-ca.crt",
        }
    }
}

/// The rule for a certificate's CN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CnRule {
    /// Exactly this CN.
    Exact(&'static str),
    /// `system:node:<node>`.
    NodeUser,
    /// The node name itself.
    NodeName,
    /// Any non-empty CN (intermediate CAs).
    Any,
}

/// The rule for a certificate's subjectAltNames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SanRule {
    /// No SANs at all.
    None,
    /// kube-apiserver: the in-cluster service names, the node name and at least one IP.
    ApiServer,
    /// etcd server and peer: node name, localhost, 127.0.0.1 and ::1.
    EtcdMember,
    /// At least one DNS name or IP address.
    AtLeastOne,
}

/// Extended key usage of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EkuRule {
    Server,
    Client,
    Both,
    /// Intermediate CAs: none, or both when the script asks.
    Ca,
}

impl EkuRule {
    /// The EKUs the rule fixes; `None` for an intermediate CA, which carries
    /// none, or serverAuth and clientAuth when the script asks.
    fn fixed(self) -> Option<&'static [der::oid::ObjectIdentifier]> {
        const SERVER: &[der::oid::ObjectIdentifier] = &[crate::oid::KP_SERVER_AUTH];
        const CLIENT: &[der::oid::ObjectIdentifier] = &[crate::oid::KP_CLIENT_AUTH];
        const BOTH: &[der::oid::ObjectIdentifier] =
            &[crate::oid::KP_SERVER_AUTH, crate::oid::KP_CLIENT_AUTH];
        match self {
            EkuRule::Server => Some(SERVER),
            EkuRule::Client => Some(CLIENT),
            EkuRule::Both => Some(BOTH),
            EkuRule::Ca => None,
        }
    }
}

/// One certificate profile.
#[derive(Debug)]
pub struct Profile {
    /// The profile's name, as written in request manifests.
    pub name: &'static str,
    /// The CA that issues it.
    pub issuer: Issuer,
    cn: CnRule,
    orgs: &'static [&'static str],
    eku: EkuRule,
    sans: SanRule,
    /// kubeadm's path for the certificate, when it has a fixed one.
    pub kubeadm_path: Option<&'static str>,
    /// kubeadm's kubeconfig file that embeds the certificate, when there is one.
    pub kubeconfig: Option<&'static str>,
    /// Default and maximum lifetime in days.
    pub default_days: u32,
    max_days: u32,
}

impl Profile {
    /// The EKUs this profile's certificates carry (in this order); `None`
    /// for the intermediate CA profile, whose certificates carry none, or
    /// serverAuth and clientAuth when the script asks.
    pub fn eku(&self) -> Option<&'static [der::oid::ObjectIdentifier]> {
        self.eku.fixed()
    }
}

/// Leaf certificates live at most a year, as kubeadm's do.
const LEAF_DAYS: u32 = 365;

/// Where kubeadm keeps a profile's certificate.
#[derive(Clone, Copy)]
enum KubeadmFile {
    /// A `pki/` path, beside its key.
    Cert(&'static str),
    /// Embedded in a kubeconfig.
    Conf(&'static str),
    /// kubeadm has no file for it.
    Neither,
}

const fn leaf(
    name: &'static str,
    issuer: Issuer,
    cn: CnRule,
    orgs: &'static [&'static str],
    eku: EkuRule,
    sans: SanRule,
    file: KubeadmFile,
) -> Profile {
    let (kubeadm_path, kubeconfig) = match file {
        KubeadmFile::Cert(path) => (Some(path), None),
        KubeadmFile::Conf(conf) => (None, Some(conf)),
        KubeadmFile::Neither => (None, None),
    };
    Profile {
        name,
        issuer,
        cn,
        orgs,
        eku,
        sans,
        kubeadm_path,
        kubeconfig,
        default_days: LEAF_DAYS,
        max_days: LEAF_DAYS,
    }
}

use CnRule::{Exact, NodeName, NodeUser};
use EkuRule::{Both, Client, Server};
use Issuer::{Cluster, Etcd, FrontProxy};

/// Every profile, in the order of DESIGN.md's table.
pub static PROFILES: &[Profile] = &[
    leaf(
        "apiserver",
        Cluster,
        Exact("kube-apiserver"),
        &[],
        Server,
        SanRule::ApiServer,
        KubeadmFile::Cert("pki/apiserver.crt"),
    ),
    leaf(
        "apiserver-kubelet-client",
        Cluster,
        Exact("kube-apiserver-kubelet-client"),
        &["kubeadm:cluster-admins"],
        Client,
        SanRule::None,
        KubeadmFile::Cert("pki/apiserver-kubelet-client.crt"),
    ),
    leaf(
        "front-proxy-client",
        FrontProxy,
        Exact("front-proxy-client"),
        &[],
        Client,
        SanRule::None,
        KubeadmFile::Cert("pki/front-proxy-client.crt"),
    ),
    leaf(
        "apiserver-etcd-client",
        Etcd,
        Exact("kube-apiserver-etcd-client"),
        &[],
        Client,
        SanRule::None,
        KubeadmFile::Cert("pki/apiserver-etcd-client.crt"),
    ),
    leaf(
        "etcd-server",
        Etcd,
        NodeName,
        &[],
        Both,
        SanRule::EtcdMember,
        KubeadmFile::Cert("pki/etcd/server.crt"),
    ),
    leaf(
        "etcd-peer",
        Etcd,
        NodeName,
        &[],
        Both,
        SanRule::EtcdMember,
        KubeadmFile::Cert("pki/etcd/peer.crt"),
    ),
    leaf(
        "etcd-healthcheck-client",
        Etcd,
        Exact("kube-etcd-healthcheck-client"),
        &[],
        Client,
        SanRule::None,
        KubeadmFile::Cert("pki/etcd/healthcheck-client.crt"),
    ),
    leaf(
        "admin",
        Cluster,
        Exact("kubernetes-admin"),
        &["kubeadm:cluster-admins"],
        Client,
        SanRule::None,
        KubeadmFile::Conf("admin.conf"),
    ),
    leaf(
        "super-admin",
        Cluster,
        Exact("kubernetes-super-admin"),
        &["system:masters"],
        Client,
        SanRule::None,
        KubeadmFile::Conf("super-admin.conf"),
    ),
    leaf(
        "controller-manager",
        Cluster,
        Exact("system:kube-controller-manager"),
        &[],
        Client,
        SanRule::None,
        KubeadmFile::Conf("controller-manager.conf"),
    ),
    leaf(
        "scheduler",
        Cluster,
        Exact("system:kube-scheduler"),
        &[],
        Client,
        SanRule::None,
        KubeadmFile::Conf("scheduler.conf"),
    ),
    leaf(
        "kube-proxy",
        Cluster,
        Exact("system:kube-proxy"),
        &[],
        Client,
        SanRule::None,
        KubeadmFile::Neither,
    ),
    leaf(
        "kubelet-client",
        Cluster,
        NodeUser,
        &["system:nodes"],
        Client,
        SanRule::None,
        KubeadmFile::Conf("kubelet.conf"),
    ),
    leaf(
        "kubelet-serving",
        Cluster,
        NodeUser,
        &["system:nodes"],
        Server,
        SanRule::AtLeastOne,
        KubeadmFile::Neither,
    ),
    Profile {
        name: "intermediate-ca",
        issuer: Cluster,
        cn: CnRule::Any,
        orgs: &[],
        eku: EkuRule::Ca,
        sans: SanRule::None,
        kubeadm_path: None,
        kubeconfig: None,
        default_days: 5 * 365,
        max_days: 10 * 365,
    },
];

/// The profile called `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The profile for a CSR in a tree left by `kubeadm certs generate-csr`,
/// by its path relative to the tree: `pki/apiserver.csr` → apiserver,
/// `pki/etcd/peer.csr` → etcd-peer, `admin.conf.csr` → admin, …
pub fn for_kubeadm_csr(rel: &str) -> Option<&'static Profile> {
    let stem = rel.strip_suffix(".csr")?;
    PROFILES.iter().find(|p| {
        p.kubeadm_path.and_then(|k| k.strip_suffix(".crt")) == Some(stem)
            || p.kubeconfig == Some(stem)
    })
}

/// Every profile name, for messages.
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
