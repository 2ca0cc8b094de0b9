//! Tests of transcript verification with checkpoints.

use super::*;
use serde_json::json;

fn unsigned(entries: u64, head: &str) -> Checkpoint {
    Checkpoint {
        origin: "o".into(),
        entries,
        head: head.into(),
        key_sha256: "00".repeat(32),
        algorithm: "1.2.840.10045.4.3.2".into(),
        signature: String::new(),
    }
}

fn checkpoint_event() -> serde_json::Value {
    json!({"type": "checkpoint", "origin": "o", "key_sha256": "00".repeat(32),
           "algorithm": "1.2.840.10045.4.3.2", "signature": "", "file": "cp"})
}

#[test]
fn coverage_is_the_longest_signed_prefix() {
    let note = json!({"type": "note"});
    let events = [
        note.clone(),
        note.clone(),
        note.clone(),
        checkpoint_event(),
        note.clone(),
        note.clone(),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.jsonl");
    std::fs::write(&path, crate::checkpoint::tests::chain(&events)).expect("write");
    let v = verify(&path, None, None).expect("intact");
    assert_eq!((v.embedded, v.last_checkpoint), (1, Some(3)));
    assert_eq!((v.covered, v.uncovered()), (4, 2));
    assert!(!v.signatures_checked);

    // A paper checkpoint of 5 entries covers one more; of 2, none more.
    let mut heads = Vec::new();
    crate::transcript::verify_file_with(&path, |e| {
        heads.push(e.hash.to_string());
        Ok(())
    })
    .expect("intact");
    let cp = unsigned(5, &heads[4]);
    let v = verify(&path, Some((Path::new("cp"), &cp)), None).expect("prefix");
    assert_eq!((v.covered, v.uncovered()), (5, 1));
    let cp = unsigned(2, &heads[1]);
    let v = verify(&path, Some((Path::new("cp"), &cp)), None).expect("prefix");
    assert_eq!((v.covered, v.uncovered()), (4, 2));

    // No checkpoint: nothing covered.
    std::fs::write(&path, crate::checkpoint::tests::chain(&events[..3])).expect("write");
    let v = verify(&path, None, None).expect("intact");
    assert_eq!((v.embedded, v.covered, v.uncovered()), (0, 0, 3));
}
