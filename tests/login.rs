//! The login as an operator meets it: the real binary on a pseudo-terminal
//! (python3's `pty` types at the prompts), against a real SoftHSM token.
//! A mistyped PIN is typed again, each attempt recorded and never the PIN;
//! three wrong PINs stop the ceremony; a PIN file is tried once.
//!
//! SoftHSM 2.6 sets only `CKF_USER_PIN_COUNT_LOW` (after a wrong PIN,
//! cleared by a good login) and never locks a PIN, so the count-low warning
//! is tested here as the token sets it; the locked, to-be-changed and
//! final-try paths need the test-only `CEREMONY_FAULT=pin-…` (feature
//! `fault-injection`), which sets that flag on what the token reports; the
//! flag → verdict → message mapping is unit-tested in `src/token/pin`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{text, Env};

/// The shipped root ceremony, its witnesses answered from a file.
fn root_script(env: &Env) -> (PathBuf, PathBuf) {
    let script = env.shipped_script("root-init.toml");
    let answers = common::answers(env, &script);
    (script, answers)
}

/// `ceremony run SCRIPT --answers ANSWERS [extra]` on a terminal, typing
/// `steps`; the environment variables `vars` are set for it.
fn run_on_terminal(
    env: &Env,
    (script, answers): &(PathBuf, PathBuf),
    steps: &[(&str, &str)],
    vars: &[(&str, &str)],
) -> Output {
    let steps = serde_json::to_string(steps).expect("json");
    let mut cmd = env.client("python3");
    cmd.args([
        "-c",
        common::pty::DRIVER,
        &steps,
        env!("CARGO_BIN_EXE_ceremony"),
        "run",
    ])
    .arg(script)
    .arg("--answers")
    .arg(answers);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("python3 runs (with its pty module)")
}

fn logins(env: &Env) -> Vec<serde_json::Value> {
    env.events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "login")
        .collect()
}

fn last_end(env: &Env) -> serde_json::Value {
    env.events("transcript.jsonl")
        .into_iter()
        .rev()
        .find(|e| e["type"] == "ceremony_end")
        .expect("the end is recorded")
}

/// No transcript entry carries `secret`.
fn never_recorded(env: &Env, secret: &str) {
    let transcript = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    assert!(!transcript.contains(secret), "the transcript holds a PIN");
}

const PROMPT: &str = "user PIN for token ceremony: ";

#[test]
fn a_mistyped_pin_at_the_prompt_is_typed_again_and_each_attempt_recorded() {
    let env = Env::new();
    let wrong = "wrong-pin-4711";
    let out = run_on_terminal(
        &env,
        &root_script(&env),
        &[(PROMPT, wrong), (PROMPT, &env.pin)],
        &[],
    );
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    // The flags come before each prompt: none at first, count low after the
    // wrong PIN (SoftHSM sets it), with the warning.
    let first = shown.find(PROMPT).expect("first prompt");
    assert!(
        shown[..first].contains("user PIN: no PIN flag set"),
        "{shown}"
    );
    let retry = shown
        .find("the token refused the PIN (attempt 1 of 3); type it again")
        .expect("the retry is announced");
    let second = first + 1 + shown[first + 1..].find(PROMPT).expect("second prompt");
    assert!(retry < second, "{shown}");
    assert!(
        shown[retry..second].contains("CKF_USER_PIN_COUNT_LOW")
            && shown[retry..second].contains("warning: token \"ceremony\": a wrong user PIN"),
        "{shown}"
    );
    assert!(shown.contains("ceremony completed"), "{shown}");

    let logins = logins(&env);
    assert_eq!(logins.len(), 2, "{logins:?}");
    assert_eq!(logins[0]["attempt"], 1);
    assert_eq!(logins[0]["pin_source"], "prompt");
    assert_eq!(logins[0]["pin_flags"], serde_json::json!([]));
    assert_eq!(logins[0]["attempted"], true);
    assert_eq!(logins[0]["success"], false);
    assert_eq!(logins[0]["rv"], "PinIncorrect");
    assert_eq!(logins[1]["attempt"], 2);
    assert_eq!(logins[1]["pin_flags"], serde_json::json!(["count_low"]));
    assert_eq!(logins[1]["success"], true);
    assert!(logins[1].get("rv").is_none() && logins[1].get("error").is_none());
    assert_eq!(last_end(&env)["outcome"], "completed");
    never_recorded(&env, wrong);
    never_recorded(&env, &env.pin);
    common::ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
}

#[test]
fn three_wrong_pins_stop_the_ceremony_before_a_fourth() {
    let env = Env::new();
    let wrong = ["wrong-pin-1", "wrong-pin-2", "wrong-pin-3"];
    let out = run_on_terminal(
        &env,
        &root_script(&env),
        &[(PROMPT, wrong[0]), (PROMPT, wrong[1]), (PROMPT, wrong[2])],
        &[],
    );
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert_eq!(shown.matches(PROMPT).count(), 3, "{shown}");
    assert!(
        shown.contains("token ceremony: login refused: PinIncorrect")
            && shown.contains("hint: the PIN is wrong"),
        "{shown}"
    );
    let logins = logins(&env);
    let attempts: Vec<_> = logins.iter().map(|l| l["attempt"].clone()).collect();
    assert_eq!(attempts, [1, 2, 3], "{logins:?}");
    assert!(logins
        .iter()
        .all(|l| l["success"] == false && l["rv"] == "PinIncorrect"));
    assert_eq!(logins[2]["pin_flags"], serde_json::json!(["count_low"]));
    let end = last_end(&env);
    assert_eq!(end["outcome"], "failed");
    assert!(!env.path("pki/ca.crt").exists());
    for w in wrong {
        never_recorded(&env, w);
    }
}

#[test]
fn a_pin_file_is_tried_once() {
    let env = Env::new();
    env.write_secret("wrong.pin", "wrong-pin-file\n");
    let (script, answers) = root_script(&env);
    let out = env.run(&[
        "run",
        path(&script),
        "--pin-file",
        "wrong.pin",
        "--answers",
        path(&answers),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("login refused: PinIncorrect"));
    let logins = logins(&env);
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0]["pin_source"], "file wrong.pin");
    assert_eq!(logins[0]["attempt"], 1);
    assert_eq!(logins[0]["rv"], "PinIncorrect");
    assert_eq!(last_end(&env)["outcome"], "failed");
    never_recorded(&env, "wrong-pin-file");
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// A locked PIN, or one to be changed, is refused before any prompt (no
/// terminal is even needed), recorded with the flag, with the fix as hint.
#[cfg(feature = "fault-injection")]
#[test]
fn a_locked_pin_or_one_to_be_changed_is_refused_before_any_prompt() {
    for (fault, flag, words, hint) in [
        (
            "pin-locked",
            "locked",
            "the user PIN is locked (CKF_USER_PIN_LOCKED); no PIN was asked for",
            "hint: the token's security officer must unlock the user PIN",
        ),
        (
            "pin-to-be-changed",
            "to_be_changed",
            "the user PIN must be changed before use (CKF_USER_PIN_TO_BE_CHANGED)",
            "hint: change the user PIN first",
        ),
    ] {
        let env = Env::new();
        let (script, answers) = root_script(&env);
        // No --pin-file: the prompt would be the source, and stdin is null.
        let out = env
            .ceremony()
            .env("CEREMONY_FAULT", fault)
            .args(["run", path(&script), "--answers", path(&answers)])
            .output()
            .expect("run");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{fault}: {stderr}");
        assert!(
            stderr.contains(&format!("token \"ceremony\": {words}")) && stderr.contains(hint),
            "{fault}: {stderr}"
        );
        assert!(!text(&out.stdout).contains(PROMPT), "{fault}");
        let logins = logins(&env);
        assert_eq!(logins.len(), 1, "{fault}: {logins:?}");
        assert_eq!(logins[0]["attempted"], false);
        assert_eq!(logins[0]["pin_flags"], serde_json::json!([flag]));
        let events = env.events("transcript.jsonl");
        assert!(
            events.iter().any(|e| e["type"] == "refused"
                && e["reasons"][0].as_str().is_some_and(|r| r.contains(words))),
            "{fault}: {events:?}"
        );
        assert_eq!(last_end(&env)["outcome"], "refused", "{fault}");
        assert!(!env.path("pki").exists(), "{fault}: outputs written");
    }
}

/// A final try is confirmed on the terminal before the PIN is asked for;
/// anything but `yes` refuses, recorded.
#[cfg(feature = "fault-injection")]
#[test]
fn a_final_try_needs_the_operators_yes_before_the_prompt() {
    const CONFIRM: &str = "type yes to enter the PIN, anything else stops the ceremony: ";
    let env = Env::new();
    let script = root_script(&env);
    let vars = [("CEREMONY_FAULT", "pin-final-try")];

    let out = run_on_terminal(&env, &script, &[(CONFIRM, "no")], &vars);
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(!shown.contains(PROMPT), "the PIN was asked for: {shown}");
    assert!(
        shown.contains("final try (CKF_USER_PIN_FINAL_TRY) and the operator did not confirm it"),
        "{shown}"
    );
    let refused = logins(&env);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["final_try_confirmed"], false);
    assert_eq!(refused[0]["attempted"], false);
    assert_eq!(refused[0]["pin_flags"], serde_json::json!(["final_try"]));
    assert_eq!(last_end(&env)["outcome"], "refused");
    // Refused before anything changed: no output, no key in the token.
    assert!(!env.path("pki").exists(), "outputs written");
    assert!(!env.token_objects().contains("cluster-root-ca"));

    let out = run_on_terminal(
        &env,
        &script,
        &[(CONFIRM, "yes"), (PROMPT, &env.pin)],
        &vars,
    );
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    let all = logins(&env);
    let last = all.last().expect("login");
    assert_eq!(last["final_try_confirmed"], true);
    assert_eq!(last["success"], true);
    assert_eq!(last_end(&env)["outcome"], "completed");
    never_recorded(&env, &env.pin);
}

/// Count low is a warning, shown and recorded; the PIN file still logs in.
#[cfg(feature = "fault-injection")]
#[test]
fn count_low_is_a_warning() {
    let env = Env::new();
    let (script, answers) = root_script(&env);
    let out = env
        .ceremony()
        .env("CEREMONY_FAULT", "pin-count-low")
        .args(["run", path(&script), "--pin-file", "user.pin"])
        .args(["--answers", path(&answers)])
        .output()
        .expect("run");
    let stdout = common::ok(&out);
    assert!(
        stdout.contains("warning: token \"ceremony\": a wrong user PIN was given"),
        "{stdout}"
    );
    let logins = logins(&env);
    assert_eq!(logins[0]["pin_flags"], serde_json::json!(["count_low"]));
    assert_eq!(logins[0]["success"], true);
}
