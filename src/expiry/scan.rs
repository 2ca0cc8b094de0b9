//! The scan: the walk of the directory, the reading of each `*.crt` and
//! `*.conf` file found, and the [`Report`] made of what they hold.
//!
//! The walk never follows a symbolic link below the scanned directory (a
//! link named `*.crt` or `*.conf`, or one to a directory, is a [`Problem`]),
//! never goes deeper than [`MAX_DEPTH`], and never opens a file whose name
//! does not end in `.crt` or `.conf`. It notes, from the directory listing
//! alone, the regular files named `*.key` (so that a CA whose key sits
//! beside it is known) and whether a regular `manifest.json` is at the top
//! (an opened output bundle); neither is opened. A file is read without
//! following a link or waiting on a fifo, never past [`MAX_FILE_BYTES`],
//! into a buffer wiped when dropped.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use zeroize::Zeroizing;

use super::lookahead::{self, Layout};
use super::parse::{certificates, kubeconfig, Item, Signed};
use super::{Entry, Error, Kind, Problem, Report, Result, MAX_DEPTH, MAX_FILE_BYTES};

/// Scans `dir` for `*.crt` files and kubeconfig `*.conf` files, at any depth,
/// and reports every certificate's expiry relative to `now`, who issued it,
/// what renews it, and whether it expires within `warn_within_days` of `now`.
///
/// `dir` itself may be a symbolic link; nothing below it is followed.
pub fn scan(dir: &Path, now: SystemTime, warn_within_days: u32) -> Result<Report> {
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
    let bundle = top
        .iter()
        .any(|(name, file_type)| name == "manifest.json" && file_type.is_file());
    let mut walk = Walk {
        root: dir,
        files: Vec::new(),
        keys: BTreeSet::new(),
        problems: Vec::new(),
    };
    walk.dir(dir, top, 0);
    let now = unix_seconds(now);
    let mut found = Found {
        entries: Vec::new(),
        problems: walk.problems,
    };
    for (rel, path, kind) in walk.files {
        let items = read_limited(&path).and_then(|bytes| match kind {
            FileKind::Crt => certificates(&bytes).map(|certs| {
                certs
                    .into_iter()
                    .map(|result| Item { user: None, result })
                    .collect()
            }),
            FileKind::Conf => kubeconfig(&bytes),
        });
        match items {
            Ok(items) => collect(&rel, items, now, &mut found),
            Err(reason) => found.problems.push(Problem { path: rel, reason }),
        }
    }
    found
        .entries
        .sort_by(|a, b| (&a.0.path, a.0.index).cmp(&(&b.0.path, b.0.index)));
    found.problems.sort_by(|a, b| a.path.cmp(&b.path));
    let (mut entries, signed): (Vec<Entry>, Vec<Signed>) = found.entries.into_iter().unzip();
    let layout = Layout {
        bundle,
        keys: &walk.keys,
    };
    lookahead::relate(&mut entries, &signed, &layout, warn_within_days);
    Ok(Report {
        warn_within_days,
        entries,
        problems: found.problems,
    })
}

/// What the files held, before the look-ahead: each entry with the parts
/// that say who signed it, and the problems.
struct Found {
    entries: Vec<(Entry, Signed)>,
    problems: Vec<Problem>,
}

/// The kinds of file read.
#[derive(Debug, Clone, Copy)]
enum FileKind {
    /// `*.crt`: PEM certificates, or one DER certificate.
    Crt,
    /// `*.conf`: a kubeconfig.
    Conf,
}

impl FileKind {
    fn of(name: &std::ffi::OsStr) -> Option<FileKind> {
        let name = name.as_encoded_bytes();
        if name.ends_with(b".crt") {
            Some(FileKind::Crt)
        } else if name.ends_with(b".conf") {
            Some(FileKind::Conf)
        } else {
            None
        }
    }
}

/// The directory walk: the files to read, the `*.key` files seen (never
/// opened), and what was refused on the way.
struct Walk<'a> {
    root: &'a Path,
    files: Vec<(String, PathBuf, FileKind)>,
    keys: BTreeSet<String>,
    problems: Vec<Problem>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, entries: Vec<(OsString, FileType)>, depth: usize) {
        for (name, file_type) in entries {
            let path = dir.join(&name);
            let rel = relative(self.root, &path);
            let kind = FileKind::of(&name);
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
            } else if file_type.is_file() && name.as_encoded_bytes().ends_with(b".key") {
                // Its name only, from the listing: a `.key` is never opened.
                self.keys.insert(rel);
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
fn collect(rel: &str, items: Vec<Item>, now: i64, report: &mut Found) {
    let several = items.len() > 1;
    for (i, item) in items.into_iter().enumerate() {
        let index = i + 1;
        match item.result {
            Ok(s) => {
                let not_after = unix_seconds(s.not_after.to_system_time());
                let residual_seconds = not_after.saturating_sub(now);
                report.entries.push((
                    Entry {
                        path: rel.to_string(),
                        index,
                        user: item.user,
                        subject: s.subject,
                        issuer: s.issuer,
                        is_ca: s.is_ca,
                        not_after: s.not_after.to_string(),
                        residual_seconds,
                        expired: residual_seconds < 0,
                        kind: if s.is_ca {
                            Kind::Intermediate
                        } else {
                            Kind::Leaf
                        },
                        issued_by: Vec::new(),
                        renewed_by: "unknown",
                        renewal: "",
                        within_window: false,
                        outlives_issuer: None,
                        name: if several {
                            format!("{rel}#{index}")
                        } else {
                            rel.to_string()
                        },
                        expires: s.not_after,
                    },
                    s.signed,
                ))
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
