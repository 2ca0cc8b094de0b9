//! `ceremony rotate plan` (issue 16, item 2), through the binary: a kubeadm
//! tree signed by the current roots, new roots from a second root ceremony
//! in the same token, and the plan's three phases checked with openssl;
//! phase 2 is carried out the way its checklist says (seal, the generated
//! signing script, bundle open), and the plan made again from the phase-2
//! tree has phase-3 kubeconfigs that trust only the new root. Inputs that
//! would break a phase are refused, named, with nothing written.

mod common;

use std::path::Path;
use std::process::Output;

use base64ct::{Base64, Encoding};
use common::bundles::{kubeadm_world, open};
use common::{failed, ok, openssl, text, Env};

const NEW_ROOTS: &str = r#"[[step]]
action = "generate-root"
id = "cluster-2027"
key_label = "cluster-root-ca-2027"
algorithm = "ecdsa-p256"
subject = "CN=kubernetes"
certificate = "ca.crt"

[[step]]
action = "generate-root"
id = "etcd-2027"
key_label = "etcd-root-ca-2027"
algorithm = "ecdsa-p256"
subject = "CN=etcd-ca"
certificate = "etcd/ca.crt"

[[step]]
action = "generate-root"
id = "front-proxy-2027"
key_label = "front-proxy-root-ca-2027"
algorithm = "ecdsa-p256"
subject = "CN=front-proxy-ca"
certificate = "front-proxy-ca.crt"
"#;

/// How many certificates a PEM file holds, by openssl.
fn count(env: &Env, file: &Path) -> usize {
    let listed = ok(&openssl(
        env.dir.path(),
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            file.to_str().expect("utf-8"),
        ],
    ));
    let path = env.path("count.p7");
    std::fs::write(&path, listed).expect("write");
    ok(&openssl(
        env.dir.path(),
        &["pkcs7", "-in", "count.p7", "-print_certs", "-noout"],
    ))
    .lines()
    .filter(|l| l.starts_with("subject="))
    .count()
}

fn plan(env: &Env, current: &str, new: &str, tree: &str, out: &str) -> Output {
    env.run(&[
        "rotate",
        "plan",
        "--current",
        current,
        "--new",
        new,
        "--kubeadm",
        tree,
        "--out",
        out,
        "--new-key-label",
        "cluster=cluster-root-ca-2027",
        "--new-key-label",
        "etcd=etcd-root-ca-2027",
        "--new-key-label",
        "front-proxy=front-proxy-root-ca-2027",
    ])
}

/// The CA data of the kubeconfig at `path`, decoded.
fn ca_data(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("kubeconfig");
    let doc: serde_json::Value = yaml_serde::from_str(&text).expect("YAML");
    let data = doc["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .expect("certificate-authority-data");
    String::from_utf8(Base64::decode_vec(data).expect("base64")).expect("PEM")
}

#[test]
fn the_plan_rotates_a_kubeadm_tree_in_three_phases() {
    let env = Env::new();
    kubeadm_world(&env);
    ok(&open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm"],
    ));
    let script = env.write(
        "new-roots.toml",
        &common::script(NEW_ROOTS).replace("directory = \"pki\"", "directory = \"pki-2027\""),
    );
    ok(&common::run_ceremony(&env, &script));

    let said = ok(&plan(&env, "pki", "pki-2027", "kubeadm", "rotation"));
    assert!(
        said.contains("wrote the rotation plan to rotation"),
        "{said}"
    );
    assert!(said.contains("note: admin.conf"), "{said}");
    let dir = env.path("rotation");
    for phase in ["phase-1-trust-both", "phase-2-new-leaves"] {
        for rel in ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"] {
            let file = dir.join(phase).join("pki").join(rel);
            assert_eq!(count(&env, &file), 2, "{}", file.display());
        }
        let ca = ca_data(&dir.join(phase).join("admin.conf"));
        assert_eq!(ca.matches("BEGIN CERTIFICATE").count(), 2, "{ca}");
        let mode = std::fs::metadata(dir.join(phase).join("admin.conf"))
            .expect("admin.conf")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
    ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-CAfile",
            "rotation/phase-1-trust-both/pki/ca.crt",
            "kubeadm/pki/apiserver.crt",
        ],
    ));
    for rel in ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"] {
        let file = dir.join("phase-3-trust-new/pki").join(rel);
        assert_eq!(count(&env, &file), 1);
        assert_eq!(
            std::fs::read(&file).expect("phase 3"),
            std::fs::read(env.path("pki-2027").join(rel)).expect("new root")
        );
    }
    assert!(!dir.join("phase-3-trust-new/admin.conf").exists());
    for phase in [
        "phase-1-trust-both",
        "phase-2-new-leaves",
        "phase-3-trust-new",
    ] {
        let checklist =
            std::fs::read_to_string(dir.join(phase).join("CHECKLIST.md")).expect("checklist");
        assert!(
            checklist.contains("## Restart, in this order"),
            "{checklist}"
        );
        assert!(checklist.contains("## If a step is skipped"), "{checklist}");
    }

    // Phase 2, as its checklist says: the tree trusts both roots, its CSRs
    // are sealed and signed by the new roots with the generated script.
    let copy_phase = |phase: &str, confs: bool| {
        for rel in ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"] {
            std::fs::copy(
                dir.join(phase).join("pki").join(rel),
                env.path("kubeadm/pki").join(rel),
            )
            .expect("copy");
        }
        if confs {
            for entry in std::fs::read_dir(dir.join(phase)).expect("phase") {
                let path = entry.expect("entry").path();
                if path.extension().is_some_and(|e| e == "conf") {
                    let name = path.file_name().expect("name").to_owned();
                    std::fs::copy(&path, env.path("kubeadm").join(name)).expect("copy");
                }
            }
        }
    };
    copy_phase("phase-1-trust-both", true);
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
    let recipient = std::process::Command::new("age-keygen")
        .args(["-y", env.path("requester.agekey").to_str().expect("utf-8")])
        .output()
        .expect("age-keygen");
    let recipient = text(&recipient.stdout).trim().to_string();
    let sign = std::fs::read_to_string(dir.join("phase-2-new-leaves/sign-new-leaves.toml"))
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
        "pki-2027/ca.crt",
        "--ca",
        "pki-2027/etcd/ca.crt",
        "--ca",
        "pki-2027/front-proxy-ca.crt",
        "--kubeadm",
        "kubeadm",
        "--force",
    ]));
    // The checklist: keep this phase's CA files (both roots) over D's.
    copy_phase("phase-2-new-leaves", false);
    // The new leaves verify under the new root alone, not the old one.
    for (leaf, ca) in [
        ("kubeadm/pki/apiserver.crt", "pki-2027/ca.crt"),
        ("kubeadm/pki/etcd/server.crt", "pki-2027/etcd/ca.crt"),
        (
            "kubeadm/pki/front-proxy-client.crt",
            "pki-2027/front-proxy-ca.crt",
        ),
    ] {
        ok(&openssl(env.dir.path(), &["verify", "-CAfile", ca, leaf]));
    }
    let old = openssl(
        env.dir.path(),
        &[
            "verify",
            "-CAfile",
            "pki/ca.crt",
            "kubeadm/pki/apiserver.crt",
        ],
    );
    assert!(!old.status.success());

    // The plan made again from the phase-2 tree has phase-3 kubeconfigs:
    // the new root only, and the new client certificates.
    let said = ok(&plan(
        &env,
        "pki",
        "pki-2027",
        "kubeadm",
        "rotation-after-2",
    ));
    assert!(!said.contains("note:"), "{said}");
    let phase3 = env.path("rotation-after-2/phase-3-trust-new/admin.conf");
    let ca = ca_data(&phase3);
    assert_eq!(
        ca,
        std::fs::read_to_string(env.path("pki-2027/ca.crt")).expect("new root")
    );
    let conf: serde_json::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&phase3).expect("conf")).expect("YAML");
    let client = Base64::decode_vec(
        conf["users"][0]["user"]["client-certificate-data"]
            .as_str()
            .expect("client cert"),
    )
    .expect("base64");
    env.write("admin-client.crt", &String::from_utf8(client).expect("PEM"));
    ok(&openssl(
        env.dir.path(),
        &["verify", "-CAfile", "pki-2027/ca.crt", "admin-client.crt"],
    ));
}

#[test]
fn inputs_that_would_break_a_phase_are_refused() {
    let env = Env::new();
    kubeadm_world(&env);
    ok(&open(
        &env,
        "bundles/kubeadm.tar.age",
        &["--kubeadm", "kubeadm"],
    ));
    // The same roots as new: the same keys.
    let stderr = failed(&plan(&env, "pki", "pki", "kubeadm", "r1"), 2);
    assert!(
        stderr.contains("pki/ca.crt: has the current cluster root's public key"),
        "{stderr}"
    );
    // A new root with a new key but the current root's key identifier.
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
    let ski = ski.lines().nth(1).expect("a value").trim().to_string();
    std::fs::create_dir_all(env.path("same-ski/etcd")).expect("mkdir");
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
            "same-ski.key",
            "-out",
            "same-ski/ca.crt",
            "-subj",
            "/CN=kubernetes",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            &format!("subjectKeyIdentifier={ski}"),
        ],
    ));
    let stderr = failed(&plan(&env, "pki", "same-ski", "kubeadm", "r2"), 2);
    assert!(
        stderr.contains("same-ski/ca.crt: has the current cluster root's subject key identifier"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: a new root needs a new key"),
        "{stderr}"
    );
    // A leaf given as a new root.
    std::fs::create_dir_all(env.path("leaf/etcd")).expect("mkdir");
    std::fs::copy(
        env.path("kubeadm/pki/apiserver.crt"),
        env.path("leaf/ca.crt"),
    )
    .expect("copy");
    let stderr = failed(&plan(&env, "pki", "leaf", "kubeadm", "r3"), 2);
    assert!(
        stderr.contains("leaf/ca.crt: is not a CA certificate"),
        "{stderr}"
    );
    // Roots the tree does not trust as the current ones.
    let script = env.write(
        "new-roots.toml",
        &common::script(NEW_ROOTS).replace("directory = \"pki\"", "directory = \"pki-2027\""),
    );
    ok(&common::run_ceremony(&env, &script));
    let stderr = failed(&plan(&env, "pki-2027", "pki", "kubeadm", "r4"), 2);
    assert!(
        stderr.contains(
            "kubeadm/pki/ca.crt: does not trust the current cluster root pki-2027/ca.crt"
        ),
        "{stderr}"
    );
    // An output directory that exists.
    std::fs::create_dir(env.path("r5")).expect("mkdir");
    let stderr = failed(&plan(&env, "pki", "pki-2027", "kubeadm", "r5"), 2);
    assert!(stderr.contains("r5: exists"), "{stderr}");
    for out in ["r1", "r2", "r3", "r4"] {
        assert!(!env.path(out).exists(), "{out} was written");
    }
    // A kubeconfig that does not trust the current root.
    let conf = env.path("kubeadm/admin.conf");
    let text = std::fs::read_to_string(&conf).expect("admin.conf");
    let new_ca = Base64::encode_string(&std::fs::read(env.path("pki-2027/ca.crt")).expect("ca"));
    let doc: serde_json::Value = yaml_serde::from_str(&text).expect("YAML");
    let old_ca = doc["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .expect("ca data")
        .to_string();
    std::fs::write(&conf, text.replace(&old_ca, &new_ca)).expect("write");
    let stderr = failed(&plan(&env, "pki", "pki-2027", "kubeadm", "r6"), 2);
    assert!(
        stderr.contains("kubeadm/admin.conf: certificate-authority-data does not trust the current cluster root"),
        "{stderr}"
    );
    assert!(!env.path("r6").exists());
}
