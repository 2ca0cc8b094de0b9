//! The tool's identity in the record: `ceremony_start` names the binary
//! that ran and the PKCS#11 module by SHA-256, and the token by its
//! manufacturer, model, serial and versions, each checked here against an
//! outside tool (`sha256sum`, `pkcs11-tool -L`). A token that cannot be
//! opened still leaves a `ceremony_start` (with the reason) and a failed
//! `ceremony_end`.

mod common;

use std::process::Command;

use common::{ok, text, Env};

/// `sha256sum FILE`'s digest.
fn sha256sum(path: &str) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(out.status.success(), "sha256sum: {}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// The fields `pkcs11-tool -L` prints for the token labelled `ceremony`.
fn listed_token(env: &Env) -> std::collections::HashMap<String, String> {
    let out = env
        .client("pkcs11-tool")
        .args(["--module", &env.module(), "-L"])
        .output()
        .expect("pkcs11-tool runs (is opensc installed?)");
    assert!(out.status.success(), "pkcs11-tool: {}", text(&out.stderr));
    let listing = text(&out.stdout);
    let block = listing
        .split("\nSlot ")
        .find(|b| b.contains("token label        : ceremony\n"))
        .unwrap_or_else(|| panic!("no token ceremony in {listing}"));
    block
        .lines()
        .filter_map(|l| l.split_once(" : "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn start(env: &Env) -> serde_json::Value {
    env.events("transcript.jsonl")
        .into_iter()
        .find(|e| e["type"] == "ceremony_start")
        .expect("ceremony_start")
}

#[test]
fn ceremony_start_names_the_binary_the_module_and_the_token_as_outside_tools_see_them() {
    let env = Env::new();
    common::root_init(&env);
    let start = start(&env);

    let bin = env!("CARGO_BIN_EXE_ceremony");
    let canonical = std::fs::canonicalize(bin).expect("the binary");
    assert_eq!(
        start["binary"]["path"],
        canonical.to_str().expect("utf-8"),
        "{start}"
    );
    assert_eq!(start["binary"]["sha256"], sha256sum(bin), "{start}");
    assert_eq!(start["version"], env!("CARGO_PKG_VERSION"));

    let module = env.module();
    assert_eq!(start["module"]["path"], module.as_str());
    assert_eq!(start["module"]["sha256"], sha256sum(&module), "{start}");

    let listed = listed_token(&env);
    let token = &start["token"];
    assert_eq!(token["label"], "ceremony");
    assert_eq!(token["manufacturer"], listed["token manufacturer"].as_str());
    assert_eq!(token["model"], listed["token model"].as_str());
    assert_eq!(token["serial"], listed["serial num"].as_str());
    assert_eq!(
        token["hardware_version"],
        listed["hardware version"].as_str()
    );
    assert_eq!(
        token["firmware_version"],
        listed["firmware version"].as_str()
    );
    assert!(start.get("token_unavailable").is_none(), "{start}");
    env.assert_events_read_back("transcript.jsonl");

    // The report's header shows them.
    ok(&env.run(&["report", "transcript.jsonl", "--out", "report"]));
    let md = std::fs::read_to_string(env.path("report/report.md")).expect("report");
    for line in [
        format!(
            "- **Binary:** {} (SHA-256 {})",
            canonical.display(),
            sha256sum(bin)
        ),
        format!(
            "- **PKCS#11 module:** {module} (SHA-256 {})",
            sha256sum(&module)
        ),
        format!(
            "- **Token:** ceremony ({} {}, serial {}, hardware {}, firmware {}), module {module}",
            listed["token manufacturer"],
            listed["token model"],
            listed["serial num"],
            listed["hardware version"],
            listed["firmware version"]
        ),
    ] {
        assert!(md.contains(&line), "{line} not in:\n{md}");
    }
    let html = std::fs::read_to_string(env.path("report/report.html")).expect("report");
    assert!(html.contains(&sha256sum(bin)), "{html}");
}

/// A one-step script whose module is `module`.
fn script_on(env: &Env, module: &str) -> std::path::PathBuf {
    env.write(
        "s.toml",
        &common::script(&common::root_step("r", "ecdsa-p256", "CN=r", "r.crt", ""))
            .replace(&common::module(), module),
    )
}

fn run(env: &Env, script: &std::path::Path) -> std::process::Output {
    env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ])
}

#[test]
fn a_module_that_cannot_be_opened_still_starts_and_ends_the_record() {
    let env = Env::new();
    // No such file: no digest, the reason instead; the run fails as before.
    let out = run(&env, &script_on(&env, "/nonexistent/libpkcs11.so"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("error: PKCS#11 module /nonexistent/libpkcs11.so: cannot load: no such file"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: check the module path"), "{stderr}");
    let events = env.events("transcript.jsonl");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(kinds, ["ceremony_start", "ceremony_end"], "{events:?}");
    let start = &events[0];
    assert_eq!(start["module"]["path"], "/nonexistent/libpkcs11.so");
    assert!(start["module"].get("sha256").is_none(), "{start}");
    assert!(
        start["module"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("No such file")),
        "{start}"
    );
    assert!(start.get("token").is_none(), "{start}");
    assert_eq!(
        start["token_unavailable"],
        "PKCS#11 module /nonexistent/libpkcs11.so: cannot load: no such file"
    );
    assert_eq!(
        start["binary"]["sha256"],
        sha256sum(env!("CARGO_BIN_EXE_ceremony"))
    );
    assert_eq!(events[1]["outcome"], "failed");
    assert!(!env.path("pki").exists());

    // A file that is not a module: its digest is recorded, and why it
    // could not be loaded.
    let fake = env.write("not-a-module.so", "not a shared object\n");
    let fake = fake.to_str().expect("utf-8");
    let out = run(&env, &script_on(&env, fake));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let events = env.events("transcript.jsonl");
    let start = &events[2];
    assert_eq!(start["type"], "ceremony_start");
    assert_eq!(start["module"]["sha256"], sha256sum(fake));
    assert!(
        start["token_unavailable"]
            .as_str()
            .is_some_and(|r| r.contains(fake) && r.contains("cannot load")),
        "{start}"
    );
    assert_eq!(events[3]["type"], "ceremony_end");
    assert_eq!(events[3]["outcome"], "failed");
    assert_eq!(events.len(), 4);
    env.assert_events_read_back("transcript.jsonl");
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    assert!(!env.path("pki").exists());
}
