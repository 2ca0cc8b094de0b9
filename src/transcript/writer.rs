//! Appending to a transcript: O_APPEND, one write per entry, fsync before
//! the entry counts as written.
//!
//! The writer never writes what verification would refuse: an entry longer
//! than [`MAX_LINE`], or whose event is not a JSON object with a string
//! `type`, is refused before a byte of it is written, and the transcript
//! stays as it was.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use sha2::Digest;

use super::{render_line, Error, Result, GENESIS, MAX_LINE};
use crate::fsutil;

/// A transcript opened for appending.
pub struct Transcript {
    path: PathBuf,
    file: File,
    next_seq: u64,
    head: String,
    open_ceremony: Option<u64>,
}

impl Transcript {
    /// Opens `path` for appending, creating it if missing. An existing file
    /// is verified first; one that does not verify is never appended to.
    ///
    /// A torn last line (a crash during a write) is kept, never dropped:
    /// the writer ends it with a newline and appends a `crash_remnant` entry
    /// naming its length and SHA-256, which verification accepts in its place.
    pub fn open(path: &Path) -> Result<Transcript> {
        let (summary, torn) = if path.exists() {
            let (whole, torn) = split_torn_tail(path)?;
            let file = std::fs::File::open(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                action: "open",
                source,
            })?;
            let reader = std::io::BufReader::new(std::io::Read::take(file, whole));
            (Some(super::verify_reader(path, reader)?), torn)
        } else {
            (None, None)
        };
        let (next_seq, head) = summary
            .as_ref()
            .map_or((0, GENESIS.to_string()), |s| (s.entries, s.head.clone()));
        let io = |action| {
            move |source| Error::Io {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let dir = fsutil::parent_dir(path);
        std::fs::create_dir_all(&dir).map_err(io("create directory"))?;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(path)
            .map_err(io("open for append"))?;
        if next_seq == 0 {
            fsutil::sync_dir(&dir).map_err(io("sync directory"))?;
        }
        let mut transcript = Transcript {
            path: path.to_path_buf(),
            file,
            next_seq,
            head,
            open_ceremony: summary.and_then(|s| s.open_ceremony),
        };
        if let Some(torn) = torn {
            transcript
                .file
                .write_all(b"\n")
                .and_then(|()| transcript.file.sync_data())
                .map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    action: "end the torn line",
                    source,
                })?;
            transcript.append(&super::CrashRemnant {
                note: "the last line was cut by a crash; its bytes are kept above, unchanged"
                    .into(),
                torn_bytes: torn.len() as u64,
                torn_sha256: crate::hex::encode(&sha2::Sha256::digest(&torn)),
                kind: super::CRASH_REMNANT.into(),
            })?;
        }
        Ok(transcript)
    }

    /// The sequence number of a `ceremony_start` that never reached its
    /// `ceremony_end` (an interrupted ceremony), if there is one.
    pub fn open_ceremony(&self) -> Option<u64> {
        self.open_ceremony
    }

    /// The file this transcript appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of entries, which is also the next sequence number.
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// True when the transcript holds no entry yet.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// The hash of the last entry (the genesis value when empty).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Appends one event and fsyncs it. Returns the entry's sequence number.
    pub fn append<E: Serialize>(&mut self, event: &E) -> Result<u64> {
        let seq = self.append_unsynced(event)?;
        self.sync()?;
        Ok(seq)
    }

    /// Appends one event with one `write`, without waiting for the disk: the
    /// group commit of a batch. The caller calls [`Transcript::sync`] (or a
    /// later [`Transcript::append`], whose fsync covers every earlier byte)
    /// before anything that depends on the entry leaves the process, above
    /// all before an output bundle holding the certificates is renamed into
    /// place. A crash before that loses at most entries whose outputs were
    /// never placed; a kill loses nothing, the kernel has the bytes.
    pub fn append_unsynced<E: Serialize>(&mut self, event: &E) -> Result<u64> {
        let time = der::DateTime::from_system_time(SystemTime::now())
            .map(|t| t.to_string())
            .unwrap_or_else(|_| "unknown".into());
        let (line, hash) =
            render_line(self.next_seq, &time, &self.head, event).map_err(|e| Error::Encode {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        check_entry(&line).map_err(|reason| Error::Encode {
            path: self.path.clone(),
            reason: format!("entry {}: {reason}; nothing was written", self.next_seq),
        })?;
        let io = |action| {
            let path = self.path.clone();
            move |source| Error::Io {
                path,
                action,
                source,
            }
        };
        self.file
            .write_all(line.as_bytes())
            .map_err(io("append entry"))?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.head = hash;
        Ok(seq)
    }

    /// Waits until every appended entry is on disk (`fdatasync`).
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|source| Error::Io {
            path: self.path.clone(),
            action: "fsync entry",
            source,
        })
    }
}

/// Refuses a rendered line (with its newline) that verification would
/// refuse: longer than [`MAX_LINE`] bytes before the newline, or an event
/// that is not an object with a string `type` (JSON too deeply nested for
/// the reader fails here too).
fn check_entry(line: &str) -> std::result::Result<(), String> {
    /// Only the event's type is read; every other field is skipped.
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "event", borrow)]
        _event: Kind<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        _kind: std::borrow::Cow<'a, str>,
    }
    let body = line.strip_suffix('\n').unwrap_or(line);
    if body.len() > MAX_LINE {
        return Err(format!(
            "{} bytes, over the {MAX_LINE}-byte line limit that verification enforces",
            body.len()
        ));
    }
    serde_json::from_str::<Probe<'_>>(body)
        .map(|_| ())
        .map_err(|e| format!("the event is not an object with a string \"type\": {e}"))
}

/// The length of the file's whole lines, and the bytes after the last
/// newline when the file does not end with one (at most [`MAX_LINE`]).
fn split_torn_tail(path: &Path) -> Result<(u64, Option<Vec<u8>>)> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |action| {
        move |source| Error::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let mut file = std::fs::File::open(path).map_err(io("open"))?;
    let len = file.metadata().map_err(io("read"))?.len();
    let tail_len = len.min(MAX_LINE as u64 + 1);
    file.seek(SeekFrom::Start(len - tail_len))
        .map_err(io("read"))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    file.take(tail_len)
        .read_to_end(&mut tail)
        .map_err(io("read"))?;
    if tail.is_empty() || tail.ends_with(b"\n") {
        return Ok((len, None));
    }
    match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => Ok((len - tail_len + i as u64 + 1, Some(tail[i + 1..].to_vec()))),
        None if tail_len == len => Ok((0, Some(tail))),
        None => Err(Error::Invalid {
            path: path.to_path_buf(),
            entry: 0,
            line: 0,
            reason: format!("the last line is longer than {MAX_LINE} bytes"),
        }),
    }
}

#[cfg(test)]
mod tests;
