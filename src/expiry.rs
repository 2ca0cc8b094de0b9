//! `certs check-expiration`: when each certificate in a kubeadm tree or in an
//! opened output bundle expires, in the manner of `kubeadm certs
//! check-expiration`, and what lies ahead: which CA issued each certificate,
//! whether a CA is a root, an intermediate or a link, what renews or
//! rotates each, which expire within a warning window, and which outlive
//! their issuer.
//!
//! This module owns the result: the [`Report`] of every certificate
//! ([`Entry`]) and of every file that could not be used ([`Problem`]), and
//! the [`Error`]s that stop a scan or make it incomplete. The work is done
//! in four submodules:
//!
//! - `scan`: the walk of such a directory and the reading of each file;
//! - `parse`: what a file holds, `*.crt` files (PEM, one or more
//!   certificates, or a single DER certificate) and the client certificates
//!   embedded in kubeconfig `*.conf` files
//!   (`users[].user.client-certificate-data`);
//! - `lookahead`: who issued each certificate (by its signature), the kind
//!   of each CA, what renews each, the warning window and the certificates
//!   that outlive their issuer;
//! - `render`: the two renderings of the result, a kubeadm-like table and
//!   JSON.
//!
//! It never follows a symbolic link, never opens a file whose name does not
//! end in `.crt` or `.conf` (so never a `.key`: whether `pki/ca.key` sits
//! beside `pki/ca.crt` is read from the directory listing), never reads a file over
//! [`MAX_FILE_BYTES`], never deserializes or keeps a kubeconfig's
//! `client-key-data`, and never puts file contents other than names and
//! dates taken from certificates into its output or its messages. A file it
//! cannot use is a [`Problem`] in the [`Report`], not an error: only a
//! directory that cannot be listed at all fails [`scan`](fn@scan).

mod lookahead;
mod parse;
mod render;
mod scan;

pub use scan::scan;

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use render::residual;

/// The largest `.crt` or `.conf` file read: 1 MiB; a larger one is a problem.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The deepest directory searched below the scanned one.
pub const MAX_DEPTH: usize = 16;
/// The warning window, in days, when none is given (`--warn-within`).
pub const DEFAULT_WARN_DAYS: u32 = 90;

/// Errors that stop a scan, or that [`Report::ensure_complete`] reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory to scan could not be opened or listed.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The path to scan is not a directory.
    #[error("{}: not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The scan found no certificate at all.
    #[error(
        "{}: no certificate found (no *.crt file, no kubeconfig *.conf with client-certificate-data)",
        path.display()
    )]
    NothingFound {
        /// The directory scanned.
        path: PathBuf,
    },
    /// Some files could not be checked; each is a [`Problem`] in the report.
    #[error("{}: {count} certificate file problem(s), listed above", path.display())]
    Problems {
        /// The directory scanned.
        path: PathBuf,
        /// How many problems the report holds.
        count: usize,
    },
    /// Some certificates expire after every certificate found of the CA
    /// that issued them; each is listed by [`Report::outliving`].
    #[error(
        "{}: {count} certificate(s) expire after their issuing CA, listed above",
        path.display()
    )]
    OutlivesIssuer {
        /// The directory scanned.
        path: PathBuf,
        /// How many certificates outlive their issuer.
        count: usize,
    },
}

impl Error {
    /// A likely fix for the error, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NotADirectory { .. } | Error::NothingFound { .. } => Some(
                "give a kubeadm directory (such as /etc/kubernetes) or the directory an output bundle was opened into"
                    .into(),
            ),
            Error::OutlivesIssuer { .. } => Some(
                "a certificate is valid no longer than its issuer: reissue it to end by the issuer's notAfter, or renew the issuer first"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Shorthand for results in this module.
pub type Result<T> = std::result::Result<T, Error>;

/// One certificate found, and how long it has left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The file, relative to the scanned directory, `/`-separated (a kubeconfig by its name).
    pub path: String,
    /// Position of the certificate among those read from the file, from 1.
    pub index: usize,
    /// The kubeconfig user whose `client-certificate-data` held it; `None` for a `.crt` file.
    pub user: Option<String>,
    /// Subject common name (the whole RFC 4514 subject when there is no CN).
    pub subject: String,
    /// Issuer common name (the whole RFC 4514 issuer when there is no CN).
    pub issuer: String,
    /// True when basicConstraints says `cA: TRUE`.
    pub is_ca: bool,
    /// notAfter, RFC 3339 UTC.
    pub not_after: String,
    /// Seconds from `now` to notAfter; negative once expired.
    pub residual_seconds: i64,
    /// True when `now` is past notAfter.
    pub expired: bool,
    /// What it is: a leaf, or a root, intermediate or link CA.
    pub kind: Kind,
    /// The certificates found (by [`name`](Entry::name)) whose key signed
    /// it and whose subject is its issuer; empty for a root, or when the
    /// issuer is not among the certificates found.
    pub issued_by: Vec<String>,
    /// Who renews or rotates it, in one word: `root-init`, `cross-sign`,
    /// `sign-intermediate`, `sign-kubeadm`, `sign-components`, `kubeadm`,
    /// `online-signer` or `unknown`.
    pub renewed_by: &'static str,
    /// What renews or rotates it, as a sentence.
    pub renewal: &'static str,
    /// True when notAfter is within the warning window from `now` (or past).
    pub within_window: bool,
    /// The issuer certificate it outlives: the one in `issued_by` that
    /// expires last, when this one expires after it.
    pub outlives_issuer: Option<String>,
    /// The name shown in the table: `path`, or `path#index` when the file holds several.
    #[serde(skip)]
    name: String,
    /// notAfter, for the table's EXPIRES column.
    #[serde(skip)]
    expires: der::DateTime,
}

impl Entry {
    /// The name shown in the table: the path, with `#index` when the file holds several certificates.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The residual time as kubeadm prints it: `45s`, `59m`, `23h`, `364d`, `9y`, or `<invalid>`.
    pub fn residual(&self) -> String {
        residual(self.residual_seconds)
    }
}

/// What a certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Not a CA (no basicConstraints `cA: TRUE`).
    Leaf,
    /// A CA whose own key verifies its signature, issuer equal to subject.
    Root,
    /// A CA signed by another CA's key, which is not a link.
    Intermediate,
    /// A CA signed by another CA's key that certifies the subject and key
    /// of a root also found (a cross-signed root).
    Link,
}

impl Kind {
    /// The kind in one lowercase word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Leaf => "leaf",
            Kind::Root => "root",
            Kind::Intermediate => "intermediate",
            Kind::Link => "link",
        }
    }
}

/// A file (or one certificate in it) that could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file, relative to the scanned directory, `/`-separated.
    pub path: String,
    /// What is wrong; never the file's contents.
    pub reason: String,
}

/// Everything a scan found: the certificates, and the files it could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The warning window, in days.
    pub warn_within_days: u32,
    /// Every certificate found, sorted by path, then by position in the file.
    pub entries: Vec<Entry>,
    /// Every file or certificate that could not be checked, sorted by path.
    pub problems: Vec<Problem>,
}

impl Default for Report {
    fn default() -> Report {
        Report {
            warn_within_days: DEFAULT_WARN_DAYS,
            entries: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl Report {
    /// `Ok` when at least one certificate was found, no file had a problem
    /// and no certificate outlives its issuer.
    pub fn ensure_complete(&self, dir: &Path) -> Result<()> {
        if !self.problems.is_empty() {
            return Err(Error::Problems {
                path: dir.to_path_buf(),
                count: self.problems.len(),
            });
        }
        if self.entries.is_empty() {
            return Err(Error::NothingFound {
                path: dir.to_path_buf(),
            });
        }
        let outliving = self.outliving().count();
        if outliving > 0 {
            return Err(Error::OutlivesIssuer {
                path: dir.to_path_buf(),
                count: outliving,
            });
        }
        Ok(())
    }

    /// One line for each certificate that outlives its issuer, naming both
    /// and their notAfter, escaped for the terminal.
    pub fn outliving(&self) -> impl Iterator<Item = String> + '_ {
        self.entries.iter().filter_map(|e| {
            let ca = e.outlives_issuer.as_ref()?;
            let ca_entry = self.entries.iter().find(|c| &c.name == ca)?;
            Some(render::printable(&format!(
                "{}: expires {}, after its issuer {} ({})",
                e.name, e.not_after, ca, ca_entry.not_after
            )))
        })
    }
}

#[cfg(test)]
mod tests;
