//! Feldman verifiable secret sharing over P-256: a secret scalar split M of
//! N, commitments that let each share be checked alone, and the secret
//! rebuilt from M good shares.
//!
//! The dealer picks a random polynomial `f(x) = a_0 + a_1·x + … +
//! a_{m-1}·x^{m-1}` with `a_0` the secret, gives custodian `i` the share
//! `f(i)` and publishes the commitments `C_j = a_j·G`. A share `(i, y)` is
//! good when `y·G == Σ C_j·i^j`; M good shares give `f(0)` by Lagrange
//! interpolation, and the result is checked against `C_0`.
//!
//! What it guarantees: a share altered in any bit fails [`verify_share`];
//! [`combine`] never returns a scalar that does not match `C_0`. What it does
//! not: the commitments reveal `secret·G`, so the secret must be a uniformly
//! random scalar (as [`super::secret::secret_from_entropy`] makes), never a
//! low-entropy value; and M-1 shares say nothing about the secret only
//! because the coefficients come from a cryptographic RNG.
//!
//! 1-of-N is allowed (every share is then the secret itself, and the
//! commitments are its public point); the caller's policy decides whether it
//! is acceptable.

use std::fmt;

use p256::elliptic_curve::group::GroupEncoding;
use p256::elliptic_curve::rand_core::TryCryptoRng;
use p256::elliptic_curve::subtle::ConstantTimeEq;
use p256::elliptic_curve::{ff::Field, Generate};
use p256::{AffinePoint, CompressedPoint, NonZeroScalar, ProjectivePoint, Scalar};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The length of one SEC1 compressed point in bytes.
pub const POINT_BYTES: usize = 33;

/// One custodian's share: the polynomial's value at `index`.
///
/// Secret: zeroized on drop, never printed (its `Debug` shows the index only).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Share {
    /// The custodian's position, 1 to N (the point at which the polynomial was evaluated).
    pub index: u8,
    /// The polynomial's value at `index`.
    pub value: Scalar,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("index", &self.index)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// The published commitments `C_0 … C_{m-1}` to the polynomial's
/// coefficients (`C_0 = secret·G`). Public: they go into the transcript and
/// every share file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitments(Vec<AffinePoint>);

impl Commitments {
    /// The threshold M: how many shares rebuild the secret.
    pub fn threshold(&self) -> u8 {
        u8::try_from(self.0.len()).expect("at most 255 commitments: checked when made or read")
    }

    /// `C_0`, the secret's public point.
    pub fn secret_point(&self) -> AffinePoint {
        self.0[0]
    }

    /// The points, SEC1 compressed, each 33 bytes, in order.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|p| p.to_bytes().to_vec()).collect()
    }

    /// The points as lowercase hex of their SEC1 compressed form, joined by `,`.
    pub fn to_hex(&self) -> String {
        self.0
            .iter()
            .map(|p| crate::hex::encode(&p.to_bytes()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads what [`Commitments::to_hex`] writes: 1 to 255 lowercase hex
    /// SEC1 compressed P-256 points (tag `02` or `03`) joined by `,`, none the
    /// identity.
    pub fn from_hex(text: &str) -> Result<Commitments, DecodeError> {
        let items: Vec<&str> = text.split(',').collect();
        if items.len() > usize::from(u8::MAX) {
            return Err(DecodeError::Count { count: items.len() });
        }
        let points = items
            .iter()
            .enumerate()
            .map(|(position, item)| {
                let bytes = crate::hex::decode(item)
                    .filter(|b| crate::hex::encode(b) == *item && b.len() == POINT_BYTES)
                    .ok_or(DecodeError::Hex { position })?;
                let repr = CompressedPoint::try_from(bytes.as_slice())
                    .map_err(|_| DecodeError::Hex { position })?;
                // Only the canonical compressed form (tag 02 or 03): p256
                // also reads other SEC1 forms of 33 bytes, such as compact (05).
                Option::<AffinePoint>::from(AffinePoint::from_bytes(&repr))
                    .filter(|p| !bool::from(p.is_identity()) && p.to_bytes() == repr)
                    .ok_or(DecodeError::Point { position })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Commitments(points))
    }

    /// SHA-256 over [`Commitments::to_bytes`], lowercase hex: the share set's
    /// id, recorded in the transcript and in every share file.
    pub fn fingerprint(&self) -> String {
        crate::hex::encode(&Sha256::digest(self.to_bytes()))
    }

    /// `Σ C_j·x^j`: the point a share at index `x` must match (Horner's rule).
    fn expected(&self, index: u8) -> ProjectivePoint {
        let x = Scalar::from(u64::from(index));
        self.0
            .iter()
            .rev()
            .fold(ProjectivePoint::IDENTITY, |acc, c| acc * x + c)
    }
}

/// Why [`Commitments::from_hex`] refused its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// More points than the 255 a threshold can need.
    #[error("{count} points, over the limit of 255")]
    Count {
        /// How many points the text holds.
        count: usize,
    },
    /// An item is not 66 lowercase hex digits.
    #[error("point {position} is not 66 lowercase hex digits")]
    Hex {
        /// Its position, from 0.
        position: usize,
    },
    /// An item is not a SEC1 compressed point on P-256, or is the identity.
    #[error("point {position} is not a compressed P-256 point")]
    Point {
        /// Its position, from 0.
        position: usize,
    },
}

/// Why [`split`] refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The threshold and count are not `1 <= m <= n <= 255`.
    #[error("threshold {m} of {n}: need 1 <= threshold <= count")]
    Threshold {
        /// The threshold asked.
        m: u8,
        /// The count asked.
        n: u8,
    },
    /// The secret is zero (its commitment would be the identity).
    #[error("the secret is zero")]
    ZeroSecret,
    /// The random number generator failed.
    #[error("random number generator failed: {source}")]
    Rng {
        /// Its error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why [`combine`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CombineError {
    /// Fewer good shares than the threshold.
    #[error("{given} shares given, the threshold is {threshold}")]
    TooFew {
        /// How many shares were given.
        given: usize,
        /// The threshold M.
        threshold: u8,
    },
    /// Two shares have the same index.
    #[error("share {index} given twice")]
    Duplicate {
        /// The index.
        index: u8,
    },
    /// A share's index is 0 (the secret's own position).
    #[error("share index 0 is not a share")]
    ZeroIndex,
    /// A share does not match the commitments.
    #[error("share {index} does not match the commitments")]
    BadShare {
        /// The share's index.
        index: u8,
    },
    /// The interpolated secret does not match `C_0` (cannot happen with
    /// shares that each verify; kept as a last check).
    #[error("the rebuilt secret does not match the commitments")]
    Mismatch,
}

/// Splits `secret` into `n` shares (indices 1 to `n`), any `m` of which
/// rebuild it, with the commitments that check each share.
///
/// The coefficients `a_1 … a_{m-1}` are non-zero scalars from `rng`
/// (pass `getrandom::SysRng`); they are zeroized before returning.
pub fn split<R: TryCryptoRng + ?Sized>(
    secret: &Scalar,
    m: u8,
    n: u8,
    rng: &mut R,
) -> Result<(Vec<Share>, Commitments), SplitError>
where
    R::Error: Send + Sync + 'static,
{
    if m == 0 || m > n {
        return Err(SplitError::Threshold { m, n });
    }
    if bool::from(secret.is_zero()) {
        return Err(SplitError::ZeroSecret);
    }
    let mut coefficients = Zeroizing::new(Vec::with_capacity(usize::from(m)));
    coefficients.push(*secret);
    for _ in 1..m {
        let a = NonZeroScalar::try_generate_from_rng(rng)
            .map_err(|e| SplitError::Rng { source: e.into() })?;
        coefficients.push(*a);
    }
    let commitments = Commitments(
        coefficients
            .iter()
            .map(|a| (ProjectivePoint::GENERATOR * a).to_affine())
            .collect(),
    );
    let shares = (1..=n)
        .map(|index| {
            let x = Scalar::from(u64::from(index));
            let value = coefficients
                .iter()
                .rev()
                .fold(Scalar::ZERO, |acc, a| acc * x + a);
            Share { index, value }
        })
        .collect();
    Ok((shares, commitments))
}

/// Whether `share` matches `commitments`: `value·G == Σ C_j·index^j`
/// (index 0 never does).
pub fn verify_share(share: &Share, commitments: &Commitments) -> bool {
    if share.index == 0 {
        return false;
    }
    let left = ProjectivePoint::GENERATOR * share.value;
    left.ct_eq(&commitments.expected(share.index)).into()
}

/// Rebuilds the secret from at least M shares.
///
/// Refuses, in order: fewer shares than the threshold, an index 0 or given
/// twice, any share that fails [`verify_share`] (the first, by index). Uses
/// the first M shares given, interpolated at 0, and checks the result
/// against `C_0`.
pub fn combine(
    shares: &[Share],
    commitments: &Commitments,
) -> Result<Zeroizing<Scalar>, CombineError> {
    let threshold = commitments.threshold();
    if shares.len() < usize::from(threshold) {
        return Err(CombineError::TooFew {
            given: shares.len(),
            threshold,
        });
    }
    let mut seen = [false; 256];
    for share in shares {
        if share.index == 0 {
            return Err(CombineError::ZeroIndex);
        }
        if std::mem::replace(&mut seen[usize::from(share.index)], true) {
            return Err(CombineError::Duplicate { index: share.index });
        }
    }
    if let Some(bad) = shares.iter().find(|s| !verify_share(s, commitments)) {
        return Err(CombineError::BadShare { index: bad.index });
    }
    let used = &shares[..usize::from(threshold)];
    let mut secret = Zeroizing::new(Scalar::ZERO);
    for share in used {
        let x_i = Scalar::from(u64::from(share.index));
        let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
        for other in used.iter().filter(|o| o.index != share.index) {
            let x_j = Scalar::from(u64::from(other.index));
            num *= x_j;
            den *= x_j - x_i;
        }
        let inverse = Option::<Scalar>::from(den.invert())
            .expect("distinct non-zero indices below the group order: the product is non-zero");
        *secret += share.value * num * inverse;
    }
    let rebuilt = (ProjectivePoint::GENERATOR * *secret).to_affine();
    if !bool::from(rebuilt.ct_eq(&commitments.secret_point())) {
        return Err(CombineError::Mismatch);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests;
