//! Benchmark fixture: a synthetic, intact transcript of N entries, for timing
//! `ceremony transcript verify` at scale.
//!
//! ```text
//! cargo run --release --example gen_transcript -- N FILE
//! ```
//!
//! Writes FILE (which must not exist) in the exact format of docs/formats.md,
//! "The transcript": `{"seq":…,"time":…,"prev":…,"event":…,"hash":…}` per
//! line, where `hash` is the SHA-256 of the line without the `,"hash":"…"`
//! member and `prev` the hash of the line before (64 zeros for the first).
//! Entry 0 is a `ceremony_start` and the last a `ceremony_end`; the others
//! are `certificate_issued` events shaped like a kubelet-serving batch's
//! (about 630 bytes a line), so the file is as large as the real transcript
//! of N certificates. Lines are
//! rendered by hand, not through the library's writer, which fsyncs every
//! entry.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::time::Instant;

use ceremony::hex;
use sha2::{Digest, Sha256};

const TIME: &str = "2026-01-01T00:00:00Z";

fn usage() -> ! {
    eprintln!("usage: gen_transcript N FILE");
    std::process::exit(2);
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("error: {what}: {e}");
    std::process::exit(1);
}

/// The event of entry `seq` of `n`, as JSON text (only ASCII that needs no escaping).
fn event(seq: u64, n: u64, out: &mut String) {
    out.clear();
    if seq > 0 && seq + 1 == n {
        let _ = write!(
            out,
            r#"{{"type":"ceremony_end","outcome":"completed","keys_generated":0,"certificates_issued":{}}}"#,
            n.saturating_sub(2)
        );
        return;
    }
    if seq == 0 {
        out.push_str(
            r#"{"type":"ceremony_start","ceremony":"bench-transcript","rehearsal":false,"script":"synthetic","script_sha256":"0000000000000000000000000000000000000000000000000000000000000000","tool":"ceremony","version":"0.1.0","operator":"Bench Operator","witnesses":[],"steps":["nodes"]}"#,
        );
        return;
    }
    let digest = Sha256::digest(seq.to_be_bytes());
    let sha = hex::encode(&digest);
    let node = format!("n{seq:07}");
    let _ = write!(
        out,
        r#"{{"type":"certificate_issued","step":"nodes","request":"{node}","profile":"kubelet-serving","sans":["DNS:{node}","IP:10.{}.{}.{}"],"file":"certs/{node}.crt","serial":"{}","subject":"CN=system:node:{node},O=system:nodes","issuer":"CN=kubernetes","not_before":"2025-12-31T23:55:00Z","not_after":"2027-01-01T00:00:00Z","sha256":"{sha}"}}"#,
        (seq >> 16) & 0xff,
        (seq >> 8) & 0xff,
        seq & 0xff,
        &sha[..32],
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = match args.next().map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => usage(),
    };
    let path = args.next().unwrap_or_else(|| usage());
    if args.next().is_some() {
        usage();
    }
    let started = Instant::now();
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap_or_else(|e| fail(&path, e));
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut prev = "0".repeat(64);
    let (mut ev, mut body) = (String::new(), String::new());
    for seq in 0..n {
        event(seq, n, &mut ev);
        body.clear();
        let _ = write!(
            body,
            r#"{{"seq":{seq},"time":"{TIME}","prev":"{prev}","event":{ev}}}"#
        );
        let hash = hex::encode(&Sha256::digest(body.as_bytes()));
        body.pop(); // the closing brace
        let _ = writeln!(body, r#","hash":"{hash}"}}"#);
        out.write_all(body.as_bytes())
            .unwrap_or_else(|e| fail(&path, e));
        prev = hash;
    }
    out.flush().unwrap_or_else(|e| fail(&path, e));
    eprintln!(
        "wrote {n} transcript entries to {path} ({:.2}s), head {prev}",
        started.elapsed().as_secs_f64()
    );
}
