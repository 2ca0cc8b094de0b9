//! The renderings of a [`Report`]: the kubeadm-like table and JSON, and the
//! one-line form of a [`Problem`].
//!
//! The table has kubeadm's two sections, certificates then certificate
//! authorities, each row saying what renews or rotates the certificate and,
//! in the LOOK-AHEAD column, whether it expires within the warning window
//! (or has expired) and whether it outlives its issuer.
//!
//! Text taken from certificates and file names is escaped before it goes
//! into the table or a problem's line, so that a control or bidirectional
//! character cannot rewrite the terminal.

use std::fmt;

use serde::Serialize;

use super::{Entry, Kind, Problem, Report};

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", printable(&self.path), printable(&self.reason))
    }
}

impl Report {
    /// The kubeadm-like table: leaf certificates, a blank line, then
    /// certificate authorities, and a closing line when any certificate is
    /// within the warning window or outlives its issuer.
    ///
    /// Text taken from certificates and file names is escaped so that a
    /// control or bidirectional character cannot rewrite the terminal.
    pub fn render_table(&self) -> String {
        let leaves: Vec<_> = self
            .entries
            .iter()
            .filter(|e| !e.is_ca)
            .map(|e| {
                vec![
                    e.name.clone(),
                    expires(&e.expires),
                    e.residual(),
                    self.look_ahead(e),
                    e.issuer.clone(),
                    e.renewal.to_string(),
                ]
            })
            .collect();
        let cas: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.is_ca)
            .map(|e| {
                let issuer = match (e.kind, e.issued_by.is_empty()) {
                    (Kind::Root, _) => "self-signed".to_string(),
                    (_, false) => e.issued_by.join(", "),
                    (_, true) => format!("{} (not found)", e.issuer),
                };
                vec![
                    e.name.clone(),
                    expires(&e.expires),
                    e.residual(),
                    self.look_ahead(e),
                    e.kind.as_str().to_string(),
                    issuer,
                    e.renewal.to_string(),
                ]
            })
            .collect();
        let mut out = table(
            &[
                "CERTIFICATE",
                "EXPIRES",
                "RESIDUAL TIME",
                "LOOK-AHEAD",
                "CERTIFICATE AUTHORITY",
                "RENEWAL",
            ],
            &leaves,
        );
        out.push('\n');
        out.push_str(&table(
            &[
                "CERTIFICATE AUTHORITY",
                "EXPIRES",
                "RESIDUAL TIME",
                "LOOK-AHEAD",
                "KIND",
                "ISSUER",
                "RENEWAL",
            ],
            &cas,
        ));
        let within = self.entries.iter().filter(|e| e.within_window).count();
        let outliving = self.outliving().count();
        if within > 0 || outliving > 0 {
            out.push_str(&format!(
                "\n{within} certificate(s) expire within {} days or have expired; {outliving} outlive their issuer\n",
                self.warn_within_days
            ));
        }
        out
    }

    /// The LOOK-AHEAD cell: `expired` or `within N days`, and `outlives ISSUER`.
    fn look_ahead(&self, e: &Entry) -> String {
        let mut marks = Vec::new();
        if e.expired {
            marks.push("expired".to_string());
        } else if e.within_window {
            marks.push(format!("within {} days", self.warn_within_days));
        }
        if let Some(ca) = &e.outlives_issuer {
            marks.push(format!("outlives {ca}"));
        }
        marks.join("; ")
    }

    /// The report as pretty JSON, ending in a newline: `warn_within_days`,
    /// `certificates` (every certificate, CAs included),
    /// `certificate_authorities` (the CAs again, as kubeadm's JSON has them
    /// apart) and `problems`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            warn_within_days: u32,
            certificates: &'a [Entry],
            certificate_authorities: Vec<&'a Entry>,
            problems: &'a [Problem],
        }
        let json = Json {
            warn_within_days: self.warn_within_days,
            certificates: &self.entries,
            certificate_authorities: self.entries.iter().filter(|e| e.is_ca).collect(),
            problems: &self.problems,
        };
        let mut json =
            serde_json::to_string_pretty(&json).expect("strings, integers and booleans serialize");
        json.push('\n');
        json
    }
}

/// kubeadm's residual time (`duration.ShortHumanDuration`), except that any
/// negative residual is `<invalid>`, so it agrees with `expired`.
pub(super) fn residual(seconds: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    match seconds {
        s if s < 0 => "<invalid>".into(),
        s if s < MINUTE => format!("{s}s"),
        s if s < HOUR => format!("{}m", s / MINUTE),
        s if s < DAY => format!("{}h", s / HOUR),
        s if s < 365 * DAY => format!("{}d", s / DAY),
        s => format!("{}y", s / (365 * DAY)),
    }
}

/// kubeadm's EXPIRES column: `Jan 02, 2006 15:04 UTC`.
fn expires(t: &der::DateTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS
        .get(usize::from(t.month()).wrapping_sub(1))
        .copied()
        .unwrap_or("???");
    format!(
        "{month} {:02}, {} {:02}:{:02} UTC",
        t.day(),
        t.year(),
        t.hour(),
        t.minutes()
    )
}

/// Left-aligned columns three spaces apart, like kubeadm's tabwriter, with no trailing spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let lines: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(
            rows.iter()
                .map(|r| r.iter().map(|cell| printable(cell)).collect()),
        )
        .collect();
    let mut widths = vec![0; header.len()];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        let mut text = String::new();
        for (cell, w) in line.iter().zip(&widths) {
            text.push_str(&format!("{cell:<w$}   "));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// `s` with control and bidirectional-override characters escaped (`\u{…}`).
pub(super) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            let invisible = c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
            if invisible {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
