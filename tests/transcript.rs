//! `ceremony transcript verify` on a real ceremony's transcript: intact
//! passes; any edited byte, removed line, swapped pair or inserted line fails
//! and names the entry.

mod common;

use common::{ok, text, Env};

fn ceremony_transcript() -> (Env, Vec<String>) {
    let env = Env::new();
    let script = env.shipped_script("root-init.toml");
    ok(&common::run_ceremony(&env, &script));
    let lines = std::fs::read_to_string(env.path("transcript.jsonl"))
        .expect("transcript")
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    (env, lines)
}

/// Writes `lines` as a transcript and verifies it; returns (exit code, stderr).
fn verify(env: &Env, lines: &[String]) -> (Option<i32>, String) {
    env.write("tampered.jsonl", &lines.concat());
    let out = env.run(&["transcript", "verify", "tampered.jsonl"]);
    (out.status.code(), text(&out.stderr))
}

#[test]
fn an_intact_transcript_verifies() {
    let (env, lines) = ceremony_transcript();
    let out = ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    assert!(
        out.contains(&format!("intact, {} entries", lines.len())),
        "{out}"
    );
    assert!(!out.contains("note:"), "{out}");
    assert!(!out.contains("interrupted:"), "{out}");
    assert!(
        out.ends_with(&format!(
            "\ncovered: all {} entries are covered by a checkpoint\n",
            lines.len()
        )),
        "{out}"
    );
}

#[test]
fn one_changed_byte_in_any_entry_is_named() {
    let (env, lines) = ceremony_transcript();
    for i in 0..lines.len() {
        let mut tampered = lines.clone();
        // Change one byte inside the event (after the opening `"event":{"`).
        let at = tampered[i].find("\"event\":{\"type\":\"").expect("event") + 20;
        let mut bytes = tampered[i].clone().into_bytes();
        bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
        tampered[i] = String::from_utf8(bytes).expect("ascii");
        let (code, stderr) = verify(&env, &tampered);
        assert_eq!(code, Some(3), "entry {i}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "entry {i} (line {}): content does not match its hash",
                i + 1
            )),
            "entry {i}: {stderr}"
        );
        assert!(
            stderr.contains("hint: the transcript was changed"),
            "{stderr}"
        );
    }
}

#[test]
fn a_removed_line_is_named() {
    let (env, lines) = ceremony_transcript();
    for i in 0..lines.len() - 1 {
        let mut tampered = lines.clone();
        tampered.remove(i);
        let (code, stderr) = verify(&env, &tampered);
        assert_eq!(code, Some(3), "line {i}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "entry {i} (line {}): found entry with sequence number {}",
                i + 1,
                i + 1
            )),
            "removed {i}: {stderr}"
        );
    }
    // Cutting the last entries leaves a valid chain; verify says that no
    // checkpoint covers them and that the ceremony never ended (with the
    // audit key, a transcript with no checkpoint fails: tests/audit.rs).
    let mut cut = lines.clone();
    cut.truncate(cut.len() - 2); // the checkpoint and the ceremony_end
    env.write("cut.jsonl", &cut.concat());
    let out = ok(&env.run(&["transcript", "verify", "cut.jsonl"]));
    assert!(
        out.contains(&format!(
            "\nnot covered: the transcript holds no checkpoint; none of its {} entries is covered by a signature\n",
            cut.len()
        )),
        "{out}"
    );
    assert!(
        out.contains("\ninterrupted: ceremony \"root-init\" started at entry 0 and never recorded its end; it signed 3 certificate(s), 0 of them never delivered (no output bundle recorded for their step)\n"),
        "{out}"
    );
}

#[test]
fn swapped_and_inserted_lines_are_named() {
    let (env, lines) = ceremony_transcript();
    for i in 0..lines.len() - 1 {
        let mut tampered = lines.clone();
        tampered.swap(i, i + 1);
        let (code, stderr) = verify(&env, &tampered);
        assert_eq!(code, Some(3), "swap {i}: {stderr}");
        assert!(
            stderr.contains(&format!("entry {i} (line {})", i + 1)),
            "swap {i}: {stderr}"
        );
    }
    let mut far = lines.clone();
    let last = far.len() - 1;
    far.swap(0, last);
    let (code, stderr) = verify(&env, &far);
    assert_eq!(code, Some(3));
    assert!(stderr.contains("entry 0 (line 1)"), "{stderr}");

    let mut inserted = lines.clone();
    inserted.insert(3, lines[5].clone());
    let (code, stderr) = verify(&env, &inserted);
    assert_eq!(code, Some(3));
    assert!(stderr.contains("entry 3 (line 4)"), "{stderr}");
}

#[test]
fn a_later_ceremony_appends_to_the_same_transcript_and_a_broken_one_is_never_appended_to() {
    let (env, lines) = ceremony_transcript();
    let more = env.write(
        "more.toml",
        &common::script(&common::root_step(
            "extra",
            "ecdsa-p384",
            "CN=extra",
            "extra.crt",
            "",
        )),
    );
    ok(&env.run(&[
        "run",
        more.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));
    let after = std::fs::read_to_string(env.path("transcript.jsonl")).expect("read");
    assert!(
        after.starts_with(&lines.concat()),
        "earlier entries must stay byte for byte"
    );
    let verified = ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    assert!(verified.contains(&format!("intact, {} entries", after.lines().count())));

    // Break the file, then try another ceremony: refused, file unchanged.
    let broken = after.replacen("\"root-init\"", "\"root-lnit\"", 1);
    std::fs::write(env.path("transcript.jsonl"), &broken).expect("tamper");
    let again = env.write(
        "again.toml",
        &common::script(&common::root_step(
            "again",
            "ecdsa-p256",
            "CN=again",
            "again.crt",
            "",
        )),
    );
    let out = env.run(&[
        "run",
        again.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("entry 0 (line 1): content does not match its hash"));
    assert_eq!(
        std::fs::read_to_string(env.path("transcript.jsonl")).expect("read"),
        broken
    );
    assert!(!env.path("pki/again.crt").exists());
}

#[test]
fn the_help_documents_every_exit_code() {
    let env = Env::new();
    let help = ok(&env.run(&["transcript", "verify", "--help"]));
    let codes: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Exit codes:")
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once("  ").map(|(code, _)| code))
        .filter(|code| code.len() == 1)
        .collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4"], "{help}");
}
