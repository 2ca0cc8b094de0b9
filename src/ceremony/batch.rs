//! Running a `sign-requests` step against the token: check each issuing
//! key against its certificate, record every rejection, sign the approved
//! requests, verify every signature, and write one encrypted output bundle.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use super::events::Event;
use super::plan::SignStep;
use super::run::Runner;
use super::script::OnRejection;
use super::sign::{self, CaEntry, IssuedEntry, OutputManifest, RejectedEntry, OUTPUT_FORMAT};
use super::Error;
use crate::bundle::output::{self, OutputFile};
use crate::fsutil;
use crate::profile::{IssuedProfile, Issuer};
use crate::token::{KeyRecord, Token, TokenSigner};
use crate::x509;

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

impl Runner<'_, '_> {
    pub(super) fn sign_requests(&mut self, token: &Token, step: &SignStep) -> Result<(), Error> {
        let now = SystemTime::now();
        let (_bundle, prepared) = match sign::prepare(step, now) {
            Ok(p) => p,
            Err(Error::Refused { reasons, .. }) => return Err(self.refuse(Some(&step.id), reasons)),
            Err(e) => return Err(e),
        };
        self.record(&Event::RequestBundleVerified {
            step: &step.id,
            bundle: step.bundle.display().to_string(),
            sha256: &prepared.bundle_sha256,
            requests: prepared.requests.len(),
        })?;
        self.say(format_args!(
            "step {}: request bundle {} verified (sha256 {}, {} requests)",
            step.id,
            step.bundle.display(),
            prepared.bundle_sha256,
            prepared.requests.len()
        ));

        let mut keys: BTreeMap<Issuer, KeyRecord> = BTreeMap::new();
        for (issuer, loaded) in &prepared.issuers {
            let key =
                self.check_issuer(token, &step.id, issuer.name(), &loaded.spec, &loaded.cert)?;
            keys.insert(*issuer, key);
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

        let approved: Vec<_> = prepared
            .requests
            .iter()
            .filter_map(|j| j.verdict.as_ref().ok().map(|v| (&j.entry, v)))
            .collect();
        let mut progress = Progress::new(approved.len());
        let mut files = Vec::new();
        let mut issued_entries = Vec::new();
        for (entry, (profile, csr, approval)) in approved {
            let issuer = &prepared.issuers[&profile.issuer];
            let key = &keys[&profile.issuer];
            let signer = TokenSigner::new(token, key, issuer.spec.hash.unwrap_or_default())?;
            let what = format!("request {}", entry.id);
            let validity = x509::validity(
                &what,
                now,
                BACKDATE,
                Duration::from_secs(u64::from(approval.days) * 86_400),
            )?;
            let builder_profile =
                IssuedProfile::new(approval, &issuer.cert, &step.policy.intermediate)?;
            let spki = x509::spki_from_der(&what, &csr.spki_der)?;
            let issued = x509::issue(
                &what,
                builder_profile,
                x509::serial_from_random(&token.random16()?),
                validity,
                spki,
                &signer,
            )?;
            let sans: Vec<String> = approval
                .dns
                .iter()
                .map(|d| format!("DNS:{d}"))
                .chain(approval.ips.iter().map(|i| format!("IP:{i}")))
                .collect();
            let file = format!("certs/{}.crt", entry.id);
            self.record(&Event::CertificateIssued {
                step: &step.id,
                request: Some(&entry.id),
                profile: Some(profile.name),
                sans: &sans,
                file: file.clone(),
                certificate: &issued,
            })?;
            let pem = issued.pem()?;
            if approval.ca_path_len.is_some() {
                files.push(OutputFile {
                    path: format!("certs/{}.chain.crt", entry.id),
                    bytes: format!("{pem}{}", issuer.pem).into_bytes(),
                });
            }
            if let Some(path) = &entry.kubeadm_path {
                files.push(OutputFile {
                    path: path.clone(),
                    bytes: pem.clone().into_bytes(),
                });
            }
            files.push(OutputFile {
                path: file.clone(),
                bytes: pem.into_bytes(),
            });
            issued_entries.push(IssuedEntry {
                id: entry.id.clone(),
                profile: profile.name.to_string(),
                serial: issued.serial.clone(),
                subject: issued.subject.clone(),
                issuer: issued.issuer.clone(),
                sans,
                not_before: issued.not_before.clone(),
                not_after: issued.not_after.clone(),
                sha256: issued.sha256.clone(),
                file,
                kubeadm_path: entry.kubeadm_path.clone(),
                kubeconfig: entry.kubeconfig.clone(),
            });
            self.certificates += 1;
            progress.tick();
        }

        let mut ca = Vec::new();
        for (issuer, loaded) in &prepared.issuers {
            files.push(OutputFile {
                path: issuer.kubeadm_path().to_string(),
                bytes: loaded.pem.clone().into_bytes(),
            });
            ca.push(CaEntry {
                issuer: issuer.name(),
                subject: loaded.cert.tbs_certificate().subject().to_string(),
                file: issuer.kubeadm_path().to_string(),
            });
        }
        let issued_count = issued_entries.len();
        let rejected_count = rejected.len();
        let manifest = OutputManifest {
            format: OUTPUT_FORMAT,
            ceremony: &self.plan.script.ceremony.name,
            step: &step.id,
            request_bundle_sha256: &prepared.bundle_sha256,
            issued: issued_entries,
            rejected,
            ca,
        };
        let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Output {
            path: step.output.clone(),
            action: "encode manifest.json",
            source: std::io::Error::other(e),
        })?;
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
        let written = output::write(&dir, name, &manifest_json, &files, &recipients)?;
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
}
