//! Running a `sign-requests` step against the token: check each issuing
//! key against its certificate, record every rejection, sign the approved
//! requests, verify every signature, and write one encrypted output bundle.

mod manifest;
mod pipeline;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use manifest::{write_manifest, ManifestHead, Spool};
use pipeline::{
    issue_chunk, sign_requests_on, yield_to_signing, ChunkResults, Done, Job, Shared, SignRequest,
    CHUNK,
};

use super::super::super::step::Context;
use super::super::super::{Error, Reason};
use super::super::issuer::check_issuer;
use super::judge::{CaEntry, IssuedEntry, Prepared, RejectedEntry, OUTPUT_FORMAT};
use super::{OnRejection, SignStep};
use crate::bundle::output::{self, OutputWriter, SumsSigner};
use crate::events::Event;
use crate::fsutil;
use crate::profile::Issuer;
use crate::token::{KeyRecord, SigningSession, Token, TokenKey, TokenSigner};

/// The most rejections a step's `refused` entry (and error) lists one by
/// one: each is in its own `request_rejected` entry, and a `refused` entry
/// listing thousands would pass the transcript's line limit.
const MAX_LISTED_REJECTIONS: usize = 100;

/// notBefore is set this far before now, as kubeadm does.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Progress on stderr: a bar on a terminal, a few plain lines otherwise.
struct Progress {
    total: usize,
    done: usize,
    tty: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn tick(&mut self) {
        self.done += 1;
        let mut err = std::io::stderr().lock();
        if self.tty {
            let width = 30;
            let filled = self.done * width / self.total.max(1);
            let _ = write!(
                err,
                "\rsigning [{}{}] {}/{}",
                "=".repeat(filled),
                " ".repeat(width - filled),
                self.done,
                self.total
            );
            if self.done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let step = self.total.div_ceil(10).max(1);
            if self.done.is_multiple_of(step) || self.done == self.total {
                let _ = writeln!(err, "signed {}/{}", self.done, self.total);
            }
        }
    }
}

/// The output bundle being written, and the manifest entries of what it holds.
struct Collected {
    bundle: OutputWriter,
    /// manifest.json's `issued` entries.
    entries: Spool,
    /// A certificate could not be added: the bundle is lost.
    failed: bool,
}

/// Serials for `count` certificates from the token's RNG, fetched in a few
/// large calls instead of one per certificate.
fn serials(token: &Token, count: usize) -> Result<Vec<[u8; 16]>, Error> {
    const PER_CALL: usize = 4096;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let n = (count - out.len()).min(PER_CALL);
        let bytes = token.random(u32::try_from(n * 16).expect("at most 64 KiB"))?;
        out.extend(
            bytes
                .chunks_exact(16)
                .map(|c| <[u8; 16]>::try_from(c).expect("chunks of 16")),
        );
    }
    Ok(out)
}

/// Runs a judged `sign-requests` step: records the verified bundle and
/// every rejection, checks each issuer's key, signs the approved requests
/// with certificates starting at `now`, and writes the signed output bundle.
pub(super) fn sign(
    cx: &mut Context<'_>,
    step: &SignStep,
    prepared: &Prepared,
    now: SystemTime,
) -> Result<(), Error> {
    let token = cx.token();
    cx.record(&Event::RequestBundleVerified {
        step: Cow::Borrowed(&step.id),
        bundle: step.bundle.display().to_string(),
        sha256: Cow::Borrowed(&prepared.bundle_sha256),
        requests: prepared.entries.len(),
    })?;
    cx.say(format_args!(
        "step {}: request bundle {} verified (sha256 {}, {} requests)",
        step.id,
        step.bundle.display(),
        prepared.bundle_sha256,
        prepared.entries.len()
    ));

    // Every output bundle is signed with the audit key: without one the
    // step is refused before anything is signed.
    let audit_key = audit_key_for_bundles(cx)?;

    let mut signers = BTreeMap::new();
    for (issuer, loaded) in &prepared.issuers {
        let key = check_issuer(cx, issuer.name(), &loaded.spec, &loaded.cert)?;
        let hash = loaded.spec.hash.unwrap_or_default();
        signers.insert(*issuer, TokenSigner::new(token, &key, hash)?);
    }

    let mut reasons = Vec::new();
    let mut rejected = Vec::new();
    for (entry, r) in prepared.rejected() {
        cx.record(&Event::RequestRejected {
            step: Cow::Borrowed(&step.id),
            request: Cow::Borrowed(&entry.id),
            profile: Cow::Borrowed(&entry.profile),
            rule: Cow::Borrowed(&r.rule),
        })?;
        cx.say(format_args!(
            "step {}: rejected request {}: {}",
            step.id, entry.id, r.rule
        ));
        if reasons.len() < MAX_LISTED_REJECTIONS {
            reasons.push(Reason::Rejected {
                request: entry.id.clone(),
                rule: r.rule.clone(),
            });
        }
        rejected.push(RejectedEntry {
            id: entry.id.clone(),
            profile: entry.profile.clone(),
            rule: r.rule.clone(),
        });
    }
    if !reasons.is_empty() && step.on_rejection == OnRejection::Stop {
        if rejected.len() > reasons.len() {
            reasons.push(Reason::Rule(format!(
                "and {} more rejected request(s), each in its request_rejected entry",
                rejected.len() - reasons.len()
            )));
        }
        reasons.push(Reason::Rule(
            "on_rejection = \"stop\": nothing in this step was signed".into(),
        ));
        return Err(cx.refuse(reasons));
    }

    // The bundle is written as certificates are issued; creating it
    // first means a name already taken fails the step before any signature.
    let bundle = create_output(step)?;
    let approved: Vec<_> = prepared.approved().collect();
    let serials = serials(token, approved.len())?;
    let jobs: Vec<Job<'_>> = approved
        .into_iter()
        .zip(serials)
        .map(|((entry, approval), serial)| Job {
            entry,
            approval,
            serial,
        })
        .collect();
    let sessions = token.signing_sessions(cx.sessions(), jobs.len().div_ceil(CHUNK))?;
    if !jobs.is_empty() {
        cx.record(&Event::SigningSessions {
            step: Cow::Borrowed(&step.id),
            asked: sessions.asked,
            opened: sessions.sessions.len(),
            token_max: sessions.limits.max_sessions,
            reason: Cow::Owned(sessions.reason()),
        })?;
        if let Some(rv) = sessions.stopped_by {
            cx.say(format_args!(
                "step {}: the token answered {rv} after {} signing session(s); the batch signs on those",
                step.id,
                sessions.sessions.len()
            ));
        }
    }
    let keys: BTreeMap<Issuer, TokenKey> = signers
        .iter()
        .map(|(issuer, signer)| (*issuer, signer.key().clone()))
        .collect();
    let shared = Shared {
        step,
        issuers: &prepared.issuers,
        now,
    };
    let mut out = Collected {
        bundle,
        entries: Spool::new(&step.output)?,
        failed: false,
    };
    let mut progress = Progress::new(jobs.len());
    let first_error = run_workers(&shared, &keys, sessions.sessions, &jobs, |job, done| {
        issued(cx, step, prepared, job, done, &mut out)?;
        progress.tick();
        Ok(())
    });
    if let Some(e) = first_error {
        // The entries of every certificate signed are in the transcript;
        // the bundle (its temporary file) goes with `out`.
        return Err(e);
    }

    let Collected {
        mut bundle,
        entries,
        ..
    } = out;
    let spool_err = |source| Error::Output {
        path: step.output.clone(),
        action: "spool manifest.json",
        source,
    };
    let (spool, issued_count) = entries.into_file().map_err(spool_err)?;
    let mut ca = Vec::new();
    for (issuer, loaded) in &prepared.issuers {
        bundle.add(issuer.kubeadm_path(), loaded.pem.as_bytes())?;
        ca.push(CaEntry {
            issuer: issuer.name().to_string(),
            subject: loaded.cert.tbs_certificate().subject().to_string(),
            file: issuer.kubeadm_path().to_string(),
        });
    }
    let rejected_count = rejected.len();
    let head = ManifestHead {
        format: OUTPUT_FORMAT,
        ceremony: cx.ceremony(),
        step: &step.id,
        request_bundle_sha256: &prepared.bundle_sha256,
    };
    let sign_sums: SumsSigner<'_> = Box::new(|sums: &[u8]| {
        match crate::checkpoint::audit_sign(token, &audit_key, "SHA256SUMS", sums) {
            Ok((_, signature)) => Ok(signature),
            Err(crate::checkpoint::Error::BadSignature { reason, .. }) => {
                Err(format!("the audit key's signature does not verify: {reason}").into())
            }
            // The token's own error, as it was before, for its hints.
            Err(crate::checkpoint::Error::Token(e)) => Err(e.into()),
            Err(e) => Err(e.into()),
        }
    });
    let finished = bundle.finish_signed(
        |w| write_manifest(w, &head, &spool, &rejected, &ca),
        sign_sums,
    )?;
    // Group commit: every certificate_issued entry reaches the disk
    // before the bundle holding those certificates takes its name.
    cx.sync()?;
    let written = finished.place()?;
    cx.record(&Event::OutputBundleWritten {
        step: Cow::Borrowed(&step.id),
        file: written.path.display().to_string(),
        checksum_file: written.checksum_path.display().to_string(),
        sha256: Cow::Borrowed(&written.sha256),
        certificates: issued_count,
        rejected: rejected_count,
        recipients: Cow::Borrowed(&step.recipients),
        signature_key_sha256: Cow::Borrowed(&audit_key.spki_sha256),
    })?;
    cx.say(format_args!(
            "step {}: wrote {} ({} certificate(s), {} rejected, sha256 {}, SHA256SUMS signed by audit key {:?})",
            step.id,
            written.path.display(),
            issued_count,
            rejected_count,
            written.sha256,
            audit_key.label
        ));
    Ok(())
}

/// The audit key that signs the step's output bundle, or the step refused.
fn audit_key_for_bundles(cx: &mut Context<'_>) -> Result<KeyRecord, Error> {
    if let Some(key) = cx.audit_key()? {
        return Ok(key);
    }
    let reason = format!(
            "no audit key labelled {:?} in the token: every output bundle is signed with it (a generate-audit-key step makes one); nothing in this step was signed",
            cx.audit_key_label()
        );
    Err(cx.refuse(vec![Reason::Rule(reason)]))
}

/// Opens the step's output bundle for writing (under a temporary name).
fn create_output(step: &SignStep) -> Result<OutputWriter, Error> {
    let recipients: Vec<age::x25519::Recipient> = step
        .recipients
        .iter()
        .map(|r| output::parse_recipient(r))
        .collect::<Result<_, _>>()?;
    let dir = fsutil::parent_dir(&step.output);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Output {
        path: dir.clone(),
        action: "create directory",
        source,
    })?;
    let name = step
        .output
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tar.age"))
        .expect("the plan names outputs NAME.tar.age");
    Ok(OutputWriter::create(&dir, name, &recipients)?)
}

/// Records one issued certificate (without waiting for the disk: placing
/// the bundle syncs the batch) and adds it to the bundle.
fn issued(
    cx: &mut Context<'_>,
    step: &SignStep,
    prepared: &Prepared,
    job: &Job<'_>,
    done: Done,
    out: &mut Collected,
) -> Result<(), Error> {
    let Done { issued, pem, sans } = done;
    let entry = job.entry;
    let profile = job.approval.profile;
    let file = format!("certs/{}.crt", entry.id);
    cx.record_unsynced(&Event::CertificateIssued {
        step: Cow::Borrowed(&step.id),
        request: Some(Cow::Borrowed(&entry.id)),
        profile: Some(Cow::Borrowed(profile.name)),
        sans: Cow::Borrowed(&sans),
        file: file.clone(),
        certificate: Cow::Borrowed(&issued),
    })?;
    cx.tally().certificates += 1;
    if out.failed {
        // The bundle is lost already; the certificate is on record.
        return Ok(());
    }
    let listed = IssuedEntry {
        id: entry.id.clone(),
        profile: profile.name.to_string(),
        serial: issued.serial,
        subject: issued.subject,
        issuer: issued.issuer,
        sans,
        not_before: issued.not_before,
        not_after: issued.not_after,
        sha256: issued.sha256,
        file,
        kubeadm_path: entry.kubeadm_path.clone(),
        kubeconfig: entry.kubeconfig.clone(),
    };
    let added = (|| {
        if job.approval.approved.ca_path_len.is_some() {
            let issuer = &prepared.issuers[&profile.issuer];
            let chain = format!("{pem}{}", issuer.pem);
            out.bundle
                .add(&format!("certs/{}.chain.crt", entry.id), chain.as_bytes())?;
        }
        if let Some(path) = &entry.kubeadm_path {
            out.bundle.add(path, pem.as_bytes())?;
        }
        out.bundle.add(&listed.file, pem.as_bytes())?;
        let json = serde_json::to_string(&listed).map_err(|e| Error::Output {
            path: step.output.clone(),
            action: "encode manifest.json",
            source: std::io::Error::other(e),
        })?;
        out.entries.push(&json).map_err(|source| Error::Output {
            path: step.output.clone(),
            action: "spool manifest.json",
            source,
        })
    })();
    out.failed = added.is_err();
    added
}

/// Issues every job and hands each result to `each` on this thread, in
/// job order. Returns the first error (by job order); after one, no new
/// job starts, but every certificate already signed is still handed to
/// `each`, so the transcript holds all the token signed.
///
/// Each session gets a signing thread that does nothing but sign. Worker
/// threads (two per core plus one per session, at a slightly lower
/// priority than the signing threads) take [`CHUNK`] jobs at a time,
/// build them, pass them to a signing thread, and check the signatures.
/// A worker waits while its chunk is signed, so there are more workers
/// than cores: enough chunks are queued that a signing thread seldom
/// waits for one.
fn run_workers<'j>(
    shared: &Shared<'j>,
    keys: &BTreeMap<Issuer, TokenKey>,
    sessions: Vec<SigningSession>,
    jobs: &'j [Job<'j>],
    mut each: impl FnMut(&Job<'j>, Done) -> Result<(), Error>,
) -> Option<Error> {
    if jobs.is_empty() {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = (2 * cores + sessions.len()).min(jobs.len().div_ceil(CHUNK));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::sync_channel::<(usize, ChunkResults)>(workers * 2);
    let mut first_error: Option<(usize, Error)> = None;
    std::thread::scope(|s| {
        let signers: Vec<mpsc::SyncSender<SignRequest>> = sessions
            .into_iter()
            .map(|session| {
                let (to_signer, requests) = mpsc::sync_channel::<SignRequest>(workers);
                let stop = &stop;
                s.spawn(move || sign_requests_on(&session, keys, requests, stop));
                to_signer
            })
            .collect();
        for w in 0..workers {
            let signer = signers[w % signers.len()].clone();
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            s.spawn(move || {
                yield_to_signing();
                while !stop.load(Ordering::Relaxed) {
                    let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                    let end = (start + CHUNK).min(jobs.len());
                    let Some(chunk) = jobs.get(start..end).filter(|c| !c.is_empty()) else {
                        break;
                    };
                    let results = issue_chunk(shared, keys, &signer, chunk, stop);
                    if tx.send((start, results)).is_err() {
                        break;
                    }
                }
            });
        }
        // The signing threads end when the last worker drops its sender.
        drop(signers);
        drop(tx);
        // Chunks arrive in any order; hand their results on in job order.
        let mut pending: BTreeMap<usize, ChunkResults> = BTreeMap::new();
        let mut hand_on = |start: usize, results: ChunkResults| {
            for (k, result) in results {
                let i = start + k;
                if let Err(e) = result.and_then(|done| each(&jobs[i], done)) {
                    stop.store(true, Ordering::Relaxed);
                    if first_error.as_ref().is_none_or(|(at, _)| i < *at) {
                        first_error = Some((i, e));
                    }
                }
            }
        };
        let mut want = 0;
        for (start, results) in rx {
            pending.insert(start, results);
            while let Some(results) = pending.remove(&want) {
                hand_on(want, results);
                want += CHUNK;
            }
        }
        // After a failure the chunks in flight finish past a gap.
        for (start, results) in pending {
            hand_on(start, results);
        }
    });
    first_error.map(|(_, e)| e)
}
