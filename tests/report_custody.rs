//! The report's "Key custody" table (issue 15), from a real backup and a
//! real restore: backup-capable roots backed up 2 of 3 on token A (SO PIN
//! from a file), restored into a fresh token B with two good shares and
//! one altered on disk. Both reports (HTML and Markdown) must show the
//! backup (directory, M of N, share set, each custodian with the SHA-256
//! of their sealed file, each key with its public key's SHA-256), the
//! trusted wrap key created and destroyed, the security officer's login,
//! the shares counted and the one refused with its reason, and each key
//! restored with its test signature. The digests are checked against
//! outside tools: `sha256sum` over the share files, `openssl` over the
//! root certificates' public keys.

mod common;

use std::process::Command;

use common::custody::script;
use common::{ok, openssl, text, Env};
use serde_json::Value;

const ROOTS: [(&str, &str); 3] = [
    ("cluster-root-ca", "pki/ca.crt"),
    ("etcd-root-ca", "pki/etcd/ca.crt"),
    ("front-proxy-root-ca", "pki/front-proxy-ca.crt"),
];
const CUSTODIANS: [&str; 3] = ["Custodian One", "Custodian Two", "Custodian Three"];

/// `ceremony run SCRIPT` with the user and SO PIN files and `extra`.
fn run(env: &Env, script: &str, extra: &[&str]) -> String {
    ok(&common::custody::run_with_so(env, script, extra))
}

/// `sha256sum FILE`'s digest, by the outside tool.
fn sha256sum(env: &Env, file: &str) -> String {
    let out = Command::new("sha256sum")
        .current_dir(env.dir.path())
        .arg(file)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "sha256sum: {}", text(&out.stderr));
    text(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_string()
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (DER), by openssl.
fn spki_sha256(env: &Env, certificate: &str) -> String {
    let der = env.path(&format!("{certificate}.spki.der"));
    let pem = env.path(&format!("{certificate}.pub.pem"));
    ok(&openssl(
        env.dir.path(),
        &[
            "x509",
            "-in",
            certificate,
            "-noout",
            "-pubkey",
            "-out",
            pem.to_str().expect("utf-8"),
        ],
    ));
    ok(&openssl(
        env.dir.path(),
        &[
            "pkey",
            "-pubin",
            "-in",
            pem.to_str().expect("utf-8"),
            "-outform",
            "DER",
            "-out",
            der.to_str().expect("utf-8"),
        ],
    ));
    sha256sum(env, der.to_str().expect("utf-8"))
}

/// `ceremony report TRANSCRIPT --out OUT`: (HTML, Markdown).
fn report(env: &Env, transcript: &str, out: &str) -> (String, String) {
    let said = ok(&env.run(&["report", transcript, "--out", out]));
    assert!(said.contains("VERIFIED"), "{said}");
    (
        std::fs::read_to_string(env.path(&format!("{out}/report.html"))).expect("html"),
        std::fs::read_to_string(env.path(&format!("{out}/report.md"))).expect("markdown"),
    )
}

/// Asserts the Markdown has a row of the Key custody table whose `what`
/// cell is `what` and whose details contain every one of `details`, and
/// that the HTML has the same cells.
fn has_row(html: &str, md: &str, what: &str, details: &[&str]) {
    let md_row = md
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(&format!(" | {what} | ")))
        .find(|l| details.iter().all(|d| l.contains(d)));
    assert!(
        md_row.is_some(),
        "report.md has no row {what:?} with {details:?}:\n{md}"
    );
    let html_row = html
        .split("<tr>")
        .filter(|r| r.contains(&format!("<td>{what}</td>")))
        .find(|r| details.iter().all(|d| r.contains(d)));
    assert!(
        html_row.is_some(),
        "report.html has no row {what:?} with {details:?}"
    );
}

#[test]
fn the_report_shows_a_backup_and_a_restore_with_every_share_judged() {
    let env = Env::new();
    env.write_secret("so.pin", &format!("{}\n", env.so_pin));
    // The shipped root ceremony with every root backup-capable.
    let roots = std::fs::read_to_string(common::repo().join("ceremonies/root-init.toml"))
        .expect("shipped script")
        .replace("/usr/lib/softhsm/libsofthsm2.so", &env.module())
        .replace(
            "validity_days = 3650\n",
            "validity_days = 3650\nbackup = true\n",
        );
    let roots = env.write("root-init.toml", &roots);
    ok(&common::run_ceremony(&env, &roots));

    // The backup: the three roots, 2 of 3 custodians.
    let recipients: Vec<String> = (1..=3)
        .map(|i| common::age_identity(&env, &format!("c{i}.agekey")))
        .collect();
    let labels: Vec<String> = ROOTS.iter().map(|(l, _)| format!("{l:?}")).collect();
    let mut step = format!(
        "[[step]]\naction = \"backup-keys\"\nid = \"backup\"\nkeys = [{}]\nthreshold = 2\ndirectory = \"backup\"\n",
        labels.join(", ")
    );
    for (name, recipient) in CUSTODIANS.iter().zip(&recipients) {
        step.push_str(&format!(
            "\n[[step.custodians]]\nname = \"{name}\"\nrecipient = \"{recipient}\"\n"
        ));
    }
    let backup = script(&env, "backup", "ceremony", "transcript.jsonl", "pki", &step);
    let said = run(&env, &backup, &[]);
    assert!(said.contains("backed up 3 key(s) to pki/backup"), "{said}");
    let backed: Vec<Value> = env
        .events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "keys_backed_up")
        .collect();
    assert_eq!(backed.len(), 1);
    let set = backed[0]["set"].as_str().expect("set").to_string();
    assert_eq!(set.len(), 64);
    let manifest_sha = sha256sum(&env, "pki/backup/manifest.json");
    let sums_sha = sha256sum(&env, "pki/backup/SHA256SUMS");

    let (html, md) = report(&env, "transcript.jsonl", "report-backup");
    assert!(md.contains("### Key custody\n"), "{md}");
    assert!(html.contains("<h3>Key custody</h3>"));
    assert!(md.contains("| time | step | what | details |"), "{md}");
    // The root ceremony moved no key: its custody table is empty.
    let first = md.split("## Ceremony 2").next().expect("ceremony 1");
    assert!(first.contains("### Key custody\n\nNone."), "{first}");
    let dir =
        format!("directory pki/backup; 2 of 3 custodians' shares restore it; share set {set}");
    has_row(
        &html,
        &md,
        "backup made",
        &[
            &dir,
            &format!("manifest.json SHA-256 {manifest_sha}"),
            &format!("SHA256SUMS SHA-256 {sums_sha}"),
            "signed by the audit key (SHA256SUMS.sig)",
        ],
    );
    for (i, (name, recipient)) in CUSTODIANS.iter().zip(&recipients).enumerate() {
        let slug = name.to_lowercase().replace(' ', "-");
        let file = format!("pki/backup/shares/{:02}-{slug}.age", i + 1);
        has_row(
            &html,
            &md,
            &format!("share {} sealed", i + 1),
            &[
                &format!("custodian {name} ({recipient})"),
                &format!("file {file} (SHA-256 {})", sha256sum(&env, &file)),
            ],
        );
    }
    for (label, certificate) in ROOTS {
        has_row(
            &html,
            &md,
            "key wrapped",
            &[
                &format!("{label} (ecdsa-p256, CKA_ID "),
                "policy backup)",
                &format!("public key SHA-256 {}", spki_sha256(&env, certificate)),
            ],
        );
    }
    has_row(
        &html,
        &md,
        "security officer login",
        &["succeeded (SO PIN from file so.pin)"],
    );
    assert!(
        md.contains("| backup | security officer login |"),
        "the login is shown in its step:\n{md}"
    );
    has_row(
        &html,
        &md,
        "trusted wrap key created",
        &["ceremony-backup-wrap-backup (CKA_TRUSTED"],
    );
    has_row(
        &html,
        &md,
        "trusted wrap key destroyed",
        &["ceremony-backup-wrap-backup"],
    );
    // Nothing secret is shown: no share value, no wrapped key's bytes.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(env.path("pki/backup/manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    for key in manifest["keys"].as_array().expect("keys") {
        let wrapped = key["wrapped"].as_str().expect("wrapped");
        assert!(!md.contains(wrapped) && !html.contains(wrapped));
    }

    // The restore into token B: two good shares and one altered on disk.
    env.init_token("restore", &env.so_pin);
    let mut altered =
        std::fs::read(env.path("pki/backup/shares/02-custodian-two.age")).expect("share");
    let n = altered.len();
    altered[n - 20] ^= 1;
    std::fs::write(env.path("altered.age"), &altered).expect("altered");
    let restore = script(
        &env,
        "restore",
        "restore",
        "restore/transcript.jsonl",
        "restore/pki",
        &format!(
            "[[step]]\naction = \"restore-keys\"\nid = \"restore\"\nbackup = \"pki/backup\"\nkeys = [{}]\n",
            labels.join(", ")
        ),
    );
    let said = run(
        &env,
        &restore,
        &[
            "--share",
            "pki/backup/shares/01-custodian-one.age=c1.agekey",
            "--share",
            "altered.age=c2.agekey",
            "--share",
            "pki/backup/shares/03-custodian-three.age=c3.agekey",
        ],
    );
    assert!(said.contains("restored 3 key(s) from pki/backup"), "{said}");

    let (html, md) = report(&env, "restore/transcript.jsonl", "report-restore");
    has_row(
        &html,
        &md,
        "shares judged",
        &[&format!(
            "purpose backup, share set {set}: 2 counted of the 2 needed, 1 not counted"
        )],
    );
    has_row(
        &html,
        &md,
        "share 1 counted",
        &["custodian Custodian One, file pki/backup/shares/01-custodian-one.age"],
    );
    has_row(
        &html,
        &md,
        "share 3 counted",
        &["custodian Custodian Three, file pki/backup/shares/03-custodian-three.age"],
    );
    has_row(
        &html,
        &md,
        "share NOT COUNTED",
        &["file altered.age: cannot decrypt"],
    );
    has_row(
        &html,
        &md,
        "keys restored",
        &[&format!(
            "from pki/backup (manifest.json SHA-256 {manifest_sha}), backed up from token ceremony (serial "
        )],
    );
    for (label, certificate) in ROOTS {
        has_row(
            &html,
            &md,
            "key restored",
            &[
                &format!("{label} (ecdsa-p256, CKA_ID "),
                "policy restored)",
                &format!("public key SHA-256 {}", spki_sha256(&env, certificate)),
                "test signature verified with the backed-up public key",
            ],
        );
    }
    has_row(
        &html,
        &md,
        "trusted wrap key created",
        &["ceremony-restore-wrap-restore (CKA_TRUSTED"],
    );
    has_row(
        &html,
        &md,
        "trusted wrap key destroyed",
        &["ceremony-restore-wrap-restore"],
    );
    has_row(
        &html,
        &md,
        "security officer login",
        &["succeeded (SO PIN from file so.pin)"],
    );
}
