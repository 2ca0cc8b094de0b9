//! Tests of certificate building: serials, DER encoding, validity, and
//! issuing through a software signer (the signer traits, not the token).

use super::*;

/// A software P-256 key as this module sees a signer, with a fault to order:
/// what the token's key is in a ceremony, without a token.
pub(super) struct SoftSigner {
    key: p256::ecdsa::SigningKey,
    fault: Fault,
}

/// What [`SoftSigner`] does instead of signing properly.
pub(super) enum Fault {
    /// Nothing: it signs with its key.
    None,
    /// It fails as a token would, with [`Offline`] as the cause.
    Fail,
    /// It signs with another key.
    WrongKey(p256::ecdsa::SigningKey),
}

/// The cause a failing [`SoftSigner`] gives, as a token gives its error.
#[derive(Debug)]
pub(super) struct Offline;

impl std::fmt::Display for Offline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("token soft: C_Sign failed: DeviceRemoved")
    }
}

impl std::error::Error for Offline {}

impl SoftSigner {
    /// A signer for the P-256 key whose scalar is `seed` repeated.
    pub(super) fn new(seed: u8, fault: Fault) -> SoftSigner {
        SoftSigner {
            key: p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("valid scalar"),
            fault,
        }
    }

    /// The key's SubjectPublicKeyInfo.
    pub(super) fn spki(&self) -> SubjectPublicKeyInfoOwned {
        let der = self.verifying_key().to_public_key_der().expect("spki");
        spki_from_der("t", der.as_bytes()).expect("spki")
    }
}

impl signature::Keypair for SoftSigner {
    type VerifyingKey = p256::ecdsa::VerifyingKey;

    fn verifying_key(&self) -> p256::ecdsa::VerifyingKey {
        *self.key.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for SoftSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        self.key.signature_algorithm_identifier()
    }
}

impl signature::Signer<p256::ecdsa::DerSignature> for SoftSigner {
    fn try_sign(&self, msg: &[u8]) -> signature::Result<p256::ecdsa::DerSignature> {
        match &self.fault {
            Fault::None => self.key.try_sign(msg),
            Fault::Fail => Err(signature::Error::from_source(Offline)),
            Fault::WrongKey(other) => other.try_sign(msg),
        }
    }
}

fn one_day() -> Validity {
    validity(
        "t",
        SystemTime::now(),
        Duration::from_secs(60),
        Duration::from_secs(86_400),
    )
    .expect("validity")
}

/// A self-signed root issued through [`issue`] by `signer`.
pub(super) fn soft_root(signer: &SoftSigner) -> Result<Issued> {
    let profile = crate::profile::RootProfile::new("CN=soft-root", None).expect("root");
    issue(
        "root soft",
        profile,
        serial_from_random(&[0x33; 16]),
        one_day(),
        signer.spki(),
        signer,
    )
}

#[test]
fn issues_a_certificate_with_a_software_signer_and_it_verifies() {
    use signature::{Keypair, Verifier};
    let signer = SoftSigner::new(7, Fault::None);
    let issued = soft_root(&signer).expect("issued");
    assert_eq!(issued.subject, "CN=soft-root");
    assert_eq!(issued.issuer, "CN=soft-root");
    assert_eq!(issued.serial.len(), 32);
    assert_eq!(issued.sha256, hex::encode(&Sha256::digest(&issued.der)));

    // Checked again here with RustCrypto alone, apart from verify_signature.
    let cert = Certificate::from_der(&issued.der).expect("parses back");
    assert_eq!(
        cert.signature_algorithm().oid,
        crate::oid::ECDSA_WITH_SHA256
    );
    let tbs = cert.tbs_certificate().to_der().expect("tbs");
    let sig = p256::ecdsa::DerSignature::try_from(cert.signature().raw_bytes()).expect("sig");
    signer
        .verifying_key()
        .verify(&tbs, &sig)
        .expect("the signature verifies");
    assert_eq!(
        cert.tbs_certificate().subject_public_key_info(),
        &signer.spki()
    );
    assert!(issued
        .pem()
        .expect("pem")
        .starts_with("-----BEGIN CERTIFICATE-----\n"));
}

#[test]
fn a_signer_failure_keeps_its_cause() {
    let err = soft_root(&SoftSigner::new(7, Fault::Fail)).expect_err("fails");
    assert_eq!(
        err.to_string(),
        "root soft: signing failed: token soft: C_Sign failed: DeviceRemoved"
    );
    let Error::Sign { source, .. } = &err else {
        panic!("not a signing failure: {err:?}");
    };
    let cause = std::error::Error::source(source).expect("the signer's cause is kept");
    assert!(cause.downcast_ref::<Offline>().is_some(), "{cause:?}");
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let signer = SoftSigner::new(7, Fault::WrongKey(SoftSigner::new(9, Fault::None).key));
    let err = soft_root(&signer).expect_err("wrong key");
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("root soft: the token's signature does not verify"),
        "{err}"
    );
}

#[test]
fn serial_is_positive_and_sixteen_bytes() {
    for first in [0x00u8, 0x7f, 0x80, 0xff] {
        let mut r = [0xa5u8; 16];
        r[0] = first;
        let s = serial_from_random(&r);
        assert_eq!(s.as_bytes().len(), 16);
        assert!(s.as_bytes()[0] & 0x80 == 0);
        assert!(s.as_bytes()[0] != 0);
    }
}

#[test]
fn certificate_der_matches_the_encoder() {
    use spki::EncodePublicKey;
    use x509_cert::builder::Builder;
    let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).expect("valid scalar");
    let spki_der = key.verifying_key().to_public_key_der().expect("spki");
    let profile = crate::profile::RootProfile::new("CN=encoding-check", None).expect("root");
    let cert = CertificateBuilder::new(
        profile,
        SerialNumber::new(&[0x42; 16]).expect("serial"),
        validity(
            "t",
            SystemTime::now(),
            Duration::from_secs(60),
            Duration::from_secs(86_400),
        )
        .expect("validity"),
        spki_from_der("t", spki_der.as_bytes()).expect("spki"),
    )
    .expect("builder")
    .build::<_, p256::ecdsa::DerSignature>(&key)
    .expect("self-signed");
    let tbs = cert.tbs_certificate().to_der().expect("tbs");
    let expected = cert.to_der().expect("der");
    assert!(expected.len() > 256, "long-form lengths are exercised");
    assert_eq!(certificate_der(&tbs, &cert).expect("der"), expected);
}

#[test]
fn validity_backdates_and_extends() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let v = validity(
        "t",
        now,
        Duration::from_secs(300),
        Duration::from_secs(86_400),
    )
    .expect("validity");
    assert_eq!(
        v.not_before.to_unix_duration(),
        Duration::from_secs(1_800_000_000 - 300)
    );
    assert_eq!(
        v.not_after.to_unix_duration(),
        Duration::from_secs(1_800_000_000 + 86_400)
    );
}
