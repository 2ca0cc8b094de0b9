//! Kubernetes component profiles (one per row of kubeadm's certificate
//! table) and the intermediate-CA profile, with the policy check that turns
//! a request into the exact contents of a certificate, or a rejection that
//! names the rule.
//!
//! Everything a certificate carries comes from the profile and the
//! request's manifest entry; nothing requested inside the CSR is copied.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::oid::{KP_CLIENT_AUTH, KP_SERVER_AUTH};
use crate::x509::{Csr, KeyKind};

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

/// The group that bypasses all RBAC.
pub const SYSTEM_MASTERS: &str = "system:masters";

/// What a request asks for beyond its CSR (from the sealed manifest).
#[derive(Debug, Clone, Default)]
pub struct RequestParams<'a> {
    /// Node name, for node-bound profiles.
    pub node: Option<&'a str>,
    /// DNS SANs.
    pub dns: &'a [String],
    /// IP SANs.
    pub ips: &'a [String],
    /// Email SANs (no profile allows them).
    pub emails: &'a [String],
    /// URI SANs (no profile allows them).
    pub uris: &'a [String],
    /// Requested lifetime in days.
    pub validity_days: Option<u32>,
}

/// What the script decides for a signing step.
#[derive(Debug, Clone, Default)]
pub struct StepPolicy {
    /// `allow_break_glass = true`: super-admin requests may be signed.
    pub allow_break_glass: bool,
    /// Settings for intermediate-ca requests.
    pub intermediate: IntermediatePolicy,
}

/// Intermediate-CA settings from the script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntermediatePolicy {
    /// pathLenConstraint (default 0).
    pub path_len: u8,
    /// Add both serverAuth and clientAuth EKUs (default: no EKU).
    pub server_and_client_eku: bool,
    /// Name constraints: permitted DNS subtrees.
    pub permitted_dns: Vec<String>,
    /// Name constraints: excluded DNS subtrees.
    pub excluded_dns: Vec<String>,
    /// Name constraints: permitted IP subtrees (CIDR).
    pub permitted_ips: Vec<String>,
    /// Name constraints: excluded IP subtrees (CIDR).
    pub excluded_ips: Vec<String>,
}

/// A request the profile accepts, reduced to what the certificate carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// Subject CN.
    pub cn: String,
    /// Subject O values, in profile order (or CSR order for intermediates).
    pub orgs: Vec<String>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
    /// EKU OIDs.
    pub eku: Vec<der::oid::ObjectIdentifier>,
    /// True for RSA keys (keyEncipherment is added for leaves).
    pub rsa_key: bool,
    /// `Some(path_len)` for a CA certificate.
    pub ca_path_len: Option<u8>,
    /// Lifetime in days.
    pub days: u32,
}

/// A request the profile refuses: the rule, and a hint when one helps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The rule the request breaks.
    pub rule: String,
    /// A likely fix.
    pub hint: Option<String>,
}

fn reject(rule: String) -> Rejection {
    Rejection { rule, hint: None }
}

impl Profile {
    /// Checks a verified CSR plus its manifest parameters against this
    /// profile and the step's policy.
    pub fn check(
        &self,
        csr: &Csr,
        params: &RequestParams<'_>,
        policy: &StepPolicy,
    ) -> Result<Approved, Rejection> {
        let name = self.name;
        let is_ca = self.eku == EkuRule::Ca;
        check_key(name, &csr.key, is_ca)?;
        if csr.requests_ca && !is_ca {
            return Err(Rejection {
                rule: format!("CSR asks for CA:TRUE; profile {name} issues leaf certificates only"),
                hint: Some("intermediate CAs need profile intermediate-ca".into()),
            });
        }
        let (cn, orgs) = subject_parts(name, csr, is_ca)?;
        if orgs.iter().any(|o| o == SYSTEM_MASTERS) {
            if name != "super-admin" {
                return Err(Rejection {
                    rule: format!(
                        "CSR subject O={SYSTEM_MASTERS} is not allowed by profile {name}"
                    ),
                    hint: Some("break-glass admin certificates need profile super-admin".into()),
                });
            }
            if !policy.allow_break_glass {
                return Err(Rejection {
                    rule: format!("profile super-admin (O={SYSTEM_MASTERS}) is refused unless the script sets allow_break_glass = true"),
                    hint: Some("members of system:masters bypass all RBAC and cannot be revoked by removing bindings".into()),
                });
            }
        }
        let node = params.node.filter(|n| !n.is_empty());
        let needs_node = matches!(self.cn, NodeUser | NodeName)
            || matches!(self.sans, SanRule::ApiServer | SanRule::EtcdMember);
        if needs_node {
            let n = node.ok_or_else(|| reject(format!("profile {name} needs a node name")))?;
            if !is_dns_name(n) {
                return Err(reject(format!("node name {n:?} is not a valid DNS name")));
            }
        }
        let expected_cn = match self.cn {
            Exact(cn) => Some(cn.to_string()),
            NodeUser => node.map(|n| format!("system:node:{n}")),
            NodeName => node.map(str::to_string),
            CnRule::Any => None,
        };
        if let Some(expected) = expected_cn {
            if cn != expected {
                return Err(reject(format!(
                    "CSR subject CN={cn} is not allowed by profile {name}: it must be CN={expected}"
                )));
            }
        }
        if !is_ca {
            let mut want: Vec<&str> = self.orgs.to_vec();
            let mut have: Vec<&str> = orgs.iter().map(String::as_str).collect();
            want.sort_unstable();
            have.sort_unstable();
            if want != have {
                return Err(reject(format!(
                    "CSR subject O={} is not allowed by profile {name}: it must be {}",
                    if have.is_empty() {
                        "(none)".into()
                    } else {
                        have.join(",")
                    },
                    if want.is_empty() {
                        "no O".into()
                    } else {
                        format!("O={}", want.join(","))
                    }
                )));
            }
        }
        let (dns, ips) = self.check_sans(params, node)?;
        let days = params.validity_days.unwrap_or(self.default_days);
        if days == 0 || days > self.max_days {
            return Err(reject(format!(
                "requested validity of {days} days is outside profile {name}'s limit of 1 to {} days",
                self.max_days
            )));
        }
        let eku = match self.eku {
            Server => vec![KP_SERVER_AUTH],
            Client => vec![KP_CLIENT_AUTH],
            Both => vec![KP_SERVER_AUTH, KP_CLIENT_AUTH],
            EkuRule::Ca if policy.intermediate.server_and_client_eku => {
                vec![KP_SERVER_AUTH, KP_CLIENT_AUTH]
            }
            EkuRule::Ca => vec![],
        };
        Ok(Approved {
            cn,
            orgs: if is_ca {
                orgs
            } else {
                self.orgs.iter().map(|o| o.to_string()).collect()
            },
            dns,
            ips,
            eku,
            rsa_key: matches!(csr.key, KeyKind::Rsa { .. }),
            ca_path_len: is_ca.then_some(policy.intermediate.path_len),
            days,
        })
    }

    fn check_sans(
        &self,
        params: &RequestParams<'_>,
        node: Option<&str>,
    ) -> Result<(Vec<String>, Vec<IpAddr>), Rejection> {
        let name = self.name;
        if let Some(e) = params.emails.first() {
            return Err(reject(format!(
                "SAN email:{e} is not allowed: profile {name} allows no email SANs"
            )));
        }
        if let Some(u) = params.uris.first() {
            return Err(reject(format!(
                "SAN URI:{u} is not allowed: profile {name} allows no URI SANs"
            )));
        }
        let mut dns = Vec::new();
        for d in params.dns {
            if d.contains('*') {
                return Err(reject(format!(
                    "SAN DNS:{d} is not allowed: wildcards are refused"
                )));
            }
            if !is_dns_name(d) {
                return Err(reject(format!("SAN DNS:{d} is not a valid DNS name")));
            }
            if dns.contains(d) {
                return Err(reject(format!("SAN DNS:{d} is listed twice")));
            }
            dns.push(d.clone());
        }
        let mut ips = Vec::new();
        for i in params.ips {
            let ip: IpAddr = i
                .parse()
                .map_err(|_| reject(format!("SAN IP:{i} is not an IP address")))?;
            if ips.contains(&ip) {
                return Err(reject(format!("SAN IP:{i} is listed twice")));
            }
            ips.push(ip);
        }
        let has_dns = |d: &str| dns.iter().any(|x| x == d);
        let has_ip = |i: &str| i.parse::<IpAddr>().is_ok_and(|ip| ips.contains(&ip));
        let missing = |what: String| {
            Err(reject(format!(
                "profile {name} requires SAN {what}, which the request does not list"
            )))
        };
        match self.sans {
            SanRule::None => {
                if let Some(d) = dns.first() {
                    return Err(reject(format!(
                        "SAN DNS:{d} is not allowed: profile {name} allows no SANs"
                    )));
                }
                if let Some(i) = ips.first() {
                    return Err(reject(format!(
                        "SAN IP:{i} is not allowed: profile {name} allows no SANs"
                    )));
                }
            }
            SanRule::ApiServer => {
                for d in ["kubernetes", "kubernetes.default", "kubernetes.default.svc"] {
                    if !has_dns(d) {
                        return missing(format!("DNS:{d}"));
                    }
                }
                if !dns.iter().any(|d| d.starts_with("kubernetes.default.svc.")) {
                    return missing("DNS:kubernetes.default.svc.<cluster domain>".into());
                }
                if let Some(n) = node {
                    if !has_dns(n) {
                        return missing(format!("DNS:{n} (the node name)"));
                    }
                }
                if ips.is_empty() {
                    return missing("IP (the service IP and the advertise address)".into());
                }
            }
            SanRule::EtcdMember => {
                if let Some(n) = node {
                    if !has_dns(n) {
                        return missing(format!("DNS:{n} (the node name)"));
                    }
                }
                if !has_dns("localhost") {
                    return missing("DNS:localhost".into());
                }
                for i in ["127.0.0.1", "::1"] {
                    if !has_ip(i) {
                        return missing(format!("IP:{i}"));
                    }
                }
            }
            SanRule::AtLeastOne => {
                if dns.is_empty() && ips.is_empty() {
                    return Err(reject(format!(
                        "profile {name} requires at least one DNS or IP SAN; the request lists none"
                    )));
                }
            }
        }
        Ok((dns, ips))
    }
}

fn check_key(profile: &str, key: &KeyKind, is_ca: bool) -> Result<(), Rejection> {
    let ok = match key {
        KeyKind::Rsa { bits } => (2048..=8192).contains(bits),
        KeyKind::P256 | KeyKind::P384 => true,
        // The controller-manager's signer and most online CAs load only RSA and ECDSA keys.
        KeyKind::Ed25519 => !is_ca,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let allowed = if is_ca {
        "RSA 2048 to 8192 bits, P-256, P-384"
    } else {
        "RSA 2048 to 8192 bits, P-256, P-384, Ed25519"
    };
    Err(Rejection {
        rule: format!("key {key} is not allowed by profile {profile}: it accepts {allowed}"),
        hint: Some("generate a new key, e.g. openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256".into()),
    })
}

/// The CSR subject's CN and O values; any other attribute is refused
/// (intermediates may also carry OU, C, ST and L, which are dropped).
fn subject_parts(
    profile: &str,
    csr: &Csr,
    is_ca: bool,
) -> Result<(String, Vec<String>), Rejection> {
    use crate::oid::{AT_COMMON_NAME, AT_ORGANIZATION};
    let mut cns = Vec::new();
    let mut orgs = Vec::new();
    for atv in csr.subject.iter() {
        let value = atv_string(&atv.value)
            .ok_or_else(|| reject(format!("CSR subject attribute {} is not a string", atv.oid)))?;
        if atv.oid == AT_COMMON_NAME {
            cns.push(value);
        } else if atv.oid == AT_ORGANIZATION {
            orgs.push(value);
        } else if !is_ca {
            return Err(reject(format!(
                "CSR subject attribute {} is not allowed by profile {profile}: only CN and O",
                atv.oid
            )));
        }
    }
    let [cn] = cns.as_slice() else {
        return Err(reject(format!(
            "CSR subject must have exactly one CN, not {}",
            cns.len()
        )));
    };
    if cn.is_empty() {
        return Err(reject("CSR subject CN is empty".into()));
    }
    let mut seen = Vec::new();
    for o in &orgs {
        if seen.contains(&o) {
            return Err(reject(format!("CSR subject lists O={o} twice")));
        }
        seen.push(o);
    }
    Ok((cn.clone(), orgs))
}

fn atv_string(value: &der::Any) -> Option<String> {
    use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    value
        .decode_as::<Utf8StringRef<'_>>()
        .map(|s| s.as_str().to_string())
        .or_else(|_| {
            value
                .decode_as::<PrintableStringRef<'_>>()
                .map(|s| s.as_str().to_string())
        })
        .or_else(|_| {
            value
                .decode_as::<Ia5StringRef<'_>>()
                .map(|s| s.as_str().to_string())
        })
        .ok()
}

/// An RFC 1123 host name: labels of letters, digits and '-', not starting
/// or ending with '-', at most 63 bytes each, 253 in all.
pub fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests;
