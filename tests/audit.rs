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
    // The second witness types the wrong code.
    env.write(
        "wrong.answers",
        &format!("Demo Witness One {code}\nDemo Witness Two 00000000\n"),
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
