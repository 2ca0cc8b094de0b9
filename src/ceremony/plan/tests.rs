//! Tests for checking a script into a plan, and for the plan as printed.

use super::*;
use crate::ceremony::steps::issue_crl::{parse_serial, CrlStep, RevokeTarget};

fn script(extra_step: &str) -> String {
    format!(
        r#"
[ceremony]
name = "t"
[token]
module = "/m.so"
label = "ceremony"
[participants]
operator = "Op"
[output]
transcript = "t.jsonl"
directory = "pki"
[[step]]
action = "generate-root"
id = "cluster-root"
key_label = "cluster-root-ca"
algorithm = "ecdsa-p256"
subject = "CN=kubernetes"
certificate = "ca.crt"
{extra_step}
"#
    )
}

fn err(text: &str) -> String {
    Plan::from_bytes(Path::new("s.toml"), text.as_bytes())
        .expect_err("must fail")
        .to_string()
}

#[test]
fn plans_a_valid_script() {
    let plan = Plan::from_bytes(Path::new("s.toml"), script("").as_bytes()).expect("valid");
    assert_eq!(plan.outputs(), vec![Path::new("pki/ca.crt")]);
    let shown = plan.to_string();
    assert!(shown.contains("generate ecdsa-p256 key pair labelled \"cluster-root-ca\""));
    assert!(shown.contains("writes       pki/ca.crt"));
}

#[test]
fn serials_are_hex_in_either_form() {
    assert_eq!(parse_serial("0A:1b:ff"), Ok(vec![0x0a, 0x1b, 0xff]));
    assert_eq!(parse_serial("abc"), Ok(vec![0x0a, 0xbc]), "odd length");
    assert_eq!(parse_serial("000042"), Ok(vec![0x42]), "leading zeros");
    let twenty = "7f".repeat(20);
    assert_eq!(parse_serial(&twenty).map(|b| b.len()), Ok(20));
    for (bad, needle) in [
        ("12xz", "is not hex"),
        ("", "is not hex"),
        ("0x12", "is not hex"),
        ("1:23", "is not hex"),
        ("12::34", "is not hex"),
        ("-1", "is not hex"),
        ("00", "is zero"),
        (&"80".repeat(20), "longer than the 20 octets"),
        (&"01".repeat(21), "longer than the 20 octets"),
    ] {
        let err = parse_serial(bad).expect_err(bad);
        assert!(err.contains(needle), "{bad}: {err}");
    }
}

#[test]
fn plans_and_shows_an_issue_crl_step() {
    let step = r#"[[step]]
action = "issue-crl"
id = "revoke"
crl = "crl/root.crl"
next_update_days = 7
[step.issuer]
key_label = "cluster-root-ca"
certificate = "pki/ca.crt"
[[step.revoke]]
serial = "4A:5B"
reason = "superseded"
[[step.revoke]]
certificate = "old.crt"
reason = "key-compromise"
revoked_at = 2026-05-01T12:00:00Z"#;
    let plan = Plan::from_bytes(Path::new("s.toml"), script(step).as_bytes()).expect("valid");
    assert_eq!(
        plan.outputs(),
        vec![Path::new("pki/ca.crt"), Path::new("pki/crl/root.crl")]
    );
    assert_eq!(plan.steps[1].action(), "issue-crl");
    let c = plan.steps[1]
        .as_any()
        .downcast_ref::<CrlStep>()
        .expect("issue-crl");
    assert_eq!(c.revoke[0].target, RevokeTarget::Serial(vec![0x4a, 0x5b]));
    let shown = plan.to_string();
    for needle in [
        "step 2/2 revoke: issue-crl\n",
        "  issuer       key \"cluster-root-ca\" in the token, certificate pki/ca.crt\n",
        "  crl          issue CRL #n (number decided at run time from the transcript",
        "  validity     thisUpdate now, nextUpdate 7 days from now\n",
        "  revoke       serial 4a5b, reason superseded, revoked now\n",
        "  revoke       certificate old.crt (serial read from it; it must be issued by this issuer), reason key-compromise, revoked at 2026-05-01T12:00:00Z\n",
        "  writes       pki/crl/root.crl\n",
    ] {
        assert!(shown.contains(needle), "plan lacks {needle:?}:\n{shown}");
    }

    for (from, to, needle) in [
        (
            "serial = \"4A:5B\"",
            "serial = \"4a5b\"\ncertificate = \"x.crt\"",
            "revoke[0]: name the revoked certificate with certificate or with serial (one of them)",
        ),
        (
            "certificate = \"old.crt\"",
            "serial = \"004a5b\"",
            "revoke[1]: serial 4a5b is listed twice",
        ),
        (
            "next_update_days = 7",
            "next_update_days = 0",
            "next_update_days must be 1 to 366, not 0",
        ),
        (
            "key_label = \"cluster-root-ca\"",
            "key_label = \" \"",
            "issuer.key_label must not be empty",
        ),
        (
            "crl = \"crl/root.crl\"",
            "crl = \"ca.crt\"",
            "pki/ca.crt is written by an earlier step",
        ),
    ] {
        let text = script(&step.replacen(from, to, 1));
        let e = err(&text);
        assert!(e.starts_with("script s.toml: step \"revoke\": "), "{e}");
        assert!(e.contains(needle), "{to}: {e}");
    }
}

#[test]
fn refuses_conflicts_and_bad_values() {
    let dup = "[[step]]\naction = \"generate-root\"\nid = \"etcd-root\"\nkey_label = \"cluster-root-ca\"\nalgorithm = \"ecdsa-p256\"\nsubject = \"CN=etcd-ca\"\ncertificate = \"etcd/ca.crt\"";
    assert!(
        err(&script(dup)).contains("key label \"cluster-root-ca\" is created by an earlier step")
    );
    let same_file = dup
        .replace("cluster-root-ca\"", "etcd-ca\"")
        .replace("etcd/ca.crt", "ca.crt");
    assert!(err(&script(&same_file)).contains("pki/ca.crt is written by an earlier step"));
    let escape = script("").replace("certificate = \"ca.crt\"", "certificate = \"../ca.crt\"");
    assert!(err(&escape).contains("must be relative and stay inside"));
    let long = script("").replace(
        "certificate = \"ca.crt\"",
        "certificate = \"ca.crt\"\nvalidity_days = 20000",
    );
    assert!(err(&long).contains("validity_days must be 1 to 10950"));
    let hash = script("").replace(
        "certificate = \"ca.crt\"",
        "certificate = \"ca.crt\"\nhash = \"sha384\"",
    );
    assert!(err(&hash).contains("hash applies to RSA keys only"));
    let both = script("").replace(
        "label = \"ceremony\"",
        "label = \"ceremony\"\nuri = \"pkcs11:token=x\"",
    );
    assert!(err(&both).contains("not both"));
    let no_cn = script("").replace("CN=kubernetes", "O=kubernetes");
    assert!(err(&no_cn).contains("has no CN"));
    assert!(err(&no_cn).starts_with("script s.toml: step \"cluster-root\""));
}

/// A sign-requests step with `cluster` as its `[step.cluster]` table.
fn sign_step(cluster: &str) -> String {
    script(&format!(
        r#"[[step]]
action = "sign-requests"
id = "sign"
bundle = "b.tar"
bundle_sha256 = "{}"
output = "out"
recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
[step.issuers.cluster]
key_label = "cluster-root-ca"
certificate = "pki/ca.crt"
[step.cluster]
{cluster}
"#,
        "0".repeat(64)
    ))
}

#[test]
fn plans_and_shows_the_cluster_of_a_sign_step() {
    let text = sign_step(
        "node_dns_suffixes = [\".Nodes.Example.com\"]\nnode_networks = [\"10.0.0.0/24\", \"fd00::/64\"]\nservice_networks = [\"10.96.0.0/12\"]",
    );
    let plan = Plan::from_bytes(Path::new("s.toml"), text.as_bytes()).expect("valid");
    let shown = plan.to_string();
    assert!(
        shown.contains("  nodes        node-bound requests (kubelet-serving, etcd-server, etcd-peer) may name their node, names under [nodes.example.com] and addresses in [10.0.0.0/24, fd00::/64]; service networks [10.96.0.0/12] and the API server's names (kubernetes, kubernetes.default…) only for profile apiserver\n"),
        "{shown}"
    );
    let plan = Plan::from_bytes(Path::new("s.toml"), sign_step("").as_bytes()).expect("valid");
    assert!(plan.to_string().contains("  nodes        node-bound requests (kubelet-serving, etcd-server, etcd-peer) may name only their node ([step.cluster] states no names or networks); the API server's names (kubernetes, kubernetes.default…) only for profile apiserver\n"));
}

#[test]
fn refuses_a_bad_cluster_table() {
    for (cluster, rule) in [
        ("node_networks = [\"10.0.0.0/8\"]\nservice_networks = [\"10.96.0.0/12\"]", "cluster.node_networks: 10.0.0.0/8 overlaps the service network 10.96.0.0/12; a node's addresses must not be the API server's"),
        ("node_networks = [\"10.0.0.1/24\"]", "cluster.node_networks: \"10.0.0.1/24\": host bits are set; use the network address"),
        ("service_networks = [\"10.96.0.0/40\"]", "cluster.service_networks: \"10.96.0.0/40\": \"40\" is not a prefix length of 0 to 32"),
        ("node_dns_suffixes = [\"nodes..example\"]", "cluster.node_dns_suffixes: \"nodes..example\" is not a DNS name"),
        ("node_dns_suffixes = [\"kubernetes.default.svc\"]", "cluster.node_dns_suffixes: \"kubernetes.default.svc\" would put node names among the API server's"),
        ("node_suffixes = [\"x\"]", "unknown field `node_suffixes`"),
    ] {
        let e = err(&sign_step(cluster));
        assert!(e.contains(rule), "{cluster}: {e}");
    }
}
