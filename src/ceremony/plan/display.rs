//! The plan as text: the ceremony, the token and the people, then every
//! step with what it will create, sign and write (each step's own text, its
//! `Display`), as `--dry-run` prints it.
//!
//! A step's text is also what its witness acknowledgement code is computed
//! over ([`Plan::step_digest`]), so changing the wording of a step changes
//! its code.

use std::fmt;

use super::Plan;

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.script;
        writeln!(
            f,
            "ceremony {:?}: {}",
            s.ceremony.name, s.ceremony.description
        )?;
        writeln!(
            f,
            "  script      {} (sha256 {})",
            self.script_path.display(),
            self.script_sha256
        )?;
        writeln!(f, "  module      {}", self.module.display())?;
        writeln!(f, "  token       {}", self.selector)?;
        writeln!(f, "  operator    {}", s.participants.operator)?;
        if !s.participants.witnesses.is_empty() {
            writeln!(f, "  witnesses   {}", s.participants.witnesses.join(", "))?;
        }
        writeln!(f, "  transcript  {} (append)", self.transcript.display())?;
        writeln!(f, "  output dir  {}", s.output.directory.display())?;
        let n = self.steps.len();
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "step {}/{n} {}: {}{}",
                i + 1,
                step.id(),
                step.action(),
                if self.witnessed[i] {
                    format!(" (witnessed: acknowledgement code {})", self.step_digest(i))
                } else {
                    String::new()
                }
            )?;
            write!(f, "{step}")?;
        }
        Ok(())
    }
}
