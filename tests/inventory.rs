//! `ceremony inventory`: every object in the token, the attributes that show
//! a CA key cannot leave it, and a flag on any key that breaks the policy.

mod common;

use std::process::Output;

use common::{ok, openssl, text, Env};
use serde_json::Value;

const CA_KEYS: [&str; 3] = ["cluster-root-ca", "etcd-root-ca", "front-proxy-root-ca"];

fn inventory(env: &Env, extra: &[&str]) -> Output {
    let module = common::module();
    let mut args = vec!["inventory", "--module", &module, "--pin-file", "user.pin"];
    if !extra
        .iter()
        .any(|a| a.starts_with("--uri") || *a == "--serial")
    {
        args.extend(["--token", "ceremony"]);
    }
    args.extend(extra);
    env.run(&args)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

/// The table's block for one object: its line and the indented lines below it.
fn block(table: &str, class: &str, label: &str) -> String {
    let head = format!("{class} {label:?} ");
    let found: Vec<String> = common::object_blocks(table)
        .into_iter()
        .filter(|b| b.starts_with(&head))
        .collect();
    assert_eq!(found.len(), 1, "one {head}in:\n{table}");
    found[0].clone()
}

/// The JSON object of one class and label.
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

/// `spki_sha256` of each `key_generated` event, by label.
fn generated_spki(env: &Env, label: &str) -> String {
    env.events("transcript.jsonl")
        .iter()
        .find(|e| e["type"] == "key_generated" && e["label"] == label)
        .and_then(|e| e["spki_sha256"].as_str())
        .expect("key_generated recorded")
        .to_string()
}

/// SHA-256 of the DER SubjectPublicKeyInfo in a certificate, by openssl.
fn cert_spki_sha256(env: &Env, cert: &str) -> String {
    let pem = openssl(env.dir.path(), &["x509", "-in", cert, "-noout", "-pubkey"]);
    let pem_path = env.write("pub.pem", &ok(&pem));
    pubkey_sha256(env, pem_path.to_str().expect("utf-8"), &["-pubin"])
}

fn pubkey_sha256(env: &Env, key: &str, how: &[&str]) -> String {
    let mut args = vec!["pkey", "-in", key];
    args.extend(how);
    args.extend(["-pubout", "-outform", "DER", "-out", "spki.der"]);
    ok(&openssl(env.dir.path(), &args));
    let digest = openssl(env.dir.path(), &["dgst", "-sha256", "-r", "spki.der"]);
    ok(&digest)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}

#[test]
fn ca_keys_show_they_cannot_leave_the_token() {
    let env = Env::new();
    common::root_init(&env);

    let out = inventory(&env, &[]);
    let table = ok(&out);
    assert!(!table.contains("FLAGGED"), "{table}");
    // Other ceremonies may keep more keys in the token (an audit key): only
    // the CA keys are named here, and nothing may be flagged.
    assert!(
        table.ends_with(" private key(s), none flagged\n"),
        "{table}"
    );
    for label in CA_KEYS {
        let private = block(&table, "private-key", label);
        for fact in [
            "sensitive=true",
            "extractable=false",
            "always-sensitive=true",
            "never-extractable=true",
            "local=true",
            "sign=true",
            "decrypt=false",
            "unwrap=false",
            "derive=false",
        ] {
            assert!(private.contains(&format!(" {fact}")), "{fact}:\n{private}");
        }
        assert!(private.contains(" ec P-256 "), "{private}");
        let spki = generated_spki(&env, label);
        assert!(
            private.contains(&format!("spki-sha256 {spki}")),
            "{private}"
        );
        let public = block(&table, "public-key", label);
        assert!(public.contains(&format!("spki-sha256 {spki}")), "{public}");
        assert!(public.contains(" wrap=false"), "{public}");
    }
    // The audit key root-init makes is held to the same rule.
    let audit = block(&table, "private-key", "ceremony-audit");
    for fact in [
        "sensitive=true",
        "extractable=false",
        "never-extractable=true",
        "local=true",
    ] {
        assert!(audit.contains(&format!(" {fact}")), "{fact}:\n{audit}");
    }
    // The fingerprint is the certificate's public key, by an outside tool.
    let cluster = block(&table, "private-key", "cluster-root-ca");
    let by_openssl = cert_spki_sha256(&env, "pki/ca.crt");
    assert!(cluster.contains(&by_openssl), "{by_openssl}:\n{cluster}");
    let all = format!("{table}{}", text(&out.stderr));
    assert!(!all.contains(&env.pin), "the PIN is never printed");

    let out = inventory(&env, &["--json"]);
    ok(&out);
    let report = json(&out);
    assert_eq!(report["token"]["label"], "ceremony");
    assert_eq!(report["flagged"], 0);
    for label in CA_KEYS {
        let key = object(&report, "private-key", label);
        let a = &key["attributes"];
        assert_eq!(a["sensitive"], true, "{label}");
        assert_eq!(a["extractable"], false, "{label}");
        assert_eq!(a["always_sensitive"], true, "{label}");
        assert_eq!(a["never_extractable"], true, "{label}");
        assert_eq!(a["local"], true, "{label}");
        assert_eq!(
            a["wrap"],
            Value::Null,
            "{label}: a private key has no CKA_WRAP"
        );
        assert_eq!(key["key_type"], "ec");
        assert_eq!(key["curve"], "P-256");
        assert_eq!(key["spki_sha256"], generated_spki(&env, label).as_str());
        assert_eq!(key["flags"], serde_json::json!([]));
        let public = object(&report, "public-key", label);
        assert_eq!(public["id"], key["id"]);
        assert_eq!(public["attributes"]["sensitive"], Value::Null);
    }
}

#[test]
fn an_imported_extractable_key_is_flagged_and_the_ca_keys_are_not() {
    let env = Env::new();
    common::root_init(&env);
    let dir = env.dir.path();
    ok(&openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "k.pem",
        ],
    ));
    ok(&openssl(
        dir,
        &["pkey", "-in", "k.pem", "-outform", "DER", "-out", "k.der"],
    ));
    ok(&openssl(
        dir,
        &[
            "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "kpub.der",
        ],
    ));
    let import = |file: &str, kind: &str, extra: &[&str]| {
        let path = env.path(file);
        let mut args = vec![
            "--write-object",
            path.to_str().expect("utf-8"),
            "--type",
            kind,
            "--label",
            "imported",
            "--id",
            "0102",
        ];
        args.extend(extra);
        ok(&env.pkcs11_tool(&args))
    };
    // pkcs11-tool 0.23 writes a private key sensitive but not extractable
    // unless told; SoftHSM marks any imported key local=false and
    // never-extractable=false.
    import("k.der", "privkey", &["--extractable", "--usage-sign"]);
    import("kpub.der", "pubkey", &["--usage-sign"]);

    let out = inventory(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let imported = block(&table, "private-key", "imported");
    for flag in [
        "FLAGGED CKA_EXTRACTABLE is true, must be false (CA key policy)",
        "FLAGGED CKA_ALWAYS_SENSITIVE is false, must be true (CA key policy)",
        "FLAGGED CKA_NEVER_EXTRACTABLE is false, must be true (CA key policy)",
        "FLAGGED CKA_LOCAL is false, must be true (CA key policy)",
    ] {
        assert!(imported.contains(flag), "{flag}:\n{imported}");
    }
    assert!(imported.contains(" extractable=true"), "{imported}");
    // Its fingerprint comes through the public key with the same CKA_ID.
    let spki = pubkey_sha256(&env, "k.pem", &[]);
    assert!(
        imported.contains(&format!("spki-sha256 {spki}")),
        "{imported}"
    );
    for label in CA_KEYS {
        for class in ["private-key", "public-key"] {
            let b = block(&table, class, label);
            assert!(!b.contains("FLAGGED"), "{b}");
        }
    }
    let flagged_blocks: Vec<String> = common::object_blocks(&table)
        .into_iter()
        .filter(|b| b.contains("FLAGGED"))
        .collect();
    assert!(
        flagged_blocks
            .iter()
            .all(|b| b.contains("\"imported\" id 0102")),
        "{table}"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: token ceremony: "),
        "one error line: {stderr}"
    );
    assert!(
        stderr.contains("private-key \"imported\" (id 0102)"),
        "{stderr}"
    );
    assert!(!stderr.contains("root-ca"), "{stderr}");
    assert!(stderr.contains("\nhint: "), "{stderr}");

    let out = inventory(&env, &["--json"]);
    assert_eq!(out.status.code(), Some(2));
    let report = json(&out);
    let key = object(&report, "private-key", "imported");
    assert_eq!(key["attributes"]["extractable"], true);
    assert_eq!(key["spki_sha256"], spki.as_str());
    let broken: Vec<&str> = key["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter(|f| f["rule"] == "ca-key-policy")
        .filter_map(|f| f["attribute"].as_str())
        .collect();
    for attribute in [
        "CKA_EXTRACTABLE",
        "CKA_ALWAYS_SENSITIVE",
        "CKA_NEVER_EXTRACTABLE",
        "CKA_LOCAL",
    ] {
        assert!(broken.contains(&attribute), "{attribute}: {broken:?}");
    }
    for label in CA_KEYS {
        for class in ["private-key", "public-key"] {
            assert_eq!(
                object(&report, class, label)["flags"],
                serde_json::json!([])
            );
        }
    }
}

#[test]
fn rsa_keys_show_their_size_and_fingerprint() {
    let env = Env::new();
    let step = common::root_step("rsa", "rsa-3072", "CN=rsa", "rsa.crt", "");
    let script = env.write("rsa.toml", &common::script(&step));
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));
    let out = inventory(&env, &["--json"]);
    ok(&out);
    let report = json(&out);
    let spki = generated_spki(&env, "rsa-key");
    assert_eq!(spki, cert_spki_sha256(&env, "pki/rsa.crt"));
    for class in ["private-key", "public-key"] {
        let key = object(&report, class, "rsa-key");
        assert_eq!(key["key_type"], "rsa");
        assert_eq!(key["bits"], 3072);
        assert_eq!(key["curve"], Value::Null);
        assert_eq!(key["spki_sha256"], spki.as_str());
    }
}

#[test]
fn the_token_is_chosen_by_label_serial_or_uri_and_failures_exit_1() {
    let env = Env::new();
    env.init_token("other", "11111111");
    let by_label = inventory(&env, &["--json"]);
    let report = json(&by_label);
    assert_eq!(report["objects"], serde_json::json!([]));
    let serial = report["token"]["serial"]
        .as_str()
        .expect("serial")
        .to_string();
    let by_serial = inventory(&env, &["--serial", &serial, "--json"]);
    assert_eq!(json(&by_serial)["token"]["label"], "ceremony");
    let by_uri = inventory(
        &env,
        &["--uri=pkcs11:token=ceremony;manufacturer=SoftHSM%20project"],
    );
    assert!(ok(&by_uri).contains("0 object(s), 0 private key(s), none flagged"));

    let out = inventory(&env, &["--uri=pkcs11:token=ceremony?pin-value=1234"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("a PIN is never taken from a URI"));

    let module = common::module();
    let out = env.run(&[
        "inventory",
        "--module",
        &module,
        "--token",
        "no-such-token",
        "--pin-file",
        "user.pin",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no token matches label \"no-such-token\""));

    env.write_secret("wrong.pin", "13572468\n");
    let out = env.run(&[
        "inventory",
        "--module",
        &module,
        "--token",
        "ceremony",
        "--pin-file",
        "wrong.pin",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("login refused: PinIncorrect"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!stderr.contains("13572468"));
}

/// When cryptoki cannot convert a slot's token information (as on
/// opencryptoki, whose clock it fails to parse), the tool reads the
/// structure itself and finds the token all the same, by label and serial.
#[cfg(feature = "fault-injection")]
#[test]
fn a_token_whose_info_cryptoki_cannot_convert_is_found_by_label_and_serial() {
    let env = Env::new();
    let plain = json(&inventory(&env, &["--json"]));
    let serial = plain["token"]["serial"]
        .as_str()
        .expect("serial")
        .to_string();
    let module = common::module();
    for selector in [["--token", "ceremony"], ["--serial", serial.as_str()]] {
        let out = env
            .ceremony()
            .env("CEREMONY_FAULT", "token-info-unconvertible")
            .args([
                "inventory",
                "--module",
                &module,
                "--pin-file",
                "user.pin",
                "--json",
            ])
            .args(selector)
            .output()
            .expect("inventory");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(json(&out), plain, "{selector:?}");
    }
}
