//! kubeadm's external-CA flow on a kubeadm-shaped fixture (made with
//! openssl): seal straight from the tree, sign with the shipped ceremony,
//! open straight back into the tree, and check it with openssl.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{ok, openssl, text, Env};
use sha2::{Digest, Sha256};

const KEY_FILES: [&str; 7] = [
    "pki/apiserver.key",
    "pki/apiserver-kubelet-client.key",
    "pki/front-proxy-client.key",
    "pki/apiserver-etcd-client.key",
    "pki/etcd/server.key",
    "pki/etcd/peer.key",
    "pki/etcd/healthcheck-client.key",
];
const KUBECONFIGS: [&str; 5] = [
    "admin",
    "super-admin",
    "controller-manager",
    "scheduler",
    "kubelet",
];

fn fixture(env: &Env, dir: &str) {
    let out = Command::new(common::repo().join("softhsm/make-kubeadm.sh"))
        .env("KEY_TYPE", "ec")
        .arg(env.path(dir))
        .output()
        .expect("make-kubeadm.sh");
    assert!(out.status.success(), "make-kubeadm: {}", text(&out.stderr));
}

/// SHA-256 of every file under `dir`, by relative path.
fn digests(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let digest = Sha256::digest(std::fs::read(&p).expect("read"));
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                out.insert(
                    p.strip_prefix(base).expect("prefix").display().to_string(),
                    hex,
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A YAML field's value on its own line (`    client-key-data: …`).
fn yaml_field(conf: &str, field: &str) -> Option<String> {
    conf.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{field}: ")))
        .map(str::to_string)
}

fn decode_b64(env: &Env, value: &str, out: &str) -> String {
    let path = env.write(out, value);
    let decoded = Command::new("base64")
        .arg("-d")
        .arg(&path)
        .output()
        .expect("base64");
    assert!(decoded.status.success());
    std::fs::write(&path, &decoded.stdout).expect("write");
    path.display().to_string()
}

#[test]
fn seal_sign_and_open_a_kubeadm_tree() {
    let env = Env::new();
    common::root_init(&env);
    fixture(&env, "kubeadm");
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let before = digests(&env.path("kubeadm"));
    let keys_before: Vec<String> = KUBECONFIGS
        .iter()
        .map(|c| {
            let text =
                std::fs::read_to_string(env.path(&format!("kubeadm/{c}.conf"))).expect("conf");
            yaml_field(&text, "client-key-data").expect("key data")
        })
        .collect();

    let out = ok(&env.run(&[
        "request",
        "seal",
        "--kubeadm",
        "kubeadm",
        "--out",
        "requests/kubeadm.tar",
    ]));
    assert!(out.contains("sealed 12 request(s)"), "{out}");
    let sha = out
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .expect("sha")
        .to_string();
    assert_eq!(
        digests(&env.path("kubeadm")),
        before,
        "sealing changed the tree"
    );

    // The bundle holds no private key material.
    let tar = std::fs::read(env.path("requests/kubeadm.tar")).expect("bundle");
    let tar_text = String::from_utf8_lossy(&tar);
    assert!(
        !tar_text.contains("PRIVATE KEY"),
        "a PEM key is in the bundle"
    );
    for key in KEY_FILES {
        let pem = std::fs::read_to_string(env.path(&format!("kubeadm/{key}"))).expect("key");
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
        {
            assert!(!tar_text.contains(line), "{key} is in the bundle");
        }
        let der = Command::new("openssl")
            .args([
                "pkey",
                "-in",
                env.path(&format!("kubeadm/{key}")).to_str().expect("utf-8"),
                "-outform",
                "DER",
            ])
            .output()
            .expect("openssl pkey");
        // The P-256 private scalar: SEC1's `INTEGER 1, OCTET STRING (32 bytes)`.
        let marker = [0x02, 0x01, 0x01, 0x04, 0x20];
        let at = der
            .stdout
            .windows(marker.len())
            .position(|w| w == marker)
            .expect("a SEC1 private key inside the PKCS#8")
            + marker.len();
        let secret = &der.stdout[at..at + 32];
        assert!(
            !tar.windows(secret.len()).any(|w| w == secret),
            "{key}'s private scalar is in the bundle"
        );
    }
    for conf in KUBECONFIGS {
        let text =
            std::fs::read_to_string(env.path(&format!("kubeadm/{conf}.conf"))).expect("conf");
        let key = yaml_field(&text, "client-key-data").expect("key data");
        assert!(
            !tar_text.contains(&key[20..80]),
            "{conf}.conf's key is in the bundle"
        );
    }
    let manifest: serde_json::Value = {
        // manifest.json is the last member, after the CSRs.
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut names = Vec::new();
        let mut json = String::new();
        for entry in archive.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let name = entry.path().expect("path").to_string_lossy().into_owned();
            if name == "manifest.json" {
                std::io::Read::read_to_string(&mut entry, &mut json).expect("read");
            }
            names.push(name);
        }
        assert_eq!(names.last().map(String::as_str), Some("manifest.json"));
        assert!(names[..names.len() - 1]
            .iter()
            .all(|n| n.starts_with("csr/")));
        serde_json::from_str(&json).expect("json")
    };
    let profiles: BTreeMap<String, String> = manifest["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_string(),
                r["profile"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (id, profile) in [
        ("apiserver", "apiserver"),
        ("etcd-peer", "etcd-peer"),
        ("admin.conf", "admin"),
        ("super-admin.conf", "super-admin"),
        ("kubelet.conf", "kubelet-client"),
    ] {
        assert_eq!(profiles.get(id).map(String::as_str), Some(profile), "{id}");
    }

    let script = std::fs::read_to_string(common::repo().join("ceremonies/sign-kubeadm.toml"))
        .expect("shipped script")
        .replace("REQUEST-BUNDLE-SHA256", &sha)
        .replace("REQUESTER-AGE-RECIPIENT", &recipient)
        .replace("/usr/lib/softhsm/libsofthsm2.so", &common::module());
    let script = env.write("sign-kubeadm.toml", &script);
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));

    let opened = ok(&common::bundles::open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm"],
    ));
    assert!(
        opened.contains("verified: every checksum in SHA256SUMS"),
        "{opened}"
    );

    // kubeadm's external-CA layout: CA certificates without keys, every leaf beside its key.
    for ca in ["pki/ca.crt", "pki/etcd/ca.crt", "pki/front-proxy-ca.crt"] {
        assert!(env.path(&format!("kubeadm/{ca}")).exists(), "{ca}");
        assert!(!env
            .path(&format!("kubeadm/{}", ca.replace(".crt", ".key")))
            .exists());
    }
    let root_of = |cert: &str| {
        if cert.starts_with("pki/etcd/") || cert == "pki/apiserver-etcd-client.crt" {
            "pki/etcd/ca.crt"
        } else if cert == "pki/front-proxy-client.crt" {
            "pki/front-proxy-ca.crt"
        } else {
            "pki/ca.crt"
        }
    };
    let kdir = env.path("kubeadm");
    for key in KEY_FILES {
        let cert = key.replace(".key", ".crt");
        let verify = openssl(
            &kdir,
            &["verify", "-x509_strict", "-CAfile", root_of(&cert), &cert],
        );
        assert_eq!(ok(&verify).trim(), format!("{cert}: OK"));
        let cert_pub = ok(&openssl(
            &kdir,
            &["x509", "-in", &cert, "-noout", "-pubkey"],
        ));
        let key_pub = ok(&openssl(&kdir, &["pkey", "-in", key, "-pubout"]));
        assert_eq!(cert_pub, key_pub, "{cert} does not match {key}");
    }
    // Every kubeconfig's embedded certificate matches its embedded key and chains to the cluster CA.
    for conf in KUBECONFIGS {
        let text =
            std::fs::read_to_string(env.path(&format!("kubeadm/{conf}.conf"))).expect("conf");
        let cert = decode_b64(
            &env,
            &yaml_field(&text, "client-certificate-data").expect("filled"),
            &format!("check/{conf}.crt"),
        );
        let key = decode_b64(
            &env,
            &yaml_field(&text, "client-key-data").expect("key"),
            &format!("check/{conf}.key"),
        );
        let ca = decode_b64(
            &env,
            &yaml_field(&text, "certificate-authority-data").expect("ca"),
            &format!("check/{conf}-ca.crt"),
        );
        ok(&openssl(
            &kdir,
            &[
                "verify",
                "-x509_strict",
                "-purpose",
                "sslclient",
                "-CAfile",
                "pki/ca.crt",
                &cert,
            ],
        ));
        assert_eq!(
            std::fs::read(&ca).expect("ca"),
            std::fs::read(env.path("kubeadm/pki/ca.crt")).expect("ca")
        );
        let cert_pub = ok(&openssl(
            &kdir,
            &["x509", "-in", &cert, "-noout", "-pubkey"],
        ));
        let key_pub = ok(&openssl(&kdir, &["pkey", "-in", &key, "-pubout"]));
        assert_eq!(cert_pub, key_pub, "{conf}.conf");
    }
    // No file that held a key changed: every .key byte for byte, every
    // kubeconfig's client-key-data, and the CSRs.
    let after = digests(&env.path("kubeadm"));
    for (path, digest) in before.iter().filter(|(p, _)| !p.ends_with(".conf")) {
        assert_eq!(after.get(path), Some(digest), "{path} changed");
    }
    for (conf, key) in KUBECONFIGS.iter().zip(&keys_before) {
        let now = std::fs::read_to_string(env.path(&format!("kubeadm/{conf}.conf"))).expect("conf");
        assert_eq!(
            yaml_field(&now, "client-key-data").as_ref(),
            Some(key),
            "{conf}.conf's key changed"
        );
    }

    // Expiry at a glance, like kubeadm certs check-expiration.
    let table = ok(&env.run(&["certs", "check-expiration", "kubeadm"]));
    for needle in [
        "admin.conf ",
        "kubelet.conf ",
        "pki/apiserver.crt ",
        "pki/etcd/peer.crt ",
    ] {
        let line = table
            .lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{needle} missing:\n{table}"));
        // Issued for 365 days moments ago: 364d, or 1y when the whole run
        // fit in the second the certificates were signed (notAfter is whole seconds).
        assert!(line.contains(" 364d ") || line.contains(" 1y "), "{line}");
    }
    assert!(table.contains("CERTIFICATE AUTHORITY"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&ok(&env.run(&[
        "certs",
        "check-expiration",
        "kubeadm",
        "--json",
    ])))
    .expect("json");
    let certs = json["certificates"].as_array().expect("certificates");
    assert_eq!(certs.len(), 15, "{json}");
    assert!(certs.iter().all(|c| c["expired"] == false));
    const YEAR: i64 = 365 * 86_400;
    for c in certs.iter().filter(|c| c["is_ca"] == false) {
        let left = c["residual_seconds"].as_i64().expect("residual_seconds");
        assert!((YEAR - 600..=YEAR).contains(&left), "{c}");
    }

    // Opening again changes nothing; a different certificate is refused without --force.
    let again = ok(&common::bundles::open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm"],
    ));
    assert!(again.contains("0 file(s) written"), "{again}");
    std::fs::write(env.path("kubeadm/pki/apiserver.crt"), b"not this one\n").expect("write");
    let snapshot = digests(&env.path("kubeadm"));
    let out = common::bundles::open(&env, "bundles/kubeadm.tar.age", &["--kubeadm", "kubeadm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pki/apiserver.crt: already holds a different certificate"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("hint: pass --force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        digests(&env.path("kubeadm")),
        snapshot,
        "a refused open wrote something"
    );
    ok(&common::bundles::open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm", "--force"],
    ));
    ok(&openssl(
        &kdir,
        &["verify", "-CAfile", "pki/ca.crt", "pki/apiserver.crt"],
    ));
}

#[test]
fn a_certificate_that_does_not_match_the_key_beside_it_is_refused_and_nothing_is_written() {
    let env = Env::new();
    common::root_init(&env);
    fixture(&env, "kubeadm");
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let out = ok(&env.run(&[
        "request",
        "seal",
        "--kubeadm",
        "kubeadm",
        "--out",
        "requests/kubeadm.tar",
    ]));
    let sha = out
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .expect("sha")
        .to_string();
    let script = common::sign_script(
        "requests/kubeadm.tar",
        &sha,
        "kubeadm",
        &recipient,
        "allow_break_glass = true\n[step.cluster]\nnode_networks = [\"10.0.0.0/24\"]",
    );
    let script = env.write("sign.toml", &script);
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));

    // Swap two keys: neither certificate matches the key beside it any more.
    let a = std::fs::read(env.path("kubeadm/pki/front-proxy-client.key")).expect("key");
    let b = std::fs::read(env.path("kubeadm/pki/apiserver-etcd-client.key")).expect("key");
    std::fs::write(env.path("kubeadm/pki/front-proxy-client.key"), &b).expect("write");
    std::fs::write(env.path("kubeadm/pki/apiserver-etcd-client.key"), &a).expect("write");
    let before = digests(&env.path("kubeadm"));
    let out = common::bundles::open(&env, "bundles/kubeadm.tar.age", &["--kubeadm", "kubeadm"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(".key: does not match the certificate issued for request"),
        "{stderr}"
    );
    assert_eq!(
        digests(&env.path("kubeadm")),
        before,
        "a refused open wrote something"
    );
}

#[test]
fn sealing_a_tree_without_csrs_fails_clearly() {
    let env = Env::new();
    fixture(&env, "kubeadm");
    for csr in [
        "pki/apiserver.csr",
        "pki/apiserver-kubelet-client.csr",
        "pki/front-proxy-client.csr",
        "pki/apiserver-etcd-client.csr",
        "pki/etcd/server.csr",
        "pki/etcd/peer.csr",
        "pki/etcd/healthcheck-client.csr",
        "admin.conf.csr",
        "super-admin.conf.csr",
        "controller-manager.conf.csr",
        "scheduler.conf.csr",
        "kubelet.conf.csr",
    ] {
        std::fs::remove_file(env.path(&format!("kubeadm/{csr}"))).expect(csr);
    }
    let out = env.run(&["request", "seal", "--kubeadm", "kubeadm", "--out", "b.tar"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "manifest kubeadm: holds no CSR (looked for pki/*.csr, pki/etcd/*.csr and *.conf.csr)"
        ),
        "{stderr}"
    );
    assert!(!env.path("b.tar").exists());
}

#[test]
fn an_unknown_csr_needs_an_explicit_profile() {
    let env = Env::new();
    fixture(&env, "kubeadm");
    let csr = common::openssl_csr(
        &env,
        "extra",
        "ec:P-256",
        "/O=system:nodes/CN=system:node:cp1",
        &["-addext", "subjectAltName=DNS:cp1"],
    );
    std::fs::copy(csr, env.path("kubeadm/pki/kubelet-serving.csr")).expect("copy");
    let out = env.run(&["request", "seal", "--kubeadm", "kubeadm", "--out", "b.tar"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pki/kubelet-serving.csr: no kubeadm profile for this file name; name one with --map pki/kubelet-serving.csr=PROFILE"),
        "{}",
        text(&out.stderr)
    );
    assert!(!env.path("b.tar").exists());
    let out = ok(&env.run(&[
        "request",
        "seal",
        "--kubeadm",
        "kubeadm",
        "--map",
        "pki/kubelet-serving.csr=kubelet-serving",
        "--out",
        "b.tar",
    ]));
    assert!(out.contains("sealed 13 request(s)"), "{out}");
}
