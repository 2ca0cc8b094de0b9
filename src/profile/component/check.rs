//! The policy check: a verified CSR and its manifest entry, judged against
//! a [`Profile`] and the step's [`StepPolicy`], become either the exact
//! contents of a certificate ([`Approved`]) or a [`Rejection`] that names
//! the rule and, where one helps, a hint.
//!
//! This module owns the check's inputs and results and every rule: key
//! type and size, CA:TRUE for intermediates only, the subject's CN and O,
//! `system:masters` and break-glass, node names, SANs and lifetime. Pure: no
//! I/O, no token.

use std::collections::HashSet;
use std::net::IpAddr;

use super::super::limits;
use super::super::nodes::{api_server_name, is_v4_mapped, Loopback, NodeScope};
use super::CnRule::{self, Exact, NodeName, NodeUser};
use super::EkuRule;
use super::{Profile, SanRule};
use crate::oid::{KP_CLIENT_AUTH, KP_SERVER_AUTH};
use crate::x509::{Csr, KeyKind};

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
    /// What node-bound requests may name.
    pub nodes: NodeScope,
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
        limits::check_params(params).map_err(reject)?;
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
            if self.sans != SanRule::ApiServer && api_server_name(n) {
                return Err(reject(format!(
                    "node name {n} is a name of the API server: only profile apiserver may carry it, not {name}"
                )));
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
        let (dns, ips) = self.check_sans(params, node, policy)?;
        let days = params.validity_days.unwrap_or(self.default_days);
        if days == 0 || days > self.max_days {
            return Err(reject(format!(
                "requested validity of {days} days is outside profile {name}'s limit of 1 to {} days",
                self.max_days
            )));
        }
        let eku = match self.eku.fixed() {
            Some(fixed) => fixed.to_vec(),
            None if policy.intermediate.server_and_client_eku => {
                vec![KP_SERVER_AUTH, KP_CLIENT_AUTH]
            }
            None => vec![],
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
        policy: &StepPolicy,
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
        let api_server = self.sans == SanRule::ApiServer;
        // Node-bound: a kubelet's or an etcd member's own certificate.
        let bound = match (self.cn, self.sans) {
            (NodeUser | NodeName, SanRule::EtcdMember) => node.map(|n| (n, Loopback::Etcd)),
            (NodeUser | NodeName, SanRule::AtLeastOne) => node.map(|n| (n, Loopback::None)),
            _ => None,
        };
        let mut dns = Vec::with_capacity(params.dns.len());
        let mut seen = HashSet::with_capacity(params.dns.len());
        for d in params.dns {
            if d.contains('*') {
                return Err(reject(format!(
                    "SAN DNS:{d} is not allowed: wildcards are refused"
                )));
            }
            if !is_dns_name(d) {
                return Err(reject(format!("SAN DNS:{d} is not a valid DNS name")));
            }
            if !seen.insert(d.to_ascii_lowercase()) {
                return Err(reject(format!("SAN DNS:{d} is listed twice")));
            }
            if !api_server && api_server_name(d) {
                return Err(Rejection {
                    rule: format!(
                        "SAN DNS:{d} is a name of the API server: only profile apiserver may carry it, not {name}"
                    ),
                    hint: Some("a node's certificate that names the API server lets the node impersonate it to every pod".into()),
                });
            }
            if let Some((n, loopback)) = bound {
                policy
                    .nodes
                    .check_dns(name, n, loopback, d)
                    .map_err(reject)?;
            }
            dns.push(d.clone());
        }
        let mut ips = Vec::with_capacity(params.ips.len());
        let mut seen = HashSet::with_capacity(params.ips.len());
        for i in params.ips {
            let ip: IpAddr = i
                .parse()
                .map_err(|_| reject(format!("SAN IP:{i} is not an IP address")))?;
            if is_v4_mapped(&ip) {
                return Err(reject(format!(
                    "SAN IP:{i} is an IPv4-mapped IPv6 address, which TLS clients match as IPv4: write it as IPv4"
                )));
            }
            if !seen.insert(ip) {
                return Err(reject(format!("SAN IP:{i} is listed twice")));
            }
            if !api_server {
                if let Some(net) = policy.nodes.service_network(&ip) {
                    return Err(Rejection {
                        rule: format!(
                            "SAN IP:{ip} is in the service network {net}: only profile apiserver may carry it, not {name}"
                        ),
                        hint: Some("a node's certificate that names the service IP lets the node impersonate the API server to every pod".into()),
                    });
                }
            }
            if let Some((_, loopback)) = bound {
                policy.nodes.check_ip(name, loopback, &ip).map_err(reject)?;
            }
            ips.push(ip);
        }
        let has_dns = |d: &str| seen_dns(&dns, d);
        let has_ip = |i: &str| i.parse::<IpAddr>().is_ok_and(|ip| seen.contains(&ip));
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

/// True when `dns` lists `name` (compared without case).
fn seen_dns(dns: &[String], name: &str) -> bool {
    dns.iter().any(|d| d.eq_ignore_ascii_case(name))
}

pub(super) fn check_key(profile: &str, key: &KeyKind, is_ca: bool) -> Result<(), Rejection> {
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
    let mut seen = HashSet::with_capacity(orgs.len());
    for o in &orgs {
        if !seen.insert(o) {
            return Err(reject(format!("CSR subject lists O={o} twice")));
        }
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
