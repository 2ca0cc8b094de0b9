//! The plan: a script checked and resolved into the exact actions a
//! ceremony will take. Building a plan touches no token and writes nothing,
//! so `--dry-run` prints the same plan the real run executes.
//!
//! This module owns the plan's types, the script limits, and what a plan
//! says about itself: its outputs and each step's acknowledgement code.
//! Building a plan from a script ([`Plan::load`], [`Plan::from_bytes`]) is
//! in the `load` submodule; the plan as text, what `--dry-run` prints, is in
//! `display`.

mod display;
mod load;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::script::Script;
use super::step::Step;
use crate::hex;
use crate::token::TokenSelector;

/// Longest certificate lifetime a script may ask for (30 years).
pub const MAX_VALIDITY_DAYS: u32 = 30 * 365;
/// Largest notBefore backdate a script may ask for (one day).
pub const MAX_BACKDATE_MINUTES: u32 = 24 * 60;
/// Longest a CRL may be valid: nextUpdate at most this many days from now.
pub const MAX_NEXT_UPDATE_DAYS: u32 = 366;
/// The largest script accepted, checked before it is read.
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// A checked, resolved ceremony.
#[derive(Debug)]
pub struct Plan {
    /// The script file.
    pub script_path: PathBuf,
    /// SHA-256 of the script's bytes, hex.
    pub script_sha256: String,
    /// The script's exact bytes (what approvers sign).
    pub script_bytes: Vec<u8>,
    /// The script's `[approvals]`, its signers file read and checked.
    pub approvals: Option<super::approvals::Policy>,
    /// The parsed script.
    pub script: Script,
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// Which token.
    pub selector: TokenSelector,
    /// The transcript file.
    pub transcript: PathBuf,
    /// The steps, resolved, each behind the one step interface.
    pub steps: Vec<Box<dyn Step>>,
    /// For each step, whether every witness must acknowledge it first.
    pub witnessed: Vec<bool>,
}

impl Plan {
    /// The code a witness types to acknowledge step `i`: the first 8 hex
    /// digits of SHA-256 over the script's digest and the step as planned.
    pub fn step_digest(&self, i: usize) -> String {
        let text = format!("{}\n{}", self.script_sha256, self.steps[i]);
        hex::encode(&Sha256::digest(text.as_bytes())[..4])
    }

    /// Every file the ceremony writes, in order.
    pub fn outputs(&self) -> Vec<&Path> {
        self.steps.iter().flat_map(|s| s.outputs()).collect()
    }

    /// Outputs that already exist and would make the run refuse.
    pub fn existing_outputs(&self) -> Vec<PathBuf> {
        self.outputs()
            .into_iter()
            .filter(|p| p.symlink_metadata().is_ok())
            .map(Path::to_path_buf)
            .collect()
    }
}

#[cfg(test)]
mod tests;
