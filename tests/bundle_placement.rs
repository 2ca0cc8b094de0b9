//! Where `bundle open` writes, and what it refuses before writing: a CA the
//! requester did not pin, a certificate genuinely signed by the pinned root
//! but expired or not yet valid, an identity file others can read, a tree
//! reached through a symlinked directory, and, with `--kubeadm`, a failure
//! part-way through placing the files, after which the tree is as it was.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::bundles::{copy_of, kubeadm_world, open, refused, repack, state, unpack};
use common::{ok, text, Env};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};

#[test]
fn a_ca_that_is_not_pinned_and_a_loose_identity_file_are_refused() {
    let env = Env::new();
    kubeadm_world(&env);
    let tree = env.path("kubeadm");
    let before = state(&tree);
    for mode in ["--out", "--kubeadm"] {
        let target = if mode == "--out" { "opened" } else { "kubeadm" };
        let out = env.run(&[
            "bundle",
            "open",
            "bundles/kubeadm.tar.age",
            "--identity",
            "requester.agekey",
            "--ca",
            "pki/ca.crt",
            mode,
            target,
        ]);
        refused(
            &out,
            "error: bundle bundles/kubeadm.tar.age: pki/etcd/ca.crt: CA certificate CN=etcd-ca is not one of the pinned CAs (--ca): a bundle never introduces trust",
        );
    }
    assert!(!env.path("opened").exists());
    assert_eq!(state(&tree), before);

    // A pin file that is not a CA certificate, or holds a key.
    let out = env.run(&[
        "bundle",
        "open",
        "bundles/kubeadm.tar.age",
        "--identity",
        "requester.agekey",
        "--ca",
        "kubeadm/pki/apiserver.key",
        "--out",
        "opened",
    ]);
    refused(
        &out,
        "error: --ca kubeadm/pki/apiserver.key: holds a private key; give the CA certificate only",
    );

    // The identity file is checked as the PIN file is.
    std::fs::set_permissions(
        env.path("requester.agekey"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let out = open(&env, "bundles/kubeadm.tar.age", &["--kubeadm", "kubeadm"]);
    refused(
        &out,
        "error: identity file requester.agekey: readable or writable by other users (mode 0644); run chmod 600 on it",
    );
    assert_eq!(state(&tree), before);
    assert!(!env.path("opened").exists());
}

/// Re-signs `pem` with the test token's cluster root key (pkcs11-tool),
/// its validity replaced by `not_before`..`not_after` (seconds since 1970).
fn resign(env: &Env, pem: &[u8], not_before: u64, not_after: u64) -> Vec<u8> {
    use x509_cert::time::Time;
    let (_, der) = der::pem::decode_vec(pem).expect("pem");
    let cert = x509_cert::Certificate::from_der(&der).expect("cert");
    let mut tbs = cert.tbs_certificate().to_der().expect("tbs");
    assert!(
        der.windows(tbs.len()).any(|w| w == tbs.as_slice()),
        "the TBS re-encodes as it was"
    );
    let validity = cert.tbs_certificate().validity();
    let time = |secs: u64| {
        // Before 2050, as the ceremony writes them: UTCTime.
        Time::UtcTime(
            der::asn1::UtcTime::from_unix_duration(Duration::from_secs(secs)).expect("time"),
        )
        .to_der()
        .expect("der")
    };
    for (old, new) in [
        (validity.not_before.to_der().expect("der"), time(not_before)),
        (validity.not_after.to_der().expect("der"), time(not_after)),
    ] {
        assert_eq!(old.len(), new.len(), "UTCTime both");
        let at = tbs
            .windows(old.len())
            .position(|w| w == old.as_slice())
            .expect("the time in the TBS");
        tbs[at..at + old.len()].copy_from_slice(&new);
    }
    env.write("resign/digest", "");
    std::fs::write(env.path("resign/digest"), Sha256::digest(&tbs)).expect("digest");
    // By CKA_ID: pkcs11-tool --sign does not select a key by its label.
    let listing = env.token_objects();
    let id = common::object_blocks(&listing)
        .into_iter()
        .find(|b| {
            b.starts_with("Private Key Object") && b.contains("label:      cluster-root-ca\n")
        })
        .and_then(|b| {
            b.lines()
                .find_map(|l| l.trim().strip_prefix("ID:").map(|id| id.trim().to_string()))
        })
        .expect("the cluster root's private key");
    let out = env.pkcs11_tool(&[
        "--sign",
        "--mechanism",
        "ECDSA",
        "--id",
        &id,
        "--signature-format",
        "rs",
        "--input-file",
        env.path("resign/digest").to_str().expect("utf-8"),
        "--output-file",
        env.path("resign/sig").to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "pkcs11-tool: {}", text(&out.stderr));
    // r||s, as the token returns it, to the DER that X.509 carries.
    let rs = std::fs::read(env.path("resign/sig")).expect("sig");
    let sig = p256::ecdsa::Signature::from_slice(&rs)
        .expect("r||s")
        .to_der()
        .as_bytes()
        .to_vec();
    let mut body = tbs;
    body.extend(cert.signature_algorithm().to_der().expect("alg"));
    body.extend(
        der::asn1::BitString::from_bytes(&sig)
            .expect("bits")
            .to_der()
            .expect("der"),
    );
    let header = der::Header::new(
        der::Tag::Sequence,
        der::Length::try_from(body.len()).expect("len"),
    );
    let mut new_der = header.to_der().expect("header");
    new_der.extend(body);
    x509_cert::Certificate::from_der(&new_der).expect("a certificate again");
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &new_der)
        .expect("pem")
        .into_bytes()
}

#[test]
fn certificates_signed_by_the_pinned_root_outside_their_validity_are_refused() {
    let env = Env::new();
    let recipient = kubeadm_world(&env);
    let genuine = unpack(&env, "bundles/kubeadm.tar.age", "genuine");
    let tree = env.path("kubeadm");
    let before = state(&tree);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let year = 365 * 86_400;
    for (name, from, to, needle) in [
        (
            "expired",
            now - 2 * year,
            now - year,
            "certs/scheduler.conf.crt: has expired (notAfter ",
        ),
        (
            "not-yet-valid",
            now + year,
            now + 2 * year,
            "certs/scheduler.conf.crt: is not valid yet (notBefore ",
        ),
    ] {
        let dir = copy_of(&env, &genuine, name);
        let member = dir.join("certs/scheduler.conf.crt");
        let pem = resign(&env, &std::fs::read(&member).expect("cert"), from, to);
        std::fs::write(&member, &pem).expect("write");
        // Genuinely signed by the pinned root: openssl agrees, time aside.
        let check = common::openssl(
            env.dir.path(),
            &[
                "verify",
                "-no_check_time",
                "-CAfile",
                "pki/ca.crt",
                member.to_str().expect("utf-8"),
            ],
        );
        assert!(ok(&check).trim().ends_with(": OK"));
        let bundle = repack(&env, &dir, name, &recipient);
        let out = open(&env, &bundle, &["--kubeadm", "kubeadm", "--force"]);
        refused(&out, needle);
        assert_eq!(state(&tree), before, "{name}: the tree changed");
        let out = open(&env, &bundle, &["--out", &format!("out-{name}")]);
        refused(&out, needle);
        assert!(!env.path(&format!("out-{name}")).exists());
    }
}

#[test]
fn nothing_is_written_through_a_symlinked_directory_or_over_a_link() {
    let env = Env::new();
    kubeadm_world(&env);
    // pki/etcd is moved away and a link put in its place.
    std::fs::rename(env.path("kubeadm/pki/etcd"), env.path("elsewhere")).expect("move");
    std::os::unix::fs::symlink("../../elsewhere", env.path("kubeadm/pki/etcd")).expect("link");
    let tree = state(&env.path("kubeadm"));
    let elsewhere = state(&env.path("elsewhere"));
    let out = open(&env, "bundles/kubeadm.tar.age", &["--kubeadm", "kubeadm"]);
    refused(
        &out,
        "kubeadm/pki/etcd: is a symbolic link; nothing is written through a link",
    );
    assert_eq!(state(&env.path("kubeadm")), tree);
    assert_eq!(state(&env.path("elsewhere")), elsewhere);
    std::fs::remove_file(env.path("kubeadm/pki/etcd")).expect("rm link");
    std::fs::rename(env.path("elsewhere"), env.path("kubeadm/pki/etcd")).expect("move back");

    // A certificate's name that is a link to somewhere else.
    env.write("target.txt", "mine\n");
    std::os::unix::fs::symlink("../../target.txt", env.path("kubeadm/pki/apiserver.crt"))
        .expect("link");
    let tree = state(&env.path("kubeadm"));
    let out = open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm", "--force"],
    );
    refused(
        &out,
        "kubeadm/pki/apiserver.crt: is a symbolic link; nothing is written through a link",
    );
    assert_eq!(state(&env.path("kubeadm")), tree);
    assert_eq!(
        std::fs::read_to_string(env.path("target.txt")).expect("read"),
        "mine\n"
    );
}

/// Every `.ceremony-tmp.` name under `dir`.
#[cfg(feature = "fault-injection")]
fn temporaries(dir: &std::path::Path) -> Vec<String> {
    state(dir)
        .into_keys()
        .filter(|f| f.contains(".ceremony-tmp."))
        .collect()
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_failure_part_way_through_placing_leaves_the_tree_as_it_was() {
    let env = Env::new();
    kubeadm_world(&env);
    let tree = env.path("kubeadm");
    let with_fault = |n: usize, extra: &[&str]| {
        let mut args = vec![
            "bundle",
            "open",
            "bundles/kubeadm.tar.age",
            "--identity",
            "requester.agekey",
            "--kubeadm",
            "kubeadm",
        ];
        args.extend(common::bundles::PINS);
        args.extend(extra);
        env.ceremony()
            .env("CEREMONY_FAULT", format!("kubeadm-place:{n}"))
            .args(&args)
            .output()
            .expect("run")
    };

    // Every file new: the fifth fails, the four placed before it are removed.
    let before = state(&tree);
    let out = with_fault(4, &[]);
    refused(&out, ": cannot write: injected by CEREMONY_FAULT");
    assert_eq!(state(&tree), before, "a failed open left files behind");
    assert!(temporaries(&tree).is_empty());

    ok(&open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm"],
    ));
    let opened = state(&tree);
    assert!(opened.contains_key("pki/apiserver.crt"));

    // Replacing with --force: certificates that differ (one with mode 0600),
    // then a failure after some are replaced: every one is put back.
    let swap = |a: &str, b: &str| {
        let (pa, pb) = (tree.join(a), tree.join(b));
        let (x, y) = (
            std::fs::read(&pa).expect("a"),
            std::fs::read(&pb).expect("b"),
        );
        std::fs::write(&pa, y).expect("write");
        std::fs::write(&pb, x).expect("write");
    };
    swap("pki/apiserver.crt", "pki/apiserver-kubelet-client.crt");
    swap("pki/etcd/server.crt", "pki/etcd/peer.crt");
    std::fs::set_permissions(
        tree.join("pki/etcd/peer.crt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let swapped = state(&tree);
    for n in [1, 3] {
        let out = with_fault(n, &["--force"]);
        refused(&out, ": cannot write: injected by CEREMONY_FAULT");
        assert_eq!(state(&tree), swapped, "fault at {n}: the tree changed");
        assert!(temporaries(&tree).is_empty(), "{:?}", temporaries(&tree));
    }
    // The key files were never touched, in bytes or mode.
    for (path, (digest, mode)) in before.iter().filter(|(p, _)| p.ends_with(".key")) {
        assert_eq!(
            state(&tree).get(path),
            Some(&(digest.clone(), *mode)),
            "{path}"
        );
    }
    ok(&open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm", "--force"],
    ));
    let fixed = state(&tree);
    for cert in [
        "pki/apiserver.crt",
        "pki/apiserver-kubelet-client.crt",
        "pki/etcd/server.crt",
    ] {
        assert_eq!(fixed.get(cert), opened.get(cert), "{cert}");
    }
    assert_eq!(fixed["pki/etcd/peer.crt"].0, opened["pki/etcd/peer.crt"].0);
}
