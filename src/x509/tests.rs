//! Tests of certificate building: serials, DER encoding and validity.

use super::*;

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
