//! Why a ceremony refuses: one [`Reason`] per problem, each naming its input
//! and rule. The transcript's `refused` entry and the error message carry
//! their text; the hints are chosen by kind, never by searching the text.

use std::fmt;
use std::path::PathBuf;

/// One reason a ceremony, or one of its steps, refuses to go on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// A key label the plan creates is in the token already.
    KeyLabelExists {
        /// The step that would create it.
        step: String,
        /// The label.
        label: String,
        /// The token's label.
        token: String,
    },
    /// A file the plan writes exists already.
    OutputExists {
        /// The file.
        path: PathBuf,
    },
    /// A new CRL would leave out a serial its issuer's last CRL revokes.
    WouldUnrevoke {
        /// The serial, hex.
        serial: String,
        /// Its revocation reason in the last CRL.
        reason: String,
        /// The number of the issuer's last CRL.
        crl_number: u64,
    },
    /// A request breaks a rule of its profile (under `on_rejection = "stop"`).
    Rejected {
        /// The request's id.
        request: String,
        /// The rule it breaks.
        rule: String,
    },
    /// One of a step's reasons, as the dry run lists it: `step ID: REASON`.
    InStep {
        /// The step's id.
        step: String,
        /// The reason.
        reason: Box<Reason>,
    },
    /// The token's user-PIN flags refuse a login before any PIN is asked
    /// for (locked, or to be changed).
    Pin {
        /// The token's label.
        token: String,
        /// Which flag refuses.
        refusal: crate::token::PinRefusal,
    },
    /// Any other rule, stated in full.
    Rule(String),
}

impl Reason {
    /// `reason` as one of step `step`'s.
    pub fn in_step(step: &str, reason: Reason) -> Reason {
        Reason::InStep {
            step: step.to_string(),
            reason: Box::new(reason),
        }
    }

    /// A likely fix, by kind.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Reason::KeyLabelExists { .. } | Reason::OutputExists { .. } => Some(
                "a ceremony never overwrites a key or a file: choose new labels and output paths, or move the old outputs away",
            ),
            Reason::WouldUnrevoke { .. } => Some(
                "a CRL lists every revoked certificate, not only new ones: add each serial of the issuer's last CRL as [[step.revoke]] serial = \"…\"",
            ),
            Reason::InStep { reason, .. } => reason.hint(),
            Reason::Pin { refusal, .. } => Some(refusal.hint()),
            Reason::Rejected { .. } | Reason::Rule(_) => None,
        }
    }
}

impl From<String> for Reason {
    fn from(rule: String) -> Reason {
        Reason::Rule(rule)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::KeyLabelExists { step, label, token } => write!(
                f,
                "step {step:?}: key label {label:?} already exists in token {token:?}"
            ),
            Reason::OutputExists { path } => {
                write!(f, "output {} already exists", path.display())
            }
            Reason::WouldUnrevoke {
                serial,
                reason,
                crl_number,
            } => write!(
                f,
                "serial {serial} ({reason}) is revoked by this issuer's CRL #{crl_number} but not listed here; a new CRL replaces the last one, so it would no longer be revoked"
            ),
            Reason::Rejected { request, rule } => write!(f, "request {request}: {rule}"),
            Reason::InStep { step, reason } => write!(f, "step {step}: {reason}"),
            Reason::Pin { token, refusal } => write!(f, "token {token:?}: {refusal}"),
            Reason::Rule(rule) => f.write_str(rule),
        }
    }
}

/// The reasons' text, joined with `; ` as the error message lists them.
pub(super) fn joined(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
