//! Fidelity of the fill-in: a kubeadm-style kubeconfig with fields we do not
//! read (preferences, extensions, unknown keys, an unusual key order, typed
//! scalars) comes back with every field, in the same order, and only
//! `client-certificate-data` and an empty `certificate-authority-data` changed.

use std::process::Command;

use base64ct::{Base64, Encoding};
use yaml_serde::Value;

use super::*;

/// A fresh P-256 key (PKCS#8 PEM, made by openssl) and its DER
/// SubjectPublicKeyInfo, also from openssl, not from our own parser.
fn key_and_spki(dir: &Path) -> (String, Vec<u8>) {
    let key = dir.join("client.key");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
        out.stdout
    };
    let key_path = key.to_str().expect("utf-8 temp path");
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key_path,
    ]);
    let spki = run(&["pkey", "-in", key_path, "-pubout", "-outform", "DER"]);
    (std::fs::read_to_string(&key).expect("read key"), spki)
}

/// A kubeadm-shaped kubeconfig with extras kubeadm or an operator may add,
/// keys deliberately out of alphabetical order.
fn kubeconfig(key_b64: &str, ca_data: &str) -> String {
    format!(
        r#"kind: Config
apiVersion: v1
x-operator-note: filled by the offline ceremony
clusters:
- name: kubernetes
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: "{ca_data}"
    tls-server-name: kubernetes.default.svc
    insecure-skip-tls-verify: false
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: "0123"
        ttl: 3600
        nothing: null
- name: other
  cluster:
    server: https://other.example:6443
    certificate-authority: /etc/kubernetes/pki/other-ca.crt
contexts:
- name: kubernetes-admin@kubernetes
  context:
    user: kubernetes-admin
    cluster: kubernetes
    namespace: kube-system
    extensions: []
current-context: kubernetes-admin@kubernetes
preferences:
  colors: true
  extensions:
  - name: zz-first
    extension: {{z: 1, a: 2}}
users:
- name: kubernetes-admin
  user:
    client-key-data: {key_b64}
    zz-unknown-user-field: [3, 1, 2]
    exec-hint: "yes"
- name: someone-else
  user:
    token: abc
extensions:
- name: top-level
  extension:
    b: 1
    a: 2
"#
    )
}

/// Every scalar of `v` with its path, in document order: equal lists mean
/// the same keys, in the same order, with the same values and types.
fn flatten(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Mapping(m) => {
            out.push((path.into(), format!("mapping of {}", m.len())));
            for (k, child) in m {
                let key = k.as_str().expect("string keys in a kubeconfig");
                flatten(child, &format!("{path}.{key}"), out);
            }
        }
        Value::Sequence(s) => {
            out.push((path.into(), format!("sequence of {}", s.len())));
            for (i, child) in s.iter().enumerate() {
                flatten(child, &format!("{path}[{i}]"), out);
            }
        }
        scalar => out.push((path.into(), format!("{scalar:?}"))),
    }
}

fn flat(text: &str) -> Vec<(String, String)> {
    let doc: Value = yaml_serde::from_str(text).expect("YAML");
    let mut out = Vec::new();
    flatten(&doc, "", &mut out);
    out
}

#[test]
fn a_kubeconfig_round_trips_through_fill_in_with_only_the_certificate_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key_pem, spki) = key_and_spki(dir.path());
    let before = kubeconfig(&Base64::encode_string(key_pem.as_bytes()), "");
    let path = dir.path().join("admin.conf");
    std::fs::write(&path, &before).expect("write");
    let cert_pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let ca_pem = b"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";

    let after = fill_kubeconfig(&path, cert_pem, &spki, Some(ca_pem), false)
        .expect("fill")
        .expect("changed");
    let after = String::from_utf8(after).expect("utf-8");

    let cert_b64 = Base64::encode_string(cert_pem);
    let ca_b64 = Base64::encode_string(ca_pem);
    let ca_path = ".clusters[0].cluster.certificate-authority-data";
    let user = ".users[0].user";
    // Expected: the same list, the empty CA data filled where it stood, and
    // the certificate appended to the user's mapping, after its own fields.
    let mut expected = Vec::new();
    for (path, value) in flat(&before) {
        match path.as_str() {
            p if p == ca_path => expected.push((path, format!("{:?}", Value::from(&*ca_b64)))),
            p if p == user => expected.push((path, "mapping of 4".into())),
            ".users[0].user.exec-hint" => {
                expected.push((path, value));
                expected.push((
                    format!("{user}.client-certificate-data"),
                    format!("{:?}", Value::from(&*cert_b64)),
                ));
            }
            _ => expected.push((path, value)),
        }
    }
    assert_eq!(flat(&after), expected, "after:\n{after}");

    // The text keeps the top-level key order and the unread fields verbatim.
    let top: Vec<&str> = after
        .lines()
        .filter(|l| !l.starts_with([' ', '-']))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(
        top,
        [
            "kind",
            "apiVersion",
            "x-operator-note",
            "clusters",
            "contexts",
            "current-context",
            "preferences",
            "users",
            "extensions"
        ]
    );
    assert!(after.contains("audience: '0123'") || after.contains("audience: \"0123\""));
    // A second fill with the same certificate changes nothing.
    std::fs::write(&path, &after).expect("write");
    assert!(fill_kubeconfig(&path, cert_pem, &spki, Some(ca_pem), false)
        .expect("refill")
        .is_none());
}

#[test]
fn a_set_certificate_authority_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key_pem, spki) = key_and_spki(dir.path());
    let before = kubeconfig(&Base64::encode_string(key_pem.as_bytes()), "U0VU");
    let path = dir.path().join("admin.conf");
    std::fs::write(&path, &before).expect("write");
    let after = fill_kubeconfig(&path, b"CERT", &spki, Some(b"CA"), false)
        .expect("fill")
        .expect("changed");
    let after = flat(std::str::from_utf8(&after).expect("utf-8"));
    let ca = |f: &[(String, String)], p: &str| {
        f.iter().find(|(path, _)| path == p).map(|(_, v)| v.clone())
    };
    let set = ".clusters[0].cluster.certificate-authority-data";
    assert_eq!(ca(&after, set), ca(&flat(&before), set));
    // The cluster that names a CA file gets no data beside it.
    let file_cluster = ".clusters[1].cluster.certificate-authority-data";
    assert_eq!(ca(&after, file_cluster), None);
}

#[test]
fn client_key_data_that_is_not_padded_standard_base64_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("admin.conf");
    // Each refused form beside its padded, standard-alphabet twin, which
    // decodes and so fails later, on what it holds.
    for (refused, decodes) in [("QUJDRA", "QUJDRA=="), ("-_-_", "+/+/"), ("QU.D", "QUJD")] {
        let before = kubeconfig(refused, "");
        std::fs::write(&path, &before).expect("write");
        let err = fill_kubeconfig(&path, b"CERT", b"SPKI", None, false)
            .expect_err(refused)
            .to_string();
        assert!(
            err.ends_with("client-key-data is not base64: invalid Base64 encoding"),
            "{refused}: {err}"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), before);

        std::fs::write(&path, kubeconfig(decodes, "")).expect("write");
        let err = fill_kubeconfig(&path, b"CERT", b"SPKI", None, false)
            .expect_err(decodes)
            .to_string();
        assert!(!err.contains("not base64"), "{decodes}: {err}");
        assert!(err.contains("client-key-data"), "{decodes}: {err}");
    }
}
