//! The signing flow end to end: the requester seals CSRs made by openssl,
//! the shipped ceremonies sign them with the SoftHSM roots, and the results
//! are checked with the age CLI, sha256sum and openssl.

mod common;

use std::process::Command;

use common::{ok, openssl, text, Env};

fn verify(env: &Env, ca: &str, purpose: Option<&str>, cert: &str) -> std::process::Output {
    let mut args = vec!["verify", "-x509_strict"];
    if let Some(p) = purpose {
        args.extend(["-purpose", p]);
    }
    args.extend(["-CAfile", ca, cert]);
    openssl(env.dir.path(), &args)
}

#[test]
fn components_and_an_intermediate_are_signed_sealed_and_opened() {
    let env = Env::new();
    common::signed_cluster(&env);

    // The stock tools open every bundle: sha256sum -c, age -d, tar, sha256sum -c.
    for name in ["intermediate", "components"] {
        let check = Command::new("sha256sum")
            .current_dir(env.path("bundles"))
            .args(["-c", &format!("{name}.tar.age.sha256")])
            .output()
            .expect("sha256sum");
        assert!(check.status.success(), "{}", text(&check.stdout));
        let stock = env.path(&format!("stock/{name}"));
        std::fs::create_dir_all(&stock).expect("mkdir");
        let out = Command::new("bash")
            .current_dir(env.dir.path())
            .args([
                "-c",
                &format!(
                    "set -o pipefail; age -d -i requester.agekey bundles/{name}.tar.age | tar -x -C stock/{name} && cd stock/{name} && sha256sum -c SHA256SUMS"
                ),
            ])
            .output()
            .expect("age");
        assert!(
            out.status.success(),
            "stock open {name}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(!text(&out.stdout).contains("FAILED"));

        let opened = ok(&common::bundles::open(
            &env,
            &format!("bundles/{name}.tar.age"),
            &["--out", &format!("opened/{name}")],
        ));
        assert!(
            opened.contains("verified: every checksum in SHA256SUMS"),
            "{opened}"
        );
        // ceremony bundle open and the stock tools give the same files.
        let sums = std::fs::read_to_string(stock.join("SHA256SUMS")).expect("sums");
        for line in sums.lines() {
            let (digest, path) = line.split_once("  ").expect("sha256sum format");
            let ours =
                std::fs::read(env.path(&format!("opened/{name}/{path}"))).expect("same file");
            let theirs = std::fs::read(stock.join(path)).expect("stock file");
            assert_eq!(ours, theirs, "{path}");
            assert_eq!(digest.len(), 64);
        }
    }

    let o = "opened/components";
    let cluster = format!("{o}/pki/ca.crt");
    let etcd = format!("{o}/pki/etcd/ca.crt");
    let front = format!("{o}/pki/front-proxy-ca.crt");
    let cases: &[(&str, &str, &str)] = &[
        ("cp1-apiserver", &cluster, "sslserver"),
        ("cp1-apiserver-kubelet-client", &cluster, "sslclient"),
        ("cp1-front-proxy-client", &front, "sslclient"),
        ("cp1-apiserver-etcd-client", &etcd, "sslclient"),
        ("cp1-etcd-server", &etcd, "sslserver"),
        ("cp1-etcd-server", &etcd, "sslclient"),
        ("cp1-etcd-peer", &etcd, "sslserver"),
        ("cp1-etcd-peer", &etcd, "sslclient"),
        ("cp1-etcd-healthcheck-client", &etcd, "sslclient"),
        ("admin", &cluster, "sslclient"),
        ("super-admin", &cluster, "sslclient"),
        ("controller-manager", &cluster, "sslclient"),
        ("scheduler", &cluster, "sslclient"),
        ("kube-proxy", &cluster, "sslclient"),
        ("cp1-kubelet-client", &cluster, "sslclient"),
        ("w1-kubelet-client", &cluster, "sslclient"),
        ("w2-kubelet-serving", &cluster, "sslserver"),
    ];
    for (id, ca, purpose) in cases {
        let cert = format!("{o}/certs/{id}.crt");
        let out = verify(&env, ca, Some(purpose), &cert);
        assert_eq!(ok(&out).trim(), format!("{cert}: OK"), "{id} {purpose}");
    }
    // The wrong purpose fails: a client certificate is no server.
    let out = verify(
        &env,
        &cluster,
        Some("sslserver"),
        &format!("{o}/certs/admin.crt"),
    );
    assert!(!out.status.success(), "admin must not pass as a server");
    // etcd certificates chain to the etcd root and fail against the cluster root.
    for id in [
        "cp1-etcd-server",
        "cp1-etcd-peer",
        "cp1-apiserver-etcd-client",
    ] {
        let out = verify(&env, &cluster, None, &format!("{o}/certs/{id}.crt"));
        assert!(
            !out.status.success(),
            "{id} verified against the cluster root"
        );
    }
    // kubeadm paths hold the same certificates.
    assert_eq!(
        std::fs::read(env.path(&format!("{o}/pki/apiserver.crt"))).expect("kubeadm path"),
        std::fs::read(env.path(&format!("{o}/certs/cp1-apiserver.crt"))).expect("cert")
    );
    assert!(env.path(&format!("{o}/pki/etcd/server.crt")).exists());

    // Contents come from the profiles.
    let text_of = |cert: &str| {
        ok(&openssl(
            env.dir.path(),
            &["x509", "-in", cert, "-noout", "-text"],
        ))
    };
    let api = text_of(&format!("{o}/certs/cp1-apiserver.crt"));
    for needle in [
        "DNS:cp1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:control-plane.demo.internal, IP Address:10.96.0.1, IP Address:10.0.0.10",
        "X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n",
        "X509v3 Key Usage: critical\n                Digital Signature\n",
        "X509v3 Basic Constraints: critical\n                CA:FALSE",
        "Subject: CN = kube-apiserver\n",
    ] {
        assert!(api.contains(needle), "apiserver lacks {needle:?}:\n{api}");
    }
    let admin = text_of(&format!("{o}/certs/admin.crt"));
    assert!(
        admin.contains("Digital Signature, Key Encipherment"),
        "RSA leaf: {admin}"
    );
    assert!(
        admin.contains("Subject: O = kubeadm:cluster-admins, CN = kubernetes-admin"),
        "{admin}"
    );
    let kubelet = text_of(&format!("{o}/certs/w1-kubelet-client.crt"));
    assert!(
        kubelet.contains("Subject: O = system:nodes, CN = system:node:w1"),
        "{kubelet}"
    );
    assert!(!kubelet.contains("Subject Alternative Name"), "{kubelet}");
    let etcd_server = text_of(&format!("{o}/certs/cp1-etcd-server.crt"));
    assert!(etcd_server.contains("TLS Web Server Authentication, TLS Web Client Authentication"));
    assert!(etcd_server.contains("DNS:cp1, DNS:localhost, IP Address:10.0.0.10, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"), "{etcd_server}");
    // One year, by default.
    let leaf = format!("{o}/certs/scheduler.crt");
    assert!(openssl(
        env.dir.path(),
        &[
            "x509",
            "-in",
            &leaf,
            "-noout",
            "-checkend",
            &(364u64 * 86_400).to_string()
        ]
    )
    .status
    .success());
    assert!(!openssl(
        env.dir.path(),
        &[
            "x509",
            "-in",
            &leaf,
            "-noout",
            "-checkend",
            &(366u64 * 86_400).to_string()
        ]
    )
    .status
    .success());

    // The intermediate: CA, pathlen 0, no EKU, name constraints from the script,
    // and a leaf it signs (openssl holds its key) chains to the cluster root.
    let i = "opened/intermediate";
    let inter = format!("{i}/certs/controller-manager-signer.crt");
    ok(&verify(&env, &format!("{i}/pki/ca.crt"), None, &inter));
    let shown = text_of(&inter);
    for needle in [
        "CA:TRUE, pathlen:0",
        "Certificate Sign, CRL Sign",
        "Digital Signature",
        "Excluded:\n                  DNS:kubernetes.default.svc",
    ] {
        assert!(
            shown.contains(needle),
            "intermediate lacks {needle:?}:\n{shown}"
        );
    }
    assert!(!shown.contains("Extended Key Usage"), "{shown}");
    let leaf_csr = common::openssl_csr(
        &env,
        "online-leaf",
        "ec:P-256",
        "/O=system:nodes/CN=system:node:w9",
        &[],
    );
    let ext = env.write("extra/leaf.ext", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
    ok(&openssl(
        env.dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            leaf_csr.to_str().expect("utf-8"),
            "-CA",
            &inter,
            "-CAkey",
            "requester/keys/controller-manager-signer.key",
            "-days",
            "30",
            "-out",
            "extra/online-leaf.crt",
            "-extfile",
            ext.to_str().expect("utf-8"),
        ],
    ));
    let chain = ok(&openssl(
        env.dir.path(),
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslclient",
            "-CAfile",
            &format!("{i}/pki/ca.crt"),
            "-untrusted",
            &inter,
            "extra/online-leaf.crt",
        ],
    ));
    assert_eq!(chain.trim(), "extra/online-leaf.crt: OK");

    // The transcript verifies and lists every issued certificate.
    ok(&env.run(&["transcript", "verify", "transcript.jsonl"]));
    let events = env.events("transcript.jsonl");
    let issued: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "certificate_issued" && e["request"].is_string())
        .map(|e| e["request"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(issued.len(), 19, "{issued:?}");
    for id in [
        "cp1-apiserver",
        "super-admin",
        "w2-kubelet-serving",
        "controller-manager-signer",
    ] {
        assert!(issued.iter().any(|i| i == id), "{id} not recorded");
    }
    let bundles: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "output_bundle_written")
        .collect();
    assert_eq!(bundles.len(), 2);
    let sha_file =
        std::fs::read_to_string(env.path("bundles/components.tar.age.sha256")).expect("sha");
    assert!(sha_file.starts_with(bundles[1]["sha256"].as_str().expect("sha256")));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.path(&format!("{o}/manifest.json"))).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["issued"].as_array().map(Vec::len), Some(18));
    assert_eq!(manifest["rejected"].as_array().map(Vec::len), Some(0));
}
