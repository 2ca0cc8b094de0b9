//! Output bundles: the issued certificates handed back to the requester.
//!
//! `NAME.tar.age` is a tar of `SHA256SUMS` (exactly what `sha256sum` prints,
//! for `manifest.json` and every file), `manifest.json` and the files,
//! encrypted with age (binary) to the requester's X25519 recipients. Beside
//! it, `NAME.tar.age.sha256` holds the digest of the encrypted file in
//! `sha256sum` form. So the stock tools open it too:
//! `sha256sum -c NAME.tar.age.sha256 && age -d -i KEY NAME.tar.age | tar -x && sha256sum -c SHA256SUMS`.
//!
//! This module owns that layout. It never writes over an existing file or
//! directory, never leaves a partial bundle or a partly unpacked directory,
//! and never writes a member before every checksum has been verified.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::archive::{self, Member};
use super::unpack;
use super::{
    io_err, is_sha256_hex, refuse_existing, sha256_hex, write_new, Error, Result, MANIFEST,
    MAX_MANIFEST_BYTES, MAX_OUTPUT_BUNDLE_BYTES, MAX_OUTPUT_MEMBER_BYTES, MAX_PATH_LEN,
};
use crate::fsutil;

/// The checksum member of an output bundle.
const SUMS: &str = "SHA256SUMS";

/// The largest `.tar.age` accepted: the tar limit plus age's overhead (16
/// bytes per 64 KiB chunk) and up to 1 MiB of header.
const MAX_ENCRYPTED_BYTES: u64 =
    MAX_OUTPUT_BUNDLE_BYTES + (MAX_OUTPUT_BUNDLE_BYTES / 65536 + 1) * 16 + (1 << 20);

/// The largest `.sha256` file read.
const MAX_CHECKSUM_FILE_BYTES: u64 = 4096;

/// One file to put in an output bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Relative path inside the bundle, e.g. `certs/apiserver.crt` or `pki/etcd/server.crt`.
    pub path: String,
    /// The file's contents.
    pub bytes: Vec<u8>,
}

/// The files an output bundle was written to.
#[derive(Debug, Clone)]
pub struct Written {
    /// The encrypted bundle, `NAME.tar.age`.
    pub path: PathBuf,
    /// The checksum file beside it, `NAME.tar.age.sha256`.
    pub checksum_path: PathBuf,
    /// The SHA-256 (lowercase hex) of the encrypted bundle.
    pub sha256: String,
}

/// Parses an age X25519 recipient (`age1…`); the error names the value.
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient> {
    s.parse().map_err(|reason: &str| Error::Recipient {
        value: s.to_string(),
        reason: format!("not an age X25519 recipient ({reason})"),
    })
}

/// Writes `dir/NAME.tar.age` and `dir/NAME.tar.age.sha256`.
///
/// The tar holds `SHA256SUMS` (`"<hex>  <path>\n"` for `manifest.json` and
/// every file, sorted by path), then `manifest.json`, then the files in the
/// order given; paths follow the same rules as reading. It is encrypted
/// (binary, not armored) to every recipient, written under a temporary name
/// and renamed into place, then the checksum file is written the same way.
/// Either file existing is refused, and a failure leaves neither.
pub fn write(
    dir: &Path,
    name: &str,
    manifest_json: &[u8],
    files: &[OutputFile],
    recipients: &[age::x25519::Recipient],
) -> Result<Written> {
    let file_name = format!("{name}.tar.age");
    let path = dir.join(&file_name);
    let checksum_path = dir.join(format!("{file_name}.sha256"));
    let invalid = |rule: String| Error::Invalid {
        path: path.clone(),
        rule,
    };
    check_bundle_name(name).map_err(invalid)?;
    if recipients.is_empty() {
        return Err(invalid(
            "no recipients; an output bundle is encrypted to at least one".into(),
        ));
    }
    refuse_existing(&path)?;
    refuse_existing(&checksum_path)?;

    let member_err = |member: &str, rule: String| Error::Member {
        path: path.clone(),
        member: member.to_string(),
        rule,
    };
    if manifest_json.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(member_err(
            MANIFEST,
            format!(
                "size {} bytes is over the limit of {MAX_MANIFEST_BYTES} bytes",
                manifest_json.len()
            ),
        ));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(manifest_json)
        .map_err(|e| member_err(MANIFEST, format!("not valid JSON: {e}")))?;
    for file in files {
        if file.path == MANIFEST || file.path == SUMS {
            return Err(member_err(
                &file.path,
                "name is reserved for the bundle's own file".into(),
            ));
        }
        archive::check_name(&file.path).map_err(|rule| member_err(&file.path, rule))?;
        if file.bytes.len() as u64 > MAX_OUTPUT_MEMBER_BYTES {
            return Err(member_err(
                &file.path,
                format!(
                    "size {} bytes is over the limit of {MAX_OUTPUT_MEMBER_BYTES} bytes",
                    file.bytes.len()
                ),
            ));
        }
    }

    let mut listed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.path.as_str(), f.bytes.as_slice()))
        .chain(std::iter::once((MANIFEST, manifest_json)))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(b.0));
    let sums: String = listed
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes)))
        .collect();
    if sums.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(member_err(
            SUMS,
            format!(
                "size {} bytes is over the limit of {MAX_MANIFEST_BYTES} bytes",
                sums.len()
            ),
        ));
    }
    let mut members: Vec<(&str, &[u8])> = vec![(SUMS, sums.as_bytes()), (MANIFEST, manifest_json)];
    members.extend(files.iter().map(|f| (f.path.as_str(), f.bytes.as_slice())));
    let tar = archive::write(&path, &members)?;
    if tar.len() as u64 > MAX_OUTPUT_BUNDLE_BYTES {
        return Err(invalid(format!(
            "tar is {} bytes, over the limit of {MAX_OUTPUT_BUNDLE_BYTES} bytes",
            tar.len()
        )));
    }
    let encrypted =
        encrypt(&tar, recipients).map_err(|e| invalid(format!("cannot encrypt: {e}")))?;
    if encrypted.len() as u64 > MAX_ENCRYPTED_BYTES {
        return Err(invalid(format!(
            "encrypted bundle is {} bytes, over the limit of {MAX_ENCRYPTED_BYTES} bytes",
            encrypted.len()
        )));
    }
    let sha256 = sha256_hex(&encrypted);
    write_new(&path, &encrypted)?;
    if let Err(e) = write_new(
        &checksum_path,
        format!("{sha256}  {file_name}\n").as_bytes(),
    ) {
        // The bundle was renamed into place by us just now: take it back.
        let _ = fs::remove_file(&path);
        let _ = fsutil::sync_dir(&fsutil::parent_dir(&path));
        return Err(e);
    }
    Ok(Written {
        path,
        checksum_path,
        sha256,
    })
}

/// Opens an output bundle into the directory `out` and returns the relative
/// paths written, sorted.
///
/// In order: `out` must not exist or be an empty directory; `BUNDLE.sha256`,
/// if it exists, must match; the identity file (age format, comments
/// allowed) must hold at least one X25519 identity; the bundle must decrypt
/// with one of them; the tar must pass the strict rules; `SHA256SUMS` must
/// list every other member exactly once, and nothing else, with matching
/// digests. Only then is anything written: into a sibling temporary
/// directory (missing parents of `out` are created), renamed to `out` at
/// the end, so a failure leaves nothing. Files are 0644, directories 0755.
pub fn open(bundle: &Path, identity_file: &Path, out: &Path) -> Result<Vec<String>> {
    let out_exists = unpack::check_out(out)?;
    let encrypted = super::read_limited(bundle, MAX_ENCRYPTED_BYTES)?;
    check_checksum_file(bundle, &encrypted)?;
    let identities = read_identities(identity_file)?;
    let tar = decrypt(bundle, identity_file, &encrypted, &identities)?;
    drop(encrypted);
    let members = archive::read(bundle, &tar, |name| {
        if name == MANIFEST || name == SUMS {
            MAX_MANIFEST_BYTES
        } else {
            MAX_OUTPUT_MEMBER_BYTES
        }
    })?;
    check_sums(bundle, &tar, &members)?;
    if !members.iter().any(|m| m.name == MANIFEST) {
        return Err(Error::Manifest {
            path: bundle.to_path_buf(),
            rule: "missing from the bundle".into(),
        });
    }
    unpack::unpack(out, out_exists, &tar, &members)?;
    let mut names: Vec<String> = members.into_iter().map(|m| m.name).collect();
    names.sort();
    Ok(names)
}

/// Checks `NAME` of `NAME.tar.age`: letters, digits, `-`, `_`, `.`, not starting with `.`.
fn check_bundle_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() + ".tar.age.sha256".len() <= MAX_PATH_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name {name:?} must be a plain file name (letters, digits, '-', '_', '.'; not starting with '.')"
        ))
    }
}

/// Encrypts `plain` to `recipients` (binary age format).
fn encrypt(
    plain: &[u8],
    recipients: &[age::x25519::Recipient],
) -> std::result::Result<Vec<u8>, String> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(plain.len() + plain.len() / 4096 + 4096);
    let mut writer = encryptor.wrap_output(&mut out).map_err(|e| e.to_string())?;
    writer.write_all(plain).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// If `BUNDLE.sha256` exists, checks it is one `sha256sum` line naming the
/// bundle with the digest of `encrypted`.
fn check_checksum_file(bundle: &Path, encrypted: &[u8]) -> Result<()> {
    let mut name = bundle.as_os_str().to_owned();
    name.push(".sha256");
    let path = PathBuf::from(name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(&path, "open")(e)),
    };
    let mut text = Vec::new();
    file.take(MAX_CHECKSUM_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(io_err(&path, "read"))?;
    let fail = |rule: String| Error::ChecksumFile {
        path: path.clone(),
        rule,
    };
    if text.len() as u64 > MAX_CHECKSUM_FILE_BYTES {
        return Err(fail("too long for one sha256sum line".into()));
    }
    let text = std::str::from_utf8(&text).map_err(|_| fail("not UTF-8".into()))?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    let Some((digest, listed)) = split_sum_line(line) else {
        return Err(fail(
            "must be one line \"<64 hex digits>  NAME\", as sha256sum prints".into(),
        ));
    };
    let expected_name = bundle
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if listed != expected_name {
        return Err(fail(format!("names {listed:?}, not {expected_name:?}")));
    }
    let actual = sha256_hex(encrypted);
    if digest.to_ascii_lowercase() != actual {
        return Err(fail(format!(
            "SHA-256 mismatch for {expected_name}: expected {digest}, actual {actual}"
        )));
    }
    Ok(())
}

/// Splits a `sha256sum` line into digest and name (text or binary mode marker).
fn split_sum_line(line: &str) -> Option<(&str, &str)> {
    let digest = line.get(..64)?;
    let name = line
        .get(64..)?
        .strip_prefix("  ")
        .or_else(|| line.get(64..)?.strip_prefix(" *"))?;
    (is_sha256_hex(digest) && !name.is_empty() && !name.contains('\n')).then_some((digest, name))
}

/// Reads every identity from an age identity file.
fn read_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let fail = |reason: String| Error::Identity {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    // age's messages start "identity file …" and never quote the contents.
    let describe = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        text.strip_prefix("identity file ")
            .map(str::to_string)
            .unwrap_or(text)
    };
    let parsed =
        age::IdentityFile::from_buffer(BufReader::new(file)).map_err(|e| fail(describe(&e)))?;
    let identities = parsed.into_identities().map_err(|e| fail(describe(&e)))?;
    if identities.is_empty() {
        return Err(fail("holds no identity".into()));
    }
    Ok(identities)
}

/// Decrypts the bundle, refusing a plaintext over [`MAX_OUTPUT_BUNDLE_BYTES`].
fn decrypt(
    bundle: &Path,
    identity_file: &Path,
    encrypted: &[u8],
    identities: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Decrypt {
        path: bundle.to_path_buf(),
        reason,
    };
    if encrypted.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        return Err(Error::Invalid {
            path: bundle.to_path_buf(),
            rule: "is an armored (PEM) age file; output bundles are binary .tar.age files".into(),
        });
    }
    let decryptor = age::Decryptor::new_buffered(encrypted).map_err(|e| fail(describe(e)))?;
    if decryptor.is_scrypt() {
        return Err(fail(
            "encrypted to a passphrase, not to age recipients".into(),
        ));
    }
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::NoMatchingIdentity {
                path: bundle.to_path_buf(),
                identity: identity_file.to_path_buf(),
            },
            other => fail(describe(other)),
        })?;
    let mut plain = Vec::new();
    reader
        .take(MAX_OUTPUT_BUNDLE_BYTES + 1)
        .read_to_end(&mut plain)
        .map_err(|e| fail(format!("the ciphertext is truncated or modified ({e})")))?;
    if plain.len() as u64 > MAX_OUTPUT_BUNDLE_BYTES {
        return Err(Error::Archive {
            path: bundle.to_path_buf(),
            rule: format!("decrypted tar is over the limit of {MAX_OUTPUT_BUNDLE_BYTES} bytes"),
        });
    }
    Ok(plain)
}

/// Says what an age decryption error means for a bundle.
fn describe(e: age::DecryptError) -> String {
    match e {
        age::DecryptError::InvalidHeader => "not an age file, or its header is damaged".into(),
        age::DecryptError::UnknownFormat => "not an age v1 file".into(),
        age::DecryptError::InvalidMac => "the age header was modified (MAC mismatch)".into(),
        age::DecryptError::DecryptionFailed => "the ciphertext is truncated or modified".into(),
        age::DecryptError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is truncated inside the age header".into()
        }
        other => other.to_string(),
    }
}

/// Checks `SHA256SUMS` against every other member.
fn check_sums(bundle: &Path, tar: &[u8], members: &[Member]) -> Result<()> {
    let fail = |rule: String| Error::Checksums {
        path: bundle.to_path_buf(),
        rule,
    };
    let by_name: HashMap<&str, &Range<usize>> = members
        .iter()
        .map(|m| (m.name.as_str(), &m.range))
        .collect();
    let range = by_name
        .get(SUMS)
        .ok_or_else(|| fail("missing from the bundle".into()))?;
    let text = std::str::from_utf8(&tar[(*range).clone()]).map_err(|_| fail("not UTF-8".into()))?;
    let Some(body) = text.strip_suffix('\n') else {
        return Err(fail(
            "empty, or the last line does not end in a newline".into(),
        ));
    };
    let mut listed: HashMap<&str, usize> = HashMap::new();
    for (i, line) in body.split('\n').enumerate() {
        let n = i + 1;
        let Some((digest, name)) = split_sum_line(line) else {
            return Err(fail(format!("line {n} is not \"<64 hex digits>  NAME\"")));
        };
        if name == SUMS {
            return Err(fail(format!("line {n} lists SHA256SUMS itself")));
        }
        let Some(range) = by_name.get(name) else {
            return Err(fail(format!(
                "line {n} lists {name:?}, which is not in the bundle"
            )));
        };
        if let Some(first) = listed.insert(name, n) {
            return Err(fail(format!(
                "line {n} lists {name:?} again (first on line {first})"
            )));
        }
        let actual = sha256_hex(&tar[(*range).clone()]);
        if digest.to_ascii_lowercase() != actual {
            return Err(fail(format!(
                "SHA-256 mismatch for {name:?} (line {n}): expected {digest}, actual {actual}"
            )));
        }
    }
    if let Some(missing) = members
        .iter()
        .find(|m| m.name != SUMS && !listed.contains_key(m.name.as_str()))
    {
        return Err(fail(format!("does not list member {:?}", missing.name)));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
