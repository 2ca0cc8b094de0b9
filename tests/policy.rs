//! The policy holes a hostile requester can use (issue 11), tried as an
//! attacker would against the real binary and a SoftHSM token: a node's
//! certificate naming the API server, names outside the cluster's stated
//! node names and networks, a request too large for the transcript, two
//! requests with one key, and requests whose outputs land on one path.
//! Each is rejected by the dry run and by the run, before anything is
//! signed, with the rule in the transcript, which still verifies.

mod common;

use std::io::Read;

use common::{ok, openssl, openssl_csr, text, Env};
use sha2::{Digest, Sha256};

/// The `[step.cluster]` table these tests state.
const CLUSTER: &str = "[step.cluster]\nnode_dns_suffixes = [\"nodes.example.com\"]\nnode_networks = [\"10.0.0.0/24\"]\nservice_networks = [\"10.96.0.0/12\"]";

struct Setup {
    env: Env,
    recipient: String,
}

fn setup() -> Setup {
    let env = Env::new();
    common::root_init(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    Setup { env, recipient }
}

fn request(id: &str, profile: &str, extra: &str) -> String {
    format!(
        "[[request]]\nid = \"{id}\"\nprofile = \"{profile}\"\ncsr = \"extra/{id}.csr\"\n{extra}\n"
    )
}

/// A kubelet-serving request for `node` with these SANs (and its CSR).
fn serving(s: &Setup, id: &str, node: &str, dns: &[&str], ips: &[&str]) -> String {
    openssl_csr(
        &s.env,
        id,
        "ec:P-256",
        &format!("/O=system:nodes/CN=system:node:{node}"),
        &[],
    );
    let list = |v: &[&str]| {
        v.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    request(
        id,
        "kubelet-serving",
        &format!(
            "node = \"{node}\"\ndns = [{}]\nips = [{}]",
            list(dns),
            list(ips)
        ),
    )
}

impl Setup {
    /// Seals `requests` into requests/b.tar; returns the digest and stderr.
    fn seal(&self, requests: &str) -> (String, String) {
        self.env.write("manifest.toml", requests);
        let out = self.env.run(&[
            "request",
            "seal",
            "manifest.toml",
            "--out",
            "requests/b.tar",
        ]);
        let sha = ok(&out)
            .lines()
            .find_map(|l| l.strip_prefix("sha256 "))
            .expect("sha256 line")
            .to_string();
        (sha, text(&out.stderr))
    }

    /// Writes sign.toml for requests/b.tar pinned to `sha`.
    fn script(&self, sha: &str, extra: &str) -> String {
        let script = common::sign_script("requests/b.tar", sha, "out", &self.recipient, extra);
        self.env.write("sign.toml", &script);
        "sign.toml".into()
    }

    /// `ceremony run sign.toml [--dry-run]`: (exit code, stdout, stderr).
    fn run(&self, sha: &str, extra: &str, dry: bool) -> (Option<i32>, String, String) {
        let script = self.script(sha, extra);
        let mut args = vec!["run", script.as_str(), "--pin-file", "user.pin"];
        if dry {
            args = vec!["run", script.as_str(), "--dry-run"];
        }
        let out = self.env.run(&args);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    }

    /// The events of the last ceremony in the transcript.
    fn last_run(&self) -> Vec<serde_json::Value> {
        let mut events: Vec<_> = self
            .env
            .events("transcript.jsonl")
            .into_iter()
            .rev()
            .take_while(|e| e["type"] != "ceremony_start")
            .collect();
        events.reverse();
        events
    }

    /// Asserts the dry run rejects the requests with exactly these rules (in
    /// manifest order, as `(id, profile, rule)`), exits 2 and writes nothing;
    /// then that the run does the same: exit 2, each rejection recorded,
    /// nothing signed or written, and the transcript verifies.
    fn assert_rejected(&self, sha: &str, extra: &str, rejected: &[(&str, &str, &str)]) {
        self.script(sha, extra);
        let before = self.env.files();
        let (code, stdout, stderr) = self.run(sha, extra, true);
        assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
        for (id, profile, rule) in rejected {
            let line = format!("  REJECT  {id} ({profile}): {rule}\n");
            assert!(stdout.contains(&line), "{line:?} not in:\n{stdout}");
            let reason = format!("step sign: request {id}: {rule}");
            assert!(stderr.contains(&reason), "{reason:?} not in:\n{stderr}");
        }
        assert_eq!(
            stdout.matches("  REJECT  ").count(),
            rejected.len(),
            "{stdout}"
        );
        assert_eq!(self.env.files(), before, "the dry run wrote something");

        let (code, stdout, stderr) = self.run(sha, extra, false);
        assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
        for (id, _, rule) in rejected {
            let said = format!("step sign: rejected request {id}: {rule}");
            assert!(
                stdout.contains(&said) || stderr.contains(&said),
                "{said:?} not in:\n{stdout}\n{stderr}"
            );
        }
        let events = self.last_run();
        let recorded: Vec<(String, String, String)> = events
            .iter()
            .filter(|e| e["type"] == "request_rejected")
            .map(|e| {
                let s = |k: &str| e[k].as_str().expect("string").to_string();
                (s("request"), s("profile"), s("rule"))
            })
            .collect();
        let expected: Vec<(String, String, String)> = rejected
            .iter()
            .map(|(i, p, r)| (i.to_string(), p.to_string(), r.to_string()))
            .collect();
        assert_eq!(recorded, expected);
        assert!(
            !events.iter().any(|e| e["type"] == "certificate_issued"),
            "something was signed"
        );
        let end = events
            .iter()
            .find(|e| e["type"] == "ceremony_end")
            .expect("the ceremony's end is recorded");
        assert_eq!(end["outcome"], "refused");
        self.assert_nothing_written();
        ok(&self.env.run(&["transcript", "verify", "transcript.jsonl"]));
    }

    /// No output bundle, no checksum, no temporary file beside them.
    fn assert_nothing_written(&self) {
        let bundles: Vec<String> = self
            .env
            .files()
            .into_iter()
            .filter(|f| f.starts_with("bundles/"))
            .collect();
        assert_eq!(bundles, Vec::<String>::new());
    }

    /// The PEM of `certs/ID.crt` in the output bundle, read with the stock
    /// age CLI and tar.
    fn certificate(&self, id: &str) -> String {
        let out = std::process::Command::new("age")
            .args(["-d", "-i"])
            .arg(self.env.path("requester.agekey"))
            .arg(self.env.path("bundles/out.tar.age"))
            .output()
            .expect("age runs");
        assert!(out.status.success(), "age: {}", text(&out.stderr));
        let mut archive = tar::Archive::new(out.stdout.as_slice());
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            if entry.path().expect("path").to_str() == Some(&format!("certs/{id}.crt")) {
                let mut pem = String::new();
                entry.read_to_string(&mut pem).expect("read");
                return pem;
            }
        }
        panic!("certs/{id}.crt is not in the bundle");
    }
}

#[test]
fn a_kubelet_serving_certificate_naming_the_api_server_is_never_signed() {
    let s = setup();
    let requests = serving(
        &s,
        "w1",
        "w1",
        &["w1", "kubernetes.default.svc", "kubernetes"],
        &["10.96.0.1"],
    );
    let (sha, warned) = s.seal(&requests);
    // Sealing warns (the ceremony decides) and seals.
    assert!(
        warned.contains("warning: request w1: a ceremony will reject it: SAN DNS:kubernetes.default.svc is a name of the API server: only profile apiserver may carry it, not kubelet-serving"),
        "{warned}"
    );
    let rule = "SAN DNS:kubernetes.default.svc is a name of the API server: only profile apiserver may carry it, not kubelet-serving";
    // With the cluster stated, and without it: the names are reserved anyway.
    s.assert_rejected(&sha, CLUSTER, &[("w1", "kubelet-serving", rule)]);
    s.assert_rejected(&sha, "", &[("w1", "kubelet-serving", rule)]);
    // With on_rejection = "skip" the step goes on, but the request is not signed.
    let (code, stdout, stderr) = s.run(&sha, &format!("on_rejection = \"skip\"\n{CLUSTER}"), false);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let events = s.last_run();
    assert!(!events.iter().any(|e| e["type"] == "certificate_issued"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "request_rejected" && e["rule"] == rule));
    ok(&s.env.run(&["transcript", "verify", "transcript.jsonl"]));
}

#[test]
fn the_service_ip_alone_is_refused_for_a_node() {
    let s = setup();
    let (sha, _) = s.seal(&serving(&s, "w1", "w1", &["w1"], &["10.96.0.1"]));
    s.assert_rejected(
        &sha,
        CLUSTER,
        &[("w1", "kubelet-serving", "SAN IP:10.96.0.1 is in the service network 10.96.0.0/12: only profile apiserver may carry it, not kubelet-serving")],
    );
    // Without a stated service network it is outside the (unstated) node networks.
    s.assert_rejected(
        &sha,
        "",
        &[("w1", "kubelet-serving", "SAN IP:10.96.0.1 is not allowed: profile kubelet-serving accepts only addresses in the stated node networks (none stated)")],
    );
    // Written as an IPv4-mapped IPv6 address, which Go matches as 10.96.0.1.
    let s = setup();
    let (sha, _) = s.seal(&serving(&s, "w1", "w1", &["w1"], &["::ffff:10.96.0.1"]));
    s.assert_rejected(
        &sha,
        CLUSTER,
        &[("w1", "kubelet-serving", "SAN IP:::ffff:10.96.0.1 is an IPv4-mapped IPv6 address, which TLS clients match as IPv4: write it as IPv4")],
    );
}

#[test]
fn a_node_names_itself_its_suffixes_and_its_networks_and_nothing_else() {
    let s = setup();
    let requests = [
        serving(
            &s,
            "w1",
            "w1",
            &["w1", "w1.nodes.example.com"],
            &["10.0.0.11"],
        ),
        serving(&s, "w2", "w2", &["w2", "w2.example.org"], &[]),
        serving(&s, "w3", "w3", &["w3"], &["192.0.2.7"]),
        serving(&s, "w4", "w4", &["w1"], &[]),
    ]
    .concat();
    let (sha, _) = s.seal(&requests);
    let rejected = [
        ("w2", "kubelet-serving", "SAN DNS:w2.example.org is not allowed: profile kubelet-serving accepts only the node's own name (w2), and names under the stated node DNS suffixes (nodes.example.com)"),
        ("w3", "kubelet-serving", "SAN IP:192.0.2.7 is not allowed: profile kubelet-serving accepts only addresses in the stated node networks (10.0.0.0/24)"),
        ("w4", "kubelet-serving", "SAN DNS:w1 is not allowed: profile kubelet-serving accepts only the node's own name (w4), and names under the stated node DNS suffixes (nodes.example.com)"),
    ];
    s.assert_rejected(&sha, CLUSTER, &rejected);

    // With skip, w1 is signed and the others are listed as rejected.
    let (code, stdout, stderr) = s.run(&sha, &format!("on_rejection = \"skip\"\n{CLUSTER}"), false);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let issued: Vec<String> = s
        .last_run()
        .iter()
        .filter(|e| e["type"] == "certificate_issued")
        .map(|e| e["request"].as_str().expect("request").to_string())
        .collect();
    assert_eq!(issued, ["w1"]);
    let pem = s.certificate("w1");
    s.env.write("w1.crt", &pem);
    let sans = ok(&openssl(
        s.env.dir.path(),
        &["x509", "-in", "w1.crt", "-noout", "-ext", "subjectAltName"],
    ));
    assert!(
        sans.contains("DNS:w1, DNS:w1.nodes.example.com, IP Address:10.0.0.11"),
        "{sans}"
    );
    ok(&openssl(
        s.env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "pki/ca.crt",
            "-purpose",
            "sslserver",
            "w1.crt",
        ],
    ));
    ok(&s.env.run(&["transcript", "verify", "transcript.jsonl"]));

    // Without [step.cluster], only the node's own name.
    let s = setup();
    let (sha, _) = s.seal(&serving(
        &s,
        "w1",
        "w1",
        &["w1", "w1.nodes.example.com"],
        &["10.0.0.11"],
    ));
    s.assert_rejected(
        &sha,
        "",
        &[("w1", "kubelet-serving", "SAN DNS:w1.nodes.example.com is not allowed: profile kubelet-serving accepts only the node's own name (w1), and names under the stated node DNS suffixes (none stated)")],
    );
}

#[test]
fn an_etcd_member_keeps_its_loopback_names_and_its_advertise_address() {
    let s = setup();
    openssl_csr(&s.env, "cp1-etcd", "ec:P-256", "/CN=cp1", &[]);
    let (sha, _) = s.seal(&request(
        "cp1-etcd",
        "etcd-server",
        "node = \"cp1\"\ndns = [\"cp1\", \"localhost\"]\nips = [\"10.0.0.10\", \"127.0.0.1\", \"::1\"]",
    ));
    s.assert_rejected(
        &sha,
        "",
        &[("cp1-etcd", "etcd-server", "SAN IP:10.0.0.10 is not allowed: profile etcd-server accepts only addresses in the stated node networks (none stated), 127.0.0.1 and ::1")],
    );
    let (code, stdout, stderr) = s.run(&sha, CLUSTER, false);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
}

/// 6,000 DNS names of 200 bytes or so: a manifest entry of over 1.2 MB.
fn many_names() -> Vec<String> {
    (0..6000)
        .map(|i| {
            format!(
                "{}.{i:05}.nodes.example.com",
                "n".repeat(60) + "." + &"m".repeat(60) + "." + &"o".repeat(60)
            )
        })
        .collect()
}

#[test]
fn a_request_too_large_for_the_transcript_is_refused_at_seal_and_before_the_first_signature() {
    let s = setup();
    let names = many_names();
    let list = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    openssl_csr(
        &s.env,
        "big",
        "ec:P-256",
        "/O=system:nodes/CN=system:node:w1",
        &[],
    );
    s.env.write(
        "manifest.toml",
        &request(
            "big",
            "kubelet-serving",
            &format!("node = \"w1\"\ndns = [{list}]"),
        ),
    );
    let out = s.env.run(&[
        "request",
        "seal",
        "manifest.toml",
        "--out",
        "requests/b.tar",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr).lines().find(|l| l.starts_with("error: ")),
        Some("error: bundle requests/b.tar: request \"big\": the request lists 6000 SANs, over the limit of 100")
    );
    let left: Vec<String> = s
        .env
        .files()
        .into_iter()
        .filter(|f| f.starts_with("requests/"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "sealing left something behind");

    // Smuggled past seal: a good request sealed, then its manifest entry
    // given the 6,000 names and the bundle rebuilt by hand.
    let (_, _) = s.seal(&request(
        "big",
        "kubelet-serving",
        "node = \"w1\"\ndns = [\"w1\"]",
    ));
    let sha = rebuild(&s, |json| {
        json["requests"][0]["dns"] = names.clone().into();
    });
    let manifest_len = std::fs::metadata(s.env.path("requests/b.tar"))
        .expect("bundle")
        .len();
    assert!(
        manifest_len > 1 << 20,
        "the entry alone is over a transcript line"
    );
    let reason = "bundle requests/b.tar: request \"big\": the request lists 6000 SANs, over the limit of 100";
    let (code, _, stderr) = s.run(&sha, CLUSTER, true);
    assert_eq!(code, Some(2));
    assert!(stderr.contains(&format!("step sign: {reason}")), "{stderr}");
    let (code, stdout, stderr) = s.run(&sha, CLUSTER, false);
    assert_eq!(code, Some(2), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains(reason), "{stderr}");
    let events = s.last_run();
    let refused = events
        .iter()
        .find(|e| e["type"] == "refused")
        .expect("refused recorded");
    assert_eq!(refused["reasons"][0], reason);
    assert!(!events.iter().any(|e| e["type"] == "certificate_issued"));
    let end = events
        .iter()
        .find(|e| e["type"] == "ceremony_end")
        .expect("the ceremony's end is recorded");
    assert_eq!(end["outcome"], "refused");
    s.assert_nothing_written();
    ok(&s.env.run(&["transcript", "verify", "transcript.jsonl"]));
    // And the next ceremony can still append to it.
    ok(&s.env.run(&[
        "transcript",
        "note",
        "transcript.jsonl",
        "after the refusal",
        "--author",
        "Test Operator",
    ]));
    ok(&s.env.run(&["transcript", "verify", "transcript.jsonl"]));
}

/// Rewrites requests/b.tar's manifest.json with `edit` (members kept, in
/// order); returns the new digest.
fn rebuild(s: &Setup, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let bytes = std::fs::read(s.env.path("requests/b.tar")).expect("bundle");
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut members = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry
            .path()
            .expect("path")
            .to_str()
            .expect("utf-8")
            .to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        members.push((name, data));
    }
    let mut edit = Some(edit);
    let mut out = tar::Builder::new(Vec::new());
    for (name, mut data) in members {
        if name == "manifest.json" {
            let mut json: serde_json::Value = serde_json::from_slice(&data).expect("json");
            (edit.take().expect("one manifest"))(&mut json);
            data = serde_json::to_vec_pretty(&json).expect("json");
        }
        let mut header = tar::Header::new_ustar();
        header.set_path(&name).expect("name");
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        out.append(&header, data.as_slice()).expect("append");
    }
    let tar = out.into_inner().expect("finish");
    std::fs::write(s.env.path("requests/b.tar"), &tar).expect("write");
    Sha256::digest(&tar)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_same_public_key_in_two_requests_rejects_both() {
    let s = setup();
    openssl_csr(&s.env, "sch", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    // The same key under another identity, as a requester reusing a key would.
    ok(&openssl(
        s.env.dir.path(),
        &[
            "req",
            "-new",
            "-key",
            "extra/sch.key",
            "-subj",
            "/CN=system:kube-controller-manager",
            "-out",
            "extra/cm.csr",
        ],
    ));
    // And once more with the point compressed: other bytes, the same key.
    ok(&openssl(
        s.env.dir.path(),
        &[
            "ec",
            "-in",
            "extra/sch.key",
            "-conv_form",
            "compressed",
            "-out",
            "extra/fpc.key",
        ],
    ));
    ok(&openssl(
        s.env.dir.path(),
        &[
            "req",
            "-new",
            "-key",
            "extra/fpc.key",
            "-subj",
            "/CN=front-proxy-client",
            "-out",
            "extra/fpc.csr",
        ],
    ));
    let spki = |csr: &str| {
        ok(&openssl(
            s.env.dir.path(),
            &["req", "-in", csr, "-noout", "-pubkey"],
        ))
    };
    assert_ne!(
        spki("extra/sch.csr"),
        spki("extra/fpc.csr"),
        "the encodings differ"
    );
    openssl_csr(&s.env, "proxy", "ec:P-256", "/CN=system:kube-proxy", &[]);
    let (sha, _) = s.seal(
        &[
            request("sch", "scheduler", ""),
            request("cm", "controller-manager", ""),
            request("proxy", "kube-proxy", ""),
            request("fpc", "front-proxy-client", ""),
        ]
        .concat(),
    );
    s.assert_rejected(
        &sha,
        "",
        &[
            (
                "sch",
                "scheduler",
                "its public key is also in request cm: each certificate needs its own key",
            ),
            (
                "cm",
                "controller-manager",
                "its public key is also in request sch: each certificate needs its own key",
            ),
            (
                "fpc",
                "front-proxy-client",
                "its public key is also in request sch: each certificate needs its own key",
            ),
        ],
    );
}

#[test]
fn colliding_output_paths_are_rejected_before_anything_is_signed() {
    let s = setup();
    for (id, subject) in [
        ("a", "/CN=system:kube-scheduler"),
        ("b", "/CN=system:kube-controller-manager"),
        ("c", "/CN=kube-apiserver-etcd-client"),
        ("d", "/CN=kube-etcd-healthcheck-client"),
        ("e", "/CN=system:kube-proxy"),
        ("f", "/O=kubeadm:cluster-admins/CN=kubernetes-admin"),
        ("g", "/O=system:nodes/CN=system:node:w1"),
        ("h", "/CN=front-proxy-client"),
    ] {
        openssl_csr(&s.env, id, "ec:P-256", subject, &[]);
    }
    let (sha, _) = s.seal(
        &[
            // One's kubeadm_path is another's certs/<id>.crt.
            request("a", "scheduler", "kubeadm_path = \"certs/b.crt\""),
            request("b", "controller-manager", ""),
            // Paths differing only in case.
            request(
                "c",
                "apiserver-etcd-client",
                "kubeadm_path = \"pki/apiserver-etcd-client.crt\"",
            ),
            request(
                "d",
                "etcd-healthcheck-client",
                "kubeadm_path = \"PKI/Apiserver-etcd-client.crt\"",
            ),
            // A CA certificate's path.
            request("e", "kube-proxy", "kubeadm_path = \"pki/etcd/ca.crt\""),
            // Kubeconfigs differing only in case.
            request("f", "admin", "kubeconfig = \"admin.conf\""),
            request(
                "g",
                "kubelet-client",
                "node = \"w1\"\nkubeconfig = \"Admin.conf\"",
            ),
            // Nothing wrong with this one.
            request(
                "h",
                "front-proxy-client",
                "kubeadm_path = \"pki/front-proxy-client.crt\"",
            ),
        ]
        .concat(),
    );
    let rejected = [
        ("a", "scheduler", "kubeadm_path certs/b.crt collides with request b's certificate file certs/b.crt"),
        ("b", "controller-manager", "certificate file certs/b.crt collides with request a's kubeadm_path certs/b.crt"),
        ("c", "apiserver-etcd-client", "kubeadm_path pki/apiserver-etcd-client.crt collides with request d's kubeadm_path PKI/Apiserver-etcd-client.crt when case is ignored"),
        ("d", "etcd-healthcheck-client", "kubeadm_path PKI/Apiserver-etcd-client.crt collides with request c's kubeadm_path pki/apiserver-etcd-client.crt when case is ignored"),
        ("e", "kube-proxy", "kubeadm_path pki/etcd/ca.crt collides with the etcd CA certificate pki/etcd/ca.crt"),
        ("f", "admin", "kubeconfig admin.conf collides with request g's kubeconfig Admin.conf when case is ignored"),
        ("g", "kubelet-client", "kubeconfig Admin.conf collides with request f's kubeconfig admin.conf when case is ignored"),
    ];
    s.assert_rejected(&sha, "", &rejected);

    // With skip, only h is signed, and the bundle is whole.
    let (code, stdout, stderr) = s.run(&sha, "on_rejection = \"skip\"", false);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let issued: Vec<_> = s
        .last_run()
        .iter()
        .filter(|e| e["type"] == "certificate_issued")
        .map(|e| e["request"].as_str().expect("request").to_string())
        .collect();
    assert_eq!(issued, ["h"]);
    assert!(s
        .certificate("h")
        .starts_with("-----BEGIN CERTIFICATE-----"));
    ok(&s.env.run(&["transcript", "verify", "transcript.jsonl"]));
}

#[test]
fn a_kubeadm_path_the_bundle_could_not_hold_is_rejected_before_signing() {
    let s = setup();
    openssl_csr(&s.env, "a", "ec:P-256", "/CN=system:kube-scheduler", &[]);
    let (_, _) = s.seal(&request(
        "a",
        "scheduler",
        "kubeadm_path = \"pki/scheduler.crt\"",
    ));
    for (path, rule) in [
        ("pki/./x.crt", "kubeadm_path \"pki/./x.crt\" must be a relative path inside the kubeadm tree ending in .crt"),
        ("pki//x.crt", "kubeadm_path \"pki//x.crt\" must be a relative path inside the kubeadm tree ending in .crt"),
        ("pki/\nx.crt", "kubeadm_path \"pki/\\nx.crt\" must be a relative path inside the kubeadm tree ending in .crt"),
    ] {
        let sha = rebuild(&s, |json| {
            json["requests"][0]["kubeadm_path"] = path.into();
        });
        s.assert_rejected(&sha, "", &[("a", "scheduler", rule)]);
    }
}
