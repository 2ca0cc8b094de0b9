//! `ceremony certs check-expiration` looking ahead, on what the shipped
//! ceremonies make: a kubeadm tree in external-CA mode (three roots) and an
//! opened intermediate bundle, with the CA section naming each root and
//! intermediate and the ceremony that rotates or renews it, the warning
//! window, and a leaf that outlives its intermediate (made with openssl,
//! as an online signer could).

mod common;

use common::{ok, openssl, text, Env};

const ROTATE_ROOT: &str = "rotate: a new root ceremony (ceremonies/root-init.toml), cross-sign, then `ceremony rotate plan` (docs/rotation.md)";
const RENEW_INTERMEDIATE: &str =
    "renew: a sign-requests ceremony with its issuer (ceremonies/sign-intermediate.toml)";
const RENEW_KUBEADM_LEAF: &str =
    "renew: a sign-requests ceremony with its issuer (ceremonies/sign-kubeadm.toml)";

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&text(&out.stdout)).expect("JSON")
}

fn by_path<'a>(list: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|c| {
            c["path"] == path
                || format!("{}#{}", c["path"].as_str().unwrap_or(""), c["index"]) == path
        })
        .unwrap_or_else(|| panic!("{path} not in {list}"))
}

#[test]
fn the_ca_section_names_roots_intermediates_and_their_ceremonies() {
    let env = Env::new();
    let recipient = common::bundles::kubeadm_world(&env);
    ok(&common::bundles::open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm"],
    ));

    // The kubeadm tree: three roots from root-init, no CA key beside them.
    let table = ok(&env.run(&["certs", "check-expiration", "kubeadm"]));
    let ca_section = table
        .split("\n\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no CA section:\n{table}"));
    let mut header = ca_section.lines();
    assert!(
        header
            .next()
            .is_some_and(|h| h.starts_with("CERTIFICATE AUTHORITY ")
                && h.contains(" KIND ")
                && h.contains(" ISSUER ")
                && h.ends_with(" RENEWAL")),
        "{ca_section}"
    );
    let cas: Vec<&str> = header.map(|l| l.split(' ').next().expect("name")).collect();
    assert_eq!(
        cas,
        ["pki/ca.crt", "pki/etcd/ca.crt", "pki/front-proxy-ca.crt"],
        "{table}"
    );
    for line in ca_section.lines().skip(1) {
        assert!(
            line.contains(" root ") && line.contains(" self-signed "),
            "{line}"
        );
        assert!(line.ends_with(ROTATE_ROOT), "{line}");
        // Ten years ahead: nothing to mark.
        assert!(line.contains(" 9y "), "{line}");
    }
    let api = table
        .lines()
        .find(|l| l.starts_with("pki/apiserver.crt "))
        .expect("apiserver row");
    assert!(api.ends_with(RENEW_KUBEADM_LEAF), "{api}");
    assert!(!table.contains("within 90 days"), "{table}");

    // JSON: the fields, and a window of 400 days takes in every leaf (365
    // days) and no root (3650 days).
    let out = env.run(&[
        "certs",
        "check-expiration",
        "kubeadm",
        "--json",
        "--warn-within",
        "400",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["warn_within_days"], 400);
    let certs = json["certificates"].as_array().expect("certificates");
    assert_eq!(certs.len(), 15, "{json}");
    for c in certs {
        let leaf = c["is_ca"] == false;
        assert_eq!(c["within_window"], leaf, "{c}");
        assert_eq!(c["outlives_issuer"], serde_json::Value::Null, "{c}");
        if leaf {
            assert_eq!(c["kind"], "leaf", "{c}");
            assert_eq!(c["renewed_by"], "sign-kubeadm", "{c}");
            assert_eq!(c["issued_by"].as_array().map(Vec::len), Some(1), "{c}");
        }
    }
    let etcd_peer = by_path(&json["certificates"], "pki/etcd/peer.crt");
    assert_eq!(
        etcd_peer["issued_by"],
        serde_json::json!(["pki/etcd/ca.crt"])
    );
    let front = by_path(&json["certificates"], "pki/front-proxy-client.crt");
    assert_eq!(
        front["issued_by"],
        serde_json::json!(["pki/front-proxy-ca.crt"])
    );
    let cas = json["certificate_authorities"].as_array().expect("cas");
    assert_eq!(cas.len(), 3);
    for ca in cas {
        assert_eq!(ca["kind"], "root", "{ca}");
        assert_eq!(ca["renewed_by"], "root-init", "{ca}");
        assert_eq!(ca["renewal"], ROTATE_ROOT, "{ca}");
        assert_eq!(ca["issued_by"], serde_json::json!([]), "{ca}");
        assert_eq!(ca["within_window"], false, "{ca}");
    }
    // The table marks the same leaves.
    let table = ok(&env.run(&[
        "certs",
        "check-expiration",
        "kubeadm",
        "--warn-within",
        "400",
    ]));
    assert!(
        table.ends_with(
            "\n12 certificate(s) expire within 400 days or have expired; 0 outlive their issuer\n"
        ),
        "{table}"
    );
    let bad = env.run(&[
        "certs",
        "check-expiration",
        "kubeadm",
        "--warn-within",
        "ninety",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("invalid value 'ninety' for '--warn-within <DAYS>'"),
        "{}",
        text(&bad.stderr)
    );

    // The intermediate, signed by the shipped ceremony and opened.
    common::make_requests(&env);
    let sha = common::seal(
        &env,
        "requester/intermediate.toml",
        "requests/intermediate.tar",
    );
    let script = std::fs::read_to_string(common::repo().join("ceremonies/sign-intermediate.toml"))
        .expect("shipped script")
        .replace("REQUEST-BUNDLE-SHA256", &sha)
        .replace("REQUESTER-AGE-RECIPIENT", &recipient)
        .replace("/usr/lib/softhsm/libsofthsm2.so", &common::module());
    let script = env.write("sign-intermediate.toml", &script);
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));
    ok(&common::bundles::open(
        &env,
        "bundles/intermediate.tar.age",
        &["--out", "opened"],
    ));
    let inter = "opened/certs/controller-manager-signer.crt";
    let json = json_of(&env.run(&["certs", "check-expiration", "opened", "--json"]));
    let row = by_path(
        &json["certificate_authorities"],
        "certs/controller-manager-signer.crt",
    );
    assert_eq!(row["kind"], "intermediate", "{row}");
    assert_eq!(row["renewed_by"], "sign-intermediate", "{row}");
    assert_eq!(row["renewal"], RENEW_INTERMEDIATE, "{row}");
    assert!(
        row["issued_by"]
            .as_array()
            .expect("issued_by")
            .iter()
            .any(|i| i == "pki/ca.crt"),
        "{row}"
    );
    let root = by_path(&json["certificate_authorities"], "pki/ca.crt");
    assert_eq!(
        (&root["kind"], &root["renewed_by"]),
        (&"root".into(), &"root-init".into())
    );

    // An online signer's leaf that outlives the intermediate (openssl does
    // not stop it): flagged, named with its CA, exit 1.
    let csr = common::openssl_csr(
        &env,
        "late",
        "ec:P-256",
        "/O=system:nodes/CN=system:node:late",
        &[],
    );
    let late = env.path("opened/certs/late.crt");
    ok(&openssl(
        env.dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            csr.to_str().expect("utf-8"),
            "-CA",
            inter,
            "-CAkey",
            "requester/keys/controller-manager-signer.key",
            "-days",
            "5000",
            "-out",
            late.to_str().expect("utf-8"),
        ],
    ));
    ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-partial_chain",
            "-CAfile",
            inter,
            late.to_str().expect("utf-8"),
        ],
    ));
    let end = |cert: &str| {
        ok(&openssl(
            env.dir.path(),
            &["x509", "-in", cert, "-noout", "-enddate"],
        ))
    };
    assert_ne!(end(inter), end("opened/certs/late.crt"));
    let out = env.run(&["certs", "check-expiration", "opened"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: certs/late.crt: expires ")
            && stderr.contains(", after its issuer certs/controller-manager-signer.crt ("),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 certificate(s) expire after their issuing CA"),
        "{stderr}"
    );
    let table = text(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.starts_with("certs/late.crt "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains(" outlives certs/controller-manager-signer.crt "),
        "{line}"
    );
    assert!(
        line.ends_with(
            "renew: the online signer that holds its intermediate's key (not a ceremony)"
        ),
        "{line}"
    );
    let json = json_of(&env.run(&["certs", "check-expiration", "opened", "--json"]));
    let late = by_path(&json["certificates"], "certs/late.crt");
    assert_eq!(
        late["outlives_issuer"],
        "certs/controller-manager-signer.crt"
    );
    assert_eq!(late["renewed_by"], "online-signer");
}
