//! The scan: the walk of the directory, the reading of each `*.crt` and
//! `*.conf` file found, and the [`Report`] made of what they hold.
//!
//! The walk never follows a symbolic link below the scanned directory (a
//! link named `*.crt` or `*.conf`, or one to a directory, is a [`Problem`]),
//! never goes deeper than [`MAX_DEPTH`], and never opens a file whose name
//! does not end in `.crt` or `.conf`. A file is read without following a
//! link or waiting on a fifo, never past [`MAX_FILE_BYTES`], into a buffer
//! wiped when dropped.

use std::ffi::OsString;
use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::parse::{certificates, kubeconfig, Item};
use super::{Entry, Error, Problem, Report, Result, MAX_DEPTH, MAX_FILE_BYTES};

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

/// Seconds since 1970 (negative before), saturating.
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
