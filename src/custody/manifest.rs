//! The backup bundle's `manifest.json`: what a `backup-keys` step wrapped,
//! under which shared secret, for whom. One serde type, written by the
//! backup and read back by the restore.
//!
//! A backup bundle is a directory:
//!
//! - `manifest.json`: this type (the wrapped keys, their public keys and
//!   policies, the custodians, the threshold and the commitments);
//! - `shares/NN-CUSTODIAN.age`: each custodian's share, sealed to their age
//!   recipient (custodians take theirs away; see `docs/custody.md`);
//! - `SHA256SUMS`: `sha256sum` lines for every file above;
//! - `SHA256SUMS.sig`: the audit key's signature over `SHA256SUMS`, when the
//!   token has an audit key.
//!
//! It holds no secret in clear: the keys are wrapped (AES key wrap with
//! padding, RFC 5649) under a key derived from the shared secret, and the
//! shares are sealed. [`Manifest::check`] holds the rules a reader applies
//! before trusting any field.

use serde::{Deserialize, Serialize};

use super::vss::Commitments;
use crate::token::{KeyAlgorithm, KeyPolicy};

/// The manifest's format tag.
pub const FORMAT: &str = "ceremony-backup/1";
/// The manifest's file name in the bundle.
pub const MANIFEST: &str = "manifest.json";
/// The checksum file's name in the bundle.
pub const SUMS: &str = "SHA256SUMS";
/// The audit key's signature over [`SUMS`].
pub const SUMS_SIGNATURE: &str = "SHA256SUMS.sig";
/// The wrapping mechanism, as PKCS#11 names it.
pub const MECHANISM: &str = "CKM_AES_KEY_WRAP_PAD";
/// The secret sharing scheme.
pub const SCHEME: &str = "feldman-vss-p256";
/// How the wrap key comes from the shared secret.
pub const DERIVATION: &str = "sha256(\"ceremony/backup-wrap-key/1\" || secret)";
/// The largest manifest read.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// A backup bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The ceremony that made the backup.
    pub ceremony: String,
    /// Its `backup-keys` step.
    pub step: String,
    /// When, seconds since the Unix epoch.
    pub created: u64,
    /// The token the keys were wrapped in.
    pub token: SourceToken,
    /// [`MECHANISM`].
    pub mechanism: String,
    /// [`DERIVATION`].
    pub wrap_key_derivation: String,
    /// How the secret is shared.
    pub sharing: Sharing,
    /// Who holds a share, by index.
    pub custodians: Vec<Custodian>,
    /// The wrapped keys.
    pub keys: Vec<WrappedKey>,
}

/// The token a backup was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceToken {
    /// Its label.
    pub label: String,
    /// Its serial number.
    pub serial: String,
    /// Its manufacturer.
    pub manufacturer: String,
    /// Its model.
    pub model: String,
}

/// The secret sharing: M of N, and the commitments every share is checked
/// against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    /// [`SCHEME`].
    pub scheme: String,
    /// M: shares needed.
    pub threshold: u8,
    /// N: shares made.
    pub count: u8,
    /// The commitments' fingerprint, as every share file names it.
    pub set: String,
    /// The Feldman commitments, hex ([`Commitments::to_hex`]).
    pub commitments: String,
}

/// One custodian and their sealed share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custodian {
    /// Their name, as their share file names them.
    pub name: String,
    /// Their age recipient (`age1…`).
    pub recipient: String,
    /// Their share's index, 1 to N.
    pub index: u8,
    /// The sealed share, relative to the bundle.
    pub file: String,
    /// SHA-256 of the sealed share file, hex.
    pub sha256: String,
}

/// One private key wrapped, with the public key it must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    /// `CKA_LABEL` of the key pair.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// Its policy in the source token.
    pub policy: KeyPolicy,
    /// The public key, DER SubjectPublicKeyInfo, hex.
    pub spki: String,
    /// SHA-256 of the public key's DER, hex.
    pub spki_sha256: String,
    /// The wrapped private key (PKCS#8 under [`MECHANISM`]), hex.
    pub wrapped: String,
    /// SHA-256 of the wrapped bytes, hex.
    pub wrapped_sha256: String,
}

impl Manifest {
    /// Reads a manifest's JSON.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("not a backup manifest: {e}"))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The manifest as JSON, pretty-printed, with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        out.push(b'\n');
        out
    }

    /// The commitments, decoded.
    pub fn commitments(&self) -> Result<Commitments, String> {
        Commitments::from_hex(&self.sharing.commitments)
            .map_err(|e| format!("sharing.commitments: {e}"))
    }

    /// The key labelled `label`.
    pub fn key(&self, label: &str) -> Option<&WrappedKey> {
        self.keys.iter().find(|k| k.label == label)
    }

    /// The rules a manifest keeps: its format, a threshold of 2 or more
    /// within the count, commitments that match both and their
    /// fingerprint, one custodian per index with a plain file name under
    /// `shares/`, distinct key labels, and each key's digests matching its
    /// bytes. The error names the field and the rule.
    pub fn check(&self) -> Result<(), String> {
        use sha2::{Digest, Sha256};
        if self.format != FORMAT {
            return Err(format!("format {:?} is not {FORMAT:?}", self.format));
        }
        if self.mechanism != MECHANISM {
            return Err(format!(
                "mechanism {:?} is not {MECHANISM:?}",
                self.mechanism
            ));
        }
        if self.wrap_key_derivation != DERIVATION {
            return Err(format!(
                "wrap_key_derivation {:?} is not {DERIVATION:?}",
                self.wrap_key_derivation
            ));
        }
        let sharing = &self.sharing;
        if sharing.scheme != SCHEME {
            return Err(format!(
                "sharing.scheme {:?} is not {SCHEME:?}",
                sharing.scheme
            ));
        }
        if sharing.threshold < 2 || sharing.threshold > sharing.count {
            return Err(format!(
                "sharing: threshold {} must be at least 2 and at most the count {}",
                sharing.threshold, sharing.count
            ));
        }
        let commitments = self.commitments()?;
        if commitments.threshold() != sharing.threshold {
            return Err(format!(
                "sharing.commitments hold {} points, not the threshold {}",
                commitments.threshold(),
                sharing.threshold
            ));
        }
        if commitments.fingerprint() != sharing.set {
            return Err(format!(
                "sharing.set {:?} is not the commitments' fingerprint",
                sharing.set
            ));
        }
        if self.custodians.len() != usize::from(sharing.count) {
            return Err(format!(
                "custodians: {} listed, not the count {}",
                self.custodians.len(),
                sharing.count
            ));
        }
        for (i, c) in self.custodians.iter().enumerate() {
            if usize::from(c.index) != i + 1 {
                return Err(format!(
                    "custodians[{i}]: index {} is not {} (custodians are listed by index)",
                    c.index,
                    i + 1
                ));
            }
            if !is_share_path(&c.file) {
                return Err(format!(
                    "custodians[{i}]: file {:?} is not a plain name under shares/",
                    c.file
                ));
            }
        }
        if self.keys.is_empty() {
            return Err("keys: none listed".into());
        }
        for (i, k) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|o| o.label == k.label) {
                return Err(format!("keys[{i}]: label {:?} is listed twice", k.label));
            }
            for (field, hex, digest) in [
                ("spki", &k.spki, &k.spki_sha256),
                ("wrapped", &k.wrapped, &k.wrapped_sha256),
            ] {
                let bytes = crate::hex::decode(hex)
                    .ok_or_else(|| format!("keys[{i}] ({}): {field} is not hex", k.label))?;
                if crate::hex::encode(&Sha256::digest(&bytes)) != *digest {
                    return Err(format!(
                        "keys[{i}] ({}): {field} does not match {field}_sha256",
                        k.label
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `shares/NAME` with NAME a plain file name (no directory, no `..`).
fn is_share_path(path: &str) -> bool {
    path.strip_prefix("shares/").is_some_and(|name| {
        !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.contains('\0')
    })
}

/// The file name of custodian `index`'s share: `shares/NN-SLUG.age`, the
/// slug the name's ASCII letters and digits (others as `-`), lowercase.
pub fn share_file_name(index: u8, custodian: &str) -> String {
    let mut slug: String = custodian
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug.truncate(40);
    let slug = slug.trim_matches('-');
    let slug = if slug.is_empty() { "custodian" } else { slug };
    format!("shares/{index:02}-{slug}.age")
}

#[cfg(test)]
mod tests;
