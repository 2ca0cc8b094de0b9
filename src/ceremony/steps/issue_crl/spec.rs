//! An `issue-crl` step as the script gives it: the issuer, the CRL file,
//! nextUpdate, and each revocation by certificate file or serial, with its
//! reason and time.

use std::path::PathBuf;

use serde::Deserialize;

use super::super::issuer::IssuerSpec;
use crate::hex;

fn default_next_update_days() -> u32 {
    30
}

/// An `issue-crl` step: a CRL signed by a CA key in the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Step id, unique within the script.
    pub id: String,
    /// The CA that signs the CRL: its key in the token and its certificate.
    pub issuer: IssuerSpec,
    /// Where the CRL (PEM) is written, relative to the output directory.
    pub crl: PathBuf,
    /// Days from now until nextUpdate (default 30).
    #[serde(default = "default_next_update_days")]
    pub next_update_days: u32,
    /// The certificates the CRL lists as revoked; none makes an empty CRL.
    #[serde(default)]
    pub revoke: Vec<Revoke>,
    /// Each witness acknowledges the step before it runs.
    #[serde(default)]
    pub witnessed: bool,
}

/// One revoked certificate, named by its file or by its serial.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// The certificate file (PEM or DER); its serial is read from it and it
    /// must have been issued by the step's issuer.
    pub certificate: Option<PathBuf>,
    /// The serial number, hex (`4a5b…` or openssl's `4A:5B:…`).
    pub serial: Option<String>,
    /// Why it is revoked.
    pub reason: RevocationReason,
    /// When it was revoked, RFC 3339 UTC (`2026-05-01T12:00:00Z`); default now.
    pub revoked_at: Option<Timestamp>,
}

/// An RFC 5280 CRL reason code, as a script names it (kebab-case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// unspecified (0): no reasonCode extension is written, as RFC 5280 asks.
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
}

impl RevocationReason {
    /// The name as written in a script and in the transcript.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "key-compromise",
            RevocationReason::CaCompromise => "ca-compromise",
            RevocationReason::AffiliationChanged => "affiliation-changed",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessation-of-operation",
        }
    }
}

/// A point in time, written in a script as an RFC 3339 UTC string or a TOML
/// date-time (`2026-05-01T12:00:00Z`), to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub der::DateTime);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let text = match toml::Value::deserialize(d)? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(t) => t.to_string(),
            other => {
                return Err(D::Error::custom(format!(
                    "expected an RFC 3339 UTC time like 2026-05-01T12:00:00Z, not a {}",
                    other.type_str()
                )))
            }
        };
        text.parse::<der::DateTime>().map(Timestamp).map_err(|_| {
            D::Error::custom(format!(
                "{text:?} is not an RFC 3339 UTC time to the second, like 2026-05-01T12:00:00Z"
            ))
        })
    }
}

/// A serial number from the script: hex digits, optionally in colon-separated
/// pairs as openssl prints them. Returns the big-endian bytes without leading
/// zero bytes.
pub fn parse_serial(text: &str) -> Result<Vec<u8>, String> {
    let not_hex = || {
        format!(
            "serial {text:?} is not hex (digits 0-9 and a-f, optionally in colon-separated pairs as openssl prints them)"
        )
    };
    let digits: String = if text.contains(':') {
        if text.split(':').any(|pair| pair.len() != 2) {
            return Err(not_hex());
        }
        text.split(':').collect()
    } else {
        text.to_string()
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_hex());
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let bytes = hex::decode(&padded).ok_or_else(not_hex)?;
    let first = bytes.iter().position(|&b| b != 0);
    let Some(first) = first else {
        return Err(format!(
            "serial {text:?} is zero; serial numbers are positive"
        ));
    };
    let bytes = bytes[first..].to_vec();
    // RFC 5280: at most 20 octets, counting the sign byte DER adds when the
    // top bit is set.
    let encoded = bytes.len() + usize::from(bytes[0] & 0x80 != 0);
    if encoded > 20 {
        return Err(format!(
            "serial {text:?} is longer than the 20 octets RFC 5280 allows"
        ));
    }
    Ok(bytes)
}
