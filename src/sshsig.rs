//! OpenSSH signatures ("SSHSIG", `ssh-keygen -Y sign`) checked against an
//! `allowed_signers` file, as `ssh-keygen -Y verify` checks them.
//!
//! Officers and witnesses sign with the keys they already carry: a
//! ceremony script's approvals (namespace [`APPROVAL_NAMESPACE`]) and a
//! checkpoint's cosignatures ([`CHECKPOINT_NAMESPACE`]). This module reads
//! the signers file ([`AllowedSigners`], in `allowed` below), and judges one
//! signature file: its namespace, whether its key is listed (and allowed
//! that namespace, and valid now), whether it verifies over the exact bytes,
//! and for a security key (`sk-…`) whether the user touched it (stricter
//! than `ssh-keygen -Y verify`, which does not look at that flag). It knows
//! nothing of ceremonies: the caller counts what verifies.

mod allowed;

pub use allowed::{AllowedSigners, Signer};

use ssh_key::public::KeyData;
use ssh_key::{HashAlg, SshSig};

/// The namespace of a ceremony script's approval.
pub const APPROVAL_NAMESPACE: &str = "ceremony-approval";
/// The namespace of a checkpoint's cosignature.
pub const CHECKPOINT_NAMESPACE: &str = "ceremony-checkpoint";

/// The largest signature file read (an armored SSHSIG of an RSA-16384 key
/// is under 6 KiB).
pub const MAX_SIGNATURE_BYTES: u64 = 64 << 10;

/// The flag a security key sets in its signature when the user touched it.
const SK_USER_PRESENT: u8 = 0x01;
/// A security key's signature ends with its flags byte and a 4-byte counter.
const SK_TRAILER: usize = 5;

/// A signature that verified, and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signer's principals, as the signers file lists them (the first
    /// is the one a report names).
    pub principals: Vec<String>,
    /// The key's algorithm, as OpenSSH names it (`ssh-ed25519`, …).
    pub key_type: String,
    /// The key's fingerprint, as `ssh-keygen -l` prints it (`SHA256:…`).
    pub fingerprint: String,
    /// The signers file's line that lists the key.
    pub line: usize,
    /// The signature, armored as `ssh-keygen -Y sign` wrote it.
    pub armored: String,
}

/// Checks the armored signature `armored` over `message` in `namespace`
/// against `signers`, at `now_unix` (seconds; for `valid-after` and
/// `valid-before`). `Err` says, in words for the operator, why it does not
/// count; `message_name` names what was signed in that text.
pub fn check(
    signers: &AllowedSigners,
    namespace: &str,
    message: &[u8],
    message_name: &str,
    armored: &str,
    now_unix: u64,
) -> Result<Verified, String> {
    let sig = SshSig::from_pem(armored.trim())
        .map_err(|e| format!("is not an OpenSSH signature (ssh-keygen -Y sign): {e}"))?;
    let key = sig.public_key();
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let key_type = key.algorithm().as_str().to_string();
    if sig.namespace() != namespace {
        return Err(format!(
            "is signed in namespace {:?}, not {namespace:?} (sign with -n {namespace})",
            sig.namespace()
        ));
    }
    if matches!(key, KeyData::Certificate(_)) {
        return Err(
            "is made with an SSH certificate; list the key itself in the signers file".into(),
        );
    }
    let Some(signer) = signers.find(key) else {
        return Err(format!(
            "is made by key {fingerprint} ({key_type}), which {} does not list",
            signers.path.display()
        ));
    };
    signer.allows(namespace, now_unix).map_err(|rule| {
        format!(
            "is made by key {fingerprint} of {} ({}:{}), which {rule}",
            signer.principals.join(","),
            signers.path.display(),
            signer.line
        )
    })?;
    let public = ssh_key::PublicKey::new(key.clone(), "");
    public.verify(namespace, message, &sig).map_err(|_| {
        format!(
            "by {} ({fingerprint}) does not verify over the bytes of {message_name} (a signature of other bytes, or altered)",
            signer.principals.join(",")
        )
    })?;
    if key.is_sk_ed25519() || key.is_sk_ecdsa_p256() {
        let bytes = sig.signature_bytes();
        let flags = bytes
            .len()
            .checked_sub(SK_TRAILER)
            .map_or(0, |at| bytes[at]);
        if flags & SK_USER_PRESENT == 0 {
            return Err(format!(
                "by {} ({fingerprint}) was made by a security key nobody touched (its signature lacks the user-presence flag: ssh-keygen -Y verify accepts that, this tool does not, since a signature here is consent; a key made with -O no-touch-required cannot sign here)",
                signer.principals.join(",")
            ));
        }
    }
    Ok(Verified {
        principals: signer.principals.clone(),
        key_type,
        fingerprint,
        line: signer.line,
        armored: armored.trim().to_string(),
    })
}

#[cfg(test)]
mod tests;
