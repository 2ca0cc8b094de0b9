//! Signed approvals (issue 14 items 1 and 2), tried as an approver, an
//! operator in a hurry and an attacker would: keys made by `ssh-keygen`
//! (ed25519, ecdsa, rsa), signatures made by `ssh-keygen -Y sign`, the
//! real binary against a real SoftHSM token, and every recorded approval
//! checked afterwards with `ssh-keygen -Y verify`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::ssh::{keygen, sign, ssh_verify};
use common::{ok, text, Env};

/// Alice (ed25519), Bob (ecdsa) and Carol (rsa) in `approvers`.
fn approvers(env: &Env) -> PathBuf {
    let alice = keygen(env, "alice", &["-t", "ed25519"]);
    let bob = keygen(env, "bob", &["-t", "ecdsa", "-b", "256"]);
    let carol = keygen(env, "carol", &["-t", "rsa", "-b", "3072"]);
    env.write(
        "approvers",
        &format!("alice@example.com {alice}\nbob@example.com {bob}\ncarol@example.com {carol}\n"),
    )
}

/// A one-root script `NAME` with `[approvals]` (`signers`, `required`)
/// making key `ID-key` and `pki/ID.crt`; `module` replaces the token module.
fn approved_script(
    env: &Env,
    name: &str,
    id: &str,
    approvals: &str,
    module: Option<&str>,
) -> PathBuf {
    let mut body = common::script(&common::root_step(
        id,
        "ecdsa-p256",
        &format!("CN={id}"),
        &format!("{id}.crt"),
        "",
    ));
    if let Some(m) = module {
        body = body.replace(&common::module(), m);
    }
    env.write(name, &format!("{body}\n{approvals}"))
}

fn approvals(signers: &str, required: u32) -> String {
    format!("[approvals]\nallowed_signers = \"{signers}\"\nrequired = {required}\n")
}

/// Runs `script` with the PIN file, witness answers and `--approval` for each of `sigs`.
fn run(env: &Env, script: &Path, sigs: &[&Path]) -> Output {
    let answers = common::answers(env, script);
    let mut cmd = env.ceremony();
    cmd.args(["run"])
        .arg(script)
        .args(["--pin-file", "user.pin", "--answers"])
        .arg(answers);
    for s in sigs {
        cmd.arg("--approval").arg(s);
    }
    cmd.output().expect("run")
}

fn events_of<'a>(events: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn one_of_two_approvals_refuses_before_the_token_is_opened() {
    let env = Env::new();
    approvers(&env);
    let script = approved_script(&env, "root.toml", "root", &approvals("approvers", 2), None);
    let alice = sign(&env, "alice", "ceremony-approval", &script);
    let objects_before = env.token_objects();

    let out = run(&env, &script, &[&alice]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("approvals: 1 of the 2 required from approvers verified"),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("approved by alice@example.com (ssh-ed25519 SHA256:"),
        "{stdout}"
    );

    // Recorded: who signed, the refusal, the end; the token never opened.
    let events = env.events("transcript.jsonl");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        ["ceremony_start", "approval", "refused", "ceremony_end"],
        "{kinds:?}"
    );
    assert_eq!(events[1]["principal"], "alice@example.com");
    assert!(events[0].get("token").is_none(), "{}", events[0]);
    assert!(
        events[0]["token_unavailable"]
            .as_str()
            .is_some_and(|r| r.starts_with("not opened: the script's approvals do not suffice")),
        "{}",
        events[0]
    );
    assert!(events[2]["reasons"][0]
        .as_str()
        .is_some_and(|r| r.contains("1 of the 2 required")));
    assert_eq!(events[3]["outcome"], "refused");
    assert!(
        !events_of(&events, "approvers_set").iter().any(|_| true),
        "a refused ceremony anchors nothing"
    );
    assert_eq!(
        env.token_objects(),
        objects_before,
        "nothing made in the token"
    );
    assert!(!env.path("pki/root.crt").exists(), "no certificate written");
    env.assert_events_read_back("transcript.jsonl");

    // A module that cannot even be loaded: the refusal is still the
    // approvals', so the module was never touched.
    let nowhere = approved_script(
        &env,
        "nowhere.toml",
        "nowhere",
        &approvals("approvers", 2),
        Some("/nonexistent/module.so"),
    );
    let alice = sign(&env, "alice", "ceremony-approval", &nowhere);
    let out = run(&env, &nowhere, &[&alice]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 of the 2 required"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("nonexistent"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn two_approvals_run_the_ceremony_and_verify_with_ssh_keygen() {
    let env = Env::new();
    let signers = approvers(&env);
    let script = approved_script(&env, "root.toml", "root", &approvals("approvers", 2), None);
    let alice = sign(&env, "alice", "ceremony-approval", &script);
    let bob = sign(&env, "bob", "ceremony-approval", &script);

    // The dry run, without approvals, says what the run needs and does not
    // refuse; with them, it shows who approved.
    let dry = ok(&env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]));
    assert!(dry.contains("approvals: 0 of 2 required"), "{dry}");
    assert!(
        dry.contains("approvals: none given; the run refuses without them"),
        "{dry}"
    );
    let dry = ok(&env
        .ceremony()
        .args([
            "run",
            script.to_str().expect("utf-8"),
            "--dry-run",
            "--approval",
        ])
        .arg(&alice)
        .arg("--approval")
        .arg(&bob)
        .output()
        .expect("dry run"));
    assert!(dry.contains("approvals: 2 of 2 required"), "{dry}");
    assert!(
        dry.contains("approved by bob@example.com (ecdsa-sha2-nistp256 SHA256:"),
        "{dry}"
    );

    ok(&run(&env, &script, &[&alice, &bob]));
    assert!(env.path("pki/root.crt").exists());
    let events = env.events("transcript.jsonl");
    let recorded = events_of(&events, "approval");
    assert_eq!(recorded.len(), 2);
    let script_sha = common::bundles::sha256_hex(&std::fs::read(&script).expect("script"));
    for (i, approval) in recorded.iter().enumerate() {
        assert_eq!(approval["namespace"], "ceremony-approval");
        assert_eq!(approval["signed_sha256"], script_sha.as_str());
        // The recorded signature alone, with the signers file, verifies
        // with OpenSSH against the script's bytes.
        let sig = env.write(
            &format!("recorded-{i}.sig"),
            approval["signature"].as_str().expect("signature"),
        );
        let principal = approval["principal"].as_str().expect("principal");
        let out = ssh_verify(&signers, principal, "ceremony-approval", &sig, &script);
        assert!(
            out.status.success(),
            "ssh-keygen -Y verify: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        // …and not against another script.
        let other = env.write(
            "other.toml",
            &format!("{}#\n", text(&std::fs::read(&script).expect("script"))),
        );
        assert!(
            !ssh_verify(&signers, principal, "ceremony-approval", &sig, &other)
                .status
                .success()
        );
    }
    let set = events_of(&events, "approvers_set");
    assert_eq!(set.len(), 1, "the first approved ceremony anchors its set");
    assert_eq!(
        set[0]["sha256"],
        common::bundles::sha256_hex(&std::fs::read(&signers).expect("signers")).as_str()
    );
    assert_eq!(set[0]["required"], 2);
    // The approvals precede the token.
    let pos = |k: &str| events.iter().position(|e| e["type"] == k).expect(k);
    assert!(pos("approval") < pos("token") && pos("approvers_set") < pos("token"));
    env.assert_events_read_back("transcript.jsonl");

    // The report lists the approvals and the anchored set.
    ok(&env.run(&["report", "transcript.jsonl", "--out", "report"]));
    let md = std::fs::read_to_string(env.path("report/report.md")).expect("report");
    assert!(md.contains("### Approvals"), "{md}");
    assert!(
        md.contains("| alice@example.com | ssh-ed25519 SHA256:"),
        "{md}"
    );
    assert!(
        md.contains("| bob@example.com | ecdsa-sha2-nistp256 SHA256:"),
        "{md}"
    );
    assert!(
        md.contains(&format!("approved (script sha256 {script_sha})")),
        "{md}"
    );
    assert!(md.contains("approvers' set anchored (2 required)"), "{md}");
}

#[test]
fn approvals_that_do_not_count_are_named() {
    let env = Env::new();
    approvers(&env);
    keygen(&env, "mallory", &["-t", "ed25519"]);
    let script = approved_script(&env, "root.toml", "root", &approvals("approvers", 2), None);
    let other = approved_script(
        &env,
        "other.toml",
        "other",
        &approvals("approvers", 2),
        None,
    );
    let alice = sign(&env, "alice", "ceremony-approval", &script);
    let alice_again = {
        let again = env.path("alice-again.sig");
        std::fs::copy(&alice, &again).expect("copy");
        again
    };
    let bob_other = sign(&env, "bob", "ceremony-approval", &other);
    let carol_file = sign(&env, "carol", "file", &script);
    let mallory = sign(&env, "mallory", "ceremony-approval", &script);
    let garbage = env.write("garbage.sig", "not a signature\n");

    let sigs = [
        &alice,
        &alice_again,
        &bob_other,
        &carol_file,
        &mallory,
        &garbage,
    ];
    let sigs: Vec<&Path> = sigs.iter().map(|p| p.as_path()).collect();
    let out = run(&env, &script, &sigs);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let events = env.events("transcript.jsonl");
    let not_counted = events_of(&events, "approval_not_counted");
    let reason_of = |file: &Path| {
        not_counted
            .iter()
            .find(|e| e["file"] == file.display().to_string().as_str())
            .and_then(|e| e["reason"].as_str())
            .unwrap_or_else(|| panic!("{} not named: {not_counted:?}", file.display()))
            .to_string()
    };
    for (file, rule) in [
        (&alice_again, "is a second approval by alice@example.com"),
        (&bob_other, "does not verify over the bytes of"),
        (
            &carol_file,
            "is signed in namespace \"file\", not \"ceremony-approval\"",
        ),
        (&mallory, "which approvers does not list"),
        (&garbage, "is not an OpenSSH signature"),
    ] {
        let reason = reason_of(file);
        assert!(reason.contains(rule), "{}: {reason}", file.display());
        assert!(
            stdout.contains(&format!("not counted: {}: {reason}", file.display())),
            "{stdout}"
        );
    }
    assert_eq!(
        events_of(&events, "approval").len(),
        1,
        "only alice counted"
    );
    assert!(
        text(&out.stderr).contains("1 of the 2 required"),
        "{}",
        text(&out.stderr)
    );
    assert!(!env.path("pki/root.crt").exists());
}

#[test]
fn a_changed_signers_file_needs_the_anchored_set() {
    let env = Env::new();
    approvers(&env);
    let first = approved_script(
        &env,
        "first.toml",
        "first",
        &approvals("approvers", 2),
        None,
    );
    let sigs = [
        sign(&env, "alice", "ceremony-approval", &first),
        sign(&env, "bob", "ceremony-approval", &first),
    ];
    ok(&run(&env, &first, &[&sigs[0], &sigs[1]]));

    // A new set of two new people, approved only by themselves: refused.
    let dave = keygen(&env, "dave", &["-t", "ed25519"]);
    let erin = keygen(&env, "erin", &["-t", "ecdsa", "-b", "384"]);
    env.write("approvers-2", &format!("dave {dave}\nerin {erin}\n"));
    let second = approved_script(
        &env,
        "second.toml",
        "second",
        &approvals("approvers-2", 2),
        None,
    );
    let new_only = [
        sign(&env, "dave", "ceremony-approval", &second),
        sign(&env, "erin", "ceremony-approval", &second),
    ];
    let out = run(&env, &second, &[&new_only[0], &new_only[1]]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the transcript anchors approvers' set sha256"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0 of the 2 required from the anchored set"),
        "{stderr}"
    );
    assert!(!env.path("pki/second.crt").exists());

    // One of the old set is not enough either.
    let alice2 = sign(&env, "alice", "ceremony-approval", &second);
    let out = run(&env, &second, &[&new_only[0], &new_only[1], &alice2]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 of the 2 required from the anchored set"));

    // Two of the old set and two of the new: the set is rotated.
    let bob2 = sign(&env, "bob", "ceremony-approval", &second);
    ok(&run(
        &env,
        &second,
        &[&new_only[0], &new_only[1], &alice2, &bob2],
    ));
    let events = env.events("transcript.jsonl");
    let sets = events_of(&events, "approvers_set");
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[1]["file"], "approvers-2");
    assert_eq!(sets[1]["replaces"]["sha256"], sets[0]["sha256"]);
    assert_eq!(sets[1]["replaces"]["approved_by"], 2);

    // Dropping [approvals] does not drop the rule: the new set must approve.
    let third = env.write(
        "third.toml",
        &common::script(&common::root_step(
            "third",
            "ecdsa-p256",
            "CN=third",
            "third.crt",
            "",
        )),
    );
    let out = run(&env, &third, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("this script has no [approvals]"),
        "{}",
        text(&out.stderr)
    );
    let by_new = [
        sign(&env, "dave", "ceremony-approval", &third),
        sign(&env, "erin", "ceremony-approval", &third),
    ];
    ok(&run(&env, &third, &[&by_new[0], &by_new[1]]));
    assert!(env.path("pki/third.crt").exists());
    env.assert_events_read_back("transcript.jsonl");
}

#[test]
fn a_bad_approvals_section_is_refused_in_the_dry_run() {
    let env = Env::new();
    approvers(&env);
    for (section, rule) in [
        (
            approvals("approvers", 4),
            "approvals.required = 4: must be from 1 to the 3 signer(s)",
        ),
        (approvals("approvers", 0), "approvals.required = 0"),
        (approvals("missing", 1), "allowed signers missing: "),
        (
            "[approvals]\nallowed_signers = \"approvers\"\nrequired = 1\nwho = 2\n".into(),
            "unknown field `who`",
        ),
    ] {
        let script = approved_script(&env, "bad.toml", "bad", &section, None);
        let out = env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{section}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(rule),
            "{section}: {}",
            text(&out.stderr)
        );
    }
    // --approval without any approvals rule to judge it by.
    let plain = env.write(
        "plain.toml",
        &common::script(&common::root_step("p", "ecdsa-p256", "CN=p", "p.crt", "")),
    );
    let sig = sign(&env, "alice", "ceremony-approval", &plain);
    let out = env
        .ceremony()
        .args([
            "run",
            plain.to_str().expect("utf-8"),
            "--dry-run",
            "--approval",
        ])
        .arg(&sig)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("has no [approvals] and the transcript anchors no approvers' set"),
        "{}",
        text(&out.stderr)
    );
}

/// A security-key (sk-ssh-ed25519) approval of `message`, made in software
/// as a FIDO authenticator would (`flags` 0x01: the user touched it);
/// returns the signers line's key and the armored signature.
fn sk_ed25519_approval(message: &[u8], flags: u8) -> (String, String) {
    use ed25519_dalek::Signer as _;
    use sha2::{Digest, Sha256};
    use ssh_key::public::{Ed25519PublicKey, KeyData, SkEd25519};
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let public = KeyData::SkEd25519(SkEd25519::new(
        Ed25519PublicKey(key.verifying_key().to_bytes()),
        "ssh:",
    ));
    let blob = ssh_key::SshSig::signed_data("ceremony-approval", ssh_key::HashAlg::Sha512, message)
        .expect("signed data");
    let counter = 42u32.to_be_bytes();
    let mut signed = Sha256::digest(b"ssh:").to_vec();
    signed.push(flags);
    signed.extend_from_slice(&counter);
    signed.extend_from_slice(&Sha256::digest(&blob));
    let mut data = key.sign(&signed).to_bytes().to_vec();
    data.push(flags);
    data.extend_from_slice(&counter);
    let signature =
        ssh_key::Signature::new(ssh_key::Algorithm::SkEd25519, data).expect("signature");
    let sig = ssh_key::SshSig::new(
        public.clone(),
        "ceremony-approval",
        ssh_key::HashAlg::Sha512,
        signature,
    )
    .expect("sshsig");
    let line = ssh_key::PublicKey::new(public, "")
        .to_openssh()
        .expect("openssh");
    (
        line.trim().to_string(),
        sig.to_pem(ssh_key::LineEnding::LF).expect("pem"),
    )
}

#[test]
fn a_security_key_approval_counts_only_when_touched() {
    let env = Env::new();
    approvers(&env);
    let script = approved_script(
        &env,
        "root.toml",
        "root",
        &approvals("approvers-sk", 2),
        None,
    );
    let bytes = std::fs::read(&script).expect("script");
    let (sk_key, touched) = sk_ed25519_approval(&bytes, 0x01);
    let (_, untouched) = sk_ed25519_approval(&bytes, 0x00);
    let alice = std::fs::read_to_string(env.path("alice.pub")).expect("alice");
    let alice = alice
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let signers = env.write(
        "approvers-sk",
        &format!("alice@example.com {alice}\nfido@example.com {sk_key}\n"),
    );
    let touched = env.write("fido.sig", &touched);
    let untouched = env.write("fido-untouched.sig", &untouched);
    // OpenSSH accepts both (it does not look at the user-presence flag);
    // the tool is stricter, and counts only the touched one.
    assert!(ssh_verify(
        &signers,
        "fido@example.com",
        "ceremony-approval",
        &touched,
        &script
    )
    .status
    .success());
    assert!(ssh_verify(
        &signers,
        "fido@example.com",
        "ceremony-approval",
        &untouched,
        &script
    )
    .status
    .success());

    let alice_sig = sign(&env, "alice", "ceremony-approval", &script);
    let out = run(&env, &script, &[&alice_sig, &untouched]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("made by a security key nobody touched"),
        "{}",
        text(&out.stdout)
    );
    ok(&run(&env, &script, &[&alice_sig, &touched]));
    let events = env.events("transcript.jsonl");
    assert!(events
        .iter()
        .any(|e| e["type"] == "approval" && e["key_type"] == "sk-ssh-ed25519@openssh.com"));
}
