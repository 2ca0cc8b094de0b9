//! What the steps that split a secret share (`backup-keys`,
//! `activate-quorum`): the people named in the script with their age
//! recipients, checked at plan time; the secret made from the token's and
//! the operating system's random bytes, split M of N and each share sealed
//! to its holder; the `SHA256SUMS` of the files written; the records.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::super::step::Context;
use super::super::{Error, Reason};
use crate::custody::manifest::share_file_name;
use crate::custody::{self, Commitments, Purpose, ShareFile};
use crate::events::CustodianRecord;
use crate::hex;
use crate::token::Token;

/// The most share holders a step may name.
pub const MAX_HOLDERS: usize = 16;

/// A share holder (custodian or officer) as the script names them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderSpec {
    /// Their name (1 to 64 characters), as their share file names them.
    pub name: String,
    /// Their age recipient (`age1…`).
    pub recipient: String,
}

/// A share holder, resolved.
#[derive(Clone)]
pub struct Holder {
    /// Their name.
    pub name: String,
    /// Their recipient, as the script gives it.
    pub recipient_text: String,
    recipient: age::x25519::Recipient,
}

impl fmt::Debug for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self.name, self.recipient_text)
    }
}

/// Checks `specs` (the script's `field`, e.g. `custodians`) and the
/// threshold: 2 to [`MAX_HOLDERS`] holders, M from 2 to N, distinct names
/// of the share file's form, distinct recipients that parse.
pub fn resolve(field: &str, specs: &[HolderSpec], threshold: u8) -> Result<Vec<Holder>, String> {
    let n = specs.len();
    if !(2..=MAX_HOLDERS).contains(&n) {
        return Err(format!("{field}: {n} named; 2 to {MAX_HOLDERS} are needed"));
    }
    if threshold < 2 || usize::from(threshold) > n {
        return Err(format!(
            "threshold: {threshold} must be at least 2 and at most the {n} {field}"
        ));
    }
    let mut holders = Vec::with_capacity(n);
    for (i, c) in specs.iter().enumerate() {
        let at = |rule: String| format!("{field}[{i}] ({:?}): {rule}", c.name);
        check_name(&c.name).map_err(at)?;
        if specs[..i].iter().any(|o| o.name == c.name) {
            return Err(at("the name is used by an earlier one".into()));
        }
        if specs[..i]
            .iter()
            .any(|o| o.recipient.trim() == c.recipient.trim())
        {
            return Err(at(
                "the recipient is an earlier one's: each share goes to a different person".into(),
            ));
        }
        let recipient = crate::bundle::output::parse_recipient(c.recipient.trim())
            .map_err(|e| at(e.to_string()))?;
        holders.push(Holder {
            name: c.name.clone(),
            recipient_text: c.recipient.trim().to_string(),
            recipient,
        });
    }
    Ok(holders)
}

/// A holder's name: 1 to 64 characters, no control characters, no
/// surrounding spaces (the share file's rule).
fn check_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > custody::share_file::MAX_CUSTODIAN_CHARS {
        return Err(format!(
            "name must be 1 to {} characters",
            custody::share_file::MAX_CUSTODIAN_CHARS
        ));
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        return Err("name must not have control characters or surrounding spaces".into());
    }
    Ok(())
}

/// A secret made and dealt: the secret (zeroized on drop), the
/// commitments, and each holder's sealed share as `(shares/NN-slug.age,
/// bytes)`, in index order.
pub struct Dealt {
    /// The secret.
    pub secret: Zeroizing<p256::Scalar>,
    /// The commitments to its polynomial.
    pub commitments: Commitments,
    /// Each holder's sealed share file: relative name and bytes.
    pub sealed: Vec<(String, Vec<u8>)>,
}

/// Makes a secret from 64 bytes of the token's RNG and 64 of the operating
/// system's, splits it `threshold` of `holders.len()` and seals each share
/// (for `purpose`) to its holder.
pub fn deal(
    token: &Token,
    purpose: Purpose,
    threshold: u8,
    holders: &[Holder],
) -> Result<Dealt, Error> {
    let refused = |why: String| Error::Refused {
        ceremony: String::new(),
        reasons: vec![Reason::Rule(format!("no secret could be made: {why}"))],
    };
    let token_bytes = Zeroizing::new(token.random(custody::ENTROPY_BYTES as u32)?);
    let token_bytes: Zeroizing<[u8; custody::ENTROPY_BYTES]> = Zeroizing::new(
        token_bytes
            .as_slice()
            .try_into()
            .map_err(|_| refused("the token returned too few random bytes".into()))?,
    );
    let mut os_bytes = Zeroizing::new([0u8; custody::ENTROPY_BYTES]);
    getrandom::fill(os_bytes.as_mut_slice())
        .map_err(|e| refused(format!("the operating system's RNG failed: {e}")))?;
    let secret = custody::secret_from_entropy(&token_bytes, &os_bytes);
    let count = holders.len() as u8;
    let (shares, commitments) = custody::split(&secret, threshold, count, &mut getrandom::SysRng)
        .map_err(|e| refused(e.to_string()))?;
    let mut sealed = Vec::with_capacity(holders.len());
    for (holder, share) in holders.iter().zip(shares) {
        let file = ShareFile::new(purpose, &holder.name, count, commitments.clone(), share)
            .map_err(|e| refused(format!("{:?}: {e}", holder.name)))?;
        sealed.push((
            share_file_name(file.index(), &holder.name),
            custody::seal(&file, &holder.recipient),
        ));
    }
    Ok(Dealt {
        secret,
        commitments,
        sealed,
    })
}

/// `sha256sum` lines for `files`, in order.
pub fn sums(files: &[(String, Vec<u8>)]) -> String {
    files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", hex::encode(&Sha256::digest(bytes))))
        .collect()
}

/// The audit key's signature over `sums` (`SHA256SUMS.sig`), or `None`
/// when the token has no audit key.
pub fn sign_sums(cx: &mut Context<'_>, sums: &str) -> Result<Option<Vec<u8>>, Error> {
    let Some(audit) = cx.audit_key()? else {
        return Ok(None);
    };
    crate::checkpoint::audit_sign(cx.token(), &audit, "SHA256SUMS", sums.as_bytes())
        .map(|(_, signature)| Some(signature))
        .map_err(|e| {
            cx.refuse(vec![Reason::Rule(format!(
                "the audit key could not sign SHA256SUMS: {e}"
            ))])
        })
}

/// Each holder's record: name, recipient, index, sealed file (under `dir`)
/// and its SHA-256.
pub fn records(
    holders: &[Holder],
    sealed: &[(String, Vec<u8>)],
    dir: &Path,
) -> Vec<CustodianRecord> {
    holders
        .iter()
        .zip(sealed)
        .enumerate()
        .map(|(i, (h, (file, bytes)))| CustodianRecord {
            name: h.name.clone(),
            recipient: h.recipient_text.clone(),
            index: i as u8 + 1,
            file: dir.join(file).display().to_string(),
            sha256: hex::encode(&Sha256::digest(bytes)),
        })
        .collect()
}

/// The plan's lines for the holders, after `  LABEL N  `.
pub fn plan_lines(f: &mut fmt::Formatter<'_>, label: &str, holders: &[Holder]) -> fmt::Result {
    for (i, h) in holders.iter().enumerate() {
        writeln!(
            f,
            "  {label} {}  {:?}, share sealed to {}",
            i + 1,
            h.name,
            h.recipient_text
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "age1a69ycsxsma2mupnrmkvpc88azpy3edkfxpn5l3ujekkqgsu7m3gqyydzc9";
    const R2: &str = "age1l8krjdukqx662pjkwdxwpwrw4k6eudn45ym0q6tmt8afxkk6j4ps2aa38h";

    fn spec(name: &str, recipient: &str) -> HolderSpec {
        HolderSpec {
            name: name.into(),
            recipient: recipient.into(),
        }
    }

    #[test]
    fn holders_and_the_threshold_are_checked_with_the_rule_named() {
        let two = [spec("Ana", R1), spec("Ben", R2)];
        let holders = resolve("custodians", &two, 2).expect("2 of 2");
        assert_eq!(holders.len(), 2);
        assert_eq!(holders[1].recipient_text, R2);
        let cases: Vec<(Vec<HolderSpec>, u8, &str)> = vec![
            (vec![spec("Ana", R1)], 1, "custodians: 1 named; 2 to 16 are needed"),
            (two.to_vec(), 1, "threshold: 1 must be at least 2"),
            (two.to_vec(), 3, "threshold: 3 must be at least 2 and at most the 2 custodians"),
            (vec![spec("Ana", R1), spec("Ana", R2)], 2, "custodians[1] (\"Ana\"): the name is used by an earlier one"),
            (vec![spec("Ana", R1), spec("Ben", R1)], 2, "custodians[1] (\"Ben\"): the recipient is an earlier one's"),
            (vec![spec("Ana", R1), spec("Ben", "age1nope")], 2, "custodians[1] (\"Ben\"): "),
            (vec![spec(" Ana", R1), spec("Ben", R2)], 2, "custodians[0] (\" Ana\"): name must not have control characters or surrounding spaces"),
            (vec![spec("", R1), spec("Ben", R2)], 2, "custodians[0] (\"\"): name must be 1 to 64 characters"),
        ];
        for (specs, m, rule) in cases {
            let err = resolve("custodians", &specs, m).expect_err(rule);
            assert!(err.contains(rule), "{err:?} does not say {rule:?}");
        }
        let seventeen: Vec<HolderSpec> = (0..17).map(|i| spec(&format!("H{i}"), R1)).collect();
        let err = resolve("officers", &seventeen, 2).expect_err("too many");
        assert!(
            err.contains("officers: 17 named; 2 to 16 are needed"),
            "{err}"
        );
    }
}
