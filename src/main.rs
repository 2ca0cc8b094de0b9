//! The `ceremony` binary: parse arguments, call the library, map errors to
//! an exit code and a one-line message (plus a hint line when there is one).

#![forbid(unsafe_code)]

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use ceremony::ceremony::RunOptions;
use ceremony::token::PinSource;
use cli::{BundleCommand, Cli, Command, PinArgs, RequestCommand, TranscriptCommand};

fn pin_source(args: PinArgs) -> PinSource {
    match (args.pin_file, args.pin_fd) {
        (Some(path), _) => PinSource::File(path),
        (None, Some(fd)) => PinSource::Fd(fd),
        (None, None) => PinSource::Prompt,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result: Result<(), ceremony::Error> = match cli.command {
        Command::Run(args) => {
            let opts = RunOptions {
                pin: pin_source(args.pin),
                dry_run: args.dry_run,
            };
            ceremony::ceremony::run(&args.script, &opts, &mut out)
                .map(drop)
                .map_err(Into::into)
        }
        Command::Transcript(TranscriptCommand::Verify { file }) => {
            ceremony::transcript::verify_file(&file)
                .map(|s| {
                    let _ = writeln!(
                        out,
                        "transcript {}: intact, {} entries, head {}",
                        file.display(),
                        s.entries,
                        s.head
                    );
                    if s.entries > 0 && s.last_event.as_deref() != Some("ceremony_end") {
                        let _ = writeln!(
                            out,
                            "note: the last entry is not a ceremony_end: a ceremony was interrupted, or entries were cut from the end (the hash chain alone cannot tell)"
                        );
                    }
                })
                .map_err(Into::into)
        }
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
            out: dir,
            kubeadm,
            force,
        }) => {
            let (root, files) = match (kubeadm, dir) {
                (Some(tree), _) => {
                    let files = ceremony::kubeadm::open_into_tree(&bundle, &identity, &tree, force);
                    (tree, files.map_err(ceremony::Error::from))
                }
                (None, Some(dir)) => {
                    let files = ceremony::bundle::output::open(&bundle, &identity, &dir);
                    (dir, files.map_err(ceremony::Error::from))
                }
                (None, None) => unreachable!("clap requires --out or --kubeadm"),
            };
            files.map(|files| {
                for f in &files {
                    let _ = writeln!(out, "{}", root.join(f).display());
                }
                let _ = writeln!(
                    out,
                    "opened {}: {} file(s) written, every checksum verified",
                    bundle.display(),
                    files.len()
                );
            })
        }
    };
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
