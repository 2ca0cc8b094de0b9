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
