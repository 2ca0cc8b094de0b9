//! The requester's side, on the online machine: seal CSRs into a request
//! bundle whose digest travels out of band, and open the output bundle the
//! ceremony sends back.
//!
//! Sealing never reads or copies a private key: any input that holds one is
//! refused, as is a CSR whose signature does not verify.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bundle::request::{RequestEntry, RequestWriter};
use crate::profile::{self, StepPolicy};
use crate::x509::{self, parse_csr};

/// Errors on the requester's side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manifest could not be read or parsed.
    #[error("manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why, naming the rule broken.
        reason: String,
    },
    /// A request is refused.
    #[error("request {id}: {reason}")]
    Request {
        /// The request's id.
        id: String,
        /// Why, naming the rule broken.
        reason: String,
    },
    /// A request's CSR is refused.
    #[error("request {id}: {source}")]
    Csr {
        /// The request's id.
        id: String,
        /// Why the CSR is refused.
        source: x509::CsrError,
    },
    /// The bundle could not be written or read.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::Error),
}

impl Error {
    /// A likely fix, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Csr {
                source: x509::CsrError::PrivateKey { .. },
                ..
            } => Some("seal only the .csr files; private keys stay with the requester".into()),
            Error::Bundle(e) => e.hint(),
            _ => None,
        }
    }
}

/// The largest request manifest (TOML) accepted, checked before it is read.
pub const MAX_MANIFEST_TOML_BYTES: u64 = 64 << 20;

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
    kubeconfig: Option<String>,
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
    let len = std::fs::metadata(manifest)
        .map_err(|e| bad(e.to_string()))?
        .len();
    if len > MAX_MANIFEST_TOML_BYTES {
        return Err(bad(format!(
            "{len} bytes is larger than the {MAX_MANIFEST_TOML_BYTES}-byte limit for a request manifest"
        )));
    }
    let text = std::fs::read_to_string(manifest).map_err(|e| bad(e.to_string()))?;
    let parsed = parse_manifest(&text).map_err(|e| bad(e.to_string().trim_end().to_string()))?;
    drop(text);
    if parsed.requests.is_empty() {
        return Err(bad("lists no [[request]]".into()));
    }
    // CSR paths are relative to the manifest; keep them as written when the
    // manifest is in the current directory, so messages name them as given.
    let base = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let requests = parsed.requests.into_iter().map(|r| {
        let path = base.join(&r.csr);
        let bytes = read_csr_file(&r.id, &path)?;
        let csr =
            parse_csr(&format!("CSR {}", path.display()), &bytes).map_err(|source| Error::Csr {
                id: r.id.clone(),
                source,
            })?;
        Ok((r, csr))
    });
    seal_requests(requests, out)
}

/// Parses a request manifest one `[[request]]` table at a time, so that
/// memory follows the requests rather than the parser's view of the whole
/// document (about 30 times the size of the text).
///
/// The text is cut before every line that is exactly `[[request]]` and each
/// piece is parsed on its own. If the text before the first such line holds
/// anything but blank lines and comments, or any piece fails, the whole text
/// is parsed in one go instead: the result and every error are then exactly
/// those of `toml::from_str`. A cut at a line inside a string or an array
/// leaves the piece before it unterminated, so it fails and falls back too;
/// a cut at a real table header changes nothing, as the manifest allows no
/// other top-level key.
fn parse_manifest(text: &str) -> Result<Manifest, toml::de::Error> {
    let whole = || toml::from_str::<Manifest>(text);
    let mut cuts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_matches([' ', '\t', '\r', '\n']) == "[[request]]" {
            cuts.push(at);
        }
        at += line.len();
    }
    let Some(&first) = cuts.first() else {
        return whole();
    };
    if !toml::from_str::<toml::Table>(&text[..first]).is_ok_and(|t| t.is_empty()) {
        return whole();
    }
    let mut requests = Vec::with_capacity(cuts.len());
    for (i, &start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(text.len());
        match toml::from_str::<Manifest>(&text[start..end]) {
            Ok(piece) => requests.extend(piece.requests),
            Err(_) => return whole(),
        }
    }
    Ok(Manifest { requests })
}

/// Seals every CSR in a tree left by `kubeadm certs generate-csr
/// --kubeconfig-dir DIR --cert-dir DIR/pki`: `pki/*.csr`, `pki/etcd/*.csr`
/// and `*.conf.csr`. Each file name maps to its profile; `maps` names the
/// profile of any other `.csr` (`pki/extra.csr=kubelet-serving`). Node names
/// and SANs come from the CSR where the profile takes them. Only `.csr`
/// files are read: never a `.key`, never a `.conf`.
pub fn seal_kubeadm(dir: &Path, maps: &[(String, String)], out: &Path) -> Result<Sealed, Error> {
    let bad = |reason: String| Error::Manifest {
        path: dir.to_path_buf(),
        reason,
    };
    let mut found = Vec::new();
    for sub in ["", "pki", "pki/etcd"] {
        let folder = dir.join(sub);
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".csr") && (!sub.is_empty() || n.ends_with(".conf.csr")))
            .collect();
        names.sort();
        for name in names {
            found.push(if sub.is_empty() {
                name
            } else {
                format!("{sub}/{name}")
            });
        }
    }
    for (file, _) in maps {
        if !found.contains(file) {
            return Err(bad(format!(
                "--map names {file}, which is not a CSR in this tree"
            )));
        }
    }
    if found.is_empty() {
        return Err(bad(
            "holds no CSR (looked for pki/*.csr, pki/etcd/*.csr and *.conf.csr); run kubeadm certs generate-csr first"
                .into(),
        ));
    }
    let requests = found.into_iter().map(|rel| {
        let mapped = maps
            .iter()
            .find(|(f, _)| *f == rel)
            .map(|(_, p)| p.as_str());
        let profile = match mapped {
            Some(name) => profile::find(name).ok_or_else(|| {
                bad(format!(
                    "--map {rel}={name}: unknown profile; profiles: {}",
                    profile::component::names()
                ))
            })?,
            None => profile::component::for_kubeadm_csr(&rel).ok_or_else(|| {
                bad(format!(
                    "{rel}: no kubeadm profile for this file name; name one with --map {rel}=PROFILE"
                ))
            })?,
        };
        let path = dir.join(&rel);
        let bytes = read_csr_file(&rel, &path)?;
        let csr =
            parse_csr(&format!("CSR {}", path.display()), &bytes).map_err(|source| Error::Csr {
                id: rel.clone(),
                source,
            })?;
        Ok((kubeadm_request(&rel, profile, &csr), csr))
    });
    seal_requests(requests, out)
}

/// The manifest entry for one kubeadm CSR: id from the file name, node name
/// and SANs from the CSR where the profile takes them.
fn kubeadm_request(rel: &str, profile: &profile::Profile, csr: &x509::Csr) -> ManifestRequest {
    let stem = rel.strip_suffix(".csr").unwrap_or(rel);
    let id = stem.strip_prefix("pki/").unwrap_or(stem).replace('/', "-");
    let cn = csr
        .subject
        .common_name()
        .ok()
        .flatten()
        .map(|c| c.value().into_owned())
        .unwrap_or_default();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    let mut emails = Vec::new();
    let mut uris = Vec::new();
    for san in &csr.requested_sans {
        match san.split_once(':') {
            Some(("DNS", v)) => dns.push(v.to_string()),
            Some(("IP", v)) => ips.push(v.to_string()),
            Some(("email", v)) => emails.push(v.to_string()),
            Some(("URI", v)) => uris.push(v.to_string()),
            _ => {}
        }
    }
    let node = match profile.name {
        "apiserver" => dns.first().cloned(),
        "etcd-server" | "etcd-peer" => Some(cn.clone()),
        _ => cn.strip_prefix("system:node:").map(str::to_string),
    };
    let is_kubeconfig = rel.ends_with(".conf.csr");
    ManifestRequest {
        id,
        profile: profile.name.to_string(),
        csr: PathBuf::from(rel),
        node,
        dns,
        ips,
        emails,
        uris,
        validity_days: None,
        kubeadm_path: (!is_kubeconfig).then(|| format!("{stem}.crt")),
        kubeconfig: is_kubeconfig.then(|| stem.to_string()),
    }
}

/// Reads a CSR file, refusing anything but a regular file within the limit.
fn read_csr_file(id: &str, path: &Path) -> Result<Vec<u8>, Error> {
    let refuse = |reason: String| Error::Request {
        id: id.to_string(),
        reason: format!("CSR {}: {reason}", path.display()),
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > x509::MAX_CSR_BYTES as u64 {
        return Err(refuse(format!(
            "{} bytes is larger than the {}-byte limit",
            meta.len(),
            x509::MAX_CSR_BYTES
        )));
    }
    std::fs::read(path).map_err(|e| refuse(e.to_string()))
}

/// Checks `requests` and seals them into a new bundle at `out`, one at a
/// time: each CSR is read and parsed when its request is taken from the
/// iterator and written to the bundle before the next, so only the
/// manifest entries stay in memory. The output is refused first if it
/// exists; any failure leaves nothing behind.
fn seal_requests(
    requests: impl Iterator<Item = Result<(ManifestRequest, x509::Csr), Error>>,
    out: &Path,
) -> Result<Sealed, Error> {
    let mut writer = RequestWriter::create(out)?;
    let mut sealed = 0;
    let mut warnings = Vec::new();
    // The script decides break-glass and states the cluster's node names
    // and networks; the requester's check assumes the most it may allow.
    let policy = StepPolicy {
        allow_break_glass: true,
        nodes: profile::NodeScope::Unknown,
        ..StepPolicy::default()
    };
    for request in requests {
        let (r, csr) = request?;
        let refuse = |reason: String| Error::Request {
            id: r.id.clone(),
            reason,
        };
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
        if let Some(conf) = &r.kubeconfig {
            profile::check_kubeconfig_name(conf).map_err(refuse)?;
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
            kubeconfig: r.kubeconfig,
        };
        writer.add(entry, &csr.der)?;
        sealed += 1;
    }
    let sha256 = writer.finish()?;
    Ok(Sealed {
        requests: sealed,
        sha256,
        warnings,
    })
}

#[cfg(test)]
mod tests;
