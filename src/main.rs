//! The `ceremony` binary: parse arguments, call the library, map errors to
//! an exit code (`exit_code`: the library has no codes) and a one-line
//! message (plus a hint line when there is one).

#![forbid(unsafe_code)]

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use ceremony::ceremony::RunOptions;
use ceremony::token::{inventory, PinSource, Token, TokenSelector};
use cli::{
    BundleCommand, CertsCommand, Cli, Command, InventoryArgs, PinArgs, RequestCommand,
    RotateCommand, TokenArgs, TranscriptCommand,
};

fn pin_source(args: PinArgs) -> PinSource {
    match (args.pin_file, args.pin_fd) {
        (Some(path), _) => PinSource::File(path),
        (None, Some(fd)) => PinSource::Fd(fd),
        (None, None) => PinSource::Prompt,
    }
}

/// Reads `--checkpoint` and `--audit-key` files.
#[allow(clippy::type_complexity)]
fn checkpoint_inputs<'a>(
    checkpoint: Option<&'a std::path::Path>,
    audit_key: Option<&'a std::path::Path>,
) -> Result<
    (
        Option<(&'a std::path::Path, ceremony::checkpoint::Checkpoint)>,
        Option<(&'a std::path::Path, Vec<u8>)>,
    ),
    ceremony::Error,
> {
    use ceremony::checkpoint::{self, Checkpoint};
    let key = match audit_key {
        Some(path) => Some((path, checkpoint::read_public_key(path)?)),
        None => None,
    };
    let cp = match checkpoint {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| checkpoint::Error::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            Some((path, Checkpoint::parse(path, &text)?))
        }
        None => None,
    };
    Ok((cp, key))
}

fn make_report(
    transcript: &std::path::Path,
    dir: &std::path::Path,
    checkpoint: Option<&std::path::Path>,
    audit_key: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> Result<(), ceremony::Error> {
    let (cp, key) = checkpoint_inputs(checkpoint, audit_key)?;
    let made = ceremony::report::make(
        transcript,
        dir,
        cp.as_ref().map(|(p, c)| (*p, c)),
        key.as_ref().map(|(p, k)| (*p, k.as_slice())),
    )?;
    let _ = writeln!(
        out,
        "wrote {} and {}",
        made.html.display(),
        made.markdown.display()
    );
    let _ = writeln!(out, "{}", made.verdict);
    if made.verified {
        Ok(())
    } else {
        Err(ceremony::Error::ReportFailed {
            verdict: made.verdict,
        })
    }
}

fn verify_transcript(
    file: &std::path::Path,
    checkpoint: Option<&std::path::Path>,
    audit_key: Option<&std::path::Path>,
    cosigners: Option<(&std::path::Path, u32)>,
    out: &mut dyn Write,
) -> Result<Option<ceremony::checkpoint::Uncovered>, ceremony::Error> {
    use ceremony::checkpoint;
    let (cp, key) = checkpoint_inputs(checkpoint, audit_key)?;
    let cp = cp.as_ref().map(|(p, c)| (*p, c));
    let signers = match cosigners {
        Some((path, _)) => Some(ceremony::sshsig::AllowedSigners::read(path).map_err(
            |reason| checkpoint::Error::Read {
                path: path.to_path_buf(),
                reason,
            },
        )?),
        None => None,
    };
    let cp_bytes = match (checkpoint, &signers) {
        (Some(path), Some(_)) => std::fs::read(path).map_err(|e| checkpoint::Error::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?,
        _ => Vec::new(),
    };
    let judge = match (signers.as_ref(), checkpoint, cosigners) {
        (Some(signers), Some(cp_path), Some((_, min))) => Some(checkpoint::Cosigners {
            signers,
            min: min as usize,
            checkpoint_bytes: &cp_bytes,
            checkpoint_path: cp_path,
            now: unix_now(),
        }),
        _ => None,
    };
    let verified = checkpoint::verify_with_cosigners(
        file,
        cp,
        key.as_ref().map(|(p, k)| (*p, k.as_slice())),
        judge.as_ref(),
    )?;
    let _ = write!(out, "{}", verified.render(file, audit_key, cp));
    Ok(verified.uncovered_error(file))
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The layouts `bundle open` was asked for: `--cert-manager` (each Secret
/// named by `--secret-name` or its request id) and `--istio`.
fn layouts(
    cert_manager: Vec<(String, std::path::PathBuf)>,
    secret_name: Option<String>,
    namespace: Option<String>,
    istio: Option<(String, std::path::PathBuf)>,
) -> Vec<ceremony::bundle::output::layouts::Layout> {
    use ceremony::bundle::output::layouts::{Layout, CERT_MANAGER_NAMESPACE};
    let namespace = namespace.unwrap_or_else(|| CERT_MANAGER_NAMESPACE.to_string());
    let mut layouts: Vec<Layout> = cert_manager
        .into_iter()
        .map(|(request, key)| Layout::CertManager {
            name: secret_name.clone().unwrap_or_else(|| request.clone()),
            namespace: namespace.clone(),
            request,
            key,
        })
        .collect();
    layouts.extend(istio.map(|(request, key)| Layout::Istio { request, key }));
    layouts
}

/// `bundle open`: checks the bundle against the pins and the audit key,
/// writes it, and says what was verified (and on stderr what was not).
#[allow(clippy::too_many_arguments)]
fn open_bundle(
    bundle: &std::path::Path,
    identity: &std::path::Path,
    cas: &[std::path::PathBuf],
    audit_key: Option<&std::path::Path>,
    dir: Option<std::path::PathBuf>,
    kubeadm: Option<std::path::PathBuf>,
    force: bool,
    layouts: Vec<ceremony::bundle::output::layouts::Layout>,
    out: &mut dyn Write,
) -> Result<(), ceremony::Error> {
    use ceremony::bundle::output::{self, AuditKey, Pins};
    let pins = Pins::read(cas)?;
    let key = audit_key.map(AuditKey::read).transpose()?;
    let (root, (trusted, files)) = match (kubeadm, dir) {
        (Some(tree), _) => {
            let opened = ceremony::kubeadm::open_into_tree(
                bundle,
                identity,
                &pins,
                key.as_ref(),
                &tree,
                force,
            )?;
            (tree, opened)
        }
        (None, Some(dir)) if layouts.is_empty() => {
            let opened = output::open(bundle, identity, &pins, key.as_ref(), &dir)?;
            (dir, opened)
        }
        (None, Some(dir)) => {
            let opened = output::layouts::open(
                bundle,
                identity,
                &pins,
                key.as_ref(),
                &dir,
                &layouts,
                ceremony::kubeadm::public_key_of,
            )?;
            (dir, opened)
        }
        (None, None) => unreachable!("clap requires --out or --kubeadm"),
    };
    for f in &files {
        let _ = writeln!(out, "{}", root.join(f).display());
    }
    let _ = writeln!(
        out,
        "opened {}: {} file(s) written",
        bundle.display(),
        files.len()
    );
    let _ = writeln!(out, "{}", trusted.summary());
    for w in trusted.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn selector(args: TokenArgs) -> TokenSelector {
    match args.uri {
        Some(uri) => uri,
        None => TokenSelector::new(args.label, args.serial)
            .expect("clap requires --token, --serial or --uri"),
    }
}

/// Lists the token; `Ok(Some(summary))` when an object is flagged.
fn inventory(args: InventoryArgs, out: &mut impl Write) -> Result<Option<String>, ceremony::Error> {
    let token = Token::open(&args.module, &selector(args.token))?;
    let pin = pin_source(args.pin).read(&token.identity().label)?;
    token.login(&pin)?;
    drop(pin);
    let objects = token.inventory()?;
    if args.json {
        let report = inventory::Report::new(token.identity(), &objects)
            .with_unreadable_slots(token.unreadable_slots());
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        let _ = writeln!(out, "{json}");
    } else {
        let text = inventory::render(token.identity(), token.unreadable_slots(), &objects);
        let _ = write!(out, "{text}");
    }
    Ok(inventory::flagged_summary(&objects)
        .map(|s| format!("token {}: {s}", token.identity().label)))
}

/// The process exit code of an error: 3 when a transcript does not verify,
/// 2 for input the tool refuses (a bad script, a conflict, a bundle or tree
/// that breaks a rule), 1 for everything else. (0 is success; [`main`]
/// itself returns 4 for a transcript with entries no checkpoint covers and
/// 2 for an inventory that flags an object.)
fn exit_code(e: &ceremony::Error) -> u8 {
    use ceremony::{checkpoint, expiry, transcript, Error};
    match e {
        Error::Transcript(transcript::Error::Invalid { .. })
        | Error::Ceremony(ceremony::ceremony::Error::Transcript(transcript::Error::Invalid {
            ..
        })) => 3,
        Error::Ceremony(e) if e.is_refusal() => 2,
        Error::Checkpoint(checkpoint::Error::Transcript(transcript::Error::Invalid { .. }))
        | Error::Checkpoint(checkpoint::Error::Mismatch { .. })
        | Error::Checkpoint(checkpoint::Error::BadSignature { .. })
        | Error::Checkpoint(checkpoint::Error::NoCheckpoint { .. })
        | Error::Checkpoint(checkpoint::Error::ForeignAuditKey { .. })
        | Error::Checkpoint(checkpoint::Error::TooFewCosigners { .. }) => 3,
        Error::Requester(_) | Error::Bundle(_) | Error::Kubeadm(_) => 2,
        Error::Rotation(ceremony::rotation::Error::Refused { .. }) => 2,
        Error::Expiry(expiry::Error::NotADirectory { .. }) => 2,
        Error::ReportFailed { .. } => 3,
        _ => 1,
    }
}

fn main() -> ExitCode {
    // A PIN may be in memory later: no core file may ever hold it.
    if let Err(e) = ceremony::safety::no_core_dumps() {
        eprintln!("warning: cannot turn core dumps off: {e}");
    }
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result: Result<(), ceremony::Error> = match cli.command {
        Command::Inventory(args) => match inventory(args, &mut out) {
            Ok(None) => Ok(()),
            Ok(Some(flagged)) => {
                let _ = out.flush();
                eprintln!("error: {flagged}");
                eprintln!("hint: a CA key must be generated in the token by a ceremony; an imported, extractable or wrapping key does not belong in a CA token");
                return ExitCode::from(2);
            }
            Err(e) => Err(e),
        },
        Command::Run(args) => {
            let opts = RunOptions {
                pin: pin_source(args.pin),
                dry_run: args.dry_run,
                answers: args.answers,
                sessions: args.sessions.map(usize::from),
                approvals: args.approvals,
                so_pin: match (args.so_pin.so_pin_file, args.so_pin.so_pin_fd) {
                    (Some(file), _) => PinSource::File(file),
                    (None, Some(fd)) => PinSource::Fd(fd),
                    (None, None) => PinSource::Prompt,
                },
                shares: args.shares,
                pin_shares: args.pin_shares,
            };
            ceremony::ceremony::run(&args.script, &opts, &mut out)
                .map(drop)
                .map_err(Into::into)
        }
        Command::Transcript(TranscriptCommand::Verify {
            file,
            checkpoint,
            audit_key,
            cosigners,
            min_cosigners,
        }) => match verify_transcript(
            &file,
            checkpoint.as_deref(),
            audit_key.as_deref(),
            cosigners.as_deref().map(|c| (c, min_cosigners.unwrap_or(1))),
            &mut out,
        ) {
            Ok(None) => Ok(()),
            Ok(Some(uncovered)) => {
                let _ = out.flush();
                eprintln!("error: {}", uncovered.message);
                eprintln!("hint: {}", uncovered.hint);
                return ExitCode::from(4);
            }
            Err(e) => Err(e),
        },
        Command::Transcript(TranscriptCommand::Checkpoint(args)) => (|| {
            let cli::CheckpointArgs {
                file,
                module,
                token,
                pin,
                key_label,
                origin,
                out: cp_out,
            } = *args;
            let token = Token::open(&module, &selector(token))?;
            let pin = pin_source(pin).read(&token.identity().label)?;
            token.login(&pin)?;
            drop(pin);
            let cp = ceremony::ceremony::checkpoint_now(
                &file,
                &token,
                &key_label,
                origin.as_deref(),
                &cp_out,
            )?;
            let _ = writeln!(
                out,
                "transcript {}: checkpoint of {} entries (head {}) signed by {key_label:?}, appended, written to {}",
                file.display(),
                cp.entries,
                cp.head,
                cp_out.display()
            );
            Ok::<(), ceremony::Error>(())
        })(),
        Command::Transcript(TranscriptCommand::Cosign {
            file,
            checkpoint,
            cosigners,
            signatures,
        }) => ceremony::ceremony::cosign(&file, &checkpoint, &cosigners, &signatures, unix_now())
            .map(|done| {
                for c in &done {
                    let _ = match (c.seq, c.already) {
                        (Some(seq), _) => writeln!(
                            out,
                            "cosigned by {} ({}), {}: recorded as entry {seq}",
                            c.principal,
                            c.fingerprint,
                            c.file.display()
                        ),
                        (None, already) => writeln!(
                            out,
                            "cosigned by {} ({}), {}: already recorded at entry {}, not recorded again",
                            c.principal,
                            c.fingerprint,
                            c.file.display(),
                            already.unwrap_or_default()
                        ),
                    };
                }
                let _ = writeln!(
                    out,
                    "transcript {}: checkpoint {} cosigned by {} signer(s)",
                    file.display(),
                    checkpoint.display(),
                    done.len()
                );
            })
            .map_err(Into::into),
        Command::Transcript(TranscriptCommand::Note { file, text, author }) => {
            ceremony::ceremony::note(&file, &author, &text)
                .map(|seq| {
                    let _ = writeln!(
                        out,
                        "transcript {}: note recorded as entry {seq}",
                        file.display()
                    );
                })
                .map_err(Into::into)
        }
        Command::Report {
            transcript,
            out: dir,
            checkpoint,
            audit_key,
        } => make_report(
            &transcript,
            &dir,
            checkpoint.as_deref(),
            audit_key.as_deref(),
            &mut out,
        ),
        Command::Certs(CertsCommand::CheckExpiration {
            dir,
            json,
            warn_within,
        }) => {
            ceremony::expiry::scan(&dir, std::time::SystemTime::now(), warn_within)
                .and_then(|report| {
                    let text = if json {
                        report.to_json()
                    } else {
                        report.render_table()
                    };
                    let _ = write!(out, "{text}");
                    for p in &report.problems {
                        eprintln!("error: {p}");
                    }
                    for line in report.outliving() {
                        eprintln!("error: {line}");
                    }
                    report.ensure_complete(&dir)
                })
                .map_err(Into::into)
        }
        Command::Rotate(RotateCommand::Plan {
            current,
            new,
            kubeadm,
            out: dir,
            new_key_labels,
        }) => ceremony::rotation::plan(
            &ceremony::rotation::Request {
                current,
                new,
                kubeadm,
                out: dir,
                new_key_labels,
            },
            std::time::SystemTime::now(),
        )
        .map(|written| {
            let _ = writeln!(
                out,
                "wrote the rotation plan to {} ({} files): {}",
                written.out.display(),
                written.files.len(),
                ceremony::rotation::PHASES.join(", ")
            );
            if !written.phase3_pending.is_empty() {
                let _ = writeln!(
                    out,
                    "note: {} hold client certificates from the current root: phase 3 has none of them; run the plan again after phase 2 (see phase-2-new-leaves/CHECKLIST.md)",
                    written.phase3_pending.join(", ")
                );
            }
        })
        .map_err(Into::into),
        Command::Request(RequestCommand::Seal {
            manifest,
            kubeadm,
            maps,
            out: bundle,
        }) => {
            let sealed = match (kubeadm, manifest) {
                (Some(dir), _) => ceremony::requester::seal_kubeadm(&dir, &maps, &bundle),
                (None, Some(manifest)) => ceremony::requester::seal(&manifest, &bundle),
                (None, None) => unreachable!("clap requires a manifest or --kubeadm"),
            };
            sealed
                .map(|sealed| {
                    for w in &sealed.warnings {
                        eprintln!("warning: {w}");
                    }
                    let _ = writeln!(
                        out,
                        "sealed {} request(s) into {}\nsha256 {}",
                        sealed.requests,
                        bundle.display(),
                        sealed.sha256
                    );
                })
                .map_err(Into::into)
        }
        Command::Bundle(BundleCommand::Open {
            bundle,
            identity,
            cas,
            audit_key,
            out: dir,
            kubeadm,
            force,
            cert_manager,
            secret_name,
            namespace,
            istio,
        }) => open_bundle(
            &bundle,
            &identity,
            &cas,
            audit_key.as_deref(),
            dir,
            kubeadm,
            force,
            layouts(cert_manager, secret_name, namespace, istio),
            &mut out,
        ),
    };
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}
