//! Appending to a transcript: O_APPEND, one write per entry, fsync before
//! the entry counts as written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::{render_line, verify_file, Error, Result, GENESIS};
use crate::fsutil;

/// A transcript opened for appending.
pub struct Transcript {
    path: PathBuf,
    file: File,
    next_seq: u64,
    head: String,
}

impl Transcript {
    /// Opens `path` for appending, creating it if missing. An existing file
    /// is verified first; one that does not verify is never appended to.
    pub fn open(path: &Path) -> Result<Transcript> {
        let (next_seq, head) = if path.exists() {
            let summary = verify_file(path)?;
            (summary.entries, summary.head)
        } else {
            (0, GENESIS.to_string())
        };
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
        Ok(Transcript {
            path: path.to_path_buf(),
            file,
            next_seq,
            head,
        })
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
        let time = der::DateTime::from_system_time(SystemTime::now())
            .map(|t| t.to_string())
            .unwrap_or_else(|_| "unknown".into());
        let (line, hash) =
            render_line(self.next_seq, &time, &self.head, event).map_err(|e| Error::Encode {
                path: self.path.clone(),
                reason: e.to_string(),
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
        self.file.sync_data().map_err(io("fsync entry"))?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.head = hash;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_continue_the_chain_across_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.jsonl");
        let mut t = Transcript::open(&path).expect("open");
        t.append(&serde_json::json!({"type": "a"})).expect("append");
        t.append(&serde_json::json!({"type": "b"})).expect("append");
        let head = t.head().to_string();
        drop(t);
        let mut t = Transcript::open(&path).expect("reopen");
        assert_eq!(t.len(), 2);
        assert_eq!(t.head(), head);
        assert_eq!(
            t.append(&serde_json::json!({"type": "c"})).expect("append"),
            2
        );
        let summary = verify_file(&path).expect("verifies");
        assert_eq!(summary.entries, 3);
    }

    #[test]
    fn refuses_to_append_to_a_broken_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.jsonl");
        let mut t = Transcript::open(&path).expect("open");
        t.append(&serde_json::json!({"type": "a"})).expect("append");
        drop(t);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace("\"a\"", "\"x\"")).expect("tamper");
        let before = std::fs::read(&path).expect("read");
        let err = Transcript::open(&path).err().expect("must refuse");
        assert!(err.to_string().contains("entry 0 (line 1)"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
}
