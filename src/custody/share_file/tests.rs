use super::*;
use crate::custody::vss::split;
use getrandom::SysRng;
use proptest::prelude::*;

fn sample(purpose: Purpose, custodian: &str, m: u8, n: u8, pick: u8) -> ShareFile {
    let secret = Scalar::from(0xc0ffee_u64);
    let (shares, commitments) = split(&secret, m, n, &mut SysRng).expect("split");
    ShareFile::new(
        purpose,
        custodian,
        n,
        commitments,
        shares[usize::from(pick % n)].clone(),
    )
    .expect("valid fields")
}

fn text() -> String {
    sample(Purpose::Backup, "alice", 2, 3, 1)
        .to_text()
        .to_string()
}

/// The text with the line starting `field: ` replaced by `line` (or removed when empty).
fn with_line(text: &str, field: &str, line: &str) -> String {
    text.lines()
        .filter_map(|l| {
            if l.starts_with(&format!("{field}: ")) {
                (!line.is_empty()).then(|| line.to_string())
            } else {
                Some(l.to_string())
            }
        })
        .map(|l| l + "\n")
        .collect()
}

fn field_value(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}: ")))
        .expect("field present")
        .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn text_round_trips(
        user_pin: bool,
        custodian in "[A-Za-z0-9][A-Za-z0-9 ._@-]{0,30}[A-Za-z0-9]",
        n in 1u8..=6,
        m_offset in 0u8..6,
        pick in 0u8..6,
    ) {
        let purpose = if user_pin { Purpose::UserPin } else { Purpose::Backup };
        let file = sample(purpose, &custodian, 1 + m_offset % n, n, pick);
        let read = ShareFile::parse(&file.to_text()).expect("own output");
        prop_assert_eq!(read.purpose(), purpose);
        prop_assert_eq!(read.custodian(), custodian.as_str());
        prop_assert_eq!(read.index(), file.index());
        prop_assert_eq!(read.threshold(), file.threshold());
        prop_assert_eq!(read.count(), n);
        prop_assert_eq!(read.commitments(), file.commitments());
        prop_assert_eq!(read.share().value, file.share().value);
        prop_assert_eq!(read.set_id(), file.commitments().fingerprint());
        prop_assert!(read.verify());
        prop_assert_eq!(read.to_text(), file.to_text());
    }
}

#[test]
fn the_text_is_the_documented_layout() {
    let file = sample(Purpose::UserPin, "Bob O'Neil", 2, 3, 2);
    let text = file.to_text();
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split_once(": ").expect("field line").0)
        .collect();
    assert_eq!(names, FIELDS);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ceremony-share/1");
    assert_eq!(lines[1], "purpose: user-pin");
    assert_eq!(
        lines[2],
        format!("set: {}", file.commitments().fingerprint())
    );
    assert_eq!(lines[3], "custodian: Bob O'Neil");
    assert_eq!(lines[4], "index: 3");
    assert_eq!(lines[5], "threshold: 2");
    assert_eq!(lines[6], "count: 3");
    assert_eq!(
        lines[7],
        format!("commitments: {}", file.commitments().to_hex())
    );
    assert_eq!(
        lines[8],
        format!(
            "value: {}",
            crate::hex::encode(&file.share().value.to_repr())
        )
    );
    assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
}

#[test]
fn a_missing_field_is_named() {
    let text = text();
    for field in FIELDS {
        assert_eq!(
            ShareFile::parse(&with_line(&text, field, "")).map(|_| ()),
            Err(ParseError::Missing { field }),
            "{field}"
        );
    }
}

#[test]
fn a_duplicate_field_is_named() {
    let text = text();
    for (i, field) in FIELDS.iter().enumerate() {
        let line = format!("{field}: {}", field_value(&text, field));
        let doubled = format!("{text}{line}\n");
        assert_eq!(
            ShareFile::parse(&doubled).map(|_| ()),
            Err(ParseError::Duplicate { field, line: 10 }),
            "{field} (line {})",
            i + 2
        );
    }
}

#[test]
fn fields_in_another_order_read_the_same() {
    let text = text();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    let reordered = lines.join("\n") + "\n";
    let read = ShareFile::parse(&reordered).expect("any order");
    assert_eq!(read.to_text().as_str(), text);
}

#[test]
fn the_layout_is_strict() {
    let text = text();
    let refused = |t: &str| ShareFile::parse(t).map(|_| ());
    assert_eq!(
        refused(&format!("{text}note: hello\n")),
        Err(ParseError::Unknown {
            field: "note".into(),
            line: 10
        })
    );
    assert_eq!(
        refused(&text.replacen("ceremony-share/1", "ceremony-share/2", 1)),
        Err(ParseError::FormatTag)
    );
    assert_eq!(
        refused(&text.replacen("ceremony-share/1\n", "", 1)),
        Err(ParseError::FormatTag)
    );
    assert_eq!(
        refused(""),
        Err(ParseError::Layout {
            rule: "does not end with exactly one newline"
        })
    );
    assert_eq!(
        refused(text.trim_end()),
        Err(ParseError::Layout {
            rule: "does not end with exactly one newline"
        })
    );
    assert_eq!(
        refused(&format!("{text}\n")),
        Err(ParseError::Layout {
            rule: "does not end with exactly one newline"
        })
    );
    assert_eq!(
        refused(&text.replace('\n', "\r\n")),
        Err(ParseError::Layout {
            rule: "holds a carriage return"
        })
    );
    assert_eq!(
        refused(&text.replacen("\npurpose: ", "\n\npurpose: ", 1)),
        Err(ParseError::Line { line: 2 })
    );
    assert_eq!(
        refused(&text.replacen("index: ", "index:", 1)),
        Err(ParseError::Line { line: 5 })
    );
    assert_eq!(
        refused(&text.replacen("index: ", "Index: ", 1)),
        Err(ParseError::Unknown {
            field: "Index".into(),
            line: 5
        })
    );
    assert_eq!(
        refused(&text.replacen("index: ", " index: ", 1)),
        Err(ParseError::Unknown {
            field: " index".into(),
            line: 5
        })
    );
}

fn invalid_field(text: &str) -> Option<&'static str> {
    match ShareFile::parse(text) {
        Err(ParseError::Invalid { field, .. }) => Some(field),
        _ => None,
    }
}

#[test]
fn a_bad_value_names_its_field() {
    let text = text();
    let value = field_value(&text, "value");
    let commitments = field_value(&text, "commitments");
    let order = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let cases: Vec<(&str, String)> = vec![
        ("purpose", "purpose: Backup".into()),
        ("purpose", "purpose: restore".into()),
        ("set", format!("set: {}", "0".repeat(64))),
        (
            "set",
            format!("set: {}", field_value(&text, "set").to_uppercase()),
        ),
        ("custodian", "custodian: ".into()),
        ("custodian", "custodian:  alice".into()),
        ("custodian", "custodian: alice ".into()),
        ("custodian", "custodian: ali\u{1b}[2Jce".into()),
        ("custodian", format!("custodian: {}", "a".repeat(65))),
        ("index", "index: 0".into()),
        ("index", "index: 4".into()),
        ("index", "index: 01".into()),
        ("index", "index: +1".into()),
        ("index", "index: 256".into()),
        ("threshold", "threshold: 3".into()),
        ("threshold", "threshold: 0".into()),
        ("count", "count: 1".into()),
        ("count", "count: 03".into()),
        (
            "commitments",
            format!("commitments: {}", commitments.to_uppercase()),
        ),
        ("commitments", format!("commitments: {commitments},")),
        ("value", format!("value: {}", value.to_uppercase())),
        ("value", format!("value: {}", &value[..62])),
        ("value", format!("value: {order}")),
        ("value", format!("value: {}", "f".repeat(64))),
    ];
    for (field, line) in cases {
        let changed = with_line(&text, field, &line);
        // A value whose case did not change (all digits) is not a test.
        if changed == text {
            continue;
        }
        // count 1 is below both the threshold 2 and the index 2: either is named.
        let named = invalid_field(&changed);
        if line == "count: 1" {
            assert!(
                matches!(named, Some("threshold" | "index")),
                "{line:?}: {named:?}"
            );
        } else {
            assert_eq!(named, Some(field), "{line:?}");
        }
    }
}

#[test]
fn commitments_changed_with_their_set_id_still_parse_but_do_not_verify() {
    // The text checks consistency, not truth: another set's commitments with
    // its own set id read, and the share then fails verification (the
    // caller compares the set id with the one the ceremony recorded).
    let text = text();
    let other = sample(Purpose::Backup, "alice", 2, 3, 1);
    let swapped = with_line(
        &with_line(
            &text,
            "commitments",
            &format!("commitments: {}", other.commitments().to_hex()),
        ),
        "set",
        &format!("set: {}", other.set_id()),
    );
    let read = ShareFile::parse(&swapped).expect("consistent fields");
    assert_eq!(read.set_id(), other.set_id());
    assert!(!read.verify());
}

#[test]
fn new_checks_the_fields() {
    let (shares, commitments) = split(&Scalar::from(7u64), 2, 3, &mut SysRng).expect("split");
    let new = |name: &str, n: u8, i: usize| {
        ShareFile::new(
            Purpose::Backup,
            name,
            n,
            commitments.clone(),
            shares[i].clone(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    assert_eq!(new("carol", 3, 2), Ok(()));
    assert_eq!(
        new("", 3, 0),
        Err("field custodian: must be 1 to 64 characters".into())
    );
    assert_eq!(new("carol", 0, 0), Err("field count: is 0".into()));
    assert_eq!(
        new("carol", 1, 0),
        Err("field threshold: 2 is over the count 1".into())
    );
    assert_eq!(
        new("carol", 2, 2),
        Err("field index: 3 is not within 1 to the count 2".into())
    );
}

#[test]
fn debug_never_shows_the_share_value() {
    let file = sample(Purpose::Backup, "alice", 2, 3, 0);
    let printed = format!("{file:?}");
    assert!(printed.contains("[redacted]"));
    assert!(!printed.contains(&crate::hex::encode(&file.share().value.to_repr())));
}
