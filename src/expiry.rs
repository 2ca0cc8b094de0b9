//! `certs check-expiration`: when each certificate in a kubeadm tree or in an
//! opened output bundle expires, in the manner of `kubeadm certs
//! check-expiration`.
//!
//! This module owns the walk of such a directory, the reading of `*.crt`
//! files (PEM, one or more certificates, or a single DER certificate) and of
//! the client certificates embedded in kubeconfig `*.conf` files
//! (`users[].user.client-certificate-data`), and the two renderings of the
//! result: a kubeadm-like table and JSON.
//!
//! It never follows a symbolic link, never opens a file whose name does not
//! end in `.crt` or `.conf` (so never a `.key`), never reads a file over
//! [`MAX_FILE_BYTES`], never deserializes or keeps a kubeconfig's
//! `client-key-data`, and never puts file contents other than names and
//! dates taken from certificates into its output or its messages. A file it
//! cannot use is a [`Problem`] in the [`Report`], not an error: only a
//! directory that cannot be listed at all fails [`scan`].

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64ct::Encoding;
use der::Decode;
use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::name::Name;
use x509_cert::Certificate;
use zeroize::Zeroizing;

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

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", printable(&self.path), printable(&self.reason))
    }
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
    /// The kubeadm-like table: leaf certificates, a blank line, then certificate authorities.
    ///
    /// Text taken from certificates and file names is escaped so that a
    /// control or bidirectional character cannot rewrite the terminal.
    pub fn render_table(&self) -> String {
        let row = |e: &Entry| {
            vec![
                e.name.clone(),
                expires(&e.expires),
                e.residual(),
                e.issuer.clone(),
            ]
        };
        let leaves: Vec<_> = self.entries.iter().filter(|e| !e.is_ca).map(row).collect();
        let cas: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.is_ca)
            .map(|e| vec![e.name.clone(), expires(&e.expires), e.residual()])
            .collect();
        let mut out = table(
            &[
                "CERTIFICATE",
                "EXPIRES",
                "RESIDUAL TIME",
                "CERTIFICATE AUTHORITY",
            ],
            &leaves,
        );
        out.push('\n');
        out.push_str(&table(
            &["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME"],
            &cas,
        ));
        out
    }

    /// The report as pretty JSON, `{"certificates": [...], "problems": [...]}`, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut json =
            serde_json::to_string_pretty(self).expect("strings, integers and booleans serialize");
        json.push('\n');
        json
    }

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

/// Scans `dir` for `*.crt` files and kubeconfig `*.conf` files, at any depth,
/// and reports every certificate's expiry relative to `now`.
///
/// `dir` itself may be a symbolic link; nothing below it is followed.
pub fn scan(dir: &Path, now: SystemTime) -> Result<Report> {
    let io_err = |action| {
        move |source| Error::Io {
            path: dir.to_path_buf(),
            action,
            source,
        }
    };
    if !fs::metadata(dir).map_err(io_err("open"))?.is_dir() {
        return Err(Error::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let top = list(dir).map_err(io_err("list"))?;
    let mut walk = Walk {
        root: dir,
        files: Vec::new(),
        problems: Vec::new(),
    };
    walk.dir(dir, top, 0);
    let now = unix_seconds(now);
    let mut report = Report {
        entries: Vec::new(),
        problems: walk.problems,
    };
    for (rel, path, kind) in walk.files {
        let items = read_limited(&path).and_then(|bytes| match kind {
            Kind::Crt => certificates(&bytes).map(|certs| {
                certs
                    .into_iter()
                    .map(|result| Item { user: None, result })
                    .collect()
            }),
            Kind::Conf => kubeconfig(&bytes),
        });
        match items {
            Ok(items) => collect(&rel, items, now, &mut report),
            Err(reason) => report.problems.push(Problem { path: rel, reason }),
        }
    }
    report
        .entries
        .sort_by(|a, b| (&a.path, a.index).cmp(&(&b.path, b.index)));
    report.problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

/// The kinds of file read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `*.crt`: PEM certificates, or one DER certificate.
    Crt,
    /// `*.conf`: a kubeconfig.
    Conf,
}

impl Kind {
    fn of(name: &std::ffi::OsStr) -> Option<Kind> {
        let name = name.as_encoded_bytes();
        if name.ends_with(b".crt") {
            Some(Kind::Crt)
        } else if name.ends_with(b".conf") {
            Some(Kind::Conf)
        } else {
            None
        }
    }
}

/// The directory walk: the files to read, and what was refused on the way.
struct Walk<'a> {
    root: &'a Path,
    files: Vec<(String, PathBuf, Kind)>,
    problems: Vec<Problem>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, entries: Vec<(OsString, FileType)>, depth: usize) {
        for (name, file_type) in entries {
            let path = dir.join(&name);
            let rel = relative(self.root, &path);
            let kind = Kind::of(&name);
            let mut refuse = |reason: String| {
                self.problems.push(Problem {
                    path: rel.clone(),
                    reason,
                })
            };
            if file_type.is_symlink() {
                // Only to say what it is: the link is never read through.
                let to_dir = fs::metadata(&path).is_ok_and(|m| m.is_dir());
                if kind.is_some() || to_dir {
                    refuse("symbolic link, not followed".into());
                }
            } else if file_type.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    refuse(format!(
                        "directory deeper than {MAX_DEPTH} levels, not searched"
                    ));
                    continue;
                }
                match list(&path) {
                    Ok(inner) => self.dir(&path, inner, depth + 1),
                    Err(e) => refuse(format!("cannot list directory: {e}")),
                }
            } else if let Some(kind) = kind {
                if file_type.is_file() {
                    self.files.push((rel, path, kind));
                } else {
                    refuse("not a regular file".into());
                }
            }
        }
    }
}

/// The entries of a directory, sorted by name, with their types (links not followed).
fn list(dir: &Path) -> io::Result<Vec<(OsString, FileType)>> {
    let mut entries = fs::read_dir(dir)?
        .map(|e| e.and_then(|e| Ok((e.file_name(), e.file_type()?))))
        .collect::<io::Result<Vec<_>>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// `path` relative to `root`, `/`-separated.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`] without following a
/// link or waiting on a fifo. The buffer is wiped when dropped: a kubeconfig
/// holds a private key.
fn read_limited(path: &Path) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| format!("open: {e}"))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| format!("read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let too_large = |size| format!("{size} bytes is over the limit of {MAX_FILE_BYTES} bytes");
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    // Room for the whole file up front, so no reallocation leaves a copy behind.
    let capacity = usize::try_from(meta.len() + 1).unwrap_or(0);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What a certificate tells: the parts of an [`Entry`] that do not depend on `now`.
struct Summary {
    subject: String,
    issuer: String,
    is_ca: bool,
    not_after: der::DateTime,
}

/// One certificate read from a file, or why it could not be.
struct Item {
    user: Option<String>,
    result: std::result::Result<Summary, String>,
}

/// Turns the items of one file into entries and problems.
fn collect(rel: &str, items: Vec<Item>, now: i64, report: &mut Report) {
    let several = items.len() > 1;
    for (i, item) in items.into_iter().enumerate() {
        let index = i + 1;
        match item.result {
            Ok(s) => {
                let not_after = unix_seconds(s.not_after.to_system_time());
                let residual_seconds = not_after.saturating_sub(now);
                report.entries.push(Entry {
                    path: rel.to_string(),
                    index,
                    user: item.user,
                    subject: s.subject,
                    issuer: s.issuer,
                    is_ca: s.is_ca,
                    not_after: s.not_after.to_string(),
                    residual_seconds,
                    expired: residual_seconds < 0,
                    name: if several {
                        format!("{rel}#{index}")
                    } else {
                        rel.to_string()
                    },
                    expires: s.not_after,
                })
            }
            Err(reason) => {
                let mut prefix = String::new();
                if let Some(user) = &item.user {
                    prefix.push_str(&format!("user {user:?}: "));
                }
                if several {
                    prefix.push_str(&format!("certificate {index}: "));
                }
                report.problems.push(Problem {
                    path: rel.to_string(),
                    reason: format!("{prefix}{reason}"),
                });
            }
        }
    }
}

/// The certificates in a `.crt` file or a `client-certificate-data`: PEM
/// blocks (text around them is ignored) or, with no PEM block, one DER
/// certificate. An error is about the whole input.
fn certificates(
    bytes: &[u8],
) -> std::result::Result<Vec<std::result::Result<Summary, String>>, String> {
    if crate::x509::holds_private_key(bytes) {
        return Err(
            "holds a private key; a certificate file must hold only certificates (nothing from it is shown)"
                .into(),
        );
    }
    if bytes.trim_ascii().is_empty() {
        return Err("empty, no certificate".into());
    }
    let blocks = pem_blocks(bytes);
    if blocks.is_empty() {
        if bytes.first() != Some(&0x30) {
            return Err("neither PEM (no -----BEGIN line) nor a DER certificate".into());
        }
        return Ok(vec![summarise(bytes)]);
    }
    Ok(blocks
        .into_iter()
        .map(|block| match der::pem::decode_vec(block) {
            _ if !block.windows(9).any(|w| w == b"-----END ") => {
                Err("PEM: no -----END line, the file is cut short".into())
            }
            Ok(("CERTIFICATE", der)) => summarise(&der),
            Ok((label, _)) => Err(format!("PEM label is {label:?}, not CERTIFICATE")),
            Err(e) => Err(format!("PEM: {e}")),
        })
        .collect())
}

/// Each `-----BEGIN` … `-----END …-----` block, through the end of its END line.
fn pem_blocks(bytes: &[u8]) -> Vec<&[u8]> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut blocks = Vec::new();
    let mut rest = bytes;
    while let Some(start) = find(rest, b"-----BEGIN ") {
        let block = &rest[start..];
        let stop = find(block, b"-----END ")
            .and_then(|end| find(&block[end..], b"\n").map(|nl| end + nl + 1))
            .unwrap_or(block.len());
        blocks.push(&block[..stop]);
        rest = &block[stop..];
    }
    blocks
}

/// Summarises one DER certificate.
fn summarise(der: &[u8]) -> std::result::Result<Summary, String> {
    let cert =
        Certificate::from_der(der).map_err(|e| format!("not a valid DER certificate: {e}"))?;
    let tbs = cert.tbs_certificate();
    let is_ca = match tbs.get_extension::<BasicConstraints>() {
        Ok(found) => found.is_some_and(|(_, bc)| bc.ca),
        Err(e) => return Err(format!("basicConstraints: {e}")),
    };
    Ok(Summary {
        subject: common_name(tbs.subject()),
        issuer: common_name(tbs.issuer()),
        is_ca,
        not_after: tbs.validity().not_after.to_date_time(),
    })
}

/// The first CN of `name`, or the whole name (RFC 4514) when there is none.
fn common_name(name: &Name) -> String {
    match name.common_name() {
        Ok(Some(cn)) => cn.value().into_owned(),
        _ => name.to_string(),
    }
}

/// The parts of a kubeconfig read: `kind` and each user's certificate, nothing else.
#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
}

/// One `users[]` element.
#[derive(Deserialize)]
struct NamedUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    user: Option<UserCertificate>,
}

/// The one field read from `users[].user`; `client-key-data` is skipped unread.
#[derive(Deserialize)]
struct UserCertificate {
    #[serde(rename = "client-certificate-data", default)]
    client_certificate_data: Option<String>,
}

/// The client certificates embedded in a kubeconfig. A user without
/// `client-certificate-data` (one naming a file, or using a token) is skipped.
fn kubeconfig(bytes: &[u8]) -> std::result::Result<Vec<Item>, String> {
    // serde_yaml names the field (`users[0].user…`) and the line; serde
    // quotes the offending value, which may be a key: never show it.
    let config: Kubeconfig = serde_yaml::from_slice(bytes)
        .map_err(|e| format!("not a kubeconfig: {}", redact_quoted(&e.to_string())))?;
    if config.kind.as_deref().is_some_and(|k| k != "Config") {
        return Err("not a kubeconfig: kind is not Config".into());
    }
    let mut items = Vec::new();
    for (i, named) in config.users.unwrap_or_default().into_iter().enumerate() {
        let Some(data) = named.user.and_then(|u| u.client_certificate_data) else {
            continue;
        };
        let user = named.name.unwrap_or_else(|| format!("users[{i}]"));
        let compact: String = data.split_ascii_whitespace().collect();
        let certs = base64ct::Base64::decode_vec(&compact)
            .map_err(|_| "client-certificate-data is not base64".to_string())
            .and_then(|pem| certificates(&pem));
        match certs {
            Ok(certs) => items.extend(certs.into_iter().map(|result| Item {
                user: Some(user.clone()),
                result,
            })),
            Err(reason) => items.push(Item {
                user: Some(user),
                result: Err(reason),
            }),
        }
    }
    Ok(items)
}

/// `msg` with every double- or back-quoted span replaced by `"…"`.
fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        if c != '"' && c != '`' {
            out.push(c);
            continue;
        }
        out.push(c);
        out.push('…');
        out.push(c);
        let mut escaped = false;
        for inner in chars.by_ref() {
            match inner {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if inner == c => break,
                _ => {}
            }
        }
    }
    out
}

/// Seconds since 1970 (negative before), saturating.
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// kubeadm's residual time (`duration.ShortHumanDuration`), except that any
/// negative residual is `<invalid>`, so it agrees with `expired`.
fn residual(seconds: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    match seconds {
        s if s < 0 => "<invalid>".into(),
        s if s < MINUTE => format!("{s}s"),
        s if s < HOUR => format!("{}m", s / MINUTE),
        s if s < DAY => format!("{}h", s / HOUR),
        s if s < 365 * DAY => format!("{}d", s / DAY),
        s => format!("{}y", s / (365 * DAY)),
    }
}

/// kubeadm's EXPIRES column: `Jan 02, 2006 15:04 UTC`.
fn expires(t: &der::DateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS
        .get(usize::from(t.month()).wrapping_sub(1))
        .copied()
        .unwrap_or("???");
    format!(
        "{month} {:02}, {} {:02}:{:02} UTC",
        t.day(),
        t.year(),
        t.hour(),
        t.minutes()
    )
}

/// Left-aligned columns three spaces apart, like kubeadm's tabwriter, with no trailing spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let lines: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(
            rows.iter()
                .map(|r| r.iter().map(|cell| printable(cell)).collect()),
        )
        .collect();
    let mut widths = vec![0; header.len()];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (cell, w) in line.iter().zip(&widths) {
            text.push_str(&format!("{cell:<w$}   "));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// `s` with control and bidirectional-override characters escaped (`\u{…}`).
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            let invisible = c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
            if invisible {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
