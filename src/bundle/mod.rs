//! Request bundles (in) and output bundles (out).
//!
//! A request bundle is a plain tar sealed by the requester: one DER CSR per
//! request under `csr/`, then `manifest.json`. It is pinned by the SHA-256
//! of the whole file, which travels out of band into the approved ceremony
//! script ([`request`]).
//!
//! An output bundle is a tar holding `SHA256SUMS`, `manifest.json` and the
//! issued certificates, encrypted with age to the requester's recipients and
//! written beside a `sha256sum`-style checksum file ([`output`]). The stock
//! `age` CLI, `tar` and `sha256sum -c` open it as well as we do.
//!
//! This module owns the bundle formats, their size limits and the strict tar
//! rules shared by both kinds. It never follows a link, never trusts a member
//! name it has not checked, never parses a request bundle before its digest
//! matches, never overwrites a file, and never leaves a partial output behind.
//! Opening an output bundle checks its certificates against the CAs the
//! requester pinned (`output/trust.rs`); otherwise it knows nothing about
//! what a CSR or a certificate means.

pub mod output;
pub mod request;

mod archive;
mod stream;
mod unpack;

use std::io::{self, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// The largest request bundle file accepted: 1 GiB.
pub const MAX_REQUEST_BUNDLE_BYTES: u64 = 1 << 30;
/// The most entries (files and directories) a bundle's tar may hold.
pub const MAX_MEMBERS: usize = 250_000;
/// The largest CSR member of a request bundle: 64 KiB.
pub const MAX_CSR_BYTES: u64 = crate::x509::MAX_CSR_BYTES as u64;
/// The largest `manifest.json` (and output `SHA256SUMS`): 128 MiB.
pub const MAX_MANIFEST_BYTES: u64 = 128 << 20;
/// The largest decrypted output bundle (the tar inside the age file): 1 GiB.
pub const MAX_OUTPUT_BUNDLE_BYTES: u64 = 1 << 30;
/// The largest member of an output bundle other than `manifest.json` and `SHA256SUMS`: 1 MiB.
pub const MAX_OUTPUT_MEMBER_BYTES: u64 = 1 << 20;
/// The longest member name, in bytes.
pub const MAX_PATH_LEN: usize = 255;

/// The manifest member of both bundle kinds.
const MANIFEST: &str = "manifest.json";

/// Errors from sealing, opening or writing a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An output path already exists; nothing is ever overwritten.
    #[error("{}: already exists, refusing to overwrite it", path.display())]
    Exists {
        /// The existing path.
        path: PathBuf,
    },
    /// The directory to open an output bundle into is not empty.
    #[error("output directory {}: not empty", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// The bundle file is larger than its limit.
    #[error("bundle {}: {size} bytes is over the limit of {limit} bytes", path.display())]
    TooLarge {
        /// The bundle.
        path: PathBuf,
        /// Its size (or a lower bound when it grew while being read, or
        /// when sealing stopped at the request that took it over).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bundle's SHA-256 is not the pinned one.
    #[error(
        "bundle {}: SHA-256 mismatch: expected {expected}, actual {actual}",
        path.display()
    )]
    Digest {
        /// The bundle.
        path: PathBuf,
        /// The pinned digest.
        expected: String,
        /// The digest of the file on disk.
        actual: String,
    },
    /// The tar archive as a whole breaks a rule (truncated, trailing data, too many members).
    #[error("bundle {}: {rule}", path.display())]
    Archive {
        /// The bundle.
        path: PathBuf,
        /// The rule broken.
        rule: String,
    },
    /// A tar member breaks a rule.
    #[error("bundle {}: member {member:?}: {rule}", path.display())]
    Member {
        /// The bundle.
        path: PathBuf,
        /// The member name (lossy when it is not UTF-8).
        member: String,
        /// The rule broken.
        rule: String,
    },
    /// `manifest.json` is missing, malformed or of the wrong format.
    #[error("bundle {}: manifest.json: {rule}", path.display())]
    Manifest {
        /// The bundle.
        path: PathBuf,
        /// The rule broken.
        rule: String,
    },
    /// A request in a request bundle breaks a rule.
    #[error("bundle {}: request {id:?}: {rule}", path.display())]
    Request {
        /// The bundle.
        path: PathBuf,
        /// The request id.
        id: String,
        /// The rule broken.
        rule: String,
    },
    /// `SHA256SUMS` inside an output bundle is missing, malformed or does not match.
    #[error("bundle {}: SHA256SUMS: {rule}", path.display())]
    Checksums {
        /// The bundle.
        path: PathBuf,
        /// The rule broken.
        rule: String,
    },
    /// The `.sha256` file beside an output bundle is malformed or does not match.
    #[error("checksum file {}: {rule}", path.display())]
    ChecksumFile {
        /// The `.sha256` file.
        path: PathBuf,
        /// The rule broken.
        rule: String,
    },
    /// None of the identities can decrypt the bundle.
    #[error(
        "bundle {}: no identity in {} can decrypt it",
        path.display(),
        identity.display()
    )]
    NoMatchingIdentity {
        /// The bundle.
        path: PathBuf,
        /// The identity file.
        identity: PathBuf,
    },
    /// The bundle is not an age file, or its ciphertext is truncated or modified.
    #[error("bundle {}: cannot decrypt: {reason}", path.display())]
    Decrypt {
        /// The bundle.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The identity file could not be read or holds no usable identity.
    #[error("identity file {}: {reason}", path.display())]
    Identity {
        /// The identity file.
        path: PathBuf,
        /// What is wrong (never the file's contents).
        reason: String,
    },
    /// An age recipient could not be parsed.
    #[error("recipient {value:?}: {reason}")]
    Recipient {
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The ceremony's signature over an output bundle's `SHA256SUMS` could not be made.
    #[error("bundle {}: cannot sign SHA256SUMS: {source}", path.display())]
    Sign {
        /// The bundle.
        path: PathBuf,
        /// Why the signer failed.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A pinned CA file (`--ca`) cannot be used.
    #[error("--ca {}: {rule}", path.display())]
    Pin {
        /// The file.
        path: PathBuf,
        /// The rule broken.
        rule: String,
    },
    /// The audit key file (`--audit-key`) cannot be used.
    #[error("--audit-key {}: {rule}", path.display())]
    AuditKey {
        /// The file.
        path: PathBuf,
        /// The rule broken.
        rule: String,
    },
    /// A member of an output bundle fails a trust check: a certificate that
    /// is not signed by a pinned CA, not valid now, not as its manifest entry
    /// or profile says, a CA that is not pinned, a path this tool does not
    /// write, or the ceremony's signature. Nothing was written.
    #[error("bundle {}: {member}: {rule}", path.display())]
    Untrusted {
        /// The bundle.
        path: PathBuf,
        /// The member (or manifest path) that fails.
        member: String,
        /// The rule broken.
        rule: String,
    },
    /// The caller asked for a bundle that cannot be written (bad name, no recipients, …).
    #[error("bundle {}: {rule}", path.display())]
    Invalid {
        /// The bundle that was to be written.
        path: PathBuf,
        /// The rule broken.
        rule: String,
    },
}

impl Error {
    /// A likely fix for the error, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Digest { .. } => Some(
                "this is not the bundle approved in the script; compare the digest with the one the requester sent out of band, and ask for the bundle again if they differ"
                    .into(),
            ),
            Error::Exists { .. } => Some(
                "choose another name or move the existing file away; ceremony never overwrites"
                    .into(),
            ),
            Error::NotEmpty { .. } => {
                Some("open the bundle into a new or empty directory".into())
            }
            Error::NoMatchingIdentity { .. } => Some(
                "use the age identity whose recipient (age1…) the ceremony script encrypted the bundle to"
                    .into(),
            ),
            Error::Decrypt { .. } | Error::ChecksumFile { .. } | Error::Checksums { .. } => Some(
                "the bundle was damaged or changed after it was written; copy it again from the ceremony media"
                    .into(),
            ),
            Error::Recipient { .. } => Some(
                "an age recipient is the age1… line that `age-keygen -y IDENTITY` prints".into(),
            ),
            Error::Identity { .. } => Some(
                "give the file written by `age-keygen` (AGE-SECRET-KEY-1… lines, # comments allowed)"
                    .into(),
            ),
            Error::Untrusted { .. } => Some(
                "nothing was written: do not use this bundle; pin the roots from the ceremony's report or paper record (--ca) and ask the ceremony for the bundle again"
                    .into(),
            ),
            Error::Pin { .. } => Some(
                "give the PEM certificates of the roots you trust, whose fingerprints you checked out of band (the ceremony's pki/ca.crt, pki/etcd/ca.crt, pki/front-proxy-ca.crt)"
                    .into(),
            ),
            Error::AuditKey { .. } => Some(
                "give the ceremony's audit public key, pki/audit-key.pub as generate-audit-key wrote it".into(),
            ),
            Error::TooLarge { .. } => {
                Some("split the requests over several bundles".into())
            }
            _ => None,
        }
    }
}

/// Shorthand for results in this module.
pub type Result<T> = std::result::Result<T, Error>;

/// A closure mapping an I/O error to [`Error::Io`] for `path`.
fn io_err(path: &std::path::Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        path,
        action,
        source,
    }
}

/// Refuses `path` if anything (even a dangling symlink) is there.
fn refuse_existing(path: &std::path::Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(Error::Exists {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path, "check whether it exists")(e)),
    }
}

/// Writes a new file with [`crate::fsutil::write_new`], mapping "already exists".
fn write_new(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::fsutil::write_new(path, bytes, 0o644).map_err(|e| {
        // AlreadyExists may also come from a leftover temporary name; only
        // say the output exists when it does.
        if e.kind() == std::io::ErrorKind::AlreadyExists && std::fs::symlink_metadata(path).is_ok()
        {
            Error::Exists {
                path: path.to_path_buf(),
            }
        } else {
            io_err(path, "write")(e)
        }
    })
}

/// Opens a regular file for reading, refusing one over `limit` (on its size
/// now; the caller reads at most `limit + 1` bytes and refuses more, in
/// case it grows). Returns the file and its size.
fn open_limited(path: &std::path::Path, limit: u64) -> Result<(std::fs::File, u64)> {
    // Checked before opening too, so a fifo or device is refused, not waited on.
    let meta = std::fs::metadata(path).map_err(io_err(path, "read"))?;
    if !meta.is_file() {
        return Err(Error::Invalid {
            path: path.to_path_buf(),
            rule: "not a regular file".into(),
        });
    }
    let file = std::fs::File::open(path).map_err(io_err(path, "open"))?;
    let size = file.metadata().map_err(io_err(path, "read"))?.len();
    if size > limit {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    Ok((file, size))
}

/// How much of a bundle is read at a time while it is copied and hashed.
const COPY_CHUNK: usize = 1 << 20;

/// Copies the regular file at `path` into a private temporary file in
/// `tmp_dir`, hashing it on the way, and returns the copy and the SHA-256
/// (lowercase hex) of what was copied. A file over `limit` is refused before
/// anything is read, and one that grows past it while being read is cut off.
/// Whatever happens to `path` afterwards, the copy is what was hashed.
fn copy_private(
    path: &std::path::Path,
    limit: u64,
    tmp_dir: &std::path::Path,
) -> Result<(archive::FileSource, String)> {
    use sha2::Digest;
    use std::io::{Read, Write};
    let too_large = |size| Error::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    let (file, _) = open_limited(path, limit)?;
    let tmp_err = |action| io_err(tmp_dir, action);
    let mut copy =
        crate::fsutil::private_file(tmp_dir).map_err(tmp_err("create a private temporary file"))?;
    let mut hasher = sha2::Sha256::new();
    let mut chunk = vec![0u8; COPY_CHUNK];
    let mut copied = 0u64;
    let mut source = file.take(limit + 1);
    loop {
        let n = match source.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(path, "read")(e)),
        };
        copied += n as u64;
        if copied > limit {
            return Err(too_large(copied));
        }
        hasher.update(&chunk[..n]);
        copy.write_all(&chunk[..n])
            .map_err(tmp_err("write the private copy"))?;
    }
    let copy = archive::FileSource::new(copy).map_err(tmp_err("read the private copy"))?;
    Ok((copy, crate::hex::encode(&hasher.finalize())))
}

/// Lowercase hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::hex::encode(&sha2::Sha256::digest(bytes))
}

/// True for exactly 64 hex digits (either case).
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Passes bytes on to `inner`, counting and hashing them; refuses (and
/// sets `over`) rather than pass on more than `limit` bytes in all. Both
/// bundle writers hash what they write with it.
struct Digesting<W> {
    /// Where the bytes go.
    inner: W,
    /// The SHA-256 of the bytes passed on.
    sha256: Sha256,
    /// The number of bytes passed on.
    len: u64,
    /// The most bytes passed on.
    limit: u64,
    /// Set when a write would have passed `limit`.
    over: bool,
}

impl<W> Digesting<W> {
    /// Wraps `inner`, passing on at most `limit` bytes.
    fn new(inner: W, limit: u64) -> Self {
        Digesting {
            inner,
            sha256: Sha256::new(),
            len: 0,
            limit,
            over: false,
        }
    }

    /// The SHA-256 of the bytes passed on so far.
    fn digest(&self) -> [u8; 32] {
        self.sha256.clone().finalize().into()
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > self.limit - self.len {
            self.over = true;
            return Err(io::Error::other(format!(
                "more than the {} bytes expected",
                self.limit
            )));
        }
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
