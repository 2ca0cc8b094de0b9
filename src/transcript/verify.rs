//! Verifying a transcript in one streaming pass, in constant memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{split_line, Body, Error, Result, GENESIS, MAX_LINE};
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
    /// The event.
    pub event: &'a serde_json::Value,
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

/// [`verify_reader`] with a visitor, in one streaming pass.
pub fn verify_reader_with<R: BufRead>(
    path: &Path,
    mut reader: R,
    mut visit: impl FnMut(&Visited<'_>) -> std::result::Result<(), String>,
) -> Result<Summary> {
    let mut head = GENESIS.to_string();
    let mut expected: u64 = 0;
    let mut last_event = None;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let line_no = expected + 1;
        let invalid = |reason: String| Error::Invalid {
            path: path.to_path_buf(),
            entry: expected,
            line: line_no,
            reason,
        };
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
        if buf.last() != Some(&b'\n') {
            return Err(invalid(if n > MAX_LINE {
                format!("line is longer than {MAX_LINE} bytes")
            } else {
                "the final line is incomplete (no newline): the file was cut or a write was interrupted".into()
            }));
        }
        buf.pop();
        let line = std::str::from_utf8(&buf).map_err(|_| invalid("not valid UTF-8".into()))?;
        let (body, stated) = split_line(line).ok_or_else(|| {
            invalid("not a transcript entry (no trailing \"hash\" member)".into())
        })?;
        let body_hash = hex::encode(&Sha256::digest(body.as_bytes()));
        if body_hash != stated {
            return Err(invalid(
                "content does not match its hash: the entry was changed".into(),
            ));
        }
        let parsed: Body<serde_json::Value> = serde_json::from_str(&body)
            .map_err(|e| invalid(format!("not a transcript entry: {e}")))?;
        if parsed.seq != expected {
            return Err(invalid(format!(
                "found entry with sequence number {}, expected {expected}: an entry was removed, reordered or inserted",
                parsed.seq
            )));
        }
        if parsed.prev != head {
            return Err(invalid(
                "its prev hash is not the hash of the entry before it: an entry was removed, reordered or inserted"
                    .into(),
            ));
        }
        let Some(event_type) = parsed.event.get("type").and_then(|t| t.as_str()) else {
            return Err(invalid("the event has no type".into()));
        };
        last_event = Some(event_type.to_string());
        visit(&Visited {
            seq: expected,
            prev: &head,
            hash: stated,
            event: &parsed.event,
        })
        .map_err(invalid)?;
        head = stated.to_string();
        expected += 1;
    }
    Ok(Summary {
        entries: expected,
        head,
        last_event,
    })
}

#[cfg(test)]
mod tests {
    use super::super::render_line;
    use super::*;

    fn transcript(n: u64) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (0..n)
            .map(|seq| {
                let event = serde_json::json!({"type": "note", "n": seq});
                let (line, hash) =
                    render_line(seq, "2026-01-01T00:00:00Z", &prev, &event).expect("render");
                prev = hash;
                line
            })
            .collect()
    }

    fn check(lines: &[String]) -> Result<Summary> {
        let text = lines.concat();
        verify_reader(Path::new("t"), text.as_bytes())
    }

    fn reason(lines: &[String]) -> String {
        check(lines).expect_err("must fail").to_string()
    }

    #[test]
    fn intact_and_empty_transcripts_verify() {
        assert_eq!(check(&transcript(5)).expect("intact").entries, 5);
        assert_eq!(check(&[]).expect("empty").head, GENESIS);
    }

    #[test]
    fn edits_removals_swaps_insertions_and_cuts_are_named() {
        let good = transcript(5);
        let mut edited = good.clone();
        edited[2] = edited[2].replace("\"n\":2", "\"n\":9");
        assert!(reason(&edited).contains("entry 2 (line 3): content does not match"));

        let mut removed = good.clone();
        removed.remove(3);
        assert!(reason(&removed).contains("entry 3 (line 4): found entry with sequence number 4"));

        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert!(reason(&swapped).contains("entry 1 (line 2)"));

        let mut inserted = good.clone();
        inserted.insert(2, transcript(3)[2].clone());
        assert!(reason(&inserted).contains("entry 3 (line 4)"));

        let mut cut = good.clone();
        let last = cut.pop().expect("five lines");
        cut.push(last[..last.len() / 2].to_string());
        assert!(reason(&cut).contains("entry 4 (line 5): the final line is incomplete"));
    }
}
