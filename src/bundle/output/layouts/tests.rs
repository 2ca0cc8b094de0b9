use super::*;

use std::os::unix::fs::PermissionsExt;

#[test]
fn dns1123_names_and_labels() {
    for ok in [
        "controller-manager-signer",
        "a",
        "a.b-c",
        "x1",
        "cert-manager",
    ] {
        assert!(is_dns1123_subdomain(ok), "{ok}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "a..b", ".a", "a.", "ä"] {
        assert!(!is_dns1123_subdomain(bad), "{bad}");
    }
    assert!(is_dns1123_subdomain(&["a"; 127].join(".")));
    assert!(!is_dns1123_subdomain(&"a".repeat(254)));
    assert!(is_dns1123_label("istio-system"));
    assert!(!is_dns1123_label("a.b"));
    assert!(is_dns1123_label(&"a".repeat(63)));
    assert!(!is_dns1123_label(&"a".repeat(64)));
}

fn cert_manager(request: &str, name: &str, namespace: &str) -> Layout {
    Layout::CertManager {
        request: request.into(),
        key: "k.key".into(),
        name: name.into(),
        namespace: namespace.into(),
    }
}

fn refused(layouts: &[Layout]) -> String {
    check_requests(Path::new("b.tar.age"), layouts)
        .expect_err("refused")
        .to_string()
}

#[test]
fn requests_are_checked_before_the_bundle_is_read() {
    let istio = Layout::Istio {
        request: "signer".into(),
        key: "k.key".into(),
    };
    assert!(check_requests(
        Path::new("b"),
        &[
            cert_manager("signer", "signer", "cert-manager"),
            istio.clone()
        ]
    )
    .is_ok());
    assert_eq!(
        refused(&[cert_manager("Signer_1", "Signer_1", "cert-manager")]),
        "bundle b.tar.age: request \"Signer_1\": --cert-manager: Secret name \"Signer_1\" is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253); give --secret-name"
    );
    assert!(refused(&[cert_manager("s", "s", "Bad_NS")])
        .contains("--namespace \"Bad_NS\" is not a DNS-1123 label"));
    assert!(
        refused(&[cert_manager("a", "x", "n"), cert_manager("b", "x", "n")])
            .contains("a second Secret would be named \"x\" in namespace \"n\"")
    );
    assert!(
        refused(&[cert_manager("a", "a", "n"), cert_manager("a", "b", "n")])
            .contains("--cert-manager names it twice")
    );
    let other = Layout::Istio {
        request: "other".into(),
        key: "k.key".into(),
    };
    assert!(refused(&[istio, other]).contains("--istio is given twice"));
}

#[test]
fn a_secret_manifest_is_kubernetes_yaml_with_base64_data() {
    let yaml = secret_yaml(
        "signer",
        "cert-manager",
        "kubernetes.io/tls",
        &[
            ("tls.crt", b"chain\n"),
            ("tls.key", b""),
            ("ca.crt", b"root"),
        ],
    );
    let doc: yaml_serde::Value =
        yaml_serde::from_slice(&yaml).expect("the manifest parses as YAML");
    assert_eq!(doc["apiVersion"].as_str(), Some("v1"));
    assert_eq!(doc["kind"].as_str(), Some("Secret"));
    assert_eq!(doc["type"].as_str(), Some("kubernetes.io/tls"));
    assert_eq!(doc["metadata"]["name"].as_str(), Some("signer"));
    assert_eq!(doc["metadata"]["namespace"].as_str(), Some("cert-manager"));
    let data = doc["data"].as_mapping().expect("data is a mapping");
    let keys: Vec<&str> = data.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(keys, ["tls.crt", "tls.key", "ca.crt"]);
    let decode = |k: &str| Base64::decode_vec(doc["data"][k].as_str().expect("a string"));
    assert_eq!(decode("tls.crt").expect("base64"), b"chain\n");
    assert_eq!(decode("tls.key").expect("base64"), b"");
    assert_eq!(decode("ca.crt").expect("base64"), b"root");
}

#[test]
fn names_that_look_like_numbers_or_booleans_stay_strings() {
    for name in ["123", "true", "null", "1e3"] {
        let yaml = secret_yaml(name, "yes", "Opaque", &[]);
        let doc: yaml_serde::Value = yaml_serde::from_slice(&yaml).expect("YAML");
        assert_eq!(doc["metadata"]["name"].as_str(), Some(name));
        assert_eq!(doc["metadata"]["namespace"].as_str(), Some("yes"));
    }
}

#[test]
fn a_layout_file_never_shows_its_bytes() {
    let file = LayoutFile {
        path: "istio/cacerts/ca-key.pem".into(),
        bytes: Zeroizing::new(b"-----BEGIN PRIVATE KEY-----".to_vec()),
        mode: 0o600,
    };
    let shown = format!("{file:?}");
    assert!(
        shown.contains("[redacted]") && shown.contains("0600"),
        "{shown}"
    );
    assert!(!shown.contains("BEGIN"), "{shown}");
}

fn layout_file(path: &str, mode: u32) -> LayoutFile {
    LayoutFile {
        path: path.into(),
        bytes: Zeroizing::new(path.as_bytes().to_vec()),
        mode,
    }
}

#[test]
fn layout_files_get_their_modes_and_never_replace_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("staged");
    std::fs::create_dir(&root).expect("mkdir");
    let files = [
        layout_file("istio/cacerts/ca-key.pem", 0o600),
        layout_file("istio/cacerts/ca-cert.pem", 0o644),
        layout_file("istio/cacerts.secret.yaml", 0o600),
    ];
    place::fill(&root, &files).expect("fill");
    for f in &files {
        let meta = std::fs::metadata(root.join(&f.path)).expect("written");
        assert_eq!(meta.permissions().mode() & 0o777, f.mode, "{}", f.path);
        assert_eq!(std::fs::read(root.join(&f.path)).expect("read"), *f.bytes);
    }
    // Neither a directory nor a file that is already there is reused.
    let again = place::fill(&root, &files[..1]).expect_err("the directory exists");
    assert!(
        again.to_string().contains("istio: create directory"),
        "{again}"
    );
    std::fs::write(root.join("key.pem"), b"before").expect("write");
    let again = place::fill(&root, &[layout_file("key.pem", 0o600)]).expect_err("the file exists");
    assert!(again.to_string().contains("key.pem: create"), "{again}");
    assert_eq!(
        std::fs::read(root.join("key.pem")).expect("read"),
        b"before"
    );
}

#[test]
fn the_staged_directory_takes_only_a_free_or_empty_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let staged = dir.path().join("staged");
    std::fs::create_dir(&staged).expect("mkdir");
    std::fs::write(staged.join("f"), b"x").expect("write");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("g"), b"y").expect("write");
    let e = place::place(&staged, &out, true).expect_err("out is not empty");
    assert!(matches!(e, Error::NotEmpty { .. }), "{e}");
    let e = place::place(&staged, &out, false).expect_err("out exists");
    assert!(matches!(e, Error::Exists { .. }), "{e}");
    assert!(staged.join("f").exists() && out.join("g").exists());
    std::fs::remove_file(out.join("g")).expect("rm");
    place::place(&staged, &out, true).expect("an empty directory is replaced");
    assert_eq!(std::fs::read(out.join("f")).expect("read"), b"x");
}
