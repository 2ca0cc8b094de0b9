//! Cosigned checkpoints (issue 14 item 3): witnesses sign the checkpoint
//! file with their SSH keys (`ssh-keygen -Y sign -n ceremony-checkpoint`),
//! `transcript cosign` records them, and `transcript verify --cosigners
//! FILE --min-cosigners K` requires them. Tried as a forger holding the
//! token but no witness key would: a new checkpoint of a changed history,
//! copied cosignature entries, altered ones.

mod common;

use std::path::Path;

use common::ssh::{keygen, sign, ssh_verify};
use common::{ok, text, Env};

/// A root ceremony with its checkpoint, and witnesses Wendy (ed25519) and
/// Walter (ecdsa) in `witnesses`; Mallory has a key but is not listed.
fn ceremony() -> Env {
    let env = Env::new();
    common::root_init(&env);
    let wendy = keygen(&env, "wendy", &["-t", "ed25519"]);
    let walter = keygen(&env, "walter", &["-t", "ecdsa", "-b", "256"]);
    keygen(&env, "mallory", &["-t", "ed25519"]);
    env.write(
        "witnesses",
        &format!("wendy@example.com {wendy}\nwalter@example.com {walter}\n"),
    );
    env
}

fn cosign(env: &Env, checkpoint: &str, sigs: &[&Path]) -> std::process::Output {
    let mut cmd = env.ceremony();
    cmd.args([
        "transcript",
        "cosign",
        "transcript.jsonl",
        "--checkpoint",
        checkpoint,
    ])
    .args(["--cosigners", "witnesses"]);
    for s in sigs {
        cmd.arg(s);
    }
    cmd.output().expect("cosign")
}

fn verify(env: &Env, checkpoint: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "transcript",
        "verify",
        "transcript.jsonl",
        "--checkpoint",
        checkpoint,
        "--audit-key",
        "pki/audit-key.pub",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn transcript_bytes(env: &Env) -> Vec<u8> {
    std::fs::read(env.path("transcript.jsonl")).expect("transcript")
}

#[test]
fn witnesses_cosign_and_verify_requires_them() {
    let env = ceremony();
    let cp = env.path("checkpoint");
    let wendy = sign(&env, "wendy", "ceremony-checkpoint", &cp);
    let walter = sign(&env, "walter", "ceremony-checkpoint", &cp);

    // Before any cosignature: 0 of 1 required.
    let out = verify(&env, "checkpoint", &["--cosigners", "witnesses"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "checkpoint checkpoint is cosigned by 0 of the 1 required signers of witnesses"
        ),
        "{}",
        text(&out.stderr)
    );

    let out = ok(&cosign(&env, "checkpoint", &[&wendy, &walter]));
    assert!(
        out.contains("cosigned by wendy@example.com (SHA256:"),
        "{out}"
    );
    assert!(
        out.contains("checkpoint checkpoint cosigned by 2 signer(s)"),
        "{out}"
    );
    let events = env.events("transcript.jsonl");
    let cosigned: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "checkpoint_cosigned")
        .collect();
    assert_eq!(cosigned.len(), 2);
    // Each recorded cosignature verifies with OpenSSH over the checkpoint file.
    for (i, c) in cosigned.iter().enumerate() {
        assert_eq!(c["namespace"], "ceremony-checkpoint");
        let sig = env.write(
            &format!("recorded-{i}.sig"),
            c["signature"].as_str().expect("sig"),
        );
        let principal = c["principal"].as_str().expect("principal");
        let out = ssh_verify(
            &env.path("witnesses"),
            principal,
            "ceremony-checkpoint",
            &sig,
            &cp,
        );
        assert!(
            out.status.success(),
            "ssh-keygen -Y verify: {}",
            text(&out.stderr)
        );
    }

    // Recording them again adds nothing.
    let before = transcript_bytes(&env);
    let out = ok(&cosign(&env, "checkpoint", &[&wendy]));
    assert!(out.contains("already recorded at entry"), "{out}");
    assert_eq!(transcript_bytes(&env), before);

    // Two required, two recorded: verified, and the cosignature entries
    // after the checkpoint cover themselves (exit 0, not 4).
    let out = ok(&verify(
        &env,
        "checkpoint",
        &["--cosigners", "witnesses", "--min-cosigners", "2"],
    ));
    assert!(
        out.contains("cosigned: 2 of the 2 required signers"),
        "{out}"
    );
    assert!(
        out.contains("  cosigned by walter@example.com (SHA256:"),
        "{out}"
    );
    assert!(
        out.contains("or are its cosignatures, each verified by its own signature"),
        "{out}"
    );
    let out = verify(
        &env,
        "checkpoint",
        &["--cosigners", "witnesses", "--min-cosigners", "3"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cosigned by 2 of the 3 required"),
        "{}",
        text(&out.stderr)
    );
    // Without --cosigners the cosignatures are entries no audit signature covers.
    assert_eq!(verify(&env, "checkpoint", &[]).status.code(), Some(4));

    // The report lists them.
    ok(&env.run(&["report", "transcript.jsonl", "--out", "report"]));
    let md = std::fs::read_to_string(env.path("report/report.md")).expect("report");
    assert!(md.contains("### Checkpoint cosignatures"), "{md}");
    assert!(
        md.contains("| wendy@example.com | ssh-ed25519 SHA256:"),
        "{md}"
    );
    assert!(
        md.contains("| walter@example.com | ecdsa-sha2-nistp256 SHA256:"),
        "{md}"
    );
}

#[test]
fn bad_cosignatures_are_named_and_nothing_is_recorded() {
    let env = ceremony();
    let cp = env.path("checkpoint");
    let wendy = sign(&env, "wendy", "ceremony-checkpoint", &cp);
    let mallory = sign(&env, "mallory", "ceremony-checkpoint", &cp);
    let walter_approval = sign(&env, "walter", "ceremony-approval", &cp);
    // A well-formed checkpoint of another head.
    let other_text: String = std::fs::read_to_string(&cp)
        .expect("cp")
        .lines()
        .map(|l| match l.strip_prefix("head ") {
            Some(h) => format!(
                "head {}{}\n",
                &h[..h.len() - 1],
                if h.ends_with('0') { '1' } else { '0' }
            ),
            None => format!("{l}\n"),
        })
        .collect();
    let other = env.write("other-checkpoint", &other_text);
    let walter_other = sign(&env, "walter", "ceremony-checkpoint", &other);
    let walter_other_renamed = env.path("walter-other.sig");
    std::fs::rename(&walter_other, &walter_other_renamed).expect("rename");
    let before = transcript_bytes(&env);
    for (sig, rule) in [
        (&mallory, "which witnesses does not list"),
        (
            &walter_approval,
            "is signed in namespace \"ceremony-approval\", not \"ceremony-checkpoint\"",
        ),
        (
            &walter_other_renamed,
            "does not verify over the bytes of checkpoint",
        ),
    ] {
        let out = cosign(&env, "checkpoint", &[&wendy, sig]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("cosignature {}: ", sig.display())),
            "{stderr}"
        );
        assert!(stderr.contains(rule), "{stderr}");
        assert_eq!(transcript_bytes(&env), before, "nothing recorded");
    }
    // The same witness twice.
    let again = env.path("wendy-again.sig");
    std::fs::copy(&wendy, &again).expect("copy");
    let out = cosign(&env, "checkpoint", &[&wendy, &again]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("a second one by wendy@example.com"),
        "{}",
        text(&out.stderr)
    );
    // A checkpoint the transcript does not hold.
    let out = env
        .ceremony()
        .args([
            "transcript",
            "cosign",
            "transcript.jsonl",
            "--checkpoint",
            "other-checkpoint",
            "--cosigners",
            "witnesses",
        ])
        .arg(env.path("walter-other.sig"))
        .output()
        .expect("cosign");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not a checkpoint transcript transcript.jsonl holds"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(transcript_bytes(&env), before);
}

#[test]
fn a_history_signed_again_with_the_token_lacks_the_witnesses() {
    let env = ceremony();
    let cp = env.path("checkpoint");
    let wendy = sign(&env, "wendy", "ceremony-checkpoint", &cp);
    let walter = sign(&env, "walter", "ceremony-checkpoint", &cp);
    ok(&cosign(&env, "checkpoint", &[&wendy, &walter]));

    // The forger holds the token: changes the history (here, adds an
    // entry) and signs a new checkpoint with the audit key.
    ok(&env.run(&[
        "transcript",
        "note",
        "transcript.jsonl",
        "forged",
        "--author",
        "Mallory",
    ]));
    let module = common::module();
    ok(&env.run(&[
        "transcript",
        "checkpoint",
        "transcript.jsonl",
        "--module",
        &module,
        "--token",
        "ceremony",
        "--pin-file",
        "user.pin",
        "--out",
        "forged-checkpoint",
    ]));
    // The audit key vouches for it…
    ok(&verify(&env, "forged-checkpoint", &[]));
    // …the witnesses do not.
    let out = verify(
        &env,
        "forged-checkpoint",
        &["--cosigners", "witnesses", "--min-cosigners", "2"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cosigned by 0 of the 2 required"),
        "{}",
        text(&out.stderr)
    );

    // Copying the genuine cosignatures as entries that claim the forged
    // checkpoint does not help: each is verified again over its bytes.
    let forged_sha =
        common::bundles::sha256_hex(&std::fs::read(env.path("forged-checkpoint")).expect("cp"));
    let copies: Vec<serde_json::Value> = env
        .events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "checkpoint_cosigned")
        .map(|mut e| {
            e["signed_sha256"] = serde_json::Value::String(forged_sha.clone());
            e
        })
        .collect();
    let mut transcript =
        ceremony::transcript::Transcript::open(&env.path("transcript.jsonl")).expect("open");
    for c in &copies {
        transcript.append(c).expect("append");
    }
    drop(transcript);
    let out = verify(
        &env,
        "forged-checkpoint",
        &["--cosigners", "witnesses", "--min-cosigners", "1"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cosigned by 0 of the 1 required"),
        "{stderr}"
    );
    assert!(
        stderr.contains("does not verify over the bytes of forged-checkpoint"),
        "{stderr}"
    );
}
