//! The text of one share, as sealed to its custodian: a format tag, then
//! one `field: value` line per field (see docs/formats.md).
//!
//! ```text
//! ceremony-share/1
//! purpose: backup
//! set: <SHA-256 of the commitments, 64 hex>
//! custodian: alice
//! index: 1
//! threshold: 2
//! count: 3
//! commitments: <66 hex>,<66 hex>
//! value: <64 hex>
//! ```
//!
//! Reading is strict: the tag first, every field exactly once (in any
//! order), no other line, lowercase canonical hex and decimal, and the
//! fields consistent with each other (the set id is the commitments'
//! fingerprint, the threshold their number, the index within the count).
//! Each refusal names the field and the rule. Whether the share matches
//! its commitments is [`ShareFile::verify`], kept apart so the reader can
//! name a bad share by custodian and index.

use std::fmt;
use std::str::FromStr;

use p256::elliptic_curve::ff::PrimeField;
use p256::{FieldBytes, Scalar};
use zeroize::Zeroizing;

use super::vss::{verify_share, Commitments, Share};

/// The first line of every share file.
pub const FORMAT_TAG: &str = "ceremony-share/1";

/// The longest custodian name, in characters.
pub const MAX_CUSTODIAN_CHARS: usize = 64;

/// The fields, in the order they are written.
const FIELDS: [&str; 8] = [
    "purpose",
    "set",
    "custodian",
    "index",
    "threshold",
    "count",
    "commitments",
    "value",
];

/// What the shared secret is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// The backup wrap key (`backup`).
    Backup,
    /// The token's user PIN under quorum activation (`user-pin`).
    UserPin,
}

impl Purpose {
    /// The name written in share files.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Backup => "backup",
            Purpose::UserPin => "user-pin",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Purpose, ParseError> {
        match s {
            "backup" => Ok(Purpose::Backup),
            "user-pin" => Ok(Purpose::UserPin),
            _ => Err(invalid("purpose", "is neither backup nor user-pin")),
        }
    }
}

/// Why a share file's text, or the fields of a new one, were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The first line is not [`FORMAT_TAG`].
    #[error("the first line is not {FORMAT_TAG}")]
    FormatTag,
    /// The text does not end with one newline, or holds a carriage return.
    #[error("{rule}")]
    Layout {
        /// The rule broken.
        rule: &'static str,
    },
    /// A line is not `field: value`.
    #[error("line {line} is not `field: value`")]
    Line {
        /// The line number, from 1.
        line: usize,
    },
    /// A field this format does not have.
    #[error("line {line}: unknown field {field:?}")]
    Unknown {
        /// The field's name as written.
        field: String,
        /// The line number, from 1.
        line: usize,
    },
    /// A field given twice.
    #[error("line {line}: field {field} given twice")]
    Duplicate {
        /// The field.
        field: &'static str,
        /// The line number of the second one, from 1.
        line: usize,
    },
    /// A field not given.
    #[error("field {field} is missing")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field's value breaks its rule, or disagrees with another field.
    #[error("field {field}: {rule}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule broken.
        rule: String,
    },
}

fn invalid(field: &'static str, rule: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        field,
        rule: rule.into(),
    }
}

/// One share with what its custodian needs to check and use it.
///
/// Holds a secret (the share value): its `Debug` redacts it, and the text
/// from [`ShareFile::to_text`] is zeroized on drop.
#[derive(Clone, Debug)]
pub struct ShareFile {
    purpose: Purpose,
    custodian: String,
    count: u8,
    commitments: Commitments,
    share: Share,
}

impl ShareFile {
    /// A share file for `custodian`, checking the same rules as
    /// [`ShareFile::parse`] (a name of 1 to 64 characters without control
    /// characters or surrounding spaces; index within 1 to `count`;
    /// threshold at most `count`). The share is not verified here.
    pub fn new(
        purpose: Purpose,
        custodian: &str,
        count: u8,
        commitments: Commitments,
        share: Share,
    ) -> Result<ShareFile, ParseError> {
        check_custodian(custodian)?;
        if count == 0 {
            return Err(invalid("count", "is 0"));
        }
        if commitments.threshold() > count {
            return Err(invalid(
                "threshold",
                format!("{} is over the count {count}", commitments.threshold()),
            ));
        }
        if share.index == 0 || share.index > count {
            return Err(invalid(
                "index",
                format!("{} is not within 1 to the count {count}", share.index),
            ));
        }
        Ok(ShareFile {
            purpose,
            custodian: custodian.to_string(),
            count,
            commitments,
            share,
        })
    }

    /// What the shared secret is for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }
    /// The custodian's name.
    pub fn custodian(&self) -> &str {
        &self.custodian
    }
    /// The share's index, 1 to N.
    pub fn index(&self) -> u8 {
        self.share.index
    }
    /// The threshold M (the number of commitments).
    pub fn threshold(&self) -> u8 {
        self.commitments.threshold()
    }
    /// The number of shares N.
    pub fn count(&self) -> u8 {
        self.count
    }
    /// The commitments the share is checked against.
    pub fn commitments(&self) -> &Commitments {
        &self.commitments
    }
    /// The share (secret).
    pub fn share(&self) -> &Share {
        &self.share
    }
    /// The set id: the commitments' fingerprint ([`Commitments::fingerprint`]).
    pub fn set_id(&self) -> String {
        self.commitments.fingerprint()
    }
    /// Whether the share matches its own commitments ([`verify_share`]).
    pub fn verify(&self) -> bool {
        verify_share(&self.share, &self.commitments)
    }

    /// The file's text (secret: zeroized on drop).
    pub fn to_text(&self) -> Zeroizing<String> {
        let value = Zeroizing::new(self.share.value.to_repr());
        let value_hex = Zeroizing::new(crate::hex::encode(value.as_slice()));
        Zeroizing::new(format!(
            "{FORMAT_TAG}\npurpose: {}\nset: {}\ncustodian: {}\nindex: {}\nthreshold: {}\ncount: {}\ncommitments: {}\nvalue: {}\n",
            self.purpose,
            self.set_id(),
            self.custodian,
            self.share.index,
            self.threshold(),
            self.count,
            self.commitments.to_hex(),
            value_hex.as_str(),
        ))
    }

    /// Reads the text [`ShareFile::to_text`] writes, strictly (see the module docs).
    pub fn parse(text: &str) -> Result<ShareFile, ParseError> {
        if text.contains('\r') {
            return Err(ParseError::Layout {
                rule: "holds a carriage return",
            });
        }
        let body = text
            .strip_suffix('\n')
            .filter(|b| !b.ends_with('\n'))
            .ok_or(ParseError::Layout {
                rule: "does not end with exactly one newline",
            })?;
        let mut lines = body.split('\n');
        if lines.next() != Some(FORMAT_TAG) {
            return Err(ParseError::FormatTag);
        }
        let mut values: [Option<&str>; FIELDS.len()] = [None; FIELDS.len()];
        for (number, line) in lines.enumerate().map(|(i, l)| (i + 2, l)) {
            let (name, value) = line
                .split_once(": ")
                .ok_or(ParseError::Line { line: number })?;
            let slot =
                FIELDS
                    .iter()
                    .position(|f| *f == name)
                    .ok_or_else(|| ParseError::Unknown {
                        field: name.chars().take(40).collect(),
                        line: number,
                    })?;
            if values[slot].replace(value).is_some() {
                return Err(ParseError::Duplicate {
                    field: FIELDS[slot],
                    line: number,
                });
            }
        }
        let field = |name: &'static str| {
            let slot = FIELDS
                .iter()
                .position(|f| *f == name)
                .expect("a field of FIELDS");
            values[slot].ok_or(ParseError::Missing { field: name })
        };
        for name in FIELDS {
            field(name)?;
        }
        let purpose: Purpose = field("purpose")?.parse()?;
        let commitments = Commitments::from_hex(field("commitments")?)
            .map_err(|e| invalid("commitments", e.to_string()))?;
        if field("set")? != commitments.fingerprint() {
            return Err(invalid("set", "is not the SHA-256 of the commitments"));
        }
        let threshold = number("threshold", field("threshold")?)?;
        if threshold != commitments.threshold() {
            return Err(invalid(
                "threshold",
                format!(
                    "is {threshold} but there are {} commitments",
                    commitments.threshold()
                ),
            ));
        }
        let count = number("count", field("count")?)?;
        let index = number("index", field("index")?)?;
        let value = scalar(field("value")?)?;
        ShareFile::new(
            purpose,
            field("custodian")?,
            count,
            commitments,
            Share { index, value },
        )
    }
}

/// A decimal 1 to 255 without sign or leading zeros.
fn number(field: &'static str, text: &str) -> Result<u8, ParseError> {
    text.parse::<u8>()
        .ok()
        .filter(|n| *n != 0 && n.to_string() == text)
        .ok_or_else(|| invalid(field, "is not a decimal number from 1 to 255"))
}

/// A share value: 64 lowercase hex digits, a scalar below the group order.
fn scalar(text: &str) -> Result<Scalar, ParseError> {
    let bytes = Zeroizing::new(
        crate::hex::decode(text)
            .filter(|b| b.len() == 32 && crate::hex::encode(b) == text)
            .ok_or_else(|| invalid("value", "is not 64 lowercase hex digits"))?,
    );
    let repr = FieldBytes::try_from(bytes.as_slice()).expect("32 bytes checked above");
    Option::from(Scalar::from_repr(repr))
        .ok_or_else(|| invalid("value", "is not below the P-256 group order"))
}

/// The custodian name rule.
fn check_custodian(name: &str) -> Result<(), ParseError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_CUSTODIAN_CHARS {
        return Err(invalid(
            "custodian",
            format!("must be 1 to {MAX_CUSTODIAN_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("custodian", "holds a control character"));
    }
    if name.trim() != name {
        return Err(invalid("custodian", "starts or ends with a space"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
