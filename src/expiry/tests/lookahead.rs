//! The look-ahead over real OpenSSL-issued hierarchies: roots,
//! intermediates and links told apart by signature, what renews each, the
//! warning window, and certificates that outlive their issuer.

use super::super::lookahead::{
    RENEW_BY_KUBEADM, RENEW_BY_SIGNER, RENEW_INTERMEDIATE, RENEW_KUBEADM_LEAF, RENEW_LINK,
    RENEW_UNKNOWN, ROTATE_ROOT,
};
use super::*;

/// 2025-11-01T00:00:00Z.
const NOVEMBER_2025: u64 = 1_761_955_200;

/// A CA certificate `name.crt` for the key of `key_of` (its subject `subj`),
/// signed by `issuer`, valid to `end`: a link when `key_of` is a root.
fn issue_for_key(ssl: &Openssl, name: &str, key_of: &str, subj: &str, issuer: &str, end: &str) {
    let (csr, crt) = (format!("{name}.csr"), format!("{name}.crt"));
    let (issuer_crt, issuer_key) = (format!("{issuer}.crt"), format!("{issuer}.key"));
    ssl.run(&[
        "req",
        "-new",
        "-key",
        &format!("{key_of}.key"),
        "-subj",
        subj,
        "-out",
        &csr,
    ]);
    ssl.run(&[
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
        "authority",
        "-cert",
        &issuer_crt,
        "-keyfile",
        &issuer_key,
    ]);
    ssl.run(&[
        "verify",
        "-x509_strict",
        "-attime",
        &JUNE_2025.to_string(),
        "-CAfile",
        &issuer_crt,
        &crt,
    ]);
}

/// A rotation in progress, no keys beside anything: an old root and a new
/// one, a link from the old to the new, an intermediate under the new
/// root, an impostor CA named like the intermediate, and leaves: one due
/// soon, one outliving the intermediate, one under the root, one orphan.
fn rotation_tree() -> tempfile::TempDir {
    let ssl = Openssl::new();
    ssl.issue("old", "/CN=old-root", None, true, "20350101000000Z");
    ssl.issue("new", "/CN=new-root", None, true, "20450101000000Z");
    issue_for_key(
        &ssl,
        "link",
        "new",
        "/CN=new-root",
        "old",
        "20350101000000Z",
    );
    ssl.issue("signer", "/CN=signer", Some("new"), true, "20300101000000Z");
    ssl.issue("impostor", "/CN=signer", None, true, "20400101000000Z");
    ssl.issue(
        "kubelet",
        "/CN=kubelet",
        Some("signer"),
        false,
        "20260101000000Z",
    );
    ssl.issue("late", "/CN=late", Some("signer"), false, "20310101000000Z");
    ssl.issue(
        "api",
        "/CN=kube-apiserver",
        Some("new"),
        false,
        "20260601000000Z",
    );
    ssl.issue("gone", "/CN=gone-ca", None, true, "20350101000000Z");
    ssl.issue(
        "orphan",
        "/CN=orphan",
        Some("gone"),
        false,
        "20260601000000Z",
    );
    // An outside tool agrees: the intermediate verifies for a client that
    // trusts only the old root, through the link.
    ssl.run(&[
        "verify",
        "-x509_strict",
        "-attime",
        &JUNE_2025.to_string(),
        "-CAfile",
        "old.crt",
        "-untrusted",
        "link.crt",
        "signer.crt",
    ]);
    let tree = tempfile::tempdir().expect("tempdir");
    let root = tree.path();
    for (from, to) in [
        ("new", "pki/ca.crt"),
        ("old", "certs/old-root.crt"),
        ("link", "certs/link.crt"),
        ("signer", "certs/signer.crt"),
        ("impostor", "certs/impostor.crt"),
        ("kubelet", "certs/kubelet.crt"),
        ("late", "certs/late.crt"),
        ("api", "pki/apiserver.crt"),
        ("orphan", "certs/orphan.crt"),
    ] {
        put(root, to, &ssl.read(&format!("{from}.crt")));
    }
    tree
}

fn entry<'a>(report: &'a Report, name: &str) -> &'a Entry {
    report
        .entries
        .iter()
        .find(|e| e.name() == name)
        .unwrap_or_else(|| panic!("{name} not in the report"))
}

#[test]
fn roots_links_and_intermediates_by_signature() {
    let tree = rotation_tree();
    let report = scan(tree.path(), at(NOVEMBER_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let row = |name: &str| {
        let e = entry(&report, name);
        (e.kind, e.issued_by.clone(), e.renewed_by, e.renewal)
    };
    let by = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        row("pki/ca.crt"),
        (Kind::Root, by(&[]), "root-init", ROTATE_ROOT)
    );
    assert_eq!(
        row("certs/old-root.crt"),
        (Kind::Root, by(&[]), "root-init", ROTATE_ROOT)
    );
    // The impostor names itself like the intermediate: a root of its own.
    assert_eq!(
        row("certs/impostor.crt"),
        (Kind::Root, by(&[]), "root-init", ROTATE_ROOT)
    );
    assert_eq!(
        row("certs/link.crt"),
        (
            Kind::Link,
            by(&["certs/old-root.crt"]),
            "cross-sign",
            RENEW_LINK
        )
    );
    // Signed by the new root's key, which the link certifies too.
    assert_eq!(
        row("certs/signer.crt"),
        (
            Kind::Intermediate,
            by(&["certs/link.crt", "pki/ca.crt"]),
            "sign-intermediate",
            RENEW_INTERMEDIATE
        )
    );
    // Named "signer" by both; only the real signer's key verifies them.
    assert_eq!(
        row("certs/kubelet.crt"),
        (
            Kind::Leaf,
            by(&["certs/signer.crt"]),
            "online-signer",
            RENEW_BY_SIGNER
        )
    );
    assert_eq!(
        row("pki/apiserver.crt"),
        (
            Kind::Leaf,
            by(&["certs/link.crt", "pki/ca.crt"]),
            "sign-kubeadm",
            RENEW_KUBEADM_LEAF
        )
    );
    assert_eq!(
        row("certs/orphan.crt"),
        (Kind::Leaf, by(&[]), "unknown", RENEW_UNKNOWN)
    );
}

#[test]
fn the_window_marks_what_expires_soon() {
    let tree = rotation_tree();
    let report = scan(tree.path(), at(NOVEMBER_2025), DEFAULT_WARN_DAYS).expect("scan");
    let within: Vec<&str> = report
        .entries
        .iter()
        .filter(|e| e.within_window)
        .map(|e| e.name())
        .collect();
    // 2026-01-01 is 61 days after 2025-11-01; 2026-06-01 is 212.
    assert_eq!(within, ["certs/kubelet.crt"]);
    let table = report.render_table();
    let line = table
        .lines()
        .find(|l| l.starts_with("certs/kubelet.crt "))
        .expect("kubelet row");
    assert!(
        line.contains(" 61d ") && line.contains(" within 90 days "),
        "{line}"
    );
    assert!(
        table.ends_with(
            "\n1 certificate(s) expire within 90 days or have expired; 1 outlive their issuer\n"
        ),
        "{table}"
    );
    // A wider window takes in the June leaves too, never the roots.
    let wide = scan(tree.path(), at(NOVEMBER_2025), 365).expect("scan");
    let mut within: Vec<&str> = wide
        .entries
        .iter()
        .filter(|e| e.within_window)
        .map(|e| e.name())
        .collect();
    within.sort();
    assert_eq!(
        within,
        ["certs/kubelet.crt", "certs/orphan.crt", "pki/apiserver.crt"]
    );
    let json: serde_json::Value = serde_json::from_str(&wide.to_json()).expect("JSON");
    assert_eq!(json["warn_within_days"], 365);
    // Zero days: only what has expired.
    let none = scan(tree.path(), at(NOVEMBER_2025), 0).expect("scan");
    assert!(none.entries.iter().all(|e| !e.within_window));
    assert!(
        none.render_table().ends_with(
            "\n0 certificate(s) expire within 0 days or have expired; 1 outlive their issuer\n"
        ),
        "{}",
        none.render_table()
    );
}

#[test]
fn a_certificate_outliving_its_issuer_is_a_problem() {
    let tree = rotation_tree();
    let report = scan(tree.path(), at(NOVEMBER_2025), DEFAULT_WARN_DAYS).expect("scan");
    let outliving: Vec<(&str, &str)> = report
        .entries
        .iter()
        .filter_map(|e| Some((e.name(), e.outlives_issuer.as_deref()?)))
        .collect();
    assert_eq!(outliving, [("certs/late.crt", "certs/signer.crt")]);
    assert_eq!(
        report.outliving().collect::<Vec<_>>(),
        ["certs/late.crt: expires 2031-01-01T00:00:00Z, after its issuer certs/signer.crt (2030-01-01T00:00:00Z)"]
    );
    let table = report.render_table();
    let line = table
        .lines()
        .find(|l| l.starts_with("certs/late.crt "))
        .expect("late row");
    assert!(line.contains(" outlives certs/signer.crt "), "{line}");
    let err = report.ensure_complete(tree.path()).expect_err("outlives");
    assert!(
        matches!(err, Error::OutlivesIssuer { count: 1, .. }),
        "{err}"
    );
    assert!(err.hint().is_some());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    let late = json["certificates"]
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["path"] == "certs/late.crt")
        .expect("late");
    assert_eq!(late["outlives_issuer"], "certs/signer.crt");
    // Every CA, and nothing else, is in certificate_authorities.
    let cas: Vec<&str> = json["certificate_authorities"]
        .as_array()
        .expect("array")
        .iter()
        .map(|c| c["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        cas,
        [
            "certs/impostor.crt",
            "certs/link.crt",
            "certs/old-root.crt",
            "certs/signer.crt",
            "pki/ca.crt"
        ]
    );
}

/// Old and new root share a name: the link names its subject as issuer,
/// but the new key does not verify it, so it is a link, not a root.
#[test]
fn a_link_between_roots_of_one_name_is_not_a_root() {
    let ssl = Openssl::new();
    ssl.issue("old", "/CN=kubernetes", None, true, "20350101000000Z");
    ssl.issue("new", "/CN=kubernetes", None, true, "20450101000000Z");
    issue_for_key(
        &ssl,
        "link",
        "new",
        "/CN=kubernetes",
        "old",
        "20350101000000Z",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    put(dir.path(), "old.crt", &ssl.read("old.crt"));
    put(dir.path(), "new.crt", &ssl.read("new.crt"));
    put(dir.path(), "link.crt", &ssl.read("link.crt"));
    let report = scan(dir.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    let kinds: Vec<(&str, Kind, Vec<String>)> = report
        .entries
        .iter()
        .map(|e| (e.name(), e.kind, e.issued_by.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("link.crt", Kind::Link, vec!["old.crt".to_string()]),
            ("new.crt", Kind::Root, vec![]),
            ("old.crt", Kind::Root, vec![]),
        ]
    );
}

/// kubeadm holds the CA key: its leaves are kubeadm's to renew. The key
/// is seen by name only: an unreadable one changes nothing.
#[test]
fn a_key_beside_the_ca_means_kubeadm_renews() {
    let (tree, _) = kubeadm_tree();
    let key = tree.path().join("pki/ca.key");
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o000)).expect("chmod");
    let report = scan(tree.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    let api = entry(&report, "pki/apiserver.crt");
    assert_eq!((api.renewed_by, api.renewal), ("kubeadm", RENEW_BY_KUBEADM));
    // Without the key, the CA is offline: a ceremony renews the leaves.
    fs::remove_file(&key).expect("rm");
    let report = scan(tree.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    let api = entry(&report, "pki/apiserver.crt");
    assert_eq!(
        (api.renewed_by, api.renewal),
        ("sign-kubeadm", RENEW_KUBEADM_LEAF)
    );
    let ca = entry(&report, "pki/ca.crt");
    assert_eq!((ca.kind, ca.renewed_by), (Kind::Root, "root-init"));
    // A link named *.key is not a key beside the CA.
    std::os::unix::fs::symlink("/dev/null", &key).expect("symlink");
    let report = scan(tree.path(), at(JUNE_2025), DEFAULT_WARN_DAYS).expect("scan");
    assert_eq!(
        entry(&report, "pki/apiserver.crt").renewed_by,
        "sign-kubeadm"
    );
}
