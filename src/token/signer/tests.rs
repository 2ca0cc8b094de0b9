//! Tests of the RSA signing input that need no token: the DER `DigestInfo`
//! against RFC 8017's known answers, and the choice of mechanism.

use super::*;

/// RFC 8017 §9.2, note 1: the DER of `DigestInfo` up to the digest's bytes.
const RFC8017_SHA256: &str = "3031300d060960864801650304020105000420";
const RFC8017_SHA384: &str = "3041300d060960864801650304020205000430";
const RFC8017_SHA512: &str = "3051300d060960864801650304020305000440";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
        .collect()
}

#[test]
fn digest_info_matches_rfc_8017_prefixes() {
    for (hash, prefix, len) in [
        (SignatureHash::Sha256, RFC8017_SHA256, 32),
        (SignatureHash::Sha384, RFC8017_SHA384, 48),
        (SignatureHash::Sha512, RFC8017_SHA512, 64),
    ] {
        let digest = hash.digest(b"abc");
        assert_eq!(digest.len(), len, "{hash:?}");
        let info = digest_info(hash, &digest).expect("encodes");
        let mut expected = hex(prefix);
        expected.extend(&digest);
        assert_eq!(info, expected, "{hash:?}");
    }
}

#[test]
fn digest_info_of_abc_is_the_known_answer() {
    // SHA-256("abc") from FIPS 180-2 appendix B.1, after the RFC 8017 prefix.
    let info =
        digest_info(SignatureHash::Sha256, &SignatureHash::Sha256.digest(b"abc")).expect("encodes");
    assert_eq!(
        info,
        hex(concat!(
            "3031300d060960864801650304020105000420",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        ))
    );
}

#[test]
fn rsa_prefers_the_portable_mechanism() {
    assert_eq!(
        RsaSigning::choose(true, true),
        Some(RsaSigning::DigestInfo { fallback: true })
    );
    assert_eq!(
        RsaSigning::choose(true, false),
        Some(RsaSigning::DigestInfo { fallback: false })
    );
    assert_eq!(RsaSigning::choose(false, true), Some(RsaSigning::Combined));
    assert_eq!(RsaSigning::choose(false, false), None);
}
