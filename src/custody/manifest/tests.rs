use super::*;
use crate::custody::vss::split;
use getrandom::SysRng;
use p256::elliptic_curve::Generate;
use sha2::{Digest, Sha256};

fn manifest() -> Manifest {
    let secret = *p256::NonZeroScalar::try_generate_from_rng(&mut SysRng).expect("os rng");
    let (_, commitments) = split(&secret, 2, 3, &mut SysRng).expect("split");
    let spki = vec![0x30, 0x03, 0x02, 0x01, 0x01];
    let wrapped = vec![7u8; 40];
    Manifest {
        format: FORMAT.into(),
        ceremony: "root".into(),
        step: "backup".into(),
        created: 1_800_000_000,
        token: SourceToken {
            label: "ceremony".into(),
            serial: "1".into(),
            manufacturer: "m".into(),
            model: "x".into(),
        },
        mechanism: MECHANISM.into(),
        wrap_key_derivation: DERIVATION.into(),
        sharing: Sharing {
            scheme: SCHEME.into(),
            threshold: 2,
            count: 3,
            set: commitments.fingerprint(),
            commitments: commitments.to_hex(),
        },
        custodians: (1..=3)
            .map(|i| Custodian {
                name: format!("Custodian {i}"),
                recipient: "age1x".into(),
                index: i,
                file: share_file_name(i, &format!("Custodian {i}")),
                sha256: "00".into(),
            })
            .collect(),
        keys: vec![WrappedKey {
            label: "root-key".into(),
            id: "01".into(),
            algorithm: KeyAlgorithm::EcdsaP256,
            policy: KeyPolicy::Backup,
            spki_sha256: crate::hex::encode(&Sha256::digest(&spki)),
            spki: crate::hex::encode(&spki),
            wrapped_sha256: crate::hex::encode(&Sha256::digest(&wrapped)),
            wrapped: crate::hex::encode(&wrapped),
        }],
    }
}

#[test]
fn a_manifest_reads_back_as_written() {
    let m = manifest();
    let parsed = Manifest::parse(&m.to_json()).expect("parses");
    assert_eq!(parsed, m);
    assert_eq!(parsed.commitments().expect("hex").threshold(), 2);
    assert_eq!(parsed.custodians[0].file, "shares/01-custodian-1.age");
}

#[test]
fn each_broken_rule_is_named() {
    type Break = fn(&mut Manifest);
    let cases: Vec<(Break, &str)> = vec![
        (|m| m.format = "other/1".into(), "format"),
        (|m| m.mechanism = "CKM_AES_KEY_WRAP".into(), "mechanism"),
        (
            |m| m.sharing.threshold = 1,
            "threshold 1 must be at least 2",
        ),
        (|m| m.sharing.threshold = 4, "threshold 4"),
        (|m| m.sharing.set = "0".repeat(64), "sharing.set"),
        (|m| m.custodians[1].index = 3, "custodians[1]: index 3"),
        (
            |m| m.custodians[2].file = "shares/../../etc/passwd".into(),
            "custodians[2]: file",
        ),
        (
            |m| m.custodians[2].file = "/tmp/x".into(),
            "custodians[2]: file",
        ),
        (
            |m| {
                m.custodians.pop();
            },
            "2 listed, not the count 3",
        ),
        (|m| m.keys.clear(), "keys: none listed"),
        (
            |m| {
                let k = m.keys[0].clone();
                m.keys.push(k)
            },
            "listed twice",
        ),
        (
            |m| m.keys[0].wrapped.replace_range(0..2, "08"),
            "wrapped does not match wrapped_sha256",
        ),
        (|m| m.keys[0].spki.push('z'), "spki is not hex"),
    ];
    for (break_it, rule) in cases {
        let mut m = manifest();
        break_it(&mut m);
        let err = Manifest::parse(&m.to_json()).expect_err(rule);
        assert!(err.contains(rule), "{err:?} does not name {rule:?}");
    }
}

#[test]
fn unknown_fields_are_refused() {
    let json = String::from_utf8(manifest().to_json()).expect("utf-8");
    let json = json.replacen("{", "{\"extra\": 1,", 1);
    let err = Manifest::parse(json.as_bytes()).expect_err("unknown field");
    assert!(err.contains("unknown field `extra`"), "{err}");
}

#[test]
fn share_file_names_are_plain() {
    assert_eq!(share_file_name(2, "Ana O'Neil"), "shares/02-ana-o-neil.age");
    assert_eq!(share_file_name(3, "../.."), "shares/03-custodian.age");
    assert_eq!(share_file_name(12, "Zoë"), "shares/12-zo.age");
    assert!(is_share_path(&share_file_name(1, "/etc/x")));
}
