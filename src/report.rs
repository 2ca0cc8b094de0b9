//! The ceremony report: a transcript rendered for people, as one
//! self-contained HTML page (no network resources, prints on paper) and the
//! same content as Markdown. The verification verdict at the top is
//! computed when the report is made; the content is read leniently, so a
//! tampered transcript still renders, under a FAILED verdict.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::checkpoint::{self, Checkpoint};
use crate::fsutil;

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

/// One ceremony, as the report shows it.
#[derive(Debug, Default)]
struct Ceremony {
    start: Value,
    time: String,
    end: Option<Value>,
    token: Option<Value>,
    rows: Vec<(String, Value)>,
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

/// Reads every parseable entry, grouping them by ceremony.
fn collect(path: &Path) -> Result<Vec<Ceremony>, Error> {
    let read = |reason: String| Error::Read {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| read(e.to_string()))?;
    let mut out: Vec<Ceremony> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| read(e.to_string()))?;
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let event = entry["event"].clone();
        let time = entry["time"].as_str().unwrap_or("").to_string();
        let kind = event["type"].as_str().unwrap_or("").to_string();
        match kind.as_str() {
            "ceremony_start" => out.push(Ceremony {
                start: event,
                time,
                ..Ceremony::default()
            }),
            _ => {
                if out.is_empty() {
                    out.push(Ceremony::default());
                }
                let c = out.last_mut().expect("pushed above");
                match kind.as_str() {
                    "ceremony_end" => c.end = Some(event),
                    "token" => c.token = Some(event),
                    _ => c.rows.push((time, event)),
                }
            }
        }
    }
    Ok(out)
}

fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn of<'a>(c: &'a Ceremony, kind: &'a str) -> impl Iterator<Item = &'a (String, Value)> + 'a {
    c.rows.iter().filter(move |(_, e)| e["type"] == kind)
}

fn attrs(e: &Value) -> String {
    let a = &e["attributes"];
    [
        "sensitive",
        "extractable",
        "always_sensitive",
        "never_extractable",
        "local",
        "decrypt",
        "unwrap",
        "derive",
    ]
    .iter()
    .map(|k| format!("{k}={}", a[*k]))
    .collect::<Vec<_>>()
    .join(" ")
}

/// The tables of one ceremony: (title, header, rows).
type Table = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

fn tables(c: &Ceremony) -> Vec<Table> {
    let mut t: Vec<Table> = Vec::new();
    let acks = of(c, "witness_acknowledged")
        .chain(of(c, "witness_refused"))
        .map(|(time, e)| {
            vec![
                time.clone(),
                s(e, "step"),
                s(e, "witness"),
                s(e, "code"),
                s(e, "source"),
                if e["type"] == "witness_refused" {
                    format!("REFUSED: {}", s(e, "reason"))
                } else {
                    "acknowledged".into()
                },
            ]
        })
        .collect();
    t.push((
        "Acknowledgements",
        vec!["time", "step", "witness", "code", "source", "result"],
        acks,
    ));
    let keys = of(c, "key_generated")
        .chain(of(c, "audit_key_generated"))
        .map(|(_, e)| {
            vec![
                s(e, "label"),
                s(e, "algorithm"),
                s(e, "id"),
                s(e, "spki_sha256"),
                attrs(e),
            ]
        })
        .collect();
    t.push((
        "Keys generated",
        vec![
            "label",
            "algorithm",
            "CKA_ID",
            "public key SHA-256",
            "attributes",
        ],
        keys,
    ));
    let certs = of(c, "certificate_issued")
        .map(|(_, e)| {
            vec![
                s(e, "subject"),
                s(e, "serial"),
                if e["profile"].is_string() {
                    s(e, "profile")
                } else {
                    "root".into()
                },
                format!("{} to {}", s(e, "not_before"), s(e, "not_after")),
                s(e, "sha256"),
            ]
        })
        .collect();
    t.push((
        "Certificates issued",
        vec!["subject", "serial", "profile", "validity", "SHA-256"],
        certs,
    ));
    let crls = of(c, "crl_issued")
        .map(|(_, e)| {
            let revoked = e["revoked"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|x| format!("{} ({})", s(x, "serial"), s(x, "reason")))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            vec![
                s(e, "issuer"),
                s(e, "crl_number"),
                format!("{} to {}", s(e, "this_update"), s(e, "next_update")),
                if revoked.is_empty() {
                    "none".into()
                } else {
                    revoked
                },
                s(e, "file"),
                s(e, "sha256"),
            ]
        })
        .collect();
    t.push((
        "CRLs issued",
        vec![
            "issuer",
            "CRL number",
            "validity",
            "revoked (serial, reason)",
            "file",
            "SHA-256",
        ],
        crls,
    ));
    let rejected = of(c, "request_rejected")
        .map(|(_, e)| vec![s(e, "request"), s(e, "profile"), s(e, "rule")])
        .chain(of(c, "refused").map(|(_, e)| {
            let reasons = e["reasons"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            vec![s(e, "step"), "(refusal)".into(), reasons]
        }))
        .collect();
    t.push((
        "Rejections and refusals",
        vec!["request or step", "profile", "rule"],
        rejected,
    ));
    let bundles = of(c, "output_bundle_written")
        .map(|(_, e)| {
            vec![
                s(e, "file"),
                s(e, "sha256"),
                s(e, "certificates"),
                s(e, "rejected"),
            ]
        })
        .collect();
    t.push((
        "Output bundles",
        vec!["file", "SHA-256", "certificates", "rejected"],
        bundles,
    ));
    let checkpoints = of(c, "checkpoint")
        .map(|(_, e)| {
            vec![
                s(e, "origin"),
                s(e, "entries"),
                s(e, "head"),
                s(e, "key_sha256"),
            ]
        })
        .collect();
    t.push((
        "Checkpoints",
        vec!["origin", "entries", "head", "audit key SHA-256"],
        checkpoints,
    ));
    let notes = of(c, "note")
        .map(|(time, e)| vec![time.clone(), s(e, "author"), s(e, "text")])
        .collect();
    t.push(("Notes", vec!["time", "author", "note"], notes));
    t
}

fn summary(c: &Ceremony) -> Vec<(&'static str, String)> {
    let st = &c.start;
    let mut v = vec![
        ("Started", c.time.clone()),
        (
            "Script",
            format!("{} (SHA-256 {})", s(st, "script"), s(st, "script_sha256")),
        ),
        ("Tool", format!("{} {}", s(st, "tool"), s(st, "version"))),
        ("Administrator", s(st, "administrator")),
        ("Operator", s(st, "operator")),
        (
            "Witnesses",
            st["witnesses"]
                .as_array()
                .map(|w| {
                    w.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        ),
        (
            "Rehearsal",
            if st["rehearsal"] == true {
                "yes: acknowledgements came from a file".into()
            } else {
                "no".into()
            },
        ),
    ];
    if let Some(t) = &c.token {
        v.push((
            "Token",
            format!(
                "{} ({} {}, serial {}), module {}",
                s(t, "label"),
                s(t, "manufacturer"),
                s(t, "model"),
                s(t, "serial"),
                s(t, "module")
            ),
        ));
    }
    v.push((
        "Outcome",
        match &c.end {
            Some(e) => {
                let err = s(e, "error");
                if err.is_empty() {
                    s(e, "outcome")
                } else {
                    format!("{}: {err}", s(e, "outcome"))
                }
            }
            None => "no ceremony_end: interrupted or cut".into(),
        },
    ));
    v
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
        let _ = writeln!(
            o,
            "## Ceremony {}: {}\n",
            i + 1,
            md_cell(&s(&c.start, "ceremony"))
        );
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
        add(format!("Administrator: {}", s(&c.start, "administrator")));
        add(format!("Operator: {}", s(&c.start, "operator")));
        for w in c.start["witnesses"].as_array().into_iter().flatten() {
            add(format!("Witness: {}", w.as_str().unwrap_or("")));
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
            esc(&s(&c.start, "ceremony"))
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
