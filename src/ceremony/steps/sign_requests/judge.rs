//! The `sign-requests` step before the token is touched: open the pinned
//! request bundle, load the issuing CA certificates, verify every CSR and
//! judge it against its profile, then reject requests that cannot all be
//! signed (the same public key twice, outputs that land on one path; see
//! `clash`). The dry run prints this; the runner signs exactly the approved
//! requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use super::super::super::{Error, Reason};
use super::super::issuer::{load_issuer, LoadedIssuer};
use super::SignStep;
use crate::bundle::request::{RequestBundle, RequestEntry};
use crate::profile::{self, Approved, Issuer, Profile, Rejection, RequestParams};
use crate::x509::{parse_csr, Csr};

mod clash;

pub use crate::bundle::output::manifest::{
    CaEntry, IssuedEntry, RejectedEntry, FORMAT as OUTPUT_FORMAT,
};

/// What signing an approved request needs, and no more: the CSR itself is
/// dropped once judged, so a batch of 100,000 stays small in memory.
#[derive(Debug)]
pub struct Approval {
    /// The profile it is signed under.
    pub profile: &'static Profile,
    /// The CSR's SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// The certificate's contents.
    pub approved: Approved,
}

/// A signing step, checked and judged, ready for the token.
#[derive(Debug)]
pub struct Prepared {
    /// The bundle's verified SHA-256.
    pub bundle_sha256: String,
    /// The CAs, by role.
    pub issuers: BTreeMap<Issuer, LoadedIssuer>,
    /// Every request, in manifest order.
    pub entries: Vec<RequestEntry>,
    /// The verdict on each of `entries`, at the same index: the approved
    /// contents and profile, or the rule it breaks. (Two vectors, not one of
    /// pairs, so that none is rebuilt in memory once judged.)
    pub verdicts: Vec<Result<Approval, Rejection>>,
}

impl Prepared {
    /// Every request with its verdict, in manifest order.
    pub fn requests(&self) -> impl Iterator<Item = (&RequestEntry, &Result<Approval, Rejection>)> {
        self.entries.iter().zip(&self.verdicts)
    }

    /// The approved requests, in manifest order.
    pub fn approved(&self) -> impl Iterator<Item = (&RequestEntry, &Approval)> {
        self.requests()
            .filter_map(|(entry, verdict)| verdict.as_ref().ok().map(|a| (entry, a)))
    }

    /// The rejected requests.
    pub fn rejected(&self) -> impl Iterator<Item = (&RequestEntry, &Rejection)> {
        self.requests()
            .filter_map(|(entry, verdict)| verdict.as_ref().err().map(|r| (entry, r)))
    }
}

fn refused(step: &SignStep, reason: String) -> Error {
    Error::Refused {
        ceremony: format!("step {}", step.id),
        reasons: vec![Reason::Rule(reason)],
    }
}

/// Opens the bundle (digest first), loads the issuers and judges every request.
/// `now` is the time certificates will start from.
///
/// Requests are judged on every core at once (verifying a CSR's signature
/// is most of the work), and all of them before anything is signed, so that
/// `on_rejection = "stop"` can refuse the step with nothing signed.
pub fn prepare(step: &SignStep, now: SystemTime) -> Result<Prepared, Error> {
    let mut bundle = RequestBundle::open(&step.bundle, &step.bundle_sha256)
        .map_err(|e| refused(step, e.to_string()))?;
    let mut issuers = BTreeMap::new();
    for (issuer, spec) in &step.issuers {
        let loaded = load_issuer(issuer.name(), spec).map_err(|e| refused(step, e))?;
        issuers.insert(*issuer, loaded);
    }
    let (keys, mut verdicts) = judge_all(step, &bundle, &issuers, now);
    let entries = std::mem::take(&mut bundle.manifest.requests);
    let bundle_sha256 = bundle.sha256.clone();
    drop(bundle);
    clash::same_keys(&entries, &keys, &mut verdicts);
    drop(keys);
    clash::output_paths(&entries, &mut verdicts, |a: &Approval| {
        a.approved.ca_path_len.is_some()
    });
    Ok(Prepared {
        bundle_sha256,
        issuers,
        entries,
        verdicts,
    })
}

/// A judged request: the identity of its CSR's public key (when the CSR
/// parsed; see `clash::key_identity`), and the verdict.
type Judged = (Option<[u8; 32]>, Verdict);

/// What the judge decided for one request.
type Verdict = Result<Approval, Rejection>;

/// Judges every request of the bundle, in manifest order, split across the
/// cores; returns the public-key digests and the verdicts, at the same index.
fn judge_all(
    step: &SignStep,
    bundle: &RequestBundle,
    issuers: &BTreeMap<Issuer, LoadedIssuer>,
    now: SystemTime,
) -> (Vec<Option<[u8; 32]>>, Vec<Verdict>) {
    /// Requests a thread takes at a time: small enough that the threads
    /// finish together even when one core is slower or shared.
    const TAKE: usize = 64;
    let entries = &bundle.manifest.requests;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(entries.len().div_ceil(TAKE))
        .max(1);
    let next = AtomicUsize::new(0);
    let mut parts: Vec<(usize, Vec<Judged>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(TAKE, Ordering::Relaxed);
                        let Some(part) = entries.get(start..(start + TAKE).min(entries.len()))
                        else {
                            break;
                        };
                        if part.is_empty() {
                            break;
                        }
                        let verdicts = part
                            .iter()
                            .map(|entry| judge(step, bundle, entry, issuers, now))
                            .collect();
                        done.push((start, verdicts));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    // Moved part by part, in manifest order, into one vector sized once.
    parts.sort_unstable_by_key(|(start, _)| *start);
    let mut keys = Vec::with_capacity(entries.len());
    let mut verdicts = Vec::with_capacity(entries.len());
    for (_, part) in parts {
        for (key, verdict) in part {
            keys.push(key);
            verdicts.push(verdict);
        }
    }
    (keys, verdicts)
}

fn judge(
    step: &SignStep,
    bundle: &RequestBundle,
    entry: &RequestEntry,
    issuers: &BTreeMap<Issuer, LoadedIssuer>,
    now: SystemTime,
) -> Judged {
    let plain = |rule: String| Rejection { rule, hint: None };
    let csr = bundle
        .csr(entry)
        .map_err(|e| plain(e.to_string()))
        .and_then(|bytes| {
            parse_csr(&format!("CSR {}", entry.csr), &bytes).map_err(|e| plain(e.to_string()))
        });
    match csr {
        Ok(csr) => (
            clash::key_identity(&csr),
            judge_csr(step, entry, csr, issuers, now),
        ),
        Err(r) => (None, Err(r)),
    }
}

/// Judges one request whose CSR parsed and verified.
fn judge_csr(
    step: &SignStep,
    entry: &RequestEntry,
    csr: Csr,
    issuers: &BTreeMap<Issuer, LoadedIssuer>,
    now: SystemTime,
) -> Result<Approval, Rejection> {
    let plain = |rule: String| Rejection { rule, hint: None };
    let profile = profile::find(&entry.profile).ok_or_else(|| Rejection {
        rule: format!("unknown profile {:?}", entry.profile),
        hint: Some(format!("profiles: {}", profile::component::names())),
    })?;
    if let Some(path) = entry.kubeadm_path.as_deref() {
        profile::check_kubeadm_path(path).map_err(plain)?;
    }
    if let Some(conf) = entry.kubeconfig.as_deref() {
        profile::check_kubeconfig_name(conf).map_err(plain)?;
    }
    let params = RequestParams {
        node: entry.node.as_deref(),
        dns: &entry.dns,
        ips: &entry.ips,
        emails: &entry.emails,
        uris: &entry.uris,
        validity_days: entry.validity_days,
    };
    let approved = profile.check(&csr, &params, &step.policy)?;
    let issuer = issuers.get(&profile.issuer).ok_or_else(|| Rejection {
        rule: format!(
            "profile {} is issued by the {} CA, which this step does not name",
            profile.name,
            profile.issuer.name()
        ),
        hint: Some(format!(
            "add [step.issuers.{}] to the script",
            profile.issuer.name()
        )),
    })?;
    let not_after = now + Duration::from_secs(u64::from(approved.days) * 86_400);
    if not_after > issuer.not_after {
        return Err(plain(format!(
            "validity of {} days would end after the {} CA's notAfter",
            approved.days,
            profile.issuer.name()
        )));
    }
    Ok(Approval {
        profile,
        spki_der: csr.spki_der,
        approved,
    })
}

#[cfg(test)]
mod tests;
