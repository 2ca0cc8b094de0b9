//! Node-bound names: what a certificate bound to one node may name, and the
//! API server's names, which only profile `apiserver` may carry.
//!
//! A node's certificate (kubelet serving, etcd server and peer) that also
//! names `kubernetes.default.svc` or the service IP lets that node
//! impersonate the API server to every pod. So the API server's names are
//! reserved ([`api_server_name`]), and a node-bound request may name only
//! its node, names under the DNS suffixes the script states and addresses in
//! the node networks it states ([`NodeNames`]); etcd members also keep
//! `localhost`, 127.0.0.1 and ::1. With nothing stated, only the node's own
//! name. Pure: no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network (`10.0.0.0/24`, `fd00::/64`; a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ADDR/LEN` or a bare `ADDR`; host bits must be zero, and an
    /// IPv4-mapped IPv6 network is refused (write it as IPv4).
    pub fn parse(text: &str) -> Result<Network, String> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        if is_v4_mapped(&addr) {
            return Err("an IPv4-mapped IPv6 network; write it as IPv4".into());
        }
        let bits = bits(&addr);
        let prefix = match len {
            None => bits,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{l:?} is not a prefix length of 0 to {bits}"))?,
        };
        let net = Network { addr, prefix };
        if net.masked(&addr) != Some(to_bits(&addr)) {
            return Err("host bits are set; use the network address".into());
        }
        Ok(net)
    }

    /// True when `ip` is in this network (same family only).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.masked(ip) == Some(to_bits(&self.addr))
    }

    /// True when the two networks share an address.
    pub fn overlaps(&self, other: &Network) -> bool {
        self.contains(&other.addr) || other.contains(&self.addr)
    }

    /// `ip`'s bits with this network's mask applied, if the family matches.
    fn masked(&self, ip: &IpAddr) -> Option<u128> {
        if bits(ip) != bits(&self.addr) {
            return None;
        }
        let width = u32::from(bits(ip));
        let host = width - u32::from(self.prefix);
        let mask = if host >= 128 { 0 } else { u128::MAX << host };
        Some(to_bits(ip) & mask)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn to_bits(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(*a)),
        IpAddr::V6(a) => u128::from(*a),
    }
}

/// True for `::ffff:a.b.c.d`, which TLS stacks (Go's among them) match
/// against the IPv4 address a.b.c.d.
pub fn is_v4_mapped(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if a.to_ipv4_mapped().is_some())
}

/// What the script states about the cluster's nodes and services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeNames {
    /// DNS suffixes node names live under (`nodes.example.com`), lowercase.
    pub dns_suffixes: Vec<String>,
    /// The node networks.
    pub networks: Vec<Network>,
    /// The service networks (or service IPs): reserved for the API server.
    pub service_networks: Vec<Network>,
}

/// How node-bound names are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeScope {
    /// Against what the script states (nothing stated: only the node's own name).
    Stated(NodeNames),
    /// Not known here (when sealing): only the API server's names are refused.
    Unknown,
}

impl Default for NodeScope {
    fn default() -> Self {
        NodeScope::Stated(NodeNames::default())
    }
}

/// True for a name of the API server, compared without case:
/// `kubernetes`, `kubernetes.default` and every name under it
/// (`kubernetes.default.svc`, `kubernetes.default.svc.<cluster domain>`).
pub fn api_server_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "kubernetes"
        || lower == "kubernetes.default"
        || lower.starts_with("kubernetes.default.")
}

/// True when `name` is strictly under `suffix` (both compared without case).
fn under(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len() + 1
        && name.is_char_boundary(name.len() - suffix.len() - 1)
        && name[name.len() - suffix.len() - 1..].eq_ignore_ascii_case(&format!(".{suffix}"))
}

/// What a node-bound profile keeps besides the node's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loopback {
    /// Nothing (kubelet serving).
    None,
    /// `localhost`, 127.0.0.1 and ::1 (etcd members).
    Etcd,
}

impl NodeScope {
    /// Checks one DNS SAN of a node-bound request for `node` under `profile`.
    pub(crate) fn check_dns(
        &self,
        profile: &str,
        node: &str,
        loopback: Loopback,
        name: &str,
    ) -> Result<(), String> {
        let NodeScope::Stated(s) = self else {
            return Ok(());
        };
        if loopback == Loopback::Etcd && name.eq_ignore_ascii_case("localhost") {
            return Ok(());
        }
        if s.dns_suffixes.iter().any(|suffix| under(name, suffix)) {
            return Ok(());
        }
        if name.eq_ignore_ascii_case(node) {
            if !node.contains('.') {
                return Ok(());
            }
            return Err(format!(
                "SAN DNS:{name} is not allowed: node name {node} has a dot, and profile {profile} accepts a dotted node name only under a stated node DNS suffix ({})",
                list(&s.dns_suffixes)
            ));
        }
        Err(format!(
            "SAN DNS:{name} is not allowed: profile {profile} accepts only the node's own name ({node}){}, and names under the stated node DNS suffixes ({})",
            if loopback == Loopback::Etcd { ", localhost" } else { "" },
            list(&s.dns_suffixes)
        ))
    }

    /// Checks one IP SAN of a node-bound request under `profile`.
    pub(crate) fn check_ip(
        &self,
        profile: &str,
        loopback: Loopback,
        ip: &IpAddr,
    ) -> Result<(), String> {
        let NodeScope::Stated(s) = self else {
            return Ok(());
        };
        let local =
            *ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || *ip == IpAddr::V6(Ipv6Addr::LOCALHOST);
        if loopback == Loopback::Etcd && local {
            return Ok(());
        }
        if s.networks.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        Err(format!(
            "SAN IP:{ip} is not allowed: profile {profile} accepts only addresses in the stated node networks ({}){}",
            list(&s.networks),
            if loopback == Loopback::Etcd {
                ", 127.0.0.1 and ::1"
            } else {
                ""
            }
        ))
    }

    /// The service network holding `ip`, if the script states one.
    pub(crate) fn service_network(&self, ip: &IpAddr) -> Option<Network> {
        match self {
            NodeScope::Stated(s) => s.service_networks.iter().find(|n| n.contains(ip)).copied(),
            NodeScope::Unknown => None,
        }
    }
}

/// `a, b` or `none stated`.
fn list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none stated".into();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
