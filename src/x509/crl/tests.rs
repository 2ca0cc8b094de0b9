//! Tests of CRL building: number, AKI, reasons, empty lists, dates after
//! 2049, bad signatures, and CRLs issued through a software signer.

use super::super::tests::{soft_root, Fault, Offline, SoftSigner};
use super::*;
use crate::oid::ECDSA_WITH_SHA256;
use signature::Signer;
use spki::EncodePublicKey;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::time::Validity;

fn key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("valid scalar")
}

/// A self-signed software root, for building CRLs without a token.
fn root(key: &p256::ecdsa::SigningKey) -> Certificate {
    let spki_der = key.verifying_key().to_public_key_der().expect("spki");
    let spki =
        x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).expect("spki");
    let profile = crate::profile::RootProfile::new("CN=test-root", None).expect("root");
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::new(&[1]).expect("serial"),
        Validity::from_now(Duration::from_secs(86_400)).expect("validity"),
        spki,
    )
    .expect("builder");
    builder
        .build::<_, p256::ecdsa::DerSignature>(key)
        .expect("self-signed")
}

fn sign_with(key: &p256::ecdsa::SigningKey) -> impl FnOnce(&[u8]) -> Result<Vec<u8>> + '_ {
    move |msg| {
        let sig: p256::ecdsa::Signature = key.sign(msg);
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

fn alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn builds_a_v2_crl_with_number_aki_and_reasons() {
    let k = key(7);
    let ca = root(&k);
    let revoked = [
        Revocation {
            serial: SerialNumber::new(&[0x80, 0x01]).expect("serial"),
            revoked_at: at(1_800_000_000),
            reason: Some(CrlReason::KeyCompromise),
        },
        Revocation {
            serial: SerialNumber::new(&[0x42]).expect("serial"),
            revoked_at: at(1_800_000_100),
            reason: None,
        },
    ];
    let contents = CrlContents {
        issuer: &ca,
        crl_number: 300,
        this_update: at(1_800_000_500),
        next_update: at(1_800_000_500 + 30 * 86_400),
        revoked: &revoked,
    };
    let issued = sign_checked("t", &contents, alg(), sign_with(&k)).expect("signed");
    assert_eq!(issued.crl_number, 300);
    assert_eq!(issued.issuer, "CN=test-root");
    assert_eq!(issued.this_update, "2027-01-15T08:08:20Z");
    assert!(issued
        .pem()
        .expect("pem")
        .starts_with("-----BEGIN X509 CRL-----\n"));

    let crl = <CertificateList>::from_der(&issued.der).expect("parses back");
    let tbs = &crl.tbs_cert_list;
    assert_eq!(tbs.version, Version::V2);
    assert!(
        matches!(tbs.this_update, Time::UtcTime(_)),
        "UTCTime through 2049"
    );
    let exts = tbs.crl_extensions.as_ref().expect("extensions");
    let number: CrlNumber = CrlNumber::from_der(exts[1].extn_value.as_bytes()).expect("number");
    assert_eq!(number, CrlNumber::try_from(300u64).expect("300"));
    let aki = AuthorityKeyIdentifier::from_der(exts[0].extn_value.as_bytes()).expect("aki");
    let (_, ski) = ca
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .expect("ext")
        .expect("root has an SKI");
    assert_eq!(aki.key_identifier, Some(ski.0));
    let entries = tbs.revoked_certificates.as_ref().expect("entries");
    assert_eq!(serial_hex(&entries[0].serial_number), "8001");
    let reason = entries[0].crl_entry_extensions.as_ref().expect("reason");
    assert_eq!(
        CrlReason::from_der(reason[0].extn_value.as_bytes()).expect("reason"),
        CrlReason::KeyCompromise
    );
    assert!(
        entries[1].crl_entry_extensions.is_none(),
        "no unspecified reasonCode"
    );
}

#[test]
fn an_empty_crl_has_no_revoked_list_and_a_bad_signature_is_refused() {
    let k = key(7);
    let ca = root(&k);
    let contents = CrlContents {
        issuer: &ca,
        crl_number: 1,
        this_update: at(1_800_000_000),
        next_update: at(1_800_086_400),
        revoked: &[],
    };
    let issued = sign_checked("t", &contents, alg(), sign_with(&k)).expect("signed");
    let crl = <CertificateList>::from_der(&issued.der).expect("parses back");
    assert!(crl.tbs_cert_list.revoked_certificates.is_none());

    let other = key(9);
    let err = sign_checked("crl x", &contents, alg(), sign_with(&other)).expect_err("wrong key");
    assert!(
        err.to_string()
            .starts_with("crl x: the token's signature does not verify"),
        "{err}"
    );
}

#[test]
fn times_after_2049_are_generalized() {
    let t = x509_time("t", at(2_600_000_000)).expect("2052");
    assert!(matches!(t, Time::GeneralTime(_)));
}

#[test]
fn issues_a_crl_with_a_software_signer_and_it_verifies() {
    use signature::{Keypair, Verifier};
    let signer = SoftSigner::new(7, Fault::None);
    let root = soft_root(&signer).expect("root");
    let ca = Certificate::from_der(&root.der).expect("root parses");
    let revoked = [Revocation {
        serial: SerialNumber::new(&[0x42]).expect("serial"),
        revoked_at: at(1_800_000_000),
        reason: Some(CrlReason::Superseded),
    }];
    let contents = CrlContents {
        issuer: &ca,
        crl_number: 2,
        this_update: at(1_800_000_500),
        next_update: at(1_800_086_900),
        revoked: &revoked,
    };
    let issued = issue_crl("crl soft", &contents, &signer).expect("issued");
    assert_eq!(issued.crl_number, 2);
    assert_eq!(issued.issuer, "CN=soft-root");

    // Checked again here with RustCrypto alone, apart from verify_signature.
    let crl = <CertificateList>::from_der(&issued.der).expect("parses back");
    assert_eq!(crl.signature_algorithm.oid, ECDSA_WITH_SHA256);
    let tbs = crl.tbs_cert_list.to_der().expect("tbs");
    let sig = p256::ecdsa::DerSignature::try_from(crl.signature.raw_bytes()).expect("sig");
    signer
        .verifying_key()
        .verify(&tbs, &sig)
        .expect("the signature verifies");

    // A signer's failure keeps its cause; a signature by another key is refused.
    let err =
        issue_crl("crl soft", &contents, &SoftSigner::new(7, Fault::Fail)).expect_err("fails");
    assert_eq!(
        err.to_string(),
        "crl soft: signing failed: token soft: C_Sign failed: DeviceRemoved"
    );
    let chain = std::error::Error::source(&err).and_then(std::error::Error::source);
    assert!(
        chain.is_some_and(|cause| cause.downcast_ref::<Offline>().is_some()),
        "{err:?}"
    );
    let wrong = SoftSigner::new(7, Fault::WrongKey(key(9)));
    let err = issue_crl("crl soft", &contents, &wrong).expect_err("wrong key");
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}
