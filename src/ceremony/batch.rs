//! Running a `sign-requests` step against the token: check each issuing
//! key against its certificate, record every rejection, sign the approved
//! requests, verify every signature, and write one encrypted output bundle.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use cryptoki::session::Session;
use serde::Serialize;

use super::events::Event;
use super::plan::SignStep;
use super::run::Runner;
use super::script::OnRejection;
use super::sign::{
    self, Approval, CaEntry, IssuedEntry, LoadedIssuer, Prepared, RejectedEntry, OUTPUT_FORMAT,
};
use super::Error;
use crate::bundle::output::{self, OutputWriter};
use crate::bundle::request::RequestEntry;
use crate::fsutil;
use crate::profile::{IssuedProfile, Issuer};
use crate::token::{Token, TokenKey, TokenSigner};
use crate::x509::{self, Issued};

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

/// One approved request, ready for a worker.
struct Job<'a> {
    entry: &'a RequestEntry,
    approval: &'a Approval,
    serial: [u8; 16],
}

/// A request signed and checked by a worker, in the order it was taken.
struct Done {
    issued: Issued,
    pem: String,
    sans: Vec<String>,
}

/// The output bundle being written, and the manifest entries of what it holds.
struct Collected {
    bundle: OutputWriter,
    /// manifest.json's `issued` entries.
    entries: Spool,
    /// A certificate could not be added: the bundle is lost.
    failed: bool,
}

/// manifest.json's `issued` entries, one JSON line each, kept in a private
/// temporary file instead of memory until the manifest is written last
/// (a few hundred bytes a certificate: 50 MB for a batch of 100,000).
struct Spool {
    file: std::io::BufWriter<File>,
    count: usize,
}

impl Spool {
    fn new(output: &Path) -> Result<Spool, Error> {
        let dir = fsutil::parent_dir(output);
        let file = fsutil::private_file(&dir).map_err(|source| Error::Output {
            path: dir,
            action: "create a private temporary file",
            source,
        })?;
        Ok(Spool {
            file: std::io::BufWriter::new(file),
            count: 0,
        })
    }

    fn push(&mut self, line: &str) -> std::io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.count += 1;
        Ok(())
    }

    /// Flushes the lines to the file, for [`Spool::copy_to`].
    fn into_file(self) -> std::io::Result<(File, usize)> {
        let count = self.count;
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        Ok((file, count))
    }
}

/// Writes the spooled lines of `file` to `w`, as `issued`'s elements.
fn copy_entries(file: &File, w: &mut dyn Write) -> std::io::Result<()> {
    use std::io::{BufRead, Seek};
    let mut reader = std::io::BufReader::new(file);
    reader.seek(std::io::SeekFrom::Start(0))?;
    let mut line = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        w.write_all(if first { b"\n  " } else { b",\n  " })?;
        w.write_all(line.strip_suffix(b"\n").unwrap_or(&line))?;
        first = false;
    }
}

/// What the workers of a batch share, read-only.
struct Shared<'a> {
    step: &'a SignStep,
    issuers: &'a BTreeMap<Issuer, LoadedIssuer>,
    now: SystemTime,
}

/// Requests a worker takes at a time: it builds them all, has its signing
/// thread sign them all, then checks them all and hands them on in one
/// message, so wake-ups are per chunk, not per certificate.
const CHUNK: usize = 32;

/// A job's certificate, built and waiting for the token.
type Pending = x509::Unsigned<IssuedProfile>;

/// TBSCertificates for a signing thread to sign, in order, with the key of
/// each one's issuer, and where to send the signatures.
struct SignRequest {
    tbs: Vec<(Issuer, Vec<u8>)>,
    reply: mpsc::SyncSender<Vec<Result<Vec<u8>, crate::token::Error>>>,
}

/// A signing thread: signs every request on `session` until the channel
/// closes. After a failure (or once `stop` is set) it signs nothing more;
/// a reply then ends with the failure, or stops short.
fn sign_requests_on(
    session: &Session,
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
type ChunkResults = Vec<(usize, Result<Done, Error>)>;

/// Builds a chunk of jobs, has `signer` sign them, and checks them. The
/// results stop at the first failure (which `stop` tells everyone); a
/// failure to build one means none of the chunk is signed.
fn issue_chunk(
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
                reason: "the signing thread ended".into(),
            })),
        )];
    };
    let mut results = Vec::with_capacity(jobs.len());
    for (k, ((job, pending), signature)) in jobs.iter().zip(built).zip(signatures).enumerate() {
        let result = match signature {
            Ok(signature) => finish_one(keys, job, pending, signature),
            Err(e) => Err(Error::from(x509::Error::Sign {
                what: format!("request {}", job.entry.id),
                reason: e.to_string(),
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
fn yield_to_signing() {
    if let Ok(nice) = rustix::process::getpriority_process(None) {
        let _ = rustix::process::setpriority_process(None, (nice + 5).min(19));
    }
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

impl Runner<'_, '_> {
    pub(super) fn sign_requests(&mut self, token: &Token, step: &SignStep) -> Result<(), Error> {
        let now = SystemTime::now();
        let prepared = match sign::prepare(step, now) {
            Ok(p) => p,
            Err(Error::Refused { reasons, .. }) => return Err(self.refuse(Some(&step.id), reasons)),
            Err(e) => return Err(e),
        };
        self.record(&Event::RequestBundleVerified {
            step: &step.id,
            bundle: step.bundle.display().to_string(),
            sha256: &prepared.bundle_sha256,
            requests: prepared.entries.len(),
        })?;
        self.say(format_args!(
            "step {}: request bundle {} verified (sha256 {}, {} requests)",
            step.id,
            step.bundle.display(),
            prepared.bundle_sha256,
            prepared.entries.len()
        ));

        let mut signers = BTreeMap::new();
        for (issuer, loaded) in &prepared.issuers {
            let key =
                self.check_issuer(token, &step.id, issuer.name(), &loaded.spec, &loaded.cert)?;
            let hash = loaded.spec.hash.unwrap_or_default();
            signers.insert(*issuer, TokenSigner::new(token, &key, hash)?);
        }

        let mut reasons = Vec::new();
        let mut rejected = Vec::new();
        for (entry, r) in prepared.rejected() {
            self.record(&Event::RequestRejected {
                step: &step.id,
                request: &entry.id,
                profile: &entry.profile,
                rule: &r.rule,
            })?;
            self.say(format_args!(
                "step {}: rejected request {}: {}",
                step.id, entry.id, r.rule
            ));
            reasons.push(format!("request {}: {}", entry.id, r.rule));
            rejected.push(RejectedEntry {
                id: entry.id.clone(),
                profile: entry.profile.clone(),
                rule: r.rule.clone(),
            });
        }
        if !reasons.is_empty() && step.on_rejection == OnRejection::Stop {
            reasons.push("on_rejection = \"stop\": nothing in this step was signed".into());
            return Err(self.refuse(Some(&step.id), reasons));
        }

        // The bundle is written as certificates are issued; creating it
        // first means a name already taken fails the step before any signature.
        let bundle = self.create_output(step)?;
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
        let sessions = token.signing_sessions(self.sessions)?;
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
        let first_error = self.run_workers(&shared, &keys, sessions, &jobs, |runner, job, done| {
            runner.issued(step, &prepared, job, done, &mut out)?;
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
                issuer: issuer.name(),
                subject: loaded.cert.tbs_certificate().subject().to_string(),
                file: issuer.kubeadm_path().to_string(),
            });
        }
        let rejected_count = rejected.len();
        let head = ManifestHead {
            format: OUTPUT_FORMAT,
            ceremony: &self.plan.script.ceremony.name,
            step: &step.id,
            request_bundle_sha256: &prepared.bundle_sha256,
        };
        let finished = bundle.finish(|w| write_manifest(w, &head, &spool, &rejected, &ca))?;
        // Group commit: every certificate_issued entry reaches the disk
        // before the bundle holding those certificates takes its name.
        self.transcript.sync()?;
        let written = finished.place()?;
        self.record(&Event::OutputBundleWritten {
            step: &step.id,
            file: written.path.display().to_string(),
            checksum_file: written.checksum_path.display().to_string(),
            sha256: &written.sha256,
            certificates: issued_count,
            rejected: rejected_count,
            recipients: &step.recipients,
        })?;
        self.say(format_args!(
            "step {}: wrote {} ({} certificate(s), {} rejected, sha256 {})",
            step.id,
            written.path.display(),
            issued_count,
            rejected_count,
            written.sha256
        ));
        Ok(())
    }

    /// Opens the step's output bundle for writing (under a temporary name).
    fn create_output(&mut self, step: &SignStep) -> Result<OutputWriter, Error> {
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
        &mut self,
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
        self.transcript.append_unsynced(&Event::CertificateIssued {
            step: &step.id,
            request: Some(&entry.id),
            profile: Some(profile.name),
            sans: &sans,
            file: file.clone(),
            certificate: &issued,
        })?;
        self.certificates += 1;
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
    /// threads (one per core plus one per session, at a slightly lower
    /// priority than the signing threads) take [`CHUNK`] jobs at a time,
    /// build them, pass them to a signing thread, and check the signatures.
    fn run_workers<'j>(
        &mut self,
        shared: &Shared<'j>,
        keys: &BTreeMap<Issuer, TokenKey>,
        sessions: Vec<Session>,
        jobs: &'j [Job<'j>],
        mut each: impl FnMut(&mut Self, &Job<'j>, Done) -> Result<(), Error>,
    ) -> Option<Error> {
        if jobs.is_empty() {
            return None;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = (cores + sessions.len()).min(jobs.len().div_ceil(CHUNK));
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
            let mut hand_on = |start: usize, results: ChunkResults, this: &mut Self| {
                for (k, result) in results {
                    let i = start + k;
                    if let Err(e) = result.and_then(|done| each(this, &jobs[i], done)) {
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
                    hand_on(want, results, self);
                    want += CHUNK;
                }
            }
            // After a failure the chunks in flight finish past a gap.
            for (start, results) in pending {
                hand_on(start, results, self);
            }
        });
        first_error.map(|(_, e)| e)
    }
}

/// The fields of manifest.json before its lists.
#[derive(Serialize)]
struct ManifestHead<'a> {
    format: &'static str,
    ceremony: &'a str,
    step: &'a str,
    request_bundle_sha256: &'a str,
}

/// Writes an output bundle's manifest.json: the head's fields, then
/// `issued` (entries already encoded, one per line of the spool file),
/// `rejected` and `ca`.
fn write_manifest(
    w: &mut dyn Write,
    head: &ManifestHead<'_>,
    issued: &File,
    rejected: &[RejectedEntry],
    ca: &[CaEntry],
) -> std::io::Result<()> {
    let head = serde_json::to_string(head).map_err(std::io::Error::other)?;
    // `{...}` without its closing brace, then the lists.
    w.write_all(&head.as_bytes()[..head.len() - 1])?;
    w.write_all(b",\n\"issued\": [")?;
    copy_entries(issued, w)?;
    w.write_all(b"\n],\n\"rejected\": ")?;
    serde_json::to_writer(&mut *w, rejected).map_err(std::io::Error::other)?;
    w.write_all(b",\n\"ca\": ")?;
    serde_json::to_writer(&mut *w, ca).map_err(std::io::Error::other)?;
    w.write_all(b"\n}\n")
}
