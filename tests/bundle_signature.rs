//! The ceremony signs every output bundle's `SHA256SUMS` with the audit key
//! in the token: the stock `openssl dgst -verify` checks it, a changed
//! `SHA256SUMS` fails it, and without an audit key nothing is signed.

mod common;

use std::process::Command;

use common::{ok, openssl, text, Env};

/// Unpacks `bundles/NAME.tar.age` with the stock age CLI and tar into `stock/NAME`.
fn stock_open(env: &Env, name: &str) -> std::path::PathBuf {
    let dir = env.path(&format!("stock/{name}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let out = Command::new("bash")
        .current_dir(env.dir.path())
        .args([
            "-c",
            &format!(
                "set -o pipefail; age -d -i requester.agekey bundles/{name}.tar.age | tar -x -C stock/{name}"
            ),
        ])
        .output()
        .expect("age");
    assert!(out.status.success(), "stock open: {}", text(&out.stderr));
    dir
}

#[test]
fn every_output_bundle_carries_the_audit_keys_signature_over_sha256sums() {
    let env = Env::new();
    common::signed_cluster(&env);
    let audit_spki_sha256 = env
        .events("transcript.jsonl")
        .into_iter()
        .find(|e| e["type"] == "audit_key_generated")
        .and_then(|e| e["spki_sha256"].as_str().map(str::to_string))
        .expect("audit_key_generated records the key");

    for name in ["intermediate", "components"] {
        let dir = stock_open(&env, name);
        let rel = format!("stock/{name}");
        // The stock check docs/operations.md shows.
        let out = openssl(
            env.dir.path(),
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pki/audit-key.pub",
                "-signature",
                &format!("{rel}/SHA256SUMS.sig"),
                &format!("{rel}/SHA256SUMS"),
            ],
        );
        assert_eq!(ok(&out).trim(), "Verified OK", "{name}");
        // SHA256SUMS does not list its own signature; sha256sum -c still passes.
        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("sums");
        assert!(!sums.contains("SHA256SUMS.sig"), "{sums}");
        let check = Command::new("sha256sum")
            .current_dir(&dir)
            .args(["-c", "--quiet", "SHA256SUMS"])
            .output()
            .expect("sha256sum");
        assert!(check.status.success(), "{}", text(&check.stdout));

        // An attacker who changes one digest in SHA256SUMS cannot re-sign it.
        let forged = sums.replacen(&sums[..1], if &sums[..1] == "0" { "1" } else { "0" }, 1);
        std::fs::write(dir.join("SHA256SUMS"), forged).expect("write");
        let out = openssl(
            env.dir.path(),
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pki/audit-key.pub",
                "-signature",
                &format!("{rel}/SHA256SUMS.sig"),
                &format!("{rel}/SHA256SUMS"),
            ],
        );
        assert!(!out.status.success(), "a changed SHA256SUMS verified");
        assert_eq!(text(&out.stdout).trim(), "Verification failure");
    }

    // The transcript names the key that signed each bundle.
    let written: Vec<_> = env
        .events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "output_bundle_written")
        .collect();
    assert_eq!(written.len(), 2);
    for e in written {
        assert_eq!(e["signature_key_sha256"], audit_spki_sha256.as_str(), "{e}");
    }
}

#[test]
fn without_an_audit_key_the_sign_step_is_refused_before_any_signature() {
    let env = Env::new();
    // Roots only: no generate-audit-key step.
    let roots = common::script(
        &[
            common::root_step("cluster", "ecdsa-p256", "CN=kubernetes", "ca.crt", ""),
            common::root_step("etcd", "ecdsa-p256", "CN=etcd-ca", "etcd/ca.crt", ""),
            common::root_step(
                "front-proxy",
                "ecdsa-p256",
                "CN=front-proxy-ca",
                "front-proxy-ca.crt",
                "",
            ),
        ]
        .concat(),
    )
    .replace(
        "[output]",
        "[audit]\nkey_label = \"ceremony-audit\"\n\n[output]",
    );
    let path = env.write("roots.toml", &roots);
    ok(&common::run_ceremony(&env, &path));

    common::make_requests(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let sha = common::seal(&env, "requester/components.toml", "requests/components.tar");
    let script = common::sign_script(
        "requests/components.tar",
        &sha,
        "components",
        &recipient,
        "",
    )
    .replace("cluster-root-ca", "cluster-key")
    .replace("etcd-root-ca", "etcd-key")
    .replace("front-proxy-root-ca", "front-proxy-key");
    env.write("sign.toml", &script);
    let before = env.token_objects();
    let out = env.run(&["run", "sign.toml", "--pin-file", "user.pin"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "no audit key labelled \"ceremony-audit\" in the token: every output bundle is signed with it (a generate-audit-key step makes one); nothing in this step was signed"
        ),
        "{err}"
    );
    assert!(!env.path("bundles/components.tar.age").exists());
    assert!(!env.path("bundles/components.tar.age.sha256").exists());
    assert_eq!(env.token_objects(), before, "the token changed");
    let events = env.events("transcript.jsonl");
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "certificate_issued" && e["step"] == "sign"),
        "a certificate was signed"
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "refused" && e["step"] == "sign"));
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
}
