//! The public key template of a restored key, from its SubjectPublicKeyInfo
//! (no token): EC point and curve, RSA modulus and exponent, and refusals.

use spki::EncodePublicKey;

use super::*;

fn value(template: &[Attribute], t: cryptoki::object::AttributeType) -> Vec<u8> {
    template
        .iter()
        .find_map(|a| match a {
            Attribute::EcPoint(v)
            | Attribute::EcParams(v)
            | Attribute::Modulus(v)
            | Attribute::PublicExponent(v)
                if a.attribute_type() == t =>
            {
                Some(v.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{t} in the template"))
}

#[test]
fn an_ec_public_key_becomes_its_curve_and_point_as_the_token_holds_them() {
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).expect("scalar");
    let public = secret.public_key();
    let der = public.to_public_key_der().expect("spki");
    let template =
        public_template("k", &[1, 2], KeyAlgorithm::EcdsaP256, der.as_bytes()).expect("template");
    use cryptoki::object::AttributeType as T;
    assert_eq!(
        value(&template, T::EcParams),
        KeyAlgorithm::EcdsaP256.ec_params()
    );
    // CKA_EC_POINT: the uncompressed point in a DER OCTET STRING (04 41 04 …).
    let point = value(&template, T::EcPoint);
    assert_eq!(&point[..3], &[0x04, 0x41, 0x04]);
    let sec1 = super::super::keygen::unwrap_octet_string(&point).expect("octet string");
    assert_eq!(
        p256::PublicKey::from_sec1_bytes(sec1).expect("point"),
        public
    );
    for required in [
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Wrap(false),
        Attribute::Label(b"k".to_vec()),
        Attribute::Id(vec![1, 2]),
    ] {
        assert!(template.contains(&required), "{required:?}");
    }
    // The wrong curve, or RSA, for this key is refused by name.
    let err = public_template("k", &[1], KeyAlgorithm::EcdsaP384, der.as_bytes())
        .expect_err("P-256 is not P-384");
    assert_eq!(err, "public key is not on the curve of ecdsa-p384");
    let err =
        public_template("k", &[1], KeyAlgorithm::Rsa2048, der.as_bytes()).expect_err("not RSA");
    assert_eq!(err, "public key is not RSA, not rsa-2048");
    assert!(
        public_template("k", &[1], KeyAlgorithm::EcdsaP256, b"\x30\x03junk")
            .expect_err("not DER")
            .starts_with("public key is not a DER SubjectPublicKeyInfo")
    );
}

#[test]
fn an_rsa_public_key_becomes_its_modulus_and_exponent() {
    let n = {
        let mut n = vec![0xc5u8; 256];
        n[255] |= 1;
        n
    };
    let key = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(&n),
        rsa::BoxedUint::from_be_slice_vartime(&[1, 0, 1]),
    )
    .expect("public key");
    let der = key.to_public_key_der().expect("spki");
    let template =
        public_template("r", &[3], KeyAlgorithm::Rsa2048, der.as_bytes()).expect("template");
    use cryptoki::object::AttributeType as T;
    assert_eq!(value(&template, T::Modulus), n);
    assert_eq!(value(&template, T::PublicExponent), vec![1, 0, 1]);
    assert!(template.contains(&Attribute::KeyType(KeyType::RSA)));
    assert!(public_template("r", &[3], KeyAlgorithm::EcdsaP256, der.as_bytes()).is_err());
}
