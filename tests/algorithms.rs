//! Every key algorithm a root may use, generated in SoftHSM and checked by openssl.

mod common;

use common::{ok, openssl, Env};

#[test]
fn each_algorithm_makes_a_root_openssl_accepts() {
    let env = Env::new();
    // (id, algorithm, extra keys, openssl's key line, openssl's signature algorithm)
    let cases = [
        (
            "p256",
            "ecdsa-p256",
            "",
            "Public-Key: (256 bit)",
            "ecdsa-with-SHA256",
        ),
        (
            "p384",
            "ecdsa-p384",
            "",
            "Public-Key: (384 bit)",
            "ecdsa-with-SHA384",
        ),
        (
            "rsa2048",
            "rsa-2048",
            "",
            "Public-Key: (2048 bit)",
            "sha256WithRSAEncryption",
        ),
        (
            "rsa3072",
            "rsa-3072",
            "hash = \"sha384\"",
            "Public-Key: (3072 bit)",
            "sha384WithRSAEncryption",
        ),
        (
            "rsa4096",
            "rsa-4096",
            "hash = \"sha512\"",
            "Public-Key: (4096 bit)",
            "sha512WithRSAEncryption",
        ),
    ];
    let steps: String = cases
        .iter()
        .map(|(id, alg, extra, _, _)| {
            common::root_step(
                id,
                alg,
                &format!("CN={id}-root"),
                &format!("{id}.crt"),
                extra,
            )
        })
        .collect();
    let script = env.write("algorithms.toml", &common::script(&steps));
    let out = env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]);
    ok(&out);

    for (id, alg, _, key_line, sig_alg) in cases {
        let file = format!("pki/{id}.crt");
        let verify = openssl(
            env.dir.path(),
            &["verify", "-x509_strict", "-CAfile", &file, &file],
        );
        assert_eq!(ok(&verify).trim(), format!("{file}: OK"), "{alg}");
        let shown = ok(&openssl(
            env.dir.path(),
            &["x509", "-in", &file, "-noout", "-text"],
        ));
        assert!(shown.contains(key_line), "{alg}: {shown}");
        assert!(
            shown.contains(&format!("Signature Algorithm: {sig_alg}")),
            "{alg}: {shown}"
        );
        // The certificate's key is the token's key.
        let cert_key = ok(&openssl(
            env.dir.path(),
            &["x509", "-in", &file, "-noout", "-pubkey"],
        ));
        let label = format!("{id}-key");
        if alg.starts_with("ecdsa") {
            // pkcs11-tool 0.23 cannot export P-384 keys, so compare the
            // EC point it lists with the one in the certificate.
            let listing = env.token_objects();
            let block = common::object_blocks(&listing)
                .into_iter()
                .find(|b| {
                    b.starts_with("Public Key Object")
                        && b.contains(&format!("label:      {label}\n"))
                })
                .expect("public key listed");
            let point = block
                .lines()
                .find_map(|l| l.trim().strip_prefix("EC_POINT:"))
                .expect("EC_POINT")
                .trim()
                .to_string();
            let pem = env.write(&format!("{id}.pub.pem"), &cert_key);
            let der = openssl(
                env.dir.path(),
                &[
                    "pkey",
                    "-pubin",
                    "-in",
                    pem.to_str().expect("utf-8"),
                    "-outform",
                    "DER",
                ],
            );
            assert!(der.status.success());
            let der_hex: String = der.stdout.iter().map(|b| format!("{b:02x}")).collect();
            // EC_POINT is a DER OCTET STRING (04, length) around the point.
            assert!(
                der_hex.ends_with(&point[4..]),
                "{alg}: {point} not in {der_hex}"
            );
        } else {
            let token_key =
                env.pkcs11_tool(&["--read-object", "--type", "pubkey", "--label", &label]);
            assert!(
                !token_key.stdout.is_empty(),
                "{alg}: no public key read from the token"
            );
            let der_path = env.path(&format!("{id}.pub.der"));
            std::fs::write(&der_path, &token_key.stdout).expect("write der");
            let token_pem = ok(&openssl(
                env.dir.path(),
                &[
                    "pkey",
                    "-pubin",
                    "-inform",
                    "DER",
                    "-in",
                    der_path.to_str().expect("utf-8"),
                ],
            ));
            assert_eq!(
                cert_key, token_pem,
                "{alg}: certificate key differs from the token key"
            );
        }
    }
    let events = env.events("transcript.jsonl");
    let algorithms: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "key_generated")
        .map(|e| e["algorithm"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        algorithms,
        [
            "ecdsa-p256",
            "ecdsa-p384",
            "rsa-2048",
            "rsa-3072",
            "rsa-4096"
        ]
    );
}
