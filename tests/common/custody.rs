//! What the key custody tests share: scripts with the audit key on any
//! token and transcript, runs with the user and SO PIN files, events of one
//! type, and the outside tools' checks of a directory's signed
//! `SHA256SUMS`.

use std::path::Path;
use std::process::{Command, Output};

use super::{ok, openssl, text, Env};

/// A script named `name` on token `label`, appending to `transcript` and
/// writing under `dir`, with the demo's audit key and origin, then `steps`.
pub fn script(
    env: &Env,
    name: &str,
    label: &str,
    transcript: &str,
    dir: &str,
    steps: &str,
) -> String {
    let body = format!(
        r#"[ceremony]
name = "{name}"

[token]
module = "{}"
label = "{label}"

[participants]
operator = "Test Operator"

[output]
transcript = "{transcript}"
directory = "{dir}"

[audit]
key_label = "ceremony-audit"
origin = "demo cluster PKI"
checkpoint = "{name}.checkpoint"

{steps}"#,
        env.module()
    );
    env.write(&format!("{name}.toml"), &body)
        .to_str()
        .expect("utf-8")
        .to_string()
}

/// `ceremony run SCRIPT --pin-file user.pin --so-pin-file so.pin EXTRA…`.
pub fn run_with_so(env: &Env, script: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        script,
        "--pin-file",
        "user.pin",
        "--so-pin-file",
        "so.pin",
    ];
    args.extend(extra);
    env.run(&args)
}

/// The events of type `kind` in the transcript at `transcript`.
pub fn events_of(env: &Env, transcript: &str, kind: &str) -> Vec<serde_json::Value> {
    env.events(transcript)
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

/// `sha256sum -c SHA256SUMS` in `dir`, and `openssl dgst -verify` of its
/// `SHA256SUMS.sig` with the audit public key at `audit_key` (relative to
/// `dir`), both by the outside tools.
pub fn signed_sums(dir: &Path, audit_key: &str) {
    let sums = Command::new("sha256sum")
        .current_dir(dir)
        .args(["-c", "SHA256SUMS"])
        .output()
        .expect("sha256sum");
    assert!(sums.status.success(), "{}", text(&sums.stdout));
    ok(&openssl(
        dir,
        &[
            "dgst",
            "-sha256",
            "-verify",
            audit_key,
            "-signature",
            "SHA256SUMS.sig",
            "SHA256SUMS",
        ],
    ));
}
