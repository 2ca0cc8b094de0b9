//! The requester's side, on the online machine: seal CSRs into a request
//! bundle whose digest travels out of band, and open the output bundle the
//! ceremony sends back.
//!
//! Sealing never reads or copies a private key: any input that holds one is
//! refused, as is a CSR whose signature does not verify.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bundle::request::{self, RequestEntry};
use crate::profile::{self, StepPolicy};
use crate::x509::{self, parse_csr};

/// Errors on the requester's side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manifest could not be read or parsed.
    #[error("manifest {}: {reason}", path.display())]
    Manifest { path: PathBuf, reason: String },
    /// A request is refused.
    #[error("request {id}: {reason}")]
    Request { id: String, reason: String },
    /// The bundle could not be written or read.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::Error),
}

impl Error {
    /// A likely fix, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Request { reason, .. } if reason.contains("private key") => {
                Some("seal only the .csr files; private keys stay with the requester".into())
            }
            Error::Bundle(e) => e.hint(),
            _ => None,
        }
    }
}

/// The requester's manifest (`requests.toml`): one `[[request]]` per CSR.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(rename = "request")]
    requests: Vec<ManifestRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestRequest {
    id: String,
    profile: String,
    /// The CSR file, relative to the manifest's directory.
    csr: PathBuf,
    node: Option<String>,
    #[serde(default)]
    dns: Vec<String>,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    uris: Vec<String>,
    validity_days: Option<u32>,
    kubeadm_path: Option<String>,
}

/// The result of sealing.
#[derive(Debug)]
pub struct Sealed {
    /// Number of requests in the bundle.
    pub requests: usize,
    /// The bundle's SHA-256, to send out of band.
    pub sha256: String,
    /// Requests a ceremony would reject, with the rule (sealed anyway:
    /// the ceremony decides).
    pub warnings: Vec<String>,
}

/// Seals the requests listed in `manifest` into a new bundle at `out`.
pub fn seal(manifest: &Path, out: &Path) -> Result<Sealed, Error> {
    let bad = |reason: String| Error::Manifest {
        path: manifest.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(manifest).map_err(|e| bad(e.to_string()))?;
    let parsed: Manifest =
        toml::from_str(&text).map_err(|e| bad(e.to_string().trim_end().to_string()))?;
    if parsed.requests.is_empty() {
        return Err(bad("lists no [[request]]".into()));
    }
    // CSR paths are relative to the manifest; keep them as written when the
    // manifest is in the current directory, so messages name them as given.
    let base = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut sealed = Vec::with_capacity(parsed.requests.len());
    let mut warnings = Vec::new();
    let policy = StepPolicy {
        allow_break_glass: true,
        ..StepPolicy::default()
    };
    for r in parsed.requests {
        let refuse = |reason: String| Error::Request {
            id: r.id.clone(),
            reason,
        };
        let path = base.join(&r.csr);
        let size = std::fs::metadata(&path)
            .map_err(|e| refuse(format!("CSR {}: {e}", path.display())))?
            .len();
        if size > x509::MAX_CSR_BYTES as u64 {
            return Err(refuse(format!(
                "CSR {}: {size} bytes is larger than the {}-byte limit",
                path.display(),
                x509::MAX_CSR_BYTES
            )));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| refuse(format!("CSR {}: {e}", path.display())))?;
        let csr = parse_csr(&format!("CSR {}", path.display()), &bytes)
            .map_err(|e| refuse(e.to_string()))?;
        match profile::find(&r.profile) {
            None => {
                return Err(refuse(format!(
                    "unknown profile {:?}; profiles: {}",
                    r.profile,
                    profile::component::names()
                )))
            }
            Some(p) => {
                let params = profile::RequestParams {
                    node: r.node.as_deref(),
                    dns: &r.dns,
                    ips: &r.ips,
                    emails: &r.emails,
                    uris: &r.uris,
                    validity_days: r.validity_days,
                };
                if let Err(rejection) = p.check(&csr, &params, &policy) {
                    warnings.push(format!(
                        "request {}: a ceremony will reject it: {}",
                        r.id, rejection.rule
                    ));
                }
            }
        }
        if let Some(kp) = &r.kubeadm_path {
            profile::check_kubeadm_path(kp).map_err(refuse)?;
        }
        let entry = RequestEntry {
            id: r.id,
            profile: r.profile,
            csr: String::new(),
            csr_sha256: String::new(),
            node: r.node,
            dns: r.dns,
            ips: r.ips,
            emails: r.emails,
            uris: r.uris,
            validity_days: r.validity_days,
            kubeadm_path: r.kubeadm_path,
        };
        sealed.push((entry, csr.der));
    }
    let requests = sealed.len();
    let sha256 = request::seal(out, sealed)?;
    Ok(Sealed {
        requests,
        sha256,
        warnings,
    })
}
