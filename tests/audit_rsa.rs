//! An RSA audit key (issue 13, for tokens without EC): it signs the
//! checkpoint and every output bundle's `SHA256SUMS` with RSA PKCS#1 v1.5
//! and SHA-256, which the tool and the stock openssl both check; and a
//! ceremony whose token has no audit key ends with `checkpoint_skipped`,
//! which `transcript verify` names as such, never as an interruption.

mod common;

use base64ct::{Base64, Encoding};
use common::{ok, openssl, text, Env};

/// Runs the shipped root ceremony with an `algorithm` audit key.
fn root_init_with_audit_key(env: &Env, algorithm: &str) {
    let path = env.shipped_script("root-init.toml");
    let script = std::fs::read_to_string(&path).expect("script");
    let from = "id = \"audit-key\"\nalgorithm = \"ecdsa-p256\"";
    assert!(script.contains(from), "the shipped script changed");
    let script = script.replace(
        from,
        &format!("id = \"audit-key\"\nalgorithm = \"{algorithm}\""),
    );
    let path = env.write("root-init.toml", &script);
    ok(&common::run_ceremony(env, &path));
}

#[test]
fn an_rsa_audit_key_signs_checkpoints_and_bundles_that_openssl_verifies() {
    let env = Env::new();
    root_init_with_audit_key(&env, "rsa-3072");
    let shown = ok(&openssl(
        env.dir.path(),
        &[
            "pkey",
            "-pubin",
            "-in",
            "pki/audit-key.pub",
            "-noout",
            "-text",
        ],
    ));
    assert!(shown.contains("Public-Key: (3072 bit)"), "{shown}");

    // The tool's own check, with the paper checkpoint.
    let out = ok(&env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--checkpoint",
        "checkpoint",
        "--audit-key",
        "pki/audit-key.pub",
    ]));
    assert!(
        out.contains("every signature verified with the audit key"),
        "{out}"
    );

    // The stock check of the checkpoint: its first four lines, signed.
    let cp = std::fs::read_to_string(env.path("checkpoint")).expect("checkpoint");
    let body: String = cp.lines().take(4).map(|l| format!("{l}\n")).collect();
    let sig = cp
        .lines()
        .find_map(|l| l.strip_prefix("signature "))
        .and_then(|l| l.split_once(' '))
        .expect("signature line");
    assert_eq!(sig.0, "1.2.840.113549.1.1.11", "sha256WithRSAEncryption");
    let der = Base64::decode_vec(sig.1).expect("base64");
    std::fs::write(env.path("cp.body"), &body).expect("body");
    std::fs::write(env.path("cp.sig"), &der).expect("sig");
    let verify = |sig: &str, data: &str| {
        openssl(
            env.dir.path(),
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pki/audit-key.pub",
                "-signature",
                sig,
                data,
            ],
        )
    };
    assert_eq!(ok(&verify("cp.sig", "cp.body")).trim(), "Verified OK");
    // One entry more in the body and the signature no longer holds.
    let forged = body.replace("\nentries ", "\nentries 1");
    std::fs::write(env.path("cp.forged"), forged).expect("forged");
    assert!(!verify("cp.sig", "cp.forged").status.success());

    // An output bundle signed by the RSA audit key: the stock check, and
    // bundle open with the key pinned.
    common::make_requests(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let sha = common::seal(&env, "requester/components.toml", "requests/components.tar");
    let script = std::fs::read_to_string(common::repo().join("ceremonies/sign-components.toml"))
        .expect("shipped")
        .replace("REQUEST-BUNDLE-SHA256", &sha)
        .replace("REQUESTER-AGE-RECIPIENT", &recipient)
        .replace("/usr/lib/softhsm/libsofthsm2.so", &env.module());
    let path = env.write("sign-components.toml", &script);
    ok(&env.run(&[
        "run",
        path.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));
    let out = ok(&env.run(&[
        "bundle",
        "open",
        "bundles/components.tar.age",
        "--identity",
        "requester.agekey",
        "--ca",
        "pki/ca.crt",
        "--ca",
        "pki/etcd/ca.crt",
        "--ca",
        "pki/front-proxy-ca.crt",
        "--audit-key",
        "pki/audit-key.pub",
        "--out",
        "opened",
    ]));
    assert!(!out.contains("warning"), "{out}");
    assert_eq!(
        ok(&verify("opened/SHA256SUMS.sig", "opened/SHA256SUMS")).trim(),
        "Verified OK"
    );
}

#[test]
fn a_ceremony_without_an_audit_key_is_named_as_skipped_not_interrupted() {
    let env = Env::new();
    root_init_with_audit_key(&env, "rsa-2048");
    // A second ceremony on a token without the named audit key: it ends,
    // recording checkpoint_skipped instead of a checkpoint.
    let lone = env.write(
        "lone.toml",
        &common::script(&common::root_step(
            "lone", "rsa-2048", "CN=lone", "lone.crt", "",
        ))
        .replace(
            "[output]",
            "[audit]\nkey_label = \"no-audit-key-here\"\n\n[output]",
        ),
    );
    ok(&common::run_ceremony(&env, &lone));
    let events = env.events("transcript.jsonl");
    assert_eq!(events.last().expect("last")["type"], "checkpoint_skipped");
    let skipped_at = events.len() - 1;

    let out = env.run(&[
        "transcript",
        "verify",
        "transcript.jsonl",
        "--audit-key",
        "pki/audit-key.pub",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "checkpoint skipped: the ceremony that ended at entry {skipped_at} signed no checkpoint (no audit key labelled \"no-audit-key-here\" in the token"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("it ended, it was not interrupted"),
        "{stdout}"
    );
    assert!(!stdout.contains("interrupted: ceremony"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "hint: a ceremony whose token held no audit key ends with checkpoint_skipped"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("interrupted"), "{stderr}");
}
