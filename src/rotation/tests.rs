use super::*;

#[test]
fn phase_names_and_ca_files_follow_kubeadm() {
    assert_eq!(PHASES.len(), 3);
    let rels: Vec<&str> = CA_FILES.iter().map(|(_, rel)| *rel).collect();
    assert_eq!(rels, ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"]);
}

#[test]
fn the_shipped_signing_script_becomes_phase_two_with_the_new_issuers() {
    let req = Request {
        current: "pki".into(),
        new: "pki-2027".into(),
        kubeadm: "kubeadm".into(),
        out: "rotation".into(),
        new_key_labels: vec![("etcd".into(), "etcd-root-ca-2027".into())],
    };
    let cert = |path: &str| Root {
        role: "cluster",
        rel: "ca.crt",
        path: path.into(),
        pem: String::new(),
        cert: test_cert(),
        key_id: vec![1],
    };
    let mut roots = Vec::new();
    for (role, rel) in CA_FILES {
        let mut current = cert(&format!("pki/{rel}"));
        let mut new = cert(&format!("pki-2027/{rel}"));
        current.role = role;
        current.rel = rel;
        new.role = role;
        new.rel = rel;
        roots.push((current, new));
    }
    let pairs: Vec<(&Root, &Root)> = roots.iter().map(|(c, n)| (c, n)).collect();
    let cx = checklist::Context {
        req: &req,
        roots: &pairs,
        kubeconfigs: &[],
        phase3_pending: &[],
    };
    let script = checklist::sign_script(&cx);
    assert!(
        script.contains("key_label = \"NEW-CLUSTER-ROOT-KEY-LABEL\""),
        "{script}"
    );
    assert!(
        script.contains("key_label = \"etcd-root-ca-2027\""),
        "{script}"
    );
    assert!(
        script.contains("certificate = \"pki-2027/ca.crt\""),
        "{script}"
    );
    assert!(
        script.contains("certificate = \"pki-2027/etcd/ca.crt\""),
        "{script}"
    );
    assert!(
        script.contains("bundle = \"requests/rotation.tar\""),
        "{script}"
    );
    assert!(!script.contains("\"cluster-root-ca\""), "{script}");
    assert!(crate::ceremony::script::parse(&script).is_ok_and(|s| s.steps.len() == 1));
}

/// A self-signed CA certificate (made once with openssl req -x509).
const ROOT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBfTCCASOgAwIBAgIUIEBJl5KdXPXOYLqzu6NTYjg1O4UwCgYIKoZIzj0EAwIw\nFDESMBAGA1UEAwwJdGVzdC1yb290MB4XDTI2MTIwMzA4MjcxM1oXDTM2MTEzMDA4\nMjcxM1owFDESMBAGA1UEAwwJdGVzdC1yb290MFkwEwYHKoZIzj0CAQYIKoZIzj0D\nAQcDQgAEfaO847Q8ZMpqI928DE15YKA1veglR4Eb+A2PWQ9sG41g+7kcMZHp8CwF\nm4rXCak1tPi3zqfsBZ9Nvx7XkOIBnaNTMFEwHQYDVR0OBBYEFDKuQDzPeJlwAMo5\naxdETY7SqXDDMB8GA1UdIwQYMBaAFDKuQDzPeJlwAMo5axdETY7SqXDDMA8GA1Ud\nEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhALwZEc3x/TUXjkZaYBsZ4Qgd\n2Hde+drVI1Io5pm5XzLTAiA+WFpaijBUzTML0T+pzq+3YUNqm0xbTCHvpEAFankP\nZQ==\n-----END CERTIFICATE-----\n";

fn test_cert() -> Certificate {
    use der::DecodePem;
    Certificate::from_pem(ROOT_PEM.as_bytes()).expect("a test certificate")
}
