//! Laying an output bundle out in the tree kubeadm's external-CA mode
//! expects: each certificate beside its key (`pki/apiserver.crt` beside
//! `pki/apiserver.key`), the CA certificates without their keys, and
//! `client-certificate-data` filled in each partial kubeconfig.
//!
//! The bundle is first checked against the requester's pinned CAs (and the
//! audit key) by [`output::check`], which also holds every path to the
//! tool's own table: a certificate goes only to its profile's kubeadm path,
//! a CA certificate only to kubeadm's path for its role, a client
//! certificate only into its profile's kubeconfig. Then every certificate
//! is checked against the private key already in the tree, every target
//! against the path rule (inside the tree, no symlinked directory, a
//! regular file), and only then is anything written, all or nothing
//! (`place.rs`). Nothing that holds a key is changed except the
//! kubeconfigs' certificate fields; no key file is ever written or
//! re-moded. Keys are read only to derive their public half, held in
//! zeroizing buffers, and never copied or printed.

mod keys;
mod kubeconfig;
mod place;

pub use keys::public_key_of;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use der::{DecodePem, Encode};
use x509_cert::Certificate;

use crate::bundle::output::{self, AuditKey, Opened, Pins, Trusted};
use place::Planned;

/// Errors while opening a bundle into a kubeadm tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bundle could not be opened or checked.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::Error),
    /// A file in the kubeadm tree breaks a rule; nothing was written.
    #[error("{}: {rule}", path.display())]
    Tree {
        /// The file in the kubeadm tree.
        path: PathBuf,
        /// The kind of rule it breaks (what the hint is chosen by).
        kind: TreeRule,
        /// The rule it breaks, as the message says it.
        rule: String,
    },
    /// A member of the bundle cannot be used as its manifest says.
    #[error("bundle {}: {member}: {reason}", bundle.display())]
    Member {
        /// The output bundle.
        bundle: PathBuf,
        /// The member concerned.
        member: String,
        /// Why, naming the rule broken.
        reason: String,
    },
}

/// The kind of rule a file in the kubeadm tree breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeRule {
    /// It already holds a different certificate (`--force` replaces it).
    Occupied,
    /// The private key in the tree does not match the certificate issued for it.
    KeyMismatch,
    /// Any other rule: a path, a file type, a format, a failed read or write.
    Other,
}

impl Error {
    /// A likely fix, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Bundle(e) => e.hint(),
            Error::Tree {
                kind: TreeRule::Occupied,
                ..
            } => Some("pass --force to replace existing certificates".into()),
            Error::Tree {
                kind: TreeRule::KeyMismatch,
                ..
            } => Some(
                "the bundle was issued for other keys: open it into the tree its CSRs came from"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// `path` breaks a rule of kind [`TreeRule::Other`].
fn tree_err(path: &Path, rule: impl Into<String>) -> Error {
    tree_rule(path, TreeRule::Other, rule)
}

/// `path` breaks a rule of kind `kind`.
fn tree_rule(path: &Path, kind: TreeRule, rule: impl Into<String>) -> Error {
    Error::Tree {
        path: path.to_path_buf(),
        kind,
        rule: rule.into(),
    }
}

/// Opens `bundle` with `identity` into the kubeadm tree at `dir`, after
/// checking it against `pins` and `audit_key`. Existing certificates are
/// refused unless `force`; returns what was verified and the files
/// written, relative to `dir`.
pub fn open_into_tree(
    bundle: &Path,
    identity: &Path,
    pins: &Pins,
    audit_key: Option<&AuditKey>,
    dir: &Path,
    force: bool,
) -> Result<(Trusted, Vec<String>), Error> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        _ => {
            return Err(tree_err(
                dir,
                "is not a directory (the kubeadm tree the CSRs came from)",
            ))
        }
    }
    let opened = Opened::read(bundle, identity)?;
    let trusted = output::check(&opened, pins, audit_key, SystemTime::now())?;
    let plan = plan(&opened, &trusted, dir, force)?;
    let written = place::place_all(dir, plan)?;
    Ok((trusted, written))
}

/// Decides every file to write, checking each certificate against the key
/// beside it and each target against the path rule; writes nothing.
fn plan(
    opened: &Opened,
    trusted: &Trusted,
    dir: &Path,
    force: bool,
) -> Result<Vec<Planned>, Error> {
    let member = |name: &str| -> Result<Vec<u8>, Error> {
        opened.member(name)?.ok_or_else(|| Error::Member {
            bundle: opened.bundle().to_path_buf(),
            member: name.to_string(),
            reason: "is not in the bundle".into(),
        })
    };
    let mut plan: Vec<Planned> = Vec::new();
    let mut cas: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    for (issuer, ca) in &trusted.ca {
        // A CA is written to its role's path only when a certificate in the
        // bundle was verified against it under that role: a pinned root is
        // never put in another root's place.
        if !trusted.signing.contains(issuer) {
            continue;
        }
        let pem = member(&ca.file)?;
        plan_certificate(&mut plan, dir, issuer.kubeadm_path(), pem.clone(), force)?;
        cas.insert(issuer.name(), pem);
    }
    for issued in &trusted.issued {
        let pem = member(&issued.file)?;
        let cert_spki = certificate_spki(&pem).map_err(|reason| Error::Member {
            bundle: opened.bundle().to_path_buf(),
            member: issued.file.clone(),
            reason,
        })?;
        if let Some(path) = &issued.kubeadm_path {
            // A path from the profile table (checked by output::check).
            let Some(stem) = path.strip_suffix(".crt") else {
                return Err(tree_err(&dir.join(path), "is not a certificate path"));
            };
            let key_rel = format!("{stem}.key");
            place::check_path(dir, path)?;
            place::check_path(dir, &key_rel)?;
            let key_path = dir.join(&key_rel);
            let key = keys::read_key_file(&key_path)?;
            let key_spki = public_key_of(&key).map_err(|r| tree_err(&key_path, r))?;
            if key_spki != cert_spki {
                return Err(tree_rule(
                    &key_path,
                    TreeRule::KeyMismatch,
                    format!(
                        "does not match the certificate issued for request {} ({path})",
                        issued.id
                    ),
                ));
            }
            plan_certificate(&mut plan, dir, path, pem.clone(), force)?;
        }
        if let Some(conf) = &issued.kubeconfig {
            crate::profile::check_kubeconfig_name(conf)
                .map_err(|r| tree_err(&dir.join(conf), r))?;
            place::check_path(dir, conf)?;
            let conf_path = dir.join(conf);
            let ca = cas.get("cluster").map(Vec::as_slice);
            let filled = kubeconfig::fill_kubeconfig(&conf_path, &pem, &cert_spki, ca, force)?;
            if let Some(bytes) = filled {
                let mode = std::fs::symlink_metadata(&conf_path)
                    .map(|m| m.permissions().mode() & 0o777)
                    .unwrap_or(0o600);
                plan.push(Planned {
                    rel: conf.clone(),
                    bytes,
                    mode,
                });
            }
        }
    }
    let mut seen = HashSet::new();
    for p in &plan {
        // Only certificates and kubeconfigs, each once: never a key file.
        let known = p.rel.ends_with(".crt") || p.rel.ends_with(".conf");
        if !known || !seen.insert(p.rel.as_str()) {
            return Err(tree_err(
                &dir.join(&p.rel),
                "would be written twice, or is not a certificate or kubeconfig",
            ));
        }
    }
    Ok(plan)
}

/// Plans `dir/rel` holding `pem`: new, identical (skipped), or replaced with `force`.
fn plan_certificate(
    plan: &mut Vec<Planned>,
    dir: &Path,
    rel: &str,
    pem: Vec<u8>,
    force: bool,
) -> Result<(), Error> {
    place::check_path(dir, rel)?;
    let target = dir.join(rel);
    match std::fs::read(&target) {
        Ok(existing) if existing == pem => return Ok(()),
        Ok(_) if force => {}
        Ok(_) => {
            return Err(tree_rule(
                &target,
                TreeRule::Occupied,
                "already holds a different certificate",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(tree_err(&target, e.to_string())),
    }
    plan.push(Planned {
        rel: rel.to_string(),
        bytes: pem,
        mode: 0o644,
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

#[cfg(test)]
mod tests;
