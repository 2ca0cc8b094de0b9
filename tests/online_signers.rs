//! `bundle open --cert-manager` and `--istio`: the intermediate CA the
//! shipped ceremony signs for the controller-manager's signer, laid out with
//! the requester's own key for cert-manager's CA issuer (a kubernetes.io/tls
//! Secret) and Istio's plug-in CA (`cacerts`). Checked with outside tools:
//! the Secrets parse as Kubernetes YAML with exactly the keys each reader
//! wants, decoding to the right PEMs; `openssl verify -x509_strict` passes
//! on Istio's chain; `openssl pkey -pubout` of the key is the certificate's
//! public key. Refused, with nothing written: a key file that is not the
//! certificate's key, or that others can read; a leaf request; a request
//! the bundle does not hold; a bad Secret name.

mod common;

use std::os::unix::fs::PermissionsExt;

use base64ct::{Base64, Encoding};
use common::bundles::{files_under, open, refused};
use common::{ok, openssl, signed_cluster, text, Env};

const SIGNER: &str = "controller-manager-signer";
const SIGNER_KEY: &str = "requester/keys/controller-manager-signer.key";

fn read(env: &Env, rel: &str) -> Vec<u8> {
    std::fs::read(env.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// No output directory, and no hidden staging directory beside it.
fn assert_nothing_left(env: &Env) {
    assert!(!env.path("opened").exists());
    for entry in std::fs::read_dir(env.dir.path()).expect("read_dir") {
        let name = entry.expect("entry").file_name();
        assert!(
            !name.to_string_lossy().starts_with(".ceremony-tmp."),
            "{name:?} left behind"
        );
    }
}

fn mode(env: &Env, rel: &str) -> u32 {
    std::fs::metadata(env.path(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .permissions()
        .mode()
        & 0o777
}

/// The Secret at `rel`, parsed as YAML; checks what every Secret has and
/// returns its `data`, decoded, in order.
fn secret(env: &Env, rel: &str, name: &str, namespace: &str, kind: &str) -> Vec<(String, Vec<u8>)> {
    let doc: yaml_serde::Value =
        yaml_serde::from_slice(&read(env, rel)).expect("the Secret parses as YAML");
    let top: Vec<&str> = doc
        .as_mapping()
        .expect("a mapping")
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(top, ["apiVersion", "kind", "metadata", "type", "data"]);
    assert_eq!(doc["apiVersion"].as_str(), Some("v1"));
    assert_eq!(doc["kind"].as_str(), Some("Secret"));
    assert_eq!(doc["type"].as_str(), Some(kind));
    assert_eq!(doc["metadata"]["name"].as_str(), Some(name));
    assert_eq!(doc["metadata"]["namespace"].as_str(), Some(namespace));
    doc["data"]
        .as_mapping()
        .expect("data is a mapping")
        .iter()
        .map(|(k, v)| {
            let key = k.as_str().expect("a string key").to_string();
            let value = Base64::decode_vec(v.as_str().expect("a string value"))
                .unwrap_or_else(|e| panic!("{rel}: data.{key} is not base64: {e}"));
            (key, value)
        })
        .collect()
}

/// `openssl pkey -pubout` of a private key, or `openssl x509 -pubkey` of a certificate.
fn public_key(env: &Env, rel: &str, is_cert: bool) -> String {
    let path = env.path(rel);
    let path = path.to_str().expect("utf-8");
    let args: &[&str] = if is_cert {
        &["x509", "-noout", "-pubkey", "-in", path]
    } else {
        &["pkey", "-pubout", "-in", path]
    };
    ok(&openssl(env.dir.path(), args))
}

#[test]
fn the_shipped_intermediate_is_laid_out_for_cert_manager_and_istio() {
    let env = Env::new();
    signed_cluster(&env);
    let bundle = "bundles/intermediate.tar.age";
    let audit: &[&str] = if env.path("pki/audit-key.pub").exists() {
        &["--audit-key", "pki/audit-key.pub"]
    } else {
        &[]
    };

    // Refusals first, each naming the input and the rule; nothing written.
    let before = files_under(env.dir.path());
    let refusals: Vec<(Vec<String>, String)> = vec![
        (
            // Another key of the requester's: not this certificate's.
            vec![
                "--cert-manager".into(),
                format!("{SIGNER}=requester/keys/scheduler.key"),
            ],
            format!(
                "error: bundle {bundle}: request \"{SIGNER}\": --cert-manager key file requester/keys/scheduler.key: is not the private key of certs/{SIGNER}.crt (its public key differs from the certificate's)"
            ),
        ),
        (
            vec![
                "--istio".into(),
                format!("{SIGNER}=requester/keys/cp1-apiserver.key"),
            ],
            format!(
                "error: bundle {bundle}: request \"{SIGNER}\": --istio key file requester/keys/cp1-apiserver.key: is not the private key of certs/{SIGNER}.crt"
            ),
        ),
        (
            vec!["--istio".into(), "kube-proxy=requester/keys/kube-proxy.key".into()],
            format!(
                "error: bundle {bundle}: request \"kube-proxy\": --istio: not a certificate in this bundle (it holds {SIGNER})"
            ),
        ),
        (
            vec![
                "--cert-manager".into(),
                format!("{SIGNER}={SIGNER_KEY}"),
                "--secret-name".into(),
                "Signer_CA".into(),
            ],
            format!(
                "error: bundle {bundle}: request \"{SIGNER}\": --cert-manager: Secret name \"Signer_CA\" is not a DNS-1123 subdomain"
            ),
        ),
    ];
    for (extra, needle) in &refusals {
        let mut args: Vec<&str> = extra.iter().map(String::as_str).collect();
        args.extend(audit);
        args.extend(["--out", "opened"]);
        let out = open(&env, bundle, &args);
        refused(&out, needle);
        assert!(
            !text(&out.stderr).contains("PRIVATE KEY"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(files_under(env.dir.path()), before, "{extra:?}");
        assert_nothing_left(&env);
    }

    // The layouts go with --out only.
    let out = env.run(&[
        "bundle",
        "open",
        bundle,
        "--identity",
        "requester.agekey",
        "--ca",
        "pki/ca.crt",
        "--kubeadm",
        "kubeadm",
        "--istio",
        &format!("{SIGNER}={SIGNER_KEY}"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("the argument '--kubeadm <DIR>' cannot be used with '--istio"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(files_under(env.dir.path()), before);

    // A key file others can read is refused before it is read.
    let loose = env.path("loose.key");
    std::fs::copy(env.path(SIGNER_KEY), &loose).expect("copy");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let before = files_under(env.dir.path());
    let out = open(
        &env,
        bundle,
        &["--istio", &format!("{SIGNER}=loose.key"), "--out", "opened"],
    );
    refused(
        &out,
        &format!("error: bundle {bundle}: request \"{SIGNER}\": --istio key file loose.key: readable or writable by other users (mode 0644); a private key must be mode 0600"),
    );
    assert_eq!(files_under(env.dir.path()), before);
    assert_nothing_left(&env);

    // A leaf certificate is no online signer, even with its own key.
    let out = open(
        &env,
        "bundles/components.tar.age",
        &[
            "--cert-manager",
            "cp1-apiserver=requester/keys/cp1-apiserver.key",
            "--out",
            "opened",
        ],
    );
    refused(
        &out,
        "error: bundle bundles/components.tar.age: request \"cp1-apiserver\": --cert-manager: profile apiserver is a leaf profile; an online signer needs an intermediate CA certificate (profile intermediate-ca)",
    );
    assert_eq!(files_under(env.dir.path()), before);
    assert_nothing_left(&env);

    // The layouts, beside the bundle's own files.
    let mut args = vec![
        "--cert-manager".to_string(),
        format!("{SIGNER}={SIGNER_KEY}"),
        "--istio".into(),
        format!("{SIGNER}={SIGNER_KEY}"),
        "--namespace".into(),
        "signers".into(),
    ];
    args.extend(audit.iter().map(|s| s.to_string()));
    args.extend(["--out".into(), "opened".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let stdout = ok(&open(&env, bundle, &args));
    for file in [
        format!("opened/cert-manager/{SIGNER}.secret.yaml"),
        "opened/istio/cacerts/ca-key.pem".into(),
        "opened/istio/cacerts.secret.yaml".into(),
        format!("opened/certs/{SIGNER}.crt"),
    ] {
        assert!(stdout.contains(&file), "{file} not listed in:\n{stdout}");
    }
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");

    let key = read(&env, SIGNER_KEY);
    let cert = read(&env, &format!("opened/certs/{SIGNER}.crt"));
    let root = read(&env, "pki/ca.crt");
    let chain = [cert.as_slice(), &root].concat();

    // cert-manager: exactly tls.crt, tls.key, ca.crt, each the right PEM.
    let rel = format!("opened/cert-manager/{SIGNER}.secret.yaml");
    let data = secret(&env, &rel, SIGNER, "signers", "kubernetes.io/tls");
    let keys: Vec<&str> = data.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["tls.crt", "tls.key", "ca.crt"]);
    assert_eq!(
        data[0].1, chain,
        "tls.crt is the intermediate then the root"
    );
    assert_eq!(data[1].1, key, "tls.key is the requester's key");
    assert_eq!(data[2].1, root, "ca.crt is the pinned root");
    assert_eq!(mode(&env, &rel), 0o600);

    // Istio: the four files, then openssl's verdict on them.
    let dir = "opened/istio/cacerts";
    assert_eq!(read(&env, &format!("{dir}/ca-cert.pem")), cert);
    assert_eq!(read(&env, &format!("{dir}/ca-key.pem")), key);
    assert_eq!(read(&env, &format!("{dir}/root-cert.pem")), root);
    assert_eq!(read(&env, &format!("{dir}/cert-chain.pem")), chain);
    assert_eq!(mode(&env, &format!("{dir}/ca-key.pem")), 0o600);
    assert_eq!(mode(&env, &format!("{dir}/ca-cert.pem")), 0o644);
    let verified = ok(&openssl(
        &env.path(dir),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "root-cert.pem",
            "-untrusted",
            "cert-chain.pem",
            "ca-cert.pem",
        ],
    ));
    assert_eq!(verified.trim(), "ca-cert.pem: OK");
    assert_eq!(
        public_key(&env, &format!("{dir}/ca-key.pem"), false),
        public_key(&env, &format!("{dir}/ca-cert.pem"), true)
    );
    let data = secret(
        &env,
        "opened/istio/cacerts.secret.yaml",
        "cacerts",
        "istio-system",
        "Opaque",
    );
    assert_eq!(
        data,
        [
            ("ca-cert.pem".to_string(), cert.clone()),
            ("ca-key.pem".to_string(), key.clone()),
            ("root-cert.pem".to_string(), root.clone()),
            ("cert-chain.pem".to_string(), chain.clone()),
        ]
    );
    assert_eq!(mode(&env, "opened/istio/cacerts.secret.yaml"), 0o600);

    // kubectl, where installed, makes the same Secrets from the same files
    // (its generators run without a cluster); ours adds ca.crt.
    let istio_files = [
        "ca-cert.pem",
        "ca-key.pem",
        "root-cert.pem",
        "cert-chain.pem",
    ]
    .map(|f| format!("--from-file=opened/istio/cacerts/{f}"));
    let mut generic = vec![
        "create",
        "secret",
        "generic",
        "cacerts",
        "-n",
        "istio-system",
    ];
    generic.extend(istio_files.iter().map(String::as_str));
    kubectl_agrees(&env, &generic, "opened/istio/cacerts.secret.yaml", &[]);
    let tls = [
        "create",
        "secret",
        "tls",
        SIGNER,
        "-n",
        "signers",
        "--cert=opened/istio/cacerts/cert-chain.pem",
        &format!("--key={SIGNER_KEY}"),
    ];
    kubectl_agrees(&env, &tls, &rel, &["ca.crt"]);

    // Never over what is there: a second open into the same directory.
    let before = files_under(env.dir.path());
    let out = open(&env, bundle, &args);
    refused(&out, "error: output directory opened: not empty");
    assert_eq!(files_under(env.dir.path()), before);
}

/// When `kubectl` runs here: `kubectl ARGS --dry-run=client -o yaml` makes
/// a Secret whose type, name, namespace and data are those of the Secret at
/// `rel`, but for the data keys in `extra`, which only ours has.
fn kubectl_agrees(env: &Env, args: &[&str], rel: &str, extra: &[&str]) {
    let Ok(out) = std::process::Command::new("kubectl")
        .current_dir(env.dir.path())
        .args(args)
        .args(["--dry-run=client", "-o", "yaml"])
        .output()
    else {
        eprintln!("kubectl is not installed: its cross-check is skipped");
        return;
    };
    assert!(out.status.success(), "kubectl: {}", text(&out.stderr));
    let theirs: yaml_serde::Value = yaml_serde::from_slice(&out.stdout).expect("kubectl's YAML");
    let ours: yaml_serde::Value = yaml_serde::from_slice(&read(env, rel)).expect("our YAML");
    for field in ["apiVersion", "kind"] {
        assert_eq!(theirs[field], ours[field], "{field}");
    }
    // kubectl leaves out type Opaque, the API server's default.
    assert_eq!(
        theirs["type"].as_str().unwrap_or("Opaque"),
        ours["type"].as_str().expect("our type")
    );
    for field in ["name", "namespace"] {
        assert_eq!(
            theirs["metadata"][field], ours["metadata"][field],
            "{field}"
        );
    }
    let mut ours_data = ours["data"].as_mapping().expect("data").clone();
    for key in extra {
        assert!(ours_data.remove(*key).is_some(), "{key}");
    }
    assert_eq!(
        &ours_data,
        theirs["data"].as_mapping().expect("kubectl's data"),
        "{rel}"
    );
}
