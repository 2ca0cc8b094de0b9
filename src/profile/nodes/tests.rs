//! Tests for node-bound names: networks, the API server's reserved names,
//! and what a node may name with and without a stated cluster.

use super::*;

fn net(s: &str) -> Network {
    Network::parse(s).expect(s)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect(s)
}

#[test]
fn networks_parse_contain_and_overlap() {
    assert!(net("10.0.0.0/24").contains(&ip("10.0.0.255")));
    assert!(!net("10.0.0.0/24").contains(&ip("10.0.1.0")));
    assert!(!net("10.0.0.0/24").contains(&ip("::ffff:10.0.0.1")));
    assert!(net("0.0.0.0/0").contains(&ip("192.0.2.1")));
    assert!(net("::/0").contains(&ip("fd00::1")));
    assert!(net("10.96.0.1").contains(&ip("10.96.0.1")));
    assert!(!net("10.96.0.1").contains(&ip("10.96.0.2")));
    assert!(net("fd00::/64").contains(&ip("fd00::abcd")));
    assert!(net("10.0.0.0/8").overlaps(&net("10.96.0.0/12")));
    assert!(!net("10.0.0.0/16").overlaps(&net("10.96.0.0/12")));
    assert_eq!(net("10.96.0.0/12").to_string(), "10.96.0.0/12");
    for (bad, why) in [
        ("10.0.0.1/24", "host bits are set; use the network address"),
        ("10.0.0.0/33", "\"33\" is not a prefix length of 0 to 32"),
        ("ten/8", "\"ten\" is not an IP address"),
        (
            "::ffff:10.0.0.0/120",
            "an IPv4-mapped IPv6 network; write it as IPv4",
        ),
    ] {
        assert_eq!(Network::parse(bad).expect_err(bad), why, "{bad}");
    }
}

#[test]
fn api_server_names_are_reserved_without_case() {
    for name in [
        "kubernetes",
        "KUBERNETES",
        "kubernetes.default",
        "kubernetes.default.svc",
        "Kubernetes.Default.Svc.cluster.local",
        "kubernetes.default.svc.anything.at.all",
    ] {
        assert!(api_server_name(name), "{name}");
    }
    for name in [
        "kubernetes-node",
        "w1.kubernetes",
        "kubernetes.defaults",
        "kube",
    ] {
        assert!(!api_server_name(name), "{name}");
    }
}

#[test]
fn node_names_follow_the_stated_suffixes_and_networks() {
    let stated = NodeScope::Stated(NodeNames {
        dns_suffixes: vec!["nodes.example.com".into()],
        networks: vec![net("10.0.0.0/24")],
        service_networks: vec![net("10.96.0.0/12")],
    });
    let none = NodeScope::default();
    let p = "kubelet-serving";
    assert!(stated.check_dns(p, "w1", Loopback::None, "w1").is_ok());
    assert!(stated
        .check_dns(p, "w1", Loopback::None, "W1.Nodes.Example.com")
        .is_ok());
    assert!(stated
        .check_dns(
            p,
            "w1.nodes.example.com",
            Loopback::None,
            "w1.nodes.example.com"
        )
        .is_ok());
    assert_eq!(
        stated.check_dns(p, "w1", Loopback::None, "nodes.example.com").expect_err("the suffix itself"),
        "SAN DNS:nodes.example.com is not allowed: profile kubelet-serving accepts only the node's own name (w1), and names under the stated node DNS suffixes (nodes.example.com)"
    );
    assert_eq!(
        stated.check_dns(p, "w1", Loopback::None, "evilnodes.example.com").expect_err("not under"),
        "SAN DNS:evilnodes.example.com is not allowed: profile kubelet-serving accepts only the node's own name (w1), and names under the stated node DNS suffixes (nodes.example.com)"
    );
    assert_eq!(
        none.check_dns(p, "cp.example.com", Loopback::None, "cp.example.com").expect_err("dotted"),
        "SAN DNS:cp.example.com is not allowed: node name cp.example.com has a dot, and profile kubelet-serving accepts a dotted node name only under a stated node DNS suffix (none stated)"
    );
    assert!(none.check_dns(p, "w1", Loopback::None, "w1").is_ok());
    assert_eq!(
        none.check_dns("etcd-server", "cp1", Loopback::Etcd, "w2").expect_err("other node"),
        "SAN DNS:w2 is not allowed: profile etcd-server accepts only the node's own name (cp1), localhost, and names under the stated node DNS suffixes (none stated)"
    );
    assert!(none
        .check_dns("etcd-server", "cp1", Loopback::Etcd, "localhost")
        .is_ok());
    assert!(none
        .check_dns(p, "w1", Loopback::None, "localhost")
        .is_err());

    assert!(stated.check_ip(p, Loopback::None, &ip("10.0.0.11")).is_ok());
    assert_eq!(
        stated.check_ip(p, Loopback::None, &ip("10.0.1.11")).expect_err("outside"),
        "SAN IP:10.0.1.11 is not allowed: profile kubelet-serving accepts only addresses in the stated node networks (10.0.0.0/24)"
    );
    assert_eq!(
        none.check_ip("etcd-peer", Loopback::Etcd, &ip("10.0.0.10")).expect_err("none stated"),
        "SAN IP:10.0.0.10 is not allowed: profile etcd-peer accepts only addresses in the stated node networks (none stated), 127.0.0.1 and ::1"
    );
    for lo in ["127.0.0.1", "::1"] {
        assert!(
            none.check_ip("etcd-peer", Loopback::Etcd, &ip(lo)).is_ok(),
            "{lo}"
        );
        assert!(none.check_ip(p, Loopback::None, &ip(lo)).is_err(), "{lo}");
    }
    assert!(none
        .check_ip("etcd-peer", Loopback::Etcd, &ip("127.0.0.2"))
        .is_err());
    assert_eq!(
        stated.service_network(&ip("10.96.0.1")),
        Some(net("10.96.0.0/12"))
    );
    assert_eq!(stated.service_network(&ip("10.0.0.1")), None);

    let unknown = NodeScope::Unknown;
    assert!(unknown
        .check_dns(p, "w1", Loopback::None, "other.example")
        .is_ok());
    assert!(unknown
        .check_ip(p, Loopback::None, &ip("192.0.2.1"))
        .is_ok());
}
