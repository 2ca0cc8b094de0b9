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
        Command::Request(RequestCommand::Seal { manifest, out: bundle }) => {
            ceremony::requester::seal(&manifest, &bundle)
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
        }) => ceremony::bundle::output::open(&bundle, &identity, &dir)
            .map(|files| {
                for f in &files {
                    let _ = writeln!(out, "{}", dir.join(f).display());
                }
                let _ = writeln!(
                    out,
                    "opened {}: {} file(s), every checksum verified",
                    bundle.display(),
                    files.len()
                );
            })
            .map_err(Into::into),
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
