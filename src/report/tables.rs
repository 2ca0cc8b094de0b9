//! The report's tables of one ceremony: acknowledgements, approvals,
//! cosignatures, keys, key custody, certificates, CRLs, rejections,
//! refusals, output bundles, checkpoints and notes, each row from one
//! transcript event (key custody's rows are in `custody.rs`).

use crate::events::Event;
use crate::token::{KeyAttributes, KeyRecord};

use super::read::Ceremony;

/// The rows of one ceremony that `pick` turns into table rows.
fn of<'a>(
    c: &'a Ceremony,
    pick: impl Fn(&'a str, &'a Event<'static>) -> Option<Vec<String>> + 'a,
) -> impl Iterator<Item = Vec<String>> + 'a {
    c.rows.iter().filter_map(move |(time, e)| pick(time, e))
}

fn attrs(a: &KeyAttributes) -> String {
    let mut cells = vec![
        ("sensitive", a.sensitive),
        ("extractable", a.extractable),
        ("always_sensitive", a.always_sensitive),
        ("never_extractable", a.never_extractable),
    ];
    // Recorded since key policies were named; older records leave it out.
    if let Some(v) = a.wrap_with_trusted {
        cells.push(("wrap_with_trusted", v));
    }
    cells.extend([
        ("local", a.local),
        ("decrypt", a.decrypt),
        ("unwrap", a.unwrap),
        ("derive", a.derive),
    ]);
    cells
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn key_row(key: &KeyRecord) -> Vec<String> {
    vec![
        key.label.clone(),
        key.algorithm.to_string(),
        key.id.clone(),
        key.spki_sha256.clone(),
        key.policy().name().to_string(),
        attrs(&key.attributes),
    ]
}

pub(super) use super::Table;

pub(super) fn tables(c: &Ceremony) -> Vec<Table> {
    let mut t: Vec<Table> = Vec::new();
    // In the order they happened: a failed attempt before the retry.
    let acks = of(c, |time, e| {
        let (step, witness, code, source, result) = match e {
            Event::WitnessAcknowledged {
                step,
                witness,
                code,
                source,
            } => (step, witness, code, source, "acknowledged".to_string()),
            Event::WitnessAttemptFailed {
                step,
                witness,
                code,
                source,
                attempt,
                attempts,
                reason,
            } => (
                step,
                witness,
                code,
                source,
                format!("attempt {attempt} of {attempts} failed: {reason}"),
            ),
            Event::WitnessRefused {
                step,
                witness,
                code,
                source,
                reason,
            } => (step, witness, code, source, format!("REFUSED: {reason}")),
            _ => return None,
        };
        Some(vec![
            time.into(),
            step.to_string(),
            witness.to_string(),
            code.to_string(),
            source.to_string(),
            result,
        ])
    })
    .collect();
    t.push((
        "Acknowledgements",
        vec!["time", "step", "witness", "code", "source", "result"],
        acks,
    ));
    let approvals = of(c, |time, e| match e {
        Event::Approval(a) => Some(vec![
            time.into(),
            a.principal.to_string(),
            format!("{} {}", a.key_type, a.fingerprint),
            a.signers_sha256.to_string(),
            format!("approved (script sha256 {})", a.signed_sha256),
        ]),
        Event::ApprovalNotCounted { file, reason } => Some(vec![
            time.into(),
            file.clone(),
            String::new(),
            String::new(),
            format!("NOT COUNTED: {reason}"),
        ]),
        Event::ApproversSet {
            file,
            sha256,
            required,
            replaces,
            ..
        } => Some(vec![
            time.into(),
            file.clone(),
            String::new(),
            sha256.to_string(),
            match replaces {
                Some(r) => format!(
                    "approvers' set anchored ({required} required), replacing set {} of entry {} with {} of its approvals",
                    r.sha256, r.seq, r.approved_by
                ),
                None => format!("approvers' set anchored ({required} required)"),
            },
        ]),
        _ => None,
    })
    .collect();
    t.push((
        "Approvals",
        vec![
            "time",
            "approver (or file)",
            "key",
            "signers SHA-256",
            "result",
        ],
        approvals,
    ));
    let cosigned = of(c, |time, e| match e {
        Event::CheckpointCosigned(a) => Some(vec![
            time.into(),
            a.principal.to_string(),
            format!("{} {}", a.key_type, a.fingerprint),
            a.signed_sha256.to_string(),
            a.signers_sha256.to_string(),
        ]),
        _ => None,
    })
    .collect();
    t.push((
        "Checkpoint cosignatures",
        vec![
            "time",
            "witness",
            "key",
            "checkpoint file SHA-256",
            "signers SHA-256",
        ],
        cosigned,
    ));
    let keys = of(c, |_, e| match e {
        Event::KeyGenerated { key, .. } => Some(key_row(key)),
        _ => None,
    })
    .chain(of(c, |_, e| match e {
        Event::AuditKeyGenerated { key, .. } => Some(key_row(key)),
        _ => None,
    }))
    .collect();
    let keys_generated = (
        "Keys generated",
        vec![
            "label",
            "algorithm",
            "CKA_ID",
            "public key SHA-256",
            "policy",
            "attributes",
        ],
        keys,
    );
    t.push(keys_generated);
    t.push(super::custody::table(c));
    let certs = of(c, |_, e| match e {
        Event::CertificateIssued {
            profile,
            certificate: i,
            ..
        } => Some(vec![
            i.subject.clone(),
            i.serial.clone(),
            profile.as_deref().unwrap_or("root").to_string(),
            format!("{} to {}", i.not_before, i.not_after),
            i.sha256.clone(),
        ]),
        _ => None,
    })
    .collect();
    t.push((
        "Certificates issued",
        vec!["subject", "serial", "profile", "validity", "SHA-256"],
        certs,
    ));
    let crls = of(c, |_, e| match e {
        Event::CrlIssued {
            issuer,
            crl_number,
            this_update,
            next_update,
            revoked,
            file,
            sha256,
            ..
        } => {
            let revoked = revoked
                .iter()
                .map(|x| format!("{} ({})", x.serial, x.reason))
                .collect::<Vec<_>>()
                .join("; ");
            Some(vec![
                issuer.to_string(),
                crl_number.to_string(),
                format!("{this_update} to {next_update}"),
                if revoked.is_empty() {
                    "none".into()
                } else {
                    revoked
                },
                file.clone(),
                sha256.to_string(),
            ])
        }
        _ => None,
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
    let rejected = of(c, |_, e| match e {
        Event::RequestRejected {
            request,
            profile,
            rule,
            ..
        } => Some(vec![
            request.to_string(),
            profile.to_string(),
            rule.to_string(),
        ]),
        _ => None,
    })
    .chain(of(c, |_, e| match e {
        Event::Refused { step, reasons } => Some(vec![
            step.as_deref().unwrap_or_default().to_string(),
            "(refusal)".into(),
            reasons.join("; "),
        ]),
        _ => None,
    }))
    .collect();
    t.push((
        "Rejections and refusals",
        vec!["request or step", "profile", "rule"],
        rejected,
    ));
    let bundles = of(c, |_, e| match e {
        Event::OutputBundleWritten {
            file,
            sha256,
            certificates,
            rejected,
            ..
        } => Some(vec![
            file.clone(),
            sha256.to_string(),
            certificates.to_string(),
            rejected.to_string(),
        ]),
        _ => None,
    })
    .collect();
    t.push((
        "Output bundles",
        vec!["file", "SHA-256", "certificates", "rejected"],
        bundles,
    ));
    let checkpoints = of(c, |_, e| match e {
        Event::Checkpoint { checkpoint: cp, .. } => Some(vec![
            cp.origin.clone(),
            cp.entries.to_string(),
            cp.head.clone(),
            cp.key_sha256.clone(),
        ]),
        _ => None,
    })
    .collect();
    t.push((
        "Checkpoints",
        vec!["origin", "entries", "head", "audit key SHA-256"],
        checkpoints,
    ));
    let notes = of(c, |time, e| match e {
        Event::Note { author, text } => {
            Some(vec![time.into(), author.to_string(), text.to_string()])
        }
        _ => None,
    })
    .collect();
    t.push(("Notes", vec!["time", "author", "note"], notes));
    t
}
