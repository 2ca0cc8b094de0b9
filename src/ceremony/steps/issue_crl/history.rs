//! What the transcript says about one issuer's CRLs: the number of its
//! last, and the serials that CRL revokes. Read through the typed
//! `crl_issued` event, so an entry that does not read as one fails the read
//! instead of restarting the numbering.

use super::super::super::Reason;
use crate::events::Event;
use crate::transcript;

/// What the transcript says about an issuer's CRLs so far: the highest CRL
/// number, and the serials that CRL revoked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CrlHistory {
    /// The highest `crl_number` recorded (0 when none).
    pub last_number: u64,
    /// The serials (hex) and reasons in the CRL with that number.
    pub revoked: Vec<(String, String)>,
}

impl CrlHistory {
    /// Takes one event into account: a `crl_issued` of the same issuer,
    /// matched by key label or by the issuer certificate's SHA-256.
    pub fn observe(&mut self, event: &Event<'_>, key_label: &str, cert_sha256: &str) {
        let Event::CrlIssued {
            issuer_key_label,
            issuer_certificate_sha256,
            crl_number,
            revoked,
            ..
        } = event
        else {
            return;
        };
        let same = issuer_key_label == key_label || issuer_certificate_sha256 == cert_sha256;
        if !same || *crl_number < self.last_number {
            return;
        }
        self.last_number = *crl_number;
        self.revoked = revoked
            .iter()
            .map(|r| (r.serial.clone(), r.reason.to_string()))
            .collect();
    }

    /// Reads the transcript at `path`, verifying it, for the CRLs of the
    /// issuer with key `key_label` or certificate `cert_sha256`. A
    /// `crl_issued` entry that does not read as that event fails the read
    /// at that entry: it never restarts the numbering.
    pub fn read(
        path: &std::path::Path,
        key_label: &str,
        cert_sha256: &str,
    ) -> Result<CrlHistory, transcript::Error> {
        let mut history = CrlHistory::default();
        transcript::verify_file_with(path, |entry| {
            if entry.kind == "crl_issued" {
                let event: Event<'static> = entry.parse()?;
                history.observe(&event, key_label, cert_sha256);
            }
            Ok(())
        })?;
        Ok(history)
    }

    /// The next CRL number, or `None` if it would overflow.
    pub fn next_number(&self) -> Option<u64> {
        self.last_number.checked_add(1)
    }

    /// Serials the last CRL revoked that `listed` does not, as reasons to refuse.
    pub fn dropped<'a>(&self, listed: impl Iterator<Item = &'a str> + Clone) -> Vec<Reason> {
        self.revoked
            .iter()
            .filter(|(serial, _)| !listed.clone().any(|l| l == serial))
            .map(|(serial, reason)| Reason::WouldUnrevoke {
                serial: serial.clone(),
                reason: reason.clone(),
                crl_number: self.last_number,
            })
            .collect()
    }
}
