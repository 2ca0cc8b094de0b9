//! Output bundles: the issued certificates handed back to the requester.
//!
//! `NAME.tar.age` is a tar of the files, then `manifest.json`, then
//! `SHA256SUMS` (exactly what `sha256sum` prints, for every other member in
//! the order they were added), encrypted with age (binary) to the
//! requester's X25519 recipients. Beside it, `NAME.tar.age.sha256` holds the
//! digest of the encrypted file in `sha256sum` form. So the stock tools open
//! it too:
//! `sha256sum -c NAME.tar.age.sha256 && age -d -i KEY NAME.tar.age | tar -x && sha256sum -c SHA256SUMS`.
//! Bundles written before the writer streamed hold `SHA256SUMS` and
//! `manifest.json` first, with the lines sorted; reading takes members and
//! lines in any order.
//!
//! This module owns that layout. It writes a bundle as a stream, through
//! tar and age into a temporary file, holding only the member names and
//! digests in memory; [`Opened`] (in `output/open.rs`) reads one back, and
//! [`open`] (in `output/trust.rs`) checks it against the requester's pinned
//! CAs and the ceremony's audit key before anything is written. It never
//! writes over an existing file or directory, never leaves a partial bundle
//! or a partly unpacked directory, and never writes a member before every
//! checksum, certificate and path has been checked.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::archive;
use super::stream::{Again, TarStream};
use super::{
    io_err, refuse_existing, sha256_hex, write_new, Digesting, Error, Result, MANIFEST,
    MAX_MANIFEST_BYTES, MAX_MEMBERS, MAX_OUTPUT_BUNDLE_BYTES, MAX_OUTPUT_MEMBER_BYTES,
    MAX_PATH_LEN,
};
use crate::fsutil;

/// The checksum member of an output bundle.
const SUMS: &str = "SHA256SUMS";

/// The ceremony's signature over `SHA256SUMS`, made with the audit key in
/// the token: the DER signature (ECDSA `SEQUENCE { r, s }`, or PKCS#1 v1.5
/// for an RSA key) of the exact bytes of `SHA256SUMS`, the last member and
/// the only one `SHA256SUMS` does not list. `openssl dgst -sha256 -verify
/// audit-key.pub -signature SHA256SUMS.sig SHA256SUMS` checks it (`-sha384`
/// for a P-384 key).
pub const SIGNATURE: &str = "SHA256SUMS.sig";

/// Signs an output bundle's `SHA256SUMS`: given its bytes, returns the
/// signature stored as [`SIGNATURE`].
pub type SumsSigner<'a> = Box<
    dyn FnOnce(&[u8]) -> std::result::Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>
        + 'a,
>;

/// The largest `.tar.age` accepted: the tar limit plus age's overhead (16
/// bytes per 64 KiB chunk) and up to 1 MiB of header.
const MAX_ENCRYPTED_BYTES: u64 =
    MAX_OUTPUT_BUNDLE_BYTES + (MAX_OUTPUT_BUNDLE_BYTES / 65536 + 1) * 16 + (1 << 20);

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

/// Streams an output bundle: members go through tar and age into a
/// temporary file beside the bundle as they are added.
///
/// Member paths follow the same rules as reading. A member refused by
/// [`OutputWriter::add`] is not written and the writer stays usable; after
/// a failed write to the file it refuses everything. Dropping it before
/// [`OutputWriter::finish`] removes the temporary file.
pub struct OutputWriter {
    /// `dir/NAME.tar.age`, named in errors.
    path: PathBuf,
    /// The tar, encrypted on its way into the temporary file.
    tar: TarStream<age::stream::StreamWriter<Digesting<BufWriter<File>>>>,
    /// The temporary file. Declared after `tar`, so the file is closed
    /// before it is removed.
    tmp: fsutil::TempName,
    /// Every member name so far (and the two reserved ones), to refuse
    /// duplicates and clashes.
    names: archive::Names,
    /// The `SHA256SUMS` lines of the members so far, in order.
    sums: String,
    /// The members added so far.
    members: usize,
}

impl std::fmt::Debug for OutputWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputWriter")
            .field("path", &self.path)
            .field("members", &self.members)
            .field("tar_len", &self.tar.len())
            .finish_non_exhaustive()
    }
}

impl OutputWriter {
    /// Checks the name, the recipients and that neither `dir/NAME.tar.age`
    /// nor `dir/NAME.tar.age.sha256` exists, then creates the temporary file
    /// (0644) beside them and writes the age header.
    pub fn create(
        dir: &Path,
        name: &str,
        recipients: &[age::x25519::Recipient],
    ) -> Result<OutputWriter> {
        let path = dir.join(format!("{name}.tar.age"));
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
        refuse_existing(&checksum_path(&path))?;
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| invalid(format!("cannot encrypt: {e}")))?;

        // Not ours when the name is taken (a leftover of this process id,
        // or a squatter): it is left alone. Dropping `tmp` removes ours.
        let (file, tmp) = fsutil::create_beside(&path, 0o644).map_err(io_err(&path, "write"))?;
        let age = encryptor
            .wrap_output(Digesting::new(BufWriter::new(file), u64::MAX))
            .map_err(io_err(&path, "write"))?;
        let mut names = archive::Names::default();
        for reserved in [MANIFEST, SUMS, SIGNATURE] {
            names
                .add_file(reserved)
                .expect("two distinct plain names cannot clash");
        }
        Ok(OutputWriter {
            path,
            tar: TarStream::new(age),
            tmp,
            names,
            sums: String::new(),
            members: 0,
        })
    }

    /// Appends one member and records its SHA-256 for `SHA256SUMS`.
    ///
    /// Refuses the reserved names, names that break the path rules,
    /// duplicates and names that clash when case is ignored, members over
    /// [`MAX_OUTPUT_MEMBER_BYTES`], and a member that would take the tar
    /// over [`MAX_OUTPUT_BUNDLE_BYTES`] or [`MAX_MEMBERS`]; a refused member
    /// is not written.
    pub fn add(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.check_usable()?;
        let member_err = |rule: String| Error::Member {
            path: self.path.clone(),
            member: path.to_string(),
            rule,
        };
        if path == MANIFEST || path == SUMS || path == SIGNATURE {
            return Err(member_err(
                "name is reserved for the bundle's own file".into(),
            ));
        }
        archive::check_name(path).map_err(member_err)?;
        let size = bytes.len() as u64;
        if size > MAX_OUTPUT_MEMBER_BYTES {
            return Err(member_err(format!(
                "size {size} bytes is over the limit of {MAX_OUTPUT_MEMBER_BYTES} bytes"
            )));
        }
        // This member, manifest.json, SHA256SUMS and its signature.
        if self.members + 4 > MAX_MEMBERS {
            return Err(Error::Archive {
                path: self.path.clone(),
                rule: format!("more than {MAX_MEMBERS} members"),
            });
        }
        let at_least = self.tar.len_with(&[size]);
        if at_least > MAX_OUTPUT_BUNDLE_BYTES {
            return Err(Error::Invalid {
                path: self.path.clone(),
                rule: format!(
                    "tar would be at least {at_least} bytes with member {path:?}, over the limit of {MAX_OUTPUT_BUNDLE_BYTES} bytes"
                ),
            });
        }
        let header = archive::header(path, size).map_err(member_err)?;
        // The last check, as it records the name.
        self.names.add_file(path).map_err(member_err)?;

        self.tar
            .append(&header, bytes)
            .map_err(io_err(&self.path, "write"))?;
        self.members += 1;
        self.sums
            .push_str(&format!("{}  {path}\n", sha256_hex(bytes)));
        Ok(())
    }

    /// Writes `manifest.json` then `SHA256SUMS` as the last two members,
    /// finishes age and fsyncs the temporary file. Nothing is visible under
    /// the bundle's name until [`Finished::place`].
    ///
    /// `manifest` is called twice: first to learn the size for the tar
    /// header (and to check that it is JSON), then to write it into the tar.
    /// It must write the same bytes both times; the two are compared by size
    /// and SHA-256. `SHA256SUMS` lists every member, `manifest.json` last, in
    /// the order they were added.
    pub fn finish(self, manifest: impl Fn(&mut dyn Write) -> io::Result<()>) -> Result<Finished> {
        self.finish_with(manifest, None)
    }

    /// [`OutputWriter::finish`], then `sign` called once with the bytes of
    /// `SHA256SUMS`, and its signature appended as [`SIGNATURE`], the last
    /// member. A signer's failure is [`Error::Sign`], and nothing is placed.
    pub fn finish_signed(
        self,
        manifest: impl Fn(&mut dyn Write) -> io::Result<()>,
        sign: SumsSigner<'_>,
    ) -> Result<Finished> {
        self.finish_with(manifest, Some(sign))
    }

    fn finish_with(
        self,
        manifest: impl Fn(&mut dyn Write) -> io::Result<()>,
        sign: Option<SumsSigner<'_>>,
    ) -> Result<Finished> {
        self.check_usable()?;
        let (manifest_len, manifest_sha256) = self.measure_manifest(&manifest)?;
        let OutputWriter {
            path,
            mut tar,
            tmp,
            mut sums,
            ..
        } = self;
        let member_err = |member: &str, rule: String| Error::Member {
            path: path.clone(),
            member: member.to_string(),
            rule,
        };
        let manifest_hex = crate::hex::encode(&manifest_sha256);
        sums.push_str(&format!("{manifest_hex}  {MANIFEST}\n"));
        let sums_len = sums.len() as u64;
        if sums_len > MAX_MANIFEST_BYTES {
            return Err(member_err(
                SUMS,
                format!("size {sums_len} bytes is over the limit of {MAX_MANIFEST_BYTES} bytes"),
            ));
        }
        let signature = match sign {
            Some(sign) => Some(sign(sums.as_bytes()).map_err(|source| Error::Sign {
                path: path.clone(),
                source,
            })?),
            None => None,
        };
        let sig_len = signature.as_ref().map_or(0, |s| s.len() as u64);
        if sig_len > MAX_OUTPUT_MEMBER_BYTES {
            return Err(member_err(
                SIGNATURE,
                format!(
                    "size {sig_len} bytes is over the limit of {MAX_OUTPUT_MEMBER_BYTES} bytes"
                ),
            ));
        }
        let tar_len = if signature.is_some() {
            tar.len_with(&[manifest_len, sums_len, sig_len])
        } else {
            tar.len_with(&[manifest_len, sums_len])
        };
        if tar_len > MAX_OUTPUT_BUNDLE_BYTES {
            return Err(Error::Invalid {
                path: path.clone(),
                rule: format!(
                    "tar is {tar_len} bytes, over the limit of {MAX_OUTPUT_BUNDLE_BYTES} bytes"
                ),
            });
        }
        let manifest_header =
            archive::header(MANIFEST, manifest_len).map_err(|rule| member_err(MANIFEST, rule))?;
        let sums_header = archive::header(SUMS, sums_len).map_err(|rule| member_err(SUMS, rule))?;
        let sig_header =
            archive::header(SIGNATURE, sig_len).map_err(|rule| member_err(SIGNATURE, rule))?;

        tar.append_again(&manifest_header, manifest_len, manifest_sha256, manifest)
            .map_err(|e| match e {
                Again::Io(e) => io_err(&path, "write")(e),
                Again::Differs { over, len, sha256 } => {
                    let then = if over {
                        format!("more than {manifest_len} bytes")
                    } else {
                        format!("{len} bytes, SHA-256 {}", crate::hex::encode(&sha256))
                    };
                    member_err(
                        MANIFEST,
                        format!(
                            "the writer gave different bytes on its two calls (first {manifest_len} bytes, SHA-256 {manifest_hex}; then {then}); it must write the same bytes each time"
                        ),
                    )
                }
            })?;
        let rest = move || {
            tar.append(&sums_header, sums.as_bytes())?;
            if let Some(signature) = &signature {
                tar.append(&sig_header, signature)?;
            }
            tar.end()?.finish()
        };
        let Digesting {
            inner, sha256, len, ..
        } = rest().map_err(io_err(&path, "write"))?;
        let file = inner
            .into_inner()
            .map_err(|e| io_err(&path, "write")(e.into_error()))?;
        file.sync_all().map_err(io_err(&path, "sync"))?;
        if len > MAX_ENCRYPTED_BYTES {
            return Err(Error::Invalid {
                path,
                rule: format!(
                    "encrypted bundle is {len} bytes, over the limit of {MAX_ENCRYPTED_BYTES} bytes"
                ),
            });
        }
        Ok(Finished {
            path,
            tmp,
            sha256: crate::hex::encode(&sha256.finalize()),
        })
    }

    /// Refuses to go on after a failed write, which left the tar incomplete.
    fn check_usable(&self) -> Result<()> {
        if self.tar.is_broken() {
            return Err(Error::Invalid {
                path: self.path.clone(),
                rule: "an earlier write to the bundle failed; it cannot be completed".into(),
            });
        }
        Ok(())
    }

    /// Calls the manifest writer for the first time: returns the size and
    /// SHA-256 of what it writes, and checks that it is JSON, as it streams
    /// by, in a second thread reading a pipe.
    fn measure_manifest(
        &self,
        manifest: &impl Fn(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(u64, [u8; 32])> {
        let member_err = |rule: String| Error::Member {
            path: self.path.clone(),
            member: MANIFEST.to_string(),
            rule,
        };
        let (reader, writer) = io::pipe().map_err(io_err(&self.path, "check manifest.json"))?;
        let (wrote, parsed, len, sha256) = std::thread::scope(|scope| {
            let parser = scope.spawn(move || {
                serde_json::from_reader::<_, serde::de::IgnoredAny>(BufReader::new(reader))
                    .map(|_| ())
            });
            let mut first = Digesting::new(BufWriter::new(writer), u64::MAX);
            let wrote = manifest(&mut first).and_then(|()| first.flush());
            let (len, sha256) = (first.len, first.digest());
            // Closing the pipe ends the parser's input.
            drop(first);
            let parsed = parser
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (wrote, parsed, len, sha256)
        });
        // A broken pipe only means the parser stopped at an error, reported below.
        if let Err(e) = &wrote {
            if e.kind() != io::ErrorKind::BrokenPipe {
                return Err(member_err(format!("cannot be written: {e}")));
            }
        }
        if len > MAX_MANIFEST_BYTES {
            return Err(member_err(format!(
                "size {len} bytes is over the limit of {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        parsed.map_err(|e| member_err(format!("not valid JSON: {e}")))?;
        wrote.map_err(|e| member_err(format!("cannot be written: {e}")))?;
        Ok((len, sha256))
    }
}

/// A complete bundle under its temporary name. Dropping it removes the
/// temporary file.
#[derive(Debug)]
pub struct Finished {
    /// `dir/NAME.tar.age`, where [`Finished::place`] puts it.
    path: PathBuf,
    /// The complete bundle.
    tmp: fsutil::TempName,
    /// The SHA-256 (lowercase hex) of the encrypted file.
    sha256: String,
}

impl Finished {
    /// The SHA-256 (lowercase hex) of the encrypted bundle.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Renames the bundle into place, never over an existing file, then
    /// writes `NAME.tar.age.sha256` beside it the same way; if that fails,
    /// the bundle is removed again.
    pub fn place(self) -> Result<Written> {
        self.tmp.place_new(&self.path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                Error::Exists {
                    path: self.path.clone(),
                }
            } else {
                io_err(&self.path, "move into place")(e)
            }
        })?;
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let checksum_path = checksum_path(&self.path);
        // write_new fsyncs the directory once its file is in place, which
        // makes the bundle's new name durable too.
        if let Err(e) = write_new(
            &checksum_path,
            format!("{}  {file_name}\n", self.sha256).as_bytes(),
        ) {
            // The bundle was renamed into place by us just now: take it back.
            let _ = fs::remove_file(&self.path);
            let _ = fsutil::sync_dir(&fsutil::parent_dir(&self.path));
            return Err(e);
        }
        Ok(Written {
            path: self.path,
            checksum_path,
            sha256: self.sha256,
        })
    }
}

/// Writes `dir/NAME.tar.age` and `dir/NAME.tar.age.sha256` in one go: an
/// [`OutputWriter`] given `files` in order, then `manifest_json`, which must
/// be JSON. Either file existing is refused, and a failure leaves neither.
pub fn write(
    dir: &Path,
    name: &str,
    manifest_json: &[u8],
    files: &[OutputFile],
    recipients: &[age::x25519::Recipient],
) -> Result<Written> {
    let mut writer = OutputWriter::create(dir, name, recipients)?;
    for file in files {
        writer.add(&file.path, &file.bytes)?;
    }
    writer.finish(|out| out.write_all(manifest_json))?.place()
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

/// `BUNDLE.sha256`, the checksum file beside a bundle.
fn checksum_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

pub mod layouts;
pub mod manifest;
mod open;
mod trust;

pub use manifest::{CaEntry, IssuedEntry};
pub use open::{check_out, ChecksumFile, Opened};
pub use trust::{check, open, AuditKey, Pinned, Pins, SignatureCheck, Trusted};

#[cfg(test)]
mod tests;
