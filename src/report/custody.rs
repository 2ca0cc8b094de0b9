//! The report's "Key custody" table: what left the token wrapped and where
//! it went, what came back, which custodians' shares counted and which did
//! not (with the rule each broke), the trusted wrap key's short life, and
//! the security officer's logins. One or more rows per transcript event, in
//! the order they happened; every value is a public one the transcript
//! holds (names, recipients, digests, the share set), never a secret.

use crate::events::{BackupRecord, Event, KeyCustodyRecord, RestoreRecord, SharesRecord};

use super::read::Ceremony;
use super::Table;

/// The table's header.
const HEADER: [&str; 4] = ["time", "step", "what", "details"];

/// The "Key custody" table of one ceremony.
pub(super) fn table(c: &Ceremony) -> Table {
    let mut rows = Vec::new();
    // A login names no step: it belongs to the step that started last.
    let mut current = "";
    for (time, e) in &c.rows {
        if let Event::StepStart { step, .. } = e {
            current = step;
        }
        let mut row = |step: &str, what: String, details: String| {
            rows.push(vec![time.clone(), step.to_string(), what, details]);
        };
        match e {
            Event::Login {
                user,
                pin_source,
                success,
                error,
                ..
            } if user == "so" => row(
                current,
                "security officer login".into(),
                match (success, error) {
                    (true, _) => format!("succeeded (SO PIN from {pin_source})"),
                    (false, Some(e)) => format!("FAILED (SO PIN from {pin_source}): {e}"),
                    (false, None) => format!("FAILED (SO PIN from {pin_source})"),
                },
            ),
            Event::WrapKeyCreated { step, label } => row(
                step,
                "trusted wrap key created".into(),
                format!("{label} (CKA_TRUSTED, made by the security officer; its value is not recorded)"),
            ),
            Event::WrapKeyDestroyed { step, label, error } => match error {
                None => row(step, "trusted wrap key destroyed".into(), label.to_string()),
                Some(e) => row(
                    step,
                    "trusted wrap key NOT DESTROYED".into(),
                    format!("{label}: {e}"),
                ),
            },
            Event::KeysBackedUp { step, backup } => backed_up(backup, &mut |w, d| row(step, w, d)),
            Event::SharesJudged { step, shares } => {
                judged(shares, &mut |w, d| row(step.as_deref().unwrap_or(""), w, d))
            }
            Event::KeysRestored { step, restored } => {
                restored_rows(restored, &mut |w, d| row(step, w, d))
            }
            Event::QuorumActivated { step, quorum } => {
                row(
                    step,
                    "user PIN under quorum".into(),
                    format!(
                        "token {} (serial {}): {} of {} officers' shares log in; share set {}; shares in {} (SHA256SUMS SHA-256 {})",
                        quorum.token_label,
                        quorum.token_serial,
                        quorum.threshold,
                        quorum.count,
                        quorum.set,
                        quorum.directory,
                        quorum.sums_sha256
                    ),
                );
                for o in &quorum.officers {
                    row(
                        step,
                        format!("share {} sealed", o.index),
                        format!(
                            "officer {} ({}), file {} (SHA-256 {})",
                            o.name, o.recipient, o.file, o.sha256
                        ),
                    );
                }
            }
            Event::Login {
                user, pin_source, ..
            } if user == "user" && pin_source.starts_with("quorum:") => row(
                current,
                "quorum login".into(),
                pin_source.to_string(),
            ),
            _ => {}
        }
    }
    ("Key custody", HEADER.to_vec(), rows)
}

fn backed_up(b: &BackupRecord, row: &mut dyn FnMut(String, String)) {
    row(
        "backup made".into(),
        format!(
            "directory {}; {} of {} custodians' shares restore it; share set {}; manifest.json SHA-256 {}; SHA256SUMS SHA-256 {}{}",
            b.directory,
            b.threshold,
            b.count,
            b.set,
            b.manifest_sha256,
            b.sums_sha256,
            if b.signed {
                ", signed by the audit key (SHA256SUMS.sig)"
            } else {
                ", not signed (no audit key)"
            }
        ),
    );
    for c in &b.custodians {
        row(
            format!("share {} sealed", c.index),
            format!(
                "custodian {} ({}), file {} (SHA-256 {})",
                c.name, c.recipient, c.file, c.sha256
            ),
        );
    }
    for k in &b.keys {
        row("key wrapped".into(), key(k));
    }
}

fn judged(s: &SharesRecord, row: &mut dyn FnMut(String, String)) {
    row(
        "shares judged".into(),
        format!(
            "purpose {}, share set {}: {} counted of the {} needed, {} not counted",
            s.purpose,
            s.set,
            s.counted.len(),
            s.threshold,
            s.refused.len()
        ),
    );
    for u in &s.counted {
        row(
            format!("share {} counted", u.index),
            format!("custodian {}, file {}", u.custodian, u.file),
        );
    }
    for r in &s.refused {
        let who = match (&r.custodian, r.index) {
            (Some(c), Some(i)) => format!(" (custodian {c}, index {i})"),
            _ => String::new(),
        };
        row(
            "share NOT COUNTED".into(),
            format!("file {}{who}: {}", r.file, r.reason),
        );
    }
}

fn restored_rows(r: &RestoreRecord, row: &mut dyn FnMut(String, String)) {
    row(
        "keys restored".into(),
        format!(
            "from {} (manifest.json SHA-256 {}), backed up from token {}, share set {}",
            r.directory, r.manifest_sha256, r.source_token, r.set
        ),
    );
    for k in &r.keys {
        let check = match k.test_signature_verified {
            Some(true) => "test signature verified with the backed-up public key",
            Some(false) => "test signature DID NOT VERIFY",
            None => "no test signature recorded",
        };
        row("key restored".into(), format!("{}; {check}", key(k)));
    }
}

/// One key: label, algorithm, CKA_ID, policy and digests.
fn key(k: &KeyCustodyRecord) -> String {
    format!(
        "{} ({}, CKA_ID {}, policy {}), public key SHA-256 {}, wrapped SHA-256 {}",
        k.label,
        k.algorithm,
        k.id,
        k.policy.name(),
        k.spki_sha256,
        k.wrapped_sha256
    )
}
