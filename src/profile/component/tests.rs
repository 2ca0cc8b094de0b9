//! Tests for the component profiles and the policy check: kubeadm-shaped
//! requests pass, each rule rejects with its own message, and every profile
//! is found by name and by kubeadm file.

use super::check::check_key;
use super::*;
use crate::oid::{KP_CLIENT_AUTH, KP_SERVER_AUTH};
use crate::x509::{Csr, KeyKind};
use std::str::FromStr;

fn csr(subject: &str, key: KeyKind) -> Csr {
    Csr {
        der: vec![],
        subject: x509_cert::name::Name::from_str(subject).expect("subject"),
        spki_der: vec![],
        key,
        requests_ca: false,
        requested_sans: vec![],
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn check(profile: &str, subject: &str, params: RequestParams<'_>) -> Result<Approved, Rejection> {
    find(profile).expect("profile").check(
        &csr(subject, KeyKind::P256),
        &params,
        &StepPolicy::default(),
    )
}

#[test]
fn kubeadm_shaped_requests_are_approved() {
    let none = RequestParams::default();
    for (profile, subject) in [
        (
            "apiserver-kubelet-client",
            "CN=kube-apiserver-kubelet-client,O=kubeadm:cluster-admins",
        ),
        ("front-proxy-client", "CN=front-proxy-client"),
        ("apiserver-etcd-client", "CN=kube-apiserver-etcd-client"),
        ("etcd-healthcheck-client", "CN=kube-etcd-healthcheck-client"),
        ("admin", "CN=kubernetes-admin,O=kubeadm:cluster-admins"),
        ("controller-manager", "CN=system:kube-controller-manager"),
        ("scheduler", "CN=system:kube-scheduler"),
        ("kube-proxy", "CN=system:kube-proxy"),
    ] {
        let a = check(profile, subject, none.clone())
            .unwrap_or_else(|r| panic!("{profile}: {}", r.rule));
        assert_eq!(a.eku, vec![KP_CLIENT_AUTH], "{profile}");
        assert_eq!(a.days, 365);
        assert!(a.ca_path_len.is_none());
    }
    let kubelet = RequestParams {
        node: Some("w1"),
        ..Default::default()
    };
    let a = check(
        "kubelet-client",
        "CN=system:node:w1,O=system:nodes",
        kubelet,
    )
    .expect("kubelet-client");
    assert_eq!(a.orgs, vec!["system:nodes".to_string()]);
    let dns = strings(&[
        "cp1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]);
    let ips = strings(&["10.96.0.1", "10.0.0.10"]);
    let api = RequestParams {
        node: Some("cp1"),
        dns: &dns,
        ips: &ips,
        ..Default::default()
    };
    let a = check("apiserver", "CN=kube-apiserver", api).expect("apiserver");
    assert_eq!(a.eku, vec![KP_SERVER_AUTH]);
    assert_eq!(a.ips.len(), 2);
    let edns = strings(&["cp1", "localhost"]);
    let eips = strings(&["10.0.0.10", "127.0.0.1", "::1"]);
    let etcd = RequestParams {
        node: Some("cp1"),
        dns: &edns,
        ips: &eips,
        ..Default::default()
    };
    let r = check("etcd-peer", "CN=cp1", etcd.clone()).expect_err("no node networks");
    assert_eq!(r.rule, "SAN IP:10.0.0.10 is not allowed: profile etcd-peer accepts only addresses in the stated node networks (none stated), 127.0.0.1 and ::1");
    let a = find("etcd-peer")
        .expect("profile")
        .check(&csr("CN=cp1", KeyKind::P256), &etcd, &cluster())
        .expect("etcd-peer");
    assert_eq!(a.eku, vec![KP_SERVER_AUTH, KP_CLIENT_AUTH]);
}

/// A step that states node suffix `nodes.example.com`, node network
/// 10.0.0.0/24 and service network 10.96.0.0/12.
fn cluster() -> StepPolicy {
    use crate::profile::{Network, NodeNames, NodeScope};
    StepPolicy {
        nodes: NodeScope::Stated(NodeNames {
            dns_suffixes: vec!["nodes.example.com".into()],
            networks: vec![Network::parse("10.0.0.0/24").expect("net")],
            service_networks: vec![Network::parse("10.96.0.0/12").expect("net")],
        }),
        ..StepPolicy::default()
    }
}

/// kubelet-serving for node w1 with these SANs, under `policy`.
fn serving(dns: &[&str], ips: &[&str], policy: &StepPolicy) -> Result<Approved, Rejection> {
    let (dns, ips) = (strings(dns), strings(ips));
    find("kubelet-serving").expect("profile").check(
        &csr("CN=system:node:w1,O=system:nodes", KeyKind::P256),
        &RequestParams {
            node: Some("w1"),
            dns: &dns,
            ips: &ips,
            ..Default::default()
        },
        policy,
    )
}

#[test]
fn a_node_cannot_carry_the_api_servers_names() {
    let stated = cluster();
    for policy in [StepPolicy::default(), stated.clone()] {
        for name in [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "KUBERNETES.default.svc.cluster.local",
        ] {
            let r = serving(&["w1", name], &[], &policy).expect_err(name);
            assert_eq!(
                r.rule,
                format!("SAN DNS:{name} is a name of the API server: only profile apiserver may carry it, not kubelet-serving")
            );
            assert!(r.hint.expect("hint").contains("impersonate"));
        }
    }
    let r = serving(&["w1"], &["10.96.0.1"], &stated).expect_err("service IP");
    assert_eq!(r.rule, "SAN IP:10.96.0.1 is in the service network 10.96.0.0/12: only profile apiserver may carry it, not kubelet-serving");
    // Without a stated service network the service IP is still outside the node networks.
    let r = serving(&["w1"], &["10.96.0.1"], &StepPolicy::default()).expect_err("no networks");
    assert_eq!(r.rule, "SAN IP:10.96.0.1 is not allowed: profile kubelet-serving accepts only addresses in the stated node networks (none stated)");
    // An IPv4-mapped form of the service IP is refused for every profile.
    let r = serving(&["w1"], &["::ffff:10.96.0.1"], &stated).expect_err("mapped");
    assert_eq!(r.rule, "SAN IP:::ffff:10.96.0.1 is an IPv4-mapped IPv6 address, which TLS clients match as IPv4: write it as IPv4");
    // A node named like the API server.
    let r = find("kubelet-client")
        .expect("profile")
        .check(
            &csr("CN=system:node:kubernetes,O=system:nodes", KeyKind::P256),
            &RequestParams {
                node: Some("kubernetes"),
                ..Default::default()
            },
            &stated,
        )
        .expect_err("node kubernetes");
    assert_eq!(r.rule, "node name kubernetes is a name of the API server: only profile apiserver may carry it, not kubelet-client");
    // etcd members are node-bound too.
    let (dns, ips) = (
        strings(&["cp1", "localhost", "kubernetes.default.svc"]),
        strings(&["127.0.0.1", "::1"]),
    );
    let r = find("etcd-server")
        .expect("profile")
        .check(
            &csr("CN=cp1", KeyKind::P256),
            &RequestParams {
                node: Some("cp1"),
                dns: &dns,
                ips: &ips,
                ..Default::default()
            },
            &stated,
        )
        .expect_err("etcd");
    assert_eq!(r.rule, "SAN DNS:kubernetes.default.svc is a name of the API server: only profile apiserver may carry it, not etcd-server");
}

#[test]
fn a_node_names_itself_its_suffixes_and_its_networks_only() {
    let stated = cluster();
    let a = serving(&["w1", "w1.nodes.example.com"], &["10.0.0.11"], &stated).expect("own names");
    assert_eq!(a.dns, strings(&["w1", "w1.nodes.example.com"]));
    let r = serving(&["w1", "w2.example.org"], &[], &stated).expect_err("outside");
    assert_eq!(r.rule, "SAN DNS:w2.example.org is not allowed: profile kubelet-serving accepts only the node's own name (w1), and names under the stated node DNS suffixes (nodes.example.com)");
    let r = serving(&["w1"], &["192.0.2.1"], &stated).expect_err("outside");
    assert_eq!(r.rule, "SAN IP:192.0.2.1 is not allowed: profile kubelet-serving accepts only addresses in the stated node networks (10.0.0.0/24)");
    // Nothing stated: only the node's own name.
    assert!(serving(&["w1"], &[], &StepPolicy::default()).is_ok());
    let r = serving(&["w1", "w1.nodes.example.com"], &[], &StepPolicy::default())
        .expect_err("none stated");
    assert_eq!(r.rule, "SAN DNS:w1.nodes.example.com is not allowed: profile kubelet-serving accepts only the node's own name (w1), and names under the stated node DNS suffixes (none stated)");
    // Duplicates are found without case.
    let r = serving(&["w1", "W1"], &[], &stated).expect_err("twice");
    assert_eq!(r.rule, "SAN DNS:W1 is listed twice");
    // Sealing does not know the cluster: only the API server's names are refused.
    let unknown = StepPolicy {
        nodes: crate::profile::NodeScope::Unknown,
        ..StepPolicy::default()
    };
    assert!(serving(&["w1", "w2.example.org"], &["192.0.2.1"], &unknown).is_ok());
    assert!(serving(&["kubernetes"], &[], &unknown).is_err());
    // The API server keeps its names.
    let (dns, ips) = (
        strings(&[
            "cp1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]),
        strings(&["10.96.0.1", "10.0.0.10"]),
    );
    let api = RequestParams {
        node: Some("cp1"),
        dns: &dns,
        ips: &ips,
        ..Default::default()
    };
    assert!(find("apiserver")
        .expect("profile")
        .check(&csr("CN=kube-apiserver", KeyKind::P256), &api, &stated)
        .is_ok());
}

#[test]
fn request_limits_come_first() {
    let many: Vec<String> = (0..6000)
        .map(|i| format!("{}{i}.example.com", "n".repeat(40)))
        .collect();
    let r = check(
        "kubelet-serving",
        "CN=system:node:w1,O=system:nodes",
        RequestParams {
            node: Some("w1"),
            dns: &many,
            ..Default::default()
        },
    )
    .expect_err("6,000 SANs");
    assert_eq!(r.rule, "the request lists 6000 SANs, over the limit of 100");
}

#[test]
fn each_rule_names_itself() {
    let none = RequestParams::default();
    let cases: Vec<(&str, &str, RequestParams<'_>, &str)> = vec![
        ("scheduler", "CN=system:kube-scheduler,O=x", none.clone(), "CSR subject O=x is not allowed by profile scheduler: it must be no O"),
        ("admin", "CN=kubernetes-admin", none.clone(), "CSR subject O=(none) is not allowed by profile admin: it must be O=kubeadm:cluster-admins"),
        ("admin", "CN=kubernetes-admin,O=kubeadm:cluster-admins,OU=x", none.clone(), "CSR subject attribute 2.5.4.11 is not allowed by profile admin: only CN and O"),
        ("kubelet-client", "CN=system:node:w1,O=system:nodes", none.clone(), "profile kubelet-client needs a node name"),
        ("kubelet-client", "CN=system:node:w2,O=system:nodes", RequestParams { node: Some("w1"), ..Default::default() }, "CSR subject CN=system:node:w2 is not allowed by profile kubelet-client: it must be CN=system:node:w1"),
        ("kubelet-client", "CN=system:node:w1,O=system:nodes,O=system:masters", RequestParams { node: Some("w1"), ..Default::default() }, "CSR subject O=system:masters is not allowed by profile kubelet-client"),
        ("super-admin", "CN=kubernetes-super-admin,O=system:masters", none.clone(), "profile super-admin (O=system:masters) is refused unless the script sets allow_break_glass = true"),
        ("kubelet-serving", "CN=system:node:w1,O=system:nodes", RequestParams { node: Some("w1"), ..Default::default() }, "profile kubelet-serving requires at least one DNS or IP SAN; the request lists none"),
        ("scheduler", "CN=system:kube-scheduler", RequestParams { validity_days: Some(400), ..Default::default() }, "requested validity of 400 days is outside profile scheduler's limit of 1 to 365 days"),
    ];
    for (profile, subject, params, rule) in cases {
        let r = check(profile, subject, params).expect_err(rule);
        assert_eq!(r.rule, rule);
    }
    let wild = strings(&["*.example.com"]);
    let r = check(
        "kubelet-serving",
        "CN=system:node:w1,O=system:nodes",
        RequestParams {
            node: Some("w1"),
            dns: &wild,
            ..Default::default()
        },
    )
    .expect_err("wildcard");
    assert_eq!(
        r.rule,
        "SAN DNS:*.example.com is not allowed: wildcards are refused"
    );
    let api_dns = strings(&[
        "cp1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
    ]);
    let ips = strings(&["10.96.0.1"]);
    let r = check(
        "apiserver",
        "CN=kube-apiserver",
        RequestParams {
            node: Some("cp1"),
            dns: &api_dns,
            ips: &ips,
            ..Default::default()
        },
    )
    .expect_err("no domain");
    assert_eq!(r.rule, "profile apiserver requires SAN DNS:kubernetes.default.svc.<cluster domain>, which the request does not list");
    let edns = strings(&["cp1", "localhost"]);
    let eips = strings(&["127.0.0.1"]);
    let r = check(
        "etcd-server",
        "CN=cp1",
        RequestParams {
            node: Some("cp1"),
            dns: &edns,
            ips: &eips,
            ..Default::default()
        },
    )
    .expect_err("no ::1");
    assert_eq!(
        r.rule,
        "profile etcd-server requires SAN IP:::1, which the request does not list"
    );
}

#[test]
fn break_glass_and_intermediates_follow_the_script() {
    let p = find("super-admin").expect("profile");
    let policy = StepPolicy {
        allow_break_glass: true,
        ..Default::default()
    };
    let a = p
        .check(
            &csr("CN=kubernetes-super-admin,O=system:masters", KeyKind::P256),
            &RequestParams::default(),
            &policy,
        )
        .expect("break-glass allowed");
    assert_eq!(a.orgs, vec![SYSTEM_MASTERS.to_string()]);

    let ca = find("intermediate-ca").expect("profile");
    let mut policy = StepPolicy::default();
    policy.intermediate.path_len = 1;
    let a = ca
        .check(
            &csr("CN=signer,O=demo", KeyKind::Rsa { bits: 3072 }),
            &RequestParams::default(),
            &policy,
        )
        .expect("intermediate");
    assert_eq!((a.ca_path_len, a.eku.len(), a.days), (Some(1), 0, 1825));
    policy.intermediate.server_and_client_eku = true;
    let a = ca
        .check(
            &csr("CN=signer", KeyKind::P384),
            &RequestParams::default(),
            &policy,
        )
        .expect("intermediate");
    assert_eq!(a.eku, vec![KP_SERVER_AUTH, KP_CLIENT_AUTH]);
    let r = ca
        .check(
            &csr("CN=signer", KeyKind::Ed25519),
            &RequestParams::default(),
            &policy,
        )
        .expect_err("ed25519 CA");
    assert!(r
        .rule
        .starts_with("key Ed25519 is not allowed by profile intermediate-ca"));
    let mut leaf_csr = csr("CN=system:kube-scheduler", KeyKind::P256);
    leaf_csr.requests_ca = true;
    let r = find("scheduler")
        .expect("p")
        .check(&leaf_csr, &RequestParams::default(), &policy)
        .expect_err("ca");
    assert_eq!(
        r.rule,
        "CSR asks for CA:TRUE; profile scheduler issues leaf certificates only"
    );
}

#[test]
fn every_profile_is_unique_and_findable() {
    for p in PROFILES {
        assert!(std::ptr::eq(find(p.name).expect("findable"), p));
    }
    assert_eq!(PROFILES.len(), 15);
    assert!(find("root").is_none());
}

#[test]
fn kubeadm_file_names_map_to_profiles() {
    for (file, profile) in [
        ("pki/apiserver.csr", "apiserver"),
        (
            "pki/apiserver-kubelet-client.csr",
            "apiserver-kubelet-client",
        ),
        ("pki/front-proxy-client.csr", "front-proxy-client"),
        ("pki/apiserver-etcd-client.csr", "apiserver-etcd-client"),
        ("pki/etcd/server.csr", "etcd-server"),
        ("pki/etcd/peer.csr", "etcd-peer"),
        ("pki/etcd/healthcheck-client.csr", "etcd-healthcheck-client"),
        ("admin.conf.csr", "admin"),
        ("super-admin.conf.csr", "super-admin"),
        ("controller-manager.conf.csr", "controller-manager"),
        ("scheduler.conf.csr", "scheduler"),
        ("kubelet.conf.csr", "kubelet-client"),
    ] {
        assert_eq!(
            for_kubeadm_csr(file).map(|p| p.name),
            Some(profile),
            "{file}"
        );
    }
    for unknown in [
        "pki/ca.csr",
        "pki/sa.csr",
        "kube-proxy.conf.csr",
        "pki/apiserver.key",
    ] {
        assert!(for_kubeadm_csr(unknown).is_none(), "{unknown}");
    }
}

#[test]
fn dns_names() {
    for ok in [
        "kubernetes",
        "kubernetes.default.svc.cluster.local",
        "cp-1",
        "a1",
    ] {
        assert!(is_dns_name(ok), "{ok}");
    }
    for bad in ["", "-a", "a-", "a..b", "*.x", "a_b", "a b", &"x".repeat(64)] {
        assert!(!is_dns_name(bad), "{bad}");
    }
}

#[test]
fn keys_outside_the_policy_are_named() {
    let e = check_key("admin", &KeyKind::Rsa { bits: 1024 }, false).expect_err("1024");
    assert_eq!(e.rule, "key RSA-1024 is not allowed by profile admin: it accepts RSA 2048 to 8192 bits, P-256, P-384, Ed25519");
    let e = check_key(
        "admin",
        &KeyKind::OtherCurve {
            name: "P-192".into(),
        },
        false,
    )
    .expect_err("p192");
    assert!(e.rule.starts_with("key EC P-192 is not allowed"));
    assert!(check_key("intermediate-ca", &KeyKind::Ed25519, true).is_err());
    assert!(check_key("admin", &KeyKind::Ed25519, false).is_ok());
}
