//! The shared secret made from two random sources, and the values derived
//! from it: the backup wrap key and the quorum user PIN.
//!
//! The secret itself is never stored: it exists in memory while it is made
//! and split, or rebuilt from shares, and only the values derived here are
//! handed to the token. Each derivation hashes a domain tag with the
//! secret, so one secret cannot be mistaken for a value of another purpose.

use p256::elliptic_curve::ff::{Field, FromUniformBytes, PrimeField};
use p256::Scalar;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

/// The domain tag of [`secret_from_entropy`].
pub const ENTROPY_TAG: &[u8] = b"ceremony/custody-secret/1";
/// The domain tag of [`wrap_key`].
pub const WRAP_KEY_TAG: &[u8] = b"ceremony/backup-wrap-key/1";
/// The domain tag of [`user_pin`].
pub const USER_PIN_TAG: &[u8] = b"ceremony/user-pin/1";

/// How many random bytes each source gives [`secret_from_entropy`].
pub const ENTROPY_BYTES: usize = 64;

/// A secret scalar from two independent random sources (the token's
/// `C_GenerateRandom` and the operating system's), so that it is
/// unpredictable if either one is.
///
/// SHA-512 over [`ENTROPY_TAG`], a counter byte (0), the token's bytes and
/// the operating system's bytes, reduced modulo the group order; were the
/// result zero (probability about 2^-256), the counter is incremented and
/// the hash taken again.
pub fn secret_from_entropy(
    token_bytes: &[u8; ENTROPY_BYTES],
    os_bytes: &[u8; ENTROPY_BYTES],
) -> Zeroizing<Scalar> {
    for counter in 0..=u8::MAX {
        let mut wide = Zeroizing::new([0u8; 64]);
        let mut hash = Sha512::new();
        hash.update(ENTROPY_TAG);
        hash.update([counter]);
        hash.update(token_bytes);
        hash.update(os_bytes);
        wide.copy_from_slice(&hash.finalize());
        let scalar = Zeroizing::new(Scalar::from_uniform_bytes(&wide));
        if !bool::from(scalar.is_zero()) {
            return scalar;
        }
    }
    unreachable!("256 SHA-512 outputs all zero modulo the group order")
}

/// SHA-256 over `tag` and the scalar's 32 big-endian bytes.
fn derive(tag: &[u8], secret: &Scalar) -> Zeroizing<[u8; 32]> {
    let bytes = Zeroizing::new(secret.to_repr());
    let mut hash = Sha256::new();
    hash.update(tag);
    hash.update(bytes.as_slice());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&hash.finalize());
    out
}

/// The AES-256 backup wrap key's value: SHA-256 over [`WRAP_KEY_TAG`] and
/// the secret's 32 big-endian bytes.
pub fn wrap_key(secret: &Scalar) -> Zeroizing<[u8; 32]> {
    derive(WRAP_KEY_TAG, secret)
}

/// The token's user PIN under quorum activation: the first 16 bytes of
/// SHA-256 over [`USER_PIN_TAG`] and the secret's 32 big-endian bytes, as
/// 32 lowercase hex characters.
pub fn user_pin(secret: &Scalar) -> Zeroizing<String> {
    let digest = derive(USER_PIN_TAG, secret);
    Zeroizing::new(crate::hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests;
