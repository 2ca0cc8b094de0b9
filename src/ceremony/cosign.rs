//! `transcript cosign`: a witness's signature of a checkpoint file, checked
//! against a signers file and recorded in the transcript as a
//! `checkpoint_cosigned` entry (see `checkpoint/cosigners.rs` for how
//! `transcript verify` requires them).
//!
//! All or nothing: the checkpoint must be one the transcript holds, every
//! signature given must verify over the checkpoint's exact bytes by a
//! distinct signer of the file, or nothing is appended. A signer whose
//! cosignature of this checkpoint is already recorded is named and skipped.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::run::lock_transcript;
use super::{Error, Reason};
use crate::checkpoint::Checkpoint;
use crate::events::{Event, SshApproval};
use crate::hex;
use crate::sshsig::{self, AllowedSigners, CHECKPOINT_NAMESPACE};
use crate::transcript::Transcript;

/// The largest checkpoint file read (one is a few hundred bytes).
const MAX_CHECKPOINT_BYTES: u64 = 64 << 10;

/// One cosignature `cosign` handled.
#[derive(Debug)]
pub struct Cosigned {
    /// The signature file.
    pub file: PathBuf,
    /// The signer's first principal.
    pub principal: String,
    /// The key's fingerprint.
    pub fingerprint: String,
    /// The entry that records it, or `None` when an earlier entry
    /// already did (that entry's number is in `already`).
    pub seq: Option<u64>,
    /// The earlier entry recording this signer's cosignature.
    pub already: Option<u64>,
}

/// Checks the cosignatures `sigs` of `checkpoint` against `signers` and
/// appends one `checkpoint_cosigned` entry for each to the transcript at
/// `path`, holding its lock.
pub fn cosign(
    path: &Path,
    checkpoint: &Path,
    signers: &Path,
    sigs: &[PathBuf],
    now_unix: u64,
) -> Result<Vec<Cosigned>, Error> {
    let refuse = |reasons: Vec<String>| Error::Refused {
        ceremony: "cosign".into(),
        reasons: reasons.into_iter().map(Reason::Rule).collect(),
    };
    let _lock = lock_transcript(path, "cosign")?;
    let signers = AllowedSigners::read(signers).map_err(|r| refuse(vec![r]))?;
    let bytes = crate::fsutil::read_limited(checkpoint, MAX_CHECKPOINT_BYTES).map_err(|e| {
        refuse(vec![format!(
            "checkpoint {}: cannot read: {e}",
            checkpoint.display()
        )])
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        refuse(vec![format!(
            "checkpoint {}: not valid UTF-8",
            checkpoint.display()
        )])
    })?;
    let cp = Checkpoint::parse(checkpoint, text).map_err(|e| refuse(vec![e.to_string()]))?;
    let cp_sha = hex::encode(&Sha256::digest(&bytes));

    // The checkpoint must be one this transcript holds; earlier
    // cosignatures of it are noted by fingerprint.
    let mut held = false;
    let mut earlier: Vec<(u64, String)> = Vec::new();
    crate::transcript::verify_file_with(path, |v| {
        match v.kind {
            "checkpoint" => {
                if let Event::Checkpoint { checkpoint: c, .. } = v.parse::<Event<'static>>()? {
                    held |= *c == cp;
                }
            }
            "checkpoint_cosigned" => {
                if let Event::CheckpointCosigned(a) = v.parse::<Event<'static>>()? {
                    if a.signed_sha256 == cp_sha {
                        earlier.push((v.seq, a.fingerprint.into_owned()));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    if !held {
        return Err(refuse(vec![format!(
            "checkpoint {} ({} entries, head {}) is not a checkpoint transcript {} holds",
            checkpoint.display(),
            cp.entries,
            cp.head,
            path.display()
        )]));
    }

    let name = checkpoint.display().to_string();
    let mut reasons = Vec::new();
    let mut judged: Vec<(Cosigned, sshsig::Verified)> = Vec::new();
    for file in sigs {
        let armored = crate::fsutil::read_limited(file, sshsig::MAX_SIGNATURE_BYTES)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|b| String::from_utf8(b).map_err(|_| "is not text".to_string()));
        let result = armored.and_then(|a| {
            sshsig::check(&signers, CHECKPOINT_NAMESPACE, &bytes, &name, &a, now_unix)
        });
        match result {
            Err(reason) => reasons.push(format!("cosignature {}: {reason}", file.display())),
            Ok(v) => {
                if let Some((other, _)) = judged.iter().find(|(_, w)| {
                    w.fingerprint == v.fingerprint
                        || w.principals.iter().any(|p| v.principals.contains(p))
                }) {
                    reasons.push(format!(
                        "cosignature {}: a second one by {} (also {})",
                        file.display(),
                        v.principals[0],
                        other.file.display()
                    ));
                    continue;
                }
                let already = earlier
                    .iter()
                    .find(|(_, f)| *f == v.fingerprint)
                    .map(|(seq, _)| *seq);
                judged.push((
                    Cosigned {
                        file: file.clone(),
                        principal: v.principals[0].clone(),
                        fingerprint: v.fingerprint.clone(),
                        seq: None,
                        already,
                    },
                    v,
                ));
            }
        }
    }
    if !reasons.is_empty() {
        return Err(refuse(reasons));
    }

    let mut transcript = Transcript::open(path)?;
    let mut done = Vec::new();
    for (mut c, v) in judged {
        if c.already.is_none() {
            let seq =
                transcript.append_unsynced(&Event::CheckpointCosigned(Box::new(SshApproval {
                    file: c.file.display().to_string(),
                    principal: Cow::Borrowed(&v.principals[0]),
                    key_type: Cow::Borrowed(&v.key_type),
                    fingerprint: Cow::Borrowed(&v.fingerprint),
                    namespace: Cow::Borrowed(CHECKPOINT_NAMESPACE),
                    signed_sha256: Cow::Borrowed(&cp_sha),
                    signers_sha256: Cow::Borrowed(&signers.sha256),
                    signature: Cow::Borrowed(&v.armored),
                })))?;
            c.seq = Some(seq);
        }
        done.push(c);
    }
    transcript.sync()?;
    Ok(done)
}
