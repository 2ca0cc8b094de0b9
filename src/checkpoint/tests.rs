//! Tests of checkpoints: signing text, parsing and verifying, and `chain`, the
//! transcript builder the checkpoint, CRL and interrupted-ceremony tests share.

use super::*;

/// A transcript of `events`, chained; a `checkpoint` event gets the
/// `entries` and `head` of the entries before it (it is not signed).
pub(crate) fn chain(events: &[serde_json::Value]) -> String {
    use sha2::Digest;
    let mut prev = crate::transcript::GENESIS.to_string();
    let mut text = String::new();
    for (seq, event) in events.iter().enumerate() {
        let mut event = event.clone();
        if event["type"] == "checkpoint" {
            event["entries"] = seq.into();
            event["head"] = prev.clone().into();
        }
        let body =
            serde_json::json!({"seq": seq, "time": "t", "prev": prev, "event": event}).to_string();
        let hash = hex::encode(&sha2::Sha256::digest(body.as_bytes()));
        text.push_str(&format!(
            "{},\"hash\":\"{hash}\"}}\n",
            &body[..body.len() - 1]
        ));
        prev = hash;
    }
    text
}

#[test]
fn text_round_trips_and_malformed_files_are_named() {
    let cp = Checkpoint {
        origin: "example transcript".into(),
        entries: 42,
        head: "ab".repeat(32),
        key_sha256: "cd".repeat(32),
        algorithm: "1.2.840.10045.4.3.2".into(),
        signature: "MEUCIQ==".into(),
    };
    let text = cp.to_text();
    assert!(text.starts_with("ceremony-checkpoint/1\norigin example transcript\nentries 42\nhead "));
    assert_eq!(
        Checkpoint::parse(Path::new("cp"), &text).expect("parses"),
        cp
    );
    let err = Checkpoint::parse(Path::new("cp"), &text.replace("entries 42", "entries x"))
        .expect_err("bad number");
    assert_eq!(err.to_string(), "checkpoint cp: entries is not a number");
    let err = Checkpoint::parse(Path::new("cp"), "hello\n").expect_err("bad first line");
    assert!(err
        .to_string()
        .contains("the first line must be ceremony-checkpoint/1"));
}
