//! Property tests of transcript lines: a rendered line splits back into its parts.

use super::*;
use proptest::prelude::*;

proptest! {
    // Any event renders to a line that splits back into the same body and hash.
    #[test]
    fn rendered_lines_split_back(seq in any::<u64>(), text in ".*", n in any::<i64>()) {
        let event = serde_json::json!({"type": "note", "text": text, "n": n});
        let (line, hash) = render_line(seq, "2026-01-01T00:00:00Z", GENESIS, &event).expect("render");
        prop_assert!(line.ends_with('\n'));
        prop_assert_eq!(line.matches('\n').count(), 1);
        let (body, stated) = split_line(line.trim_end_matches('\n')).expect("split");
        prop_assert_eq!(stated, hash.as_str());
        prop_assert_eq!(hex::encode(&Sha256::digest(body.as_bytes())), hash);
        let parsed: Body<serde_json::Value> = serde_json::from_str(&body).expect("json");
        prop_assert_eq!(parsed.seq, seq);
        prop_assert_eq!(parsed.event, event);
    }
}
