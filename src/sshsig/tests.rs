use std::path::Path;

use super::*;

const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILwlJmKArKUKP2AsS6eUVSwcjfXFbBQewwOd3dFWJord";
const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEn8HNYfM+Xjq/5SKfTgC8q9qAXnXfBMb4sWiKHaZ/lTeee43oQckqxZLgDkbTO1jTA7lsXf5veEA4Tu3V7VfkU=";
const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCfK4dZo2AD2r7+EsFHEZkg8opy2iSpxE2VxOCM9ij+P7aM8OWdonox54iKE1G8SOFaTMD3ZNwkdib/S3f512QEBYw+0nbSeH28sA6LGAe0F8NcTSZYcmhrnb3vZALrhnkXRFSHGmueuZhvIFSIPU9xUz6q+VUxUS/NMYuMZ//qNQ==";

fn parse(text: &str) -> Result<AllowedSigners, String> {
    AllowedSigners::parse(Path::new("signers"), text.to_string())
}

#[test]
fn reads_principals_options_and_comments() {
    let text = format!(
        "# officers\n\nalice@example.com,alice {ED} laptop\n\"bob smith\" namespaces=\"ceremony-*,x\",valid-after=\"20200101Z\" {EC}\n"
    );
    let set = parse(&text).expect("reads");
    assert_eq!(set.signers.len(), 2);
    assert_eq!(set.signers[0].line, 3);
    assert_eq!(set.signers[0].principals, ["alice@example.com", "alice"]);
    assert_eq!(set.signers[0].namespaces, None);
    assert_eq!(set.signers[1].principals, ["bob smith"]);
    assert_eq!(
        set.signers[1].namespaces.as_deref(),
        Some(&["ceremony-*".to_string(), "x".to_string()][..])
    );
    assert_eq!(set.signers[1].valid_after, Some(1_577_836_800));
    assert_eq!(set.sha256.len(), 64);
    assert_eq!(set.text, text);
}

#[test]
fn namespace_patterns_and_validity_are_rules() {
    let set = parse(&format!(
        "a namespaces=\"ceremony-approval\",valid-before=\"20300101000000Z\" {ED}\n"
    ))
    .expect("reads");
    let signer = &set.signers[0];
    assert!(signer.allows(APPROVAL_NAMESPACE, 1_700_000_000).is_ok());
    let e = signer
        .allows(CHECKPOINT_NAMESPACE, 1_700_000_000)
        .expect_err("refused");
    assert!(e.contains("only in namespaces"), "{e}");
    let e = signer
        .allows(APPROVAL_NAMESPACE, 1_893_456_000)
        .expect_err("refused");
    assert!(e.contains("valid-before"), "{e}");
    let glob_set = parse(&format!("a namespaces=\"ceremony-*\" {ED}\n")).expect("reads");
    assert!(glob_set.signers[0].allows(CHECKPOINT_NAMESPACE, 0).is_ok());
    assert!(glob_set.signers[0].allows("file", 0).is_err());
}

#[test]
fn refuses_what_it_cannot_judge_naming_file_and_line() {
    for (text, rule) in [
        (
            format!("a cert-authority {ED}\n"),
            "cert-authority is not supported",
        ),
        (
            format!("a valid-after=\"20200101\" {ED}\n"),
            "local times are refused",
        ),
        (format!("a nosuch {ED}\n"), "unknown option"),
        (format!("a {RSA1024}\n"), "RSA key of 1024 bits"),
        ("a ssh-ed25519 AAAA\n".to_string(), "cannot read it"),
        ("a\n".to_string(), "has no key"),
        (format!("\"a {ED}\n"), "unclosed quote"),
        (format!("a {ED}\nb {ED}\n"), "the key of line 1 again"),
        ("# nobody\n".to_string(), "lists no signer"),
    ] {
        let e = parse(&text).expect_err(&text);
        assert!(e.starts_with("allowed signers signers"), "{e}");
        assert!(e.contains(rule), "{text:?}: {e}");
    }
    let e = parse(&format!("a {ED}\nb {RSA1024}\n")).expect_err("refused");
    assert!(e.contains("signers:2:"), "{e}");
}

#[test]
fn a_signature_that_is_not_sshsig_is_named() {
    let set = parse(&format!("a {ED}\n")).expect("reads");
    let e = check(&set, APPROVAL_NAMESPACE, b"x", "x", "hello", 0).expect_err("refused");
    assert!(e.contains("is not an OpenSSH signature"), "{e}");
}
