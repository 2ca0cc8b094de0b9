//! `certs check-expiration`: when each certificate in a kubeadm tree or in an
//! opened output bundle expires, in the manner of `kubeadm certs
//! check-expiration`.
//!
//! This module owns the result: the [`Report`] of every certificate
//! ([`Entry`]) and of every file that could not be used ([`Problem`]), and
//! the [`Error`]s that stop a scan or make it incomplete. The work is done
//! in three submodules:
//!
//! - `scan`: the walk of such a directory and the reading of each file;
//! - `parse`: what a file holds, `*.crt` files (PEM, one or more
//!   certificates, or a single DER certificate) and the client certificates
//!   embedded in kubeconfig `*.conf` files
//!   (`users[].user.client-certificate-data`);
//! - `render`: the two renderings of the result, a kubeadm-like table and
//!   JSON.
//!
//! It never follows a symbolic link, never opens a file whose name does not
//! end in `.crt` or `.conf` (so never a `.key`), never reads a file over
//! [`MAX_FILE_BYTES`], never deserializes or keeps a kubeconfig's
//! `client-key-data`, and never puts file contents other than names and
//! dates taken from certificates into its output or its messages. A file it
//! cannot use is a [`Problem`] in the [`Report`], not an error: only a
//! directory that cannot be listed at all fails [`scan`](fn@scan).

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
}

impl Error {
    /// A likely fix for the error, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NotADirectory { .. } | Error::NothingFound { .. } => Some(
                "give a kubeadm directory (such as /etc/kubernetes) or the directory an output bundle was opened into"
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

/// A file (or one certificate in it) that could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file, relative to the scanned directory, `/`-separated.
    pub path: String,
    /// What is wrong; never the file's contents.
    pub reason: String,
}

/// Everything a scan found: the certificates, and the files it could not use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every certificate found, sorted by path, then by position in the file.
    #[serde(rename = "certificates")]
    pub entries: Vec<Entry>,
    /// Every file or certificate that could not be checked, sorted by path.
    pub problems: Vec<Problem>,
}

impl Report {
    /// `Ok` when at least one certificate was found and no file had a problem.
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
        Ok(())
    }
}

#[cfg(test)]
mod tests;
