//! Tests of what transcript verification prints.

use super::*;
use crate::transcript::Summary;

fn verified(entries: u64, covered: u64, checked: bool) -> Verified {
    Verified {
        summary: Summary {
            entries,
            head: "ab".repeat(32),
            last_event: None,
            open_ceremony: None,
        },
        embedded: usize::from(covered > 0),
        last_checkpoint: covered.checked_sub(1),
        signatures_checked: checked,
        covered,
        recorded_key: None,
        restored_key: None,
        interrupted: vec![],
        interrupted_total: 0,
        skipped: None,
        cosigned: None,
    }
}

#[test]
fn coverage_counts_the_entries_after_the_covered_prefix() {
    assert_eq!(
        verified(21, 21, true).coverage(),
        "covered: all 21 entries are covered by a checkpoint"
    );
    assert_eq!(
        verified(23, 21, false).coverage(),
        "not covered: the last 2 entries (entries 21 to 22) are covered by no checkpoint, only by the hash chain"
    );
    assert_eq!(
        verified(22, 21, false).coverage(),
        "not covered: the last entry (entry 21) is covered by no checkpoint, only by the hash chain"
    );
    assert_eq!(
        verified(5, 0, false).coverage(),
        "not covered: the transcript holds no checkpoint; none of its 5 entries is covered by a signature"
    );
    assert_eq!(
        verified(0, 0, false).coverage(),
        "covered: the transcript is empty"
    );
}

#[test]
fn uncovered_entries_are_an_error_only_with_an_audit_key() {
    let t = Path::new("t.jsonl");
    assert_eq!(verified(23, 21, false).uncovered_error(t), None);
    assert_eq!(verified(21, 21, true).uncovered_error(t), None);
    assert_eq!(
        verified(23, 21, true)
            .uncovered_error(t)
            .expect("uncovered")
            .message,
        "transcript t.jsonl: the last 2 entries (entries 21 to 22) are covered by no signature of the audit key"
    );
}

#[test]
fn a_skipped_checkpoint_is_named_and_never_called_an_interruption() {
    let t = Path::new("t.jsonl");
    let mut v = verified(23, 21, true);
    let plain = v.uncovered_error(t).expect("uncovered").hint;
    assert!(plain.contains("an interrupted ceremony"), "{plain}");
    v.skipped = Some((
        22,
        "no audit key labelled \"ceremony-audit\" in the token".into(),
    ));
    let hint = v.uncovered_error(t).expect("still uncovered").hint;
    assert!(hint.contains("checkpoint_skipped"), "{hint}");
    assert!(!hint.contains("interrupted"), "{hint}");
    let shown = v.render(t, None, None);
    assert!(
        shown.contains("checkpoint skipped: the ceremony that ended at entry 22 signed no checkpoint (no audit key labelled \"ceremony-audit\" in the token); it ended, it was not interrupted"),
        "{shown}"
    );
    assert!(!shown.contains("interrupted: ceremony"), "{shown}");
}
