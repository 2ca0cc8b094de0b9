//! `ceremony rotate plan`: a cluster's CAs rotated without an outage, as
//! files. Given the current roots, the new roots (made by a root ceremony)
//! and a kubeadm tree, it writes one directory per phase of the Kubernetes
//! task "Manual Rotation of CA Certificates", each laid out like the
//! kubeadm tree, with a checklist of what to copy where and what to restart
//! in which order:
//!
//! 1. `phase-1-trust-both/`: every CA file (`pki/ca.crt`,
//!    `pki/front-proxy-ca.crt`, `pki/etcd/ca.crt`) holds the current and the
//!    new root, and every kubeconfig's `certificate-authority-data` too;
//! 2. `phase-2-new-leaves/`: the same trust, and a signing script for the
//!    tree's CSRs with the new roots as issuers (the usual seal and sign);
//! 3. `phase-3-trust-new/`: only the new roots; kubeconfigs whose client
//!    certificate is already from the new cluster root.
//!
//! It refuses inputs that would break a phase, each naming the file and the
//! rule: a new root that is not a CA, not valid now, or has the current
//! root's key or key identifier; a tree whose CA files or kubeconfigs do
//! not trust the current root. It reads the tree's kubeconfigs (they hold
//! client keys: kept in zeroizing buffers, written back only into the
//! phase directories, mode 0600) and never a `.key` file. The output
//! directory is written whole or not at all.

mod checklist;
mod kubeconfig;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::fsutil;
use crate::profile::subject_key_id;

/// The CA files of a kubeadm tree, by role: (role, path under `pki/`).
pub const CA_FILES: [(&str, &str); 3] = [
    ("cluster", "ca.crt"),
    ("front-proxy", "front-proxy-ca.crt"),
    ("etcd", "etcd/ca.crt"),
];

/// The kubeconfigs kubeadm writes, read when present.
pub const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];

/// The phase directories, in order.
pub const PHASES: [&str; 3] = [
    "phase-1-trust-both",
    "phase-2-new-leaves",
    "phase-3-trust-new",
];

/// The largest certificate or kubeconfig file read.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input breaks a rule of the rotation; nothing was written.
    #[error("{}: {rule}", path.display())]
    Refused {
        /// The file at fault.
        path: PathBuf,
        /// The rule it breaks.
        rule: String,
    },
    /// The output could not be written; nothing partial is left.
    #[error("{}: {action}: {source}", path.display())]
    Output {
        /// The path concerned.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// A likely fix, printed after the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Refused { rule, .. } if rule.contains("key identifier") => Some(
                "a new root needs a new key: make it with a new key label in a root ceremony"
                    .into(),
            ),
            Error::Refused { rule, .. } if rule.contains("does not trust the current") => Some(
                "give --current the roots this tree trusts now (the root ceremony's pki/)".into(),
            ),
            _ => None,
        }
    }
}

fn refuse(path: &Path, rule: impl Into<String>) -> Error {
    Error::Refused {
        path: path.to_path_buf(),
        rule: rule.into(),
    }
}

/// What `rotate plan` is asked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The current roots, laid out like kubeadm's `pki/`.
    pub current: PathBuf,
    /// The new roots, laid out the same way.
    pub new: PathBuf,
    /// The kubeadm tree (such as a copy of `/etc/kubernetes`).
    pub kubeadm: PathBuf,
    /// The output directory (must not exist).
    pub out: PathBuf,
    /// The new roots' key labels in the token, by role, for the phase-2
    /// signing script; a missing one is a placeholder there.
    pub new_key_labels: Vec<(String, String)>,
}

/// One root: its file, PEM and certificate.
#[derive(Debug, Clone)]
pub struct Root {
    /// The role: `cluster`, `front-proxy` or `etcd`.
    pub role: &'static str,
    /// Its path under `pki/`.
    pub rel: &'static str,
    /// The file it was read from.
    pub path: PathBuf,
    /// The certificate as PEM (one block, LF).
    pub pem: String,
    /// The certificate.
    pub cert: Certificate,
    /// Its subject key identifier.
    pub key_id: Vec<u8>,
}

/// What was written.
#[derive(Debug)]
pub struct Written {
    /// The output directory.
    pub out: PathBuf,
    /// Every file written, relative to it.
    pub files: Vec<String>,
    /// Kubeconfigs left out of phase 3 (their client certificate is not
    /// from the new cluster root yet).
    pub phase3_pending: Vec<String>,
}

/// Reads a small regular file, never following a link.
fn read_small(path: &Path) -> Result<Vec<u8>, Error> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| refuse(path, e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse(path, "is not a regular file"));
    }
    fsutil::read_limited(path, MAX_FILE_BYTES).map_err(|e| refuse(path, e.to_string()))
}

/// Every PEM certificate in `bytes`.
fn certificates(path: &Path, bytes: &[u8]) -> Result<Vec<Certificate>, Error> {
    let certs = Certificate::load_pem_chain(bytes)
        .map_err(|e| refuse(path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(refuse(path, "holds no certificate"));
    }
    Ok(certs)
}

/// Reads the root of `role` under `dir` and checks it is a CA valid at `now`.
fn read_root(
    dir: &Path,
    role: &'static str,
    rel: &'static str,
    now: SystemTime,
) -> Result<Root, Error> {
    let path = dir.join(rel);
    let bytes = read_small(&path)?;
    let mut certs = certificates(&path, &bytes)?;
    if certs.len() != 1 {
        return Err(refuse(
            &path,
            format!("holds {} certificates; a root file holds one", certs.len()),
        ));
    }
    let cert = certs.remove(0);
    let tbs = cert.tbs_certificate();
    if !matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca) {
        return Err(refuse(
            &path,
            "is not a CA certificate (no basicConstraints CA:TRUE)",
        ));
    }
    let validity = tbs.validity();
    if validity.not_before.to_system_time() > now {
        return Err(refuse(
            &path,
            "is not valid yet (notBefore is in the future)",
        ));
    }
    if validity.not_after.to_system_time() <= now {
        return Err(refuse(&path, "has expired"));
    }
    let key_id = subject_key_id(&cert).map_err(|e| refuse(&path, e))?;
    let pem = der::EncodePem::to_pem(&cert, der::pem::LineEnding::LF)
        .map_err(|e| refuse(&path, e.to_string()))?;
    Ok(Root {
        role,
        rel,
        path,
        pem,
        cert,
        key_id,
    })
}

/// Whether `certs` holds `root` (same DER).
fn holds(certs: &[Certificate], root: &Root) -> bool {
    certs.iter().any(|c| c == &root.cert)
}

/// Checks the inputs and writes the plan.
pub fn plan(req: &Request, now: SystemTime) -> Result<Written, Error> {
    if req.out.symlink_metadata().is_ok() {
        return Err(refuse(
            &req.out,
            "exists; the plan is written into a new directory",
        ));
    }
    let mut pairs = Vec::new();
    for (role, rel) in CA_FILES {
        let current = read_root(&req.current, role, rel, now)?;
        let new = read_root(&req.new, role, rel, now)?;
        let (ctbs, ntbs) = (current.cert.tbs_certificate(), new.cert.tbs_certificate());
        if ctbs.subject_public_key_info() == ntbs.subject_public_key_info() {
            return Err(refuse(
                &new.path,
                format!(
                    "has the current {role} root's public key ({}): a rotation needs a new key",
                    current.path.display()
                ),
            ));
        }
        if current.key_id == new.key_id {
            return Err(refuse(&new.path, format!(
                "has the current {role} root's subject key identifier {} ({}): clients could not tell the two roots apart in a bundle",
                crate::hex::encode(&new.key_id),
                current.path.display()
            )));
        }
        // The tree must trust the current root now (alone, or already with the new).
        let tree_file = req.kubeadm.join("pki").join(rel);
        let tree_certs = certificates(&tree_file, &read_small(&tree_file)?)?;
        if !holds(&tree_certs, &current) {
            return Err(refuse(&tree_file, format!(
                "does not trust the current {role} root {} (the tree is not the one these roots serve)",
                current.path.display()
            )));
        }
        if let Some(other) = tree_certs
            .iter()
            .find(|c| **c != current.cert && **c != new.cert)
        {
            return Err(refuse(&tree_file, format!(
                "also trusts {}, which is neither root: a rotation already under way with other roots?",
                other.tbs_certificate().subject()
            )));
        }
        pairs.push((current, new));
    }
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let both = |i: usize| format!("{}{}", pairs[i].0.pem, pairs[i].1.pem);
    // Phases 1 and 2 trust both; phase 3 the new roots only.
    for (phase, bundle) in [(0, true), (1, true), (2, false)] {
        for (i, (_, new)) in pairs.iter().enumerate() {
            let text = if bundle { both(i) } else { new.pem.clone() };
            files.push((
                format!("{}/pki/{}", PHASES[phase], new.rel),
                text.into_bytes(),
                0o644,
            ));
        }
    }
    // Kubeconfigs: the cluster CA data in each phase.
    let (cluster_current, cluster_new) = (&pairs[0].0, &pairs[0].1);
    let mut phase3_pending = Vec::new();
    let mut kubeconfigs = Vec::new();
    for name in KUBECONFIGS {
        let path = req.kubeadm.join(name);
        if path.symlink_metadata().is_err() {
            continue;
        }
        let bytes = Zeroizing::new(read_small(&path)?);
        let text = std::str::from_utf8(&bytes).map_err(|_| refuse(&path, "is not UTF-8 text"))?;
        let doc = kubeconfig::Kubeconfig::parse(&path, text)?;
        doc.check_trusts(&path, &cluster_current.cert, &cluster_new.cert)?;
        files.push((
            format!("{}/{name}", PHASES[0]),
            doc.with_ca(&path, &both(0))?.to_vec(),
            0o600,
        ));
        files.push((
            format!("{}/{name}", PHASES[1]),
            doc.with_ca(&path, &both(0))?.to_vec(),
            0o600,
        ));
        if doc.client_issued_by(&cluster_new.key_id) {
            files.push((
                format!("{}/{name}", PHASES[2]),
                doc.with_ca(&path, &cluster_new.pem)?.to_vec(),
                0o600,
            ));
        } else {
            phase3_pending.push(name.to_string());
        }
        kubeconfigs.push(name.to_string());
    }
    let roots: Vec<(&Root, &Root)> = pairs.iter().map(|(c, n)| (c, n)).collect();
    let ctx = checklist::Context {
        req,
        roots: &roots,
        kubeconfigs: &kubeconfigs,
        phase3_pending: &phase3_pending,
    };
    files.push((
        "README.md".into(),
        checklist::overview(&ctx).into_bytes(),
        0o644,
    ));
    for (i, phase) in PHASES.iter().enumerate() {
        files.push((
            format!("{phase}/CHECKLIST.md"),
            checklist::phase(&ctx, i).into_bytes(),
            0o644,
        ));
    }
    files.push((
        format!("{}/sign-new-leaves.toml", PHASES[1]),
        checklist::sign_script(&ctx).into_bytes(),
        0o644,
    ));
    let names: Vec<String> = files.iter().map(|(n, _, _)| n.clone()).collect();
    let zeroizing: Vec<(String, Zeroizing<Vec<u8>>, u32)> = files
        .into_iter()
        .map(|(n, b, m)| (n, Zeroizing::new(b), m))
        .collect();
    fsutil::write_tree(&req.out, &zeroizing).map_err(|(path, action, source)| Error::Output {
        path,
        action,
        source,
    })?;
    Ok(Written {
        out: req.out.clone(),
        files: names,
        phase3_pending,
    })
}

#[cfg(test)]
mod tests;
