//! Laying an output bundle out in the tree kubeadm's external-CA mode
//! expects: each certificate beside its key (`pki/apiserver.crt` beside
//! `pki/apiserver.key`), the CA certificates without their keys, and
//! `client-certificate-data` filled in each partial kubeconfig.
//!
//! Every certificate is checked against the private key already in the tree
//! before anything is written, and nothing that holds a key is changed except
//! the kubeconfigs' certificate fields. Keys are read only to derive their
//! public half, held in zeroizing buffers, and never copied or printed.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use der::{DecodePem, Encode};
use serde::Deserialize;
use serde_yaml::Value;
use spki::EncodePublicKey;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::bundle::output;
use crate::fsutil;

/// Errors while opening a bundle into a kubeadm tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bundle could not be opened or checked.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::Error),
    /// A file in the kubeadm tree breaks a rule; nothing was written.
    #[error("{}: {rule}", path.display())]
    Tree { path: PathBuf, rule: String },
    /// The bundle's manifest.json is not what `ceremony` writes.
    #[error("bundle {}: manifest.json: {reason}", bundle.display())]
    Manifest { bundle: PathBuf, reason: String },
}

impl Error {
    /// A likely fix, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Bundle(e) => e.hint(),
            Error::Tree { rule, .. } if rule.contains("already") => {
                Some("pass --force to replace existing certificates".into())
            }
            Error::Tree { rule, .. } if rule.contains("does not match") => Some(
                "the bundle was issued for other keys: open it into the tree its CSRs came from"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn tree_err(path: &Path, rule: impl Into<String>) -> Error {
    Error::Tree {
        path: path.to_path_buf(),
        rule: rule.into(),
    }
}

#[derive(Debug, Deserialize)]
struct Manifest {
    issued: Vec<IssuedFile>,
    ca: Vec<CaFile>,
}

#[derive(Debug, Deserialize)]
struct IssuedFile {
    id: String,
    file: String,
    #[serde(default)]
    kubeadm_path: Option<String>,
    #[serde(default)]
    kubeconfig: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CaFile {
    issuer: String,
    file: String,
}

/// One file to write, decided before anything is written.
struct Planned {
    target: PathBuf,
    bytes: Vec<u8>,
    mode: u32,
    replace: bool,
}

/// Opens `bundle` with `identity` into the kubeadm tree at `dir`. Existing
/// certificates are refused unless `force`; returns the files written,
/// relative to `dir`.
pub fn open_into_tree(
    bundle: &Path,
    identity: &Path,
    dir: &Path,
    force: bool,
) -> Result<Vec<String>, Error> {
    if !dir.is_dir() {
        return Err(tree_err(
            dir,
            "is not a directory (the kubeadm tree the CSRs came from)",
        ));
    }
    let staging = dir.join(format!("{}open.{}", fsutil::TMP_PREFIX, std::process::id()));
    output::open(bundle, identity, &staging)?;
    let result = plan_and_write(bundle, &staging, dir, force);
    // The staging directory holds only public certificates.
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn plan_and_write(
    bundle: &Path,
    staging: &Path,
    dir: &Path,
    force: bool,
) -> Result<Vec<String>, Error> {
    let manifest_err = |reason: String| Error::Manifest {
        bundle: bundle.to_path_buf(),
        reason,
    };
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(staging.join("manifest.json")).map_err(|e| manifest_err(e.to_string()))?,
    )
    .map_err(|e| manifest_err(e.to_string()))?;
    let read_member = |file: &str| {
        std::fs::read(staging.join(file)).map_err(|e| manifest_err(format!("{file}: {e}")))
    };

    let mut plan: Vec<Planned> = Vec::new();
    let mut cas: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for ca in &manifest.ca {
        let pem = read_member(&ca.file)?;
        plan_certificate(&mut plan, dir, &ca.file, pem.clone(), force)?;
        cas.insert(ca.issuer.clone(), pem);
    }
    for issued in &manifest.issued {
        let pem = read_member(&issued.file)?;
        let cert_spki =
            certificate_spki(&pem).map_err(|r| manifest_err(format!("{}: {r}", issued.file)))?;
        if let Some(path) = &issued.kubeadm_path {
            crate::profile::check_kubeadm_path(path).map_err(manifest_err)?;
            let key_path = dir
                .join(path.trim_end_matches(".crt"))
                .with_extension("key");
            let key = read_key_file(&key_path)?;
            let key_spki = public_key_of(&key).map_err(|r| tree_err(&key_path, r))?;
            if key_spki != cert_spki {
                return Err(tree_err(
                    &key_path,
                    format!(
                        "does not match the certificate issued for request {} ({path})",
                        issued.id
                    ),
                ));
            }
            plan_certificate(&mut plan, dir, path, pem.clone(), force)?;
        }
        if let Some(conf) = &issued.kubeconfig {
            crate::profile::check_kubeconfig_name(conf).map_err(manifest_err)?;
            let conf_path = dir.join(conf);
            let ca = cas.get("cluster").map(Vec::as_slice);
            let filled = fill_kubeconfig(&conf_path, &pem, &cert_spki, ca, force)?;
            if let Some(bytes) = filled {
                let mode = std::fs::metadata(&conf_path)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or(0o600);
                plan.push(Planned {
                    target: conf_path,
                    bytes,
                    mode,
                    replace: true,
                });
            }
        }
    }

    let mut written = Vec::new();
    for p in plan {
        let write_err = |e: std::io::Error| tree_err(&p.target, format!("cannot write: {e}"));
        if let Some(parent) = p.target.parent() {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        if p.replace {
            fsutil::replace(&p.target, &p.bytes, p.mode).map_err(write_err)?;
        } else {
            fsutil::write_new(&p.target, &p.bytes, p.mode).map_err(write_err)?;
        }
        written.push(
            p.target
                .strip_prefix(dir)
                .unwrap_or(&p.target)
                .display()
                .to_string(),
        );
    }
    Ok(written)
}

/// Plans `dir/rel` holding `pem`: new, identical (skipped), or replaced with `force`.
fn plan_certificate(
    plan: &mut Vec<Planned>,
    dir: &Path,
    rel: &str,
    pem: Vec<u8>,
    force: bool,
) -> Result<(), Error> {
    let target = dir.join(rel);
    let replace = match std::fs::read(&target) {
        Ok(existing) if existing == pem => return Ok(()),
        Ok(_) if force => true,
        Ok(_) => return Err(tree_err(&target, "already holds a different certificate")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(tree_err(&target, e.to_string())),
    };
    plan.push(Planned {
        target,
        bytes: pem,
        mode: 0o644,
        replace,
    });
    Ok(())
}

fn certificate_spki(pem: &[u8]) -> Result<Vec<u8>, String> {
    let cert = Certificate::from_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| e.to_string())
}

/// The largest key file read.
const MAX_KEY_BYTES: u64 = 64 * 1024;

fn read_key_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| tree_err(path, format!("the private key beside the certificate: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_KEY_BYTES {
        return Err(tree_err(path, "is not a regular key file"));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| tree_err(path, e.to_string()))?);
    let text = std::str::from_utf8(&bytes).map_err(|_| tree_err(path, "is not a PEM key"))?;
    Ok(Zeroizing::new(text.to_string()))
}

/// The DER SubjectPublicKeyInfo of a PEM private key (PKCS#8, PKCS#1 RSA,
/// or SEC1 P-256/P-384).
pub fn public_key_of(pem: &str) -> Result<Vec<u8>, String> {
    use p256::pkcs8::DecodePrivateKey;
    let (label, der) =
        der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| format!("not a PEM key: {e}"))?;
    let der = Zeroizing::new(der);
    let spki = match label {
        "PRIVATE KEY" => {
            if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(&der) {
                k.to_public_key().to_public_key_der()
            } else if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
                k.public_key().to_public_key_der()
            } else if let Ok(k) = p384::SecretKey::from_pkcs8_der(&der) {
                k.public_key().to_public_key_der()
            } else if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(&der) {
                k.verifying_key().to_public_key_der()
            } else {
                return Err("a PKCS#8 key of a type this tool does not read".into());
            }
        }
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::PrivateKey::from_pkcs1_der(&der)
                .map_err(|e| format!("bad RSA key: {e}"))?
                .to_public_key()
                .to_public_key_der()
        }
        "EC PRIVATE KEY" => {
            if let Ok(k) = p256::SecretKey::from_sec1_der(&der) {
                k.public_key().to_public_key_der()
            } else {
                p384::SecretKey::from_sec1_der(&der)
                    .map_err(|e| format!("bad EC key: {e}"))?
                    .public_key()
                    .to_public_key_der()
            }
        }
        other => return Err(format!("PEM label {other:?} is not a private key")),
    };
    spki.map(|d| d.into_vec()).map_err(|e| e.to_string())
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Fills `client-certificate-data` (and an empty `certificate-authority-data`)
/// in the kubeconfig at `path`, after checking its `client-key-data` matches.
/// Returns the new bytes, or `None` when it already holds this certificate.
fn fill_kubeconfig(
    path: &Path,
    cert_pem: &[u8],
    cert_spki: &[u8],
    cluster_ca: Option<&[u8]>,
    force: bool,
) -> Result<Option<Vec<u8>>, Error> {
    let bad = |rule: String| tree_err(path, rule);
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| bad(format!("the partial kubeconfig: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_KEY_BYTES {
        return Err(bad("is not a regular kubeconfig file".into()));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?);
    let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| bad(format!("not YAML: {e}")))?;
    let user_name =
        current_user(&doc).ok_or_else(|| bad("names no user for its current context".into()))?;
    let user = doc
        .get_mut("users")
        .and_then(Value::as_sequence_mut)
        .and_then(|users| {
            users
                .iter_mut()
                .find(|u| u.get("name").and_then(Value::as_str) == Some(user_name.as_str()))
        })
        .and_then(|u| u.get_mut("user"))
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| bad(format!("has no user {user_name:?}")))?;
    let key_b64 = user
        .get("client-key-data")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad("has no client-key-data: kubeadm's partial kubeconfig holds the key".into())
        })?;
    let key_pem = Zeroizing::new(
        b64()
            .decode(key_b64.trim())
            .map_err(|e| bad(format!("client-key-data is not base64: {e}")))?,
    );
    let key_pem =
        std::str::from_utf8(&key_pem).map_err(|_| bad("client-key-data is not PEM".into()))?;
    let key_spki = public_key_of(key_pem).map_err(|r| bad(format!("client-key-data: {r}")))?;
    if key_spki != cert_spki {
        return Err(bad(
            "client-key-data does not match the certificate issued for it".into(),
        ));
    }
    let new_cert = b64().encode(cert_pem);
    match user.get("client-certificate-data").and_then(Value::as_str) {
        Some(existing) if existing == new_cert => return Ok(None),
        Some(existing) if !existing.is_empty() && !force => {
            return Err(bad(
                "already holds a different client-certificate-data".into()
            ))
        }
        _ => {}
    }
    user.insert("client-certificate-data".into(), Value::String(new_cert));
    if let Some(ca) = cluster_ca {
        let clusters = doc.get_mut("clusters").and_then(Value::as_sequence_mut);
        for cluster in clusters.into_iter().flatten() {
            if let Some(c) = cluster.get_mut("cluster").and_then(Value::as_mapping_mut) {
                let empty = c
                    .get("certificate-authority-data")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if empty && c.get("certificate-authority").is_none() {
                    c.insert(
                        "certificate-authority-data".into(),
                        Value::String(b64().encode(ca)),
                    );
                }
            }
        }
    }
    let out = serde_yaml::to_string(&doc).map_err(|e| bad(e.to_string()))?;
    Ok(Some(out.into_bytes()))
}

/// The user of the kubeconfig's current context (or its only user).
fn current_user(doc: &Value) -> Option<String> {
    let by_context = doc
        .get("current-context")
        .and_then(Value::as_str)
        .and_then(|ctx| {
            doc.get("contexts")?
                .as_sequence()?
                .iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(ctx))?
                .get("context")?
                .get("user")?
                .as_str()
                .map(str::to_string)
        });
    by_context.or_else(|| match doc.get("users")?.as_sequence()?.as_slice() {
        [only] => only.get("name")?.as_str().map(str::to_string),
        _ => None,
    })
}
