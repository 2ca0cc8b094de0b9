//! Opening an output bundle (the requester's side): the checksum file, the
//! age decryption, the strict tar and `SHA256SUMS`, then the unpacking.
//!
//! This module owns the order of those checks. It reads the bundle only
//! through private copies, and never writes a member before every checksum
//! has been verified; what a certificate means is checked by the caller
//! (`output/trust.rs`) between [`Opened::read`] and [`Opened::unpack`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::super::archive::{self, FileSource, Member, Source};
use super::super::unpack;
use super::super::{
    io_err, is_sha256_hex, sha256_hex, Error, Result, MANIFEST, MAX_MANIFEST_BYTES,
    MAX_OUTPUT_BUNDLE_BYTES, MAX_OUTPUT_MEMBER_BYTES,
};
use super::{checksum_path, MAX_ENCRYPTED_BYTES, SIGNATURE, SUMS};
use crate::fsutil;

/// The largest `.sha256` file read.
const MAX_CHECKSUM_FILE_BYTES: u64 = 4096;

/// Opens an output bundle into the directory `out` and returns the relative
/// paths written, sorted, checking only its structure: no certificate is
/// checked against pinned CAs (that is [`super::open`]). For tests.
///
/// In order: `out` must not exist or be an empty directory; then
/// [`Opened::read_with_tmp`]; only then is anything written, by
/// [`Opened::unpack`].
#[cfg(test)]
pub(super) fn open_with_tmp(
    bundle: &Path,
    identity_file: &Path,
    out: &Path,
    tmp_dir: &Path,
) -> Result<Vec<String>> {
    let out_exists = unpack::check_out(out)?;
    Opened::read_with_tmp(bundle, identity_file, tmp_dir)?.unpack(out, out_exists)
}

/// What was found of the `BUNDLE.sha256` file beside a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumFile {
    /// It names the bundle with its SHA-256.
    Verified(PathBuf),
    /// There is none: the bundle's digest was not checked against it.
    Missing(PathBuf),
}

/// An output bundle decrypted and checked as a bundle: the `.sha256` file
/// beside it when there is one, the age decryption, the strict tar rules and
/// `SHA256SUMS` (every other member listed exactly once, nothing else, with
/// matching digests; `manifest.json` present). Nothing is written yet; the
/// members stay in a private file until [`Opened::unpack`].
///
/// Members and `SHA256SUMS` lines may come in any order: this writer puts
/// `manifest.json` and `SHA256SUMS` last, earlier ones put them first with
/// the lines sorted.
#[derive(Debug)]
pub struct Opened {
    /// The bundle, named in errors.
    bundle: PathBuf,
    /// The decrypted tar, a private file.
    tar: FileSource,
    /// Its members, in archive order.
    members: Vec<Member>,
    /// Member name to index in `members`.
    index: HashMap<String, usize>,
    /// The `.sha256` file beside the bundle.
    checksum_file: ChecksumFile,
}

impl Opened {
    /// Reads and checks `bundle` with the identities in `identity_file`.
    pub fn read(bundle: &Path, identity_file: &Path) -> Result<Opened> {
        Opened::read_with_tmp(bundle, identity_file, &std::env::temp_dir())
    }

    /// [`Opened::read`], with the private copies made in `tmp_dir`.
    ///
    /// The bundle is copied into a private file while it is hashed, and only
    /// that copy is decrypted, into a second private file: memory stays small
    /// whatever the bundle's size, and a bundle changed on disk after its
    /// checksum was checked is never read.
    pub(super) fn read_with_tmp(
        bundle: &Path,
        identity_file: &Path,
        tmp_dir: &Path,
    ) -> Result<Opened> {
        let opened = Opened::read_unverified(bundle, identity_file, tmp_dir)?;
        opened.check_sums()?;
        Ok(opened)
    }

    /// [`Opened::read_with_tmp`] but for `SHA256SUMS`, which the caller
    /// checks with [`Opened::check_sums`] before anything is written (so
    /// other checks can run meanwhile).
    pub(super) fn read_unverified(
        bundle: &Path,
        identity_file: &Path,
        tmp_dir: &Path,
    ) -> Result<Opened> {
        let identities = read_identities(identity_file)?;
        let (encrypted, sha256) = super::super::copy_private(bundle, MAX_ENCRYPTED_BYTES, tmp_dir)?;
        let checksum_file = check_checksum_file(bundle, &sha256)?;
        let tar = decrypt(bundle, identity_file, &encrypted, &identities, tmp_dir)?;
        drop(encrypted);
        let members = archive::read(bundle, &tar, |name| {
            if name == MANIFEST || name == SUMS {
                MAX_MANIFEST_BYTES
            } else {
                MAX_OUTPUT_MEMBER_BYTES
            }
        })?;
        if !members.iter().any(|m| m.name == MANIFEST) {
            return Err(Error::Manifest {
                path: bundle.to_path_buf(),
                rule: "missing from the bundle".into(),
            });
        }
        let index = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        Ok(Opened {
            bundle: bundle.to_path_buf(),
            tar,
            members,
            index,
            checksum_file,
        })
    }

    /// Checks `SHA256SUMS` against every other member.
    pub(super) fn check_sums(&self) -> Result<()> {
        check_sums(&self.bundle, &self.tar, &self.members)
    }

    /// The bundle file.
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// What was found of the `.sha256` file beside the bundle.
    pub fn checksum_file(&self) -> &ChecksumFile {
        &self.checksum_file
    }

    /// Every member name, in archive order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.name.as_str())
    }

    /// Whether the bundle holds a member of this name.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The bytes of member `name`, or `None` when there is no such member.
    pub fn member(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self.index.get(name) {
            Some(&i) => self
                .tar
                .read_range(&self.members[i].range)
                .map(Some)
                .map_err(io_err(&self.bundle, "read")),
            None => Ok(None),
        }
    }

    /// Writes every member into `out` (see `bundle/unpack.rs`): into a
    /// sibling temporary directory (missing parents of `out` are created),
    /// renamed to `out` at the end, so a failure leaves nothing. Files are
    /// 0644, directories 0755. `out_exists` is what [`check_out`] said.
    /// Returns the relative paths written, sorted.
    pub fn unpack(self, out: &Path, out_exists: bool) -> Result<Vec<String>> {
        self.unpack_gated(out, out_exists, || Ok(()))
    }

    /// [`Opened::unpack`], with `gate` called once every file is staged
    /// and synced in the hidden temporary directory, before it takes
    /// `out`'s name; when `gate` fails, the temporary directory is removed
    /// and nothing is left. So checks that take a while can run while the
    /// files are staged, and still decide whether anything is written.
    pub fn unpack_gated(
        &self,
        out: &Path,
        out_exists: bool,
        gate: impl FnOnce() -> Result<()>,
    ) -> Result<Vec<String>> {
        unpack::unpack_gated(out, out_exists, &self.tar, &self.members, gate)?;
        let mut names: Vec<String> = self.names().map(str::to_string).collect();
        names.sort();
        Ok(names)
    }
}

/// Returns whether `out` exists (as an empty directory); refuses anything
/// else there. Called before a bundle is read, so a bad `--out` fails first.
pub fn check_out(out: &Path) -> Result<bool> {
    unpack::check_out(out)
}

/// If `BUNDLE.sha256` exists, checks it is one `sha256sum` line naming the
/// bundle with its digest, `actual` (lowercase hex); says whether it exists.
fn check_checksum_file(bundle: &Path, actual: &str) -> Result<ChecksumFile> {
    let path = checksum_path(bundle);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ChecksumFile::Missing(path))
        }
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
    if digest.to_ascii_lowercase() != actual {
        return Err(fail(format!(
            "SHA-256 mismatch for {expected_name}: expected {digest}, actual {actual}"
        )));
    }
    Ok(ChecksumFile::Verified(path))
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

/// Reads every identity from an age identity file (only its owner may read
/// or write it).
pub(super) fn read_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    crate::agekey::read_identities(path).map_err(|reason| Error::Identity {
        path: path.to_path_buf(),
        reason,
    })
}

/// How much plaintext is written at a time while a bundle is decrypted.
const DECRYPT_CHUNK: usize = 1 << 20;

/// Decrypts the bundle's private copy into a private file in `tmp_dir`,
/// refusing a plaintext over [`MAX_OUTPUT_BUNDLE_BYTES`].
pub(super) fn decrypt(
    bundle: &Path,
    identity_file: &Path,
    encrypted: &FileSource,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    tmp_dir: &Path,
) -> Result<FileSource> {
    let fail = |reason: String| Error::Decrypt {
        path: bundle.to_path_buf(),
        reason,
    };
    const ARMOR: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
    let mut start = [0u8; ARMOR.len()];
    let armored = encrypted.size() >= ARMOR.len() as u64
        && encrypted.read_exact_at(&mut start, 0).is_ok()
        && start == ARMOR;
    if armored {
        return Err(Error::Invalid {
            path: bundle.to_path_buf(),
            rule: "is an armored (PEM) age file; output bundles are binary .tar.age files".into(),
        });
    }
    let decryptor =
        age::Decryptor::new_buffered(BufReader::with_capacity(DECRYPT_CHUNK, encrypted.reader()))
            .map_err(|e| fail(describe(e)))?;
    if decryptor.is_scrypt() {
        return Err(fail(
            "encrypted to a passphrase, not to age recipients".into(),
        ));
    }
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => Error::NoMatchingIdentity {
                path: bundle.to_path_buf(),
                identity: identity_file.to_path_buf(),
            },
            other => fail(describe(other)),
        })?;
    let tmp_err = |action| io_err(tmp_dir, action);
    let mut plain =
        fsutil::private_file(tmp_dir).map_err(tmp_err("create a private temporary file"))?;
    let mut chunk = vec![0u8; DECRYPT_CHUNK];
    let mut written = 0u64;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(fail(format!(
                    "the ciphertext is truncated or modified ({e})"
                )))
            }
        };
        written += n as u64;
        if written > MAX_OUTPUT_BUNDLE_BYTES {
            return Err(Error::Archive {
                path: bundle.to_path_buf(),
                rule: format!("decrypted tar is over the limit of {MAX_OUTPUT_BUNDLE_BYTES} bytes"),
            });
        }
        plain
            .write_all(&chunk[..n])
            .map_err(tmp_err("write the decrypted tar"))?;
    }
    FileSource::new(plain).map_err(tmp_err("read the decrypted tar"))
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
fn check_sums(bundle: &Path, tar: &FileSource, members: &[Member]) -> Result<()> {
    let fail = |rule: String| Error::Checksums {
        path: bundle.to_path_buf(),
        rule,
    };
    let by_name: HashMap<&str, &Range<u64>> = members
        .iter()
        .map(|m| (m.name.as_str(), &m.range))
        .collect();
    let range = by_name
        .get(SUMS)
        .ok_or_else(|| fail("missing from the bundle".into()))?;
    let read = |range: &Range<u64>| tar.read_range(range).map_err(io_err(bundle, "read"));
    let sums = read(range)?;
    let text = std::str::from_utf8(&sums).map_err(|_| fail("not UTF-8".into()))?;
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
        if name == SUMS || name == SIGNATURE {
            return Err(fail(format!("line {n} lists {name} itself")));
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
        let actual = sha256_hex(&read(range)?);
        if digest.to_ascii_lowercase() != actual {
            return Err(fail(format!(
                "SHA-256 mismatch for {name:?} (line {n}): expected {digest}, actual {actual}"
            )));
        }
    }
    if let Some(missing) = members
        .iter()
        .find(|m| m.name != SUMS && m.name != SIGNATURE && !listed.contains_key(m.name.as_str()))
    {
        return Err(fail(format!("does not list member {:?}", missing.name)));
    }
    Ok(())
}
