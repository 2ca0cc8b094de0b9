//! The transcript verifier, as `transcript verify` runs it.
//!
//! Each input is verified as given and, when that differs, after
//! `rechain_transcript` has made its seq, prev and hash members consistent
//! (so the fuzzer gets past the hash chain to the entries behind it). A
//! transcript that verifies is then checked again through
//! `checkpoint::verify`, with the demo's audit key, and against checkpoints
//! at its head and at an earlier entry, which must match.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use ceremony::checkpoint::{self, Checkpoint};
use ceremony::transcript;
use libfuzzer_sys::fuzz_target;

fn audit_key() -> &'static (std::path::PathBuf, Vec<u8>) {
    static KEY: OnceLock<(std::path::PathBuf, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = ceremony_fuzz::scratch("audit-key.pub");
        std::fs::write(&path, ceremony_fuzz::AUDIT_KEY_PEM).expect("write the audit key");
        let der = checkpoint::read_public_key(&path).expect("the fixture audit key");
        (path, der)
    })
}

fn unsigned_checkpoint(entries: u64, head: &str) -> Checkpoint {
    Checkpoint {
        origin: "fuzz".into(),
        entries,
        head: head.to_string(),
        key_sha256: String::new(),
        algorithm: String::new(),
        signature: String::new(),
    }
}

fn check(data: &[u8]) {
    let name = Path::new("fuzz.jsonl");
    let mut hashes = Vec::new();
    let summary = transcript::verify_reader_with(name, data, |v| {
        hashes.push(v.hash.to_string());
        // The event is parsed only on demand; a verified entry's always parses.
        let event: serde_json::Value = v.parse().expect("a verified entry's event parses");
        assert_eq!(event["type"].as_str(), Some(v.kind));
        // An event that reads as the one event type writes back stably.
        if let Ok(typed) = v.parse::<ceremony::events::Event<'static>>() {
            let once = serde_json::to_string(&typed).expect("an event serializes");
            let again: ceremony::events::Event<'static> =
                serde_json::from_str(&once).expect("a written event reads back");
            assert_eq!(serde_json::to_string(&again).expect("serializes"), once);
        }
        Ok(())
    });
    let plain = transcript::verify_reader(name, data);
    assert_eq!(
        summary.as_ref().ok(),
        plain.as_ref().ok(),
        "verify_reader and verify_reader_with disagree"
    );
    let Ok(summary) = summary else {
        return;
    };
    assert_eq!(summary.entries, hashes.len() as u64);

    let path = ceremony_fuzz::write_scratch("transcript.jsonl", data);
    let (key_path, key) = audit_key();
    let _ = checkpoint::verify(&path, None, Some((key_path, key)));
    if checkpoint::verify(&path, None, None).is_err() {
        // An embedded checkpoint entry is malformed or out of place.
        return;
    }
    let cp_path = Path::new("fuzz.checkpoint");
    let at_head = unsigned_checkpoint(summary.entries, &summary.head);
    checkpoint::verify(&path, Some((cp_path, &at_head)), None)
        .expect("a transcript matches a checkpoint of its own head");
    let k = data.len() as u64 % (summary.entries + 1);
    let head_k = match k {
        0 => transcript::GENESIS.to_string(),
        k => hashes[(k - 1) as usize].clone(),
    };
    checkpoint::verify(
        &path,
        Some((cp_path, &unsigned_checkpoint(k, &head_k))),
        None,
    )
    .expect("a transcript matches a checkpoint of any of its prefixes");
    let wrong = unsigned_checkpoint(k, &"f".repeat(64));
    if head_k != wrong.head {
        assert!(checkpoint::verify(&path, Some((cp_path, &wrong)), None).is_err());
    }
    let longer = unsigned_checkpoint(summary.entries + 1, &summary.head);
    assert!(checkpoint::verify(&path, Some((cp_path, &longer)), None).is_err());
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let rechained = ceremony_fuzz::rechain_transcript(data);
    if rechained != data {
        check(&rechained);
    }
});
