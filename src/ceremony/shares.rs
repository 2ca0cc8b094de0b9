//! Custodians' shares as the operator presents them: `--share FILE=IDENTITY`
//! (a sealed share and the age identity file that opens it) or `--share
//! FILE` (its custodian types their identity at the terminal, without
//! echo, when the share is opened: one custodian at a time), and the
//! judgement of a set of them against the commitments a backup or a quorum
//! recorded: each share opened and checked alone, a bad one named with the
//! rule it breaks, a duplicate custodian or index not counted twice.
//!
//! Nothing here is written; opened shares live in memory and their values
//! are zeroized on drop.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use zeroize::Zeroizing;

use crate::custody::{self, Commitments, Purpose, ShareFile};
use crate::events::{ShareRefusal, ShareUse, SharesRecord};

/// One share given on the command line: `FILE=IDENTITY` or `FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInput {
    /// The sealed share file.
    pub file: PathBuf,
    /// The age identity file that opens it (only its owner may read it);
    /// `None`: its custodian types the identity at the terminal.
    pub identity: Option<PathBuf>,
}

impl FromStr for ShareInput {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((file, identity)) if !file.is_empty() && !identity.is_empty() => Ok(ShareInput {
                file: file.into(),
                identity: Some(identity.into()),
            }),
            None if !s.is_empty() => Ok(ShareInput {
                file: s.into(),
                identity: None,
            }),
            _ => Err(format!(
                "{s:?} is not SHARE_FILE=IDENTITY_FILE or SHARE_FILE (the sealed share, then the custodian's age identity file; without it the custodian types the identity at the terminal)"
            )),
        }
    }
}

impl fmt::Display for ShareInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())
    }
}

/// A share that was not counted, and why.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The sealed share file.
    pub file: PathBuf,
    /// The custodian it names, when it could be opened.
    pub custodian: Option<String>,
    /// Its index, when it could be opened.
    pub index: Option<u8>,
    /// The rule it breaks.
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.custodian, self.index) {
            (Some(c), Some(i)) => write!(
                f,
                "share {} (custodian {c:?}, index {i}): {}",
                self.file.display(),
                self.reason
            ),
            _ => write!(f, "share {}: {}", self.file.display(), self.reason),
        }
    }
}

/// What a set of presented shares came to.
#[derive(Debug)]
pub struct Judged {
    /// The shares that count, one per index, in the order given.
    pub good: Vec<(PathBuf, ShareFile)>,
    /// The shares that do not, each with its reason.
    pub refused: Vec<Refused>,
}

impl Judged {
    /// The judgement as the transcript records it (`shares_judged`):
    /// against share set `set` for `purpose`, `threshold` needed.
    pub fn record(&self, purpose: Purpose, set: &str, threshold: u8) -> SharesRecord {
        SharesRecord {
            purpose: purpose.to_string(),
            set: set.to_string(),
            threshold,
            counted: self
                .good
                .iter()
                .map(|(file, s)| ShareUse {
                    custodian: s.custodian().to_string(),
                    index: s.index(),
                    file: file.display().to_string(),
                })
                .collect(),
            refused: self
                .refused
                .iter()
                .map(|r| ShareRefusal {
                    file: r.file.display().to_string(),
                    custodian: r.custodian.clone(),
                    index: r.index,
                    reason: r.reason.clone(),
                })
                .collect(),
        }
    }

    /// The custodians whose shares count, in the order given.
    pub fn custodians(&self) -> Vec<String> {
        self.good
            .iter()
            .map(|(_, s)| s.custodian().to_string())
            .collect()
    }

    /// Rebuilds the secret from the good shares, or says why it cannot:
    /// fewer than the threshold, naming each share that did not count.
    pub fn combine(
        &self,
        commitments: &Commitments,
    ) -> Result<zeroize::Zeroizing<p256::Scalar>, String> {
        let m = usize::from(commitments.threshold());
        if self.good.len() < m {
            let mut why = format!(
                "{} good share(s) of the {m} needed (threshold {m} of {})",
                self.good.len(),
                self.good.first().map_or(0, |(_, s)| s.count())
            );
            if self.good.is_empty() {
                why = format!("no good share of the {m} needed");
            }
            for refused in &self.refused {
                why.push_str(&format!("; not counted: {refused}"));
            }
            return Err(why);
        }
        let shares: Vec<custody::Share> =
            self.good.iter().map(|(_, s)| s.share().clone()).collect();
        custody::combine(&shares, commitments)
            .map_err(|e| format!("the shares do not combine: {e}"))
    }
}

/// What names an identity typed at the terminal in errors.
const TYPED: &str = "(typed at the terminal)";

/// Opens one share: with its identity file, or with the identity its
/// custodian types at the terminal (no echo; zeroized after).
fn open(input: &ShareInput) -> Result<ShareFile, custody::OpenError> {
    if let Some(identity) = &input.identity {
        return custody::open(&input.file, identity);
    }
    let typed_name = Path::new(TYPED);
    let sealed = crate::fsutil::read_limited(&input.file, custody::seal::MAX_SEALED_BYTES)
        .map_err(|source| custody::OpenError::Read {
            path: input.file.clone(),
            source,
        })?;
    let refused = |reason: String| custody::OpenError::Identity {
        path: typed_name.to_path_buf(),
        reason,
    };
    let typed = rpassword::prompt_password(format!(
        "age identity (AGE-SECRET-KEY-1…) of the custodian of share {}: ",
        input.file.display()
    ))
    .map(Zeroizing::new)
    .map_err(|e| refused(format!("cannot prompt on a terminal: {e}")))?;
    let identity = age::x25519::Identity::from_str(typed.trim())
        .map_err(|_| refused("is not an age X25519 identity (AGE-SECRET-KEY-1…)".into()))?;
    let identities: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(identity)];
    custody::open_with(&sealed, &input.file, &identities, typed_name)
}

/// Opens each share in `inputs` with its identity and judges it for
/// `purpose` against `commitments` (the set a backup or a quorum recorded):
/// a share that cannot be opened, is for another purpose or another set,
/// does not match the commitments, or repeats an index or custodian
/// already counted is refused with its reason.
pub fn judge(inputs: &[ShareInput], purpose: Purpose, commitments: &Commitments) -> Judged {
    let set = commitments.fingerprint();
    let mut good: Vec<(PathBuf, ShareFile)> = Vec::new();
    let mut refused = Vec::new();
    for input in inputs {
        let refuse = |share: Option<&ShareFile>, reason: String| Refused {
            file: input.file.clone(),
            custodian: share.map(|s| s.custodian().to_string()),
            index: share.map(ShareFile::index),
            reason,
        };
        let share = match open(input) {
            Ok(share) => share,
            Err(e) => {
                let reason = match &e {
                    custody::OpenError::BadShare {
                        custodian, index, ..
                    } => format!(
                        "share {index} of custodian {custodian:?} does not match its commitments (altered or damaged)"
                    ),
                    other => other
                        .to_string()
                        .strip_prefix(&format!("share file {}: ", input.file.display()))
                        .map(str::to_string)
                        .unwrap_or_else(|| other.to_string()),
                };
                refused.push(refuse(None, reason));
                continue;
            }
        };
        let reason = if share.purpose() != purpose {
            Some(format!(
                "is a {} share, not a {purpose} share",
                share.purpose()
            ))
        } else if share.set_id() != set {
            Some(format!(
                "belongs to share set {}, not {set} (another backup or quorum)",
                share.set_id()
            ))
        } else if !custody::verify_share(share.share(), commitments) {
            Some("does not match the recorded commitments (altered or damaged)".into())
        } else if let Some((earlier, _)) = good.iter().find(|(_, s)| s.index() == share.index()) {
            Some(format!(
                "index {} was already given by {}",
                share.index(),
                earlier.display()
            ))
        } else if let Some((earlier, _)) = good
            .iter()
            .find(|(_, s)| s.custodian() == share.custodian())
        {
            Some(format!(
                "custodian {:?} was already counted from {}",
                share.custodian(),
                earlier.display()
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => refused.push(refuse(Some(&share), reason)),
            None => good.push((input.file.clone(), share)),
        }
    }
    Judged { good, refused }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_argument_is_file_then_identity() {
        let s: ShareInput = "shares/01-a.age=/keys/a.txt".parse().expect("parses");
        assert_eq!(s.file, PathBuf::from("shares/01-a.age"));
        assert_eq!(s.identity, Some(PathBuf::from("/keys/a.txt")));
        let s: ShareInput = "shares/01-a.age".parse().expect("parses");
        assert_eq!(s.identity, None, "typed at the terminal");
        for bad in ["=id", "file=", ""] {
            let err = bad.parse::<ShareInput>().expect_err(bad);
            assert!(err.contains("SHARE_FILE=IDENTITY_FILE"), "{err}");
        }
    }
}
