//! Verifying a transcript in one streaming pass, in constant memory.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{split_line, Error, Result, GENESIS, MAX_LINE};
use crate::hex;

/// What an intact transcript holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Number of entries.
    pub entries: u64,
    /// Hash of the last entry (the genesis value when empty).
    pub head: String,
    /// The `type` of the last entry's event, if there is one.
    pub last_event: Option<String>,
    /// The sequence number of a `ceremony_start` with no `ceremony_end` after it.
    pub open_ceremony: Option<u64>,
}

/// Verifies the transcript at `path`.
pub fn verify_file(path: &Path) -> Result<Summary> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "open",
        source,
    })?;
    verify_reader(path, BufReader::with_capacity(1 << 16, file))
}

/// Verifies a transcript read from `reader`; `path` only names it in errors.
pub fn verify_reader<R: BufRead>(path: &Path, reader: R) -> Result<Summary> {
    verify_reader_with(path, reader, |_| Ok(()))
}

/// One verified entry, as handed to a visitor.
pub struct Visited<'a> {
    /// Sequence number.
    pub seq: u64,
    /// The previous entry's hash.
    pub prev: &'a str,
    /// This entry's hash.
    pub hash: &'a str,
    /// The event's `type`.
    pub kind: &'a str,
    /// The event as written.
    raw: &'a RawValue,
}

impl Visited<'_> {
    /// The event, read as the caller's event type `E` (this module knows
    /// none but its own [`CrashRemnant`](super::CrashRemnant)); only when a
    /// visitor asks: most look at `kind` alone, and a million entries
    /// verify twice as fast unparsed.
    pub fn parse<E: serde::de::DeserializeOwned>(&self) -> std::result::Result<E, String> {
        serde_json::from_str(self.raw.get()).map_err(|e| format!("{} event: {e}", self.kind))
    }
}

/// The hashed part of an entry, with the event left unparsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody<'a> {
    seq: u64,
    #[allow(dead_code)]
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// The one field of an event every entry is checked for.
#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// Verifies the transcript at `path`, handing every entry that passed the
/// chain checks to `visit`; an error from `visit` fails at that entry.
pub fn verify_file_with(
    path: &Path,
    visit: impl FnMut(&Visited<'_>) -> std::result::Result<(), String>,
) -> Result<Summary> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action: "open",
        source,
    })?;
    verify_reader_with(path, BufReader::with_capacity(1 << 16, file), visit)
}

/// A line that is not an entry, held until the next line says whether it
/// is a crash remnant (followed by a `crash_remnant` entry naming it).
struct Pending {
    entry: u64,
    line: u64,
    len: usize,
    sha256: String,
    reason: String,
}

/// [`verify_reader`] with a visitor, in one streaming pass.
///
/// One rule beyond the chain: a line that is not an entry is accepted only
/// when the very next entry is a `crash_remnant` naming its length and
/// SHA-256 (what the writer appends when it finds a torn last line).
pub fn verify_reader_with<R: BufRead>(
    path: &Path,
    mut reader: R,
    mut visit: impl FnMut(&Visited<'_>) -> std::result::Result<(), String>,
) -> Result<Summary> {
    let mut head = GENESIS.to_string();
    let mut expected: u64 = 0;
    let mut last_event = None;
    let mut open_ceremony = None;
    let mut line_no: u64 = 0;
    let mut pending: Option<Pending> = None;
    let mut buf = Vec::with_capacity(4096);
    let invalid = |entry: u64, line: u64, reason: String| Error::Invalid {
        path: path.to_path_buf(),
        entry,
        line,
        reason,
    };
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                action: "read",
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            return Err(invalid(
                expected,
                line_no,
                if n > MAX_LINE {
                    format!("line is longer than {MAX_LINE} bytes")
                } else {
                    "the final line is incomplete (no newline): a crash remnant or a cut file; the next ceremony records it and goes on".into()
                },
            ));
        }
        buf.pop();
        let parsed = match parse_entry(&buf, expected, &head) {
            Ok(p) => p,
            Err(reason) => {
                if let Some(p) = pending {
                    return Err(invalid(p.entry, p.line, p.reason));
                }
                pending = Some(Pending {
                    entry: expected,
                    line: line_no,
                    len: buf.len(),
                    sha256: hex::encode(&Sha256::digest(&buf)),
                    reason,
                });
                continue;
            }
        };
        let (body, stated, event_type) = parsed;
        let raw: RawBody<'_> = serde_json::from_str(&body)
            .map_err(|e| invalid(expected, line_no, format!("not a transcript entry: {e}")))?;
        if let Some(p) = pending.take() {
            let names_it = event_type == super::CRASH_REMNANT
                && serde_json::from_str::<super::CrashRemnant>(raw.event.get())
                    .is_ok_and(|e| e.torn_sha256 == p.sha256 && e.torn_bytes == p.len as u64);
            if !names_it {
                return Err(invalid(p.entry, p.line, p.reason));
            }
        }
        match event_type.as_str() {
            "ceremony_start" => open_ceremony = Some(expected),
            "ceremony_end" => open_ceremony = None,
            _ => {}
        }
        visit(&Visited {
            seq: expected,
            prev: &head,
            hash: &stated,
            kind: &event_type,
            raw: raw.event,
        })
        .map_err(|r| invalid(expected, line_no, r))?;
        last_event = Some(event_type);
        head = stated;
        expected += 1;
    }
    if let Some(p) = pending {
        return Err(invalid(p.entry, p.line, p.reason));
    }
    Ok(Summary {
        entries: expected,
        head,
        last_event,
        open_ceremony,
    })
}

/// The `type` of an event, if it has a string one.
fn kind_of(event: &RawValue) -> Option<String> {
    // An object, not an array that serde would also read into `Kind`.
    if !event.get().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Kind<'_>>(event.get())
        .ok()
        .map(|k| k.kind.into_owned())
}

/// Checks one line (without its newline) as entry `expected` after `head`;
/// returns the hashed body, the stated hash and the event's type.
fn parse_entry(
    buf: &[u8],
    expected: u64,
    head: &str,
) -> std::result::Result<(String, String, String), String> {
    let line = std::str::from_utf8(buf).map_err(|_| "not valid UTF-8".to_string())?;
    let (body, stated) = split_line(line)
        .ok_or_else(|| "not a transcript entry (no trailing \"hash\" member)".to_string())?;
    if !hex_is(stated, &Sha256::digest(body.as_bytes())) {
        return Err("content does not match its hash: the entry was changed".into());
    }
    let parsed: RawBody<'_> =
        serde_json::from_str(&body).map_err(|e| format!("not a transcript entry: {e}"))?;
    if parsed.seq != expected {
        return Err(format!(
            "found entry with sequence number {}, expected {expected}: an entry was removed, reordered or inserted",
            parsed.seq
        ));
    }
    if parsed.prev != head {
        return Err(
            "its prev hash is not the hash of the entry before it: an entry was removed, reordered or inserted"
                .into(),
        );
    }
    let Some(kind) = kind_of(parsed.event) else {
        return Err("the event has no type".into());
    };
    Ok((body, stated.to_string(), kind))
}

/// True when `text` is the lowercase hex of `bytes` (what `hex::encode` gives).
fn hex_is(text: &str, bytes: &[u8]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    text.len() == bytes.len() * 2
        && text.as_bytes().chunks_exact(2).zip(bytes).all(|(pair, b)| {
            pair[0] == DIGITS[usize::from(b >> 4)] && pair[1] == DIGITS[usize::from(b & 15)]
        })
}

#[cfg(test)]
mod tests;
