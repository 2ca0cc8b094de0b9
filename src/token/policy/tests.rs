//! Tests of the read-back rule with the token's answers as values: a module
//! that stops at the first attribute it cannot answer, as cryptoki hands its
//! answer over (later booleans still holding cryptoki's pre-filled false).

use super::*;

const TYPES: [AttributeType; 4] = [
    AttributeType::Sign,
    AttributeType::Derive,
    AttributeType::Decrypt,
    AttributeType::Unwrap,
];

/// A module that cannot report `CKA_DERIVE` on this key and whose key can in
/// truth decrypt and unwrap: asked alone, it answers each other attribute.
fn truthful_alone(
    calls: &mut Vec<AttributeType>,
) -> impl FnMut(AttributeType) -> Result<Option<Attribute>, ()> + '_ {
    move |t| {
        calls.push(t);
        Ok(match t {
            AttributeType::Sign => Some(Attribute::Sign(true)),
            AttributeType::Decrypt => Some(Attribute::Decrypt(true)),
            AttributeType::Unwrap => Some(Attribute::Unwrap(true)),
            _ => None,
        })
    }
}

#[test]
fn a_batch_with_a_gap_is_asked_again_attribute_by_attribute() {
    // The module answered CKA_SIGN, marked CKA_DERIVE unavailable and
    // stopped: CKA_DECRYPT and CKA_UNWRAP keep cryptoki's pre-filled false.
    let batch = vec![
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
    ];
    let mut calls = Vec::new();
    let read = read_back(&TYPES, batch, truthful_alone(&mut calls)).expect("no error");
    assert_eq!(calls, TYPES.to_vec(), "each attribute asked on its own");
    assert_eq!(
        read.values,
        vec![
            Attribute::Sign(true),
            Attribute::Decrypt(true),
            Attribute::Unwrap(true)
        ]
    );
    assert_eq!(read.unknown, vec![AttributeType::Derive]);
    // Read as policy attributes: the unknown one is None, never false, and
    // it breaks the policy like the true ones do.
    let attrs = ObjectAttributes::collect(&read.values);
    assert_eq!(attrs.derive, None);
    assert_eq!(attrs.decrypt, Some(true));
    let violations = attrs.policy_violations();
    let derive = violations
        .iter()
        .find(|v| v.attribute == "CKA_DERIVE")
        .expect("an unknown CKA_DERIVE is a violation");
    assert_eq!((derive.actual, derive.required), (None, false));
    assert!(violations.iter().any(|v| v.attribute == "CKA_DECRYPT"));
    assert!(violations.iter().any(|v| v.attribute == "CKA_UNWRAP"));
    let key = KeyAttributes::from_reported(&attrs);
    assert!(
        key.derive,
        "an unknown CKA_DERIVE is recorded as the failing value"
    );
}

#[test]
fn a_complete_batch_is_taken_as_it_is() {
    let batch = vec![
        Attribute::Sign(true),
        Attribute::Derive(false),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
    ];
    let mut calls = Vec::new();
    let read = read_back(&TYPES, batch.clone(), truthful_alone(&mut calls)).expect("no error");
    assert!(calls.is_empty(), "no attribute asked again: {calls:?}");
    assert_eq!(read.values, batch);
    assert!(read.unknown.is_empty());
}

#[test]
fn an_answer_of_another_type_is_unknown_and_errors_pass_through() {
    let read = read_back::<()>(&TYPES[..1], Vec::new(), |_| {
        Ok(Some(Attribute::Derive(false)))
    })
    .expect("no error");
    assert!(read.values.is_empty());
    assert_eq!(read.unknown, vec![AttributeType::Sign]);
    assert_eq!(
        read_back(&TYPES, Vec::new(), |_| Err("session closed")),
        Err("session closed")
    );
}

fn generated_backup_key() -> ObjectAttributes {
    ObjectAttributes {
        token: Some(true),
        private: Some(true),
        sensitive: Some(true),
        extractable: Some(true),
        always_sensitive: Some(true),
        never_extractable: Some(false),
        wrap_with_trusted: Some(true),
        local: Some(true),
        sign: Some(true),
        decrypt: Some(false),
        wrap: None,
        trusted: None,
        unwrap: Some(false),
        derive: Some(false),
    }
}

#[test]
fn the_attributes_name_their_policy() {
    let backup = generated_backup_key();
    assert_eq!(KeyPolicy::of(&backup), KeyPolicy::Backup);
    assert_eq!(backup.policy_violations(), vec![]);
    // Unwrapped into a token: neither local nor always sensitive.
    let restored = ObjectAttributes {
        local: Some(false),
        always_sensitive: Some(false),
        ..backup.clone()
    };
    assert_eq!(KeyPolicy::of(&restored), KeyPolicy::Restored);
    assert_eq!(restored.policy_violations(), vec![]);
    // The backup rule still wants both of a key generated under it.
    let names = |v: Vec<PolicyViolation>| v.iter().map(|v| v.attribute).collect::<Vec<_>>();
    assert_eq!(
        names(restored.policy_violations_under(KeyPolicy::Backup)),
        ["CKA_ALWAYS_SENSITIVE", "CKA_LOCAL"]
    );
    // Without CKA_WRAP_WITH_TRUSTED (false or unreported), an extractable
    // key is held to never-extractable, and breaks it.
    for wrap_with_trusted in [Some(false), None] {
        let loose = ObjectAttributes {
            wrap_with_trusted,
            ..backup.clone()
        };
        assert_eq!(KeyPolicy::of(&loose), KeyPolicy::NeverExtractable);
        assert_eq!(
            names(loose.policy_violations()),
            ["CKA_EXTRACTABLE", "CKA_NEVER_EXTRACTABLE"]
        );
    }
    // CKA_WRAP_WITH_TRUSTED on a never-extractable key changes nothing.
    let fixed = ObjectAttributes {
        extractable: Some(false),
        never_extractable: Some(true),
        ..backup.clone()
    };
    assert_eq!(KeyPolicy::of(&fixed), KeyPolicy::NeverExtractable);
    assert_eq!(fixed.policy_violations(), vec![]);
    // Backup keys still sign only.
    let decrypts = ObjectAttributes {
        decrypt: Some(true),
        ..backup
    };
    assert_eq!(names(decrypts.policy_violations()), ["CKA_DECRYPT"]);
}

#[test]
fn policy_names_and_the_plan_text_of_existing_scripts() {
    for (policy, name) in [
        (KeyPolicy::NeverExtractable, "never-extractable"),
        (KeyPolicy::Backup, "backup"),
        (KeyPolicy::Restored, "restored"),
    ] {
        assert_eq!(policy.name(), name);
        assert_eq!(
            serde_json::to_string(&policy).expect("json"),
            format!("\"{name}\"")
        );
    }
    assert_eq!(KeyPolicy::chosen(false), KeyPolicy::NeverExtractable);
    assert_eq!(KeyPolicy::chosen(true), KeyPolicy::Backup);
    // Acknowledgement codes of existing scripts derive from these words.
    assert_eq!(
        KeyPolicy::NeverExtractable.plan_text(),
        "sensitive, never extractable, sign only"
    );
    assert_eq!(
        KeyPolicy::Backup.plan_text(),
        "sensitive, extractable only under a trusted wrap key, sign only; policy backup"
    );
}
