//! Operating safety: one ceremony at a time, no core dumps while a PIN is
//! in memory, and no writing into world-writable directories.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{text, Env};

/// Kills the child on drop, so a failed assertion leaves no process behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_run_is_refused_while_the_first_holds_the_transcript_and_core_dumps_are_off() {
    let env = Env::new();
    let script = env.shipped_script("root-init.toml");
    // The first run blocks on its witnesses' answers: a FIFO nobody writes yet.
    let fifo = env.path("answers.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let first = env
        .ceremony()
        .args([
            "run",
            script.to_str().expect("utf-8"),
            "--pin-file",
            "user.pin",
            "--answers",
        ])
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("first run");
    let pid = first.id();
    let first = Running(first);
    // Wait until it has logged in and is waiting at the first witnessed step.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = std::fs::read_to_string(env.path("transcript.jsonl")).unwrap_or_default();
        if t.contains("\"type\":\"inventory\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first run did not reach its witnesses"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Core dumps are off in the process holding the PIN.
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core line");
    assert!(core.split_whitespace().nth(4) == Some("0"), "{core}");

    // The PIN (read and used to log in by now) is in neither its argv nor
    // its environment.
    for what in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{pid}/{what}")).expect("proc");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&env.pin),
            "the PIN is in the process's {what}"
        );
    }
    let entries_before = env.events("transcript.jsonl").len();
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
        "--dry-run",
    ]);
    assert!(out.status.success(), "a dry run takes no lock");
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "transcript.jsonl.lock is held by another ceremony (pid {pid}, started "
        )),
        "{stderr}"
    );
    assert_eq!(
        env.events("transcript.jsonl").len(),
        entries_before,
        "the second run wrote to the transcript"
    );
    drop(first);
    // The lock goes with the process: a later run may proceed (and is refused
    // only on what the interrupted run left: here, nothing but its transcript).
    let out = common::run_ceremony(&env, &script);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // No output line and no transcript entry holds the PIN.
    for haystack in [
        text(&out.stdout),
        text(&out.stderr),
        std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript"),
    ] {
        assert!(!haystack.contains(&env.pin), "the PIN leaked");
    }
}

#[test]
fn world_writable_output_and_transcript_directories_are_refused() {
    let env = Env::new();
    let script = env.shipped_script("root-init.toml");
    std::fs::create_dir(env.path("pki")).expect("mkdir");
    std::fs::set_permissions(env.path("pki"), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    let before = env.token_objects();
    let out = common::run_ceremony(&env, &script);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "directory pki is writable by every user (mode 0777); a ceremony never writes there"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.token_objects(), before);
    assert!(!env.path("transcript.jsonl").exists());
}
