//! Layouts for online signers: an intermediate CA from an output bundle,
//! with the requester's own private key, in the shape cert-manager and
//! Istio read it.
//!
//! - cert-manager's CA issuer reads a `kubernetes.io/tls` Secret:
//!   `cert-manager/<id>.secret.yaml` holds `tls.crt` (the intermediate then
//!   the root it chains to), `tls.key` (the requester's key) and `ca.crt`
//!   (the root), base64 under `data`.
//! - Istio's plug-in CA reads `cacerts`: `istio/cacerts/ca-cert.pem` (the
//!   intermediate), `ca-key.pem` (the key), `root-cert.pem` (the root),
//!   `cert-chain.pem` (the intermediate then the root), and the same four
//!   as a generic Secret named `cacerts` in `istio-system`,
//!   `istio/cacerts.secret.yaml`.
//!
//! This module owns those files and the rules for them: the request is an
//! issued certificate of the bundle, its profile is a CA profile and the
//! certificate says CA:TRUE; the key file is only its owner's (as an
//! identity file), and is the private key of that certificate (the public
//! keys are compared). Everything is checked and built in memory once the
//! bundle passed every trust check, while its files are still staged out
//! of sight (`layouts/place.rs` writes them and these together, all or
//! nothing). The key is held in zeroizing buffers, written only into the
//! files above (mode 0600), and never quoted in an error or printed.

mod place;

pub use place::open;

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use super::trust::Trusted;
use super::Opened;
use crate::bundle::{Error, Result};

/// The largest key file read.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// The namespace of a cert-manager Secret when none is given.
pub const CERT_MANAGER_NAMESPACE: &str = "cert-manager";

/// The namespace (and name) of Istio's plug-in CA Secret.
const ISTIO_NAMESPACE: &str = "istio-system";

/// Derives the DER SubjectPublicKeyInfo of a PEM private key, or says why
/// it cannot (never quoting the key). The caller passes the crate's one
/// reader of private keys (`kubeadm::public_key_of`), which this module
/// cannot name without importing the module that imports it.
pub type PublicKeyOf = fn(&str) -> std::result::Result<Vec<u8>, String>;

/// A layout asked for: which request, with which key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// A cert-manager CA issuer Secret.
    CertManager {
        /// The request id of the intermediate.
        request: String,
        /// The requester's private key file.
        key: PathBuf,
        /// The Secret's name (DNS-1123 subdomain).
        name: String,
        /// The Secret's namespace (DNS-1123 label).
        namespace: String,
    },
    /// Istio's `cacerts`.
    Istio {
        /// The request id of the intermediate.
        request: String,
        /// The requester's private key file.
        key: PathBuf,
    },
}

impl Layout {
    /// The request id it lays out.
    pub fn request(&self) -> &str {
        match self {
            Layout::CertManager { request, .. } | Layout::Istio { request, .. } => request,
        }
    }

    /// The key file it reads.
    pub fn key(&self) -> &Path {
        match self {
            Layout::CertManager { key, .. } | Layout::Istio { key, .. } => key,
        }
    }

    /// The flag that asked for it, named in errors.
    fn flag(&self) -> &'static str {
        match self {
            Layout::CertManager { .. } => "--cert-manager",
            Layout::Istio { .. } => "--istio",
        }
    }
}

/// One file of a layout, relative to the output directory.
pub struct LayoutFile {
    /// Relative path, e.g. `istio/cacerts/ca-key.pem`.
    pub path: String,
    /// Its contents (zeroized when dropped: some hold the key).
    pub bytes: Zeroizing<Vec<u8>>,
    /// 0600 for a file holding the key, 0644 otherwise.
    pub mode: u32,
}

impl std::fmt::Debug for LayoutFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayoutFile")
            .field("path", &self.path)
            .field("bytes", &"[redacted]")
            .field("mode", &format_args!("{:04o}", self.mode))
            .finish()
    }
}

/// Whether `name` is a DNS-1123 subdomain (a Kubernetes object name):
/// at most 253 characters, dot-separated labels of lowercase letters,
/// digits and `-`, each starting and ending with a letter or digit.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_label_chars)
}

/// Whether `name` is a DNS-1123 label (a namespace): at most 63 characters
/// of lowercase letters, digits and `-`, starting and ending with a letter
/// or digit.
pub fn is_dns1123_label(name: &str) -> bool {
    name.len() <= 63 && is_label_chars(name)
}

fn is_label_chars(label: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// Checks the layouts asked for, before the bundle is read: names and
/// namespaces are DNS-1123, no request is laid out twice the same way, no
/// two Secrets share a name, at most one Istio layout.
pub fn check_requests(bundle: &Path, layouts: &[Layout]) -> Result<()> {
    let mut seen = HashSet::new();
    let mut secrets = HashSet::new();
    let mut istio = false;
    for layout in layouts {
        let refuse = |rule: String| Error::Request {
            path: bundle.to_path_buf(),
            id: layout.request().to_string(),
            rule,
        };
        if !seen.insert((layout.flag(), layout.request())) {
            return Err(refuse(format!("{} names it twice", layout.flag())));
        }
        match layout {
            Layout::CertManager {
                name, namespace, ..
            } => {
                if !is_dns1123_subdomain(name) {
                    return Err(refuse(format!(
                        "--cert-manager: Secret name {name:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253); give --secret-name"
                    )));
                }
                if !is_dns1123_label(namespace) {
                    return Err(refuse(format!(
                        "--namespace {namespace:?} is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63)"
                    )));
                }
                if !secrets.insert((namespace.as_str(), name.as_str())) {
                    return Err(refuse(format!(
                        "--cert-manager: a second Secret would be named {name:?} in namespace {namespace:?}; --secret-name names one Secret"
                    )));
                }
            }
            Layout::Istio { .. } => {
                if istio {
                    return Err(refuse(
                        "--istio is given twice; Istio's cacerts holds one intermediate".into(),
                    ));
                }
                istio = true;
            }
        }
    }
    Ok(())
}

/// A key file read into a zeroizing buffer, with its public key.
struct SignerKey {
    pem: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
}

/// Reads the key file of `layout`: a regular file at most 64 KiB that only
/// its owner may read or write (the mode of the file actually opened),
/// holding one PEM private key. Errors never quote its contents.
fn read_key(bundle: &Path, layout: &Layout, public_key_of: PublicKeyOf) -> Result<SignerKey> {
    let path = layout.key();
    let refuse = |rule: String| Error::Request {
        path: bundle.to_path_buf(),
        id: layout.request().to_string(),
        rule: format!("{} key file {}: {rule}", layout.flag(), path.display()),
    };
    let file = File::open(path).map_err(|e| refuse(format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| refuse(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(refuse("is not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(refuse(format!(
            "readable or writable by other users (mode {mode:04o}); a private key must be mode 0600: run chmod 600 on it"
        )));
    }
    let mut pem = Zeroizing::new(Vec::with_capacity(MAX_KEY_BYTES as usize + 1));
    file.take(MAX_KEY_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| refuse(format!("cannot read: {e}")))?;
    if pem.len() as u64 > MAX_KEY_BYTES {
        return Err(refuse(format!(
            "over the limit of {MAX_KEY_BYTES} bytes for a key file"
        )));
    }
    let text = std::str::from_utf8(&pem).map_err(|_| refuse("is not a PEM key".into()))?;
    let spki = public_key_of(text).map_err(refuse)?;
    Ok(SignerKey { pem, spki })
}

/// An intermediate and the pinned root it chains to, as the bundle holds
/// them (canonical PEM, checked by `trust.rs`).
struct Chain {
    /// `certs/<id>.crt`.
    cert_pem: Vec<u8>,
    /// The pinned CA it chains to, from the bundle.
    root_pem: Vec<u8>,
}

/// Finds `layout`'s request among the bundle's checked certificates and
/// checks it is a CA certificate; returns it and its root.
fn chain_of(opened: &Opened, trusted: &Trusted, layout: &Layout) -> Result<(Chain, Vec<u8>)> {
    let id = layout.request();
    let refuse = |rule: String| Error::Request {
        path: opened.bundle().to_path_buf(),
        id: id.to_string(),
        rule,
    };
    let Some(entry) = trusted.issued.iter().find(|e| e.id == id) else {
        let mut ids: Vec<&str> = trusted.issued.iter().map(|e| e.id.as_str()).collect();
        let more = ids.len().saturating_sub(8);
        ids.truncate(8);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return Err(refuse(format!(
            "{}: not a certificate in this bundle (it holds {}{tail})",
            layout.flag(),
            ids.join(", ")
        )));
    };
    let profile = crate::profile::find(&entry.profile).expect("checked by trust::check");
    if profile.eku().is_some() {
        return Err(refuse(format!(
            "{}: profile {} is a leaf profile; an online signer needs an intermediate CA certificate (profile intermediate-ca)",
            layout.flag(),
            profile.name
        )));
    }
    let member = |file: &str| -> Result<Vec<u8>> {
        opened.member(file)?.ok_or_else(|| {
            refuse(format!(
                "{file} is missing from the bundle after it was checked"
            ))
        })
    };
    let cert_pem = member(&entry.file)?;
    let cert = parse(&cert_pem).map_err(|e| refuse(format!("{}: {e}", entry.file)))?;
    match cert.tbs_certificate().get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => {}
        _ => {
            return Err(refuse(format!(
                "{}: {} is not a CA certificate (basicConstraints CA:TRUE)",
                layout.flag(),
                entry.file
            )))
        }
    }
    let Some((_, ca)) = trusted
        .ca
        .iter()
        .find(|(issuer, _)| *issuer == profile.issuer)
    else {
        return Err(refuse(format!(
            "the bundle carries no {} CA certificate",
            profile.issuer.name()
        )));
    };
    let root_pem = member(&ca.file)?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| refuse(format!("{}: {e}", entry.file)))?;
    Ok((Chain { cert_pem, root_pem }, spki))
}

/// Parses one PEM certificate.
fn parse(pem: &[u8]) -> std::result::Result<Certificate, String> {
    let (_, der) = der::pem::decode_vec(pem).map_err(|e| format!("not PEM: {e}"))?;
    Certificate::from_der(&der).map_err(|e| format!("not a certificate: {e}"))
}

/// Builds every layout's files from a bundle that passed every trust
/// check: each request must be one of its CA certificates, and each key
/// file its private key. Nothing is written.
pub fn build(
    opened: &Opened,
    trusted: &Trusted,
    layouts: &[Layout],
    public_key_of: PublicKeyOf,
) -> Result<Vec<LayoutFile>> {
    check_requests(opened.bundle(), layouts)?;
    let mut files = Vec::new();
    for layout in layouts {
        let (chain, cert_spki) = chain_of(opened, trusted, layout)?;
        let key = read_key(opened.bundle(), layout, public_key_of)?;
        if key.spki != cert_spki {
            return Err(Error::Request {
                path: opened.bundle().to_path_buf(),
                id: layout.request().to_string(),
                rule: format!(
                    "{} key file {}: is not the private key of certs/{}.crt (its public key differs from the certificate's)",
                    layout.flag(),
                    layout.key().display(),
                    layout.request()
                ),
            });
        }
        let full_chain = [chain.cert_pem.as_slice(), &chain.root_pem].concat();
        match layout {
            Layout::CertManager {
                name, namespace, ..
            } => {
                let data = [
                    ("tls.crt", full_chain.as_slice()),
                    ("tls.key", key.pem.as_slice()),
                    ("ca.crt", chain.root_pem.as_slice()),
                ];
                files.push(LayoutFile {
                    path: format!("cert-manager/{}.secret.yaml", layout.request()),
                    bytes: secret_yaml(name, namespace, "kubernetes.io/tls", &data),
                    mode: 0o600,
                });
            }
            Layout::Istio { .. } => {
                let data = [
                    ("ca-cert.pem", chain.cert_pem.as_slice()),
                    ("ca-key.pem", key.pem.as_slice()),
                    ("root-cert.pem", chain.root_pem.as_slice()),
                    ("cert-chain.pem", full_chain.as_slice()),
                ];
                for (file, bytes) in data {
                    let secret = file == "ca-key.pem";
                    files.push(LayoutFile {
                        path: format!("istio/cacerts/{file}"),
                        bytes: Zeroizing::new(bytes.to_vec()),
                        mode: if secret { 0o600 } else { 0o644 },
                    });
                }
                files.push(LayoutFile {
                    path: "istio/cacerts.secret.yaml".into(),
                    bytes: secret_yaml("cacerts", ISTIO_NAMESPACE, "Opaque", &data),
                    mode: 0o600,
                });
            }
        }
    }
    Ok(files)
}

/// A Secret manifest, written by hand into one zeroizing buffer (a YAML
/// serializer would leave copies of the key behind). `name` and
/// `namespace` are DNS-1123 (checked), quoted so that `123` or `true` stay
/// strings; keys are fixed, values base64.
fn secret_yaml(
    name: &str,
    namespace: &str,
    kind: &str,
    data: &[(&str, &[u8])],
) -> Zeroizing<Vec<u8>> {
    let head = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: \"{name}\"\n  namespace: \"{namespace}\"\ntype: {kind}\ndata:\n"
    );
    let body: usize = data
        .iter()
        .map(|(k, v)| k.len() + Base64::encoded_len(v) + 8)
        .sum();
    let mut out = Zeroizing::new(Vec::with_capacity(head.len() + body));
    out.extend_from_slice(head.as_bytes());
    // One buffer, long enough for the longest value, so it never moves.
    let longest = data
        .iter()
        .map(|(_, v)| Base64::encoded_len(v))
        .max()
        .unwrap_or(0);
    let mut encoded = Zeroizing::new(vec![0u8; longest]);
    for (key, value) in data {
        let len = Base64::encoded_len(value);
        let text = Base64::encode(value, &mut encoded[..len])
            .expect("the buffer is at least encoded_len long");
        out.extend_from_slice(format!("  {key}: \"").as_bytes());
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\"\n");
    }
    out
}

#[cfg(test)]
mod tests;
