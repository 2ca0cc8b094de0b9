//! Key custody under quorum (issue 15), end to end through the binary and
//! two real SoftHSM tokens: backup-capable roots backed up 2 of 3 on token
//! A, and restored into a fresh token B, where they sign a certificate that
//! openssl verifies under the original root certificate. Tried the way an
//! attacker would: one share short, a share altered on disk, a share
//! re-sealed with a changed value (the recipient is public), a wrapped key
//! altered with its checksums made to match, a manifest altered without,
//! a wrong SO PIN, a never-extractable key listed. And the backup, the
//! transcripts and every output are searched for the private keys in clear
//! (recovered from the backup with outside tools: age and openssl).

mod common;

use std::path::Path;
use std::process::Command;

use common::custody::{events_of, run_with_so as run, script, signed_sums};
use common::{failed, ok, openssl, text, walk, Env};
use serde_json::Value;

const ROOTS: [&str; 3] = ["cluster-root-ca", "etcd-root-ca", "front-proxy-root-ca"];
const CUSTODIANS: [&str; 3] = ["Custodian One", "Custodian Two", "Custodian Three"];

/// The shipped root ceremony with every key made backup-capable.
fn backup_roots(env: &Env) {
    let text = std::fs::read_to_string(common::repo().join("ceremonies/root-init.toml"))
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
    let script = env.write("root-init.toml", &text);
    ok(&common::run_ceremony(env, &script));
}

/// Three custodians' age identities (`cN.agekey`); their recipients.
fn custodians(env: &Env) -> Vec<String> {
    (1..=3)
        .map(|i| common::age_identity(env, &format!("c{i}.agekey")))
        .collect()
}

fn backup_step(keys: &[&str], recipients: &[String]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    let mut step = format!(
        "[[step]]\naction = \"backup-keys\"\nid = \"backup\"\nkeys = [{}]\nthreshold = 2\ndirectory = \"backup\"\n",
        keys.join(", ")
    );
    for (name, recipient) in CUSTODIANS.iter().zip(recipients) {
        step.push_str(&format!(
            "\n[[step.custodians]]\nname = \"{name}\"\nrecipient = \"{recipient}\"\n"
        ));
    }
    step
}

fn restore_script(env: &Env, name: &str, backup: &str, keys: &[&str], extra: &str) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    script(
        env,
        name,
        "restore",
        "restore/transcript.jsonl",
        "restore/pki",
        &format!(
            "[[step]]\naction = \"restore-keys\"\nid = \"restore\"\nbackup = \"{backup}\"\nkeys = [{}]\n{extra}",
            keys.join(", ")
        ),
    )
}

fn share_arg(i: usize) -> String {
    let slug = CUSTODIANS[i - 1].to_lowercase().replace(' ', "-");
    format!("pki/backup/shares/{i:02}-{slug}.age=c{i}.agekey")
}

/// Every key pair label in token `label`, from `ceremony inventory --json`.
fn token_keys(env: &Env, label: &str) -> Vec<String> {
    let module = env.module();
    let out = ok(&env.run(&[
        "inventory",
        "--module",
        &module,
        "--pin-file",
        "user.pin",
        "--token",
        label,
        "--json",
    ]));
    let report: Value = serde_json::from_str(&out).expect("inventory JSON");
    let mut labels: Vec<String> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o["class"].as_str().unwrap_or("?"),
                o["label"].as_str().unwrap_or("?")
            )
        })
        .collect();
    labels.sort();
    labels
}

/// `age -d -i IDENTITY FILE`: the share's text, by the stock age CLI.
fn age_decrypt(env: &Env, identity: &str, file: &str) -> String {
    let out = Command::new("age")
        .current_dir(env.dir.path())
        .args(["-d", "-i", identity, file])
        .output()
        .expect("age runs");
    assert!(out.status.success(), "age -d: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn roots_backed_up_two_of_three_restore_into_a_fresh_token_and_sign_there() {
    let env = Env::new();
    env.write_secret("so.pin", &format!("{}\n", env.so_pin));
    backup_roots(&env);
    let recipients = custodians(&env);
    let mut keys = ROOTS.to_vec();
    keys.push("ceremony-audit");

    // A wrong SO PIN: the step fails, nothing is written, the user is
    // logged in again (the end inventory and checkpoint are made).
    let backup = script(
        &env,
        "backup",
        "ceremony",
        "transcript.jsonl",
        "pki",
        &backup_step(&keys, &recipients),
    );
    env.write_secret("wrong-so.pin", "00000000\n");
    let out = env.run(&[
        "run",
        &backup,
        "--pin-file",
        "user.pin",
        "--so-pin-file",
        "wrong-so.pin",
    ]);
    let stderr = failed(&out, 1);
    assert!(stderr.contains("SO PIN"), "{stderr}");
    assert!(!env.path("pki/backup").exists());
    let names: Vec<String> = std::fs::read_dir(env.path("pki"))
        .expect("pki")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".ceremony-tmp")),
        "{names:?}"
    );
    let logins = events_of(&env, "transcript.jsonl", "login");
    let so: Vec<&Value> = logins.iter().filter(|l| l["user"] == "so").collect();
    assert_eq!(so.len(), 1, "{logins:?}");
    assert_eq!(so[0]["success"], false);
    assert_eq!(logins.last().expect("a login")["user"], "user");
    assert_eq!(logins.last().expect("a login")["success"], true);
    assert_eq!(events_of(&env, "transcript.jsonl", "checkpoint").len(), 2);

    // The backup itself.
    let dry = ok(&env.run(&["run", &backup, "--dry-run"]));
    assert!(dry.contains("quorum       2 of 3 custodians"), "{dry}");
    assert!(
        dry.contains("backs up key \"cluster-root-ca\" (policy backup)"),
        "{dry}"
    );
    let said = ok(&run(&env, &backup, &[]));
    assert!(said.contains("backed up 4 key(s) to pki/backup"), "{said}");
    let dir = env.path("pki/backup");
    let mut files: Vec<String> = common::bundles::files_under(&dir);
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
    // Outside tools check it: sha256sum, openssl with the audit key, age.
    signed_sums(&dir, "../audit-key.pub");
    let share_text = age_decrypt(&env, "c2.agekey", "pki/backup/shares/02-custodian-two.age");
    assert!(
        share_text.starts_with("ceremony-share/1\npurpose: backup\n"),
        "{share_text}"
    );
    assert!(
        share_text.contains("custodian: Custodian Two\nindex: 2\nthreshold: 2\ncount: 3\n"),
        "{share_text}"
    );
    // The transcript: SO login, the wrap key made and destroyed, the backup.
    let backed = events_of(&env, "transcript.jsonl", "keys_backed_up");
    assert_eq!(backed.len(), 1);
    assert_eq!(backed[0]["threshold"], 2);
    assert_eq!(backed[0]["count"], 3);
    assert_eq!(backed[0]["signed"], true);
    assert_eq!(backed[0]["custodians"][2]["name"], "Custodian Three");
    assert_eq!(
        backed[0]["custodians"][2]["recipient"],
        recipients[2].as_str()
    );
    assert_eq!(backed[0]["keys"].as_array().expect("keys").len(), 4);
    let created = events_of(&env, "transcript.jsonl", "wrap_key_created");
    let destroyed = events_of(&env, "transcript.jsonl", "wrap_key_destroyed");
    assert_eq!(created.len(), 1);
    assert_eq!(destroyed.len(), 1);
    assert!(destroyed[0].get("error").is_none(), "{destroyed:?}");
    // No wrap key is left in token A.
    let a_objects = token_keys(&env, "ceremony");
    assert!(
        a_objects.iter().all(|o| !o.contains("wrap")),
        "{a_objects:?}"
    );
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));

    // Token B, empty.
    env.init_token("restore", &env.so_pin);
    let restore = restore_script(
        &env,
        "restore",
        "pki/backup",
        &keys,
        "audit_key = \"pki/audit-key.pub\"\n",
    );
    let dry = ok(&env.run(&["run", &restore, "--dry-run"]));
    assert!(dry.contains("2 of 3 custodians' shares needed"), "{dry}");
    // A key the backup does not hold: named, before any token.
    let missing = restore_script(&env, "restore-missing", "pki/backup", &["no-such-key"], "");
    let stderr = failed(&env.run(&["run", &missing, "--dry-run"]), 2);
    assert!(
        stderr.contains("backup pki/backup: holds no key \"no-such-key\""),
        "{stderr}"
    );

    // One share short: refused, nothing in token B.
    let one = share_arg(1);
    let out = run(&env, &restore, &["--share", &one]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("1 good share(s) of the 2 needed"),
        "{stderr}"
    );
    assert!(token_keys(&env, "restore").is_empty());

    // A share altered by one byte on disk: named, not counted.
    let sealed = env.path("pki/backup/shares/02-custodian-two.age");
    let mut bytes = std::fs::read(&sealed).expect("share");
    std::fs::write(env.path("altered.age"), &bytes).expect("copy");
    let n = bytes.len();
    bytes[n - 20] ^= 1;
    std::fs::write(env.path("altered.age"), &bytes).expect("altered");
    let out = run(
        &env,
        &restore,
        &["--share", &one, "--share", "altered.age=c2.agekey"],
    );
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("not counted: share altered.age: cannot decrypt"),
        "{stderr}"
    );
    // A share re-sealed to its custodian with one changed value digit
    // (anyone can: the recipient is public): named by custodian and index.
    let changed: String = share_text
        .lines()
        .map(|l| match l.strip_prefix("value: ") {
            Some(v) => {
                let flipped = if v.starts_with('1') { "2" } else { "1" };
                format!("value: {flipped}{}\n", &v[1..])
            }
            None => format!("{l}\n"),
        })
        .collect();
    env.write("resealed.txt", &changed);
    let out = Command::new("age")
        .current_dir(env.dir.path())
        .args(["-r", &recipients[1], "-o", "resealed.age", "resealed.txt"])
        .output()
        .expect("age");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        &env,
        &restore,
        &["--share", &one, "--share", "resealed.age=c2.agekey"],
    );
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("share resealed.age: share 2 of custodian \"Custodian Two\" does not match its commitments"),
        "{stderr}"
    );
    assert!(token_keys(&env, "restore").is_empty());
    let judged = events_of(&env, "restore/transcript.jsonl", "shares_judged");
    assert_eq!(judged.len(), 3);
    assert_eq!(judged[2]["refused"][0]["file"], "resealed.age");

    // A wrapped key altered by one byte, its digests made to match: the
    // token refuses to unwrap it, and no key of the backup is left in B.
    copy_dir(&dir, &env.path("altered-backup"));
    let manifest_path = env.path("altered-backup/manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("manifest")).expect("JSON");
    let wrapped = manifest["keys"][1]["wrapped"]
        .as_str()
        .expect("wrapped")
        .to_string();
    let mut raw = ceremony::hex::decode(&wrapped).expect("hex");
    raw[10] ^= 1;
    manifest["keys"][1]["wrapped"] = Value::String(ceremony::hex::encode(&raw));
    manifest["keys"][1]["wrapped_sha256"] = Value::String(common::bundles::sha256_hex(&raw));
    let json = format!(
        "{}\n",
        serde_json::to_string_pretty(&manifest).expect("JSON")
    );
    std::fs::write(&manifest_path, &json).expect("write");
    let sums = std::fs::read_to_string(env.path("altered-backup/SHA256SUMS")).expect("sums");
    let sums: String = sums
        .lines()
        .map(|l| match l.split_once("  ") {
            Some((_, "manifest.json")) => format!(
                "{}  manifest.json\n",
                common::bundles::sha256_hex(json.as_bytes())
            ),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(env.path("altered-backup/SHA256SUMS"), sums).expect("sums");
    // Pinned to the backup ceremony's audit key, the altered bundle is
    // refused before any token: its SHA256SUMS no longer carries the
    // ceremony's signature.
    let pinned = restore_script(
        &env,
        "restore-pinned",
        "altered-backup",
        &keys,
        "audit_key = \"pki/audit-key.pub\"\n",
    );
    let out = env.run(&["run", &pinned, "--dry-run"]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains(
            "SHA256SUMS.sig does not verify over SHA256SUMS with audit key pki/audit-key.pub"
        ),
        "{stderr}"
    );
    // Without the pin, the module itself refuses the altered key.
    let altered = restore_script(&env, "restore-altered", "altered-backup", &keys, "");
    let three = share_arg(3);
    let out = run(&env, &altered, &["--share", &one, "--share", &three]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("key \"etcd-root-ca\": the token refused to unwrap it"),
        "{stderr}"
    );
    assert!(token_keys(&env, "restore").is_empty(), "all or nothing");
    // A share file left in the bundle and altered: named before any token.
    let kept_share = env.path("altered-backup/shares/02-custodian-two.age");
    let original = std::fs::read(&kept_share).expect("share");
    let mut changed = original.clone();
    changed[40] ^= 1;
    std::fs::write(&kept_share, &changed).expect("write");
    let stderr = failed(&env.run(&["run", &altered, "--dry-run"]), 2);
    assert!(
        stderr.contains("shares/02-custodian-two.age does not match its line in SHA256SUMS"),
        "{stderr}"
    );
    std::fs::write(&kept_share, &original).expect("write");
    // A manifest altered without its checksum: refused before any token.
    std::fs::write(&manifest_path, json.replace("Custodian One", "Custodian 1")).expect("write");
    let out = env.run(&["run", &altered, "--dry-run"]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("manifest.json does not match its line in SHA256SUMS"),
        "{stderr}"
    );

    // Two good shares: every key restored and checked.
    let said = ok(&run(&env, &restore, &["--share", &three, "--share", &one]));
    assert!(said.contains("restored 4 key(s) from pki/backup"), "{said}");
    let restored = events_of(&env, "restore/transcript.jsonl", "keys_restored");
    assert_eq!(restored.len(), 1);
    for (i, key) in restored[0]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .enumerate()
    {
        assert_eq!(key["test_signature_verified"], true, "{key}");
        assert_eq!(key["policy"], "restored", "{key}");
        assert_eq!(
            key["spki_sha256"], backed[0]["keys"][i]["spki_sha256"],
            "{key}"
        );
    }
    let judged = events_of(&env, "restore/transcript.jsonl", "shares_judged");
    let counted: Vec<&str> = judged.last().expect("judged")["counted"]
        .as_array()
        .expect("counted")
        .iter()
        .map(|c| c["custodian"].as_str().expect("name"))
        .collect();
    assert_eq!(counted, ["Custodian Three", "Custodian One"]);
    let b_objects = token_keys(&env, "restore");
    assert_eq!(b_objects.len(), 8, "{b_objects:?}");
    let verified = ok(&env.run(&[
        "transcript",
        "verify",
        "restore/transcript.jsonl",
        "--audit-key",
        "pki/audit-key.pub",
    ]));
    assert!(
        verified.contains("restored into this transcript's token at entry"),
        "{verified}"
    );

    // The restored cluster root signs an intermediate on token B; openssl
    // verifies it under the original root certificate from token A.
    common::make_requests(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let sha = common::seal(
        &env,
        "requester/intermediate.toml",
        "requests/intermediate.tar",
    );
    let sign = std::fs::read_to_string(common::repo().join("ceremonies/sign-intermediate.toml"))
        .expect("shipped script")
        .replace("REQUEST-BUNDLE-SHA256", &sha)
        .replace("REQUESTER-AGE-RECIPIENT", &recipient)
        .replace("/usr/lib/softhsm/libsofthsm2.so", &env.module())
        .replace("label = \"ceremony\"", "label = \"restore\"")
        .replace(
            "transcript = \"transcript.jsonl\"",
            "transcript = \"restore/transcript.jsonl\"",
        )
        .replace("directory = \"bundles\"", "directory = \"restore/bundles\"");
    let sign = env.write("sign-on-b.toml", &sign);
    ok(&common::run_ceremony(&env, &sign));
    let unpacked = common::bundles::unpack(&env, "restore/bundles/intermediate.tar.age", "opened");
    let cert = std::fs::read_dir(unpacked.join("certs"))
        .expect("certs")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "crt"))
        .expect("a certificate");
    let verified = ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "pki/ca.crt",
            cert.to_str().expect("utf-8"),
        ],
    ));
    assert!(verified.contains(": OK"), "{verified}");

    // No private key in clear anywhere: the quorum recovers the keys with
    // outside tools (age, openssl), and none of their bytes appear in the
    // backup, either transcript or any output.
    let scalars = private_scalars(&env, &dir);
    assert_eq!(scalars.len(), 4);
    let mut searched = 0;
    for file in walk(env.dir.path()) {
        let rel = file.strip_prefix(env.dir.path()).expect("inside");
        if rel.starts_with("tokens") || rel.starts_with("requester") || rel.starts_with("recovered")
        {
            continue;
        }
        let bytes = std::fs::read(&file).expect("read");
        searched += 1;
        for scalar in &scalars {
            for needle in [
                scalar.clone(),
                ceremony::hex::encode(scalar).into_bytes(),
                ceremony::hex::encode(scalar).to_uppercase().into_bytes(),
                base64(scalar).into_bytes(),
            ] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{} holds a private key in clear",
                    rel.display()
                );
            }
        }
    }
    assert!(searched > 20, "searched {searched} files");
}

/// The private scalars of every key in the backup at `dir`, recovered as
/// an attacker holding two custodians' identities would, with the stock
/// tools: `age -d` for the shares, the commitments' Lagrange interpolation
/// (the library's `combine`), the wrap key derivation, and `openssl enc
/// -id-aes256-wrap-pad` then `openssl pkey` for each key. Proves too that
/// a backup does not depend on this tool to be read.
fn private_scalars(env: &Env, dir: &Path) -> Vec<Vec<u8>> {
    let texts = [
        age_decrypt(env, "c1.agekey", "pki/backup/shares/01-custodian-one.age"),
        age_decrypt(env, "c3.agekey", "pki/backup/shares/03-custodian-three.age"),
    ];
    let shares: Vec<ceremony::custody::ShareFile> = texts
        .iter()
        .map(|t| ceremony::custody::ShareFile::parse(t).expect("share"))
        .collect();
    let commitments = shares[0].commitments().clone();
    let secret = ceremony::custody::combine(
        &[shares[0].share().clone(), shares[1].share().clone()],
        &commitments,
    )
    .expect("combine");
    let wrap_key = ceremony::custody::wrap_key(&secret);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    std::fs::create_dir_all(env.path("recovered")).expect("mkdir");
    let mut scalars = Vec::new();
    for (i, key) in manifest["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .enumerate()
    {
        let wrapped =
            ceremony::hex::decode(key["wrapped"].as_str().expect("wrapped")).expect("hex");
        let wrapped_path = env.path(&format!("recovered/{i}.wrapped"));
        std::fs::write(&wrapped_path, wrapped).expect("write");
        let pkcs8 = env.path(&format!("recovered/{i}.p8"));
        ok(&openssl(
            env.dir.path(),
            &[
                "enc",
                "-d",
                "-id-aes256-wrap-pad",
                "-K",
                &ceremony::hex::encode(wrap_key.as_slice()),
                "-iv",
                "A65959A6",
                "-in",
                wrapped_path.to_str().expect("utf-8"),
                "-out",
                pkcs8.to_str().expect("utf-8"),
            ],
        ));
        let printed = ok(&openssl(
            env.dir.path(),
            &[
                "pkey",
                "-inform",
                "DER",
                "-in",
                pkcs8.to_str().expect("utf-8"),
                "-noout",
                "-text",
            ],
        ));
        // "priv:" then colon-separated hex lines, until "pub:".
        let hex: String = printed
            .split("priv:")
            .nth(1)
            .and_then(|rest| rest.split("pub:").next())
            .expect("a priv: block")
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect();
        let mut scalar = ceremony::hex::decode(&hex).expect("hex");
        while scalar.len() > 32 && scalar[0] == 0 {
            scalar.remove(0);
        }
        assert_eq!(scalar.len(), 32, "{printed}");
        // The recovered key is the backed-up key: its public key matches.
        let spki = env.path(&format!("recovered/{i}.spki"));
        ok(&openssl(
            env.dir.path(),
            &[
                "pkey",
                "-inform",
                "DER",
                "-in",
                pkcs8.to_str().expect("utf-8"),
                "-pubout",
                "-outform",
                "DER",
                "-out",
                spki.to_str().expect("utf-8"),
            ],
        ));
        let spki = std::fs::read(&spki).expect("public key");
        assert_eq!(
            ceremony::hex::encode(&spki),
            key["spki"].as_str().expect("spki"),
            "key {i}"
        );
        scalars.push(scalar);
    }
    scalars
}

fn base64(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(bytes)
}

fn copy_dir(from: &Path, to: &Path) {
    for file in walk(from) {
        let rel = file.strip_prefix(from).expect("inside");
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &dest).expect("copy");
    }
}

#[test]
fn a_key_made_without_backup_cannot_be_listed_even_in_the_dry_run() {
    let env = Env::new();
    env.write_secret("so.pin", &format!("{}\n", env.so_pin));
    let recipients = custodians(&env);
    // In the same script: the policy comes from the generate step.
    let steps = format!(
        "{}{}{}",
        common::root_step("kept", "ecdsa-p256", "CN=kept", "kept.crt", "backup = true"),
        common::root_step("fixed", "ecdsa-p256", "CN=fixed", "fixed.crt", ""),
        backup_step(&["kept-key", "fixed-key"], &recipients)
    );
    let one = script(&env, "one", "ceremony", "transcript.jsonl", "pki", &steps);
    let out = env.run(&["run", &one, "--dry-run"]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("step backup: key \"fixed-key\" has policy never-extractable, not backup: only a key generated with `backup = true` can be backed up"),
        "{stderr}"
    );
    assert!(!stderr.contains("\"kept-key\" has policy"), "{stderr}");
    assert!(!env.path("transcript.jsonl").exists());

    // From the transcript: the keys made by an earlier ceremony.
    let roots = format!(
        "{}{}",
        common::root_step("kept", "ecdsa-p256", "CN=kept", "kept.crt", "backup = true"),
        common::root_step("fixed", "ecdsa-p256", "CN=fixed", "fixed.crt", ""),
    );
    let roots = script(&env, "roots", "ceremony", "transcript.jsonl", "pki", &roots);
    ok(&env.run(&["run", &roots, "--pin-file", "user.pin"]));
    let later = script(
        &env,
        "later",
        "ceremony",
        "transcript.jsonl",
        "pki",
        &backup_step(&["fixed-key"], &recipients),
    );
    let out = env.run(&["run", &later, "--dry-run"]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("key \"fixed-key\" has policy never-extractable"),
        "{stderr}"
    );
    // And the run refuses, recorded, before the SO PIN is asked for.
    let out = run(&env, &later, &[]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("key \"fixed-key\" has policy never-extractable"),
        "{stderr}"
    );
    assert!(!env.path("pki/backup").exists());
    let refused = events_of(&env, "transcript.jsonl", "refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(events_of(&env, "transcript.jsonl", "login")
        .iter()
        .all(|l| l["user"] == "user"));
}
