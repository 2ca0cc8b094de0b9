//! Every event type round-trips: written, read back by the same type, and
//! written again to the same bytes.

use std::borrow::Cow;

use super::*;
use crate::token::inventory::Report;
use crate::token::{KeyAlgorithm, KeyAttributes, ObjectAttributes, ObjectInfo};

/// How many variants [`Event`] has; [`index`] numbers them.
const VARIANTS: usize = 35;

/// A distinct number for each variant. No wildcard: a new variant does not
/// compile here until it gets a number and a sample in [`samples`].
fn index(e: &Event<'_>) -> usize {
    match e {
        Event::UnfinishedCeremonyFound { .. } => 0,
        Event::CeremonyStart { .. } => 1,
        Event::Token { .. } => 2,
        Event::Login { .. } => 3,
        Event::Refused { .. } => 4,
        Event::StepStart { .. } => 5,
        Event::KeyGenerated { .. } => 6,
        Event::CertificateIssued { .. } => 7,
        Event::RequestBundleVerified { .. } => 8,
        Event::IssuerChecked { .. } => 9,
        Event::RequestRejected { .. } => 10,
        Event::OutputBundleWritten { .. } => 11,
        Event::CrlIssued { .. } => 12,
        Event::StepFailed { .. } => 13,
        Event::WitnessAcknowledged { .. } => 14,
        Event::WitnessRefused { .. } => 15,
        Event::AuditKeyGenerated { .. } => 16,
        Event::Checkpoint { .. } => 17,
        Event::CheckpointSkipped { .. } => 18,
        Event::Inventory { .. } => 19,
        Event::Note { .. } => 20,
        Event::CeremonyEnd { .. } => 21,
        Event::StaleTemporariesRemoved { .. } => 22,
        Event::SigningSessions { .. } => 23,
        Event::WitnessAttemptFailed { .. } => 24,
        Event::ApproversSet { .. } => 25,
        Event::Approval(_) => 26,
        Event::ApprovalNotCounted { .. } => 27,
        Event::CheckpointCosigned(_) => 28,
        Event::WrapKeyCreated { .. } => 29,
        Event::WrapKeyDestroyed { .. } => 30,
        Event::KeysBackedUp { .. } => 31,
        Event::SharesJudged { .. } => 32,
        Event::KeysRestored { .. } => 33,
        Event::QuorumActivated { .. } => 34,
    }
}

fn s(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

fn identity() -> crate::token::TokenIdentity {
    crate::token::TokenIdentity {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        label: "ceremony \"one\"".into(),
        manufacturer: "SoftHSM project".into(),
        model: "SoftHSM v2".into(),
        serial: "ce39323b7557f4c3".into(),
        hardware_version: Some("2.6".into()),
        firmware_version: Some("2.6".into()),
    }
}

fn key() -> crate::token::KeyRecord {
    crate::token::KeyRecord {
        label: "cluster-root-ca".into(),
        id: "0102".into(),
        id_requested: None,
        id_held_by_others: 0,
        algorithm: KeyAlgorithm::EcdsaP384,
        policy: Some(crate::token::KeyPolicy::NeverExtractable),
        attributes: KeyAttributes {
            token: true,
            private: true,
            sensitive: true,
            extractable: false,
            always_sensitive: true,
            never_extractable: true,
            wrap_with_trusted: None,
            local: true,
            sign: true,
            decrypt: false,
            unwrap: false,
            derive: false,
        },
        unknown: Vec::new(),
        spki_sha256: "ab".repeat(32),
        spki_der: Vec::new(),
        private_handle: None,
    }
}

fn custody_key(verified: Option<bool>) -> KeyCustodyRecord {
    KeyCustodyRecord {
        label: "cluster-ca-key".into(),
        id: "0102".into(),
        algorithm: KeyAlgorithm::EcdsaP256,
        policy: crate::token::KeyPolicy::Backup,
        spki_sha256: "ab".repeat(32),
        wrapped_sha256: "cd".repeat(32),
        test_signature_verified: verified,
    }
}

fn issued() -> crate::x509::Issued {
    crate::x509::Issued {
        serial: "7f01".into(),
        subject: "CN=kubernetes,O=a\\,b".into(),
        issuer: "CN=kubernetes".into(),
        not_before: "2026-11-23T13:45:00Z".into(),
        not_after: "2036-11-23T13:45:00Z".into(),
        sha256: "cd".repeat(32),
        der: Vec::new(),
    }
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: "example transcript".into(),
        entries: 42,
        head: "ef".repeat(32),
        key_sha256: "ab".repeat(32),
        algorithm: "1.2.840.10045.4.3.2".into(),
        signature: "MEUCIQ==".into(),
    }
}

/// Objects whose flags name every policy attribute and both rules.
fn objects() -> Vec<ObjectInfo> {
    vec![
        ObjectInfo {
            class: crate::token::inventory::PRIVATE_KEY.into(),
            label: "loose".into(),
            id: "03".into(),
            key_type: Some("ec".into()),
            bits: None,
            curve: Some("P-256".into()),
            spki_sha256: Some("01".repeat(32)),
            attributes: ObjectAttributes {
                wrap: Some(true),
                ..ObjectAttributes::default()
            },
        },
        ObjectInfo {
            class: "data".into(),
            label: "note".into(),
            id: String::new(),
            key_type: None,
            bits: Some(2048),
            curve: None,
            spki_sha256: None,
            attributes: ObjectAttributes::default(),
        },
    ]
}

/// At least one sample of every variant, with optional fields both present
/// and absent, and strings that need escaping.
fn samples<'a>(
    token: &'a crate::token::TokenIdentity,
    key: &'a crate::token::KeyRecord,
    issued: &'a crate::x509::Issued,
    cp: &'a Checkpoint,
    objects: &'a [ObjectInfo],
    names: &'a [String],
    revoked: &'a [RevokedRecord],
) -> Vec<Event<'a>> {
    vec![
        Event::UnfinishedCeremonyFound {
            ceremony_start_seq: 4,
            ceremony: s("root-init"),
            certificates_issued: 6,
            certificates_undelivered: 3,
        },
        Event::CeremonyStart {
            ceremony: s("root-init"),
            administrator: Some(s("Demo Administrator")),
            rehearsal: true,
            script: "ceremonies/root-init.toml".into(),
            script_sha256: s("72d9"),
            tool: s("ceremony"),
            version: s("0.1.0"),
            operator: s("Demo \"Operator\"\n"),
            witnesses: Cow::Borrowed(names),
            steps: vec![s("cluster-root"), s("audit-key")],
            interrupted: Some(Interrupted {
                ceremony_start_seq: 4,
                ceremony: "killed".into(),
                certificates_undelivered: 3,
            }),
            binary: Some(Box::new(FileDigest {
                path: "/usr/local/bin/ceremony".into(),
                sha256: Some("ab".repeat(32)),
                error: None,
            })),
            module: Some(Box::new(FileDigest {
                path: "/usr/lib/softhsm/libsofthsm2.so".into(),
                sha256: Some("cd".repeat(32)),
                error: None,
            })),
            token: Some(Box::new(token.clone())),
            token_unavailable: None,
        },
        Event::CeremonyStart {
            ceremony: s("root-init"),
            administrator: None,
            rehearsal: false,
            script: "x.toml".into(),
            script_sha256: s("00"),
            tool: s("ceremony"),
            version: s("0.1.0"),
            operator: s("o"),
            witnesses: Cow::Borrowed(&[]),
            steps: vec![],
            interrupted: None,
            binary: None,
            module: Some(Box::new(FileDigest {
                path: "/nonexistent/module.so".into(),
                sha256: None,
                error: Some("No such file or directory (os error 2)".into()),
            })),
            token: None,
            token_unavailable: Some("module /nonexistent/module.so: cannot load: no such file".into()),
        },
        Event::Token {
            identity: Cow::Borrowed(token),
        },
        Event::Login {
            user: s("user"),
            pin_source: "file user.pin".into(),
            attempt: None,
            pin_flags: None,
            pin_flags_unreadable: None,
            final_try_confirmed: None,
            attempted: true,
            success: false,
            rv: None,
            error: Some("CKR_PIN_INCORRECT".into()),
        },
        Event::Login {
            user: s("so"),
            pin_source: "prompt".into(),
            attempt: None,
            pin_flags: None,
            pin_flags_unreadable: None,
            final_try_confirmed: None,
            attempted: true,
            success: true,
            rv: None,
            error: None,
        },
        Event::Login {
            user: s("user"),
            pin_source: "prompt".into(),
            attempt: Some(2),
            pin_flags: Some(vec![s("count_low"), s("final_try")]),
            pin_flags_unreadable: None,
            final_try_confirmed: Some(true),
            attempted: true,
            success: false,
            rv: Some("PinIncorrect".into()),
            error: Some("token ceremony: login refused: PinIncorrect".into()),
        },
        Event::Login {
            user: s("user"),
            pin_source: "prompt".into(),
            attempt: Some(1),
            pin_flags: Some(vec![]),
            pin_flags_unreadable: Some("C_GetTokenInfo failed: DeviceError".into()),
            final_try_confirmed: Some(false),
            attempted: false,
            success: false,
            rv: None,
            error: None,
        },
        Event::Refused {
            step: Some(s("sign")),
            reasons: vec!["a".into(), "b".into()],
        },
        Event::Refused {
            step: None,
            reasons: vec![],
        },
        Event::StepStart {
            step: s("cluster-root"),
            action: s("generate-root"),
        },
        Event::KeyGenerated {
            step: s("cluster-root"),
            key: Cow::Borrowed(key),
        },
        Event::CertificateIssued {
            step: s("sign"),
            request: Some(s("kubelet-node3")),
            profile: Some(s("kubelet-client")),
            sans: Cow::Borrowed(names),
            file: "out/kubelet.crt".into(),
            certificate: Cow::Borrowed(issued),
        },
        Event::CertificateIssued {
            step: s("cluster-root"),
            request: None,
            profile: None,
            sans: Cow::Borrowed(&[]),
            file: "out/ca.crt".into(),
            certificate: Cow::Borrowed(issued),
        },
        Event::RequestBundleVerified {
            step: s("sign"),
            bundle: "requests.tar".into(),
            sha256: s("aa"),
            requests: 3,
        },
        Event::IssuerChecked {
            step: s("sign"),
            issuer: s("kubernetes-ca"),
            key_label: s("cluster-root-ca"),
            certificate: "out/ca.crt".into(),
            subject: "CN=kubernetes".into(),
            spki_sha256: s("bb"),
        },
        Event::RequestRejected {
            step: s("sign"),
            request: s("evil"),
            profile: s("kubelet-client"),
            rule: s("O=system:masters is not allowed"),
        },
        Event::OutputBundleWritten {
            step: s("sign"),
            file: "out/bundle.age".into(),
            checksum_file: "out/bundle.age.sha256".into(),
            sha256: s("cc"),
            certificates: 2,
            rejected: 1,
            recipients: Cow::Borrowed(names),
            signature_key_sha256: s("dd"),
        },
        Event::CrlIssued {
            step: s("crl"),
            issuer: s("CN=kubernetes"),
            issuer_key_label: s("cluster-root-ca"),
            issuer_certificate: "out/ca.crt".into(),
            issuer_certificate_sha256: s("ee"),
            crl_number: 7,
            this_update: s("2026-11-23T13:45:00Z"),
            next_update: s("2026-12-23T13:45:00Z"),
            revoked: Cow::Borrowed(revoked),
            file: "out/ca.crl".into(),
            sha256: s("ff"),
        },
        Event::StepFailed {
            step: s("sign"),
            error: "token: CKR_DEVICE_REMOVED".into(),
            session_lost: true,
        },
        Event::StepFailed {
            step: s("sign"),
            error: "output out/x: write: File too large".into(),
            session_lost: false,
        },
        Event::WitnessAcknowledged {
            step: s("sign"),
            witness: s("Demo Witness One"),
            code: s("4821"),
            source: s("terminal"),
        },
        Event::WitnessRefused {
            step: s("sign"),
            witness: s("Demo Witness One"),
            code: s("4821"),
            source: s("answers file"),
            reason: "abort".into(),
        },
        Event::WitnessAttemptFailed {
            step: s("sign"),
            witness: s("Demo Witness Two"),
            code: s("4821"),
            source: s("terminal"),
            attempt: 1,
            attempts: 3,
            reason: s("the code is not this step's code"),
        },
        Event::AuditKeyGenerated {
            step: s("audit-key"),
            file: "out/audit.pub".into(),
            key: Cow::Borrowed(key),
        },
        Event::Checkpoint {
            checkpoint: Cow::Borrowed(cp),
            file: "out/checkpoint.txt".into(),
        },
        Event::CheckpointSkipped {
            reason: "no audit key".into(),
        },
        Event::Inventory {
            when: s("start"),
            report: Report::new(token, objects),
        },
        Event::Note {
            author: s("Operator"),
            text: s("a deviation: \u{1f511} and \\ and \u{7}"),
        },
        Event::CeremonyEnd {
            outcome: Outcome::Failed,
            error: Some("step sign failed".into()),
            keys_generated: 3,
            certificates_issued: 4,
            crls_issued: 1,
        },
        Event::CeremonyEnd {
            outcome: Outcome::Completed,
            error: None,
            keys_generated: 0,
            certificates_issued: 0,
            crls_issued: 0,
        },
        Event::CeremonyEnd {
            outcome: Outcome::Refused,
            error: Some("refused".into()),
            keys_generated: 0,
            certificates_issued: 0,
            crls_issued: 0,
        },
        Event::StaleTemporariesRemoved {
            paths: vec!["out/.ceremony-tmp.ca.crt.77".into()],
            not_removed: vec!["out/x: permission denied".into()],
        },
        Event::StaleTemporariesRemoved {
            paths: vec![],
            not_removed: vec![],
        },
        Event::SigningSessions {
            step: s("sign"),
            asked: 8,
            opened: 3,
            token_max: Some(16),
            reason: s("C_OpenSession answered SessionCount after 3 of 8 session(s); the batch signs on those"),
        },
        Event::SigningSessions {
            step: s("sign"),
            asked: 4,
            opened: 1,
            token_max: None,
            reason: s("the batch keeps at most 1 session(s) busy"),
        },
        Event::ApproversSet {
            file: "approvers".into(),
            sha256: s("ab12"),
            required: 2,
            signers: s("alice ssh-ed25519 AAAA\nbob ssh-ed25519 AAAB\n"),
            replaces: Some(ReplacedSet {
                seq: 4,
                sha256: "cd34".into(),
                approved_by: 2,
            }),
        },
        Event::ApproversSet {
            file: "approvers".into(),
            sha256: s("ab12"),
            required: 1,
            signers: s("alice ssh-ed25519 AAAA\n"),
            replaces: None,
        },
        Event::Approval(Box::new(approval())),
        Event::ApprovalNotCounted {
            file: "carol.sig".into(),
            reason: "is signed in namespace \"file\", not \"ceremony-approval\"".into(),
        },
        Event::CheckpointCosigned(Box::new(approval())),
        Event::WrapKeyCreated {
            step: s("backup"),
            label: s("ceremony-wrap-backup"),
        },
        Event::WrapKeyDestroyed {
            step: s("backup"),
            label: s("ceremony-wrap-backup"),
            error: Some("C_DestroyObject: CKR_DEVICE_ERROR".into()),
        },
        Event::KeysBackedUp {
            step: s("backup"),
            backup: Box::new(BackupRecord {
                directory: "out/backup".into(),
                manifest_sha256: "ab".repeat(32),
                sums_sha256: "cd".repeat(32),
                signed: true,
                threshold: 2,
                count: 3,
                set: "ef".repeat(16),
                commitments: "02ab".into(),
                custodians: vec![CustodianRecord {
                    name: "Custodian One".into(),
                    recipient: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq".into(),
                    index: 1,
                    file: "out/backup/shares/01-custodian-one.age".into(),
                    sha256: "01".repeat(32),
                }],
                keys: vec![custody_key(None)],
            }),
        },
        Event::SharesJudged {
            step: Some(s("restore")),
            shares: Box::new(SharesRecord {
                purpose: "backup".into(),
                set: "ef".repeat(16),
                threshold: 2,
                counted: vec![ShareUse {
                    custodian: "Custodian One".into(),
                    index: 1,
                    file: "one.age".into(),
                }],
                refused: vec![ShareRefusal {
                    file: "two.age".into(),
                    custodian: Some("Custodian Two".into()),
                    index: Some(2),
                    reason: "does not match the recorded commitments".into(),
                }],
            }),
        },
        Event::QuorumActivated {
            step: s("quorum"),
            quorum: Box::new(QuorumRecord {
                token_label: "ceremony".into(),
                token_serial: "ce39323b7557f4c3".into(),
                directory: "pki/quorum".into(),
                sums_sha256: "ab".repeat(32),
                threshold: 2,
                count: 3,
                set: "ef".repeat(16),
                commitments: "02ab".into(),
                officers: Vec::new(),
            }),
        },
        Event::KeysRestored {
            step: s("restore"),
            restored: Box::new(RestoreRecord {
                directory: "backup".into(),
                manifest_sha256: "ab".repeat(32),
                set: "ef".repeat(16),
                source_token: "ceremony (serial 1)".into(),
                keys: vec![custody_key(Some(true))],
            }),
        },
    ]
}

fn approval() -> SshApproval<'static> {
    SshApproval {
        file: "alice.sig".into(),
        principal: s("alice@example.com"),
        key_type: s("ssh-ed25519"),
        fingerprint: s("SHA256:abc"),
        namespace: s("ceremony-approval"),
        signed_sha256: s("00ff"),
        signers_sha256: s("ab12"),
        signature: s("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----"),
    }
}

/// Writes `json`'s event, reads it back and writes it again.
fn reread(json: &str) -> String {
    let event: Event<'static> = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("{json} does not read back as an Event: {e}"));
    serde_json::to_string(&event).expect("serializes")
}

#[test]
fn every_event_type_round_trips_byte_for_byte() {
    let (token, key, issued, cp, objects) = (identity(), key(), issued(), checkpoint(), objects());
    let names = vec!["Demo Witness One".to_string(), "IP:10.0.0.1".to_string()];
    let revoked = vec![
        RevokedRecord {
            serial: "7f01".into(),
            reason: Cow::Borrowed("key-compromise"),
            revoked_at: "2026-11-23T13:45:00Z".into(),
            certificate: Some("out/kubelet.crt".into()),
            subject: Some("CN=kubelet".into()),
        },
        RevokedRecord {
            serial: "02".into(),
            reason: Cow::Borrowed("superseded"),
            revoked_at: "2026-11-23T13:45:00Z".into(),
            certificate: None,
            subject: None,
        },
    ];
    let events = samples(&token, &key, &issued, &cp, &objects, &names, &revoked);
    let mut covered = [false; VARIANTS];
    let mut types = std::collections::BTreeSet::new();
    for event in &events {
        covered[index(event)] = true;
        let written = serde_json::to_string(event).expect("serializes");
        assert_eq!(reread(&written), written, "{written}");
        let parsed: Event<'static> = serde_json::from_str(&written).expect("reads");
        assert_eq!(index(&parsed), index(event), "{written}");
        let value: serde_json::Value = serde_json::from_str(&written).expect("JSON");
        types.insert((
            index(event),
            value["type"].as_str().expect("type").to_string(),
        ));
    }
    assert!(
        covered.iter().all(|c| *c),
        "a variant has no sample: {covered:?}"
    );
    let names: std::collections::BTreeSet<_> = types.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(
        names.len(),
        VARIANTS,
        "one type name per variant: {types:?}"
    );
}

#[test]
fn a_renamed_or_retyped_field_does_not_read() {
    let good = r#"{"type":"crl_issued","step":"crl","issuer":"CN=k","issuer_key_label":"k","issuer_certificate":"ca.crt","issuer_certificate_sha256":"ee","crl_number":7,"this_update":"t","next_update":"n","revoked":[],"file":"ca.crl","sha256":"ff"}"#;
    assert_eq!(reread(good), good);
    for bad in [
        good.replace("\"crl_number\"", "\"number\""),
        good.replace("\"crl_number\":7", "\"crl_number\":\"7\""),
        good.replace("\"crl_number\":7", "\"crl_number\":-1"),
        good.replace("\"revoked\":[]", "\"revoked\":[{\"serial\":\"01\"}]"),
        good.replace("crl_issued", "crl_issued "),
    ] {
        assert!(
            serde_json::from_str::<Event<'static>>(&bad).is_err(),
            "{bad}"
        );
    }
    // An inventory flag names a rule and an attribute the tool knows.
    let objects = objects();
    let line = serde_json::to_string(&Event::Inventory {
        when: s("end"),
        report: Report::new(&identity(), &objects),
    })
    .expect("serializes");
    assert!(
        line.contains("\"CKA_DERIVE\"") && line.contains("\"no-wrap\""),
        "{line}"
    );
    assert_eq!(reread(&line), line);
    let forged = line.replace("\"CKA_DERIVE\"", "\"CKA_FORGED\"");
    assert!(serde_json::from_str::<Event<'static>>(&forged).is_err());
}

#[test]
fn outcome_names_are_the_names_written() {
    for o in [Outcome::Completed, Outcome::Refused, Outcome::Failed] {
        assert_eq!(
            serde_json::to_string(&o).expect("serializes"),
            format!("\"{}\"", o.name())
        );
    }
}

mod compat;
