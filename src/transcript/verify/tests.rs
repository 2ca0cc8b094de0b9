//! Tests of the streaming transcript verifier: intact chains pass, edits, removals, swaps and cuts are named.

use super::super::render_line;
use super::*;

fn transcript(n: u64) -> Vec<String> {
    let mut prev = GENESIS.to_string();
    (0..n)
        .map(|seq| {
            let event = serde_json::json!({"type": "note", "n": seq});
            let (line, hash) =
                render_line(seq, "2026-01-01T00:00:00Z", &prev, &event).expect("render");
            prev = hash;
            line
        })
        .collect()
}

fn check(lines: &[String]) -> Result<Summary> {
    let text = lines.concat();
    verify_reader(Path::new("t"), text.as_bytes())
}

fn reason(lines: &[String]) -> String {
    check(lines).expect_err("must fail").to_string()
}

#[test]
fn hex_is_matches_lowercase_hex_only() {
    let digest = Sha256::digest(b"x");
    let text = hex::encode(&digest);
    assert!(hex_is(&text, &digest));
    assert!(!hex_is(&text.to_ascii_uppercase(), &digest));
    assert!(!hex_is(&text[..62], &digest));
    let mut other = text.clone().into_bytes();
    other[63] = if other[63] == b'0' { b'1' } else { b'0' };
    assert!(!hex_is(
        std::str::from_utf8(&other).expect("ascii"),
        &digest
    ));
}

#[test]
fn an_event_that_is_not_an_object_has_no_type() {
    let event = serde_json::json!(["note", 1]);
    let (line, _) = render_line(0, "2026-01-01T00:00:00Z", GENESIS, &event).expect("render");
    assert!(reason(&[line]).contains("the event has no type"));
}

#[test]
fn visitors_see_the_type_and_can_parse_the_event() {
    let mut seen = Vec::new();
    let text = transcript(3).concat();
    verify_reader_with(Path::new("t"), text.as_bytes(), |v| {
        #[derive(Deserialize)]
        struct Numbered {
            n: u64,
        }
        seen.push((v.kind.to_string(), Some(v.parse::<Numbered>()?.n)));
        Ok(())
    })
    .expect("intact");
    assert_eq!(
        seen,
        vec![
            ("note".to_string(), Some(0)),
            ("note".to_string(), Some(1)),
            ("note".to_string(), Some(2))
        ]
    );
}

#[test]
fn intact_and_empty_transcripts_verify() {
    assert_eq!(check(&transcript(5)).expect("intact").entries, 5);
    assert_eq!(check(&[]).expect("empty").head, GENESIS);
}

#[test]
fn edits_removals_swaps_insertions_and_cuts_are_named() {
    let good = transcript(5);
    let mut edited = good.clone();
    edited[2] = edited[2].replace("\"n\":2", "\"n\":9");
    assert!(reason(&edited).contains("entry 2 (line 3): content does not match"));

    let mut removed = good.clone();
    removed.remove(3);
    assert!(reason(&removed).contains("entry 3 (line 4): found entry with sequence number 4"));

    let mut swapped = good.clone();
    swapped.swap(1, 2);
    assert!(reason(&swapped).contains("entry 1 (line 2)"));

    let mut inserted = good.clone();
    inserted.insert(2, transcript(3)[2].clone());
    assert!(reason(&inserted).contains("entry 3 (line 4)"));

    let mut cut = good.clone();
    let last = cut.pop().expect("five lines");
    cut.push(last[..last.len() / 2].to_string());
    assert!(reason(&cut).contains("entry 4 (line 5): the final line is incomplete"));
}
