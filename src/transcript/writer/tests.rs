//! Tests of the transcript writer: the chain continues across opens, nothing bad or torn is appended or dropped.

use super::*;

#[test]
fn refuses_an_entry_verification_would_refuse_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.jsonl");
    let mut t = Transcript::open(&path).expect("open");
    t.append(&serde_json::json!({"type": "a"})).expect("append");
    let before = std::fs::read(&path).expect("read");
    // The line's fixed part: seq, time, prev, hash and the event's type.
    let text = "x".repeat(MAX_LINE);
    let err = t
        .append(&serde_json::json!({"type": "note", "text": text}))
        .expect_err("too long");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "transcript {}: cannot encode event: entry 1: ",
            path.display()
        )),
        "{message}"
    );
    assert!(
            message.ends_with(&format!(
                "bytes, over the {MAX_LINE}-byte line limit that verification enforces; nothing was written"
            )),
            "{message}"
        );
    for event in [
        serde_json::json!({"kind": "no type"}),
        serde_json::json!({"type": 7}),
        serde_json::json!(["type", "a"]),
    ] {
        let err = t.append(&event).expect_err("no type");
        assert!(
            err.to_string()
                .contains("entry 1: the event is not an object with a string \"type\""),
            "{err}"
        );
    }
    assert_eq!(std::fs::read(&path).expect("read"), before);
    assert_eq!(t.len(), 1);
    // The longest line verification takes is written and verifies.
    let fixed = t
        .append(&serde_json::json!({"type": "note", "text": ""}))
        .map(|_| std::fs::read(&path).expect("read").len() - before.len() - 1)
        .expect("append");
    let text = "y".repeat(MAX_LINE - fixed);
    t.append(&serde_json::json!({"type": "note", "text": text}))
        .expect("exactly at the limit");
    drop(t);
    let summary = super::super::verify_file(&path).expect("verifies");
    assert_eq!(summary.entries, 3);
}

#[test]
fn appends_continue_the_chain_across_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.jsonl");
    let mut t = Transcript::open(&path).expect("open");
    t.append(&serde_json::json!({"type": "a"})).expect("append");
    t.append(&serde_json::json!({"type": "b"})).expect("append");
    let head = t.head().to_string();
    drop(t);
    let mut t = Transcript::open(&path).expect("reopen");
    assert_eq!(t.len(), 2);
    assert_eq!(t.head(), head);
    assert_eq!(
        t.append(&serde_json::json!({"type": "c"})).expect("append"),
        2
    );
    let summary = super::super::verify_file(&path).expect("verifies");
    assert_eq!(summary.entries, 3);
}

#[test]
fn refuses_to_append_to_a_broken_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.jsonl");
    let mut t = Transcript::open(&path).expect("open");
    t.append(&serde_json::json!({"type": "a"})).expect("append");
    drop(t);
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("\"a\"", "\"x\"")).expect("tamper");
    let before = std::fs::read(&path).expect("read");
    let err = Transcript::open(&path).err().expect("must refuse");
    assert!(err.to_string().contains("entry 0 (line 1)"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn a_torn_last_line_is_kept_and_named_never_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.jsonl");
    let mut t = Transcript::open(&path).expect("open");
    t.append(&serde_json::json!({"type": "ceremony_start"}))
        .expect("append");
    drop(t);
    // A crash in the middle of the next write.
    let mut text = std::fs::read(&path).expect("read");
    text.extend_from_slice(b"{\"seq\":1,\"time\":\"2026-");
    std::fs::write(&path, &text).expect("write");
    let err = super::super::verify_file(&path).expect_err("torn");
    assert!(err.to_string().contains("a crash remnant"), "{err}");

    let mut t = Transcript::open(&path).expect("reopen records the remnant");
    assert_eq!(t.open_ceremony(), Some(0), "the ceremony never ended");
    t.append(&serde_json::json!({"type": "ceremony_end"}))
        .expect("append");
    drop(t);
    let after = std::fs::read(&path).expect("read");
    assert!(
        after.starts_with(&text),
        "the torn bytes are kept, unchanged"
    );
    let summary = super::super::verify_file(&path).expect("verifies with the remnant named");
    assert_eq!(summary.entries, 3);
    assert_eq!(summary.open_ceremony, None);

    // A remnant line that the next entry does not name is still an error.
    let forged = String::from_utf8(after)
        .expect("utf-8")
        .replacen("2026-\n", "2027-\n", 1);
    std::fs::write(&path, forged).expect("write");
    let err = super::super::verify_file(&path).expect_err("forged");
    assert!(err.to_string().contains("entry 1 (line 2)"), "{err}");
}
