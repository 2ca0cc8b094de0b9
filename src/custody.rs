//! Key custody under quorum: secrets split M of N among custodians.
//!
//! This module owns the secret sharing that backups and quorum activation
//! build on, and nothing else: Feldman verifiable secret sharing over P-256
//! ([`vss`]), the secret made from the token's and the operating system's
//! random bytes and the values derived from it ([`secret`]), the text of one
//! share ([`share_file`]) and its age encryption to a custodian ([`mod@seal`]).
//!
//! It is pure library code: no token, no transcript, no terminal, and the
//! only file it reads is the one it is asked to open (a sealed share and an
//! age identity). It never writes a file. The shared secret is never
//! stored: it lives in memory (zeroized on drop) while it is made and
//! split, or rebuilt and used; share values and derived keys are zeroized
//! on drop too and never printed.

pub mod manifest;
pub mod seal;
pub mod secret;
pub mod share_file;
pub mod vss;

pub use seal::{open, open_bytes, open_with, seal, OpenError};
pub use secret::{secret_from_entropy, user_pin, wrap_key, ENTROPY_BYTES};
pub use share_file::{ParseError, Purpose, ShareFile, FORMAT_TAG};
pub use vss::{
    combine, split, verify_share, CombineError, Commitments, DecodeError, Share, SplitError,
};
