//! The ceremony script: a TOML file, reviewed and approved before the
//! ceremony, that names the token, the people, the outputs and every step.
//!
//! Unknown keys are rejected everywhere, so a typo never silently changes
//! what a ceremony does. A script holds no secrets: PINs come from the
//! operator at run time.

use std::path::PathBuf;

use serde::Deserialize;

use crate::token::{KeyAlgorithm, SignatureHash};

/// A whole ceremony script.
#[derive(Debug, Clone, Deserialize)]
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

/// Where the ceremony writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// The transcript file; later ceremonies append to the same file.
    pub transcript: PathBuf,
    /// The directory certificates are written under.
    pub directory: PathBuf,
}

/// One step of a ceremony. The `action` key picks the kind; the other keys
/// belong to that kind (deserialized in two passes so that errors name the
/// offending key, which serde's internally tagged enums do not).
#[derive(Debug, Clone)]
pub enum Step {
    /// Generate a CA key pair in the token and self-sign its root certificate.
    GenerateRoot(GenerateRoot),
    /// Sign every request in a sealed request bundle with existing CA keys.
    SignRequests(Box<SignRequests>),
    /// Generate the audit key that signs transcript checkpoints.
    GenerateAuditKey(GenerateAuditKey),
    /// Issue a CRL from a CA key already in the token.
    IssueCrl(Box<IssueCrl>),
}

impl Step {
    /// The step's id, unique within the script.
    pub fn id(&self) -> &str {
        match self {
            Step::GenerateRoot(s) => &s.id,
            Step::SignRequests(s) => &s.id,
            Step::GenerateAuditKey(s) => &s.id,
            Step::IssueCrl(s) => &s.id,
        }
    }

    /// True when each witness must acknowledge the step before it runs.
    pub fn witnessed(&self) -> bool {
        match self {
            Step::GenerateRoot(s) => s.witnessed,
            Step::SignRequests(s) => s.witnessed,
            Step::GenerateAuditKey(s) => s.witnessed,
            Step::IssueCrl(s) => s.witnessed,
        }
    }

    /// The action name as written in the script.
    pub fn action(&self) -> &'static str {
        match self {
            Step::GenerateRoot(_) => "generate-root",
            Step::SignRequests(_) => "sign-requests",
            Step::GenerateAuditKey(_) => "generate-audit-key",
            Step::IssueCrl(_) => "issue-crl",
        }
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
        let fields = |e: serde_path_to_error::Error<toml::de::Error>| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            D::Error::custom(format!(
                "step {id:?} ({action}): {path}: {}",
                inner.message()
            ))
        };
        let value = toml::Value::Table(table);
        match action.as_str() {
            "generate-root" => serde_path_to_error::deserialize(value)
                .map(Step::GenerateRoot)
                .map_err(fields),
            "sign-requests" => serde_path_to_error::deserialize(value)
                .map(|s| Step::SignRequests(Box::new(s)))
                .map_err(fields),
            "generate-audit-key" => serde_path_to_error::deserialize(value)
                .map(Step::GenerateAuditKey)
                .map_err(fields),
            "issue-crl" => serde_path_to_error::deserialize(value)
                .map(|s| Step::IssueCrl(Box::new(s)))
                .map_err(fields),
            other => Err(D::Error::custom(format!(
                "step {id:?}: unknown action {other:?}; known actions: generate-root, sign-requests, generate-audit-key, issue-crl"
            ))),
        }
    }
}

fn default_validity_days() -> u32 {
    3650
}

fn default_backdate_minutes() -> u32 {
    5
}

/// A `generate-root` step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRoot {
    /// Step id, unique within the script (`[a-z0-9-]`).
    pub id: String,
    /// `CKA_LABEL` of the new key pair; must not exist in the token.
    pub key_label: String,
    /// Key algorithm.
    pub algorithm: KeyAlgorithm,
    /// Digest for RSA signatures (default sha256); not allowed for ECDSA.
    pub hash: Option<SignatureHash>,
    /// Subject, RFC 4514 (`CN=kubernetes`).
    pub subject: String,
    /// Days the certificate is valid from now (default 3650).
    #[serde(default = "default_validity_days")]
    pub validity_days: u32,
    /// Minutes notBefore is set before now (default 5).
    #[serde(default = "default_backdate_minutes")]
    pub backdate_minutes: u32,
    /// pathLenConstraint in basicConstraints (default: none).
    pub path_len: Option<u8>,
    /// Where the certificate is written, relative to the output directory.
    pub certificate: PathBuf,
    /// Each witness acknowledges the step before it runs.
    #[serde(default)]
    pub witnessed: bool,
}

/// A `generate-audit-key` step: the key (in the token, never a CA key) that
/// signs transcript checkpoints; its label is `[audit] key_label`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateAuditKey {
    /// Step id, unique within the script.
    pub id: String,
    /// Key algorithm: ecdsa-p256 (default) or ecdsa-p384.
    #[serde(default = "default_audit_algorithm")]
    pub algorithm: KeyAlgorithm,
    /// Where its public key (PEM) is written, relative to the output directory.
    pub public_key: PathBuf,
    /// Each witness acknowledges the step before it runs.
    #[serde(default)]
    pub witnessed: bool,
}

fn default_audit_algorithm() -> KeyAlgorithm {
    KeyAlgorithm::EcdsaP256
}

/// What a signing step does when a request breaks its profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnRejection {
    /// Sign nothing in the step (the default).
    #[default]
    Stop,
    /// Sign the other requests; report the rejected ones.
    Skip,
}

/// A `sign-requests` step: sign a sealed request bundle in one batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequests {
    /// Step id, unique within the script.
    pub id: String,
    /// The request bundle file.
    pub bundle: PathBuf,
    /// Its SHA-256, as the requester sent it out of band.
    pub bundle_sha256: String,
    /// Output bundle name: writes `NAME.tar.age` and `NAME.tar.age.sha256`
    /// in the output directory.
    pub output: String,
    /// age X25519 recipients (`age1…`) the output bundle is encrypted to.
    pub recipients: Vec<String>,
    /// Stop (default) or skip when a request breaks its profile.
    #[serde(default)]
    pub on_rejection: OnRejection,
    /// Allow `super-admin` (O=system:masters) requests.
    #[serde(default)]
    pub allow_break_glass: bool,
    /// The CA keys and certificates this step may sign with.
    pub issuers: Issuers,
    /// Settings for `intermediate-ca` requests.
    #[serde(default)]
    pub intermediate: IntermediateSpec,
    /// The cluster's node names and networks, for node-bound requests.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Each witness acknowledges the step before it runs.
    #[serde(default)]
    pub witnessed: bool,
}

/// What a signing step knows of the cluster (`[step.cluster]`): where node
/// names and addresses live, and the service networks whose addresses only
/// the API server's certificate may carry. With none stated, a node-bound
/// request may name only its node.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// DNS suffixes node names live under (`nodes.example.com`).
    #[serde(default)]
    pub node_dns_suffixes: Vec<String>,
    /// The node networks (CIDR, or a single address).
    #[serde(default)]
    pub node_networks: Vec<String>,
    /// The service networks (CIDR), or the service IPs.
    #[serde(default)]
    pub service_networks: Vec<String>,
}

/// The CAs a signing step may use, by role.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Issuers {
    /// The cluster CA (`ca`).
    pub cluster: Option<IssuerSpec>,
    /// The etcd CA (`etcd/ca`).
    pub etcd: Option<IssuerSpec>,
    /// The front-proxy CA.
    #[serde(rename = "front-proxy")]
    pub front_proxy: Option<IssuerSpec>,
}

/// One CA: its key in the token and its certificate on disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpec {
    /// `CKA_LABEL` of the CA key in the token.
    pub key_label: String,
    /// The CA certificate (PEM), relative to the current directory.
    pub certificate: PathBuf,
    /// Digest for RSA signatures (default sha256); not allowed for ECDSA.
    pub hash: Option<SignatureHash>,
}

/// What intermediate CAs signed in a step look like.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct IntermediateSpec {
    /// pathLenConstraint (default 0: it may sign only leaves).
    #[serde(default)]
    pub path_len: u8,
    /// `none` (default) or `server-and-client`.
    #[serde(default)]
    pub eku: IntermediateEku,
    /// Permitted DNS subtrees.
    #[serde(default)]
    pub permitted_dns: Vec<String>,
    /// Excluded DNS subtrees.
    #[serde(default)]
    pub excluded_dns: Vec<String>,
    /// Permitted IP subtrees (CIDR).
    #[serde(default)]
    pub permitted_ips: Vec<String>,
    /// Excluded IP subtrees (CIDR).
    #[serde(default)]
    pub excluded_ips: Vec<String>,
}

/// An intermediate's EKU: Go requires EKUs to nest, so none or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IntermediateEku {
    /// No EKU extension.
    #[default]
    None,
    /// serverAuth and clientAuth.
    ServerAndClient,
}

fn default_next_update_days() -> u32 {
    30
}

/// An `issue-crl` step: a CRL signed by a CA key in the token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueCrl {
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

/// Parses a script from TOML text.
pub fn parse(text: &str) -> Result<Script, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', "\n  "))
}

#[cfg(test)]
mod tests;
