//! Tests for `certs check-expiration`: scanning trees of real OpenSSL-issued
//! certificates and kubeconfigs, the table and JSON renderings, and what is
//! refused or redacted.

use super::parse::redact_quoted;
use super::render::printable;
use super::*;
use base64ct::Encoding;
use std::fs;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// 2025-06-01T00:00:00Z.
const JUNE_2025: u64 = 1_748_736_000;

fn at(unix: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(unix)
}

/// A throwaway OpenSSL CA database issuing certificates with exact dates.
struct Openssl {
    work: tempfile::TempDir,
}

impl Openssl {
    fn new() -> Openssl {
        let work = tempfile::tempdir().expect("tempdir");
        let w = work.path().display();
        let cnf = format!(
            "[ca]\ndefault_ca = ca_default\n\
             [ca_default]\ndatabase = {w}/index.txt\nnew_certs_dir = {w}\nserial = {w}/serial\n\
             default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\n\
             [any]\ncommonName = supplied\norganizationName = optional\n\
             [leaf]\nbasicConstraints = critical,CA:FALSE\n\
             [authority]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        );
        fs::write(work.path().join("ca.cnf"), cnf).expect("write ca.cnf");
        fs::write(work.path().join("index.txt"), "").expect("write index");
        fs::write(work.path().join("serial"), "1000\n").expect("write serial");
        Openssl { work }
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.work.path())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Issues `name.crt` (and `name.key`) for `subj`, signed by `issuer`
    /// (`None`: self-signed), valid from 2025-01-01 to `end`.
    fn issue(&self, name: &str, subj: &str, issuer: Option<&str>, ca: bool, end: &str) {
        let (csr, crt) = (format!("{name}.csr"), format!("{name}.crt"));
        let key = format!("{name}.key");
        self.run(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-subj",
            subj,
            "-out",
            &csr,
        ]);
        let ext = if ca { "authority" } else { "leaf" };
        let mut args = vec![
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-in",
            &csr,
            "-out",
            &crt,
            "-startdate",
            "20250101000000Z",
            "-enddate",
            end,
            "-extensions",
            ext,
        ];
        let (issuer_crt, issuer_key);
        match issuer {
            None => args.extend(["-selfsign", "-keyfile", &key]),
            Some(i) => {
                issuer_crt = format!("{i}.crt");
                issuer_key = format!("{i}.key");
                args.extend(["-cert", &issuer_crt, "-keyfile", &issuer_key]);
            }
        }
        self.run(&args);
        // An outside tool checks what it issued, at the tests' `now`.
        if let Some(i) = issuer {
            // -partial_chain: the issuer may be an intermediate.
            self.run(&[
                "verify",
                "-x509_strict",
                "-partial_chain",
                "-attime",
                &JUNE_2025.to_string(),
                "-CAfile",
                &format!("{i}.crt"),
                &crt,
            ]);
        }
    }

    fn read(&self, file: &str) -> Vec<u8> {
        fs::read(self.work.path().join(file)).expect("read issued file")
    }
}

fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

fn admin_conf(cert: &[u8], key: &[u8]) -> String {
    let b64 = |b: &[u8]| base64ct::Base64::encode_string(b);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: kubernetes\n\
         current-context: kubernetes-admin@kubernetes\n\
         users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(cert),
        b64(key)
    )
}

/// A kubeadm tree: pki/ca, pki/apiserver, pki/etcd/ca, admin.conf, keys
/// beside them, a garbage `.crt` and files that must be ignored.
/// Returns the tree and the key texts that must never be printed.
fn kubeadm_tree() -> (tempfile::TempDir, Vec<String>) {
    let ssl = Openssl::new();
    ssl.issue("ca", "/CN=kubernetes", None, true, "20350101000000Z");
    ssl.issue(
        "apiserver",
        "/CN=kube-apiserver",
        Some("ca"),
        false,
        "20260101000000Z",
    );
    ssl.issue(
        "admin",
        "/O=kubeadm:cluster-admins/CN=kubernetes-admin",
        Some("ca"),
        false,
        "20260101120000Z",
    );
    ssl.issue("etcd-ca", "/CN=etcd-ca", None, true, "20350101000000Z");
    let tree = tempfile::tempdir().expect("tempdir");
    let root = tree.path();
    for (from, to) in [
        ("ca", "pki/ca"),
        ("apiserver", "pki/apiserver"),
        ("etcd-ca", "pki/etcd/ca"),
    ] {
        put(
            root,
            &format!("{to}.crt"),
            &ssl.read(&format!("{from}.crt")),
        );
        put(
            root,
            &format!("{to}.key"),
            &ssl.read(&format!("{from}.key")),
        );
    }
    put(
        root,
        "admin.conf",
        admin_conf(&ssl.read("admin.crt"), &ssl.read("admin.key")).as_bytes(),
    );
    put(root, "pki/garbage.crt", b"this is not a certificate\n");
    put(root, "pki/sa.pub", b"-----BEGIN PUBLIC KEY-----\n");
    put(root, "manifests/kube-apiserver.yaml", b"kind: Pod\n");
    let mut secrets = Vec::new();
    for key in ["ca.key", "apiserver.key", "admin.key", "etcd-ca.key"] {
        let text = String::from_utf8(ssl.read(key)).expect("PEM key");
        // Every base64 line of every key, and the key as kubeconfig data.
        secrets.extend(
            text.lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::to_string),
        );
        secrets.push(base64ct::Base64::encode_string(text.as_bytes()));
    }
    (tree, secrets)
}

fn assert_no_secret(text: &str, secrets: &[String]) {
    assert!(!text.contains("PRIVATE"), "{text}");
    for s in secrets {
        assert!(!text.contains(s.as_str()), "key material in output: {text}");
    }
}

#[test]
fn kubeadm_tree_table() {
    let (tree, secrets) = kubeadm_tree();
    let report = scan(tree.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert_eq!(
        report.render_table(),
        "\
CERTIFICATE         EXPIRES                  RESIDUAL TIME   LOOK-AHEAD   CERTIFICATE AUTHORITY   RENEWAL
admin.conf          Jan 01, 2026 12:00 UTC   214d                         kubernetes              renew: `kubeadm certs renew` (its issuer's key is in this tree)
pki/apiserver.crt   Jan 01, 2026 00:00 UTC   214d                         kubernetes              renew: `kubeadm certs renew` (its issuer's key is in this tree)

CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   LOOK-AHEAD   KIND   ISSUER        RENEWAL
pki/ca.crt              Jan 01, 2035 00:00 UTC   9y                           root   self-signed   rotate: its key is beside it in this tree, so kubeadm manages it, not a ceremony: kubeadm's manual CA rotation
pki/etcd/ca.crt         Jan 01, 2035 00:00 UTC   9y                           root   self-signed   rotate: its key is beside it in this tree, so kubeadm manages it, not a ceremony: kubeadm's manual CA rotation
"
    );
    assert_eq!(
        report.problems,
        vec![Problem {
            path: "pki/garbage.crt".into(),
            reason: "neither PEM (no -----BEGIN line) nor a DER certificate".into(),
        }]
    );
    assert_eq!(
        report.problems[0].to_string(),
        "pki/garbage.crt: neither PEM (no -----BEGIN line) nor a DER certificate"
    );
    let err = report.ensure_complete(tree.path()).expect_err("a problem");
    assert!(matches!(err, Error::Problems { count: 1, .. }), "{err}");
    assert_no_secret(&report.render_table(), &secrets);
    assert_no_secret(&report.to_json(), &secrets);
    assert_no_secret(&format!("{report:?}"), &secrets);
}

#[test]
fn kubeadm_tree_json() {
    let (tree, _) = kubeadm_tree();
    let report = scan(tree.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    assert_eq!(
        json["certificates"][0],
        serde_json::json!({
            "path": "admin.conf",
            "index": 1,
            "user": "kubernetes-admin",
            "subject": "kubernetes-admin",
            "issuer": "kubernetes",
            "is_ca": false,
            "not_after": "2026-01-01T12:00:00Z",
            "residual_seconds": 1_767_268_800 - 1_748_736_000,
            "expired": false,
            "kind": "leaf",
            "issued_by": ["pki/ca.crt"],
            "renewed_by": "kubeadm",
            "renewal": "renew: `kubeadm certs renew` (its issuer's key is in this tree)",
            "within_window": false,
            "outlives_issuer": null,
        })
    );
    assert_eq!(
        json["certificates"][2],
        serde_json::json!({
            "path": "pki/ca.crt",
            "index": 1,
            "user": null,
            "subject": "kubernetes",
            "issuer": "kubernetes",
            "is_ca": true,
            "not_after": "2035-01-01T00:00:00Z",
            "residual_seconds": 2_051_222_400 - 1_748_736_000,
            "expired": false,
            "kind": "root",
            "issued_by": [],
            "renewed_by": "kubeadm",
            "renewal": "rotate: its key is beside it in this tree, so kubeadm manages it, not a ceremony: kubeadm's manual CA rotation",
            "within_window": false,
            "outlives_issuer": null,
        })
    );
    assert_eq!(json["warn_within_days"], 90);
    assert_eq!(json["certificate_authorities"][0], json["certificates"][2]);
    assert_eq!(json["certificate_authorities"][1], json["certificates"][3]);
    assert_eq!(
        json["certificate_authorities"].as_array().map(Vec::len),
        Some(2)
    );
    let paths: Vec<_> = json["certificates"]
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths,
        [
            "admin.conf",
            "pki/apiserver.crt",
            "pki/ca.crt",
            "pki/etcd/ca.crt"
        ]
    );
    assert_eq!(
        json["problems"],
        serde_json::json!([{
            "path": "pki/garbage.crt",
            "reason": "neither PEM (no -----BEGIN line) nor a DER certificate",
        }])
    );
}

#[test]
fn far_future_shows_everything_invalid() {
    let (tree, _) = kubeadm_tree();
    // 2040-01-01T00:00:00Z.
    let report = scan(tree.path(), at(2_208_988_800), DEFAULT_WARN_DAYS).expect("scan");
    assert!(report
        .entries
        .iter()
        .all(|e| e.expired && e.residual_seconds < 0));
    assert_eq!(
        report.render_table(),
        "\
CERTIFICATE         EXPIRES                  RESIDUAL TIME   LOOK-AHEAD   CERTIFICATE AUTHORITY   RENEWAL
admin.conf          Jan 01, 2026 12:00 UTC   <invalid>       expired      kubernetes              renew: `kubeadm certs renew` (its issuer's key is in this tree)
pki/apiserver.crt   Jan 01, 2026 00:00 UTC   <invalid>       expired      kubernetes              renew: `kubeadm certs renew` (its issuer's key is in this tree)

CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   LOOK-AHEAD   KIND   ISSUER        RENEWAL
pki/ca.crt              Jan 01, 2035 00:00 UTC   <invalid>       expired      root   self-signed   rotate: its key is beside it in this tree, so kubeadm manages it, not a ceremony: kubeadm's manual CA rotation
pki/etcd/ca.crt         Jan 01, 2035 00:00 UTC   <invalid>       expired      root   self-signed   rotate: its key is beside it in this tree, so kubeadm manages it, not a ceremony: kubeadm's manual CA rotation

4 certificate(s) expire within 90 days or have expired; 0 outlive their issuer
"
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    assert_eq!(json["certificates"][1]["expired"], true);
    assert_eq!(
        json["certificates"][1]["residual_seconds"],
        1_767_225_600_i64 - 2_208_988_800
    );
}

#[test]
fn expiry_instant_itself_is_still_valid() {
    let (tree, _) = kubeadm_tree();
    // 2026-01-01T00:00:00Z, apiserver's notAfter: valid through that second.
    let report = scan(tree.path(), at(1_767_225_600), DEFAULT_WARN_DAYS).expect("scan");
    let api = &report.entries[1];
    assert_eq!(api.path, "pki/apiserver.crt");
    assert_eq!(
        (api.residual_seconds, api.expired, api.residual().as_str()),
        (0, false, "0s")
    );
    let report = scan(tree.path(), at(1_767_225_601), DEFAULT_WARN_DAYS).expect("scan");
    let api = &report.entries[1];
    assert_eq!(
        (api.residual_seconds, api.expired, api.residual().as_str()),
        (-1, true, "<invalid>")
    );
}

/// An output bundle opened into a directory: certs/, pki/ at depth, a
/// chain with explanatory text, a DER certificate, manifest files.
#[test]
fn output_bundle_with_chain_and_der() {
    let ssl = Openssl::new();
    ssl.issue("root", "/CN=root-ca", None, true, "20450101000000Z");
    ssl.issue(
        "kubelet",
        "/O=system:nodes/CN=system:node:node3",
        Some("root"),
        false,
        "20251201000000Z",
    );
    ssl.run(&[
        "x509",
        "-in",
        "kubelet.crt",
        "-outform",
        "DER",
        "-out",
        "kubelet.der",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    put(root, "manifest.json", b"{}");
    put(root, "SHA256SUMS", b"");
    put(root, "certs/kubelet-node3.crt", &ssl.read("kubelet.der"));
    let mut chain = b"subject=CN=system:node:node3\n".to_vec();
    chain.extend(ssl.read("kubelet.crt"));
    chain.extend(b"\nsubject=CN=root-ca\r\n");
    chain.extend(ssl.read("root.crt"));
    put(root, "pki/nodes/node3/chain.crt", &chain);
    let report = scan(root, at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    report.ensure_complete(root).expect("complete");
    assert_eq!(
        report.render_table(),
        "\
CERTIFICATE                   EXPIRES                  RESIDUAL TIME   LOOK-AHEAD   CERTIFICATE AUTHORITY   RENEWAL
certs/kubelet-node3.crt       Dec 01, 2025 00:00 UTC   183d                         root-ca                 renew: a sign-requests ceremony with its issuer (ceremonies/sign-components.toml, or sign-kubeadm.toml for a request sealed with --kubeadm)
pki/nodes/node3/chain.crt#1   Dec 01, 2025 00:00 UTC   183d                         root-ca                 renew: a sign-requests ceremony with its issuer (ceremonies/sign-components.toml, or sign-kubeadm.toml for a request sealed with --kubeadm)

CERTIFICATE AUTHORITY         EXPIRES                  RESIDUAL TIME   LOOK-AHEAD   KIND   ISSUER        RENEWAL
pki/nodes/node3/chain.crt#2   Jan 01, 2045 00:00 UTC   19y                          root   self-signed   rotate: a new root ceremony (ceremonies/root-init.toml), cross-sign, then `ceremony rotate plan` (docs/rotation.md)
"
    );
    let chain: Vec<_> = report
        .entries
        .iter()
        .filter(|e| e.path.ends_with("chain.crt"))
        .collect();
    assert_eq!(
        chain
            .iter()
            .map(|e| (e.index, e.subject.as_str(), e.is_ca))
            .collect::<Vec<_>>(),
        [(1, "system:node:node3", false), (2, "root-ca", true)]
    );
}

#[test]
fn private_keys_are_refused_and_never_shown() {
    let ssl = Openssl::new();
    ssl.issue("ca", "/CN=kubernetes", None, true, "20350101000000Z");
    let key = ssl.read("ca.key");
    let key_text = String::from_utf8(key.clone()).expect("PEM");
    let secrets: Vec<String> = key_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_string)
        .chain([base64ct::Base64::encode_string(&key)])
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut both = ssl.read("ca.crt");
    both.extend(&key);
    put(root, "pki/with-key.crt", &both);
    put(root, "pki/ca.key", &key);
    // A kubeconfig whose certificate field holds the key instead.
    put(root, "swapped.conf", admin_conf(&key, &key).as_bytes());
    // A key saved as .conf: YAML reads it as one long string.
    put(root, "raw-key.conf", &key);
    let report = scan(root, at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert!(report.entries.is_empty());
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "pki/with-key.crt: holds a private key; a certificate file must hold only certificates (nothing from it is shown)",
            "raw-key.conf: not a kubeconfig: invalid type: string \"…\", expected struct Kubeconfig",
            "swapped.conf: user \"kubernetes-admin\": holds a private key; a certificate file must hold only certificates (nothing from it is shown)",
        ]
    );
    let all = format!(
        "{}{}{report:?}{}",
        report.render_table(),
        report.to_json(),
        problems.join("\n")
    );
    for s in &secrets {
        assert!(!all.contains(s.as_str()), "key material in output");
    }
}

#[test]
fn bad_files_become_problems() {
    let ssl = Openssl::new();
    ssl.issue("ca", "/CN=kubernetes", None, true, "20350101000000Z");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let good = ssl.read("ca.crt");
    put(root, "pki/ca.crt", &good);
    put(root, "pki/empty.crt", b"\n");
    put(
        root,
        "pki/huge.crt",
        &vec![b'A'; (MAX_FILE_BYTES + 1) as usize],
    );
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 30);
    put(root, "pki/truncated.crt", &truncated);
    let mut corrupt = good.clone();
    corrupt[40] = b'!';
    put(root, "pki/corrupt.crt", &corrupt);
    put(
        root,
        "pki/crl.crt",
        b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n",
    );
    put(root, "pki/bad-der.crt", &[0x30, 0x03, 0x02, 0x01, 0x01]);
    put(root, "not-yaml.conf", b"users: [\n");
    put(root, "pod.conf", b"kind: Pod\n");
    put(
        root,
        "bad-b64.conf",
        b"users:\n- name: u\n  user:\n    client-certificate-data: '%%%'\n",
    );
    put(
        root,
        "wrong-type.conf",
        b"users:\n- name: u\n  user:\n    client-certificate-data: [1]\n",
    );
    // A kubeconfig with a user naming a file and one with a token: nothing to check, no problem.
    put(root, "kubelet.conf", b"kind: Config\nusers:\n- name: a\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n- name: b\n  user:\n    token: abc\n");
    std::os::unix::fs::symlink(root.join("pki/ca.crt"), root.join("link.crt")).expect("symlink");
    std::os::unix::fs::symlink(root.join("pki"), root.join("pki-link")).expect("symlink");
    std::os::unix::fs::symlink("/nonexistent", root.join("dangling.pem")).expect("symlink");
    let fifo = Command::new("mkfifo")
        .arg(root.join("pki/fifo.crt"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    let report = scan(root, at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert_eq!(report.entries.len(), 1);
    assert_eq!(report.entries[0].path, "pki/ca.crt");
    let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "bad-b64.conf: user \"u\": client-certificate-data is not base64",
            "link.crt: symbolic link, not followed",
            "not-yaml.conf: not a kubeconfig: did not find expected node content at line 2 column 1, while parsing a flow node",
            "pki-link: symbolic link, not followed",
            "pki/bad-der.crt: not a valid DER certificate: unexpected ASN.1 DER tag: expected SEQUENCE, got INTEGER",
            "pki/corrupt.crt: PEM: PEM Base64 error: invalid Base64 encoding",
            "pki/crl.crt: PEM label is \"X509 CRL\", not CERTIFICATE",
            "pki/empty.crt: empty, no certificate",
            "pki/fifo.crt: not a regular file",
            "pki/huge.crt: 1048577 bytes is over the limit of 1048576 bytes",
            "pki/truncated.crt: PEM: no -----END line, the file is cut short",
            "pod.conf: not a kubeconfig: kind is not Config",
            "wrong-type.conf: not a kubeconfig: users[0].user.client-certificate-data: invalid type: sequence, expected a string at line 4 column 30",
        ]
    );
}

#[test]
fn scan_refuses_a_missing_or_non_directory_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = scan(
        &dir.path().join("missing"),
        at(JUNE_2025),
        DEFAULT_WARN_DAYS,
    )
    .expect_err("missing");
    assert!(matches!(err, Error::Io { action: "open", .. }), "{err}");
    let file = dir.path().join("ca.crt");
    fs::write(&file, b"x").expect("write");
    let err = scan(&file, at(JUNE_2025), DEFAULT_WARN_DAYS).expect_err("a file");
    assert_eq!(
        err.to_string(),
        format!("{}: not a directory", file.display())
    );
    assert!(err.hint().is_some());
}

#[test]
fn empty_directory_is_nothing_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    put(dir.path(), "pki/sa.key", b"secret");
    let report = scan(dir.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert_eq!(report, Report::default());
    let err = report.ensure_complete(dir.path()).expect_err("nothing");
    assert!(matches!(err, Error::NothingFound { .. }), "{err}");
    assert_eq!(
        report.render_table(),
        "CERTIFICATE   EXPIRES   RESIDUAL TIME   LOOK-AHEAD   CERTIFICATE AUTHORITY   RENEWAL\n\nCERTIFICATE AUTHORITY   EXPIRES   RESIDUAL TIME   LOOK-AHEAD   KIND   ISSUER   RENEWAL\n"
    );
    assert_eq!(
        report.to_json(),
        "{\n  \"warn_within_days\": 90,\n  \"certificates\": [],\n  \"certificate_authorities\": [],\n  \"problems\": []\n}\n"
    );
}

#[test]
fn deep_trees_stop_at_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep: Vec<&str> = vec!["d"; MAX_DEPTH + 1];
    put(dir.path(), &format!("{}/x.crt", deep.join("/")), b"x");
    let report = scan(dir.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].path, deep.join("/"));
    assert_eq!(
        report.problems[0].reason,
        format!("directory deeper than {MAX_DEPTH} levels, not searched")
    );
}

#[test]
fn residual_like_kubeadm() {
    let day = 86_400;
    for (seconds, text) in [
        (-1, "<invalid>"),
        (i64::MIN, "<invalid>"),
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3_599, "59m"),
        (3_600, "1h"),
        (day - 1, "23h"),
        (day, "1d"),
        (365 * day - 1, "364d"),
        (365 * day, "1y"),
        (10 * 365 * day - 1, "9y"),
    ] {
        assert_eq!(residual(seconds), text, "{seconds}");
    }
}

#[test]
fn printable_escapes_terminal_tricks() {
    assert_eq!(printable("ok:name-1"), "ok:name-1");
    assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
    assert_eq!(printable("evil\u{202e}txt.crt"), "evil\\u{202e}txt.crt");
    assert_eq!(printable("line\nbreak"), "line\\u{a}break");
}

#[test]
fn redaction_hides_quoted_values() {
    assert_eq!(
        redact_quoted(r#"invalid type: string "MIG\"x\"HAg", expected a sequence"#),
        "invalid type: string \"…\", expected a sequence"
    );
    assert_eq!(
        redact_quoted("integer `5`, expected"),
        "integer `…`, expected"
    );
    assert_eq!(redact_quoted("unterminated \"abc"), "unterminated \"…\"");
}

mod lookahead;
