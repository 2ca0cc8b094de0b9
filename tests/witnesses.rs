//! Witness acknowledgements as witnesses type them: a mistyped line is
//! recorded (never its text) and asked again, three lines per witness and
//! step; the step runs only after every witness acknowledged it; the third
//! wrong line refuses before the step, as `abort` and no answer do at once.
//! The real binary against a real SoftHSM token, answers from a file or
//! typed on a pseudo-terminal (`common::pty`).

mod common;

use std::path::PathBuf;

use common::{ok, text, Env};

/// The shipped root ceremony and its right answers, one line each, in
/// prompt order (two witnesses, two witnessed steps).
fn root(env: &Env) -> (PathBuf, Vec<String>) {
    let script = env.shipped_script("root-init.toml");
    let answers = common::answers(env, &script);
    let lines: Vec<String> = std::fs::read_to_string(answers)
        .expect("answers")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[1].starts_with("Demo Witness Two "), "{lines:?}");
    (script, lines)
}

/// `line` with its last character changed: a typo in the code.
fn typo(line: &str) -> String {
    let mut s = line.to_string();
    let last = s.pop().expect("a line");
    s.push(if last == '0' { '1' } else { '0' });
    s
}

/// `ceremony run SCRIPT --pin-file user.pin --answers FILE` with `lines`.
fn run_with_answers(env: &Env, script: &std::path::Path, lines: &[String]) -> std::process::Output {
    env.write("typed.answers", &format!("{}\n", lines.join("\n")));
    env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
        "--answers",
        "typed.answers",
    ])
}

fn of_type<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Position of the first event matching `pred`.
fn pos(events: &[serde_json::Value], pred: impl Fn(&serde_json::Value) -> bool) -> usize {
    events.iter().position(pred).expect("event present")
}

/// The failed attempts were recorded as asked, never with the line typed.
fn assert_attempts(env: &Env, witness: &str, step: &str, source: &str, count: u64, typed: &str) {
    let events = env.events("transcript.jsonl");
    let failed = of_type(&events, "witness_attempt_failed");
    assert_eq!(failed.len() as u64, count, "{failed:?}");
    for (i, f) in failed.iter().enumerate() {
        assert_eq!(f["witness"], witness);
        assert_eq!(f["step"], step);
        assert_eq!(f["source"], source);
        assert_eq!(f["attempt"], i as u64 + 1);
        assert_eq!(f["attempts"], 3);
        assert_eq!(
            f["reason"],
            "the name matches but the code is not this step's code"
        );
    }
    let transcript = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    assert!(
        !transcript.contains(typed),
        "the transcript holds the line typed"
    );
    env.assert_events_read_back("transcript.jsonl");
}

#[test]
fn a_mistyped_line_in_the_answers_file_is_retried_and_the_step_runs() {
    let env = Env::new();
    let (script, right) = root(&env);
    let wrong = typo(&right[1]);
    let lines = [
        right[0].clone(),
        wrong.clone(),
        right[1].clone(),
        right[2].clone(),
        right[3].clone(),
    ];
    let stdout = ok(&run_with_answers(&env, &script, &lines));
    assert!(
        stdout.contains("witness Demo Witness Two: attempt 1 of 3 for step cluster-root did not match (the name matches but the code is not this step's code); 2 attempt(s) left"),
        "{stdout}"
    );
    assert_attempts(
        &env,
        "Demo Witness Two",
        "cluster-root",
        "answers-file",
        1,
        &wrong,
    );
    // The step ran only after both witnesses acknowledged it.
    let events = env.events("transcript.jsonl");
    let failed = pos(&events, |e| e["type"] == "witness_attempt_failed");
    let acked = pos(&events, |e| {
        e["type"] == "witness_acknowledged" && e["witness"] == "Demo Witness Two"
    });
    let started = pos(&events, |e| {
        e["type"] == "step_start" && e["step"] == "cluster-root"
    });
    assert!(failed < acked && acked < started, "{events:?}");
    assert_eq!(of_type(&events, "witness_acknowledged").len(), 4);
    assert_eq!(of_type(&events, "ceremony_end")[0]["outcome"], "completed");
    let cert = common::openssl(
        env.dir.path(),
        &["x509", "-in", "pki/ca.crt", "-noout", "-subject"],
    );
    assert!(cert.status.success(), "{}", text(&cert.stderr));
    // The report shows the failed attempt in the acknowledgements.
    ok(&env.run(&["report", "transcript.jsonl", "--out", "report"]));
    let md = std::fs::read_to_string(env.path("report/report.md")).expect("report");
    assert!(
        md.contains("| cluster-root | Demo Witness Two | ")
            && md.contains("| answers-file | attempt 1 of 3 failed: the name matches but the code is not this step's code |"),
        "{md}"
    );
}

#[test]
fn three_wrong_lines_refuse_before_the_step_and_nothing_is_made() {
    let env = Env::new();
    let (script, right) = root(&env);
    let wrong = typo(&right[1]);
    let before = env.token_objects();
    let lines = [
        right[0].clone(),
        wrong.clone(),
        wrong.clone(),
        wrong.clone(),
        right[1].clone(),
    ];
    let out = run_with_answers(&env, &script, &lines);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let code = right[1].rsplit(' ').next().expect("code");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("witness Demo Witness Two answered, but not with their name and this step's code (step cluster-root, code {code}); the step did not run")),
        "{stderr}"
    );
    // No key in the token, no certificate, no output directory content.
    assert_eq!(env.token_objects(), before, "a key was generated");
    assert!(!env.token_objects().contains("cluster-root-ca"));
    assert!(!env.path("pki/ca.crt").exists());
    assert_attempts(
        &env,
        "Demo Witness Two",
        "cluster-root",
        "answers-file",
        3,
        &wrong,
    );
    let events = env.events("transcript.jsonl");
    let refused = of_type(&events, "witness_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["witness"], "Demo Witness Two");
    assert_eq!(
        refused[0]["reason"],
        "answered, but not with their name and this step's code"
    );
    assert!(
        pos(&events, |e| e["type"] == "witness_attempt_failed"
            && e["attempt"] == 3)
            < pos(&events, |e| e["type"] == "witness_refused")
    );
    assert!(
        of_type(&events, "step_start").is_empty(),
        "the step started"
    );
    assert_eq!(of_type(&events, "ceremony_end")[0]["outcome"], "refused");
}

#[test]
fn abort_or_no_answer_after_a_typo_ends_at_once() {
    let env = Env::new();
    let (script, right) = root(&env);
    let wrong = typo(&right[1]);
    let before = env.token_objects();
    // A typo, then abort: no second retry.
    let out = run_with_answers(
        &env,
        &script,
        &[
            right[0].clone(),
            wrong.clone(),
            "abort".into(),
            right[1].clone(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("witness Demo Witness Two aborted the ceremony"),
        "{}",
        text(&out.stderr)
    );
    let events = env.events("transcript.jsonl");
    assert_eq!(of_type(&events, "witness_attempt_failed").len(), 1);
    assert_eq!(
        of_type(&events, "witness_refused")[0]["reason"],
        "aborted the ceremony"
    );
    // A typo, then the file ends: no answer, at once.
    let out = run_with_answers(&env, &script, &[right[0].clone(), wrong.clone()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("witness Demo Witness Two gave no answer: answers file"),
        "{}",
        text(&out.stderr)
    );
    let events = env.events("transcript.jsonl");
    assert_eq!(of_type(&events, "witness_attempt_failed").len(), 2);
    assert_eq!(of_type(&events, "witness_refused").len(), 2);
    assert!(of_type(&events, "step_start").is_empty());
    assert_eq!(env.token_objects(), before);
    assert!(!env.path("pki/ca.crt").exists());
}

#[test]
fn a_witness_who_mistypes_at_the_terminal_types_again_and_the_step_runs() {
    let env = Env::new();
    let (script, right) = root(&env);
    let wrong = typo(&right[1]);
    let prompt = |line: &str| format!("by typing \"{line}\" (or abort): ");
    let (p0, p1, p2, p3) = (
        prompt(&right[0]),
        prompt(&right[1]),
        prompt(&right[2]),
        prompt(&right[3]),
    );
    let steps: Vec<(&str, &str)> = vec![
        (&p0, &right[0]),
        (&p1, &wrong),
        (&p1, &right[1]),
        (&p2, &right[2]),
        (&p3, &right[3]),
    ];
    let out = env
        .client("python3")
        .args([
            "-c",
            common::pty::DRIVER,
            &serde_json::to_string(&steps).expect("json"),
            env!("CARGO_BIN_EXE_ceremony"),
            "run",
        ])
        .arg(&script)
        .args(["--pin-file", "user.pin"])
        .output()
        .expect("python3 runs (with its pty module)");
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("that did not match: the name matches but the code is not this step's code; 2 attempt(s) left."),
        "the prompt says what was wrong and what is left: {shown}"
    );
    assert!(shown.contains("ceremony completed"), "{shown}");
    assert_attempts(
        &env,
        "Demo Witness Two",
        "cluster-root",
        "terminal",
        1,
        &wrong,
    );
    let events = env.events("transcript.jsonl");
    assert_eq!(of_type(&events, "ceremony_start")[0]["rehearsal"], false);
    assert_eq!(of_type(&events, "witness_acknowledged").len(), 4);
    assert!(
        pos(&events, |e| e["type"] == "witness_attempt_failed")
            < pos(&events, |e| e["type"] == "step_start")
    );
    assert!(env.path("pki/ca.crt").exists());
}
