//! The workers and signing threads of a batch: workers build certificates
//! a chunk at a time, a signing thread per token session signs them, the
//! workers check the signatures and hand the chunk back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use super::super::super::super::Error;
use super::super::super::issuer::LoadedIssuer;
use super::super::{Approval, SignStep};
use super::BACKDATE;
use crate::bundle::request::RequestEntry;
use crate::profile::{IssuedProfile, Issuer};
use crate::token::{SigningSession, TokenKey};
use crate::x509::{self, Issued};

/// One approved request, ready for a worker.
pub(super) struct Job<'a> {
    pub(super) entry: &'a RequestEntry,
    pub(super) approval: &'a Approval,
    pub(super) serial: [u8; 16],
}

/// A request signed and checked by a worker, in the order it was taken.
pub(super) struct Done {
    pub(super) issued: Issued,
    pub(super) pem: String,
    pub(super) sans: Vec<String>,
}

/// What the workers of a batch share, read-only.
pub(super) struct Shared<'a> {
    pub(super) step: &'a SignStep,
    pub(super) issuers: &'a BTreeMap<Issuer, LoadedIssuer>,
    pub(super) now: SystemTime,
}

/// Requests a worker takes at a time: it builds them all, has its signing
/// thread sign them all, then checks them all and hands them on in one
/// message, so wake-ups are per chunk, not per certificate.
pub(super) const CHUNK: usize = 32;

/// A job's certificate, built and waiting for the token.
type Pending = x509::Unsigned<IssuedProfile>;

/// TBSCertificates for a signing thread to sign, in order, with the key of
/// each one's issuer, and where to send the signatures.
pub(super) struct SignRequest {
    pub(super) tbs: Vec<(Issuer, Vec<u8>)>,
    pub(super) reply: mpsc::SyncSender<Vec<Result<Vec<u8>, crate::token::Error>>>,
}

/// A signing thread: signs every request on `session` until the channel
/// closes. After a failure (or once `stop` is set) it signs nothing more;
/// a reply then ends with the failure, or stops short.
pub(super) fn sign_requests_on(
    session: &SigningSession,
    keys: &BTreeMap<Issuer, TokenKey>,
    requests: mpsc::Receiver<SignRequest>,
    stop: &AtomicBool,
) {
    for request in requests {
        let mut signatures = Vec::with_capacity(request.tbs.len());
        for (issuer, tbs) in &request.tbs {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let signature = keys[issuer].sign_on(session, tbs);
            let failed = signature.is_err();
            signatures.push(signature);
            if failed {
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        let _ = request.reply.send(signatures);
    }
}

/// Builds one certificate's TBSCertificate.
fn build_one(
    shared: &Shared<'_>,
    keys: &BTreeMap<Issuer, TokenKey>,
    job: &Job<'_>,
) -> Result<Pending, Error> {
    let Approval {
        profile, approved, ..
    } = job.approval;
    let what = format!("request {}", job.entry.id);
    let validity = x509::validity(
        &what,
        shared.now,
        BACKDATE,
        Duration::from_secs(u64::from(approved.days) * 86_400),
    )?;
    let issuer = &shared.issuers[&profile.issuer];
    let builder_profile =
        IssuedProfile::new(approved, &issuer.cert, &shared.step.policy.intermediate)?;
    let spki = x509::spki_from_der(&what, &job.approval.spki_der)?;
    Ok(x509::Unsigned::new(
        &what,
        builder_profile,
        x509::serial_from_random(&job.serial),
        validity,
        spki,
        &keys[&profile.issuer],
    )?)
}

/// Completes and checks one signed certificate.
fn finish_one(
    keys: &BTreeMap<Issuer, TokenKey>,
    job: &Job<'_>,
    pending: Pending,
    signature: Vec<u8>,
) -> Result<Done, Error> {
    let approved = &job.approval.approved;
    let issued = pending.finish(signature, &keys[&job.approval.profile.issuer])?;
    let pem = issued.pem()?;
    let sans = approved
        .dns
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(approved.ips.iter().map(|i| format!("IP:{i}")))
        .collect();
    Ok(Done { issued, pem, sans })
}

/// The results of a chunk, each at its offset in the chunk.
pub(super) type ChunkResults = Vec<(usize, Result<Done, Error>)>;

/// Builds a chunk of jobs, has `signer` sign them, and checks them. The
/// results stop at the first failure (which `stop` tells everyone); a
/// failure to build one means none of the chunk is signed.
pub(super) fn issue_chunk(
    shared: &Shared<'_>,
    keys: &BTreeMap<Issuer, TokenKey>,
    signer: &mpsc::SyncSender<SignRequest>,
    jobs: &[Job<'_>],
    stop: &AtomicBool,
) -> ChunkResults {
    let mut built = Vec::with_capacity(jobs.len());
    for (k, job) in jobs.iter().enumerate() {
        match build_one(shared, keys, job) {
            Ok(pending) => built.push(pending),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return vec![(k, Err(e))];
            }
        }
    }
    let tbs = jobs
        .iter()
        .zip(&built)
        .map(|(job, pending)| (job.approval.profile.issuer, pending.tbs().to_vec()))
        .collect();
    let (reply, signatures) = mpsc::sync_channel(1);
    let signatures = signer
        .send(SignRequest { tbs, reply })
        .ok()
        .and_then(|()| signatures.recv().ok());
    let Some(signatures) = signatures else {
        // Only a signing thread that panicked hangs up; that panic ends the run.
        stop.store(true, Ordering::Relaxed);
        return vec![(
            0,
            Err(Error::from(x509::Error::Sign {
                what: format!("request {}", jobs[0].entry.id),
                source: signature::Error::from_source("the signing thread ended"),
            })),
        )];
    };
    let mut results = Vec::with_capacity(jobs.len());
    for (k, ((job, pending), signature)) in jobs.iter().zip(built).zip(signatures).enumerate() {
        let result = match signature {
            Ok(signature) => finish_one(keys, job, pending, signature),
            Err(e) => Err(Error::from(x509::Error::Sign {
                what: format!("request {}", job.entry.id),
                source: signature::Error::from_source(e),
            })),
        };
        let failed = result.is_err();
        results.push((k, result));
        if failed {
            stop.store(true, Ordering::Relaxed);
            break;
        }
    }
    results
}

/// Lowers the calling thread's scheduling priority a little, so that when
/// the cores are busy the signing threads (and the token) come first.
pub(super) fn yield_to_signing() {
    if let Ok(nice) = rustix::process::getpriority_process(None) {
        let _ = rustix::process::setpriority_process(None, (nice + 5).min(19));
    }
}
