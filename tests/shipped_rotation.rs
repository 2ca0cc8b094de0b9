//! The shipped rotation script, as the demo runs it: after the shipped root
//! ceremony and the kubeadm flow, `ceremonies/new-roots.toml` makes the next
//! roots in `pki-next/` (laid out like kubeadm's `pki/`) and the links in
//! `pki-next/links/`; `rotate plan` takes them with the script's key labels,
//! and phase 2's signing script re-issues the tree's leaves from the new
//! roots. Each new leaf verifies with openssl for a client that trusts only
//! the old root of its kind through that kind's new-by-old link, and not
//! without it; the reverse cluster link is the old root signed by the new.

mod common;

use common::bundles::{kubeadm_world, open};
use common::{ok, openssl, text, Env};

/// The new roots and the link of each kind: (old root, new root, new-by-old link).
const KINDS: [(&str, &str, &str); 3] = [
    (
        "pki/ca.crt",
        "pki-next/ca.crt",
        "pki-next/links/cluster-new-by-old.crt",
    ),
    (
        "pki/etcd/ca.crt",
        "pki-next/etcd/ca.crt",
        "pki-next/links/etcd-new-by-old.crt",
    ),
    (
        "pki/front-proxy-ca.crt",
        "pki-next/front-proxy-ca.crt",
        "pki-next/links/front-proxy-new-by-old.crt",
    ),
];

/// The subject key identifier of `cert`, by openssl.
fn ski(env: &Env, cert: &str) -> String {
    let out = ok(&openssl(
        env.dir.path(),
        &[
            "x509",
            "-in",
            cert,
            "-noout",
            "-ext",
            "subjectKeyIdentifier",
        ],
    ));
    out.lines().nth(1).expect("a value").trim().to_string()
}

#[test]
fn shipped_new_roots_script_links_the_next_roots_and_phase_2_leaves_verify_through_the_links() {
    let env = Env::new();
    let recipient = kubeadm_world(&env);
    ok(&open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm"],
    ));

    let script = env.shipped_script("new-roots.toml");
    let said = ok(&common::run_ceremony(&env, &script));
    assert!(
        said.contains("ceremony completed: 3 key(s) generated, 7 certificate(s) written"),
        "{said}"
    );
    let links = env
        .events("transcript.jsonl")
        .into_iter()
        .filter(|e| e["type"] == "certificate_issued" && e["profile"] == "link")
        .count();
    assert_eq!(links, 4);

    // Each new-by-old link: the new root's key identifier, verified by the
    // old root alone; the reverse cluster link: the old root's, by the new.
    for (old, new, link) in KINDS {
        assert_eq!(ski(&env, link), ski(&env, new), "{link}");
        assert_ne!(ski(&env, new), ski(&env, old), "{new}");
        ok(&openssl(
            env.dir.path(),
            &[
                "verify",
                "-x509_strict",
                "-partial_chain",
                "-CAfile",
                old,
                link,
            ],
        ));
    }
    let reverse = "pki-next/links/cluster-old-by-new.crt";
    assert_eq!(ski(&env, reverse), ski(&env, "pki/ca.crt"));
    ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-partial_chain",
            "-CAfile",
            "pki-next/ca.crt",
            reverse,
        ],
    ));

    // The plan, with the script's key labels, as its header says.
    ok(&env.run(&[
        "rotate",
        "plan",
        "--current",
        "pki",
        "--new",
        "pki-next",
        "--kubeadm",
        "kubeadm",
        "--out",
        "rotation",
        "--new-key-label",
        "cluster=cluster-root-ca-2",
        "--new-key-label",
        "etcd=etcd-root-ca-2",
        "--new-key-label",
        "front-proxy=front-proxy-root-ca-2",
    ]));
    for (_, new, _) in KINDS {
        let rel = new.strip_prefix("pki-next/").expect("under pki-next");
        assert_eq!(
            std::fs::read(env.path("rotation/phase-3-trust-new/pki").join(rel)).expect("phase 3"),
            std::fs::read(env.path(new)).expect("new root"),
            "{rel}"
        );
    }

    // Phase 2: the tree trusts both roots, its CSRs are sealed and signed by
    // the new roots' keys with the generated script.
    for (_, new, _) in KINDS {
        let rel = new.strip_prefix("pki-next/").expect("under pki-next");
        std::fs::copy(
            env.path("rotation/phase-1-trust-both/pki").join(rel),
            env.path("kubeadm/pki").join(rel),
        )
        .expect("copy");
    }
    let sealed = ok(&env.run(&[
        "request",
        "seal",
        "--kubeadm",
        "kubeadm",
        "--out",
        "requests/rotation.tar",
    ]));
    let sha = sealed
        .lines()
        .find_map(|l| l.strip_prefix("sha256 "))
        .expect("sha");
    let sign =
        std::fs::read_to_string(env.path("rotation/phase-2-new-leaves/sign-new-leaves.toml"))
            .expect("script")
            .replace("REQUEST-BUNDLE-SHA256", sha)
            .replace("REQUESTER-AGE-RECIPIENT", &recipient)
            .replace("/usr/lib/softhsm/libsofthsm2.so", &env.module());
    let sign = env.write("sign-rotation.toml", &sign);
    ok(&common::run_ceremony(&env, &sign));
    ok(&env.run(&[
        "bundle",
        "open",
        "bundles/rotation.tar.age",
        "--identity",
        "requester.agekey",
        "--ca",
        "pki-next/ca.crt",
        "--ca",
        "pki-next/etcd/ca.crt",
        "--ca",
        "pki-next/front-proxy-ca.crt",
        "--audit-key",
        "pki/audit-key.pub",
        "--out",
        "opened-next",
    ]));

    // A new leaf of each kind, for a client of only the old root: verified
    // through the link, refused without it.
    for ((old, new, link), leaf) in KINDS.into_iter().zip([
        "opened-next/certs/apiserver.crt",
        "opened-next/certs/etcd-server.crt",
        "opened-next/certs/front-proxy-client.crt",
    ]) {
        ok(&openssl(
            env.dir.path(),
            &["verify", "-x509_strict", "-CAfile", new, leaf],
        ));
        let through = ok(&openssl(
            env.dir.path(),
            &[
                "verify",
                "-x509_strict",
                "-CAfile",
                old,
                "-untrusted",
                link,
                leaf,
            ],
        ));
        assert!(through.contains(&format!("{leaf}: OK")), "{through}");
        let without = openssl(
            env.dir.path(),
            &["verify", "-x509_strict", "-CAfile", old, leaf],
        );
        assert!(
            !without.status.success(),
            "{leaf} verified against {old} without the link: {}",
            text(&without.stdout)
        );
    }
}
