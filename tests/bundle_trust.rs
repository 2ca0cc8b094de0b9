//! `bundle open` trusts a bundle only as far as it checks it, tried as an
//! attacker would: a bundle forged without the token (its own CA, encrypted
//! with the stock age CLI to the requester's public recipient), and bundles
//! whose certificates are genuinely signed by the pinned roots but whose
//! manifest names a static pod manifest, a path outside the tree, a key
//! file or a path the tool does not know. Each is refused with exit 2,
//! naming the member and the rule, and nothing is written: no file in the
//! tree changes, no key file's bytes or mode.

mod common;

use std::path::Path;

use common::bundles::{
    copy_of, entry, files_under, kubeadm_world, manifest, open, refused, repack, repack_with,
    state, unpack, write_manifest,
};
use common::{ok, text, Env};
use der::Decode;

#[test]
fn genuine_certificates_under_a_hostile_manifest_are_refused_and_nothing_is_written() {
    let env = Env::new();
    let recipient = kubeadm_world(&env);
    let genuine = unpack(&env, "bundles/kubeadm.tar.age", "genuine");
    let tree = env.path("kubeadm");
    let before = state(&tree);
    let outside = files_under(env.dir.path());

    // (name, edit, the refusal)
    type Edit = Box<dyn Fn(&Path, &mut serde_json::Value)>;
    let move_member = |dir: &Path, from: &str, to: &str| {
        let dest = dir.join(to);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::rename(dir.join(from), dest).expect("move");
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "static-pod",
            Box::new(move |dir, m| {
                m["ca"][0]["file"] = "manifests/kube-apiserver.yaml".into();
                move_member(dir, "pki/ca.crt", "manifests/kube-apiserver.yaml");
            }),
            "manifests/kube-apiserver.yaml: the cluster CA certificate must be at pki/ca.crt, the only path this tool writes it to",
        ),
        (
            "escape",
            Box::new(|_, m| m["ca"][0]["file"] = "pki/../../x".into()),
            "pki/../../x: the cluster CA certificate must be at pki/ca.crt",
        ),
        (
            "key-file",
            Box::new(move |dir, m| {
                entry(m, "apiserver")["kubeadm_path"] = "pki/apiserver.key".into();
                move_member(dir, "pki/apiserver.crt", "pki/apiserver.key");
            }),
            "certs/apiserver.crt: kubeadm_path \"pki/apiserver.key\" is not where kubeadm keeps a apiserver certificate (pki/apiserver.crt)",
        ),
        (
            "outside",
            Box::new(|_, m| entry(m, "apiserver")["kubeadm_path"] = "../outside.crt".into()),
            "certs/apiserver.crt: kubeadm_path \"../outside.crt\" is not where kubeadm keeps a apiserver certificate",
        ),
        (
            "unknown-path",
            Box::new(move |dir, m| {
                entry(m, "apiserver")["kubeadm_path"] = "pki/sa.crt".into();
                move_member(dir, "pki/apiserver.crt", "pki/sa.crt");
            }),
            "certs/apiserver.crt: kubeadm_path \"pki/sa.crt\" is not where kubeadm keeps a apiserver certificate",
        ),
        (
            "unknown-kubeconfig",
            Box::new(|_, m| entry(m, "admin.conf")["kubeconfig"] = "../admin.conf".into()),
            "kubeconfig \"../admin.conf\" is not the kubeconfig kubeadm keeps a admin certificate in (admin.conf)",
        ),
        (
            "stray-member",
            Box::new(|dir, _| {
                std::fs::create_dir_all(dir.join("manifests")).expect("mkdir");
                std::fs::write(dir.join("manifests/kube-apiserver.yaml"), "apiVersion: v1\n")
                    .expect("write");
            }),
            "manifests/kube-apiserver.yaml: is not a file this tool writes",
        ),
        (
            "same-ca-twice",
            Box::new(|dir, m| {
                std::fs::copy(dir.join("pki/ca.crt"), dir.join("pki/etcd/ca.crt")).expect("copy");
                m["ca"][1]["subject"] = "CN=kubernetes".into();
            }),
            "pki/etcd/ca.crt: is the same certificate as the cluster CA; each role has its own",
        ),
        (
            "serial",
            Box::new(|_, m| entry(m, "apiserver")["serial"] = "01".into()),
            "certs/apiserver.crt: its serial ",
        ),
        (
            "sans",
            Box::new(|_, m| {
                entry(m, "apiserver")["sans"]
                    .as_array_mut()
                    .expect("sans")
                    .push("DNS:evil.example".into())
            }),
            "certs/apiserver.crt: its SANs [",
        ),
        (
            "sha256",
            Box::new(|_, m| entry(m, "scheduler.conf")["sha256"] = "00".repeat(32).into()),
            "certs/scheduler.conf.crt: its SHA-256 ",
        ),
    ];
    for (name, edit, needle) in cases {
        let dir = copy_of(&env, &genuine, &format!("hostile-{name}"));
        let mut m = manifest(&dir);
        edit(&dir, &mut m);
        write_manifest(&dir, &m);
        let bundle = repack(&env, &dir, name, &recipient);
        let out = open(&env, &bundle, &["--kubeadm", "kubeadm", "--force"]);
        refused(&out, needle);
        assert!(
            text(&out.stderr).contains(&format!("error: bundle {bundle}: ")),
            "{name}: {}",
            text(&out.stderr)
        );
        assert_eq!(state(&tree), before, "{name}: the tree changed");
        // --out writes nothing either.
        let out = open(&env, &bundle, &["--out", &format!("out-{name}")]);
        refused(&out, needle);
        assert!(!env.path(&format!("out-{name}")).exists(), "{name}");
    }
    // Nothing appeared outside the tree but the test's own copies and bundles.
    let now: Vec<String> = files_under(env.dir.path())
        .into_iter()
        .filter(|f| !outside.contains(f))
        .filter(|f| !f.starts_with("hostile-") && !f.starts_with("bundles/"))
        .filter(|f| !f.starts_with("tokens/"))
        .collect();
    assert!(now.is_empty(), "{now:?}");

    // Only the cluster root's certificates left: the etcd and front-proxy
    // roots, which no certificate in the bundle binds to their role, are
    // not written into the tree.
    let dir = copy_of(&env, &genuine, "cluster-only");
    let mut m = manifest(&dir);
    let keep: Vec<serde_json::Value> = m["issued"]
        .as_array()
        .expect("issued")
        .iter()
        .filter(|e| {
            let p = e["profile"].as_str().unwrap_or_default();
            !p.starts_with("etcd") && p != "apiserver-etcd-client" && p != "front-proxy-client"
        })
        .cloned()
        .collect();
    for e in m["issued"].as_array().expect("issued") {
        if !keep.contains(e) {
            for key in ["file", "kubeadm_path"] {
                if let Some(path) = e[key].as_str() {
                    std::fs::remove_file(dir.join(path)).expect("rm");
                }
            }
        }
    }
    m["issued"] = keep.into();
    write_manifest(&dir, &m);
    let bundle = repack(&env, &dir, "cluster-only", &recipient);
    let out = ok(&open(&env, &bundle, &["--kubeadm", "kubeadm"]));
    assert!(out.contains("kubeadm/pki/ca.crt\n"), "{out}");
    assert!(!tree.join("pki/etcd/ca.crt").exists(), "{out}");
    assert!(!tree.join("pki/front-proxy-ca.crt").exists(), "{out}");
    let after = state(&tree);
    for (path, before) in &before {
        if path.ends_with(".key") {
            assert_eq!(after.get(path), Some(before), "{path}");
        }
    }

    // The genuine bundle, repacked by the same tools with its own
    // SHA256SUMS, opens: the refusals above are the edits', not the packing's.
    let dir = copy_of(&env, &genuine, "unchanged");
    let bundle = repack_with(&env, &dir, "unchanged", &recipient, false);
    let out = open(
        &env,
        &bundle,
        &["--out", "opened", "--audit-key", "pki/audit-key.pub"],
    );
    let stdout = ok(&out);
    assert!(
        stdout.contains(&format!(
            "verified: every checksum in SHA256SUMS; 12 certificate(s) signed by the pinned CA(s), valid now and as the manifest and their profiles say; 3 CA certificate(s), each one of the 3 pinned; the ceremony's signature on SHA256SUMS with audit key pki/audit-key.pub; the bundle's digest in {bundle}.sha256"
        )),
        "{stdout}"
    );
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));

    // Without the .sha256 file beside it: said to be missing, never verified.
    std::fs::remove_file(env.path(&format!("{bundle}.sha256"))).expect("rm");
    let out = open(
        &env,
        &bundle,
        &["--out", "opened-2", "--audit-key", "pki/audit-key.pub"],
    );
    let stdout = ok(&out);
    assert!(!stdout.contains(".sha256"), "{stdout}");
    assert_eq!(
        text(&out.stderr),
        format!(
            "warning: {bundle}.sha256 is missing: the bundle's digest was not checked against it\n"
        )
    );

    // Same certificates, SHA256SUMS re-made: only the ceremony's signature
    // tells. Without --audit-key it opens, saying plainly it was not checked.
    let dir = copy_of(&env, &genuine, "resummed");
    let bundle = repack(&env, &dir, "resummed", &recipient);
    let out = open(&env, &bundle, &["--out", "opened-3"]);
    ok(&out);
    assert_eq!(
        text(&out.stderr),
        "warning: the ceremony's signature on SHA256SUMS was not checked: give --audit-key (the ceremony's pki/audit-key.pub)\n"
    );
    let out = open(
        &env,
        &bundle,
        &["--out", "opened-4", "--audit-key", "pki/audit-key.pub"],
    );
    refused(
        &out,
        &format!("error: bundle {bundle}: SHA256SUMS.sig: does not verify over SHA256SUMS with audit key pki/audit-key.pub"),
    );
    assert!(!env.path("opened-4").exists());
    // No signature at all.
    std::fs::remove_file(dir.join("SHA256SUMS.sig")).expect("rm");
    let bundle = repack(&env, &dir, "unsigned", &recipient);
    let out = open(
        &env,
        &bundle,
        &["--out", "opened-5", "--audit-key", "pki/audit-key.pub"],
    );
    refused(
        &out,
        "SHA256SUMS.sig: missing: the bundle is not signed by the ceremony, and --audit-key asks for its signature",
    );
    assert!(!env.path("opened-5").exists());
    let out = open(&env, &bundle, &["--out", "opened-6"]);
    ok(&out);
    assert!(
        text(&out.stderr).contains("warning: the bundle carries no ceremony signature (SHA256SUMS.sig) and none was checked"),
        "{}",
        text(&out.stderr)
    );
}

/// `openssl ARGS` in the test directory, which must succeed.
fn openssl_ok(env: &Env, args: &[&str]) -> String {
    ok(&common::openssl(env.dir.path(), args))
}

#[test]
fn a_bundle_forged_without_the_token_is_refused_and_nothing_is_written() {
    let env = Env::new();
    let recipient = kubeadm_world(&env);
    let tree = env.path("kubeadm");
    let before = state(&tree);

    // The attacker's own "kubernetes" CA, made with openssl.
    std::fs::create_dir_all(env.path("attacker")).expect("mkdir");
    openssl_ok(
        &env,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "attacker/ca.key",
            "-out",
            "attacker/ca.crt",
            "-subj",
            "/CN=kubernetes",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ],
    );
    env.write(
        "attacker/ext.cnf",
        "[server]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         [client]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    );
    // Certificates for the public keys in the tree's CSRs (public: they are in the CSRs).
    let forged = [
        (
            "apiserver",
            "apiserver",
            "pki/apiserver.csr",
            "server",
            Some("pki/apiserver.crt"),
            None,
        ),
        (
            "admin.conf",
            "admin",
            "admin.conf.csr",
            "client",
            None,
            Some("admin.conf"),
        ),
    ];
    let build = |ca_pem: &[u8], name: &str| {
        let dir = env.path(&format!("forged-{name}"));
        std::fs::create_dir_all(dir.join("certs")).expect("mkdir");
        std::fs::create_dir_all(dir.join("pki")).expect("mkdir");
        std::fs::write(dir.join("pki/ca.crt"), ca_pem).expect("ca");
        let mut issued = Vec::new();
        for (id, profile, csr, ext, kubeadm_path, kubeconfig) in forged {
            let out = format!("forged-{name}/certs/{id}.crt");
            openssl_ok(
                &env,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("kubeadm/{csr}"),
                    "-CA",
                    "attacker/ca.crt",
                    "-CAkey",
                    "attacker/ca.key",
                    "-days",
                    "365",
                    "-sha256",
                    "-copy_extensions",
                    "copy",
                    "-extfile",
                    "attacker/ext.cnf",
                    "-extensions",
                    ext,
                    "-out",
                    &out,
                ],
            );
            let pem = std::fs::read(env.path(&out)).expect("cert");
            let (_, der) = der::pem::decode_vec(&pem).expect("pem");
            let cert = x509_cert::Certificate::from_der(&der).expect("cert");
            let facts = ceremony::x509::Issued::from_der("forged", der.clone()).expect("facts");
            let sans: Vec<String> = cert
                .tbs_certificate()
                .get_extension::<x509_cert::ext::pkix::SubjectAltName>()
                .expect("san")
                .map(|(_, s)| {
                    s.0.iter()
                        .map(ceremony::x509::describe_general_name)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(path) = kubeadm_path {
                std::fs::write(dir.join(path), &pem).expect("copy");
            }
            issued.push(serde_json::json!({
                "id": id, "profile": profile, "serial": facts.serial, "subject": facts.subject,
                "issuer": facts.issuer, "sans": sans, "not_before": facts.not_before,
                "not_after": facts.not_after, "sha256": facts.sha256,
                "file": format!("certs/{id}.crt"), "kubeadm_path": kubeadm_path,
                "kubeconfig": kubeconfig,
            }));
        }
        let m = serde_json::json!({
            "format": "ceremony-output-bundle/1", "ceremony": "forged", "step": "sign",
            "request_bundle_sha256": "00".repeat(32), "issued": issued, "rejected": [],
            "ca": [{"issuer": "cluster", "subject": "CN=kubernetes", "file": "pki/ca.crt"}],
        });
        write_manifest(&dir, &m);
        repack(&env, &dir, &format!("forged-{name}"), &recipient)
    };

    // With its own CA inside: the CA is not a pinned one.
    let attacker_ca = std::fs::read(env.path("attacker/ca.crt")).expect("ca");
    let bundle = build(&attacker_ca, "own-ca");
    let out = open(&env, &bundle, &["--kubeadm", "kubeadm", "--force"]);
    refused(
        &out,
        "pki/ca.crt: CA certificate CN=kubernetes is not one of the pinned CAs (--ca): a bundle never introduces trust",
    );
    assert_eq!(state(&tree), before, "the tree changed");

    // With a copy of the real (public) root inside: the certificates do not chain to it.
    let real_ca = std::fs::read(env.path("pki/ca.crt")).expect("ca");
    let bundle = build(&real_ca, "real-ca");
    let out = open(&env, &bundle, &["--kubeadm", "kubeadm", "--force"]);
    refused(
        &out,
        "certs/apiserver.crt: does not chain to a pinned CA: its signature does not verify with CN=kubernetes (pki/ca.crt)",
    );
    assert_eq!(state(&tree), before, "the tree changed");
    let out = open(&env, &bundle, &["--out", "forged-out"]);
    refused(&out, "certs/apiserver.crt: does not chain to a pinned CA");
    assert!(!env.path("forged-out").exists());

    // The pin is what decides: pinning the attacker's CA lets its own bundle in.
    let own = "bundles/forged-own-ca.tar.age";
    let out = env.run(&[
        "bundle",
        "open",
        own,
        "--identity",
        "requester.agekey",
        "--ca",
        "attacker/ca.crt",
        "--out",
        "pinned-attacker",
    ]);
    ok(&out);
    // No pin at all: refused by the command line.
    let out = env.run(&[
        "bundle",
        "open",
        &bundle,
        "--identity",
        "requester.agekey",
        "--out",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--ca <FILE>"),
        "{}",
        text(&out.stderr)
    );
    assert!(!env.path("x").exists());
}
