//! Quorum activation (issue 15 item 4), through the binary and a real
//! SoftHSM token: `activate-quorum` has the security officer set the user
//! PIN to a value no one sees and seals its secret 2 of 3 to officers; the
//! old PIN stops working (pkcs11-tool says so); one officer's share is
//! refused before any login is attempted; two officers' shares log in, and
//! the transcript names them. The PIN, rebuilt here from two shares opened
//! by the stock age CLI, logs pkcs11-tool in, and appears in no file.

mod common;

use std::process::{Command, Output};

use common::custody::signed_sums;
use common::{failed, ok, text, walk, Env};
use serde_json::Value;

const OFFICERS: [&str; 3] = ["Officer One", "Officer Two", "Officer Three"];

fn script(env: &Env, name: &str, steps: &str) -> String {
    let body = format!(
        r#"[ceremony]
name = "{name}"

[token]
module = "{}"
label = "ceremony"

[participants]
operator = "Test Operator"

[output]
transcript = "transcript.jsonl"
directory = "pki"

{steps}"#,
        env.module()
    );
    env.write(&format!("{name}.toml"), &body)
        .to_str()
        .expect("utf-8")
        .to_string()
}

fn share(i: usize) -> String {
    let slug = OFFICERS[i - 1].to_lowercase().replace(' ', "-");
    format!("pki/quorum/shares/{i:02}-{slug}.age=o{i}.agekey")
}

fn events_of(env: &Env, kind: &str) -> Vec<Value> {
    env.events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

/// pkcs11-tool logged in with `pin`, listing objects.
fn pkcs11_login(env: &Env, pin: &str) -> Output {
    env.client("pkcs11-tool")
        .args(["--module", &env.module(), "--token-label", "ceremony"])
        .args(["--login", "--pin", pin, "--list-objects"])
        .output()
        .expect("pkcs11-tool runs")
}

#[test]
fn the_user_pin_under_a_two_of_three_quorum_logs_in_only_with_two_officers_shares() {
    let env = Env::new();
    env.write_secret("so.pin", &format!("{}\n", env.so_pin));
    let recipients: Vec<String> = (1..=3)
        .map(|i| common::age_identity(&env, &format!("o{i}.agekey")))
        .collect();
    let mut steps = String::from(
        "[[step]]\naction = \"generate-audit-key\"\nid = \"audit\"\npublic_key = \"audit.pub\"\n\n[[step]]\naction = \"activate-quorum\"\nid = \"quorum\"\nthreshold = 2\ndirectory = \"quorum\"\n",
    );
    for (name, recipient) in OFFICERS.iter().zip(&recipients) {
        steps.push_str(&format!(
            "\n[[step.officers]]\nname = \"{name}\"\nrecipient = \"{recipient}\"\n"
        ));
    }
    let activate = script(&env, "activate", &steps);
    let dry = ok(&env.run(&["run", &activate, "--dry-run"]));
    assert!(
        dry.contains("2 of 3 officers' shares log in from now on"),
        "{dry}"
    );
    let said = ok(&env.run(&[
        "run",
        &activate,
        "--pin-file",
        "user.pin",
        "--so-pin-file",
        "so.pin",
    ]));
    assert!(said.contains("is now under a quorum: 2 of 3"), "{said}");
    // The run went on as the user with the new PIN: its end is checkpointed.
    assert_eq!(events_of(&env, "checkpoint").len(), 1);
    let activated = events_of(&env, "quorum_activated");
    assert_eq!(activated.len(), 1);
    assert_eq!(activated[0]["threshold"], 2);
    assert_eq!(activated[0]["officers"][1]["name"], "Officer Two");
    // The sealed shares, checked with outside tools.
    let dir = env.path("pki/quorum");
    signed_sums(&dir, "../audit.pub");

    // A second activation whose security officer login fails: its shares'
    // directory is not left behind, and the quorum PIN still logs in.
    let mut again_steps = String::from(
        "[[step]]\naction = \"activate-quorum\"\nid = \"quorum-again\"\nthreshold = 2\ndirectory = \"quorum-again\"\n",
    );
    for (name, recipient) in OFFICERS.iter().zip(&recipients) {
        again_steps.push_str(&format!(
            "\n[[step.officers]]\nname = \"{name}\"\nrecipient = \"{recipient}\"\n"
        ));
    }
    let requorum = script(&env, "requorum", &again_steps);
    env.write_secret("wrong-so.pin", "00000000\n");
    let out = env.run(&[
        "run",
        &requorum,
        "--pin-share",
        &share(1),
        "--pin-share",
        &share(2),
        "--so-pin-file",
        "wrong-so.pin",
    ]);
    let stderr = failed(&out, 1);
    assert!(stderr.contains("SO PIN"), "{stderr}");
    assert!(!env.path("pki/quorum-again").exists());
    assert!(events_of(&env, "quorum_activated").len() == 1);
    let relogin = events_of(&env, "login").pop().expect("a login");
    assert_eq!(relogin["success"], true, "{relogin}");

    // The old PIN no longer logs in.
    let out = pkcs11_login(&env, &env.pin);
    assert!(!out.status.success(), "the old PIN still logs in");
    let later = script(
        &env,
        "later",
        &common::root_step("later", "ecdsa-p256", "CN=later", "later.crt", ""),
    );
    let out = env.run(&["run", &later, "--pin-file", "user.pin"]);
    let stderr = failed(&out, 1);
    assert!(stderr.contains("PIN"), "{stderr}");

    // One officer's share: refused before any login is attempted.
    let logins_before = events_of(&env, "login").len();
    let one = share(1);
    let out = env.run(&["run", &later, "--pin-share", &one]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("--pin-share: 1 good share(s) of the 2 needed"),
        "{stderr}"
    );
    assert_eq!(events_of(&env, "login").len(), logins_before);
    // A share of another officer opened with the wrong identity is named.
    let out = env.run(&[
        "run",
        &later,
        "--pin-share",
        &one,
        "--pin-share",
        "pki/quorum/shares/02-officer-two.age=o3.agekey",
    ]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("not counted: share pki/quorum/shares/02-officer-two.age: no identity in o3.agekey can decrypt it"),
        "{stderr}"
    );
    assert!(!env.path("pki/later.crt").exists());

    // Two officers' shares log in; the transcript names them.
    let three = share(3);
    ok(&env.run(&["run", &later, "--pin-share", &three, "--pin-share", &one]));
    assert!(env.path("pki/later.crt").exists());
    let login = events_of(&env, "login").pop().expect("a login");
    assert_eq!(login["success"], true);
    let source = login["pin_source"].as_str().expect("pin source");
    assert!(
        source.contains("2 of 3 officers' shares")
            && source.ends_with("Officer Three, Officer One"),
        "{source}"
    );
    let judged = events_of(&env, "shares_judged").pop().expect("judged");
    assert_eq!(judged["purpose"], "user-pin");
    assert_eq!(judged["counted"].as_array().expect("counted").len(), 2);
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));

    // The report shows the quorum and the officers whose shares logged in.
    ok(&env.run(&["report", "transcript.jsonl", "--out", "report"]));
    let md = std::fs::read_to_string(env.path("report/report.md")).expect("report");
    assert!(
        md.contains("user PIN under quorum") && md.contains("2 of 3 officers' shares log in"),
        "{md}"
    );
    assert!(
        md.contains("quorum login") && md.contains("Officer Three, Officer One"),
        "{md}"
    );

    // At the console, one officer at a time: a share given without an
    // identity file opens with the identity its officer types (no echo); a
    // mistyped identity is named and not counted.
    let identity = |i: usize| {
        std::fs::read_to_string(env.path(&format!("o{i}.agekey")))
            .expect("identity")
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .expect("a secret key line")
            .to_string()
    };
    let again = script(
        &env,
        "again",
        &common::root_step("again", "ecdsa-p256", "CN=again", "again.crt", ""),
    );
    let typed = |steps: &[(&str, &str)], shares: &[&str]| {
        let steps = serde_json::to_string(steps).expect("json");
        let mut cmd = env.client("python3");
        cmd.args([
            "-c",
            common::pty::DRIVER,
            &steps,
            env!("CARGO_BIN_EXE_ceremony"),
            "run",
            &again,
        ]);
        for share in shares {
            cmd.args(["--pin-share", share]);
        }
        cmd.output().expect("python3 runs (with its pty module)")
    };
    let prompt = |i: usize| {
        format!(
            "age identity (AGE-SECRET-KEY-1…) of the custodian of share pki/quorum/shares/0{i}-{}.age: ",
            OFFICERS[i - 1].to_lowercase().replace(' ', "-")
        )
    };
    let two = "pki/quorum/shares/02-officer-two.age";
    let out = typed(&[(&prompt(2), "AGE-SECRET-KEY-1NOTAKEY")], &[&one, two]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("not counted: share pki/quorum/shares/02-officer-two.age: identity file (typed at the terminal): is not an age X25519 identity"),
        "{shown}"
    );
    assert!(
        !shown.contains("AGE-SECRET-KEY-1NOTAKEY"),
        "echoed: {shown}"
    );
    let key2 = identity(2);
    let out = typed(&[(&prompt(2), &key2)], &[two, &three]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        !text(&out.stdout).contains(&key2),
        "the identity was echoed"
    );
    assert!(env.path("pki/again.crt").exists());
    let login = events_of(&env, "login").pop().expect("a login");
    assert!(
        login["pin_source"]
            .as_str()
            .expect("source")
            .ends_with("Officer Two, Officer Three"),
        "{login}"
    );
    let transcript = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    assert!(
        !transcript.contains(&key2),
        "the transcript holds an identity"
    );

    // The PIN, rebuilt from two shares opened by the stock age CLI, logs
    // pkcs11-tool in; it is written nowhere.
    let texts: Vec<String> = [(2, "02-officer-two"), (3, "03-officer-three")]
        .iter()
        .map(|(i, name)| {
            let out = Command::new("age")
                .current_dir(env.dir.path())
                .args([
                    "-d",
                    "-i",
                    &format!("o{i}.agekey"),
                    &format!("pki/quorum/shares/{name}.age"),
                ])
                .output()
                .expect("age");
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout)
        })
        .collect();
    assert!(texts[0].contains("purpose: user-pin\n"), "{}", texts[0]);
    let files: Vec<ceremony::custody::ShareFile> = texts
        .iter()
        .map(|t| ceremony::custody::ShareFile::parse(t).expect("share"))
        .collect();
    let secret = ceremony::custody::combine(
        &[files[0].share().clone(), files[1].share().clone()],
        files[0].commitments(),
    )
    .expect("combine");
    let pin = ceremony::custody::user_pin(&secret);
    assert_eq!(pin.len(), 32);
    ok(&pkcs11_login(&env, &pin));
    let mut searched = 0;
    for file in walk(env.dir.path()) {
        let rel = file.strip_prefix(env.dir.path()).expect("inside");
        if rel.starts_with("tokens") {
            continue;
        }
        let bytes = std::fs::read(&file).expect("read");
        searched += 1;
        assert!(
            !bytes.windows(pin.len()).any(|w| w == pin.as_bytes()),
            "{} holds the quorum PIN",
            rel.display()
        );
    }
    assert!(searched > 10, "searched {searched} files");
}

#[test]
fn pin_shares_without_a_recorded_quorum_are_refused_before_any_login() {
    let env = Env::new();
    let plain = script(
        &env,
        "plain",
        &common::root_step("plain", "ecdsa-p256", "CN=plain", "plain.crt", ""),
    );
    let out = env.run(&["run", &plain, "--pin-share", "a.age=a.agekey"]);
    let stderr = failed(&out, 2);
    assert!(
        stderr.contains("--pin-share: transcript transcript.jsonl records no activate-quorum for token \"ceremony\""),
        "{stderr}"
    );
    assert!(events_of(&env, "login").is_empty());
    assert!(!env.path("pki/plain.crt").exists());
}
