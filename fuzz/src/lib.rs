//! Helpers shared by the fuzz targets.
//!
//! Some formats guard their contents with a checksum the fuzzer cannot
//! forge: tar header checksums, and the transcript's hash chain. To reach
//! the code behind those gates, a target tries each input as given and, when
//! it differs, again after [`fix_tar_checksums`] or [`rechain_transcript`]
//! has made the checksums right. Neither fix is a weakening of the code
//! under test: an attacker who writes a tar or rewrites a transcript can
//! compute the same checksums.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// A throwaway age identity, for the `bundle_open` target only. It protects
/// nothing: the seeds in `fuzz/seeds/bundle_open/*.age` are encrypted to it.
pub const AGE_IDENTITY: &str =
    "AGE-SECRET-KEY-1SN7S2DTP69YTL3FYEPG6ETJ7S8R27S5XVHFEW3XH88ZF22HCEYPSZAEHW7";

/// The recipient of [`AGE_IDENTITY`].
pub const AGE_RECIPIENT: &str = "age1c2ncf4rf2yqg92jhju2dl9d6j48588gducllv7f3z0c5wyyn3azs02z7mx";

/// The audit key's public key from the demo whose transcript is a seed of
/// the `transcript` and `checkpoint` targets (DER SubjectPublicKeyInfo, PEM).
pub const AUDIT_KEY_PEM: &str = include_str!("../fixtures/audit-key.pub");

/// A directory that lives as long as the fuzzing process, one per process:
/// in `/dev/shm` when there is one, because the code under test fsyncs what
/// it writes and a disk would make that the bottleneck.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        tempfile::Builder::new()
            .prefix("ceremony-fuzz.")
            .tempdir_in(base)
            .expect("a temporary directory for the fuzz target")
    })
    .path()
}

/// `name` inside [`scratch_dir`].
pub fn scratch(name: &str) -> PathBuf {
    scratch_dir().join(name)
}

/// Writes `bytes` to `name` inside [`scratch_dir`] as a new file and returns
/// its path. The old file is removed first, not truncated: ext4 flushes a
/// truncated file to disk on close, which slows the fuzzing to disk speed.
pub fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch(name);
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, bytes).expect("write a scratch file");
    path
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rewrites the checksum of every tar header in `tar`, walking the headers
/// the way a reader does (each body padded to 512 bytes), until a zero
/// block, a size field that is not octal, or the end. Returns true when
/// anything changed.
pub fn fix_tar_checksums(tar: &mut [u8]) -> bool {
    const BLOCK: usize = 512;
    let mut changed = false;
    let mut pos = 0usize;
    while let Some(end) = pos.checked_add(BLOCK) {
        let Some(block) = tar.get_mut(pos..end) else {
            break;
        };
        if block.iter().all(|&b| b == 0) {
            break;
        }
        let sum: u32 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        if octal(&block[148..156]) != Some(u64::from(sum)) {
            block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            changed = true;
        }
        let Some(size) = octal(&block[124..136]) else {
            break;
        };
        let Some(padded) = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(BLOCK - 1))
            .map(|s| s / BLOCK * BLOCK)
        else {
            break;
        };
        let Some(next) = end.checked_add(padded) else {
            break;
        };
        pos = next;
    }
    changed
}

/// An octal numeric tar field: spaces, digits, then NULs or spaces.
fn octal(field: &[u8]) -> Option<u64> {
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b.is_ascii_digit())
        .collect();
    if text.is_empty() {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// The `prev` of the first transcript entry.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Makes a transcript's chain consistent, as someone rewriting it would:
/// every line that ends in `,"hash":"<64 characters>"}` gets the expected
/// `seq` (when it starts with `{"seq":<digits>`), `prev` (the first
/// `"prev":"` followed by 64 characters) and its own recomputed `hash`; a
/// `crash_remnant` entry right after a line that is not an entry gets that
/// line's `torn_bytes` and `torn_sha256`. Other lines are kept as they are.
pub fn rechain_transcript(data: &[u8]) -> Vec<u8> {
    const TAIL_START: &str = ",\"hash\":\"";
    const TAIL: usize = TAIL_START.len() + 64 + 2;
    let mut out = Vec::with_capacity(data.len());
    let mut head = GENESIS.to_string();
    let mut seq = 0u64;
    let mut torn: Option<(usize, String)> = None;
    for line in data.split_inclusive(|&b| b == b'\n') {
        let (body, newline) = match line.strip_suffix(b"\n") {
            Some(body) => (body, true),
            None => (line, false),
        };
        let entry = std::str::from_utf8(body).ok().and_then(|text| {
            let cut = text.len().checked_sub(TAIL)?;
            let tail = text.get(cut..)?;
            (tail.starts_with(TAIL_START) && tail.ends_with("\"}")).then(|| text[..cut].to_string())
        });
        let Some(mut head_part) = entry else {
            torn = Some((body.len(), sha256_hex(body)));
            out.extend_from_slice(line);
            continue;
        };
        if let Some(digits) = head_part.strip_prefix("{\"seq\":") {
            let n = digits.bytes().take_while(u8::is_ascii_digit).count();
            if n > 0 {
                head_part.replace_range(7..7 + n, &seq.to_string());
            }
        }
        replace_string_member(&mut head_part, "prev", &head);
        if let Some((len, sha)) = torn.take() {
            if head_part.contains("\"type\":\"crash_remnant\"") {
                replace_string_member(&mut head_part, "torn_sha256", &sha);
                replace_number_member(&mut head_part, "torn_bytes", len as u64);
            }
        }
        let hash = sha256_hex(format!("{head_part}}}").as_bytes());
        out.extend_from_slice(head_part.as_bytes());
        out.extend_from_slice(TAIL_START.as_bytes());
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(b"\"}");
        if newline {
            out.push(b'\n');
        }
        head = hash;
        seq += 1;
    }
    out
}

/// Replaces the 64 characters after the first `"NAME":"` with `value`.
fn replace_string_member(text: &mut String, name: &str, value: &str) {
    let key = format!("\"{name}\":\"");
    if let Some(i) = text.find(&key) {
        let start = i + key.len();
        if text.get(start..start + 64).is_some() {
            text.replace_range(start..start + 64, value);
        }
    }
}

/// Replaces the digits after the first `"NAME":` with `value`.
fn replace_number_member(text: &mut String, name: &str, value: u64) {
    let key = format!("\"{name}\":");
    if let Some(i) = text.find(&key) {
        let start = i + key.len();
        let n = text[start..].bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 {
            text.replace_range(start..start + n, &value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rechaining_an_intact_transcript_changes_nothing() {
        let demo = include_bytes!("../seeds/transcript/demo-root-init-first-4.jsonl");
        assert_eq!(rechain_transcript(demo), demo.to_vec());
    }

    #[test]
    fn fixing_a_sealed_bundle_changes_nothing() {
        let mut tar = include_bytes!("../seeds/request_bundle/demo-intermediate.tar").to_vec();
        assert!(!fix_tar_checksums(&mut tar));
        tar[0] ^= 1;
        assert!(fix_tar_checksums(&mut tar));
    }
}
