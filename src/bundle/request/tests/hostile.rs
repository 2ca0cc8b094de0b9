//! Tests for opening request bundles a hostile requester made: extra,
//! missing and altered members, bad manifests, hostile tar members, the
//! request limits; and the manifest's JSON round trip.

use super::*;

#[test]
fn refuses_an_extra_member() {
    let json = manifest_json(&[("a", "csr/a.csr", b"A")]);
    let tar = tar_of(&[(MANIFEST, &json), ("csr/a.csr", b"A"), ("csr/b.csr", b"B")]);
    let err = err_of(&tar);
    assert!(
        err.ends_with("member \"csr/b.csr\": not the CSR of any request in manifest.json"),
        "{err}"
    );
}

#[test]
fn refuses_a_missing_member() {
    let json = manifest_json(&[("a", "csr/a.csr", b"A"), ("b", "csr/b.csr", b"B")]);
    let tar = tar_of(&[(MANIFEST, &json), ("csr/a.csr", b"A")]);
    let err = err_of(&tar);
    assert!(
        err.ends_with("request \"b\": CSR member \"csr/b.csr\" is missing from the bundle"),
        "{err}"
    );
}

#[test]
fn refuses_a_member_digest_mismatch() {
    let json = manifest_json(&[("a", "csr/a.csr", b"A")]);
    let tar = tar_of(&[(MANIFEST, &json), ("csr/a.csr", b"tampered")]);
    let err = err_of(&tar);
    assert!(
        err.contains("request \"a\": CSR member \"csr/a.csr\": SHA-256 mismatch"),
        "{err}"
    );
}

#[test]
fn refuses_bad_manifests() {
    let json = manifest_json(&[("a", "csr/a.csr", b"A"), ("a", "csr/b.csr", b"B")]);
    let tar = tar_of(&[(MANIFEST, &json), ("csr/a.csr", b"A"), ("csr/b.csr", b"B")]);
    assert!(err_of(&tar).contains("request \"a\": duplicate id"));

    let json = manifest_json(&[("a", "csr/a.csr", b"A"), ("b", "csr/a.csr", b"A")]);
    let tar = tar_of(&[(MANIFEST, &json), ("csr/a.csr", b"A")]);
    assert!(err_of(&tar).contains("also used by request \"a\""));

    let json = manifest_json(&[("a", MANIFEST, b"A")]);
    let tar = tar_of(&[(MANIFEST, &json)]);
    assert!(err_of(&tar).contains("which is not a CSR"));

    let mut value: serde_json::Value =
        serde_json::from_slice(&manifest_json(&[("a", "csr/a.csr", b"A")])).expect("json");
    value["requests"][0]["sneaky"] = true.into();
    let json = serde_json::to_vec(&value).expect("json");
    let tar = tar_of(&[(MANIFEST, &json), ("csr/a.csr", b"A")]);
    let err = err_of(&tar);
    assert!(
        err.contains("manifest.json: unknown field `sneaky`"),
        "{err}"
    );

    value["requests"][0]
        .as_object_mut()
        .expect("object")
        .remove("sneaky");
    value["format"] = "ceremony-request-bundle/2".into();
    let json = serde_json::to_vec(&value).expect("json");
    let tar = tar_of(&[(MANIFEST, &json), ("csr/a.csr", b"A")]);
    assert!(err_of(&tar).contains("format is \"ceremony-request-bundle/2\""));

    let tar = tar_of(&[("csr/a.csr", b"A")]);
    assert!(err_of(&tar).contains("manifest.json: missing"));
}

#[test]
fn refuses_hostile_members() {
    let json = manifest_json(&[("a", "csr/a.csr", b"A")]);
    let good = |h| (h, &b""[..]);
    let cases: Vec<(Vec<RawEntry>, &str)> = vec![
        (
            vec![good(raw_header(b"../x", b'0', 0))],
            "member \"../x\": '..' path component",
        ),
        (
            vec![good(raw_header(b"/abs", b'0', 0))],
            "member \"/abs\": absolute path",
        ),
        (
            vec![good(raw_header(b"csr/l", b'2', 0))],
            "member \"csr/l\": a symbolic link",
        ),
        (
            vec![good(raw_header(b"csr/h", b'1', 0))],
            "member \"csr/h\": a hard link",
        ),
        (
            vec![good(raw_header(b"csr/c", b'3', 0))],
            "member \"csr/c\": a character device",
        ),
        (
            vec![(raw_header(b"csr/a.csr", b'0', 1), &b"A"[..])],
            "member \"csr/a.csr\": duplicate member",
        ),
        (
            vec![good(raw_header(b"CSR/A.csr", b'0', 0))],
            "collides with member \"csr/a.csr\" when case is ignored",
        ),
        (
            vec![good(raw_header(b"csr/big", b'0', MAX_CSR_BYTES + 1))],
            "member \"csr/big\": size 65537 bytes is over the limit of 65536 bytes",
        ),
        (
            vec![good(raw_header(b"csr/caf\xe9", b'0', 0))],
            "member \"csr/caf\u{fffd}\": name is not UTF-8",
        ),
    ];
    for (extra, rule) in cases {
        let mut entries = vec![
            (
                raw_header(MANIFEST.as_bytes(), b'0', json.len() as u64),
                &json[..],
            ),
            (raw_header(b"csr/a.csr", b'0', 1), &b"A"[..]),
        ];
        entries.extend(extra);
        let err = err_of(&raw_tar(&entries));
        assert!(err.contains(rule), "{rule}: {err}");
    }
    // The same layout without the hostile member opens.
    let entries = vec![
        (
            raw_header(MANIFEST.as_bytes(), b'0', json.len() as u64),
            &json[..],
        ),
        (raw_header(b"csr/a.csr", b'0', 1), &b"A"[..]),
    ];
    open_bytes(&raw_tar(&entries)).expect("control opens");
}

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(?s).{0,12}").expect("regex")
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(), 0..3)
}

prop_compose! {
    fn arb_entry()(
        id in text(), profile in text(), csr in text(), csr_sha256 in text(),
        node in proptest::option::of(text()),
        dns in texts(), ips in texts(), emails in texts(), uris in texts(),
        validity_days in proptest::option::of(any::<u32>()),
        kubeadm_path in proptest::option::of(text()),
        kubeconfig in proptest::option::of(text()),
    ) -> RequestEntry {
        RequestEntry {
            id, profile, csr, csr_sha256, node, dns, ips, emails, uris,
            validity_days, kubeadm_path, kubeconfig,
        }
    }
}

proptest! {
    #[test]
    fn manifest_round_trips_through_json(
        format in text(),
        requests in proptest::collection::vec(arb_entry(), 0..4),
    ) {
        let manifest = RequestManifest { format, requests };
        let pretty = serde_json::to_vec_pretty(&manifest).expect("encode");
        let back: RequestManifest = serde_json::from_slice(&pretty).expect("decode");
        prop_assert_eq!(&back, &manifest);
        let compact = serde_json::to_string(&manifest).expect("encode");
        let back: RequestManifest = serde_json::from_str(&compact).expect("decode");
        prop_assert_eq!(back, manifest);
    }
}

#[test]
fn requests_over_the_request_limits_are_neither_sealed_nor_opened() {
    let many: Vec<String> = (0..6000)
        .map(|i| format!("{}{i}.example.com", "n".repeat(200)))
        .collect();
    let cases: Vec<(RequestEntry, String)> = vec![
        (
            RequestEntry {
                dns: many,
                ..entry("big")
            },
            "the request lists 6000 SANs, over the limit of 100".into(),
        ),
        (
            RequestEntry {
                profile: "p".repeat(64),
                ..entry("big")
            },
            format!(
                "profile {}… is 64 bytes, over the limit of 63",
                "p".repeat(40)
            ),
        ),
        (
            RequestEntry {
                kubeadm_path: Some(format!("pki/{}.crt", "k".repeat(300))),
                ..entry("big")
            },
            format!(
                "kubeadm_path pki/{}… is 308 bytes, over the limit of 255",
                "k".repeat(36)
            ),
        ),
        (
            RequestEntry {
                node: Some("n".repeat(254)),
                ..entry("big")
            },
            format!(
                "node name {}… is 254 bytes, over the limit of 253",
                "n".repeat(40)
            ),
        ),
    ];
    for (big, rule) in cases {
        // Sealing refuses it, and nothing is left behind.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("req.tar");
        let mut writer = RequestWriter::create(&path).expect("create");
        let err = writer.add(big.clone(), b"A").expect_err(&rule);
        assert_eq!(
            err.to_string(),
            format!("bundle {}: request \"big\": {rule}", path.display())
        );
        drop(writer);
        assert_eq!(ls(dir.path()), Vec::<String>::new());

        // A bundle built by hand around it is refused when opened.
        let json = serde_json::to_vec(&RequestManifest {
            format: FORMAT.into(),
            requests: vec![RequestEntry {
                csr: "csr/big.csr".into(),
                csr_sha256: sha256_hex(b"A"),
                ..big
            }],
        })
        .expect("json");
        let bytes = tar_of(&[("csr/big.csr", b"A"), (MANIFEST, &json)]);
        let err = open_bytes(&bytes).expect_err("opened");
        assert!(
            err.to_string()
                .ends_with(&format!(": request \"big\": {rule}")),
            "{err}"
        );
    }
}
