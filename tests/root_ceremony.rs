//! The shipped root ceremony, end to end, on a real SoftHSM token, checked
//! with openssl and pkcs11-tool.

mod common;

use common::{ok, openssl, text, Env};

const ROOTS: [(&str, &str, &str); 3] = [
    ("pki/ca.crt", "CN=kubernetes", "cluster-root-ca"),
    ("pki/etcd/ca.crt", "CN=etcd-ca", "etcd-root-ca"),
    (
        "pki/front-proxy-ca.crt",
        "CN=front-proxy-ca",
        "front-proxy-root-ca",
    ),
];

#[test]
fn root_init_creates_three_roots_that_outside_tools_accept() {
    let env = Env::new();
    let script = env.shipped_script("root-init.toml");
    let out = common::run_ceremony(&env, &script);
    let stdout = ok(&out);
    assert!(
        stdout.contains("ceremony completed: 3 key(s) generated, 3 certificate(s) written"),
        "{stdout}"
    );

    for (file, subject, _) in ROOTS {
        let verify = openssl(
            env.dir.path(),
            &["verify", "-x509_strict", "-CAfile", file, file],
        );
        assert_eq!(ok(&verify).trim(), format!("{file}: OK"));
        let shown = ok(&openssl(
            env.dir.path(),
            &["x509", "-in", file, "-noout", "-text"],
        ));
        assert!(
            shown.contains("X509v3 Basic Constraints: critical\n                CA:TRUE"),
            "{shown}"
        );
        assert!(
            shown
                .contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"),
            "{shown}"
        );
        assert!(shown.contains("X509v3 Subject Key Identifier"), "{shown}");
        assert!(shown.contains("X509v3 Authority Key Identifier"), "{shown}");
        assert!(
            shown.contains("Signature Algorithm: ecdsa-with-SHA256"),
            "{shown}"
        );
        let subj = ok(&openssl(
            env.dir.path(),
            &[
                "x509", "-in", file, "-noout", "-subject", "-nameopt", "RFC2253",
            ],
        ));
        assert_eq!(subj.trim(), format!("subject={subject}"));

        // Serial: 16 bytes, positive (126 random bits).
        let serial = ok(&openssl(
            env.dir.path(),
            &["x509", "-in", file, "-noout", "-serial"],
        ));
        let hex = serial.trim().trim_start_matches("serial=");
        assert_eq!(hex.len(), 32, "{serial}");
        assert!(u8::from_str_radix(&hex[..2], 16).expect("hex") < 0x80);

        // Validity: 10 years from now, backdated a few minutes.
        let ends_in_ten_years = openssl(
            env.dir.path(),
            &[
                "x509",
                "-in",
                file,
                "-noout",
                "-checkend",
                &(3649u64 * 86_400).to_string(),
            ],
        );
        assert!(ends_in_ten_years.status.success(), "expires too early");
        let past_ten_years = openssl(
            env.dir.path(),
            &[
                "x509",
                "-in",
                file,
                "-noout",
                "-checkend",
                &(3651u64 * 86_400).to_string(),
            ],
        );
        assert!(!past_ten_years.status.success(), "expires too late");
    }

    // The keys are in the token, sensitive and never extractable.
    let objects = env.token_objects();
    for (_, _, label) in ROOTS {
        let block = common::object_blocks(&objects)
            .into_iter()
            .find(|b| {
                b.starts_with("Private Key Object") && b.contains(&format!("label:      {label}\n"))
            })
            .unwrap_or_else(|| panic!("no private key {label} in:\n{objects}"));
        assert!(
            block.contains("Access:     sensitive, always sensitive, never extractable, local"),
            "{block}"
        );
        assert!(block.contains("Usage:      sign\n"), "sign only: {block}");
    }

    // The transcript verifies and records every key and certificate.
    let verify = ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    assert!(verify.contains("intact"), "{verify}");
    let events = env.events("transcript.jsonl");
    let of = |t: &str| events.iter().filter(|e| e["type"] == t).collect::<Vec<_>>();
    let start = of("ceremony_start");
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["ceremony"], "root-init");
    assert_eq!(start[0]["script_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(start[0]["version"], env!("CARGO_PKG_VERSION"));
    let token = of("token");
    assert_eq!(token[0]["manufacturer"], "SoftHSM project");
    assert!(token[0]["serial"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(of("login")[0]["success"], true);
    let keys = of("key_generated");
    assert_eq!(keys.len(), 3);
    for k in &keys {
        assert_eq!(k["attributes"]["extractable"], false);
        assert_eq!(k["attributes"]["never_extractable"], true);
        assert_eq!(k["attributes"]["always_sensitive"], true);
        assert_eq!(k["attributes"]["local"], true);
        assert_eq!(k["spki_sha256"].as_str().map(str::len), Some(64));
    }
    let certs = of("certificate_issued");
    assert_eq!(certs.len(), 3);
    for ((file, subject, _), c) in ROOTS.iter().zip(&certs) {
        assert_eq!(c["file"], *file);
        assert_eq!(c["subject"], *subject);
        // The recorded fingerprint is the file's.
        let fp = ok(&openssl(
            env.dir.path(),
            &["x509", "-in", file, "-noout", "-fingerprint", "-sha256"],
        ));
        let fp = fp
            .trim()
            .rsplit('=')
            .next()
            .expect("fingerprint")
            .replace(':', "")
            .to_lowercase();
        assert_eq!(c["sha256"], fp);
    }
    let end = of("ceremony_end");
    assert_eq!(end[0]["outcome"], "completed");

    // The PIN appears nowhere in the outputs.
    let transcript = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    for haystack in [&transcript, &stdout, &text(&out.stderr)] {
        assert!(!haystack.contains(&env.pin), "PIN leaked");
    }
}

#[test]
fn running_root_init_twice_refuses_on_the_existing_label_and_changes_nothing() {
    let env = Env::new();
    let script = env.shipped_script("root-init.toml");
    ok(&common::run_ceremony(&env, &script));
    // Move the first run's certificates away so only the token conflicts.
    std::fs::rename(env.path("pki"), env.path("first-pki")).expect("move pki");
    let objects_before = env.token_objects();
    let entries_before = env.events("transcript.jsonl").len();

    let out = common::run_ceremony(&env, &script);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("key label \"cluster-root-ca\" already exists in token \"ceremony\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: a ceremony never overwrites"),
        "{stderr}"
    );
    assert_eq!(env.token_objects(), objects_before, "token changed");
    assert!(!env.path("pki").exists(), "outputs written");

    let events = env.events("transcript.jsonl");
    let new: Vec<_> = events[entries_before..]
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        new,
        [
            "ceremony_start",
            "token",
            "login",
            "inventory",
            "refused",
            "inventory",
            "ceremony_end",
            "checkpoint"
        ]
    );
    let refused = &events[events.len() - 4];
    assert!(refused["reasons"][0]
        .as_str()
        .is_some_and(|r| r.contains("cluster-root-ca")));
    assert_eq!(events[events.len() - 2]["outcome"], "refused");
    let inventory = &events[events.len() - 3];
    assert_eq!(inventory["when"], "end");
    assert_eq!(inventory["flagged"], 0);
    assert!(inventory["objects"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o["label"] == "cluster-root-ca")));
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
}

#[test]
fn existing_output_files_are_refused_before_the_token_is_changed() {
    let env = Env::new();
    let script = env.shipped_script("root-init.toml");
    env.write("pki/etcd/ca.crt", "not ours\n");
    let objects_before = env.token_objects();
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("output pki/etcd/ca.crt already exists"));
    assert_eq!(
        std::fs::read_to_string(env.path("pki/etcd/ca.crt")).expect("kept"),
        "not ours\n"
    );
    assert!(!env.path("pki/ca.crt").exists());
    assert_eq!(env.token_objects(), objects_before);
}
