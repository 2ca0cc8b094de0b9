//! Crash safety: `ceremony run` killed with SIGKILL at many points of a batch
//! ceremony leaves no output bundle or a complete, verifiable one, nothing
//! that could be mistaken for an output, and a transcript that verifies up
//! to its last whole entry; the next run records what it found and goes on.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ok, text, Env};

/// Checks what a killed run left in `bundles/`; moves a finished bundle away.
fn check_outputs(env: &Env, round: usize) -> bool {
    let dir = env.path("bundles");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return false;
    };
    let names: Vec<String> = entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for name in &names {
        assert!(
            name == "components.tar.age"
                || name == "components.tar.age.sha256"
                || name.starts_with(".ceremony-tmp."),
            "round {round}: {name} could be mistaken for an output"
        );
    }
    if !names.iter().any(|n| n == "components.tar.age") {
        assert!(
            !names.iter().any(|n| n == "components.tar.age.sha256"),
            "round {round}: a checksum without its bundle"
        );
        return false;
    }
    // The bundle is complete: it decrypts and every checksum inside holds.
    let out = Command::new("bash")
        .current_dir(env.dir.path())
        .args([
            "-c",
            &format!(
                "set -e -o pipefail; mkdir -p check{round}; age -d -i requester.agekey bundles/components.tar.age | tar -x -C check{round}; cd check{round}; sha256sum --quiet -c SHA256SUMS; cd ../bundles; if [ -e components.tar.age.sha256 ]; then sha256sum --quiet -c components.tar.age.sha256; fi"
            ),
        ])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "round {round}: a partial bundle: {}",
        text(&out.stderr)
    );
    std::fs::rename(&dir, env.path(&format!("bundles-{round}"))).expect("move the bundle away");
    true
}

/// Copies a directory tree (SoftHSM's token directory: files and subdirectories).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn sigkill_at_many_points_leaves_nothing_half_done() {
    let env = Env::new();
    common::root_init(&env);
    common::make_requests(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let sha = common::seal(&env, "requester/components.toml", "requests/components.tar");
    let script = std::fs::read_to_string(common::repo().join("ceremonies/sign-components.toml"))
        .expect("script")
        .replace("REQUEST-BUNDLE-SHA256", &sha)
        .replace("REQUESTER-AGE-RECIPIENT", &recipient)
        .replace("/usr/lib/softhsm/libsofthsm2.so", &common::module());
    let script = env.write("sign.toml", &script);
    let script = script.to_str().expect("utf-8");
    // SoftHSM's file store rewrites token.object in place at every login,
    // so a SIGKILL in that moment can leave the token itself unreadable
    // (SoftHSM's own hazard, not the tool's; see SECURITY.md). A signing
    // ceremony changes nothing in the token, so its directory is put back
    // after every kill: this test is about what the tool leaves behind.
    copy_dir(&env.path("tokens"), &env.path("tokens.saved"));

    let mut finished = 0;
    for (round, delay_ms) in [
        0u64, 15, 30, 45, 60, 80, 100, 130, 160, 200, 260, 330, 420, 550,
    ]
    .into_iter()
    .enumerate()
    {
        let mut child = env
            .ceremony()
            .args(["run", script, "--pin-file", "user.pin"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        std::fs::remove_dir_all(env.path("tokens")).expect("rm tokens");
        copy_dir(&env.path("tokens.saved"), &env.path("tokens"));
        if check_outputs(&env, round) {
            finished += 1;
        }
        // The transcript verifies up to its last whole entry; the only
        // failure allowed is a torn last line, reported as a crash remnant.
        let out = env.run(&["transcript", "verify", "transcript.jsonl"]);
        if !out.status.success() {
            assert!(
                text(&out.stderr).contains("a crash remnant"),
                "round {round}: {}",
                text(&out.stderr)
            );
        }
    }

    // A last run completes; it records what the killed runs left behind.
    let out = ok(&env.run(&["run", script, "--pin-file", "user.pin"]));
    assert!(
        out.contains("step components: wrote bundles/components.tar.age"),
        "{out}"
    );
    assert!(check_outputs(&env, 99));
    ok(&env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--audit-key",
        "pki/audit-key.pub",
    ]));
    let events = env.events("transcript.jsonl");
    let found = events
        .iter()
        .filter(|e| e["type"] == "unfinished_ceremony_found")
        .count();
    let starts = events
        .iter()
        .filter(|e| e["type"] == "ceremony_start" && e["ceremony"] == "sign-components")
        .count();
    assert!(
        found >= 1,
        "no interrupted ceremony was recorded ({starts} starts)"
    );
    eprintln!(
        "{starts} runs, {found} found interrupted, {finished} killed after the bundle was in place"
    );
}
