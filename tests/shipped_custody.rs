//! The shipped custody scripts, as the demo runs them: the shipped root
//! ceremony with `backup = true` on every key, `ceremonies/backup-roots.toml`
//! (refused until its custodians' recipients are written in, then 2 of 3
//! into `backup/`) and `ceremonies/restore-roots.toml` (into a second token
//! labelled `restore`, with two of the three shares). The bundle is checked
//! with sha256sum and openssl, and every restored public key, read from the
//! second token with pkcs11-tool, is compared with the root certificate's
//! (or the audit key's) as openssl prints it.

mod common;

use std::path::Path;

use common::{ok, openssl, text, Env};

/// `ceremony run SCRIPT` with the PIN files, the witnesses' answers and `extra`.
fn run(env: &Env, script: &Path, extra: &[&str]) -> String {
    let answers = common::answers(env, script);
    let script = script.to_str().expect("utf-8");
    let answers = answers.to_str().expect("utf-8");
    let mut args = vec!["run", script, "--pin-file", "user.pin"];
    args.extend(["--so-pin-file", "so.pin", "--answers", answers]);
    args.extend(extra);
    ok(&env.run(&args))
}

/// The SHA-256 of a public key (SubjectPublicKeyInfo, DER), by openssl.
fn spki_sha256(env: &Env, inform: &str, input: &Path) -> String {
    let der = env.path("spki.der");
    let input = input.to_str().expect("utf-8");
    let der_arg = der.to_str().expect("utf-8");
    ok(&openssl(
        env.dir.path(),
        &[
            "pkey", "-pubin", "-inform", inform, "-in", input, "-outform", "DER", "-out", der_arg,
        ],
    ));
    common::bundles::sha256_hex(&std::fs::read(&der).expect("spki"))
}

#[test]
fn shipped_backup_and_restore_scripts_move_the_roots_to_a_second_token() {
    let env = Env::new();
    env.write_secret("so.pin", &format!("{}\n", env.so_pin));
    let root_init = std::fs::read_to_string(common::repo().join("ceremonies/root-init.toml"))
        .expect("shipped script")
        .replace("/usr/lib/softhsm/libsofthsm2.so", &env.module())
        .replace(
            "validity_days = 3650\n",
            "validity_days = 3650\nbackup = true\n",
        )
        .replace(
            "public_key = \"audit-key.pub\"\n",
            "public_key = \"audit-key.pub\"\nbackup = true\n",
        );
    assert_eq!(root_init.matches("backup = true").count(), 4);
    let root_init = env.write("root-init.toml", &root_init);
    ok(&common::run_ceremony(&env, &root_init));

    // As shipped, the placeholders are refused, naming the custodian.
    let backup = env.shipped_script("backup-roots.toml");
    let out = env.run(&["run", backup.to_str().expect("utf-8"), "--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "custodians[0] (\"Custodian One\"): recipient \"CUSTODIAN-1-AGE-RECIPIENT\": not an age X25519 recipient"
        ),
        "{stderr}"
    );

    // Filled in, it backs the four keys up 2 of 3 into backup/.
    let mut filled = std::fs::read_to_string(&backup).expect("script");
    for i in 1..=3 {
        let recipient = common::age_identity(&env, &format!("c{i}.agekey"));
        filled = filled.replace(&format!("CUSTODIAN-{i}-AGE-RECIPIENT"), &recipient);
    }
    let backup = env.write("backup-roots.toml", &filled);
    let said = run(&env, &backup, &[]);
    assert!(said.contains("backed up 4 key(s) to ./backup"), "{said}");
    let dir = env.path("backup");
    let mut files = common::bundles::files_under(&dir);
    files.sort();
    assert_eq!(
        files,
        [
            "SHA256SUMS",
            "SHA256SUMS.sig",
            "manifest.json",
            "shares/01-custodian-one.age",
            "shares/02-custodian-two.age",
            "shares/03-custodian-three.age",
        ]
    );
    common::custody::signed_sums(&dir, "../pki/audit-key.pub");

    // The shipped restore script, into a second token, with shares 1 and 3.
    env.init_token("restore", &env.so_pin);
    let restore = env.shipped_script("restore-roots.toml");
    let said = run(
        &env,
        &restore,
        &[
            "--share",
            "backup/shares/01-custodian-one.age=c1.agekey",
            "--share",
            "backup/shares/03-custodian-three.age=c3.agekey",
        ],
    );
    assert!(said.contains("restored 4 key(s) from backup"), "{said}");
    ok(&env.run(&[
        "transcript",
        "verify",
        "restore/transcript.jsonl",
        "--checkpoint",
        "restore/checkpoint",
        "--audit-key",
        "pki/audit-key.pub",
    ]));

    // Each restored public key is the root's, by pkcs11-tool and openssl.
    for (label, original) in [
        ("cluster-root-ca", "pki/ca.crt"),
        ("etcd-root-ca", "pki/etcd/ca.crt"),
        ("front-proxy-root-ca", "pki/front-proxy-ca.crt"),
        ("ceremony-audit", "pki/audit-key.pub"),
    ] {
        let restored = env.path(&format!("{label}.restored.der"));
        let out = env
            .client("pkcs11-tool")
            .args(["--module", &env.module(), "--token-label", "restore"])
            .args([
                "--login",
                "--pin",
                &env.pin,
                "--read-object",
                "--type",
                "pubkey",
            ])
            .args(["--label", label, "--output-file"])
            .arg(&restored)
            .output()
            .expect("pkcs11-tool runs (is opensc installed?)");
        assert!(out.status.success(), "pkcs11-tool: {}", text(&out.stderr));
        let pem = if original.ends_with(".crt") {
            let pem = env.path(&format!("{label}.pub.pem"));
            let printed = ok(&openssl(
                env.dir.path(),
                &["x509", "-in", original, "-noout", "-pubkey"],
            ));
            std::fs::write(&pem, printed).expect("write");
            pem
        } else {
            env.path(original)
        };
        assert_eq!(
            spki_sha256(&env, "DER", &restored),
            spki_sha256(&env, "PEM", &pem),
            "{label}"
        );
    }
}
