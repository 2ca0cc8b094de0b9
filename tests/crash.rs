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
    // Torn lines apart (they are not entries), every entry reads back with
    // the one event type, byte for byte.
    let kinds = env.assert_events_read_back("transcript.jsonl");
    assert!(kinds.iter().any(|k| k == "unfinished_ceremony_found"));
    eprintln!(
        "{starts} runs, {found} found interrupted, {finished} killed after the bundle was in place"
    );
}

/// Requests in the batch killed part-way.
const BATCH: usize = 5_000;

/// How many whole `certificate_issued` entries follow the last
/// `ceremony_start` (a torn last line is not an entry).
fn issued_since_last_start(env: &Env) -> (u64, u64) {
    let text = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    let mut start = None;
    let mut issued = 0;
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match entry["event"]["type"].as_str() {
            Some("ceremony_start") => {
                start = entry["seq"].as_u64();
                issued = 0;
            }
            Some("certificate_issued") => issued += 1,
            _ => {}
        }
    }
    (start.expect("a ceremony started"), issued)
}

/// The transcript's events, without a torn line kept as a crash remnant.
fn whole_events(env: &Env) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.path("transcript.jsonl"))
        .expect("transcript")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|e| e["event"].clone())
        .collect()
}

/// The names in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_run_after_a_kill_mid_batch_removes_its_temporaries_and_names_it() {
    let clock = std::time::Instant::now();
    let env = Env::new();
    common::root_init(&env);
    std::fs::create_dir_all(env.path("many/csr")).expect("mkdir");
    std::thread::scope(|s| {
        for part in 0..4 {
            let env = &env;
            s.spawn(move || {
                for index in (part..BATCH).step_by(4) {
                    let node = common::csrgen::node(index, 5);
                    let pem = common::csrgen::csr("crash", index, &node).expect("csr");
                    env.write(&format!("many/csr/{node}.csr"), &pem);
                }
            });
        }
    });
    env.write(
        "many/requests.toml",
        &common::csrgen::manifest(BATCH, 5, "the crash test"),
    );
    let sha = common::seal(&env, "many/requests.toml", "many.tar");
    let recipient = common::age_identity(&env, "requester.agekey");
    env.write(
        "many.toml",
        // csrgen's nodes are in 10.0.0.0/8.
        &common::sign_script(
            "many.tar",
            &sha,
            "many",
            &recipient,
            "[step.cluster]\nnode_networks = [\"10.0.0.0/8\"]",
        ),
    );
    copy_dir(&env.path("tokens"), &env.path("tokens.saved"));
    eprintln!("set up in {:?}", clock.elapsed());

    // Kill the batch once its temporary bundle exists and some certificates
    // are on record, long before the 5,000th.
    let mut child = env
        .ceremony()
        .args([
            "run",
            "many.toml",
            "--pin-file",
            "user.pin",
            "--sessions",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    let pid = child.id();
    let temporary = format!(".ceremony-tmp.many.tar.age.{pid}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never got going"
        );
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the batch ended by itself before it was killed: {status}");
        }
        let transcript = std::fs::read_to_string(env.path("transcript.jsonl")).unwrap_or_default();
        if env.path("bundles").join(&temporary).exists()
            && transcript
                .matches("\"type\":\"certificate_issued\"")
                .count()
                > 3 + 200
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    eprintln!("killed at {:?}", clock.elapsed());
    std::fs::remove_dir_all(env.path("tokens")).expect("rm tokens");
    copy_dir(&env.path("tokens.saved"), &env.path("tokens"));
    assert_eq!(names(&env.path("bundles")), vec![temporary.clone()]);
    let (start, issued) = issued_since_last_start(&env);
    assert!(issued > 200 && issued < BATCH as u64, "{issued} issued");

    // Beside it: a live process's temporary name, and a dead one's for an
    // output this plan does not name. Neither is the next run's to remove.
    let mut live = Command::new("sleep").arg("60").spawn().expect("sleep");
    let live_name = format!(".ceremony-tmp.many.tar.age.{}", live.id());
    env.write(&format!("bundles/{live_name}"), "a live process's");
    let other_name = format!(".ceremony-tmp.other.tar.age.{pid}");
    env.write(&format!("bundles/{other_name}"), "another plan's");

    let out = env.run(&[
        "run",
        "many.toml",
        "--pin-file",
        "user.pin",
        "--sessions",
        "2",
    ]);
    let _ = live.kill();
    let _ = live.wait();
    let stdout = ok(&out);
    eprintln!("next run done at {:?}", clock.elapsed());
    assert!(
        stdout.contains(&format!(
            "note: ceremony \"test\", started at entry {start}, never recorded its end (interrupted): it signed {issued} certificate(s), {issued} of them never delivered; recorded, going on"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "note: removed 1 temporary file(s) a killed run left: bundles/{temporary}\n"
        )),
        "{stdout}"
    );
    assert_eq!(
        names(&env.path("bundles")),
        vec![
            live_name.clone(),
            other_name.clone(),
            "many.tar.age".to_string(),
            "many.tar.age.sha256".to_string()
        ]
    );

    // The transcript says the same, before the new ceremony_start.
    let events = whole_events(&env);
    let at = events
        .iter()
        .position(|e| e["type"] == "unfinished_ceremony_found")
        .expect("unfinished_ceremony_found");
    assert_eq!(
        events[at],
        serde_json::json!({
            "type": "unfinished_ceremony_found",
            "ceremony_start_seq": start,
            "ceremony": "test",
            "certificates_issued": issued,
            "certificates_undelivered": issued,
        })
    );
    assert_eq!(
        events[at + 1],
        serde_json::json!({
            "type": "stale_temporaries_removed",
            "paths": [format!("bundles/{temporary}")],
        })
    );
    assert_eq!(events[at + 2]["type"], "ceremony_start");
    // The new ceremony_start names it too.
    assert_eq!(
        events[at + 2]["interrupted"],
        serde_json::json!({
            "ceremony_start_seq": start,
            "ceremony": "test",
            "certificates_undelivered": issued,
        })
    );

    // And so does transcript verify, with every entry covered.
    let out = ok(&env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--audit-key",
        "pki/audit-key.pub",
    ]));
    assert!(
        out.contains(&format!(
            "\ninterrupted: ceremony \"test\" started at entry {start} and never recorded its end; it signed {issued} certificate(s), {issued} of them never delivered (no output bundle recorded for their step)\n"
        )),
        "{out}"
    );
    assert_eq!(out.matches("interrupted:").count(), 1, "{out}");
    let kinds = env.assert_events_read_back("transcript.jsonl");
    assert!(
        kinds.iter().any(|k| k == "stale_temporaries_removed"),
        "{kinds:?}"
    );
    assert!(
        out.contains(&format!(
            "covered: all {} entries are covered by a checkpoint",
            events.len()
        )),
        "{out}"
    );
    eprintln!("done in {:?}", clock.elapsed());
}
