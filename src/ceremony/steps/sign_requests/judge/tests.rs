//! Tests for what makes requests of one step unsignable together: the same
//! public key, and output paths that clash (exactly, without case, or as a
//! file where another needs a directory).

use super::clash;
use crate::bundle::request::RequestEntry;
use crate::profile::Rejection;

fn entry(id: &str, kubeadm_path: Option<&str>, kubeconfig: Option<&str>) -> RequestEntry {
    RequestEntry {
        id: id.into(),
        profile: "admin".into(),
        csr: format!("csr/{id}.csr"),
        csr_sha256: String::new(),
        node: None,
        dns: vec![],
        ips: vec![],
        emails: vec![],
        uris: vec![],
        validity_days: None,
        kubeadm_path: kubeadm_path.map(str::to_string),
        kubeconfig: kubeconfig.map(str::to_string),
    }
}

/// The verdicts after the path check, as rules (`ok` when approved); `ca`
/// marks the requests that are CAs.
fn paths(entries: &[RequestEntry], ca: &[&str]) -> Vec<String> {
    let mut verdicts: Vec<Result<bool, Rejection>> = entries
        .iter()
        .map(|e| Ok(ca.contains(&e.id.as_str())))
        .collect();
    clash::output_paths(entries, &mut verdicts, |is_ca| *is_ca);
    rules(verdicts)
}

fn rules<T>(verdicts: Vec<Result<T, Rejection>>) -> Vec<String> {
    verdicts
        .into_iter()
        .map(|v| v.map_or_else(|r| r.rule, |_| "ok".into()))
        .collect()
}

#[test]
fn the_same_public_key_rejects_both_requests() {
    let entries = [
        entry("a", None, None),
        entry("b", None, None),
        entry("c", None, None),
        entry("d", None, None),
    ];
    let keys = [Some([1; 32]), Some([2; 32]), Some([1; 32]), None];
    let mut verdicts: Vec<Result<(), Rejection>> = vec![Ok(()); 4];
    clash::same_keys(&entries, &keys, &mut verdicts);
    assert_eq!(
        rules(verdicts),
        [
            "its public key is also in request c: each certificate needs its own key",
            "ok",
            "its public key is also in request a: each certificate needs its own key",
            "ok",
        ]
    );
    // An earlier rejection keeps its rule; the other request is still named.
    let mut verdicts: Vec<Result<(), Rejection>> = vec![
        Err(Rejection {
            rule: "earlier".into(),
            hint: None,
        }),
        Ok(()),
        Ok(()),
        Ok(()),
    ];
    clash::same_keys(&entries, &keys, &mut verdicts);
    assert_eq!(
        rules(verdicts)[..3],
        [
            "earlier",
            "ok",
            "its public key is also in request a: each certificate needs its own key"
        ]
    );
}

#[test]
fn clashing_output_paths_reject_both_requests() {
    // One's kubeadm_path is another's certs/<id>.crt.
    assert_eq!(
        paths(
            &[
                entry("a", Some("certs/b.crt"), None),
                entry("b", None, None)
            ],
            &[]
        ),
        [
            "kubeadm_path certs/b.crt collides with request b's certificate file certs/b.crt",
            "certificate file certs/b.crt collides with request a's kubeadm_path certs/b.crt",
        ]
    );
    // Paths differing only in case.
    assert_eq!(
        paths(
            &[entry("a", Some("pki/apiserver.crt"), None), entry("b", Some("PKI/Apiserver.crt"), None)],
            &[]
        ),
        [
            "kubeadm_path pki/apiserver.crt collides with request b's kubeadm_path PKI/Apiserver.crt when case is ignored",
            "kubeadm_path PKI/Apiserver.crt collides with request a's kubeadm_path pki/apiserver.crt when case is ignored",
        ]
    );
    // Exactly the same path.
    assert_eq!(
        paths(
            &[
                entry("a", Some("pki/x.crt"), None),
                entry("b", Some("pki/x.crt"), None)
            ],
            &[]
        ),
        [
            "kubeadm_path pki/x.crt collides with request b's kubeadm_path pki/x.crt",
            "kubeadm_path pki/x.crt collides with request a's kubeadm_path pki/x.crt",
        ]
    );
    // A CA's chain file is another request's certificate file.
    assert_eq!(
        paths(&[entry("a", None, None), entry("a.chain", None, None)], &["a"]),
        [
            "chain file certs/a.chain.crt collides with request a.chain's certificate file certs/a.chain.crt",
            "certificate file certs/a.chain.crt collides with request a's chain file certs/a.chain.crt",
        ]
    );
    // A request's own two paths.
    assert_eq!(
        paths(&[entry("a", Some("certs/A.crt"), None)], &[]),
        ["kubeadm_path certs/A.crt collides with request a's certificate file certs/a.crt when case is ignored"]
    );
    // Kubeconfigs, exactly and without case.
    assert_eq!(
        paths(
            &[entry("a", None, Some("admin.conf")), entry("b", None, Some("Admin.conf")), entry("c", None, Some("admin.conf"))],
            &[]
        ),
        [
            "kubeconfig admin.conf collides with request b's kubeconfig Admin.conf when case is ignored",
            "kubeconfig Admin.conf collides with request a's kubeconfig admin.conf when case is ignored",
            "kubeconfig admin.conf collides with request a's kubeconfig admin.conf",
        ]
    );
}

#[test]
fn paths_of_the_bundle_itself_are_taken() {
    assert_eq!(
        paths(
            &[
                entry("a", Some("pki/ca.crt"), None),
                entry("b", Some("pki/Etcd/CA.crt"), None),
                entry("c", Some("pki/ca.crt/x.crt"), None),
                entry("d", Some("manifest.json/x.crt"), None),
                entry("e", Some("pki/front-proxy-ca.crt"), None),
                entry("f", Some("pki/etcd/server.crt"), None),
            ],
            &[]
        ),
        [
            "kubeadm_path pki/ca.crt collides with the cluster CA certificate pki/ca.crt",
            "kubeadm_path pki/Etcd/CA.crt collides with the etcd CA certificate pki/etcd/ca.crt",
            "kubeadm_path pki/ca.crt/x.crt collides with the cluster CA certificate pki/ca.crt, a file where this needs a directory",
            "kubeadm_path manifest.json/x.crt collides with the bundle's manifest.json, a file where this needs a directory",
            "kubeadm_path pki/front-proxy-ca.crt collides with the front-proxy CA certificate pki/front-proxy-ca.crt",
            "ok",
        ]
    );
    // A path another request needs as a directory.
    assert_eq!(
        paths(&[entry("a", Some("pki/x/y.crt"), None), entry("b", Some("PKI/X"), None)], &[]),
        [
            "kubeadm_path pki/x/y.crt collides with request b's kubeadm_path PKI/X, a file where this needs a directory",
            "kubeadm_path PKI/X collides with request a's kubeadm_path pki/x/y.crt, which needs it as a directory",
        ]
    );
    // The other way round.
    assert_eq!(
        paths(&[entry("b", Some("PKI/X"), None), entry("a", Some("pki/x/y.crt"), None)], &[]),
        [
            "kubeadm_path PKI/X collides with request a's kubeadm_path pki/x/y.crt, which needs it as a directory",
            "kubeadm_path pki/x/y.crt collides with request b's kubeadm_path PKI/X, a file where this needs a directory",
        ]
    );
}

#[test]
fn rejected_requests_claim_no_path() {
    let entries = [
        entry("a", Some("pki/x.crt"), None),
        entry("b", Some("pki/x.crt"), None),
    ];
    let mut verdicts: Vec<Result<bool, Rejection>> = vec![
        Err(Rejection {
            rule: "earlier".into(),
            hint: None,
        }),
        Ok(false),
    ];
    clash::output_paths(&entries, &mut verdicts, |is_ca| *is_ca);
    assert_eq!(rules(verdicts), ["earlier", "ok"]);
}

/// A CSR holding only a key: `spki` is an EC P-256 SubjectPublicKeyInfo
/// with the point `point`.
fn ec_csr(point: &[u8]) -> crate::x509::Csr {
    use der::Encode;
    let spki = spki::SubjectPublicKeyInfoOwned {
        algorithm: spki::AlgorithmIdentifierOwned {
            oid: der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
            parameters: Some(der::asn1::Any::from(
                &der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
            )),
        },
        subject_public_key: der::asn1::BitString::from_bytes(point).expect("bits"),
    };
    crate::x509::Csr {
        der: vec![],
        subject: x509_cert::name::Name::default(),
        spki_der: spki.to_der().expect("der"),
        key: crate::x509::KeyKind::P256,
        requests_ca: false,
        requested_sans: vec![],
    }
}

#[test]
fn a_key_is_the_same_key_compressed_or_not() {
    let x = [7u8; 32];
    let (y_even, y_odd) = ([8u8; 32], [9u8; 32]);
    let uncompressed = |y: &[u8; 32]| [&[4u8][..], &x, y].concat();
    let compressed = |prefix: u8| [&[prefix][..], &x].concat();
    let id = |point: &[u8]| clash::key_identity(&ec_csr(point)).expect("parses");
    assert_eq!(id(&uncompressed(&y_even)), id(&compressed(2)));
    assert_eq!(id(&uncompressed(&y_odd)), id(&compressed(3)));
    assert_ne!(id(&compressed(2)), id(&compressed(3)));
    assert_eq!(clash::key_identity(&ec_csr(&[5u8; 33])), None);
}
