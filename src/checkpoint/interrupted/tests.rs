//! Tests of the interrupted-ceremony tracker.

use super::*;
use crate::transcript::verify_reader_with;

fn track(events: &[serde_json::Value]) -> (Vec<Interrupted>, u64) {
    let text = crate::checkpoint::tests::chain(events);
    let mut tracker = Tracker::default();
    verify_reader_with(std::path::Path::new("t"), text.as_bytes(), |v| {
        tracker.visit(v)
    })
    .expect("intact");
    tracker.finish()
}

fn ceremony_start(name: &str) -> serde_json::Value {
    serde_json::json!({"type": "ceremony_start", "ceremony": name, "script": "s.toml",
                       "script_sha256": "00", "tool": "ceremony", "version": "0.1.0",
                       "operator": "o", "witnesses": [], "steps": []})
}

#[test]
fn a_ceremony_start_that_does_not_read_fails_the_entry() {
    let mut start = ceremony_start("x");
    start["ceremony"] = 7.into();
    let text = crate::checkpoint::tests::chain(&[start]);
    let mut tracker = Tracker::default();
    let err = verify_reader_with(std::path::Path::new("t"), text.as_bytes(), |v| {
        tracker.visit(v)
    })
    .expect_err("a ceremony name that is not a string");
    assert!(
        err.to_string().starts_with(
            "transcript t: entry 0 (line 1): ceremony_start event: invalid type: integer `7`, expected a string"
        ),
        "{err}"
    );
}

#[test]
fn undelivered_certificates_are_those_without_a_bundle_of_their_step() {
    use serde_json::json;
    let start = |name: &str| ceremony_start(name);
    let step = |id: &str, action: &str| json!({"type": "step_start", "step": id, "action": action});
    let cert = |id: &str| json!({"type": "certificate_issued", "step": id});
    let bundle = |id: &str| {
        json!({"type": "output_bundle_written", "step": id, "file": "b.age",
               "checksum_file": "b.age.sha256", "sha256": "00", "certificates": 2,
               "rejected": 0, "recipients": [], "signature_key_sha256": "00"})
    };
    let end = json!({"type": "ceremony_end"});
    let events = vec![
        // A ceremony that ended is never interrupted.
        start("done"),
        step("a", "sign-requests"),
        cert("a"),
        end.clone(),
        // Killed in its second batch: the first batch was delivered.
        start("killed"),
        step("root", "generate-root"),
        cert("root"),
        step("a", "sign-requests"),
        cert("a"),
        cert("a"),
        bundle("a"),
        step("b", "sign-requests"),
        cert("b"),
        cert("b"),
        cert("b"),
        // The next run starts; it is killed too, before any step.
        json!({"type": "unfinished_ceremony_found"}),
        start("again"),
        step("a", "sign-requests"),
    ];
    let (found, total) = track(&events);
    assert_eq!(total, 2);
    assert_eq!(
        found,
        vec![
            Interrupted {
                start_seq: 4,
                ceremony: "killed".into(),
                certificates_issued: 6,
                undelivered: 3
            },
            Interrupted {
                start_seq: 16,
                ceremony: "again".into(),
                certificates_issued: 0,
                undelivered: 0
            }
        ]
    );
}

#[test]
fn a_transcript_of_ended_ceremonies_has_none() {
    use serde_json::json;
    let events = vec![
        ceremony_start("x"),
        json!({"type": "ceremony_end"}),
        json!({"type": "note"}),
    ];
    assert_eq!(track(&events), (vec![], 0));
}
