//! Old transcripts still read: entries written before a field existed, and
//! real transcripts a ceremony wrote, read back and written to the same bytes.

use super::*;

#[test]
fn entries_written_before_a_field_existed_still_read() {
    // unfinished_ceremony_found before it named the ceremony (issue 11).
    let e: Event<'static> =
        serde_json::from_str(r#"{"type":"unfinished_ceremony_found","ceremony_start_seq":4}"#)
            .expect("old unfinished_ceremony_found");
    assert!(matches!(
        e,
        Event::UnfinishedCeremonyFound { ceremony_start_seq: 4, ref ceremony, certificates_issued: 0, certificates_undelivered: 0 } if ceremony.is_empty()
    ));
    // output_bundle_written before bundles were signed.
    let e: Event<'static> = serde_json::from_str(
        r#"{"type":"output_bundle_written","step":"s","file":"f","checksum_file":"c","sha256":"00","certificates":1,"rejected":0,"recipients":["age1x"]}"#,
    )
    .expect("old output_bundle_written");
    assert!(
        matches!(e, Event::OutputBundleWritten { ref signature_key_sha256, .. } if signature_key_sha256.is_empty())
    );
    // ceremony_start before rehearsals and interrupted ceremonies.
    let e: Event<'static> = serde_json::from_str(
        r#"{"type":"ceremony_start","ceremony":"c","script":"s","script_sha256":"00","tool":"ceremony","version":"0.1.0","operator":"o","witnesses":[],"steps":["a"]}"#,
    )
    .expect("old ceremony_start");
    assert!(matches!(
        e,
        Event::CeremonyStart {
            rehearsal: false,
            interrupted: None,
            administrator: None,
            binary: None,
            module: None,
            token: None,
            token_unavailable: None,
            ..
        }
    ));
    // token before its hardware and firmware versions (issue 14).
    let old = r#"{"type":"token","module":"m.so","label":"ceremony","manufacturer":"SoftHSM project","model":"SoftHSM v2","serial":"ce39"}"#;
    let e: Event<'static> = serde_json::from_str(old).expect("old token");
    assert!(matches!(
        e,
        Event::Token { ref identity } if identity.hardware_version.is_none() && identity.firmware_version.is_none()
    ));
    assert_eq!(reread(old), old);
    // login before attempts, PIN flags and return values (issue 13).
    let old =
        r#"{"type":"login","user":"user","pin_source":"prompt","attempted":true,"success":true}"#;
    let e: Event<'static> = serde_json::from_str(old).expect("old login");
    assert!(matches!(
        e,
        Event::Login {
            attempt: None,
            pin_flags: None,
            pin_flags_unreadable: None,
            final_try_confirmed: None,
            rv: None,
            ..
        }
    ));
    assert_eq!(reread(old), old);
    // step_failed before a lost session was named.
    let old = r#"{"type":"step_failed","step":"s","error":"e"}"#;
    let e: Event<'static> = serde_json::from_str(old).expect("old step_failed");
    assert!(matches!(
        e,
        Event::StepFailed {
            session_lost: false,
            ..
        }
    ));
    assert_eq!(reread(old), old);
    // ceremony_end before CRLs.
    let old = r#"{"type":"ceremony_end","outcome":"completed","keys_generated":1,"certificates_issued":1}"#;
    assert_eq!(reread(old), old);
}

/// Transcripts a real ceremony wrote (the fuzz seeds, from the demo): every
/// ceremony event reads back as an [`Event`] and writes the same bytes.
#[test]
fn a_real_transcript_reads_back_entry_by_entry() {
    for text in [
        include_str!("../../../fuzz/seeds/transcript/demo-root-init-to-checkpoint.jsonl"),
        include_str!("../../../fuzz/seeds/transcript/torn-line-then-crash-remnant.jsonl"),
    ] {
        let mut seen = 0;
        crate::transcript::verify_reader_with(std::path::Path::new("seed"), text.as_bytes(), |v| {
            let json = if v.kind == crate::transcript::CRASH_REMNANT {
                let remnant: crate::transcript::CrashRemnant = v.parse()?;
                serde_json::to_string(&remnant)
            } else {
                let event: Event<'static> = v.parse()?;
                serde_json::to_string(&event)
            }
            .map_err(|e| e.to_string())?;
            assert!(text.contains(&format!("\"event\":{json},\"hash\":\"{}\"", v.hash)));
            seen += 1;
            Ok(())
        })
        .expect("intact");
        assert!(seen >= 4);
    }
}

#[test]
fn key_records_before_and_after_key_policies_were_named() {
    // Before: no policy, no wrap_with_trusted; read as never-extractable
    // and written back to the same bytes.
    let old = r#"{"type":"key_generated","step":"r","label":"k","id":"01","algorithm":"ecdsa-p256","attributes":{"token":true,"private":true,"sensitive":true,"extractable":false,"always_sensitive":true,"never_extractable":true,"local":true,"sign":true,"decrypt":false,"unwrap":false,"derive":false},"spki_sha256":"00"}"#;
    let Event::KeyGenerated { key, .. } = serde_json::from_str::<Event<'static>>(old).expect("old")
    else {
        panic!("key_generated");
    };
    assert_eq!(key.policy, None);
    assert_eq!(key.policy(), crate::token::KeyPolicy::NeverExtractable);
    assert_eq!(key.attributes.wrap_with_trusted, None);
    assert_eq!(reread(old), old);
    // After: a backup key names its policy and CKA_WRAP_WITH_TRUSTED.
    let new = r#"{"type":"key_generated","step":"r","label":"k","id":"01","algorithm":"ecdsa-p256","policy":"backup","attributes":{"token":true,"private":true,"sensitive":true,"extractable":true,"always_sensitive":true,"never_extractable":false,"wrap_with_trusted":true,"local":true,"sign":true,"decrypt":false,"unwrap":false,"derive":false},"spki_sha256":"00"}"#;
    let Event::KeyGenerated { key, .. } = serde_json::from_str::<Event<'static>>(new).expect("new")
    else {
        panic!("key_generated");
    };
    assert_eq!(key.policy(), crate::token::KeyPolicy::Backup);
    assert_eq!(key.attributes.wrap_with_trusted, Some(true));
    assert!(key.check_policy("t").is_ok());
    assert_eq!(reread(new), new);
    // A policy name the tool does not know does not read.
    let unknown = new.replace("\"backup\"", "\"exportable\"");
    assert!(serde_json::from_str::<Event<'static>>(&unknown).is_err());
}
