//! Tests of strict CSR parsing: private keys, trailing garbage, deep nesting and oversized inputs refused.

use super::*;

#[test]
fn private_keys_are_recognised() {
    assert!(holds_private_key(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    ));
    assert!(holds_private_key(b"-----BEGIN EC PRIVATE KEY-----\n"));
    assert!(holds_private_key(b"-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    let key = p256::SecretKey::from_slice(&[7u8; 32]).expect("scalar");
    let der = {
        use p256::pkcs8::EncodePrivateKey;
        key.to_pkcs8_der().expect("pkcs8")
    };
    assert!(holds_private_key(der.as_bytes()));
    assert!(!holds_private_key(b"-----BEGIN CERTIFICATE REQUEST-----\n"));
}

fn real_csr() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-subj",
            "/CN=x",
            "-outform",
            "DER",
            "-out",
            "x.csr",
        ])
        .output()
        .expect("openssl");
    assert!(out.status.success());
    std::fs::read(dir.path().join("x.csr")).expect("csr")
}

#[test]
fn trailing_garbage_and_deep_nesting_are_refused() {
    let der = real_csr();
    assert!(parse_csr("ok", &der).is_ok());
    let mut trailing = der.clone();
    trailing.extend_from_slice(&[0x05, 0x00]);
    let err = parse_csr("t", &trailing).expect_err("trailing bytes");
    assert!(err.to_string().starts_with("t: not a valid CSR"), "{err}");
    // 200 nested SEQUENCEs: refused without recursion trouble.
    let mut nested = vec![0x05, 0x00];
    for _ in 0..200 {
        let len = nested.len();
        let mut outer = vec![0x30];
        if len < 0x80 {
            outer.push(len as u8);
        } else if len < 0x100 {
            outer.extend([0x81, len as u8]);
        } else {
            outer.extend([0x82, (len >> 8) as u8, len as u8]);
        }
        outer.extend(nested);
        nested = outer;
    }
    let err = parse_csr("n", &nested).expect_err("nested");
    assert!(err.to_string().starts_with("n: not a valid CSR"), "{err}");
}

#[test]
fn garbage_and_oversized_inputs_are_refused() {
    let err = parse_csr("r1", b"\x30\x03\x02\x01\x00").expect_err("garbage");
    assert!(err.to_string().starts_with("r1: not a valid CSR"), "{err}");
    let big = vec![b'A'; MAX_CSR_BYTES + 1];
    let err = parse_csr("r2", &big).expect_err("big");
    assert!(
        err.to_string().contains("larger than the 65536-byte limit"),
        "{err}"
    );
}
