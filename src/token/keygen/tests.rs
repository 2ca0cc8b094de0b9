//! Tests that need no token: the key templates, the policy checks of a key
//! record (unknown attributes, a shared CKA_ID), its transcript form, and
//! DER unwrapping.

use super::*;

#[test]
fn octet_string_unwrap() {
    assert_eq!(
        unwrap_octet_string(&[0x04, 0x02, 0xaa, 0xbb]),
        Some(&[0xaa, 0xbb][..])
    );
    let mut long = vec![0x04, 0x81, 0x81];
    long.extend([7u8; 0x81]);
    assert_eq!(unwrap_octet_string(&long).map(|b| b.len()), Some(0x81));
    assert_eq!(unwrap_octet_string(&[0x04, 0x03, 0xaa]), None);
    assert_eq!(unwrap_octet_string(&[0x03, 0x01, 0xaa]), None);
}

#[test]
fn policy_flags_each_bad_attribute() {
    let good = KeyAttributes {
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        always_sensitive: true,
        never_extractable: true,
        wrap_with_trusted: None,
        local: true,
        sign: true,
        decrypt: false,
        unwrap: false,
        derive: false,
    };
    assert_eq!(good.policy_violation(), None);
    let mut bad = good.clone();
    bad.extractable = true;
    assert_eq!(
        bad.policy_violation(),
        Some(("CKA_EXTRACTABLE", true, false))
    );
    let mut bad = good;
    bad.local = false;
    assert_eq!(bad.policy_violation(), Some(("CKA_LOCAL", false, true)));
}

fn types(template: &[Attribute]) -> Vec<AttributeType> {
    template.iter().map(Attribute::attribute_type).collect()
}

#[test]
fn templates_carry_the_policy_and_nothing_a_module_may_refuse() {
    for algorithm in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa4096,
    ] {
        let (_, public, private) = templates("k", &[1, 2], algorithm, KeyPolicy::NeverExtractable);
        let public_types = types(&public);
        // tpm2-pkcs11 refuses these on the public half; they carry no policy.
        for absent in [
            AttributeType::Verify,
            AttributeType::Encrypt,
            AttributeType::Derive,
        ] {
            assert!(!public_types.contains(&absent), "{algorithm}: {absent}");
        }
        assert!(public.contains(&Attribute::Wrap(false)), "{algorithm}");
        // Every policy attribute that must be false is sent, not left to
        // a module's default.
        for required in [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Id(vec![1, 2]),
        ] {
            assert!(private.contains(&required), "{algorithm}: {required:?}");
        }
        assert_eq!(
            private.contains(&Attribute::Derive(false)),
            !algorithm.is_rsa(),
            "{algorithm}: CKA_DERIVE false on EC keys only"
        );
        assert!(public.contains(&Attribute::Id(vec![1, 2])), "{algorithm}");
    }
}

fn record() -> KeyRecord {
    KeyRecord {
        label: "root".into(),
        id: "0102".into(),
        id_requested: None,
        id_held_by_others: 0,
        algorithm: KeyAlgorithm::Rsa2048,
        policy: Some(crate::token::KeyPolicy::NeverExtractable),
        attributes: KeyAttributes {
            token: true,
            private: true,
            sensitive: true,
            extractable: false,
            always_sensitive: true,
            never_extractable: true,
            wrap_with_trusted: None,
            local: true,
            sign: true,
            decrypt: false,
            unwrap: false,
            derive: false,
        },
        unknown: Vec::new(),
        spki_sha256: String::new(),
        spki_der: Vec::new(),
        private_handle: None,
    }
}

#[test]
fn an_unreported_attribute_is_refused_as_unknown() {
    assert!(record().check_policy("t").is_ok());
    let mut key = record();
    key.attributes.derive = true;
    key.unknown = vec!["CKA_DERIVE".into()];
    let err = key.check_policy("t").expect_err("unknown CKA_DERIVE");
    assert_eq!(
        err.to_string(),
        "token t: key \"root\" breaks the key policy: CKA_DERIVE is unknown (the token does not report it), must be false"
    );
    let mut key = record();
    key.unknown = vec!["CKA_ID".into()];
    assert!(key
        .check_policy("t")
        .expect_err("unreported CKA_ID")
        .to_string()
        .contains("CKA_ID is unknown"));
}

#[test]
fn a_cka_id_another_object_holds_is_refused() {
    let mut key = record();
    key.id = "0001".into();
    key.id_requested = Some("00".repeat(16));
    assert!(
        key.check_policy("t").is_ok(),
        "a shortened, unique id is kept"
    );
    key.id_held_by_others = 1;
    assert_eq!(
        key.check_policy("t").expect_err("shared id").to_string(),
        "token t: key \"root\" breaks the key policy: CKA_ID is 0001, also held by 1 other object(s), must be unique in the token"
    );
}

#[test]
fn key_records_without_the_read_back_fields_still_read() {
    let mut key = record();
    let old = serde_json::to_string(&key).expect("serializes");
    assert!(
        !old.contains("id_requested") && !old.contains("unknown"),
        "{old}"
    );
    let read: KeyRecord = serde_json::from_str(&old).expect("reads");
    assert_eq!((read.id_requested, read.id_held_by_others), (None, 0));
    assert!(read.unknown.is_empty());
    key.id_requested = Some("ff".into());
    key.id_held_by_others = 2;
    key.unknown = vec!["CKA_LOCAL".into()];
    let new = serde_json::to_string(&key).expect("serializes");
    let read: KeyRecord = serde_json::from_str(&new).expect("reads");
    assert_eq!(serde_json::to_string(&read).expect("serializes"), new);
}

#[test]
fn a_backup_key_is_checked_against_the_backup_policy() {
    let mut key = record();
    key.policy = Some(KeyPolicy::Backup);
    key.attributes.extractable = true;
    key.attributes.never_extractable = false;
    key.attributes.wrap_with_trusted = Some(true);
    assert!(key.check_policy("t").is_ok());
    // A module that ignored CKA_WRAP_WITH_TRUSTED, or does not report it.
    for wrap_with_trusted in [Some(false), None] {
        key.attributes.wrap_with_trusted = wrap_with_trusted;
        assert_eq!(
            key.check_policy("t").expect_err("no CKA_WRAP_WITH_TRUSTED").to_string(),
            "token t: key \"root\" breaks the key policy: CKA_WRAP_WITH_TRUSTED is false, must be true"
        );
    }
    // A module that ignored CKA_EXTRACTABLE for a backup key.
    let mut key = record();
    key.policy = Some(KeyPolicy::Backup);
    key.attributes.wrap_with_trusted = Some(true);
    assert!(key
        .check_policy("t")
        .expect_err("not extractable")
        .to_string()
        .contains("CKA_EXTRACTABLE is false, must be true"));
    // A never-extractable key made extractable is refused, trusted wrap or not.
    let mut key = record();
    key.attributes.extractable = true;
    key.attributes.wrap_with_trusted = Some(true);
    assert!(key
        .check_policy("t")
        .expect_err("extractable")
        .to_string()
        .contains("CKA_EXTRACTABLE is true, must be false"));
    // A record from before policies were named is never-extractable.
    let mut old = record();
    old.policy = None;
    assert_eq!(old.policy(), KeyPolicy::NeverExtractable);
}

#[test]
fn the_backup_template_adds_only_the_trusted_wrap_rule() {
    for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let (_, public_fixed, fixed) = templates("k", &[1], algorithm, KeyPolicy::NeverExtractable);
        let (_, public_kept, kept) = templates("k", &[1], algorithm, KeyPolicy::Backup);
        assert_eq!(public_fixed, public_kept);
        assert!(fixed.contains(&Attribute::Extractable(false)));
        assert!(!types(&fixed).contains(&AttributeType::WrapWithTrusted));
        assert!(kept.contains(&Attribute::Extractable(true)));
        assert!(kept.contains(&Attribute::WrapWithTrusted(true)));
        for same in [
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
        ] {
            assert!(kept.contains(&same), "{algorithm}: {same:?}");
        }
        assert_eq!(kept.len(), fixed.len() + 1);
    }
}
