//! A CSR from a request bundle: parsed and its signature verified, then
//! judged by every profile, and every approval built into a certificate.
//!
//! The request parameters (node, SANs, validity) come from the input: once
//! as a requester would fill in the manifest from the CSR itself, once with
//! the names the apiserver and etcd profiles require added and a validity
//! taken from the input's last bytes. Each is judged under the default step
//! policy and under one that allows break-glass and sets intermediate
//! name constraints. An approved request must become a certificate: the
//! profile check is the last place a request may be refused, because by
//! the time it is built other certificates of the batch have been signed.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use ceremony::oid::AT_COMMON_NAME;
use ceremony::profile::component::PROFILES;
use ceremony::profile::{
    subject_name, Approved, IntermediatePolicy, IssuedProfile, NodeScope, RequestParams,
    RootProfile, StepPolicy,
};
use ceremony::x509::{parse_csr, Csr, Issued};
use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use spki::EncodePublicKey;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;
use x509_cert::Certificate;

struct Issuer {
    key: p256::ecdsa::SigningKey,
    cert: Certificate,
}

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("a valid scalar");
        let spki_der = key
            .verifying_key()
            .to_public_key_der()
            .expect("encode the public key");
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).expect("spki");
        let profile = RootProfile::new("CN=fuzz-root", Some(1)).expect("root profile");
        let cert = CertificateBuilder::new(profile, serial(), days(3650), spki)
            .expect("builder")
            .build::<_, p256::ecdsa::DerSignature>(&key)
            .expect("self-signed root");
        Issuer { key, cert }
    })
}

fn serial() -> SerialNumber {
    SerialNumber::new(&[0x42; 16]).expect("serial")
}

fn days(n: u32) -> Validity {
    Validity::from_now(Duration::from_secs(u64::from(n) * 86_400)).expect("validity")
}

fn common_name(csr: &Csr) -> Option<String> {
    csr.subject
        .iter()
        .find(|atv| atv.oid == AT_COMMON_NAME)
        .and_then(|atv| {
            atv.value
                .decode_as::<der::asn1::Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    atv.value
                        .decode_as::<der::asn1::PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                })
                .ok()
        })
}

fn sans(csr: &Csr, prefix: &str) -> Vec<String> {
    csr.requested_sans
        .iter()
        .filter_map(|s| s.strip_prefix(prefix))
        .map(str::to_string)
        .collect()
}

/// Builds and signs the certificate `approved` becomes, as the batch does.
fn build(csr: &Csr, approved: &Approved, policy: &StepPolicy) {
    let who = format!("CN={} O={:?}", approved.cn, approved.orgs);
    subject_name(&approved.cn, &approved.orgs)
        .unwrap_or_else(|e| panic!("approved {who}, but its subject cannot be encoded: {e}"));
    let issuer = issuer();
    let profile = IssuedProfile::new(approved, &issuer.cert, &policy.intermediate)
        .unwrap_or_else(|e| panic!("approved {who}, but no profile can be built: {e}"));
    let spki = SubjectPublicKeyInfoOwned::from_der(&csr.spki_der).expect("parse_csr checked it");
    let cert = CertificateBuilder::new(profile, serial(), days(approved.days), spki)
        .and_then(|b| b.build::<_, p256::ecdsa::DerSignature>(&issuer.key))
        .unwrap_or_else(|e| panic!("approved {who}, but the certificate cannot be built: {e}"));
    let der = cert.to_der().expect("encode the certificate");
    Issued::from_der("fuzz", der).expect("read back the certificate");
}

fuzz_target!(|data: &[u8]| {
    let Ok(csr) = parse_csr("fuzz", data) else {
        return;
    };
    let cn = common_name(&csr).unwrap_or_default();
    let node = cn.strip_prefix("system:node:").unwrap_or(&cn).to_string();
    let dns = sans(&csr, "DNS:");
    let ips = sans(&csr, "IP:");
    let emails = sans(&csr, "email:");
    let uris = sans(&csr, "URI:");
    let as_requested = RequestParams {
        node: Some(&node),
        dns: &dns,
        ips: &ips,
        emails: &emails,
        uris: &uris,
        validity_days: None,
    };
    let mut more_dns = dns.clone();
    for d in [
        node.as_str(),
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
    ] {
        if !more_dns.iter().any(|x| x == d) {
            more_dns.push(d.to_string());
        }
    }
    let mut more_ips = ips.clone();
    for i in ["10.96.0.1", "127.0.0.1", "::1"] {
        if !more_ips.iter().any(|x| x == i) {
            more_ips.push(i.to_string());
        }
    }
    let tail: [u8; 4] = data[data.len().saturating_sub(4)..]
        .try_into()
        .unwrap_or([0; 4]);
    let with_required = RequestParams {
        node: dns.first().map(String::as_str).or(Some(&node)),
        dns: &more_dns,
        ips: &more_ips,
        emails: &[],
        uris: &[],
        validity_days: Some(u32::from_le_bytes(tail) % 4000),
    };
    let permissive = StepPolicy {
        allow_break_glass: true,
        intermediate: IntermediatePolicy {
            path_len: 1,
            server_and_client_eku: true,
            permitted_dns: dns.clone(),
            excluded_dns: vec!["forbidden.example".into()],
            permitted_ips: vec!["10.0.0.0/8".into(), "fd00::/8".into()],
            excluded_ips: vec!["10.96.0.0/12".into()],
        },
        nodes: NodeScope::Unknown,
    };
    for profile in PROFILES {
        for params in [&as_requested, &with_required] {
            for policy in [&StepPolicy::default(), &permissive] {
                if let Ok(approved) = profile.check(&csr, params, policy) {
                    build(&csr, &approved, policy);
                }
            }
        }
    }
});
