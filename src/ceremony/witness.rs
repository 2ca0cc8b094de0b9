//! Witnessed steps: before a step the script marks `witnessed = true` runs,
//! each named witness types their name and the step's acknowledgement code.
//! Answers come from the terminal, or from a file for rehearsals and tests,
//! and the transcript says which. This module reads the answers and
//! matches them; the runner (`run/acknowledge.rs`) asks before each
//! witnessed step and records the outcome. A wrong line (a typo) may be
//! typed again, [`ATTEMPTS`] times in all for each witness and step (from
//! an answers file, the next line is the next attempt); the last wrong
//! line, no answer (end of input, no terminal) or `abort` stops the
//! ceremony before the step. What was wrong is said in words that never
//! quote the line typed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Lines each witness may type for one step: a typo is forgiven twice.
pub(super) const ATTEMPTS: u32 = 3;

/// What one answer line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// The witness's name and the step's code.
    Acknowledged,
    /// `abort` (any case): the ceremony stops at once.
    Abort,
    /// Anything else; the words say what did not match.
    Wrong(&'static str),
}

/// Judges `line` against `witness`'s acknowledgement of `code`: white
/// space runs are collapsed, nothing else is forgiven.
pub(super) fn judge(line: &str, witness: &str, code: &str) -> Answer {
    let line = normalise(line);
    let name = normalise(witness);
    if line == format!("{name} {code}") {
        return Answer::Acknowledged;
    }
    if line.eq_ignore_ascii_case("abort") {
        return Answer::Abort;
    }
    Answer::Wrong(if line.is_empty() {
        "the line was empty"
    } else if line
        .strip_suffix(code)
        .is_some_and(|rest| rest.ends_with(' '))
    {
        "the code matches but the name is not the witness's name as the script spells it"
    } else if line
        .strip_prefix(&name)
        .is_some_and(|rest| rest.starts_with(' '))
    {
        "the name matches but the code is not this step's code"
    } else {
        "neither the witness's name nor this step's code was typed as asked"
    })
}

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
                let read = BufReader::new(&tty)
                    .read_line(&mut line)
                    .map_err(|e| e.to_string())?;
                if read == 0 {
                    return Err("the terminal closed its input (end of file)".into());
                }
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

#[cfg(test)]
mod tests;
