//! `manifest.json` of an output bundle: one serde type for each of its
//! entries, written by the ceremony and read back by `bundle open`.

use serde::{Deserialize, Serialize};

/// The format tag an output bundle's `manifest.json` names.
pub const FORMAT: &str = "ceremony-output-bundle/1";

/// An issued certificate as listed in `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedEntry {
    /// Request id.
    pub id: String,
    /// Profile name.
    pub profile: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// SANs, `DNS:x` and `IP:x`.
    pub sans: Vec<String>,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the DER certificate, lowercase hex.
    pub sha256: String,
    /// Member path of the certificate: `certs/<id>.crt`.
    pub file: String,
    /// The profile's kubeadm path, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeadm_path: Option<String>,
    /// The profile's kubeconfig, when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
}

/// A rejected request as listed in `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RejectedEntry {
    /// Request id.
    pub id: String,
    /// Profile name as requested.
    pub profile: String,
    /// The rule it broke.
    pub rule: String,
}

/// A CA certificate as listed in `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaEntry {
    /// Role: `cluster`, `etcd` or `front-proxy`.
    pub issuer: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Member path: kubeadm's path for the role.
    pub file: String,
}
