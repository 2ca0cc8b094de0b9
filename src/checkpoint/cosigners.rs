//! Cosignatures of a checkpoint: after a ceremony each witness signs the
//! checkpoint file with their own SSH key (`ssh-keygen -Y sign -n
//! ceremony-checkpoint CP`), and `transcript cosign` records each as a
//! `checkpoint_cosigned` entry. A history rewritten with the token alone
//! then lacks them: `transcript verify --cosigners FILE --min-cosigners K`
//! requires K distinct signers of FILE over the checkpoint's exact bytes.
//!
//! Verification trusts nothing an entry says about its signer: each
//! recorded signature is checked again against the signers file given.
//! Cosignature entries are appended after the checkpoint they sign, so no
//! audit-key signature covers them until the next checkpoint; each carries
//! its own signature, and when every entry after the covered prefix is a
//! cosignature that verifies, the prefix counts as covered to the end.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::events::{Event, SshApproval};
use crate::hex;
use crate::sshsig::{self, AllowedSigners, CHECKPOINT_NAMESPACE};
use crate::transcript::Visited;

/// What `--cosigners` asks of a checkpoint.
#[derive(Debug)]
pub struct Cosigners<'a> {
    /// The signers file.
    pub signers: &'a AllowedSigners,
    /// How many distinct signers must have cosigned.
    pub min: usize,
    /// The checkpoint file's exact bytes (what each signed).
    pub checkpoint_bytes: &'a [u8],
    /// The checkpoint file, for messages.
    pub checkpoint_path: &'a Path,
    /// Now, in Unix seconds (for the signers' validity windows).
    pub now: u64,
}

/// One cosignature that counted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Cosigner {
    /// Its entry.
    pub seq: u64,
    /// The signer's first principal in the signers file.
    pub principal: String,
    /// The key's fingerprint.
    pub fingerprint: String,
}

/// The cosignatures of one checkpoint found in a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct CosignCount {
    /// How many were required.
    pub min: usize,
    /// SHA-256 of the checkpoint file, hex.
    pub checkpoint_sha256: String,
    /// SHA-256 of the signers file, hex.
    pub signers_sha256: String,
    /// Those that counted, in transcript order.
    pub counted: Vec<Cosigner>,
    /// Cosignature entries of this checkpoint that did not count: entry and why.
    pub not_counted: Vec<(u64, String)>,
    /// The last entry that is not a cosignature of this checkpoint that
    /// verifies (for the covered tail).
    #[serde(skip)]
    pub last_other: Option<u64>,
}

impl<'a> Cosigners<'a> {
    /// An empty count for this checkpoint.
    pub fn start(&self) -> CosignCount {
        CosignCount {
            min: self.min,
            checkpoint_sha256: hex::encode(&Sha256::digest(self.checkpoint_bytes)),
            signers_sha256: self.signers.sha256.clone(),
            counted: Vec::new(),
            not_counted: Vec::new(),
            last_other: None,
        }
    }

    /// Judges entry `v` (every entry of the transcript passes here).
    pub fn visit(&self, count: &mut CosignCount, v: &Visited<'_>) -> Result<(), String> {
        if v.kind != "checkpoint_cosigned" {
            count.last_other = Some(v.seq);
            return Ok(());
        }
        let Event::CheckpointCosigned(entry) = v.parse::<Event<'static>>()? else {
            return Err("checkpoint_cosigned entry is malformed".into());
        };
        let entry: SshApproval<'static> = *entry;
        if entry.signed_sha256 != count.checkpoint_sha256 {
            // A cosignature of another checkpoint: not this one's.
            count.last_other = Some(v.seq);
            return Ok(());
        }
        let name = self.checkpoint_path.display().to_string();
        let judged = sshsig::check(
            self.signers,
            CHECKPOINT_NAMESPACE,
            self.checkpoint_bytes,
            &name,
            &entry.signature,
            self.now,
        )
        .and_then(|verified| {
            match count.counted.iter().find(|c| {
                c.fingerprint == verified.fingerprint || verified.principals.contains(&c.principal)
            }) {
                Some(c) => Err(format!(
                    "is a second cosignature by {} (entry {} counted)",
                    c.principal, c.seq
                )),
                None => Ok(verified),
            }
        });
        match judged {
            Ok(verified) => count.counted.push(Cosigner {
                seq: v.seq,
                principal: verified.principals[0].clone(),
                fingerprint: verified.fingerprint,
            }),
            Err(reason) => {
                // A duplicate still verifies and so still covers itself.
                if !reason.starts_with("is a second cosignature") {
                    count.last_other = Some(v.seq);
                }
                count
                    .not_counted
                    .push((v.seq, format!("entry {}: {reason}", v.seq)));
            }
        }
        Ok(())
    }
}

impl CosignCount {
    /// Whether enough cosigned.
    pub fn enough(&self) -> bool {
        self.counted.len() >= self.min
    }
}
