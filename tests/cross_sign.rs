//! Cross-signing (issue 16, item 1), through the binary and a real SoftHSM
//! token: a new cluster root made by a root ceremony is linked to the old
//! one both ways in the same ceremony, and what the new root signs (an
//! intermediate, through the usual seal and sign) verifies with openssl for
//! a client that trusts only the old root, through the link. Pairs that
//! cannot link are refused in the dry run, named.

mod common;

use common::{failed, ok, openssl, Env};

/// The new roots' ceremony: a new cluster root (same subject, new key),
/// and the links old → new and new → old.
const NEW_ROOT: &str = r#"[[step]]
action = "generate-root"
id = "cluster-root-2027"
key_label = "cluster-root-ca-2027"
algorithm = "ecdsa-p256"
subject = "CN=kubernetes"
validity_days = 3650
certificate = "new/ca.crt"

[[step]]
action = "cross-sign"
id = "link-new-by-old"
subject_certificate = "pki/new/ca.crt"
certificate = "links/new-by-old.crt"
validity_days = 400

[step.issuer]
key_label = "cluster-root-ca"
certificate = "pki/ca.crt"

[[step]]
action = "cross-sign"
id = "link-old-by-new"
subject_certificate = "pki/ca.crt"
certificate = "links/old-by-new.crt"

[step.issuer]
key_label = "cluster-root-ca-2027"
certificate = "pki/new/ca.crt"
"#;

fn ext(env: &Env, cert: &str, name: &str) -> String {
    ok(&openssl(
        env.dir.path(),
        &["x509", "-in", cert, "-noout", "-ext", name],
    ))
}

#[test]
fn a_new_root_linked_both_ways_verifies_for_clients_of_either_root() {
    let env = Env::new();
    common::root_init(&env);
    let script = env.write(
        "new-roots.toml",
        &common::script(NEW_ROOT).replace(
            "[output]",
            "[audit]\nkey_label = \"ceremony-audit\"\norigin = \"demo cluster PKI\"\n\n[output]",
        ),
    );
    let path = script.to_str().expect("utf-8");
    let dry = ok(&env.run(&["run", path, "--dry-run"]));
    assert!(
        dry.contains("step link-new-by-old: its inputs are made by an earlier step"),
        "{dry}"
    );
    let said = ok(&common::run_ceremony(&env, &script));
    assert!(
        said.contains("link: CN=kubernetes issued by CN=kubernetes"),
        "{said}"
    );

    // The link carries the new root's key identifier, the old root's as
    // authority, and CA constraints; it is not self-signed.
    let new_ski = ext(&env, "pki/new/ca.crt", "subjectKeyIdentifier");
    let old_ski = ext(&env, "pki/ca.crt", "subjectKeyIdentifier");
    let link_ski = ext(&env, "pki/links/new-by-old.crt", "subjectKeyIdentifier");
    let link_aki = ext(&env, "pki/links/new-by-old.crt", "authorityKeyIdentifier");
    let id = |s: &str| s.lines().nth(1).expect("a value").trim().to_string();
    assert_eq!(id(&link_ski), id(&new_ski));
    assert_ne!(id(&new_ski), id(&old_ski));
    assert!(link_aki.contains(&id(&old_ski)), "{link_aki}");
    let bc = ext(
        &env,
        "pki/links/new-by-old.crt",
        "basicConstraints,keyUsage",
    );
    assert!(bc.contains("critical") && bc.contains("CA:TRUE"), "{bc}");
    assert!(bc.contains("Certificate Sign, CRL Sign"), "{bc}");
    // The old root verifies the link; the link does not outlive the new root.
    ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "pki/ca.crt",
            "-partial_chain",
            "pki/links/new-by-old.crt",
        ],
    ));
    let events = env.events("transcript.jsonl");
    let links: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "certificate_issued" && e["profile"] == "link")
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");

    // The new root signs an intermediate through the usual seal and sign.
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
        .replace(
            "key_label = \"cluster-root-ca\"",
            "key_label = \"cluster-root-ca-2027\"",
        )
        .replace(
            "certificate = \"pki/ca.crt\"",
            "certificate = \"pki/new/ca.crt\"",
        );
    let sign = env.write("sign-new.toml", &sign);
    ok(&common::run_ceremony(&env, &sign));
    let opened = common::bundles::unpack(&env, "bundles/intermediate.tar.age", "opened");
    let cert = opened.join("certs/controller-manager-signer.crt");
    let cert = cert.to_str().expect("utf-8");
    // A client of the new root: verified.
    ok(&openssl(
        env.dir.path(),
        &["verify", "-x509_strict", "-CAfile", "pki/new/ca.crt", cert],
    ));
    // A client of only the old root: verified through the link...
    let through = ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "pki/ca.crt",
            "-untrusted",
            "pki/links/new-by-old.crt",
            cert,
        ],
    ));
    assert!(through.contains(": OK"), "{through}");
    // ... and not without it.
    let without = openssl(
        env.dir.path(),
        &["verify", "-x509_strict", "-CAfile", "pki/ca.crt", cert],
    );
    assert!(!without.status.success(), "verified without the link");
    // The reverse link is the old root's subject and key, signed by the new
    // root: a client of only the new root reaches the old root through it.
    ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "pki/new/ca.crt",
            "pki/links/old-by-new.crt",
        ],
    ));
    let reverse_ski = ext(&env, "pki/links/old-by-new.crt", "subjectKeyIdentifier");
    assert_eq!(id(&reverse_ski), id(&old_ski));
}

#[test]
fn pairs_that_cannot_link_are_refused_in_the_dry_run() {
    let env = Env::new();
    common::root_init(&env);
    let link = |subject: &str| {
        format!(
            "[[step]]\naction = \"cross-sign\"\nid = \"link\"\nsubject_certificate = \"{subject}\"\ncertificate = \"links/x.crt\"\n\n[step.issuer]\nkey_label = \"cluster-root-ca\"\ncertificate = \"pki/ca.crt\"\n"
        )
    };
    // A copy of the issuer's own certificate: the same key.
    std::fs::copy(env.path("pki/ca.crt"), env.path("same.crt")).expect("copy");
    // A leaf, not a CA (made with openssl, signed by itself).
    ok(&openssl(
        env.dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.crt",
            "-subj",
            "/CN=leaf",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    ));
    for (subject, rule) in [
        (
            "same.crt",
            "subject_certificate same.crt: has the issuer's own public key",
        ),
        (
            "leaf.crt",
            "subject_certificate leaf.crt: is not a CA certificate",
        ),
        (
            "missing.crt",
            "subject_certificate missing.crt: No such file",
        ),
    ] {
        let script = env.write(
            &format!("link-{subject}.toml"),
            &common::script(&link(subject)),
        );
        let out = env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]);
        let stderr = failed(&out, 2);
        assert!(stderr.contains(rule), "{subject}: {stderr}");
    }
    // The issuer's own certificate as the subject: refused by the plan.
    let script = env.write("self.toml", &common::script(&link("pki/ca.crt")));
    let stderr = failed(
        &env.run(&["run", script.to_str().expect("utf-8"), "--dry-run"]),
        2,
    );
    assert!(
        stderr.contains("a root does not cross-sign itself"),
        "{stderr}"
    );
    assert!(!env.path("pki/links").exists());
}
