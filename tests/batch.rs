//! A batch larger than one worker's chunk, on two signing sessions: the
//! workers' results come back in request order, every certificate is in the
//! transcript and the bundle exactly once and verifies with openssl, and a
//! token fault in the middle of the batch leaves every signed certificate
//! on record and no bundle.

mod common;

use std::collections::HashSet;

use common::{age_identity, csrgen, ok, openssl, root_init, seal, sign_script, text, Env};

/// More than a few chunks of 32, so several workers take part.
const N: usize = 150;

/// A token with the roots, N kubelet-serving requests sealed into
/// `many.tar`, and `many.toml` signing them; returns the script's path.
fn batch(env: &Env) -> String {
    root_init(env);
    std::fs::create_dir_all(env.path("many/csr")).expect("mkdir");
    for index in 0..N {
        let node = csrgen::node(index, 5);
        let pem = csrgen::csr("suite", index, &node).expect("csr");
        env.write(&format!("many/csr/{node}.csr"), &pem);
    }
    env.write(
        "many/requests.toml",
        &csrgen::manifest(N, 5, "the batch test"),
    );
    let sha = seal(env, "many/requests.toml", "many.tar");
    let recipient = age_identity(env, "requester.agekey");
    // csrgen's nodes are in 10.0.0.0/8.
    let script = sign_script(
        "many.tar",
        &sha,
        "many",
        &recipient,
        "[step.cluster]\nnode_networks = [\"10.0.0.0/8\"]",
    );
    env.write("many.toml", &script);
    "many.toml".into()
}

/// The signing_sessions entries.
fn signing_sessions(env: &Env) -> Vec<serde_json::Value> {
    env.events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "signing_sessions")
        .collect()
}

/// The request ids of the certificate_issued entries, in transcript order.
fn issued_ids(env: &Env) -> Vec<String> {
    env.events("transcript.jsonl")
        .iter()
        .filter(|e| e["type"] == "certificate_issued")
        .filter_map(|e| e["request"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_batch_on_two_sessions_is_recorded_and_bundled_in_request_order() {
    let env = Env::new();
    let script = batch(&env);
    ok(&env.run(&["run", &script, "--pin-file", "user.pin", "--sessions", "2"]));

    let expected: Vec<String> = (0..N).map(|i| csrgen::node(i, 5)).collect();
    assert_eq!(issued_ids(&env), expected);
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    let sessions = signing_sessions(&env);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        (&sessions[0]["asked"], &sessions[0]["opened"]),
        (&2.into(), &2.into())
    );

    ok(&common::bundles::open(
        &env,
        "bundles/many.tar.age",
        &["--out", "opened"],
    ));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("opened/manifest.json")).expect("manifest"))
            .expect("manifest.json is JSON");
    let listed: Vec<&str> = manifest["issued"]
        .as_array()
        .expect("issued")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, expected);
    let serials: HashSet<&str> = manifest["issued"]
        .as_array()
        .expect("issued")
        .iter()
        .map(|e| e["serial"].as_str().expect("serial"))
        .collect();
    assert_eq!(serials.len(), N, "serials are unique");

    // Every certificate chains to the cluster root, for a TLS server, and
    // carries the node's SANs.
    let mut args = vec![
        "verify".to_string(),
        "-x509_strict".into(),
        "-purpose".into(),
        "sslserver".into(),
        "-CAfile".into(),
        "opened/pki/ca.crt".into(),
    ];
    args.extend(expected.iter().map(|id| format!("opened/certs/{id}.crt")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = openssl(env.dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches(": OK").count(), N);
    let last = &expected[N - 1];
    let out = openssl(
        env.dir.path(),
        &[
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            &format!("opened/certs/{last}.crt"),
        ],
    );
    let sans = text(&out.stdout);
    assert!(
        sans.contains(&format!("DNS:{last}")) && sans.contains("IP Address:10.0.0.150"),
        "{sans}"
    );
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_fault_mid_batch_keeps_every_signed_certificate_on_record() {
    let env = Env::new();
    let script = batch(&env);
    let out = env
        .ceremony()
        .env("CEREMONY_FAULT", "sign-error:70")
        .args(["run", &script, "--pin-file", "user.pin", "--sessions", "2"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("C_Sign failed: DeviceError (injected by CEREMONY_FAULT)"),
        "{}",
        text(&out.stderr)
    );
    // 70 signatures were made before the fault (other workers may have
    // made more before they stopped); each is recorded once, in order.
    let ids = issued_ids(&env);
    assert!(ids.len() >= 70 && ids.len() < N, "{} recorded", ids.len());
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "recorded once each, in request order");
    let events = env.events("transcript.jsonl");
    assert!(events.iter().any(|e| e["type"] == "step_failed"));
    assert!(!env.path("bundles/many.tar.age").exists());
    assert!(!env.path("bundles/many.tar.age.sha256").exists());
    let leftovers: Vec<String> = std::fs::read_dir(env.path("bundles"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_token_out_of_sessions_leaves_the_batch_the_sessions_it_has() {
    let env = Env::new();
    let script = batch(&env);
    let run = |fault: &str| {
        env.ceremony()
            .env("CEREMONY_FAULT", fault)
            .args(["run", &script, "--pin-file", "user.pin", "--sessions", "4"])
            .output()
            .expect("run")
    };
    // The token answers CKR_SESSION_COUNT to the second signing session:
    // the batch signs everything on the first, and says so.
    let out = run("session-count:1");
    let stdout = ok(&out);
    assert!(
        stdout.contains("the token answered SessionCount (injected by CEREMONY_FAULT) after 1 signing session(s)"),
        "{stdout}"
    );
    let expected: Vec<String> = (0..N).map(|i| csrgen::node(i, 5)).collect();
    assert_eq!(issued_ids(&env), expected);
    let sessions = signing_sessions(&env);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        (&sessions[0]["asked"], &sessions[0]["opened"]),
        (&4.into(), &1.into())
    );
    assert_eq!(
        sessions[0]["reason"],
        "C_OpenSession answered SessionCount (injected by CEREMONY_FAULT) after 1 of 4 session(s); the batch signs on those"
    );
    assert!(env.path("bundles/many.tar.age").exists());
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));

    // Not even one: the step fails before any signature, with a hint.
    std::fs::remove_file(env.path("bundles/many.tar.age")).expect("rm");
    std::fs::remove_file(env.path("bundles/many.tar.age.sha256")).expect("rm");
    let out = run("session-count:0");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("C_OpenSession failed: SessionCount (injected by CEREMONY_FAULT)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the token has no session left to open"),
        "{stderr}"
    );
    assert!(!env.path("bundles/many.tar.age").exists());
}

#[test]
fn a_step_rejecting_every_request_lists_the_first_hundred_in_its_refusal() {
    let env = Env::new();
    let script = batch(&env);
    // Without the node networks, every node's IP SAN is refused.
    let body = std::fs::read_to_string(env.path(&script)).expect("script");
    env.write(
        &script,
        &body.replace("[step.cluster]\nnode_networks = [\"10.0.0.0/8\"]", ""),
    );
    let out = env.run(&["run", &script, "--pin-file", "user.pin"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let events = env.events("transcript.jsonl");
    let rejected = events
        .iter()
        .filter(|e| e["type"] == "request_rejected")
        .count();
    assert_eq!(rejected, N);
    let refused = events
        .iter()
        .find(|e| e["type"] == "refused" && e["step"] == "sign")
        .expect("the step's refusal is recorded");
    let reasons: Vec<&str> = refused["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert_eq!(reasons.len(), 102, "{reasons:?}");
    assert!(reasons[0].starts_with(&format!("request {}: ", csrgen::node(0, 5))));
    assert_eq!(
        reasons[100],
        format!(
            "and {} more rejected request(s), each in its request_rejected entry",
            N - 100
        )
    );
    assert_eq!(
        reasons[101],
        "on_rejection = \"stop\": nothing in this step was signed"
    );
    assert!(issued_ids(&env).is_empty());
    assert!(!env.path("bundles/many.tar.age").exists());
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
}
