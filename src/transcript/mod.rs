//! The append-only, hash-chained ceremony transcript.
//!
//! One JSON object per line:
//!
//! ```text
//! {"seq":0,"time":"2026-11-23T13:45:00Z","prev":"00…00","event":{"type":"ceremony_start",…},"hash":"…"}
//! ```
//!
//! `hash` is the SHA-256 of the line's bytes with the `,"hash":"…"` member
//! removed, that is of the exact text `{"seq":…,"time":…,"prev":…,"event":…}`.
//! `prev` is the previous entry's `hash` (64 zeros for the first entry), and
//! `seq` counts from 0. An auditor can recompute any entry with `sed` and
//! `sha256sum`; no JSON canonicalisation is involved.
//!
//! This module owns the chain and the file. It never rewrites, truncates or
//! reorders an entry, and it knows nothing about what events mean.

mod verify;
mod writer;

pub use verify::{
    verify_file, verify_file_with, verify_reader, verify_reader_with, Summary, Visited,
};
pub use writer::Transcript;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hex;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The `type` of the one event this module writes itself: after a torn last
/// line, the entry that names it.
pub const CRASH_REMNANT: &str = "crash_remnant";

/// The `crash_remnant` event, written and read back by this type. Its members
/// are in the order they have always been written (`type` last).
#[derive(Debug, Serialize, Deserialize)]
pub struct CrashRemnant {
    /// What happened, for a reader of the file.
    #[serde(default)]
    pub note: String,
    /// The length of the torn line, without the newline added after it.
    pub torn_bytes: u64,
    /// SHA-256 of the torn line's bytes, hex.
    pub torn_sha256: String,
    /// Always [`CRASH_REMNANT`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// The longest line a transcript may hold; longer lines are refused.
pub const MAX_LINE: usize = 1 << 20;

/// Errors from reading, verifying or appending to a transcript.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("transcript {}: {action}: {source}", path.display())]
    Io {
        /// The transcript file.
        path: PathBuf,
        /// What was being done: open, read, write, sync.
        action: &'static str,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// An entry breaks the chain.
    #[error("transcript {}: entry {entry} (line {line}): {reason}", path.display())]
    Invalid {
        /// The transcript file.
        path: PathBuf,
        /// The entry's sequence number.
        entry: u64,
        /// Its line in the file.
        line: u64,
        /// Why, naming the rule broken.
        reason: String,
    },
    /// An event could not be serialised.
    #[error("transcript {}: cannot encode event: {reason}", path.display())]
    Encode {
        /// The transcript file.
        path: PathBuf,
        /// Why, naming the rule broken.
        reason: String,
    },
}

impl Error {
    /// A likely fix for the error, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Invalid { .. } => Some(
                "the transcript was changed, or entries were removed, reordered or inserted; keep this copy as evidence and compare it with the entry count and head hash on the paper record"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Shorthand for results in this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The hashed part of an entry, in the order it is written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<E> {
    seq: u64,
    time: String,
    prev: String,
    event: E,
}

/// Renders one entry line (with its trailing newline) and returns it with its hash.
fn render_line<E: Serialize>(
    seq: u64,
    time: &str,
    prev: &str,
    event: &E,
) -> serde_json::Result<(String, String)> {
    let body = serde_json::to_string(&Body {
        seq,
        time: time.to_string(),
        prev: prev.to_string(),
        event,
    })?;
    let hash = hex::encode(&Sha256::digest(body.as_bytes()));
    let mut line = body;
    line.pop(); // the closing brace
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}\n");
    Ok((line, hash))
}

/// Splits a line (without its newline) into the hashed body and the stated hash.
fn split_line(line: &str) -> Option<(String, &str)> {
    const TAIL: usize = ",\"hash\":\"".len() + 64 + "\"}".len();
    if line.len() < TAIL || !line.is_char_boundary(line.len() - TAIL) {
        return None;
    }
    let (head, tail) = line.split_at(line.len() - TAIL);
    let hash = tail.strip_prefix(",\"hash\":\"")?.strip_suffix("\"}")?;
    if !hash
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    Some((format!("{head}}}"), hash))
}

#[cfg(test)]
mod tests;
