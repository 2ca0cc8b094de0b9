//! Witnessed steps: before a step the script marks `witnessed = true` runs,
//! each named witness types their name and the step's acknowledgement code.
//! Answers come from the terminal, or from a file for rehearsals and tests,
//! and the transcript says which. This module reads the answers and
//! matches them; the runner (`run/acknowledge.rs`) asks before each
//! witnessed step and records the outcome. A wrong answer, no answer, or
//! `abort` stops the ceremony before the step.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Where acknowledgements come from.
pub(super) struct Acknowledgements {
    source: Source,
}

enum Source {
    Terminal,
    File {
        path: PathBuf,
        lines: Option<std::io::Lines<BufReader<std::fs::File>>>,
    },
}

impl Acknowledgements {
    /// From `answers` (one answer per line, in prompt order) or the terminal.
    pub(super) fn new(answers: Option<&Path>) -> Acknowledgements {
        let source = match answers {
            Some(path) => Source::File {
                path: path.to_path_buf(),
                lines: None,
            },
            None => Source::Terminal,
        };
        Acknowledgements { source }
    }

    pub(super) fn source_name(&self) -> &'static str {
        match self.source {
            Source::Terminal => "terminal",
            Source::File { .. } => "answers-file",
        }
    }

    /// Asks for one answer; `Err` says why none could be had.
    pub(super) fn ask(&mut self, prompt: &str) -> Result<String, String> {
        match &mut self.source {
            Source::Terminal => {
                let tty = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/tty")
                    .map_err(|e| {
                        format!("no terminal to ask on ({e}); give --answers FILE for a rehearsal")
                    })?;
                let mut writer = &tty;
                let _ = write!(writer, "{prompt}");
                let _ = writer.flush();
                let mut line = String::new();
                BufReader::new(&tty)
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                Ok(line.trim().to_string())
            }
            Source::File { path, lines } => {
                if lines.is_none() {
                    let file = std::fs::File::open(&*path)
                        .map_err(|e| format!("answers file {}: {e}", path.display()))?;
                    *lines = Some(BufReader::new(file).lines());
                }
                match lines.as_mut().and_then(Iterator::next) {
                    Some(Ok(line)) => Ok(line.trim().to_string()),
                    Some(Err(e)) => Err(format!("answers file {}: {e}", path.display())),
                    None => Err(format!(
                        "answers file {} has no more answers",
                        path.display()
                    )),
                }
            }
        }
    }
}

/// Collapses runs of white space, so `Bob  Witness 1a2b3c4d` matches.
pub(super) fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
