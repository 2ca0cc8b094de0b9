//! Audit evidence: signed checkpoints that show a cut tail, witnesses who
//! must acknowledge a step before it runs, rehearsals, and notes.

mod common;

use std::process::Command;

use common::{ok, text, Env};

fn lines(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path("transcript.jsonl"))
        .expect("transcript")
        .lines()
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_checkpoint_shows_a_cut_tail_and_a_foreign_key_fails() {
    let env = Env::new();
    common::root_init(&env);
    // A second ceremony appends to the transcript and signs a newer checkpoint.
    let extra = env.write(
        "extra.toml",
        &common::script(&common::root_step(
            "extra",
            "ecdsa-p256",
            "CN=extra",
            "extra.crt",
            "",
        ))
        .replace(
            "[output]",
            "[audit]\norigin = \"demo cluster PKI\"\n\n[output]",
        ),
    );
    ok(&common::run_ceremony(&env, &extra));
    let cp = std::fs::read_to_string(env.path("checkpoint")).expect("checkpoint file");
    assert!(
        cp.starts_with("ceremony-checkpoint/1\norigin demo cluster PKI\nentries "),
        "{cp}"
    );
    let all = lines(&env);
    let events = env.events("transcript.jsonl");
    assert_eq!(events.last().expect("last")["type"], "checkpoint");
    assert_eq!(
        events.iter().filter(|e| e["type"] == "checkpoint").count(),
        2
    );

    let verify = |file: &str, key: &str| {
        env.run(&[
            "transcript",
            "verify",
            file,
            "--checkpoint",
            "checkpoint",
            "--audit-key",
            key,
        ])
    };
    let out = ok(&verify("transcript.jsonl", "pki/audit-key.pub"));
    assert!(
        out.contains("2 embedded checkpoint(s), every signature verified with the audit key"),
        "{out}"
    );
    assert!(out.contains("the transcript holds exactly its"), "{out}");

    // Cut the last entries (the second ceremony's tail): the chain alone cannot tell.
    let cut = &all[..all.len() - 4];
    env.write("cut.jsonl", &cut.concat());
    let plain = ok(&env.run(&["transcript", "verify", "cut.jsonl"]));
    assert!(plain.contains("intact"), "{plain}");
    let out = verify("cut.jsonl", "pki/audit-key.pub");
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "transcript cut.jsonl: holds {} entries, but checkpoint checkpoint covers {}: entries were cut from the end",
            cut.len(),
            all.len() - 1
        )),
        "{stderr}"
    );

    // An entry changed and every hash after it recomputed still fails the checkpoint:
    // here, simply a checkpoint that names another head.
    let forged = cp.replace(
        cp.lines().find(|l| l.starts_with("head ")).expect("head"),
        &format!("head {}", "0".repeat(64)),
    );
    env.write("forged-checkpoint", &forged);
    let out = env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--checkpoint",
        "forged-checkpoint",
        "--audit-key",
        "pki/audit-key.pub",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("the signature does not verify with audit key"),
        "{}",
        text(&out.stderr)
    );

    // A checkpoint checked against another key fails.
    let other = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .output()
        .expect("openssl");
    env.write("other.key", &text(&other.stdout));
    let out = Command::new("openssl")
        .current_dir(env.dir.path())
        .args(["pkey", "-in", "other.key", "-pubout", "-out", "other.pub"])
        .output()
        .expect("openssl");
    assert!(out.status.success());
    let out = verify("transcript.jsonl", "other.pub");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains(
            "checkpoint checkpoint: the signature does not verify with audit key other.pub"
        ),
        "{}",
        text(&out.stderr)
    );
    // Without --checkpoint, the embedded checkpoints still name the foreign key.
    let out = env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--audit-key",
        "other.pub",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("checkpoint was signed by another key"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_witness_who_does_not_acknowledge_stops_the_ceremony_before_the_step() {
    let env = Env::new();
    let script = env.shipped_script("root-init.toml");
    let answers = common::answers(&env, &script);
    let good = std::fs::read_to_string(&answers).expect("answers");
    let code = good
        .lines()
        .next()
        .expect("first answer")
        .rsplit(' ')
        .next()
        .expect("code")
        .to_string();
    // The second witness types the wrong code, on every one of the three
    // attempts a witness has (one typo is retried: tests/witnesses.rs).
    env.write(
        "wrong.answers",
        &format!(
            "Demo Witness One {code}\n{}",
            "Demo Witness Two 00000000\n".repeat(3)
        ),
    );
    let before = env.token_objects();
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
        "--answers",
        "wrong.answers",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "witness Demo Witness Two answered, but not with their name and this step's code (step cluster-root, code {code}); the step did not run"
        )),
        "{stderr}"
    );
    assert_eq!(env.token_objects(), before, "a key was generated");
    assert!(!env.path("pki/ca.crt").exists());
    let events = env.events("transcript.jsonl");
    let start = events
        .iter()
        .find(|e| e["type"] == "ceremony_start")
        .expect("start");
    assert_eq!(start["rehearsal"], true);
    let acked = events
        .iter()
        .find(|e| e["type"] == "witness_acknowledged")
        .expect("first witness");
    assert_eq!(acked["witness"], "Demo Witness One");
    assert_eq!(acked["source"], "answers-file");
    let refused = events
        .iter()
        .find(|e| e["type"] == "witness_refused")
        .expect("refusal recorded");
    assert_eq!(refused["witness"], "Demo Witness Two");
    assert_eq!(refused["step"], "cluster-root");
    assert!(
        !events.iter().any(|e| e["type"] == "step_start"),
        "the step started"
    );
    assert_eq!(
        events
            .iter()
            .find(|e| e["type"] == "ceremony_end")
            .expect("end")["outcome"],
        "refused"
    );

    // An operator abort at the prompt is recorded the same way.
    env.write("abort.answers", "abort\n");
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
        "--answers",
        "abort.answers",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("witness Demo Witness One aborted the ceremony"),
        "{}",
        text(&out.stderr)
    );

    // Without a terminal and without answers, nobody can acknowledge: stop.
    let out = Command::new("setsid")
        .args([
            "-w",
            env!("CARGO_BIN_EXE_ceremony"),
            "run",
            script.to_str().expect("utf-8"),
            "--pin-file",
            "user.pin",
        ])
        .current_dir(env.dir.path())
        .env("SOFTHSM2_CONF", env.path("softhsm2.conf"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setsid");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("gave no answer: no terminal to ask on"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.token_objects(), before);

    // The right answers let it run.
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
        "--answers",
        answers.to_str().expect("utf-8"),
    ]));
    let acks = env
        .events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "witness_acknowledged")
        .count();
    assert_eq!(
        acks,
        1 + 4,
        "one from the refused run, two witnesses x two witnessed steps"
    );
    ok(&env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--audit-key",
        "pki/audit-key.pub",
    ]));
}

#[test]
fn notes_are_appended_to_a_verified_transcript_only() {
    let env = Env::new();
    common::root_init(&env);
    let out = ok(&env.run(&[
        "transcript",
        "note",
        "transcript.jsonl",
        "the second witness left the room for five minutes",
        "--author",
        "Demo Operator",
    ]));
    assert!(out.contains("note recorded as entry"), "{out}");
    let events = env.events("transcript.jsonl");
    let note = events.last().expect("note");
    assert_eq!(note["type"], "note");
    assert_eq!(note["author"], "Demo Operator");
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));

    let text_before = std::fs::read_to_string(env.path("transcript.jsonl")).expect("read");
    let broken = text_before.replacen("Demo Operator", "Demo Operatr", 1);
    std::fs::write(env.path("transcript.jsonl"), &broken).expect("write");
    let out = env.run(&[
        "transcript",
        "note",
        "transcript.jsonl",
        "x",
        "--author",
        "y",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        std::fs::read_to_string(env.path("transcript.jsonl")).expect("read"),
        broken
    );
}

#[test]
fn a_checkpoint_on_demand_covers_entries_added_after_a_ceremony() {
    let env = Env::new();
    common::root_init(&env);
    ok(&env.run(&[
        "transcript",
        "note",
        "transcript.jsonl",
        "the safe was sealed at 17:40",
        "--author",
        "Demo Administrator",
    ]));
    let module = common::module();
    let out = ok(&env.run(&[
        "transcript",
        "checkpoint",
        "transcript.jsonl",
        "--module",
        &module,
        "--token",
        "ceremony",
        "--pin-file",
        "user.pin",
        "--out",
        "cp-on-demand",
    ]));
    assert!(
        out.contains("signed by \"ceremony-audit\", appended, written to cp-on-demand"),
        "{out}"
    );
    let events = env.events("transcript.jsonl");
    let last = events.last().expect("checkpoint");
    assert_eq!(last["type"], "checkpoint");
    assert_eq!(
        last["origin"], "demo cluster PKI",
        "the origin is the last checkpoint's"
    );
    assert_eq!(last["entries"].as_u64(), Some(events.len() as u64 - 1));
    ok(&env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--checkpoint",
        "cp-on-demand",
        "--audit-key",
        "pki/audit-key.pub",
    ]));
    // Cutting the note (and the checkpoint after it) fails against the new checkpoint.
    let all = lines(&env);
    env.write("cut.jsonl", &all[..all.len() - 2].concat());
    let out = env.run(&[
        "transcript",
        "verify",
        "cut.jsonl",
        "--checkpoint",
        "cp-on-demand",
        "--audit-key",
        "pki/audit-key.pub",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("entries were cut from the end"),
        "{}",
        text(&out.stderr)
    );
    // A wrong audit key label fails cleanly and appends nothing.
    let before = lines(&env).len();
    let out = env.run(&[
        "transcript",
        "checkpoint",
        "transcript.jsonl",
        "--module",
        &module,
        "--token",
        "ceremony",
        "--pin-file",
        "user.pin",
        "--key-label",
        "no-such-key",
        "--out",
        "cp-x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no key labelled \"no-such-key\""),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(lines(&env).len(), before);
    assert!(!env.path("cp-x").exists());
}

/// `ceremony transcript verify FILE ARGS…`.
fn verify(env: &Env, file: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["transcript", "verify", file];
    all.extend_from_slice(args);
    env.run(&all)
}

/// The `spki_sha256` of the first `audit_key_generated` entry in `file`,
/// and that entry's sequence number.
fn recorded_audit_key(env: &Env, file: &str) -> (usize, String) {
    let events = env.events(file);
    let seq = events
        .iter()
        .position(|e| e["type"] == "audit_key_generated")
        .expect("audit_key_generated");
    (
        seq,
        events[seq]["spki_sha256"]
            .as_str()
            .expect("spki_sha256")
            .to_string(),
    )
}

#[test]
fn with_the_audit_key_a_transcript_without_a_checkpoint_fails() {
    let env = Env::new();
    common::root_init(&env);
    // Cut before the first checkpoint: the chain alone cannot tell.
    let all = lines(&env);
    let cut = &all[..all.len() - 1];
    env.write("cut.jsonl", &cut.concat());
    let out = ok(&verify(&env, "cut.jsonl", &[]));
    assert!(
        out.contains(&format!(
            "\nnot covered: the transcript holds no checkpoint; none of its {} entries is covered by a signature\n",
            cut.len()
        )),
        "{out}"
    );
    let out = verify(&env, "cut.jsonl", &["--audit-key", "pki/audit-key.pub"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: transcript cut.jsonl: holds no checkpoint, so none of its {} entries is covered by a signature of the audit key\n\
             hint: a transcript cut before its first checkpoint looks like this, and so does one whose ceremonies never reached an audit key; compare it with the paper record, or sign a checkpoint with `ceremony transcript checkpoint`\n",
            cut.len()
        )
    );

    // A transcript that never had one: a ceremony whose token holds no
    // audit key skips its checkpoint.
    let skipped = env.write(
        "skipped.toml",
        &common::script(&common::root_step(
            "lone",
            "ecdsa-p256",
            "CN=lone",
            "lone.crt",
            "",
        ))
        .replace("transcript.jsonl", "skipped.jsonl")
        .replace("directory = \"pki\"", "directory = \"lone\"")
        .replace(
            "[output]",
            "[audit]\nkey_label = \"no-audit-key-here\"\n\n[output]",
        ),
    );
    ok(&common::run_ceremony(&env, &skipped));
    let events = env.events("skipped.jsonl");
    assert_eq!(events.last().expect("last")["type"], "checkpoint_skipped");
    let out = verify(&env, "skipped.jsonl", &["--audit-key", "pki/audit-key.pub"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "error: transcript skipped.jsonl: holds no checkpoint, so none of its {} entries is covered by a signature of the audit key\n",
            events.len()
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn entries_after_the_checkpointed_prefix_are_counted() {
    let env = Env::new();
    common::root_init(&env);
    let checkpointed = lines(&env).len(); // the last is the checkpoint entry
    for text in ["the safe was sealed", "the witnesses left"] {
        ok(&env.run(&[
            "transcript",
            "note",
            "transcript.jsonl",
            text,
            "--author",
            "Demo Operator",
        ]));
    }
    let n = checkpointed + 2;
    let tail = format!(
        "the last 2 entries (entries {checkpointed} to {}) are",
        n - 1
    );
    // Without the audit key: reported, exit 0.
    let out = ok(&verify(&env, "transcript.jsonl", &[]));
    assert!(
        out.contains(&format!(
            "\nnot covered: {tail} covered by no checkpoint, only by the hash chain\n"
        )),
        "{out}"
    );
    // With it: the same report, and exit 4.
    let out = verify(
        &env,
        "transcript.jsonl",
        &["--audit-key", "pki/audit-key.pub"],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stdout).contains(&format!("\nnot covered: {tail} covered by no checkpoint")),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).starts_with(&format!(
            "error: transcript transcript.jsonl: {tail} covered by no signature of the audit key\nhint: entries added after the last checkpoint"
        )),
        "{}",
        text(&out.stderr)
    );
    // With the paper checkpoint: the entries after its prefix are named too.
    let cp_args = [
        "--checkpoint",
        "checkpoint",
        "--audit-key",
        "pki/audit-key.pub",
    ];
    let out = verify(&env, "transcript.jsonl", &cp_args);
    assert_eq!(out.status.code(), Some(4));
    let head = env.events("transcript.jsonl")[checkpointed - 1]["head"]
        .as_str()
        .expect("head")
        .to_string();
    assert!(
        text(&out.stdout).contains(&format!(
            "\ncheckpoint checkpoint: the transcript holds exactly its {} entries (head {head}), signed by the audit key; 3 entries after them are not covered by it\n",
            checkpointed - 1
        )),
        "{}",
        text(&out.stdout)
    );

    // A new checkpoint covers them: exit 0, though the paper one is older.
    ok(&env.run(&[
        "transcript",
        "checkpoint",
        "transcript.jsonl",
        "--module",
        &common::module(),
        "--token",
        "ceremony",
        "--pin-file",
        "user.pin",
        "--out",
        "cp-new",
    ]));
    let out = ok(&verify(&env, "transcript.jsonl", &cp_args));
    assert!(
        out.contains("signed by the audit key; 4 entries after them are not covered by it\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "\ncovered: all {} entries are covered by a checkpoint\n",
            n + 1
        )),
        "{out}"
    );
    let (seq, _) = recorded_audit_key(&env, "transcript.jsonl");
    assert!(
        out.contains(&format!(
            "\naudit key pki/audit-key.pub: the key the transcript recorded at entry {seq} (generate-audit-key)\n"
        )),
        "{out}"
    );
}

#[test]
fn a_history_re_signed_with_a_foreign_audit_key_fails() {
    let env = Env::new();
    common::root_init(&env);
    let (seq, genuine) = recorded_audit_key(&env, "transcript.jsonl");
    // The forger drops the genuine checkpoint and signs their own with a
    // key of their own (here in the same token, under another label).
    let all = lines(&env);
    env.write("forged.jsonl", &all[..all.len() - 1].concat());
    let rogue = env.write(
        "rogue.toml",
        &common::script(
            "[[step]]\naction = \"generate-audit-key\"\nid = \"rogue\"\nalgorithm = \"ecdsa-p256\"\npublic_key = \"rogue.pub\"\n",
        )
        .replace("transcript.jsonl", "rogue.jsonl")
        .replace("directory = \"pki\"", "directory = \"rogue\"")
        .replace(
            "[output]",
            "[audit]\nkey_label = \"rogue-audit\"\norigin = \"demo cluster PKI\"\ncheckpoint = \"rogue-checkpoint\"\n\n[output]",
        ),
    );
    ok(&common::run_ceremony(&env, &rogue));
    let (_, rogue_sha) = recorded_audit_key(&env, "rogue.jsonl");
    ok(&env.run(&[
        "transcript",
        "checkpoint",
        "forged.jsonl",
        "--module",
        &common::module(),
        "--token",
        "ceremony",
        "--pin-file",
        "user.pin",
        "--key-label",
        "rogue-audit",
        "--origin",
        "demo cluster PKI",
        "--out",
        "forged-checkpoint",
    ]));
    let before = std::fs::read_to_string(env.path("forged.jsonl")).expect("forged");

    // Every signature verifies with the forger's key, but it is not the
    // audit key the transcript recorded.
    let expected = format!(
        "error: transcript forged.jsonl: audit key rogue/rogue.pub (sha256 {rogue_sha}) is not the audit key the transcript recorded at entry {seq} (generate-audit-key, sha256 {genuine})\n\
         hint: checkpoints signed by another key prove nothing about this ceremony; use the audit key from the paper record (its sha256 is on it)\n"
    );
    for args in [
        &["--audit-key", "rogue/rogue.pub"][..],
        &[
            "--checkpoint",
            "forged-checkpoint",
            "--audit-key",
            "rogue/rogue.pub",
        ][..],
    ] {
        let out = verify(&env, "forged.jsonl", args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(text(&out.stderr), expected, "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
    // With the genuine key, the forged checkpoint is named.
    let out = verify(&env, "forged.jsonl", &["--audit-key", "pki/audit-key.pub"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains(&format!(
            "entry {} (line {}): checkpoint was signed by another key than the audit key given",
            all.len() - 1,
            all.len()
        )),
        "{}",
        text(&out.stderr)
    );
    // Verifying writes nothing.
    assert_eq!(
        std::fs::read_to_string(env.path("forged.jsonl")).expect("forged"),
        before
    );
}

#[test]
fn a_transcript_that_does_not_record_its_audit_key_says_so() {
    let env = Env::new();
    common::root_init(&env);
    // A later ceremony keeps a transcript of its own; its checkpoint is
    // signed by the audit key root-init made and recorded elsewhere.
    let own = env.write(
        "own.toml",
        &common::script(&common::root_step(
            "own",
            "ecdsa-p256",
            "CN=own",
            "own.crt",
            "",
        ))
        .replace("transcript.jsonl", "own.jsonl")
        .replace("directory = \"pki\"", "directory = \"own\"")
        .replace(
            "[output]",
            "[audit]\norigin = \"demo cluster PKI\"\ncheckpoint = \"own-checkpoint\"\n\n[output]",
        ),
    );
    ok(&common::run_ceremony(&env, &own));
    let out = ok(&verify(
        &env,
        "own.jsonl",
        &[
            "--checkpoint",
            "own-checkpoint",
            "--audit-key",
            "pki/audit-key.pub",
        ],
    ));
    assert!(
        out.contains("\naudit key pki/audit-key.pub: the transcript records no generate-audit-key (the key was made in another transcript); the key is trusted as given\n"),
        "{out}"
    );
    assert!(
        out.contains("signed by the audit key; 1 entry after them is not covered by it\n"),
        "{out}"
    );
    let entries = env.events("own.jsonl").len();
    assert!(
        out.ends_with(&format!(
            "\ncovered: all {entries} entries are covered by a checkpoint\n"
        )),
        "{out}"
    );
}

#[test]
fn notes_and_checkpoints_on_demand_are_refused_while_a_ceremony_holds_the_transcript() {
    use std::io::BufRead;
    let env = Env::new();
    common::root_init(&env);
    let before = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    // Another process holds the transcript's lock, as a running ceremony does.
    let mut holder = Command::new("flock")
        .current_dir(env.dir.path())
        .args(["transcript.jsonl.lock", "-c", "echo locked; sleep 30"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("flock");
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line, "locked\n");
    let note = env.run(&[
        "transcript",
        "note",
        "transcript.jsonl",
        "x",
        "--author",
        "y",
    ]);
    let checkpoint = env.run(&[
        "transcript",
        "checkpoint",
        "transcript.jsonl",
        "--module",
        &common::module(),
        "--token",
        "ceremony",
        "--pin-file",
        "user.pin",
        "--out",
        "cp-locked",
    ]);
    let _ = holder.kill();
    let _ = holder.wait();
    for (what, out) in [("note", note), ("checkpoint", checkpoint)] {
        assert_eq!(out.status.code(), Some(2), "{what}");
        assert!(
            text(&out.stderr).starts_with(&format!(
                "error: ceremony \"{what}\" refused: transcript.jsonl.lock is held by another ceremony ("
            )),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript"),
        before
    );
    assert!(!env.path("cp-locked").exists());
}
