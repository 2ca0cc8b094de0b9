//! The tool's identity in the record: the running binary and the PKCS#11
//! module, each by path and SHA-256 of its bytes, as `ceremony_start`
//! records them beside the token's facts. An auditor compares the
//! binary's digest with a rebuild from the tagged source, and the module's
//! with the vendor's file.
//!
//! A file that cannot be read is recorded with the reason, never left out
//! and never fatal: the ceremony's own checks decide whether it can go on
//! (a module that cannot be read cannot be loaded either).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::events::FileDigest;
use crate::hex;

/// The binary this process runs (`std::env::current_exe`), by path and digest.
pub(super) fn binary() -> FileDigest {
    match std::env::current_exe() {
        Ok(path) => file(&path),
        Err(e) => FileDigest {
            path: String::new(),
            sha256: None,
            error: Some(format!("the running binary cannot be found: {e}")),
        },
    }
}

/// `path` by path and SHA-256, or with the reason it could not be read.
pub(super) fn file(path: &Path) -> FileDigest {
    let (sha256, error) = match sha256_of(path) {
        Ok(digest) => (Some(digest), None),
        Err(e) => (None, Some(e.to_string())),
    };
    FileDigest {
        path: path.display().to_string(),
        sha256,
        error,
    }
}

/// SHA-256 of the file's bytes, read in blocks, lowercase hex.
fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(&hasher.finalize()))
}

#[cfg(test)]
mod tests;
