//! Backup-capable keys, chosen per key in the script (issue 15 item 1): a
//! `generate-root` or `generate-audit-key` step with `backup = true` makes
//! its private key sensitive and extractable only under a trusted wrap key
//! (`CKA_WRAP_WITH_TRUSTED`), sign only; the dry run, the transcript,
//! `inventory` (text and JSON), pkcs11-tool and the report say so. A step
//! without it is unchanged. An extractable key without
//! `CKA_WRAP_WITH_TRUSTED` is flagged (exit 2).

mod common;

use common::{ok, openssl, text, Env};
use serde_json::Value;

/// The script: a backup-capable P-256 root, a never-extractable RSA root,
/// and a backup-capable audit key.
fn script(env: &Env) -> std::path::PathBuf {
    let body = common::script(&format!(
        "{}{}[[step]]\naction = \"generate-audit-key\"\nid = \"audit\"\npublic_key = \"audit.pub\"\nbackup = true\n",
        common::root_step("kept", "ecdsa-p256", "CN=kept", "kept.crt", "backup = true"),
        common::root_step("fixed", "rsa-2048", "CN=fixed", "fixed.crt", ""),
    ))
    .replace(
        "[output]",
        "[audit]\nkey_label = \"audit-key\"\norigin = \"test\"\ncheckpoint = \"checkpoint\"\n\n[output]",
    );
    env.write("backup.toml", &body)
}

fn inventory(env: &Env, extra: &[&str]) -> std::process::Output {
    let module = env.module();
    let mut args = vec![
        "inventory",
        "--module",
        &module,
        "--pin-file",
        "user.pin",
        "--token",
        "ceremony",
    ];
    args.extend(extra);
    env.run(&args)
}

fn object<'a>(report: &'a Value, class: &str, label: &str) -> &'a Value {
    let found: Vec<&Value> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["class"] == class && o["label"] == label)
        .collect();
    assert_eq!(found.len(), 1, "one {class} {label}");
    found[0]
}

#[test]
fn a_backup_key_is_extractable_only_under_a_trusted_wrap_key_and_says_so() {
    let env = Env::new();
    let script = script(&env);
    let path = script.to_str().expect("utf-8");

    // The dry run names the policy of the backup keys; the never-extractable
    // key keeps the words plans always printed (acknowledgement codes
    // derive from them).
    let dry = ok(&env.run(&["run", path, "--dry-run"]));
    assert!(
        dry.contains("key pair labelled \"kept-key\" in the token (sensitive, extractable only under a trusted wrap key, sign only; policy backup)"),
        "{dry}"
    );
    assert!(
        dry.contains("key pair labelled \"fixed-key\" in the token (sensitive, never extractable, sign only)\n"),
        "{dry}"
    );
    assert!(
        dry.contains("key pair labelled \"audit-key\" in the token (sensitive, extractable only under a trusted wrap key, sign only; policy backup); it signs"),
        "{dry}"
    );

    ok(&common::run_ceremony(&env, &script));

    // The transcript records each key's policy and the attribute.
    let events = env.events("transcript.jsonl");
    let key = |label: &str| {
        events
            .iter()
            .find(|e| {
                (e["type"] == "key_generated" || e["type"] == "audit_key_generated")
                    && e["label"] == label
            })
            .unwrap_or_else(|| panic!("{label} recorded"))
            .clone()
    };
    for label in ["kept-key", "audit-key"] {
        let k = key(label);
        assert_eq!(k["policy"], "backup", "{k}");
        assert_eq!(k["attributes"]["extractable"], true, "{k}");
        assert_eq!(k["attributes"]["wrap_with_trusted"], true, "{k}");
        assert_eq!(k["attributes"]["sensitive"], true, "{k}");
        assert_eq!(k["attributes"]["always_sensitive"], true, "{k}");
        assert_eq!(k["attributes"]["never_extractable"], false, "{k}");
        assert_eq!(k["attributes"]["decrypt"], false, "{k}");
        assert_eq!(k["attributes"]["unwrap"], false, "{k}");
        assert_eq!(k["attributes"]["derive"], false, "{k}");
    }
    let fixed = key("fixed-key");
    assert_eq!(fixed["policy"], "never-extractable", "{fixed}");
    assert_eq!(fixed["attributes"]["extractable"], false, "{fixed}");
    assert_eq!(fixed["attributes"]["never_extractable"], true, "{fixed}");
    env.assert_events_read_back("transcript.jsonl");

    // pkcs11-tool, an outside reader, sees the same.
    let listing = env.token_objects();
    let private = |label: &str| {
        common::object_blocks(&listing)
            .into_iter()
            .find(|b| {
                b.starts_with("Private Key Object") && b.contains(&format!("label:      {label}\n"))
            })
            .unwrap_or_else(|| panic!("{label} in:\n{listing}"))
    };
    let kept = private("kept-key");
    assert!(
        kept.contains("Access:     sensitive, always sensitive, extractable, local"),
        "{kept}"
    );
    assert!(!kept.contains("never extractable"), "{kept}");
    let fixed = private("fixed-key");
    assert!(fixed.contains("never extractable"), "{fixed}");

    // inventory: the policy and the attribute, nothing flagged.
    let out = inventory(&env, &[]);
    let table = ok(&out);
    assert!(
        table.ends_with(" private key(s), none flagged\n"),
        "{table}"
    );
    let block = |label: &str| {
        common::object_blocks(&table)
            .into_iter()
            .find(|b| b.starts_with(&format!("private-key {label:?} ")))
            .unwrap_or_else(|| panic!("{label} in:\n{table}"))
    };
    let kept = block("kept-key");
    assert!(kept.contains(" extractable=true"), "{kept}");
    assert!(kept.contains(" wrap-with-trusted=true"), "{kept}");
    assert!(
        kept.contains(
            "    policy backup (sensitive, extractable only under a trusted wrap key, sign only)\n"
        ),
        "{kept}"
    );
    let fixed = block("fixed-key");
    assert!(
        fixed.contains("    policy never-extractable (sensitive, never extractable, sign only)\n"),
        "{fixed}"
    );
    let report: Value =
        serde_json::from_slice(&ok_json(&inventory(&env, &["--json"]))).expect("json");
    assert_eq!(report["flagged"], 0);
    let kept = object(&report, "private-key", "kept-key");
    assert_eq!(kept["policy"], "backup");
    assert_eq!(kept["attributes"]["extractable"], true);
    assert_eq!(kept["attributes"]["wrap_with_trusted"], true);
    assert_eq!(
        object(&report, "private-key", "audit-key")["policy"],
        "backup"
    );
    assert_eq!(
        object(&report, "private-key", "fixed-key")["policy"],
        "never-extractable"
    );
    assert_eq!(
        object(&report, "public-key", "kept-key")["policy"],
        Value::Null
    );

    // The report names each key's policy.
    ok(&env.run(&["report", "transcript.jsonl", "--out", "report"]));
    let report = std::fs::read_to_string(env.path("report/report.md")).expect("report");
    let row = |label: &str| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("{label} row in:\n{report}"))
            .to_string()
    };
    let kept = row("kept-key");
    assert!(kept.contains("| backup |"), "{kept}");
    assert!(kept.contains("wrap_with_trusted=true"), "{kept}");
    assert!(
        row("fixed-key").contains("| never-extractable |"),
        "{report}"
    );

    // The certificate is an ordinary one: the backup policy is the key's.
    ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "pki/kept.crt",
            "pki/kept.crt",
        ],
    ));
}

fn ok_json(out: &std::process::Output) -> Vec<u8> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout.clone()
}

#[test]
fn an_extractable_key_without_wrap_with_trusted_is_flagged() {
    let env = Env::new();
    // pkcs11-tool makes a key pair in the token whose private key is
    // extractable by anyone's wrapping key: no CKA_WRAP_WITH_TRUSTED.
    ok(&env.pkcs11_tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "loose",
        "--id",
        "0a0b",
        "--usage-sign",
        "--sensitive",
        "--extractable",
    ]));
    let out = inventory(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let loose = common::object_blocks(&table)
        .into_iter()
        .find(|b| b.starts_with("private-key \"loose\" "))
        .unwrap_or_else(|| panic!("loose in:\n{table}"));
    assert!(loose.contains(" extractable=true"), "{loose}");
    assert!(loose.contains(" wrap-with-trusted=false"), "{loose}");
    assert!(
        loose.contains("FLAGGED CKA_EXTRACTABLE is true, must be false (CA key policy)"),
        "{loose}"
    );
    assert!(loose.contains("    policy never-extractable ("), "{loose}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("private-key \"loose\" (id 0a0b)"),
        "{stderr}"
    );

    let out = inventory(&env, &["--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let loose = object(&report, "private-key", "loose");
    assert_eq!(loose["attributes"]["wrap_with_trusted"], false);
    assert!(
        loose["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .any(|f| f["attribute"] == "CKA_EXTRACTABLE" && f["actual"] == true),
        "{loose}"
    );
}
