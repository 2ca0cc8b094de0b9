//! The `allowed_signers` file, as `ssh-keygen(1)` describes it: one signer
//! a line, `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]`, `#` comments and
//! blank lines ignored.
//!
//! Options understood: `namespaces="…"` (comma-separated patterns with `*`
//! and `?`), `valid-after="…"` and `valid-before="…"` (a UTC time
//! `YYYYMMDD[HHMM[SS]]Z`; OpenSSH also takes local times, which a record
//! read in another time zone would judge differently, so they are refused).
//! `cert-authority` is refused: approvers are listed by their own keys, and
//! this module verifies no SSH certificate. Every refusal names the file,
//! the line and the rule.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use crate::hex;

/// The largest signers file read.
pub const MAX_SIGNERS_BYTES: u64 = 1 << 20;

/// The smallest RSA key counted (OpenSSH itself takes 1024 bits).
const MIN_RSA_BITS: u32 = 2048;

/// An `allowed_signers` file, read and checked.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The file's exact text (public keys only: the transcript keeps it, so
    /// that a later ceremony can check approvals by this set).
    pub text: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Its signers, in file order.
    pub signers: Vec<Signer>,
}

/// One line of the file.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The line number, from 1.
    pub line: usize,
    /// The principals, as written.
    pub principals: Vec<String>,
    /// The key.
    pub key: KeyData,
    /// The namespaces the key may sign in (patterns); `None` for any.
    pub namespaces: Option<Vec<String>>,
    /// Not valid before this time (Unix seconds).
    pub valid_after: Option<u64>,
    /// Not valid from this time on (Unix seconds).
    pub valid_before: Option<u64>,
}

impl AllowedSigners {
    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> Result<AllowedSigners, String> {
        let bytes = crate::fsutil::read_limited(path, MAX_SIGNERS_BYTES)
            .map_err(|e| format!("allowed signers {}: {e}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("allowed signers {}: not valid UTF-8", path.display()))?;
        AllowedSigners::parse(path, text)
    }

    /// Checks `text`, the contents of the file `path` names.
    pub fn parse(path: &Path, text: String) -> Result<AllowedSigners, String> {
        let mut signers = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let signer = parse_line(line_no, trimmed)
                .map_err(|rule| format!("allowed signers {}:{line_no}: {rule}", path.display()))?;
            if let Some(earlier) = signers.iter().find(|s: &&Signer| s.key == signer.key) {
                return Err(format!(
                    "allowed signers {}:{line_no}: the key of line {} again; list each key once",
                    path.display(),
                    earlier.line
                ));
            }
            signers.push(signer);
        }
        if signers.is_empty() {
            return Err(format!(
                "allowed signers {}: lists no signer",
                path.display()
            ));
        }
        let sha256 = hex::encode(&Sha256::digest(text.as_bytes()));
        Ok(AllowedSigners {
            path: path.to_path_buf(),
            text,
            sha256,
            signers,
        })
    }

    /// The signer whose key is `key`.
    pub fn find(&self, key: &KeyData) -> Option<&Signer> {
        self.signers.iter().find(|s| &s.key == key)
    }
}

impl Signer {
    /// `Err` names the rule of this line that a signature in `namespace` at
    /// `now` (Unix seconds) breaks.
    pub fn allows(&self, namespace: &str, now: u64) -> Result<(), String> {
        if let Some(patterns) = &self.namespaces {
            if !patterns.iter().any(|p| glob(p, namespace)) {
                return Err(format!(
                    "may sign only in namespaces {:?}",
                    patterns.join(",")
                ));
            }
        }
        if self.valid_after.is_some_and(|t| now < t) {
            return Err("is not valid yet (valid-after)".into());
        }
        if self.valid_before.is_some_and(|t| now >= t) {
            return Err("is no longer valid (valid-before)".into());
        }
        Ok(())
    }
}

fn parse_line(line_no: usize, line: &str) -> Result<Signer, String> {
    let (principals, rest) = field(line)?;
    let principals: Vec<String> = unquote(principals)
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    if principals.is_empty() {
        return Err("names no principal".into());
    }
    if rest.is_empty() {
        return Err("has no key (KEYTYPE BASE64)".into());
    }
    let (next, after) = field(rest)?;
    let (options, key_text) = if ssh_key::Algorithm::new(next).is_ok() {
        (None, rest)
    } else {
        (Some(next), after)
    };
    let mut signer = Signer {
        line: line_no,
        principals,
        key: KeyData::Ed25519(ssh_key::public::Ed25519PublicKey([0; 32])),
        namespaces: None,
        valid_after: None,
        valid_before: None,
    };
    if let Some(options) = options {
        for option in split_options(options) {
            let (name, value) = match option.split_once('=') {
                Some((n, v)) => (n, Some(unquote(v))),
                None => (option, None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("namespaces", Some(v)) => {
                    signer.namespaces = Some(v.split(',').map(|s| s.trim().to_string()).collect())
                }
                ("valid-after", Some(v)) => signer.valid_after = Some(utc_time(v)?),
                ("valid-before", Some(v)) => signer.valid_before = Some(utc_time(v)?),
                ("cert-authority", None) => {
                    return Err(
                        "cert-authority is not supported: list each signer's own key".into(),
                    )
                }
                _ => {
                    return Err(format!(
                    "unknown option {option:?} (known: namespaces=, valid-after=, valid-before=)"
                ))
                }
            }
        }
    }
    let mut parts = key_text.split_whitespace();
    let (Some(kind), Some(b64)) = (parts.next(), parts.next()) else {
        return Err("has no key (KEYTYPE BASE64)".into());
    };
    let key = PublicKey::from_openssh(&format!("{kind} {b64}"))
        .map_err(|e| format!("key {kind}: cannot read it: {e}"))?;
    let key = key.key_data().clone();
    match &key {
        KeyData::Ed25519(_)
        | KeyData::Ecdsa(_)
        | KeyData::SkEd25519(_)
        | KeyData::SkEcdsaSha2NistP256(_) => {}
        KeyData::Rsa(rsa) if rsa.key_size() >= MIN_RSA_BITS => {}
        KeyData::Rsa(rsa) => {
            return Err(format!(
                "RSA key of {} bits; at least {MIN_RSA_BITS} are required",
                rsa.key_size()
            ))
        }
        other => {
            return Err(format!(
                "key type {} is not accepted (ed25519, ecdsa, rsa and their sk- variants are)",
                other.algorithm().as_str()
            ))
        }
    }
    signer.key = key;
    Ok(signer)
}

/// The first field of `s` (quotes may hold spaces) and the rest, trimmed.
fn field(s: &str) -> Result<(&str, &str), String> {
    let s = s.trim_start();
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((&s[..i], s[i..].trim_start())),
            _ => {}
        }
    }
    if quoted {
        return Err("has an unclosed quote".into());
    }
    Ok((s, ""))
}

/// Options split at commas outside quotes.
fn split_options(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// `YYYYMMDD[HHMM[SS]]Z` as Unix seconds.
fn utc_time(v: &str) -> Result<u64, String> {
    let bad = || format!("time {v:?} is not YYYYMMDD[HHMM[SS]]Z (UTC; local times are refused)");
    let digits = v.strip_suffix('Z').ok_or_else(bad)?;
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).map_or(Ok(0), str::parse::<u16>);
    let (Ok(y), Ok(mo), Ok(d), Ok(h), Ok(mi), Ok(s)) = (
        num(0..4),
        num(4..6),
        num(6..8),
        num(8..10),
        num(10..12),
        num(12..14),
    ) else {
        return Err(bad());
    };
    let t =
        der::DateTime::new(y, mo as u8, d as u8, h as u8, mi as u8, s as u8).map_err(|_| bad())?;
    Ok(t.unix_duration().as_secs())
}

/// Matches `text` against an OpenSSH pattern (`*` any run, `?` one char).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
