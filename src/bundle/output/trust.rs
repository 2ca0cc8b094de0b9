//! Pinned trust in an output bundle: the requester's roots (`--ca`), the
//! ceremony's audit key (`--audit-key`), and the check of every certificate
//! and every path in the bundle against them, before anything is written.
//!
//! age only hides a bundle: anyone can encrypt to a requester's recipient.
//! So a bundle is trusted only as far as this module checks it:
//! - every issued certificate is signed by the pinned CA of its profile's
//!   issuer, valid now, exactly what its manifest entry says, and carries
//!   the key usage and EKU its profile implies (`trust/cert.rs`);
//! - every CA certificate the bundle carries is byte for byte a pinned one:
//!   a bundle never introduces trust;
//! - every member is a file this tool writes at a path it knows: manifest,
//!   checksums and signature, `certs/<id>.crt`, `certs/<id>.chain.crt`, the
//!   CA files at kubeadm's paths, and each profile's own kubeadm path;
//!   nothing the manifest names is taken as a path unless it is one of those;
//! - with an audit key, `SHA256SUMS.sig` verifies over `SHA256SUMS`.
//!
//! The certificates are checked on every core. This module never writes.

mod cert;
mod pins;

pub use pins::{AuditKey, Pinned, Pins};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use serde::Deserialize;

use super::manifest::{CaEntry, IssuedEntry, FORMAT};
use super::open::{check_out, ChecksumFile, Opened};
use super::{SIGNATURE, SUMS};
use crate::bundle::{Error, Result, MANIFEST};
use crate::profile::Issuer;
use crate::x509::{name_string, verify_signature};

/// Every CA role a bundle may carry, with kubeadm's path for it.
const ISSUERS: [Issuer; 3] = [Issuer::Cluster, Issuer::Etcd, Issuer::FrontProxy];

/// An output bundle's `manifest.json`, as far as opening needs it.
#[derive(Debug, Deserialize)]
struct Manifest {
    format: String,
    issued: Vec<IssuedEntry>,
    ca: Vec<CaEntry>,
}

/// Whether the ceremony's signature over `SHA256SUMS` was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// It verifies with the audit key from this file.
    Verified(PathBuf),
    /// No audit key was given; the bundle carries a signature (`true`) or not.
    NotChecked {
        /// Whether the bundle carries a signature.
        present: bool,
    },
}

/// What checking a bundle found; the bundle passed every rule.
#[derive(Debug)]
pub struct Trusted {
    /// The issued certificates, as the manifest lists them.
    pub issued: Vec<IssuedEntry>,
    /// The CA certificates, each a pinned one, with their role.
    pub ca: Vec<(Issuer, CaEntry)>,
    /// The roles that issued at least one certificate in the bundle: their
    /// CA certificate is bound to the role by those signatures.
    pub signing: Vec<Issuer>,
    /// The ceremony's signature.
    pub signature: SignatureCheck,
    /// The `.sha256` file beside the bundle.
    pub checksum_file: ChecksumFile,
    /// How many CA certificates were pinned.
    pub pins: usize,
}

impl Trusted {
    /// One line saying what was verified, for the requester.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            "every checksum in SHA256SUMS".to_string(),
            format!(
                "{} certificate(s) signed by the pinned CA(s), valid now and as the manifest and their profiles say",
                self.issued.len()
            ),
            format!(
                "{} CA certificate(s), each one of the {} pinned",
                self.ca.len(),
                self.pins
            ),
        ];
        if let SignatureCheck::Verified(key) = &self.signature {
            parts.push(format!(
                "the ceremony's signature on SHA256SUMS with audit key {}",
                key.display()
            ));
        }
        if let ChecksumFile::Verified(path) = &self.checksum_file {
            parts.push(format!("the bundle's digest in {}", path.display()));
        }
        format!("verified: {}", parts.join("; "))
    }

    /// Warnings about what was not checked, one line each.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.signature {
            SignatureCheck::NotChecked { present: true } => out.push(
                "the ceremony's signature on SHA256SUMS was not checked: give --audit-key (the ceremony's pki/audit-key.pub)".into(),
            ),
            SignatureCheck::NotChecked { present: false } => out.push(
                "the bundle carries no ceremony signature (SHA256SUMS.sig) and none was checked: give --audit-key to require one".into(),
            ),
            SignatureCheck::Verified(_) => {}
        }
        if let ChecksumFile::Missing(path) = &self.checksum_file {
            out.push(format!(
                "{} is missing: the bundle's digest was not checked against it",
                path.display()
            ));
        }
        out
    }
}

/// Opens an output bundle into the directory `out` after [`check`]: `out`
/// must not exist or be an empty directory (checked first), and nothing
/// takes `out`'s name unless every rule passes. The certificates are checked
/// while the files are staged in the hidden temporary directory beside
/// `out` (which a failure removes), so the checks cost little more than the
/// writing. Returns what was verified and the relative paths written, sorted.
pub fn open(
    bundle: &Path,
    identity: &Path,
    pins: &Pins,
    audit_key: Option<&AuditKey>,
    out: &Path,
) -> Result<(Trusted, Vec<String>)> {
    let out_exists = check_out(out)?;
    let opened = Opened::read_unverified(bundle, identity, &std::env::temp_dir())?;
    let now = SystemTime::now();
    std::thread::scope(|scope| {
        // The certificates are checked on the other cores while SHA256SUMS
        // is checked and the files are staged; both must pass before the
        // staging directory takes `out`'s name.
        let checking = scope.spawn(|| check(&opened, pins, audit_key, now));
        let mut trusted = None;
        let written = opened.check_sums().and_then(|()| {
            opened.unpack_gated(out, out_exists, || {
                let checked = checking.join().expect("the checks do not panic")?;
                trusted = Some(checked);
                Ok(())
            })
        })?;
        let trusted = trusted.expect("the gate ran and passed");
        Ok((trusted, written))
    })
}

/// Checks an opened bundle against the pins and the audit key (see the
/// module doc). The first failure names the member and the rule.
pub fn check(
    opened: &Opened,
    pins: &Pins,
    audit_key: Option<&AuditKey>,
    now: SystemTime,
) -> Result<Trusted> {
    let bundle = opened.bundle();
    let untrusted = |member: &str, rule: String| Error::Untrusted {
        path: bundle.to_path_buf(),
        member: member.to_string(),
        rule,
    };
    let signature = check_signature(opened, audit_key)?;
    let manifest_bytes = opened
        .member(MANIFEST)?
        .ok_or_else(|| untrusted(MANIFEST, "missing from the bundle".into()))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Manifest {
            path: bundle.to_path_buf(),
            rule: format!("not an output bundle manifest: {e}"),
        })?;
    drop(manifest_bytes);
    if manifest.format != FORMAT {
        return Err(Error::Manifest {
            path: bundle.to_path_buf(),
            rule: format!("format {:?} is not {FORMAT:?}", manifest.format),
        });
    }

    let mut known: HashSet<&str> = [MANIFEST, SUMS, SIGNATURE].into_iter().collect();
    let mut cas: HashMap<&'static str, (&Pinned, Vec<u8>)> = HashMap::new();
    let mut ca_out = Vec::new();
    for entry in &manifest.ca {
        let Some(issuer) = ISSUERS.iter().find(|i| i.name() == entry.issuer) else {
            return Err(untrusted(
                &entry.file,
                format!(
                    "CA role {:?} is not cluster, etcd or front-proxy",
                    entry.issuer
                ),
            ));
        };
        if entry.file != issuer.kubeadm_path() {
            return Err(untrusted(
                &entry.file,
                format!(
                    "the {} CA certificate must be at {}, the only path this tool writes it to",
                    issuer.name(),
                    issuer.kubeadm_path()
                ),
            ));
        }
        if cas.contains_key(issuer.name()) {
            return Err(untrusted(
                &entry.file,
                format!("the {} CA is listed twice", issuer.name()),
            ));
        }
        let pem = opened.member(&entry.file)?.ok_or_else(|| {
            untrusted(
                &entry.file,
                "is listed in manifest.json but not in the bundle".into(),
            )
        })?;
        let parsed = cert::parse_pem(&pem).map_err(|rule| untrusted(&entry.file, rule))?;
        let pinned = pins.find(&parsed.der).ok_or_else(|| {
            untrusted(
                &entry.file,
                format!(
                    "CA certificate {} is not one of the pinned CAs (--ca): a bundle never introduces trust",
                    name_string(parsed.cert.tbs_certificate().subject())
                ),
            )
        })?;
        if let Some((role, _)) = cas.iter().find(|(_, (p, _))| std::ptr::eq(*p, pinned)) {
            return Err(untrusted(
                &entry.file,
                format!("is the same certificate as the {role} CA; each role has its own"),
            ));
        }
        if pinned.subject != entry.subject {
            return Err(untrusted(
                &entry.file,
                format!(
                    "its subject {} is not the manifest's {}",
                    pinned.subject, entry.subject
                ),
            ));
        }
        known.insert(&entry.file);
        cas.insert(issuer.name(), (pinned, pem));
        ca_out.push((*issuer, entry.clone()));
    }

    // The names and paths each entry claims, checked in order, before any
    // certificate is parsed.
    let mut ids = HashSet::new();
    let mut chains = Vec::new();
    for entry in &manifest.issued {
        let file = &entry.file;
        let valid_id = !entry.id.is_empty()
            && !entry.id.starts_with('.')
            && entry.id.len() <= 200
            && entry
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_id || *file != format!("certs/{}.crt", entry.id) {
            return Err(untrusted(
                file,
                format!(
                    "request {:?}: its certificate must be certs/<id>.crt, a path this tool writes",
                    entry.id
                ),
            ));
        }
        if !ids.insert(entry.id.as_str()) {
            return Err(untrusted(
                file,
                format!("request {:?} is listed twice", entry.id),
            ));
        }
        let profile = crate::profile::find(&entry.profile).ok_or_else(|| {
            untrusted(
                file,
                format!("profile {:?} is not one this tool issues", entry.profile),
            )
        })?;
        if entry.kubeadm_path.is_some() && entry.kubeadm_path.as_deref() != profile.kubeadm_path {
            return Err(untrusted(
                file,
                format!(
                    "kubeadm_path {:?} is not where kubeadm keeps a {} certificate ({})",
                    entry.kubeadm_path.as_deref().unwrap_or_default(),
                    profile.name,
                    profile.kubeadm_path.unwrap_or("it has none")
                ),
            ));
        }
        if entry.kubeconfig.is_some() && entry.kubeconfig.as_deref() != profile.kubeconfig {
            return Err(untrusted(
                file,
                format!(
                    "kubeconfig {:?} is not the kubeconfig kubeadm keeps a {} certificate in ({})",
                    entry.kubeconfig.as_deref().unwrap_or_default(),
                    profile.name,
                    profile.kubeconfig.unwrap_or("it has none")
                ),
            ));
        }
        if !cas.contains_key(profile.issuer.name()) {
            return Err(untrusted(
                file,
                format!(
                    "its profile {}'s issuer, the {} CA, is not among the bundle's CA certificates",
                    profile.name,
                    profile.issuer.name()
                ),
            ));
        }
        for path in [Some(file.as_str()), entry.kubeadm_path.as_deref()]
            .into_iter()
            .flatten()
        {
            if !known.insert(path) {
                return Err(untrusted(path, "is named twice in manifest.json".into()));
            }
        }
        let chain = format!("certs/{}.chain.crt", entry.id);
        if opened.contains(&chain) {
            chains.push(chain);
        }
    }
    for chain in &chains {
        known.insert(chain);
    }
    if let Some(stray) = opened.names().find(|n| !known.contains(n)) {
        return Err(untrusted(
            stray,
            "is not a file this tool writes (manifest.json names no such certificate)".into(),
        ));
    }

    check_certificates(opened, &manifest.issued, &cas, now)?;
    let signing = ISSUERS
        .into_iter()
        .filter(|i| {
            manifest
                .issued
                .iter()
                .any(|e| crate::profile::find(&e.profile).is_some_and(|p| p.issuer == *i))
        })
        .collect();
    Ok(Trusted {
        issued: manifest.issued,
        ca: ca_out,
        signing,
        signature,
        checksum_file: opened.checksum_file().clone(),
        pins: pins.certs.len(),
    })
}

/// Checks `SHA256SUMS.sig` when an audit key is given.
fn check_signature(opened: &Opened, audit_key: Option<&AuditKey>) -> Result<SignatureCheck> {
    let Some(key) = audit_key else {
        return Ok(SignatureCheck::NotChecked {
            present: opened.contains(SIGNATURE),
        });
    };
    let fail = |rule: String| Error::Untrusted {
        path: opened.bundle().to_path_buf(),
        member: SIGNATURE.to_string(),
        rule,
    };
    let signature = opened.member(SIGNATURE)?.ok_or_else(|| {
        fail("missing: the bundle is not signed by the ceremony, and --audit-key asks for its signature".into())
    })?;
    let sums = opened.member(SUMS)?.unwrap_or_default();
    verify_signature(&key.spki, &key.algorithm, &sums, &signature).map_err(|reason| {
        fail(format!(
            "does not verify over SHA256SUMS with audit key {}: {reason}",
            key.file.display()
        ))
    })?;
    Ok(SignatureCheck::Verified(key.file.clone()))
}

/// Checks every issued certificate on every core; the error is the one of
/// the first entry (in manifest order) that fails.
fn check_certificates(
    opened: &Opened,
    issued: &[IssuedEntry],
    cas: &HashMap<&'static str, (&Pinned, Vec<u8>)>,
    now: SystemTime,
) -> Result<()> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16);
    // The lowest failing index so far: entries after it need no check.
    let first_bad = AtomicUsize::new(usize::MAX);
    let chunk = issued.len().div_ceil(threads).max(1);
    let errors: Vec<(usize, Error)> = std::thread::scope(|scope| {
        let handles: Vec<_> = issued
            .chunks(chunk)
            .enumerate()
            .map(|(c, entries)| {
                let first_bad = &first_bad;
                scope.spawn(move || {
                    for (i, entry) in entries.iter().enumerate() {
                        let at = c * chunk + i;
                        if at > first_bad.load(Ordering::Relaxed) {
                            return None;
                        }
                        if let Err(e) = check_one(opened, entry, cas, now) {
                            first_bad.fetch_min(at, Ordering::Relaxed);
                            return Some((at, e));
                        }
                    }
                    None
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("a certificate check does not panic"))
            .collect()
    });
    match errors.into_iter().min_by_key(|(at, _)| *at) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Checks one issued certificate, its kubeadm copy and its chain file.
fn check_one(
    opened: &Opened,
    entry: &IssuedEntry,
    cas: &HashMap<&'static str, (&Pinned, Vec<u8>)>,
    now: SystemTime,
) -> Result<()> {
    let untrusted = |member: &str, rule: String| Error::Untrusted {
        path: opened.bundle().to_path_buf(),
        member: member.to_string(),
        rule,
    };
    let file = entry.file.as_str();
    let profile = crate::profile::find(&entry.profile).expect("checked before");
    let (ca, ca_pem) = &cas[profile.issuer.name()];
    let pem = opened.member(file)?.ok_or_else(|| {
        untrusted(
            file,
            "is listed in manifest.json but not in the bundle".into(),
        )
    })?;
    let parsed = cert::parse_pem(&pem).map_err(|rule| untrusted(file, rule))?;
    let rule = cert::check_signed_by(&parsed, ca)
        .and_then(|()| cert::check_valid_now(&parsed.cert, now))
        .and_then(|()| cert::check_entry(&parsed, entry))
        .and_then(|()| cert::check_profile(&parsed.cert, profile));
    rule.map_err(|rule| untrusted(file, rule))?;
    if let Some(path) = &entry.kubeadm_path {
        let copy = opened.member(path)?.ok_or_else(|| {
            untrusted(
                path,
                "is listed in manifest.json but not in the bundle".into(),
            )
        })?;
        if copy != pem {
            return Err(untrusted(
                path,
                format!("is not the same certificate as {file}"),
            ));
        }
    }
    let chain = format!("certs/{}.chain.crt", entry.id);
    if let Some(bytes) = opened.member(&chain)? {
        if bytes != [pem.as_slice(), ca_pem].concat() {
            return Err(untrusted(
                &chain,
                format!(
                    "is not {file} followed by the pinned {} CA it chains to",
                    profile.issuer.name()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
