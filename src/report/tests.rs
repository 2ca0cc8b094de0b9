//! Tests of the ceremony report: everything from the transcript is HTML-escaped.

use super::*;

#[test]
fn html_escapes_everything_from_the_transcript() {
    assert_eq!(esc("<script>&\"x\""), "&lt;script&gt;&amp;&quot;x&quot;");
    assert_eq!(md_cell("a|b\nc"), "a\\|b c");
}
