//! The ceremony script: a TOML file, reviewed and approved before the
//! ceremony, that names the token, the people, the outputs and every step.
//!
//! Unknown keys are rejected everywhere, so a typo never silently changes
//! what a ceremony does. A script holds no secrets: PINs come from the
//! operator at run time.

use std::path::PathBuf;

use serde::Deserialize;

use super::step::StepSpec;
use super::steps;

/// A whole ceremony script.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Name and purpose.
    pub ceremony: Meta,
    /// The token every step uses.
    pub token: TokenSpec,
    /// Who is present.
    pub participants: Participants,
    /// Where the transcript and the outputs go.
    pub output: Output,
    /// The audit key and the checkpoints it signs.
    #[serde(default)]
    pub audit: Audit,
    /// Who must approve the script, by signing its bytes, before the token
    /// is opened.
    pub approvals: Option<Approvals>,
    /// What the ceremony does, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// The ceremony's name and purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// A short name, recorded in the transcript.
    pub name: String,
    /// What the ceremony is for, in a sentence.
    #[serde(default)]
    pub description: String,
}

/// Which PKCS#11 module and token to use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Path of the PKCS#11 module (a shared library).
    pub module: PathBuf,
    /// Token label.
    pub label: Option<String>,
    /// Token serial number.
    pub serial: Option<String>,
    /// An RFC 7512 `pkcs11:` URI naming the token, instead of label/serial.
    pub uri: Option<String>,
}

/// The people present at the ceremony.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    /// The ceremony administrator, who runs the ceremony and answers for it.
    pub administrator: Option<String>,
    /// The person who operates the tool.
    pub operator: String,
    /// The witnesses, by name.
    #[serde(default)]
    pub witnesses: Vec<String>,
}

/// The audit key (never a CA key) and the signed checkpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// `CKA_LABEL` of the audit key in the token.
    #[serde(default = "default_audit_label")]
    pub key_label: String,
    /// The transcript's origin name, part of every checkpoint.
    #[serde(default = "default_origin")]
    pub origin: String,
    /// Where the latest checkpoint is written as text (relative to the
    /// current directory); replaced by each ceremony, all are in the transcript.
    #[serde(default = "default_checkpoint")]
    pub checkpoint: PathBuf,
}

fn default_audit_label() -> String {
    "ceremony-audit".into()
}

fn default_origin() -> String {
    "ceremony transcript".into()
}

fn default_checkpoint() -> PathBuf {
    PathBuf::from("checkpoint")
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            key_label: default_audit_label(),
            origin: default_origin(),
            checkpoint: default_checkpoint(),
        }
    }
}

/// `[approvals]`: K signers of an OpenSSH `allowed_signers` file must sign
/// the script's exact bytes (`ssh-keygen -Y sign -n ceremony-approval`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// The `allowed_signers` file (relative to the current directory).
    pub allowed_signers: PathBuf,
    /// How many distinct signers must approve.
    pub required: u32,
}

/// Where the ceremony writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// The transcript file; later ceremonies append to the same file.
    pub transcript: PathBuf,
    /// The directory certificates are written under.
    pub directory: PathBuf,
}

/// One step of a ceremony. The `action` key picks its type (from
/// [`steps::TYPES`]); the other keys belong to that
/// type, which reads them itself (in a second pass, so that errors name the
/// offending key, which serde's internally tagged enums do not).
#[derive(Debug)]
pub struct Step {
    /// The action, as its type names it.
    pub action: &'static str,
    /// The step's own keys, read by its type.
    pub spec: Box<dyn StepSpec>,
}

impl Step {
    /// The step's id.
    pub fn id(&self) -> &str {
        self.spec.id()
    }

    /// Whether every witness acknowledges it before it runs.
    pub fn witnessed(&self) -> bool {
        self.spec.witnessed()
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(d)?;
        let action = match table.remove("action") {
            Some(toml::Value::String(a)) => a,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "action must be a string, not {}",
                    other.type_str()
                )))
            }
            None => return Err(D::Error::missing_field("action")),
        };
        let id = table
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        let Some(kind) = steps::find(&action) else {
            return Err(D::Error::custom(format!(
                "step {id:?}: unknown action {action:?}; known actions: {}",
                steps::actions()
            )));
        };
        let spec = (kind.parse)(toml::Value::Table(table))
            .map_err(|e| D::Error::custom(format!("step {id:?} ({action}): {e}")))?;
        Ok(Step {
            action: kind.action,
            spec,
        })
    }
}

/// Parses a script from TOML text.
pub fn parse(text: &str) -> Result<Script, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', "\n  "))
}

#[cfg(test)]
mod tests;
