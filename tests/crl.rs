//! CRLs end to end: the shipped revoke ceremony revokes the intermediate the
//! shipped signing ceremony issued, openssl accepts the CRL and finds the
//! intermediate revoked, CRL numbers increase across ceremonies, and bad
//! revocations are refused with nothing written.

mod common;

use common::{ok, openssl, text, Env};
use sha2::{Digest, Sha256};

const INTERMEDIATE: &str = "opened/intermediate/certs/controller-manager-signer.crt";

/// Roots, then the intermediate signed by the shipped ceremony and opened
/// where the demo opens it.
fn with_intermediate() -> Env {
    let env = Env::new();
    common::root_init(&env);
    common::make_requests(&env);
    let recipient = common::age_identity(&env, "requester.agekey");
    std::fs::create_dir_all(env.path("requests")).expect("mkdir");
    let sha = common::seal(
        &env,
        "requester/intermediate.toml",
        "requests/intermediate.tar",
    );
    let template =
        std::fs::read_to_string(common::repo().join("ceremonies/sign-intermediate.toml"))
            .expect("shipped script");
    let script = template
        .replace("REQUEST-BUNDLE-SHA256", &sha)
        .replace("REQUESTER-AGE-RECIPIENT", &recipient)
        .replace("/usr/lib/softhsm/libsofthsm2.so", &common::module());
    env.write("sign-intermediate.toml", &script);
    ok(&env.run(&["run", "sign-intermediate.toml", "--pin-file", "user.pin"]));
    ok(&common::bundles::open(
        &env,
        "bundles/intermediate.tar.age",
        &["--out", "opened/intermediate"],
    ));
    env
}

/// The shipped revoke script with `from` replaced by `to`, written as `name`.
fn revoke_script(env: &Env, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(env.shipped_script("revoke-intermediate.toml"))
        .expect("shipped script");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in the shipped script");
        text = text.replacen(from, to, 1);
    }
    env.write(name, &text);
    name.to_string()
}

fn run(env: &Env, script: &str) -> std::process::Output {
    env.run(&["run", script, "--pin-file", "user.pin"])
}

/// openssl's serial of a certificate, lowercase hex.
fn serial_of(env: &Env, cert: &str) -> String {
    let out = ok(&openssl(
        env.dir.path(),
        &["x509", "-in", cert, "-noout", "-serial"],
    ));
    out.trim()
        .strip_prefix("serial=")
        .expect("serial=")
        .to_ascii_lowercase()
}

fn crl_text(env: &Env, crl: &str) -> String {
    ok(&openssl(
        env.dir.path(),
        &["crl", "-in", crl, "-noout", "-text"],
    ))
}

/// `openssl crl -verify`; returns what it printed.
fn crl_verify(env: &Env, crl: &str, ca: &str) -> String {
    let out = openssl(
        env.dir.path(),
        &["crl", "-in", crl, "-noout", "-verify", "-CAfile", ca],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "openssl crl -verify: {all}");
    all
}

/// The events of the last ceremony in the transcript, newest first.
fn last_run(env: &Env) -> Vec<serde_json::Value> {
    env.events("transcript.jsonl")
        .into_iter()
        .rev()
        .take_while(|e| e["type"] != "ceremony_start")
        .collect()
}

/// The `ceremony_end` among `events` (a checkpoint may follow it).
fn ceremony_end(events: &[serde_json::Value]) -> &serde_json::Value {
    events
        .iter()
        .find(|e| e["type"] == "ceremony_end")
        .expect("ceremony_end")
}

#[test]
fn the_revoke_ceremony_writes_a_crl_that_openssl_accepts() {
    let env = with_intermediate();
    let serial = serial_of(&env, INTERMEDIATE);

    // The dry run resolves the serial and writes nothing.
    let script = env.shipped_script("revoke-intermediate.toml");
    let script = script.to_str().expect("utf-8");
    let dry = ok(&env.run(&["run", script, "--dry-run"]));
    for needle in [
        "step 1/1 revoke-intermediate: issue-crl",
        "  crl          issue CRL #n (number decided at run time from the transcript",
        "step revoke-intermediate: CRL from CN=kubernetes revoking 1 certificate(s):\n",
        &format!("  revoke  serial {serial} (superseded), CN=demo-cluster-signer,O=demo, from {INTERMEDIATE}, revoked when the CRL is signed\n"),
        "writes       crl/cluster-root.crl",
    ] {
        assert!(dry.contains(needle), "dry run lacks {needle:?}:\n{dry}");
    }
    assert!(!env.path("crl").exists(), "the dry run wrote something");

    let out = ok(&run(&env, script));
    assert!(
        out.contains("wrote crl/cluster-root.crl (CRL #1 of CN=kubernetes, 1 revoked"),
        "{out}"
    );
    assert!(out.contains("1 CRL(s) written"), "{out}");

    let crl = "crl/cluster-root.crl";
    assert!(std::fs::read_to_string(env.path(crl))
        .expect("crl")
        .starts_with("-----BEGIN X509 CRL-----\n"));
    assert!(crl_verify(&env, crl, "pki/ca.crt").contains("verify OK"));
    // It does not verify under another root.
    let other = openssl(
        env.dir.path(),
        &[
            "crl",
            "-in",
            crl,
            "-noout",
            "-verify",
            "-CAfile",
            "pki/etcd/ca.crt",
        ],
    );
    assert!(
        !format!("{}{}", text(&other.stdout), text(&other.stderr)).contains("verify OK"),
        "verified under the etcd root"
    );

    let shown = crl_text(&env, crl);
    let ski = ok(&openssl(
        env.dir.path(),
        &[
            "x509",
            "-in",
            "pki/ca.crt",
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
        ],
    ));
    let ski = ski.lines().nth(1).expect("SKI value").trim().to_string();
    for needle in [
        "Version 2 (0x1)",
        "Issuer: CN = kubernetes",
        "X509v3 CRL Number: \n                1\n",
        &format!("X509v3 Authority Key Identifier: \n                {ski}\n"),
        &format!("Serial Number: {}\n", serial.to_ascii_uppercase()),
        "X509v3 CRL Reason Code: \n                Superseded\n",
        "Signature Algorithm: ecdsa-with-SHA256",
    ] {
        assert!(shown.contains(needle), "CRL lacks {needle:?}:\n{shown}");
    }

    // openssl's own revocation check finds the intermediate revoked.
    let both = format!(
        "{}{}",
        std::fs::read_to_string(env.path("pki/ca.crt")).expect("ca"),
        std::fs::read_to_string(env.path(crl)).expect("crl")
    );
    env.write("ca-and-crl.pem", &both);
    let check = openssl(
        env.dir.path(),
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca-and-crl.pem",
            INTERMEDIATE,
        ],
    );
    assert!(!check.status.success(), "a revoked intermediate verified");
    let said = format!("{}{}", text(&check.stdout), text(&check.stderr));
    assert!(said.contains("certificate revoked"), "{said}");

    // The transcript records the CRL before it was written.
    let events = last_run(&env);
    let issued: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "crl_issued")
        .collect();
    assert_eq!(issued.len(), 1);
    let e = issued[0];
    assert_eq!(e["step"], "revoke-intermediate");
    assert_eq!(e["issuer"], "CN=kubernetes");
    assert_eq!(e["issuer_key_label"], "cluster-root-ca");
    assert_eq!(e["issuer_certificate"], "pki/ca.crt");
    assert_eq!(e["crl_number"], 1);
    assert_eq!(e["file"], crl);
    assert_eq!(e["revoked"][0]["serial"], serial.as_str());
    assert_eq!(e["revoked"][0]["reason"], "superseded");
    assert_eq!(e["revoked"][0]["certificate"], INTERMEDIATE);
    assert_eq!(e["revoked"][0]["subject"], "CN=demo-cluster-signer,O=demo");
    assert_eq!(e["revoked"][0]["revoked_at"], e["this_update"]);
    let ca_der = openssl(
        env.dir.path(),
        &["x509", "-in", "pki/ca.crt", "-outform", "DER"],
    );
    assert_eq!(
        e["issuer_certificate_sha256"],
        hex(&Sha256::digest(&ca_der.stdout))
    );
    let crl_der = openssl(env.dir.path(), &["crl", "-in", crl, "-outform", "DER"]);
    assert_eq!(e["sha256"], hex(&Sha256::digest(&crl_der.stdout)));
    assert!(events
        .iter()
        .any(|e| e["type"] == "issuer_checked" && e["issuer"] == "crl"));
    assert_eq!(
        events[0]["type"], "checkpoint",
        "the audit key signs a checkpoint"
    );
    let end = ceremony_end(&events);
    assert_eq!(end["outcome"], "completed");
    assert_eq!(end["crls_issued"], 1);
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    // The report lists the CRL.
    ok(&env.run(&["report", "transcript.jsonl", "--out", "report"]));
    let md = std::fs::read_to_string(env.path("report/report.md")).expect("report");
    let row = format!(
        "| CN=kubernetes | 1 | {} to {} | {serial} (superseded) | {crl} | {} |",
        e["this_update"].as_str().expect("this_update"),
        e["next_update"].as_str().expect("next_update"),
        e["sha256"].as_str().expect("sha256")
    );
    assert!(md.contains("### CRLs issued"), "{md}");
    assert!(md.contains(&row), "report lacks {row:?}:\n{md}");

    // A second ceremony: the number comes from the transcript.
    let second = revoke_script(
        &env,
        "revoke-2.toml",
        &[("crl = \"cluster-root.crl\"", "crl = \"cluster-root-2.crl\"")],
    );
    ok(&run(&env, &second));
    assert!(crl_text(&env, "crl/cluster-root-2.crl")
        .contains("X509v3 CRL Number: \n                2\n"));
    crl_verify(&env, "crl/cluster-root-2.crl", "pki/ca.crt");

    // A third: the intermediate by serial (openssl's colon form), plus a
    // key-compromise with a revocation date.
    let colon = serial
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).expect("ascii"))
        .collect::<Vec<_>>()
        .join(":");
    let third = revoke_script(
        &env,
        "revoke-3.toml",
        &[
            ("crl = \"cluster-root.crl\"", "crl = \"cluster-root-3.crl\""),
            (
                "certificate = \"opened/intermediate/certs/controller-manager-signer.crt\"",
                &format!("serial = \"{colon}\""),
            ),
            (
                "reason = \"superseded\"",
                "reason = \"superseded\"\n\n[[step.revoke]]\nserial = \"0123abcd\"\nreason = \"key-compromise\"\nrevoked_at = 2026-01-02T03:04:05Z",
            ),
        ],
    );
    ok(&run(&env, &third));
    let shown = crl_text(&env, "crl/cluster-root-3.crl");
    for needle in [
        "X509v3 CRL Number: \n                3\n",
        &format!("Serial Number: {}\n", serial.to_ascii_uppercase()),
        "Serial Number: 0123ABCD\n        Revocation Date: Jan  2 03:04:05 2026 GMT\n",
        "Key Compromise",
    ] {
        assert!(shown.contains(needle), "CRL 3 lacks {needle:?}:\n{shown}");
    }
    crl_verify(&env, "crl/cluster-root-3.crl", "pki/ca.crt");

    // A fourth that leaves out a serial the last CRL revoked is refused.
    let fourth = revoke_script(
        &env,
        "revoke-4.toml",
        &[
            ("crl = \"cluster-root.crl\"", "crl = \"cluster-root-4.crl\""),
            (
                "certificate = \"opened/intermediate/certs/controller-manager-signer.crt\"",
                "serial = \"0123abcd\"",
            ),
            ("reason = \"superseded\"", "reason = \"key-compromise\""),
        ],
    );
    let out = run(&env, &fourth);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("serial {serial} (superseded) is revoked by this issuer's CRL #3 but not listed here; a new CRL replaces the last one, so it would no longer be revoked")),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: a CRL lists every revoked certificate"),
        "{stderr}"
    );
    assert!(!env.path("crl/cluster-root-4.crl").exists());

    // Numbers are per issuer: the etcd root's first CRL is #1, and empty.
    let etcd = revoke_script(
        &env,
        "etcd-crl.toml",
        &[
            ("crl = \"cluster-root.crl\"", "crl = \"etcd-root.crl\""),
            ("key_label = \"cluster-root-ca\"", "key_label = \"etcd-root-ca\""),
            ("certificate = \"pki/ca.crt\"", "certificate = \"pki/etcd/ca.crt\""),
            (
                "[[step.revoke]]\ncertificate = \"opened/intermediate/certs/controller-manager-signer.crt\"\nreason = \"superseded\"",
                "",
            ),
        ],
    );
    ok(&run(&env, &etcd));
    let shown = crl_text(&env, "crl/etcd-root.crl");
    assert!(
        shown.contains("X509v3 CRL Number: \n                1\n"),
        "{shown}"
    );
    assert!(shown.contains("No Revoked Certificates."), "{shown}");
    crl_verify(&env, "crl/etcd-root.crl", "pki/etcd/ca.crt");
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    // Every entry reads back with the one event type, byte for byte.
    let kinds = env.assert_events_read_back("transcript.jsonl");
    for kind in [
        "ceremony_start",
        "crl_issued",
        "refused",
        "output_bundle_written",
        "certificate_issued",
        "ceremony_end",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
}

#[test]
fn an_rsa_root_signs_crls_in_the_ceremony_that_makes_it() {
    let env = Env::new();
    let crl_step = |id: &str, file: &str, extra: &str| {
        format!(
            r#"[[step]]
action = "issue-crl"
id = "{id}"
crl = "{file}"
next_update_days = 7
{extra}

[step.issuer]
key_label = "rsa-root-key"
certificate = "pki/rsa.crt"
hash = "sha384"

[[step.revoke]]
serial = "7f:00:01"
reason = "cessation-of-operation"
"#
        )
    };
    let script = common::script(&format!(
        "{}\n{}\n{}",
        common::root_step(
            "rsa-root",
            "rsa-2048",
            "CN=rsa-root",
            "rsa.crt",
            "hash = \"sha384\""
        ),
        crl_step("first", "rsa-1.crl", "witnessed = true"),
        crl_step("second", "rsa-2.crl", ""),
    ));
    let path = env.write("rsa.toml", &script);
    let dry = ok(&env.run(&["run", "rsa.toml", "--dry-run"]));
    for needle in [
        "step 2/3 first: issue-crl (witnessed: acknowledgement code ",
        "step first: certificates are made by an earlier step; revocations are resolved when the ceremony runs",
    ] {
        assert!(dry.contains(needle), "{dry}");
    }
    ok(&common::run_ceremony(&env, &path));
    let acks = env
        .events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "witness_acknowledged" && e["step"] == "first")
        .count();
    assert!(acks > 0, "the witnessed CRL step was acknowledged");
    for (file, number) in [("pki/rsa-1.crl", 1), ("pki/rsa-2.crl", 2)] {
        crl_verify(&env, file, "pki/rsa.crt");
        let shown = crl_text(&env, file);
        for needle in [
            "Signature Algorithm: sha384WithRSAEncryption",
            &format!("X509v3 CRL Number: \n                {number}\n"),
            "Serial Number: 7F0001\n",
            "Cessation Of Operation",
        ] {
            assert!(shown.contains(needle), "{file} lacks {needle:?}:\n{shown}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A refused revoke run: exit 2, the message on stderr, the refusal recorded,
/// no CRL signed or written.
fn assert_refused(env: &Env, script: &str, needle: &str) {
    let out = run(env, script);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    assert!(!env.path("crl/cluster-root.crl").exists(), "CRL written");
    let events = last_run(env);
    assert_eq!(ceremony_end(&events)["outcome"], "refused");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "refused" && e.to_string().contains(&needle.replace('"', "\\\""))),
        "{needle:?} not recorded in {events:?}"
    );
    assert!(!events.iter().any(|e| e["type"] == "crl_issued"));
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
}

/// A script the tool refuses before it opens the transcript or the token.
fn assert_invalid(env: &Env, script: &str, needle: &str) {
    let before = std::fs::read(env.path("transcript.jsonl")).expect("transcript");
    for args in [
        vec!["run", script, "--dry-run"],
        vec!["run", script, "--pin-file", "user.pin"],
    ] {
        let out = env.run(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
    }
    assert_eq!(
        std::fs::read(env.path("transcript.jsonl")).expect("transcript"),
        before,
        "the transcript changed"
    );
    assert!(!env.path("crl").exists(), "something was written");
}

#[test]
fn bad_revocations_are_refused_and_nothing_is_written() {
    let env = Env::new();
    common::root_init(&env);
    let cert_line = "certificate = \"opened/intermediate/certs/controller-manager-signer.crt\"";

    // A certificate another CA issued.
    let s = revoke_script(
        &env,
        "etcd.toml",
        &[(cert_line, "certificate = \"pki/etcd/ca.crt\"")],
    );
    assert_refused(
        &env,
        &s,
        "revoke[0]: certificate pki/etcd/ca.crt was not issued by CN=kubernetes: its issuer is CN=etcd-ca",
    );

    // A certificate from an impostor CA that took the root's name.
    let o = |args: &[&str]| ok(&openssl(env.dir.path(), args));
    std::fs::create_dir_all(env.path("fake")).expect("mkdir");
    o(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "fake/ca.key",
        "-out",
        "fake/ca.crt",
        "-subj",
        "/CN=kubernetes",
        "-days",
        "30",
    ]);
    common::openssl_csr(&env, "victim", "ec:P-256", "/CN=victim", &[]);
    env.write("fake/aki.ext", "authorityKeyIdentifier=keyid\n");
    o(&[
        "x509",
        "-req",
        "-in",
        "extra/victim.csr",
        "-CA",
        "fake/ca.crt",
        "-CAkey",
        "fake/ca.key",
        "-days",
        "30",
        "-out",
        "fake/victim.crt",
        "-extfile",
        "fake/aki.ext",
    ]);
    let s = revoke_script(
        &env,
        "fake.toml",
        &[(cert_line, "certificate = \"fake/victim.crt\"")],
    );
    assert_refused(
        &env,
        &s,
        "revoke[0]: certificate fake/victim.crt names CN=kubernetes as its issuer, but its authority key identifier is not the subject key identifier of pki/ca.crt",
    );
    // Without an authority key identifier, the signature decides.
    o(&[
        "x509",
        "-req",
        "-in",
        "extra/victim.csr",
        "-CA",
        "fake/ca.crt",
        "-CAkey",
        "fake/ca.key",
        "-days",
        "30",
        "-out",
        "fake/bare.crt",
    ]);
    let bare = o(&["x509", "-in", "fake/bare.crt", "-noout", "-text"]);
    assert!(!bare.contains("Authority Key Identifier"), "{bare}");
    let s = revoke_script(
        &env,
        "bare.toml",
        &[(cert_line, "certificate = \"fake/bare.crt\"")],
    );
    assert_refused(
        &env,
        &s,
        "revoke[0]: certificate fake/bare.crt names CN=kubernetes as its issuer, but its signature does not verify with the key of pki/ca.crt",
    );

    // The root itself.
    let s = revoke_script(
        &env,
        "self.toml",
        &[(cert_line, "certificate = \"pki/ca.crt\"")],
    );
    assert_refused(
        &env,
        &s,
        "revoke[0]: certificate pki/ca.crt is the issuer's own certificate; a CA cannot revoke itself in its own CRL",
    );

    // An issuer certificate that is not the key's.
    let s = revoke_script(
        &env,
        "wrong-key.toml",
        &[
            (
                "key_label = \"cluster-root-ca\"",
                "key_label = \"etcd-root-ca\"",
            ),
            (cert_line, "serial = \"01\""),
        ],
    );
    assert_refused(
        &env,
        &s,
        "issuer crl: certificate pki/ca.crt does not belong to key \"etcd-root-ca\" in the token",
    );

    // A revocation date in the future.
    let s = revoke_script(
        &env,
        "future.toml",
        &[(
            cert_line,
            "serial = \"01\"\nrevoked_at = \"2999-01-01T00:00:00Z\"",
        )],
    );
    assert_refused(
        &env,
        &s,
        "revoke[0]: revoked_at 2999-01-01T00:00:00Z is in the future",
    );

    // An existing output file is never overwritten.
    env.write("crl/cluster-root.crl", "old\n");
    let s = revoke_script(&env, "exists.toml", &[(cert_line, "serial = \"01\"")]);
    let out = run(&env, &s);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("output crl/cluster-root.crl already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(env.path("crl/cluster-root.crl")).expect("crl"),
        "old\n"
    );
    let events = last_run(&env);
    assert_eq!(ceremony_end(&events)["outcome"], "refused");
    assert!(!events.iter().any(|e| e["type"] == "crl_issued"));
    std::fs::remove_dir_all(env.path("crl")).expect("rm");

    // Script errors: refused before the transcript or the token is touched.
    let s = revoke_script(&env, "nothex.toml", &[(cert_line, "serial = \"12xz\"")]);
    assert_invalid(
        &env,
        &s,
        "step \"revoke-intermediate\": revoke[0]: serial \"12xz\" is not hex (digits 0-9 and a-f, optionally in colon-separated pairs as openssl prints them)",
    );
    let s = revoke_script(
        &env,
        "reason.toml",
        &[("reason = \"superseded\"", "reason = \"compromised\"")],
    );
    assert_invalid(
        &env,
        &s,
        "step \"revoke-intermediate\" (issue-crl): revoke[0].reason: unknown variant `compromised`, expected one of `unspecified`, `key-compromise`, `ca-compromise`, `affiliation-changed`, `superseded`, `cessation-of-operation`",
    );
    let s = revoke_script(
        &env,
        "both.toml",
        &[(cert_line, &format!("{cert_line}\nserial = \"01\""))],
    );
    assert_invalid(
        &env,
        &s,
        "step \"revoke-intermediate\": revoke[0]: name the revoked certificate with certificate or with serial (one of them)",
    );
    let s = revoke_script(
        &env,
        "long.toml",
        &[("next_update_days = 30", "next_update_days = 400")],
    );
    assert_invalid(
        &env,
        &s,
        "step \"revoke-intermediate\": next_update_days must be 1 to 366, not 400",
    );
    let s = revoke_script(
        &env,
        "escape.toml",
        &[("crl = \"cluster-root.crl\"", "crl = \"../x.crl\"")],
    );
    assert_invalid(
        &env,
        &s,
        "must be relative and stay inside the output directory",
    );
}

/// Rewrites `line`'s event with `edit` and its `prev` with `prev`, and
/// hashes it again, as an attacker without the audit key who re-chains a
/// transcript would.
fn rechain(line: &str, prev: &str, edit: impl Fn(&str) -> String) -> (String, String) {
    let at = line.rfind(",\"hash\":\"").expect("a hash");
    let body = format!("{}}}", &line[..at]);
    let p = body.find(",\"prev\":\"").expect("a prev") + ",\"prev\":\"".len();
    let mut body = edit(&format!("{}{prev}{}", &body[..p], &body[p + 64..]));
    // A checkpoint entry names the head before it (its signature, checked
    // only with the audit key, is left as it was).
    if body.contains("\"type\":\"checkpoint\"") {
        let h = body.find(",\"head\":\"").expect("a head") + ",\"head\":\"".len();
        body = format!("{}{prev}{}", &body[..h], &body[h + 64..]);
    }
    let hash = hex(&Sha256::digest(body.as_bytes()));
    (
        format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]),
        hash,
    )
}

#[test]
fn a_re_chained_crl_issued_with_a_renamed_number_stops_the_next_crl() {
    let env = with_intermediate();
    let script = env.shipped_script("revoke-intermediate.toml");
    let script = script.to_str().expect("utf-8");
    ok(&run(&env, script));

    // The attacker renames crl_number in the crl_issued entry and re-chains
    // every entry, so the chain verifies.
    let written = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    let mut prev = "0".repeat(64);
    let mut forged = String::new();
    for line in written.lines() {
        let (line, hash) = rechain(line, &prev, |body| {
            if body.contains("\"type\":\"crl_issued\"") {
                body.replace("\"crl_number\":", "\"number\":")
            } else {
                body.to_string()
            }
        });
        forged.push_str(&line);
        forged.push('\n');
        prev = hash;
    }
    assert!(forged.contains("\"number\":1"), "the CRL entry was renamed");
    std::fs::write(env.path("transcript.jsonl"), &forged).expect("write");
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));

    // The next CRL is not numbered 1 again: the step stops at that entry,
    // and no CRL is written.
    let second = revoke_script(
        &env,
        "revoke-2.toml",
        &[("crl = \"cluster-root.crl\"", "crl = \"cluster-root-2.crl\"")],
    );
    let out = run(&env, &second);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("crl_issued event: missing field `crl_number`"),
        "{stderr}"
    );
    assert!(!env.path("crl/cluster-root-2.crl").exists(), "CRL written");
    let after = std::fs::read_to_string(env.path("transcript.jsonl")).expect("transcript");
    let tail = &after[forged.len()..];
    assert!(!tail.contains("\"type\":\"crl_issued\""), "{tail}");
    assert!(tail.contains("\"outcome\":\"failed\""), "{tail}");
}
