//! The certificate rules on software-made certificates: a root, leaves it
//! issues under the profiles' own builder, and what an attacker changes.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use der::Encode;
use spki::EncodePublicKey;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::Certificate;

use super::cert::{
    check_entry, check_profile, check_signed_by, check_valid_now, parse_pem, Parsed,
};
use super::{IssuedEntry, Pinned};
use crate::oid::{KP_CLIENT_AUTH, KP_SERVER_AUTH};
use crate::profile::{Approved, IntermediatePolicy, IssuedProfile, RootProfile};

fn key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("valid scalar")
}

fn spki(key: &p256::ecdsa::SigningKey) -> x509_cert::spki::SubjectPublicKeyInfoOwned {
    let der = key.verifying_key().to_public_key_der().expect("spki");
    crate::x509::spki_from_der("t", der.as_bytes()).expect("spki")
}

/// A self-signed root named CN=kubernetes with `key`, pinned.
fn root(key: &p256::ecdsa::SigningKey) -> Pinned {
    let profile = RootProfile::new("CN=kubernetes", None).expect("root");
    let cert = CertificateBuilder::new(
        profile,
        SerialNumber::new(&[1]).expect("serial"),
        Validity::from_now(Duration::from_secs(86_400)).expect("validity"),
        spki(key),
    )
    .expect("builder")
    .build::<_, p256::ecdsa::DerSignature>(key)
    .expect("self-signed");
    Pinned {
        file: PathBuf::from("ca.crt"),
        der: cert.to_der().expect("der"),
        spki: cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .expect("spki"),
        subject: "CN=kubernetes".into(),
        cert,
    }
}

/// An apiserver certificate (serverAuth) issued by `ca` with `ca_key`, with
/// the EKUs given.
fn leaf(
    ca: &Pinned,
    ca_key: &p256::ecdsa::SigningKey,
    eku: Vec<der::oid::ObjectIdentifier>,
    validity: Validity,
) -> Certificate {
    let approved = Approved {
        cn: "kube-apiserver".into(),
        orgs: Vec::new(),
        dns: vec!["kubernetes".into()],
        ips: vec!["10.96.0.1".parse().expect("ip")],
        eku,
        rsa_key: false,
        ca_path_len: None,
        days: 365,
    };
    let profile =
        IssuedProfile::new(&approved, &ca.cert, &IntermediatePolicy::default()).expect("profile");
    CertificateBuilder::new(
        profile,
        SerialNumber::new(&[0x42; 16]).expect("serial"),
        validity,
        spki(&key(9)),
    )
    .expect("builder")
    .build::<_, p256::ecdsa::DerSignature>(ca_key)
    .expect("signed")
}

fn parsed(cert: &Certificate) -> Parsed {
    let der = cert.to_der().expect("der");
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).expect("pem");
    parse_pem(pem.as_bytes()).expect("canonical PEM")
}

/// The manifest entry the ceremony would write for `p`.
fn entry_of(p: &Parsed) -> IssuedEntry {
    let facts = crate::x509::Issued::from_der("t", p.der.clone()).expect("facts");
    IssuedEntry {
        id: "apiserver".into(),
        profile: "apiserver".into(),
        serial: facts.serial,
        subject: facts.subject,
        issuer: facts.issuer,
        sans: vec!["DNS:kubernetes".into(), "IP:10.96.0.1".into()],
        not_before: facts.not_before,
        not_after: facts.not_after,
        sha256: facts.sha256,
        file: "certs/apiserver.crt".into(),
        kubeadm_path: None,
        kubeconfig: None,
    }
}

fn year() -> Validity {
    Validity::from_now(Duration::from_secs(365 * 86_400)).expect("validity")
}

#[test]
fn a_certificate_the_root_issued_passes_every_rule() {
    let ca_key = key(1);
    let ca = root(&ca_key);
    let p = parsed(&leaf(&ca, &ca_key, vec![KP_SERVER_AUTH], year()));
    check_signed_by(&p, &ca).expect("signed by the root");
    check_valid_now(&p.cert, SystemTime::now()).expect("valid");
    check_entry(&p, &entry_of(&p)).expect("as listed");
    let apiserver = crate::profile::find("apiserver").expect("profile");
    check_profile(&p.cert, apiserver).expect("apiserver's usages");
}

#[test]
fn a_look_alike_root_does_not_verify() {
    // Same name, another key: what an attacker's own "kubernetes" CA is.
    let (real_key, fake_key) = (key(1), key(2));
    let real = root(&real_key);
    let fake = root(&fake_key);
    let p = parsed(&leaf(&fake, &fake_key, vec![KP_SERVER_AUTH], year()));
    let rule = check_signed_by(&p, &real).expect_err("forged");
    assert!(
        rule.starts_with(
            "does not chain to a pinned CA: its signature does not verify with CN=kubernetes (ca.crt)"
        ),
        "{rule}"
    );
}

#[test]
fn validity_is_checked_against_now() {
    let ca_key = key(1);
    let ca = root(&ca_key);
    let p = parsed(&leaf(&ca, &ca_key, vec![KP_SERVER_AUTH], year()));
    let before = SystemTime::now() - Duration::from_secs(86_400);
    let rule = check_valid_now(&p.cert, before).expect_err("not yet");
    assert!(rule.starts_with("is not valid yet (notBefore "), "{rule}");
    let after = SystemTime::now() + Duration::from_secs(2 * 365 * 86_400);
    let rule = check_valid_now(&p.cert, after).expect_err("expired");
    assert!(rule.starts_with("has expired (notAfter "), "{rule}");
}

#[test]
fn every_field_of_the_manifest_entry_must_match() {
    let ca_key = key(1);
    let ca = root(&ca_key);
    let p = parsed(&leaf(&ca, &ca_key, vec![KP_SERVER_AUTH], year()));
    let good = entry_of(&p);
    type Edit = Box<dyn Fn(&mut IssuedEntry)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|e| e.serial = "01".into()), "its serial "),
        (Box::new(|e| e.subject = "CN=other".into()), "its subject "),
        (Box::new(|e| e.issuer = "CN=other".into()), "its issuer "),
        (
            Box::new(|e| e.sans.pop().map(drop).unwrap_or_default()),
            "its SANs [DNS:kubernetes, IP:10.96.0.1] is not the manifest's [DNS:kubernetes]",
        ),
        (
            Box::new(|e| e.not_after = "2099-01-01T00:00:00Z".into()),
            "its notAfter ",
        ),
        (Box::new(|e| e.sha256 = "00".repeat(32)), "its SHA-256 "),
    ];
    for (edit, needle) in cases {
        let mut e = good.clone();
        edit(&mut e);
        let rule = check_entry(&p, &e).expect_err(needle);
        assert!(rule.starts_with(needle), "{rule}");
    }
}

#[test]
fn the_usages_must_be_the_profiles() {
    let ca_key = key(1);
    let ca = root(&ca_key);
    // A client certificate listed under the apiserver profile.
    let p = parsed(&leaf(&ca, &ca_key, vec![KP_CLIENT_AUTH], year()));
    let apiserver = crate::profile::find("apiserver").expect("profile");
    let rule = check_profile(&p.cert, apiserver).expect_err("client EKU");
    assert_eq!(
        rule,
        "its extended key usage is [1.3.6.1.5.5.7.3.2], which profile apiserver does not issue"
    );
    // A leaf listed under the intermediate-ca profile.
    let p = parsed(&leaf(&ca, &ca_key, vec![KP_SERVER_AUTH], year()));
    let intermediate = crate::profile::find("intermediate-ca").expect("profile");
    let rule = check_profile(&p.cert, intermediate).expect_err("not a CA");
    assert_eq!(
        rule,
        "it has basicConstraints CA:FALSE, which profile intermediate-ca does not issue"
    );
}

#[test]
fn only_one_certificate_in_the_ceremonys_pem_form_is_read() {
    let ca_key = key(1);
    let ca = root(&ca_key);
    let der = leaf(&ca, &ca_key, vec![KP_SERVER_AUTH], year())
        .to_der()
        .expect("der");
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).expect("pem");
    for (bytes, needle) in [
        (
            format!("junk\n{pem}"),
            "is not one certificate in the PEM form",
        ),
        (
            format!("{pem}{pem}"),
            "is not a PEM certificate: PEM Base64 error",
        ),
        (
            pem.replace('\n', "\r\n"),
            "is not one certificate in the PEM form",
        ),
        (
            pem.replace("CERTIFICATE", "PRIVATE KEY"),
            "is a PEM \"PRIVATE KEY\", not a CERTIFICATE",
        ),
    ] {
        let rule = parse_pem(bytes.as_bytes()).err().expect("refused");
        assert!(rule.starts_with(needle), "{rule}");
    }
    parse_pem(pem.as_bytes()).expect("the canonical form");
}
