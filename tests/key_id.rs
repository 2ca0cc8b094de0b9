//! A new key's `CKA_ID` is held by no other object (issue 13 item 3), tried
//! as a module or a tampered token would break it, with the test-only
//! faults `cka-id` (the ID the tool asks for is one another object holds)
//! and `cka-id-changed` (the token keeps another object's ID for the new
//! key, as a module that shortens the ID would).
#![cfg(feature = "fault-injection")]

mod common;

use common::{text, Env};

/// Runs root-init, then returns the env and the `CKA_ID` (hex) the
/// transcript recorded for the cluster root's key.
fn with_roots() -> (Env, String) {
    let env = Env::new();
    common::root_init(&env);
    let id = env
        .events("transcript.jsonl")
        .into_iter()
        .find(|e| e["type"] == "key_generated" && e["label"] == "cluster-root-ca")
        .and_then(|e| e["id"].as_str().map(str::to_string))
        .expect("key_generated records the CKA_ID");
    assert_eq!(id.len(), 32, "16 bytes, as asked: {id}");
    (env, id)
}

/// A one-step ceremony making key `extra-key` and `pki/extra.crt`, with
/// `fault`; returns its output.
fn extra_key(env: &Env, fault: &str) -> std::process::Output {
    let script = env.write(
        "extra.toml",
        &common::script(&common::root_step(
            "extra",
            "ecdsa-p256",
            "CN=extra",
            "extra.crt",
            "",
        )),
    );
    let answers = common::answers(env, &script);
    env.ceremony()
        .env("CEREMONY_FAULT", fault)
        .args([
            "run",
            script.to_str().expect("utf-8"),
            "--pin-file",
            "user.pin",
            "--answers",
            answers.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run")
}

#[test]
fn an_id_another_object_holds_is_never_asked_for() {
    let (env, id) = with_roots();
    let before = env.token_objects();
    let out = extra_key(&env, &format!("cka-id:{id}"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("returned a CKA_ID another object already holds; no key was generated"),
        "{stderr}"
    );
    // Nothing was made: no new object in the token, no certificate.
    assert_eq!(env.token_objects(), before);
    assert!(!env.path("pki/extra.crt").exists());
    let events = env.events("transcript.jsonl");
    let failed = events
        .iter()
        .rev()
        .find(|e| e["type"] == "step_failed")
        .expect("the failure is recorded");
    assert_eq!(failed["step"], "extra");
    assert!(!events
        .iter()
        .any(|e| e["type"] == "key_generated" && e["label"] == "extra-key"));
}

#[test]
fn a_key_the_token_gave_another_objects_id_is_refused_and_explained() {
    let (env, id) = with_roots();
    let out = extra_key(&env, &format!("cka-id-changed:{id}"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("also held by"), "{stderr}");
    // The key stays in the token (a ceremony never deletes one), its record
    // says which ID it holds and which was asked for, and no certificate is
    // written for it.
    assert!(env.token_objects().contains("extra-key"));
    assert!(!env.path("pki/extra.crt").exists());
    let events = env.events("transcript.jsonl");
    let made = events
        .iter()
        .find(|e| e["type"] == "key_generated" && e["label"] == "extra-key")
        .expect("the key is recorded before the check");
    assert_eq!(made["id"], id.as_str());
    let asked = made["id_requested"].as_str().expect("the ID asked for");
    assert_ne!(asked, id);
    assert!(
        made["id_held_by_others"].as_u64().expect("a count") >= 1,
        "{made}"
    );
    assert_eq!(
        events
            .iter()
            .rev()
            .find(|e| e["type"] == "step_failed")
            .expect("failed")["step"],
        "extra"
    );
    assert!(!events.iter().any(|e| e["type"] == "certificate_issued"
        && e["file"].as_str().is_some_and(|f| f.ends_with("extra.crt"))));
}
