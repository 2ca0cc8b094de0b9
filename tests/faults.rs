//! Faults during a ceremony: a write that fails (a file-size limit, as on a
//! full disk), an unreadable input, and an output that appears while the
//! ceremony runs. Each ends the ceremony cleanly: a clear message, recorded
//! in the transcript, and no partial output.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{ok, text, Env};

/// Roots, the demo requests sealed, and a sign-components script with its
/// own transcript (`sign.jsonl`), so file sizes stay predictable.
fn setup(witnessed: bool) -> (Env, String) {
    let env = Env::new();
    common::root_init(&env);
    common::make_requests(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let sha = common::seal(&env, "requester/components.toml", "requests/components.tar");
    let mut script =
        std::fs::read_to_string(common::repo().join("ceremonies/sign-components.toml"))
            .expect("script")
            .replace("REQUEST-BUNDLE-SHA256", &sha)
            .replace("REQUESTER-AGE-RECIPIENT", &recipient)
            .replace("/usr/lib/softhsm/libsofthsm2.so", &common::module())
            .replace(
                "transcript = \"transcript.jsonl\"",
                "transcript = \"sign.jsonl\"",
            );
    if witnessed {
        script = script.replace(
            "allow_break_glass = true",
            "allow_break_glass = true\nwitnessed = true",
        );
    }
    let path = env.write("sign.toml", &script);
    (env, path.to_str().expect("utf-8").to_string())
}

fn last_outcome(env: &Env) -> (serde_json::Value, Vec<serde_json::Value>) {
    let events = env.events("sign.jsonl");
    let end = events
        .iter()
        .rev()
        .find(|e| e["type"] == "ceremony_end")
        .expect("the end is recorded")
        .clone();
    (end, events)
}

fn bundles(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.path("bundles"))
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_write_that_fails_ends_the_ceremony_cleanly() {
    let (env, script) = setup(false);
    // 48 KiB per file: the transcript fits, the output bundle does not. SIGXFSZ
    // is ignored so the write fails with EFBIG, as on a full disk.
    let out = Command::new("bash")
        .current_dir(env.dir.path())
        .env("SOFTHSM2_CONF", env.path("softhsm2.conf"))
        .args([
            "-c",
            r#"trap '' XFSZ; ulimit -f 48; exec "$0" run "$1" --pin-file user.pin"#,
            env!("CARGO_BIN_EXE_ceremony"),
            &script,
        ])
        .output()
        .expect("bash");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("components.tar.age") && stderr.contains("File too large"),
        "{stderr}"
    );
    let (end, events) = last_outcome(&env);
    assert_eq!(end["outcome"], "failed");
    assert!(events.iter().any(|e| e["type"] == "step_failed"
        && e["error"]
            .as_str()
            .is_some_and(|m| m.contains("File too large"))));
    assert!(
        bundles(&env)
            .iter()
            .all(|n| n.starts_with(".ceremony-tmp.")),
        "{:?}",
        bundles(&env)
    );
    assert!(!bundles(&env).iter().any(|n| n == "components.tar.age"));
    ok(&env.run(&["transcript", "verify", "sign.jsonl"]));
    // Without the limit, the same ceremony succeeds.
    ok(&env.run(&["run", &script, "--pin-file", "user.pin"]));
    assert!(env.path("bundles/components.tar.age").exists());
}

#[test]
fn an_unreadable_input_is_refused_and_recorded() {
    let (env, script) = setup(false);
    std::fs::remove_file(env.path("requests/components.tar")).expect("rm");
    std::fs::create_dir(env.path("requests/components.tar")).expect("a directory in its place");
    let out = env.run(&["run", &script, "--pin-file", "user.pin"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("requests/components.tar"), "{stderr}");
    let (end, events) = last_outcome(&env);
    assert_eq!(end["outcome"], "refused");
    assert!(events.iter().any(|e| e["type"] == "refused"));
    assert!(bundles(&env).is_empty(), "{:?}", bundles(&env));
}

#[test]
fn an_output_that_appears_during_the_ceremony_is_never_overwritten() {
    let (env, script) = setup(true);
    // The run stops at the witnesses (after its checks for existing outputs);
    // meanwhile someone puts a file where the bundle will go.
    let answers = common::answers(&env, std::path::Path::new(&script));
    let mut child = env
        .ceremony()
        .args([
            "run",
            &script,
            "--pin-file",
            "user.pin",
            "--answers",
            "/dev/stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    // Read its progress until it says it waits for the witnesses (its checks
    // for existing outputs are done by then).
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("is witnessed") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("the run did not reach its witnesses");
    std::fs::create_dir_all(env.path("bundles")).expect("mkdir");
    std::fs::write(
        env.path("bundles/components.tar.age"),
        b"someone else's file\n",
    )
    .expect("write");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&std::fs::read(&answers).expect("answers"))
        .expect("answer");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("components.tar.age") && stderr.contains("exists"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(env.path("bundles/components.tar.age")).expect("kept"),
        b"someone else's file\n"
    );
    assert!(!env.path("bundles/components.tar.age.sha256").exists());
    let (end, _) = last_outcome(&env);
    assert_eq!(end["outcome"], "failed");
    ok(&env.run(&["transcript", "verify", "sign.jsonl"]));
}

/// Runs the batch ceremony with a token fault injected after `after` signatures.
#[cfg(feature = "fault-injection")]
fn run_with_fault(env: &Env, script: &str, fault: &str) -> std::process::Output {
    env.ceremony()
        .env("CEREMONY_FAULT", fault)
        .args(["run", script, "--pin-file", "user.pin"])
        .output()
        .expect("run")
}

#[cfg(feature = "fault-injection")]
#[test]
fn token_faults_mid_batch_end_the_ceremony_cleanly() {
    let (env, script) = setup(false);
    for (fault, needle) in [
        (
            "sign-error:5",
            "C_Sign failed: DeviceError (injected by CEREMONY_FAULT)",
        ),
        (
            "session-closed:3",
            "C_Sign failed: SessionClosed (injected by CEREMONY_FAULT)",
        ),
        // A real C_Logout: the key's handle is gone with the login.
        ("logout:7", "C_SignInit failed: ObjectHandleInvalid"),
    ] {
        let out = run_with_fault(&env, &script, fault);
        assert_eq!(out.status.code(), Some(1), "{fault}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(needle), "{fault}: {stderr}");
        if !fault.starts_with("sign-error") {
            assert!(
                stderr.contains("hint: the token session lost its login"),
                "{stderr}"
            );
        }
        let (end, events) = last_outcome(&env);
        assert_eq!(end["outcome"], "failed", "{fault}");
        assert!(
            events.iter().any(|e| e["type"] == "step_failed"
                && e["error"].as_str().is_some_and(|m| m.contains(needle))),
            "{fault}: not recorded"
        );
        // This run's entries from its step_failed on.
        let failed = events
            .iter()
            .rposition(|e| e["type"] == "step_failed")
            .expect("step_failed");
        let tail: Vec<&str> = events[failed..]
            .iter()
            .map(|e| e["type"].as_str().expect("type"))
            .collect();
        if fault.starts_with("logout") {
            // The token really dropped the login: named, recorded, and no
            // end inventory (it would miss every private object) and no
            // checkpoint (the audit key is out of reach), saying why.
            assert_eq!(events[failed]["step"], "components");
            assert_eq!(events[failed]["session_lost"], true, "{fault}");
            assert_eq!(
                tail,
                ["step_failed", "ceremony_end", "checkpoint_skipped"],
                "{fault}"
            );
            assert!(events[failed + 2]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("the token dropped the login")));
            assert!(
                text(&out.stdout).contains(
                    "the token dropped the login (or the session) during step components: the ceremony stops here"
                ),
                "{}",
                text(&out.stdout)
            );
        } else {
            // A simulated failure: the login holds, so the token's end
            // state and a checkpoint are still recorded.
            assert!(events[failed].get("session_lost").is_none(), "{fault}");
            assert_eq!(
                tail,
                ["step_failed", "inventory", "ceremony_end", "checkpoint"],
                "{fault}"
            );
        }
        assert!(
            !bundles(&env).iter().any(|n| n == "components.tar.age"),
            "{fault}: a partial bundle"
        );
        assert!(
            !bundles(&env)
                .iter()
                .any(|n| n == "components.tar.age.sha256"),
            "{fault}"
        );
        ok(&env.run(&["transcript", "verify", "sign.jsonl"]));
    }
}
