//! A share file sealed to its custodian with age (binary, one X25519
//! recipient), and opened again with the custodian's identity file.
//!
//! Opening checks, in order: the identity file (not readable or writable by
//! other users, at least one identity), the age decryption (a truncated or
//! altered file is refused), the text ([`ShareFile::parse`]), and last the
//! share against its own commitments, naming the custodian and index when
//! it fails. The plaintext is zeroized once parsed. Nothing is written.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::share_file::{ParseError, ShareFile};
use crate::fsutil;

/// The largest sealed share file read.
pub const MAX_SEALED_BYTES: u64 = 64 * 1024;

/// The largest share file text accepted after decryption.
pub const MAX_SHARE_TEXT_BYTES: u64 = 32 * 1024;

/// Why a sealed share could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The sealed share file could not be read.
    #[error("share file {}: cannot read: {source}", path.display())]
    Read {
        /// The sealed share file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The identity file could not be read, is open to other users, or holds
    /// no usable identity.
    #[error("identity file {}: {reason}", path.display())]
    Identity {
        /// The identity file.
        path: PathBuf,
        /// What is wrong (never the file's contents).
        reason: String,
    },
    /// No identity in the identity file can decrypt the share.
    #[error(
        "share file {}: no identity in {} can decrypt it",
        path.display(),
        identity.display()
    )]
    NoMatchingIdentity {
        /// The sealed share file.
        path: PathBuf,
        /// The identity file.
        identity: PathBuf,
    },
    /// Not a binary age file to X25519 recipients, or truncated or altered.
    #[error("share file {}: cannot decrypt: {reason}", path.display())]
    Decrypt {
        /// The sealed share file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The decrypted text is not a share file.
    #[error("share file {}: {source}", path.display())]
    Text {
        /// The sealed share file.
        path: PathBuf,
        /// The rule the text breaks.
        source: ParseError,
    },
    /// The share does not match its own commitments.
    #[error(
        "share file {}: share {index} of custodian {custodian:?} does not match its commitments",
        path.display()
    )]
    BadShare {
        /// The sealed share file.
        path: PathBuf,
        /// The custodian named in the file.
        custodian: String,
        /// The share's index.
        index: u8,
    },
}

impl OpenError {
    /// A likely fix, printed on its own line after the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            OpenError::Identity { .. } => {
                Some("give the custodian's age identity file (AGE-SECRET-KEY-1…), mode 0600".into())
            }
            OpenError::NoMatchingIdentity { .. } => Some(
                "each share opens only with the identity of the custodian it was sealed to".into(),
            ),
            OpenError::Decrypt { .. } | OpenError::BadShare { .. } => {
                Some("the share file was damaged or altered; use another custodian's share".into())
            }
            _ => None,
        }
    }
}

/// Seals `file` to `recipient`: a binary age file holding its text.
pub fn seal(file: &ShareFile, recipient: &age::x25519::Recipient) -> Vec<u8> {
    let text = file.to_text();
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .expect("one X25519 recipient is always accepted");
    let mut sealed = Vec::with_capacity(text.len() + 256);
    let mut writer = encryptor
        .wrap_output(&mut sealed)
        .expect("writing to memory cannot fail");
    writer
        .write_all(text.as_bytes())
        .expect("writing to memory cannot fail");
    writer.finish().expect("writing to memory cannot fail");
    sealed
}

/// Reads the sealed share at `share` (at most [`MAX_SEALED_BYTES`]) and
/// opens it with the identities in `identity_file` ([`open_bytes`]).
pub fn open(share: &Path, identity_file: &Path) -> Result<ShareFile, OpenError> {
    let sealed =
        fsutil::read_limited(share, MAX_SEALED_BYTES).map_err(|source| OpenError::Read {
            path: share.to_path_buf(),
            source,
        })?;
    open_bytes(&sealed, share, identity_file)
}

/// Opens `sealed` (read from `share`, the name used in errors) with the
/// identities in `identity_file`: decrypted, parsed and its share verified
/// against its own commitments.
pub fn open_bytes(
    sealed: &[u8],
    share: &Path,
    identity_file: &Path,
) -> Result<ShareFile, OpenError> {
    let identities = read_identities(identity_file)?;
    open_with(sealed, share, &identities, identity_file)
}

/// Opens `sealed` (read from `share`) with `identities` (from
/// `identity_file`, the name used in errors; an identity typed at a
/// terminal has a descriptive name instead): decrypted, parsed and its
/// share verified against its own commitments.
pub fn open_with(
    sealed: &[u8],
    share: &Path,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    identity_file: &Path,
) -> Result<ShareFile, OpenError> {
    let fail = |reason: &str| OpenError::Decrypt {
        path: share.to_path_buf(),
        reason: reason.to_string(),
    };
    if sealed.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        return Err(fail(
            "is an armored (PEM) age file; share files are binary age files",
        ));
    }
    let decryptor = age::Decryptor::new(sealed).map_err(|e| fail(describe(&e)))?;
    if decryptor.is_scrypt() {
        return Err(fail("encrypted to a passphrase, not to an age recipient"));
    }
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => OpenError::NoMatchingIdentity {
                path: share.to_path_buf(),
                identity: identity_file.to_path_buf(),
            },
            other => fail(describe(&other)),
        })?;
    let mut plain = Zeroizing::new(Vec::new());
    reader
        .take(MAX_SHARE_TEXT_BYTES + 1)
        .read_to_end(&mut plain)
        .map_err(|_| fail("the ciphertext is truncated or modified"))?;
    let text_err = |source| OpenError::Text {
        path: share.to_path_buf(),
        source,
    };
    if plain.len() as u64 > MAX_SHARE_TEXT_BYTES {
        return Err(text_err(ParseError::Layout {
            rule: "is over the size limit of a share file",
        }));
    }
    let text = std::str::from_utf8(&plain).map_err(|_| {
        text_err(ParseError::Layout {
            rule: "is not UTF-8 text",
        })
    })?;
    let file = ShareFile::parse(text).map_err(text_err)?;
    if !file.verify() {
        return Err(OpenError::BadShare {
            path: share.to_path_buf(),
            custodian: file.custodian().to_string(),
            index: file.index(),
        });
    }
    Ok(file)
}

/// Reads every identity from an age identity file that only its owner can
/// read or write (the rule `bundle open` applies to its identity file).
fn read_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, OpenError> {
    crate::agekey::read_identities(path).map_err(|reason| OpenError::Identity {
        path: path.to_path_buf(),
        reason,
    })
}

/// Says what an age decryption error means for a share file.
fn describe(e: &age::DecryptError) -> &'static str {
    match e {
        age::DecryptError::InvalidHeader => "not an age file, or its header is damaged",
        age::DecryptError::UnknownFormat => "not an age v1 file",
        age::DecryptError::InvalidMac => "the age header was modified (MAC mismatch)",
        age::DecryptError::DecryptionFailed => "the ciphertext is truncated or modified",
        age::DecryptError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the file is truncated"
        }
        _ => "not a share sealed with age to an X25519 recipient",
    }
}

#[cfg(test)]
mod tests;
