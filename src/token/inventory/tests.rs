use spki::EncodePublicKey;

use super::*;
use crate::token::KeyAttributes;

fn identity() -> TokenIdentity {
    TokenIdentity {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        label: "ceremony".into(),
        manufacturer: "SoftHSM project".into(),
        model: "SoftHSM v2".into(),
        serial: "3f1c".into(),
        hardware_version: None,
        firmware_version: None,
    }
}

/// A CA private key as `ceremony run` makes it.
fn ca_private() -> ObjectInfo {
    ObjectInfo {
        class: PRIVATE_KEY.into(),
        label: "cluster-root-ca".into(),
        id: "0a0b".into(),
        key_type: Some("ec".into()),
        bits: None,
        curve: Some("P-256".into()),
        spki_sha256: Some("ab".repeat(32)),
        attributes: ObjectAttributes {
            token: Some(true),
            private: Some(true),
            sensitive: Some(true),
            extractable: Some(false),
            always_sensitive: Some(true),
            never_extractable: Some(true),
            wrap_with_trusted: None,
            local: Some(true),
            sign: Some(true),
            decrypt: Some(false),
            wrap: None,
            trusted: None,
            unwrap: Some(false),
            derive: Some(false),
        },
    }
}

fn ca_public() -> ObjectInfo {
    ObjectInfo {
        class: PUBLIC_KEY.into(),
        attributes: ObjectAttributes {
            token: Some(true),
            private: Some(false),
            local: Some(true),
            wrap: Some(false),
            derive: Some(false),
            ..ObjectAttributes::default()
        },
        ..ca_private()
    }
}

/// An extractable key imported with pkcs11-tool, as SoftHSM reports it.
fn imported() -> ObjectInfo {
    ObjectInfo {
        label: "imported".into(),
        id: "0102".into(),
        spki_sha256: None,
        attributes: ObjectAttributes {
            extractable: Some(true),
            always_sensitive: Some(false),
            never_extractable: Some(false),
            local: Some(false),
            decrypt: Some(true),
            unwrap: Some(true),
            ..ca_private().attributes
        },
        ..ca_private()
    }
}

fn rules(o: &ObjectInfo) -> Vec<String> {
    o.flags().iter().map(ToString::to_string).collect()
}

#[test]
fn a_ca_key_pair_is_not_flagged() {
    assert_eq!(ca_private().flags(), vec![]);
    assert_eq!(ca_public().flags(), vec![]);
}

#[test]
fn an_imported_key_is_flagged_for_every_broken_attribute() {
    assert_eq!(
        rules(&imported()),
        [
            "CKA_EXTRACTABLE is true, must be false (CA key policy)",
            "CKA_ALWAYS_SENSITIVE is false, must be true (CA key policy)",
            "CKA_NEVER_EXTRACTABLE is false, must be true (CA key policy)",
            "CKA_LOCAL is false, must be true (CA key policy)",
            "CKA_DECRYPT is true, must be false (CA key policy)",
            "CKA_UNWRAP is true, must be false (CA key policy)",
        ]
    );
}

#[test]
fn an_unreported_attribute_breaks_the_policy_and_says_so() {
    let mut key = ca_private();
    key.attributes.never_extractable = None;
    assert_eq!(
        rules(&key),
        ["CKA_NEVER_EXTRACTABLE is not reported, must be true (CA key policy)"]
    );
}

#[test]
fn the_key_policy_is_the_one_key_generation_checks() {
    // ObjectAttributes::policy_violations is the rule; KeyAttributes delegates to it.
    let generated = KeyAttributes {
        token: true,
        private: true,
        sensitive: true,
        extractable: true,
        always_sensitive: true,
        never_extractable: false,
        wrap_with_trusted: None,
        local: true,
        sign: true,
        decrypt: false,
        unwrap: false,
        derive: false,
    };
    assert_eq!(
        generated.policy_violation(),
        Some(("CKA_EXTRACTABLE", true, false))
    );
    let as_listed = ObjectAttributes::from(&generated).policy_violations();
    assert_eq!(
        as_listed.iter().map(|v| v.attribute).collect::<Vec<_>>(),
        ["CKA_EXTRACTABLE", "CKA_NEVER_EXTRACTABLE"]
    );
}

#[test]
fn a_wrapping_key_of_any_class_is_flagged() {
    let mut public = ca_public();
    public.attributes.wrap = Some(true);
    assert_eq!(
        rules(&public),
        ["CKA_WRAP is true: a wrapping key can carry extractable keys out of the token"]
    );
    let secret = ObjectInfo {
        class: "secret-key".into(),
        key_type: Some("aes".into()),
        curve: None,
        ..public
    };
    assert_eq!(secret.flags().len(), 1);
}

#[test]
fn objects_that_are_not_keys_are_listed_but_never_flagged() {
    let cert = ObjectInfo {
        class: "certificate".into(),
        key_type: None,
        curve: None,
        spki_sha256: None,
        attributes: ObjectAttributes {
            token: Some(true),
            private: Some(false),
            ..ObjectAttributes::default()
        },
        ..ca_private()
    };
    assert_eq!(cert.flags(), vec![]);
}

#[test]
fn render_lists_each_object_with_its_attributes_and_flags() {
    let objects = [ca_private(), ca_public(), imported()];
    let text = render(&identity(), &[], &objects);
    let fp = "ab".repeat(32);
    let expected = format!(
        r#"token "ceremony" (serial "3f1c", SoftHSM project SoftHSM v2, module /usr/lib/softhsm/libsofthsm2.so)
private-key "cluster-root-ca" id 0a0b ec P-256 spki-sha256 {fp}
    token=true private=true sensitive=true extractable=false always-sensitive=true never-extractable=true local=true
    sign=true decrypt=false wrap=- unwrap=false derive=false
    policy never-extractable (sensitive, never extractable, sign only)
public-key "cluster-root-ca" id 0a0b ec P-256 spki-sha256 {fp}
    token=true private=false sensitive=- extractable=- always-sensitive=- never-extractable=- local=true
    sign=- decrypt=- wrap=false unwrap=- derive=false
private-key "imported" id 0102 ec P-256
    token=true private=true sensitive=true extractable=true always-sensitive=false never-extractable=false local=false
    sign=true decrypt=true wrap=- unwrap=true derive=false
    policy never-extractable (sensitive, never extractable, sign only)
    FLAGGED CKA_EXTRACTABLE is true, must be false (CA key policy)
    FLAGGED CKA_ALWAYS_SENSITIVE is false, must be true (CA key policy)
    FLAGGED CKA_NEVER_EXTRACTABLE is false, must be true (CA key policy)
    FLAGGED CKA_LOCAL is false, must be true (CA key policy)
    FLAGGED CKA_DECRYPT is true, must be false (CA key policy)
    FLAGGED CKA_UNWRAP is true, must be false (CA key policy)
3 object(s), 2 private key(s), 1 flagged
"#
    );
    assert_eq!(text, expected);
    assert!(render(&identity(), &[], &objects[..2])
        .ends_with("2 object(s), 1 private key(s), none flagged\n"));
}

#[test]
fn render_escapes_labels_so_they_cannot_forge_lines() {
    let mut key = imported();
    key.label = "x\n    sensitive=true".into();
    key.id = String::new();
    let text = render(&identity(), &[], &[key]);
    assert!(
        text.contains("private-key \"x\\n    sensitive=true\" id -"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("private-key"))
            .count(),
        1
    );
}

#[test]
fn the_summary_names_every_flagged_object() {
    assert_eq!(flagged_summary(&[ca_private(), ca_public()]), None);
    let mut wrapping = ca_public();
    wrapping.label = "imported".into();
    wrapping.id = "0102".into();
    wrapping.attributes.wrap = Some(true);
    assert_eq!(
        flagged_summary(&[ca_private(), imported(), wrapping]).as_deref(),
        Some(
            "2 objects are flagged: private-key \"imported\" (id 0102), public-key \"imported\" (id 0102)"
        )
    );
}

#[test]
fn the_json_report_has_every_fact_and_flag() {
    let identity = identity();
    let objects = [ca_private(), imported()];
    let json = serde_json::to_value(Report::new(&identity, &objects)).expect("serializes");
    assert_eq!(json["token"]["label"], "ceremony");
    assert_eq!(json["flagged"], 1);
    let ca = &json["objects"][0];
    assert_eq!(ca["class"], "private-key");
    assert_eq!(ca["label"], "cluster-root-ca");
    assert_eq!(ca["key_type"], "ec");
    assert_eq!(ca["curve"], "P-256");
    assert_eq!(ca["bits"], serde_json::Value::Null);
    assert_eq!(ca["attributes"]["never_extractable"], true);
    assert_eq!(ca["attributes"]["wrap"], serde_json::Value::Null);
    assert_eq!(ca["flags"], serde_json::json!([]));
    let flag = &json["objects"][1]["flags"][0];
    assert_eq!(
        *flag,
        serde_json::json!({"rule": "ca-key-policy", "attribute": "CKA_EXTRACTABLE", "actual": true, "required": false})
    );
}

#[test]
fn curves_are_named() {
    let der = |oid: ObjectIdentifier| oid.to_der().expect("encodes");
    assert_eq!(curve_name(&der(oid::SECP256R1)), "P-256");
    assert_eq!(curve_name(&der(oid::SECP384R1)), "P-384");
    assert_eq!(curve_name(&der(oid::SECP521R1)), "P-521");
    assert_eq!(curve_name(&der(oid::ED25519)), "Ed25519");
    assert_eq!(curve_name(&der(oid::SECP192R1)), "1.2.840.10045.3.1.1");
    let printable = PrintableStringRef::new("edwards25519")
        .expect("printable")
        .to_der()
        .expect("encodes");
    assert_eq!(curve_name(&printable), "Ed25519");
    assert_eq!(curve_name(&[0x05, 0x00]), "parameters 0500");
}

fn octet_string(body: &[u8]) -> Vec<u8> {
    der::asn1::OctetStringRef::new(body)
        .expect("octet string")
        .to_der()
        .expect("encodes")
}

#[test]
fn an_ec_public_key_hashes_like_its_spki() {
    let key = p256::SecretKey::from_slice(&[7u8; 32])
        .expect("scalar")
        .public_key();
    let expected = key.to_public_key_der().expect("spki").into_vec();
    let point = key.to_sec1_bytes();
    let raw = RawObject {
        class: Some(ObjectClass::PUBLIC_KEY),
        key_type: Some(KeyType::EC),
        ec_params: Some(oid::SECP256R1.to_der().expect("encodes")),
        ec_point: Some(octet_string(&point)),
        ..RawObject::default()
    };
    assert_eq!(raw.spki_der(), Some(expected));
    // A private key carries no public point: its fingerprint comes from its public key.
    let private = RawObject {
        class: Some(ObjectClass::PRIVATE_KEY),
        ..raw
    };
    assert_eq!(private.spki_der(), None);
}

#[test]
fn an_rsa_public_key_hashes_like_its_spki_and_counts_its_bits() {
    // Any odd 2048-bit modulus will do for the encoding.
    let mut n = vec![0xffu8; 256];
    n[0] = 0xc5;
    let e = vec![0x01, 0x00, 0x01];
    let key = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(&n),
        rsa::BoxedUint::from_be_slice_vartime(&e),
    )
    .expect("well-formed");
    let expected = key.to_public_key_der().expect("spki").into_vec();
    let mut padded = vec![0u8];
    padded.extend(&n);
    let raw = RawObject {
        class: Some(ObjectClass::PUBLIC_KEY),
        key_type: Some(KeyType::RSA),
        modulus: Some(padded),
        public_exponent: Some(e),
        ..RawObject::default()
    };
    assert_eq!(raw.spki_der(), Some(expected));
    assert_eq!(raw.rsa_bits(), Some(2048));
    let info = raw.into_info(None);
    assert_eq!(
        (info.key_type.as_deref(), info.bits),
        (Some("rsa"), Some(2048))
    );
    assert_eq!(info.curve, None);
}

#[test]
fn modulus_bits_stand_in_when_the_modulus_is_not_reported() {
    let raw = RawObject {
        key_type: Some(KeyType::RSA),
        modulus_bits: Some(3072),
        ..RawObject::default()
    };
    assert_eq!(raw.rsa_bits(), Some(3072));
    let mut n = vec![0x01u8];
    n.extend([0u8; 383]);
    let raw = RawObject {
        key_type: Some(KeyType::RSA),
        modulus: Some(n),
        ..RawObject::default()
    };
    assert_eq!(raw.rsa_bits(), Some(3065));
}

#[test]
fn classes_and_key_types_have_short_names() {
    let raw = RawObject {
        class: Some(ObjectClass::SECRET_KEY),
        label: b"wrap\xff".to_vec(),
        id: vec![0xab],
        key_type: Some(KeyType::AES),
        ..RawObject::default()
    };
    let info = raw.into_info(None);
    assert_eq!(info.class, "secret-key");
    assert_eq!(info.key_type.as_deref(), Some("aes"));
    assert_eq!(info.label, "wrap\u{fffd}");
    assert_eq!(info.id, "ab");
    assert_eq!(class_name(ObjectClass::HARDWARE_FEATURE), "CKO_HW_FEATURE");
}

#[test]
fn unreadable_slots_are_listed_in_the_table_and_the_json() {
    let slots = [UnreadableSlot {
        slot: 3,
        reason: "C_GetTokenInfo failed: TokenNotRecognized".into(),
    }];
    let text = render(&identity(), &slots, &[]);
    assert_eq!(
        text.lines().nth(1),
        Some("unreadable slot 3: C_GetTokenInfo failed: TokenNotRecognized")
    );
    let identity = identity();
    let json = serde_json::to_value(Report::new(&identity, &[]).with_unreadable_slots(&slots))
        .expect("serializes");
    assert_eq!(
        json["unreadable_slots"],
        serde_json::json!([{"slot": 3, "reason": "C_GetTokenInfo failed: TokenNotRecognized"}])
    );
    // None: no field, as before slots were listed.
    let json = serde_json::to_value(Report::new(&identity, &[])).expect("serializes");
    assert!(json.get("unreadable_slots").is_none(), "{json}");
}

/// A backup-capable key as `ceremony run` makes it with `backup = true`.
fn backup_private() -> ObjectInfo {
    ObjectInfo {
        label: "kept".into(),
        attributes: ObjectAttributes {
            extractable: Some(true),
            never_extractable: Some(false),
            wrap_with_trusted: Some(true),
            ..ca_private().attributes
        },
        ..ca_private()
    }
}

#[test]
fn a_backup_key_is_held_to_the_backup_policy_and_not_flagged() {
    let kept = backup_private();
    assert_eq!(kept.policy(), Some(KeyPolicy::Backup));
    assert_eq!(kept.flags(), vec![]);
    assert_eq!(ca_private().policy(), Some(KeyPolicy::NeverExtractable));
    assert_eq!(ca_public().policy(), None);
    let text = render(&identity(), &[], std::slice::from_ref(&kept));
    assert!(
        text.contains(" local=true wrap-with-trusted=true\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "    policy backup (sensitive, extractable only under a trusted wrap key, sign only)\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("1 private key(s), none flagged\n"), "{text}");
    // Backup-capable but able to decrypt: flagged under the backup policy.
    let mut loose = kept;
    loose.attributes.decrypt = Some(true);
    assert_eq!(
        rules(&loose),
        vec!["CKA_DECRYPT is true, must be false (backup key policy)"]
    );
    let json = serde_json::to_value(Report::new(&identity(), &[loose])).expect("json");
    assert_eq!(json["objects"][0]["policy"], "backup");
    assert_eq!(json["objects"][0]["flags"][0]["rule"], "backup-key-policy");
}

#[test]
fn an_extractable_key_without_wrap_with_trusted_breaks_the_never_extractable_policy() {
    for wrap_with_trusted in [Some(false), None] {
        let mut loose = backup_private();
        loose.attributes.wrap_with_trusted = wrap_with_trusted;
        assert_eq!(loose.policy(), Some(KeyPolicy::NeverExtractable));
        assert_eq!(
            rules(&loose),
            vec![
                "CKA_EXTRACTABLE is true, must be false (CA key policy)",
                "CKA_NEVER_EXTRACTABLE is false, must be true (CA key policy)",
            ],
            "{wrap_with_trusted:?}"
        );
    }
    // A trusted wrapping key is still a wrapping key.
    let wrap_key = ObjectInfo {
        class: "secret-key".into(),
        key_type: Some("aes".into()),
        attributes: ObjectAttributes {
            wrap: Some(true),
            trusted: Some(true),
            ..ObjectAttributes::default()
        },
        ..ca_private()
    };
    assert_eq!(wrap_key.policy(), None);
    assert_eq!(wrap_key.flags().len(), 1);
    assert_eq!(wrap_key.flags()[0].rule, "no-wrap");
}
