//! The CA key policies: the attributes that prove a private key cannot leave
//! the token ([`KeyPolicy::NeverExtractable`]), or can leave it only wrapped
//! by a key the security officer made trusted ([`KeyPolicy::Backup`], and
//! [`KeyPolicy::Restored`] for such a key unwrapped into a token); how
//! they are read back (an attribute the module does not report is asked for
//! alone and, still unanswered, unknown: never false) and the violations of
//! a policy. Pure: no token calls; the token's answers come in as values
//! ([`read_back`]).

use cryptoki::object::{Attribute, AttributeType};
use serde::{Deserialize, Serialize};

/// What a read-back gave: the values the token reported, trusted, and the
/// attributes it did not report (unknown, never false).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReadBack {
    /// Every attribute the token reported, in the order asked.
    pub values: Vec<Attribute>,
    /// Every attribute asked for that the token did not report, in the order asked.
    pub unknown: Vec<AttributeType>,
}

/// The read-back rule. `batch` is what one `C_GetAttributeValue` for all of
/// `types` returned (cryptoki leaves out an attribute the module marked
/// unavailable). When it answered every type, it is taken as it is. When it
/// left one out, the module returned an error, and a module may stop at the
/// first attribute it cannot answer: cryptoki pre-fills each boolean buffer
/// with false, so every later value of the batch may be that false, not the
/// module's. Then the batch is thrown away and each attribute is asked for
/// on its own (`alone`, one call per attribute, `None` when the module does
/// not report it), and one still unanswered is named in
/// [`ReadBack::unknown`].
pub(crate) fn read_back<E>(
    types: &[AttributeType],
    batch: Vec<Attribute>,
    mut alone: impl FnMut(AttributeType) -> Result<Option<Attribute>, E>,
) -> Result<ReadBack, E> {
    let answered = |t: &AttributeType| batch.iter().any(|a| a.attribute_type() == *t);
    if types.iter().all(answered) {
        return Ok(ReadBack {
            values: batch,
            unknown: Vec::new(),
        });
    }
    let mut out = ReadBack {
        values: Vec::new(),
        unknown: Vec::new(),
    };
    for &t in types {
        match alone(t)? {
            Some(a) if a.attribute_type() == t => out.values.push(a),
            _ => out.unknown.push(t),
        }
    }
    Ok(out)
}

/// The policy a CA private key is made under and held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyPolicy {
    /// Sensitive, never extractable, sign only: the key never leaves the
    /// token. Every key recorded before policies were named had this one.
    #[default]
    NeverExtractable,
    /// Sensitive, extractable only under a trusted wrap key
    /// (`CKA_WRAP_WITH_TRUSTED`), sign only: the key can be backed up, and
    /// the module refuses to wrap it with a key the security officer did
    /// not make trusted (`CKA_TRUSTED`). Generated in the token: always
    /// sensitive and local.
    Backup,
    /// A backup key restored into this token (unwrapped, so neither local
    /// nor always sensitive), held to the same rule otherwise: sensitive,
    /// extractable only under a trusted wrap key, sign only. Never chosen
    /// by a script; the attributes cannot tell an unwrapped key from one
    /// imported in clear, so its provenance is the restore's record.
    Restored,
}

impl KeyPolicy {
    /// The policy's name, as scripts, records and the inventory spell it.
    pub fn name(self) -> &'static str {
        match self {
            KeyPolicy::NeverExtractable => "never-extractable",
            KeyPolicy::Backup => "backup",
            KeyPolicy::Restored => "restored",
        }
    }

    /// The policy a script's `backup` key chooses.
    pub fn chosen(backup: bool) -> KeyPolicy {
        if backup {
            KeyPolicy::Backup
        } else {
            KeyPolicy::NeverExtractable
        }
    }

    /// What the policy means, as the dry run and the inventory say it.
    pub fn describe(self) -> &'static str {
        match self {
            KeyPolicy::NeverExtractable => "sensitive, never extractable, sign only",
            KeyPolicy::Backup => "sensitive, extractable only under a trusted wrap key, sign only",
            KeyPolicy::Restored => {
                "sensitive, extractable only under a trusted wrap key, sign only; unwrapped into this token, not generated in it"
            }
        }
    }

    /// The dry run's words for the policy of a key a step generates. The
    /// never-extractable text is the one plans printed before policies were
    /// named: acknowledgement codes derive from it and must not change.
    pub fn plan_text(self) -> String {
        match self {
            KeyPolicy::NeverExtractable => self.describe().to_string(),
            KeyPolicy::Backup | KeyPolicy::Restored => {
                format!("{}; policy {}", self.describe(), self.name())
            }
        }
    }

    /// The policy a private key's attributes claim: when it is extractable
    /// and may be wrapped only by a trusted key, [`KeyPolicy::Backup`] if
    /// it was generated in the token (`CKA_LOCAL`), else
    /// [`KeyPolicy::Restored`]; otherwise [`KeyPolicy::NeverExtractable`],
    /// so that an extractable key without `CKA_WRAP_WITH_TRUSTED` breaks it.
    pub fn of(attributes: &ObjectAttributes) -> KeyPolicy {
        if attributes.extractable != Some(true) || attributes.wrap_with_trusted != Some(true) {
            KeyPolicy::NeverExtractable
        } else if attributes.local == Some(true) {
            KeyPolicy::Backup
        } else {
            KeyPolicy::Restored
        }
    }

    /// The attributes the policy requires, with their values, in policy order.
    fn rule(self, a: &ObjectAttributes) -> Vec<(&'static str, Option<bool>, bool)> {
        let mut rule = vec![
            ("CKA_TOKEN", a.token, true),
            ("CKA_PRIVATE", a.private, true),
            ("CKA_SENSITIVE", a.sensitive, true),
        ];
        match self {
            KeyPolicy::NeverExtractable => rule.extend([
                ("CKA_EXTRACTABLE", a.extractable, false),
                ("CKA_ALWAYS_SENSITIVE", a.always_sensitive, true),
                ("CKA_NEVER_EXTRACTABLE", a.never_extractable, true),
                ("CKA_LOCAL", a.local, true),
            ]),
            KeyPolicy::Backup => rule.extend([
                ("CKA_EXTRACTABLE", a.extractable, true),
                ("CKA_WRAP_WITH_TRUSTED", a.wrap_with_trusted, true),
                ("CKA_ALWAYS_SENSITIVE", a.always_sensitive, true),
                ("CKA_LOCAL", a.local, true),
            ]),
            KeyPolicy::Restored => rule.extend([
                ("CKA_EXTRACTABLE", a.extractable, true),
                ("CKA_WRAP_WITH_TRUSTED", a.wrap_with_trusted, true),
            ]),
        }
        rule.extend([
            ("CKA_SIGN", a.sign, true),
            ("CKA_DECRYPT", a.decrypt, false),
            ("CKA_UNWRAP", a.unwrap, false),
            ("CKA_DERIVE", a.derive, false),
        ]);
        rule
    }
}

impl std::fmt::Display for KeyPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The attributes of a private key that show whether it can leave the token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyAttributes {
    /// CKA_TOKEN: kept on the token.
    pub token: bool,
    /// CKA_PRIVATE: usable only after login.
    pub private: bool,
    /// CKA_SENSITIVE: never revealed in plaintext.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE: can be wrapped out of the token.
    pub extractable: bool,
    /// CKA_ALWAYS_SENSITIVE: sensitive since it was made.
    pub always_sensitive: bool,
    /// CKA_NEVER_EXTRACTABLE: never extractable since it was made.
    pub never_extractable: bool,
    /// CKA_WRAP_WITH_TRUSTED: wrapped only by a key with `CKA_TRUSTED`;
    /// `None` when the token does not report it, and in records written
    /// before it was read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_with_trusted: Option<bool>,
    /// CKA_LOCAL: generated inside the token.
    pub local: bool,
    /// CKA_SIGN: may sign.
    pub sign: bool,
    /// CKA_DECRYPT: may decrypt.
    pub decrypt: bool,
    /// CKA_UNWRAP: may unwrap keys into the token.
    pub unwrap: bool,
    /// CKA_DERIVE: may derive other keys.
    pub derive: bool,
}

impl KeyAttributes {
    /// The attribute types read back for a `KeyAttributes`, in field order.
    pub(crate) const TYPES: [AttributeType; 12] = [
        AttributeType::Token,
        AttributeType::Private,
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
        AttributeType::WrapWithTrusted,
        AttributeType::Local,
        AttributeType::Sign,
        AttributeType::Decrypt,
        AttributeType::Unwrap,
        AttributeType::Derive,
    ];

    /// The first attribute that breaks the policy the attributes claim
    /// ([`KeyPolicy::of`]), as (name, actual, required).
    pub fn policy_violation(&self) -> Option<(&'static str, bool, bool)> {
        self.policy_violation_under(KeyPolicy::of(&ObjectAttributes::from(self)))
    }

    /// The first attribute that breaks `policy`, as (name, actual,
    /// required); an unreported `CKA_WRAP_WITH_TRUSTED` counts as false.
    pub fn policy_violation_under(&self, policy: KeyPolicy) -> Option<(&'static str, bool, bool)> {
        ObjectAttributes::from(self)
            .policy_violations_under(policy)
            .into_iter()
            .next()
            .map(|v| (v.attribute, v.actual.unwrap_or(!v.required), v.required))
    }

    /// The attributes as read back, an unreported one counting against the policy.
    pub(super) fn from_reported(r: &ObjectAttributes) -> KeyAttributes {
        KeyAttributes {
            token: r.token.unwrap_or(false),
            private: r.private.unwrap_or(false),
            sensitive: r.sensitive.unwrap_or(false),
            extractable: r.extractable.unwrap_or(true),
            always_sensitive: r.always_sensitive.unwrap_or(false),
            never_extractable: r.never_extractable.unwrap_or(false),
            wrap_with_trusted: r.wrap_with_trusted,
            local: r.local.unwrap_or(false),
            sign: r.sign.unwrap_or(false),
            decrypt: r.decrypt.unwrap_or(true),
            unwrap: r.unwrap.unwrap_or(true),
            derive: r.derive.unwrap_or(true),
        }
    }
}

/// An object's key attributes as the token reports them: `None` where the
/// token reports nothing (the attribute does not apply to the object's class,
/// or cannot be read), never a guessed `false`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectAttributes {
    /// CKA_TOKEN: kept on the token.
    pub token: Option<bool>,
    /// CKA_PRIVATE: usable only after login.
    pub private: Option<bool>,
    /// CKA_SENSITIVE: never revealed in plaintext.
    pub sensitive: Option<bool>,
    /// CKA_EXTRACTABLE: can be wrapped out of the token.
    pub extractable: Option<bool>,
    /// CKA_ALWAYS_SENSITIVE: sensitive since it was made.
    pub always_sensitive: Option<bool>,
    /// CKA_NEVER_EXTRACTABLE: never extractable since it was made.
    pub never_extractable: Option<bool>,
    /// CKA_WRAP_WITH_TRUSTED: wrapped only by a key with `CKA_TRUSTED`
    /// (absent, not null, when not reported: older records read back as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_with_trusted: Option<bool>,
    /// CKA_LOCAL: generated inside the token.
    pub local: Option<bool>,
    /// CKA_SIGN: may sign.
    pub sign: Option<bool>,
    /// CKA_DECRYPT: may decrypt.
    pub decrypt: Option<bool>,
    /// CKA_WRAP: may wrap other keys.
    pub wrap: Option<bool>,
    /// CKA_TRUSTED: may wrap keys that only a trusted key may wrap (set by
    /// the security officer); absent, not null, when not reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// CKA_UNWRAP: may unwrap keys into the token.
    pub unwrap: Option<bool>,
    /// CKA_DERIVE: may derive other keys.
    pub derive: Option<bool>,
}

/// One attribute that breaks a rule: its name, its value and the value required.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyViolation {
    /// The PKCS#11 attribute, `CKA_EXTRACTABLE`.
    #[serde(deserialize_with = "policy_attribute")]
    pub attribute: StaticName,
    /// The value the token reports; `None` when it reports none.
    pub actual: Option<bool>,
    /// The value the policy requires.
    pub required: bool,
}

impl ObjectAttributes {
    /// The attribute types that fill an `ObjectAttributes`, in field order.
    pub(crate) const TYPES: [AttributeType; 14] = [
        AttributeType::Token,
        AttributeType::Private,
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
        AttributeType::WrapWithTrusted,
        AttributeType::Local,
        AttributeType::Sign,
        AttributeType::Decrypt,
        AttributeType::Wrap,
        AttributeType::Trusted,
        AttributeType::Unwrap,
        AttributeType::Derive,
    ];

    /// Takes the key attributes out of a `C_GetAttributeValue` answer.
    pub(crate) fn collect<'a>(attrs: impl IntoIterator<Item = &'a Attribute>) -> ObjectAttributes {
        let mut out = ObjectAttributes::default();
        for a in attrs {
            let (slot, v) = match a {
                Attribute::Token(v) => (&mut out.token, v),
                Attribute::Private(v) => (&mut out.private, v),
                Attribute::Sensitive(v) => (&mut out.sensitive, v),
                Attribute::Extractable(v) => (&mut out.extractable, v),
                Attribute::AlwaysSensitive(v) => (&mut out.always_sensitive, v),
                Attribute::NeverExtractable(v) => (&mut out.never_extractable, v),
                Attribute::WrapWithTrusted(v) => (&mut out.wrap_with_trusted, v),
                Attribute::Trusted(v) => (&mut out.trusted, v),
                Attribute::Local(v) => (&mut out.local, v),
                Attribute::Sign(v) => (&mut out.sign, v),
                Attribute::Decrypt(v) => (&mut out.decrypt, v),
                Attribute::Wrap(v) => (&mut out.wrap, v),
                Attribute::Unwrap(v) => (&mut out.unwrap, v),
                Attribute::Derive(v) => (&mut out.derive, v),
                _ => continue,
            };
            *slot = Some(*v);
        }
        out
    }

    /// Every attribute that breaks the private-key policy the attributes
    /// claim ([`KeyPolicy::of`]), in policy order. An attribute the token
    /// does not report never meets the policy.
    pub fn policy_violations(&self) -> Vec<PolicyViolation> {
        self.policy_violations_under(KeyPolicy::of(self))
    }

    /// Every attribute that breaks `policy`, in policy order.
    pub fn policy_violations_under(&self, policy: KeyPolicy) -> Vec<PolicyViolation> {
        policy
            .rule(self)
            .into_iter()
            .filter(|(_, actual, required)| *actual != Some(*required))
            .map(|(attribute, actual, required)| PolicyViolation {
                attribute,
                actual,
                required,
            })
            .collect()
    }
}

impl From<&KeyAttributes> for ObjectAttributes {
    fn from(k: &KeyAttributes) -> ObjectAttributes {
        ObjectAttributes {
            token: Some(k.token),
            private: Some(k.private),
            sensitive: Some(k.sensitive),
            extractable: Some(k.extractable),
            always_sensitive: Some(k.always_sensitive),
            never_extractable: Some(k.never_extractable),
            wrap_with_trusted: k.wrap_with_trusted,
            local: Some(k.local),
            sign: Some(k.sign),
            decrypt: Some(k.decrypt),
            // A private key has no CKA_WRAP; the transcript's record leaves it out.
            wrap: None,
            trusted: None,
            unwrap: Some(k.unwrap),
            derive: Some(k.derive),
        }
    }
}

/// Every attribute a [`PolicyViolation`] may name.
const POLICY_ATTRIBUTES: [&str; 13] = [
    "CKA_TOKEN",
    "CKA_PRIVATE",
    "CKA_SENSITIVE",
    "CKA_EXTRACTABLE",
    "CKA_ALWAYS_SENSITIVE",
    "CKA_NEVER_EXTRACTABLE",
    "CKA_WRAP_WITH_TRUSTED",
    "CKA_LOCAL",
    "CKA_SIGN",
    "CKA_DECRYPT",
    "CKA_WRAP",
    "CKA_UNWRAP",
    "CKA_DERIVE",
];

/// A name from a fixed list, read back as the `&'static str` it was written
/// from (the alias keeps serde from borrowing it from the input).
pub(crate) type StaticName = &'static str;

/// Reads a name back as the one of `known` it was written from.
pub(crate) fn known_name<'de, D: serde::Deserializer<'de>>(
    d: D,
    known: &[&'static str],
) -> std::result::Result<&'static str, D::Error> {
    let name = String::deserialize(d)?;
    known.iter().copied().find(|k| *k == name).ok_or_else(|| {
        serde::de::Error::custom(format!("{name:?} is not one of {}", known.join(", ")))
    })
}

fn policy_attribute<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<&'static str, D::Error> {
    known_name(d, &POLICY_ATTRIBUTES)
}

#[cfg(test)]
mod tests;
