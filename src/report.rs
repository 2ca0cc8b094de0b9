//! The ceremony report: a transcript rendered for people, as one
//! self-contained HTML page (no network resources, prints on paper) and the
//! same content as Markdown. The verification verdict at the top is
//! computed when the report is made; the content is read leniently, so a
//! tampered transcript still renders, under a FAILED verdict.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::checkpoint::{self, Checkpoint};
use crate::events::{Event, FileDigest};
use crate::fsutil;
use crate::token::TokenIdentity;

mod custody;
mod read;
mod tables;

use read::{collect, start, Ceremony};
use tables::tables;

/// One table of a ceremony: (title, header, rows).
pub(crate) type Table = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

/// Errors while making a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transcript could not be read.
    #[error("transcript {}: {reason}", path.display())]
    Read {
        /// The file concerned.
        path: PathBuf,
        /// Why, naming the rule broken.
        reason: String,
    },
    /// A report file could not be written.
    #[error("report {}: {reason}", path.display())]
    Write {
        /// The file concerned.
        path: PathBuf,
        /// Why, naming the rule broken.
        reason: String,
    },
}

/// What the report was made from, and the verdict.
#[derive(Debug)]
pub struct Made {
    /// The HTML file.
    pub html: PathBuf,
    /// The Markdown file.
    pub markdown: PathBuf,
    /// True when the transcript (and checkpoint, if given) verified.
    pub verified: bool,
    /// The verdict line.
    pub verdict: String,
}

/// Renders `transcript` into `out/report.html` and `out/report.md`.
/// `checkpoint` and `audit_key` feed the verdict as in `transcript verify`.
pub fn make(
    transcript: &Path,
    out: &Path,
    checkpoint: Option<(&Path, &Checkpoint)>,
    audit_key: Option<(&Path, &[u8])>,
) -> Result<Made, Error> {
    let (verified, verdict) = match checkpoint::verify(transcript, checkpoint, audit_key) {
        Ok(v) => (
            true,
            format!(
                "VERIFIED: {} entries, head {}; {} checkpoint(s) in the file{}{}; {}{}",
                v.summary.entries,
                v.summary.head,
                v.embedded,
                if v.signatures_checked {
                    ", every signature checked with the audit key"
                } else {
                    " (signatures not checked: no audit key given)"
                },
                match checkpoint {
                    Some((path, cp)) => format!(
                        "; holds exactly the {} entries of checkpoint {}",
                        cp.entries,
                        path.display()
                    ),
                    None => String::new(),
                },
                v.coverage(),
                match v.interrupted_total {
                    0 => String::new(),
                    n => format!(
                        "; {n} ceremony(ies) never ended, with {} certificate(s) signed and never delivered",
                        v.interrupted.iter().map(|c| c.undelivered).sum::<u64>()
                    ),
                }
            ),
        ),
        Err(e) => (false, format!("FAILED: {e}")),
    };
    let ceremonies = collect(transcript)?;
    let md = markdown(transcript, &verdict, &ceremonies);
    let html = html(transcript, verified, &verdict, &ceremonies);
    let write_err = |path: &Path, e: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(out).map_err(|e| write_err(out, e))?;
    let html_path = out.join("report.html");
    let md_path = out.join("report.md");
    fsutil::write_new(&html_path, html.as_bytes(), 0o644).map_err(|e| write_err(&html_path, e))?;
    fsutil::write_new(&md_path, md.as_bytes(), 0o644).map_err(|e| write_err(&md_path, e))?;
    Ok(Made {
        html: html_path,
        markdown: md_path,
        verified,
        verdict,
    })
}

fn summary(c: &Ceremony) -> Vec<(&'static str, String)> {
    let st = start(c);
    let mut v = vec![
        ("Started", c.time.clone()),
        (
            "Script",
            format!("{} (SHA-256 {})", st.script, st.script_sha256),
        ),
        ("Tool", format!("{} {}", st.tool, st.version)),
    ];
    // The tool's identity, in ceremonies recorded since it was (issue 14).
    for (name, file) in [("Binary", st.binary), ("PKCS#11 module", st.module)] {
        if let Some(f) = file {
            v.push((name, digest(f)));
        }
    }
    v.extend([
        ("Administrator", st.administrator.to_string()),
        ("Operator", st.operator.to_string()),
        ("Witnesses", st.witnesses.join(", ")),
        (
            "Rehearsal",
            if st.rehearsal {
                "yes: acknowledgements came from a file".into()
            } else {
                "no".into()
            },
        ),
    ]);
    // The token as ceremony_start found it, else as the token entry names it.
    if let Some(t) = st.token.or(c.token.as_ref()) {
        v.push(("Token", token(t)));
    } else if let Some(reason) = st.token_unavailable {
        v.push(("Token", format!("not opened: {reason}")));
    }
    v.push((
        "Outcome",
        match &c.end {
            Some(Event::CeremonyEnd { outcome, error, .. }) => match error.as_deref() {
                None | Some("") => outcome.name().to_string(),
                Some(err) => format!("{}: {err}", outcome.name()),
            },
            _ => "no ceremony_end: interrupted or cut".into(),
        },
    ));
    v
}

/// A file by path and SHA-256, or why it could not be read.
fn digest(f: &FileDigest) -> String {
    match (&f.sha256, &f.error) {
        (Some(sha), _) => format!("{} (SHA-256 {sha})", f.path),
        (None, Some(e)) => format!("{} (not read: {e})", f.path),
        (None, None) => f.path.clone(),
    }
}

/// A token's facts, with its versions when the entry has them.
fn token(t: &TokenIdentity) -> String {
    let mut facts = format!("{} {}, serial {}", t.manufacturer, t.model, t.serial);
    for (name, version) in [
        ("hardware", &t.hardware_version),
        ("firmware", &t.firmware_version),
    ] {
        if let Some(v) = version {
            let _ = write!(facts, ", {name} {v}");
        }
    }
    format!("{} ({facts}), module {}", t.label, t.module)
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn markdown(path: &Path, verdict: &str, ceremonies: &[Ceremony]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Ceremony report\n\nTranscript: `{}`\n\n**Verification: {}**\n",
        path.display(),
        md_cell(verdict)
    );
    for (i, c) in ceremonies.iter().enumerate() {
        let _ = writeln!(o, "## Ceremony {}: {}\n", i + 1, md_cell(start(c).ceremony));
        for (k, v) in summary(c) {
            let _ = writeln!(o, "- **{k}:** {}", md_cell(&v));
        }
        for (title, header, rows) in tables(c) {
            let _ = writeln!(o, "\n### {title}\n");
            if rows.is_empty() {
                let _ = writeln!(o, "None.");
                continue;
            }
            let _ = writeln!(o, "| {} |", header.join(" | "));
            let _ = writeln!(o, "|{}", "---|".repeat(header.len()));
            for r in rows {
                let _ = writeln!(
                    o,
                    "| {} |",
                    r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                );
            }
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "## Signatures\n\nWe were present and this report matches the ceremony as we saw it.\n"
    );
    for role in signers(ceremonies) {
        let _ = writeln!(o, "- {role}: ______________________  date: __________");
    }
    o
}

/// Everyone named in any ceremony, once, with their role.
fn signers(ceremonies: &[Ceremony]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !s.ends_with(": ") && !out.contains(&s) {
            out.push(s);
        }
    };
    for c in ceremonies {
        let st = start(c);
        add(format!("Administrator: {}", st.administrator));
        add(format!("Operator: {}", st.operator));
        for w in st.witnesses {
            add(format!("Witness: {w}"));
        }
    }
    out
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#111}h1{margin-bottom:0}\
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em;font-size:.85em}\
th,td{border:1px solid #999;padding:.25em .4em;text-align:left;vertical-align:top}td{overflow-wrap:anywhere}\
th{background:#eee}.verdict{padding:.6em;border:2px solid;font-weight:bold}\
.ok{border-color:#060;color:#060}.failed{border-color:#a00;color:#a00}\
.sig{margin-top:2.5em}.sig div{margin:1.6em 0}section{page-break-inside:avoid}\
@media print{body{margin:0}h2{page-break-before:always}}";

fn html(path: &Path, verified: bool, verdict: &str, ceremonies: &[Ceremony]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ceremony report</title><style>{STYLE}</style></head><body>\n<h1>Ceremony report</h1>\n<p>Transcript: <code>{}</code></p>\n<p id=\"verdict\" class=\"verdict {}\">Verification: {}</p>\n",
        esc(&path.display().to_string()),
        if verified { "ok" } else { "failed" },
        esc(verdict)
    );
    for (i, c) in ceremonies.iter().enumerate() {
        let _ = write!(
            o,
            "<section class=\"ceremony\"><h2>Ceremony {}: {}</h2>\n<table>",
            i + 1,
            esc(start(c).ceremony)
        );
        for (k, v) in summary(c) {
            let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
        }
        o.push_str("</table>\n");
        for (title, header, rows) in tables(c) {
            let _ = write!(o, "<h3>{}</h3>", esc(title));
            if rows.is_empty() {
                o.push_str("<p>None.</p>\n");
                continue;
            }
            o.push_str("<table><tr>");
            for h in header {
                let _ = write!(o, "<th>{}</th>", esc(h));
            }
            o.push_str("</tr>");
            for r in rows {
                o.push_str("<tr>");
                for cell in r {
                    let _ = write!(o, "<td>{}</td>", esc(&cell));
                }
                o.push_str("</tr>");
            }
            o.push_str("</table>\n");
        }
        o.push_str("</section>\n");
    }
    o.push_str("<section class=\"sig\" id=\"signatures\"><h2>Signatures</h2><p>We were present and this report matches the ceremony as we saw it.</p>");
    for role in signers(ceremonies) {
        let _ = write!(
            o,
            "<div>{}: ________________________________ date: ____________</div>",
            esc(&role)
        );
    }
    o.push_str("</section>\n</body></html>\n");
    o
}

#[cfg(test)]
mod tests;
