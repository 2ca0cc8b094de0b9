//! manifest.json of an output bundle, written last: the `issued` entries
//! spooled to a private file as certificates are issued, then the head's
//! fields and the lists.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::super::super::super::Error;
use super::super::judge::{CaEntry, RejectedEntry};
use crate::fsutil;

/// manifest.json's `issued` entries, one JSON line each, kept in a private
/// temporary file instead of memory until the manifest is written last
/// (a few hundred bytes a certificate: 50 MB for a batch of 100,000).
pub(super) struct Spool {
    file: std::io::BufWriter<File>,
    count: usize,
}

impl Spool {
    pub(super) fn new(output: &Path) -> Result<Spool, Error> {
        let dir = fsutil::parent_dir(output);
        let file = fsutil::private_file(&dir).map_err(|source| Error::Output {
            path: dir,
            action: "create a private temporary file",
            source,
        })?;
        Ok(Spool {
            file: std::io::BufWriter::new(file),
            count: 0,
        })
    }

    pub(super) fn push(&mut self, line: &str) -> std::io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    /// Flushes the lines to the file, for [`write_manifest`].
    pub(super) fn into_file(self) -> std::io::Result<(File, usize)> {
        let count = self.count;
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        Ok((file, count))
    }
}

/// Writes the spooled lines of `file` to `w`, as `issued`'s elements.
fn copy_entries(file: &File, w: &mut dyn Write) -> std::io::Result<()> {
    use std::io::{BufRead, Seek};
    let mut reader = std::io::BufReader::new(file);
    reader.seek(std::io::SeekFrom::Start(0))?;
    let mut line = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        w.write_all(if first { b"\n  " } else { b",\n  " })?;
        w.write_all(line.strip_suffix(b"\n").unwrap_or(&line))?;
        first = false;
    }
}

/// The fields of manifest.json before its lists.
#[derive(Serialize)]
pub(super) struct ManifestHead<'a> {
    pub(super) format: &'static str,
    pub(super) ceremony: &'a str,
    pub(super) step: &'a str,
    pub(super) request_bundle_sha256: &'a str,
}

/// Writes an output bundle's manifest.json: the head's fields, then
/// `issued` (entries already encoded, one per line of the spool file),
/// `rejected` and `ca`.
pub(super) fn write_manifest(
    w: &mut dyn Write,
    head: &ManifestHead<'_>,
    issued: &File,
    rejected: &[RejectedEntry],
    ca: &[CaEntry],
) -> std::io::Result<()> {
    let head = serde_json::to_string(head).map_err(std::io::Error::other)?;
    // `{...}` without its closing brace, then the lists.
    w.write_all(&head.as_bytes()[..head.len() - 1])?;
    w.write_all(b",\n\"issued\": [")?;
    copy_entries(issued, w)?;
    w.write_all(b"\n],\n\"rejected\": ")?;
    serde_json::to_writer(&mut *w, rejected).map_err(std::io::Error::other)?;
    w.write_all(b",\n\"ca\": ")?;
    serde_json::to_writer(&mut *w, ca).map_err(std::io::Error::other)?;
    w.write_all(b"\n}\n")
}
