//! Tests of the request manifest: parsed piecewise it is the manifest parsed at once.

use super::*;
use proptest::prelude::*;

/// What `toml::from_str` makes of `text`, as text to compare.
fn at_once(text: &str) -> Result<String, String> {
    toml::from_str::<Manifest>(text)
        .map(|m| format!("{m:?}"))
        .map_err(|e| e.to_string())
}

/// What [`parse_manifest`] makes of `text`, as text to compare.
fn piecewise(text: &str) -> Result<String, String> {
    parse_manifest(text)
        .map(|m| format!("{m:?}"))
        .map_err(|e| e.to_string())
}

const ONE: &str = "[[request]]\nid = \"a\"\nprofile = \"scheduler\"\ncsr = \"a.csr\"\n";

#[test]
fn a_manifest_parsed_piecewise_is_the_same_manifest() {
    let text = format!(
            "# requests\n\n{ONE}dns = [\n  \"a\",\n  \"b\",\n]\n\r\n  [[request]]\t\r\nid = \"b\"\nprofile = \"kubelet-serving\"\ncsr = \"b.csr\"\nnode = \"n1\"\n{}",
            ONE.replace("\"a", "\"c")
        );
    let parsed = parse_manifest(&text).expect("parse");
    let ids: Vec<_> = parsed.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(piecewise(&text), at_once(&text));
}

#[test]
fn errors_are_those_of_the_whole_document() {
    let many = ONE.repeat(3);
    for text in [
        // Line numbers count from the top of the file, not the piece.
        format!("{many}{ONE}colour = \"red\"\n"),
        format!("{many}{ONE}validity_days = \"soon\"\n"),
        format!("{many}[[request]]\nid = \n"),
        format!("{many}{ONE}dns = [\n"),
        // Before the first request, only comments.
        format!("request = []\n{many}"),
        format!("title = \"x\"\n{many}"),
        // A table that is not a request.
        format!("{many}[other]\n"),
        format!("{many}[request.sub]\nx = 1\n"),
        // No request at all.
        "# nothing\n".to_string(),
    ] {
        let err = piecewise(&text).expect_err(&text);
        assert_eq!(Err(err), at_once(&text), "{text}");
    }
}

#[test]
fn a_request_line_inside_a_string_is_not_a_cut() {
    let text = format!(
        "{ONE}node = \"\"\"\n[[request]]\nid = \"x\"\n\"\"\"\n{}",
        ONE.replace("\"a", "\"b")
    );
    let parsed = parse_manifest(&text).expect("parse");
    let ids: Vec<_> = parsed.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(
        parsed.requests[0].node.as_deref(),
        Some("[[request]]\nid = \"x\"\n")
    );
    assert_eq!(piecewise(&text), at_once(&text));
}

fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "[[request]]\n",
        "  [[request]] \r\n",
        "[[request]] # c\n",
        "id = \"a\"\n",
        "profile = \"p\"\n",
        "csr = \"c.csr\"\n",
        "node = \"n\"\n",
        "dns = [\n",
        "\"x\",\n",
        "]\n",
        "uris = \"\"\"\n",
        "\"\"\"\n",
        "emails = '''\n",
        "'''\n",
        "# comment\n",
        "\n",
        "[request.sub]\n",
        "[other]\n",
        "x = 1\n",
        "request = []\n",
        "validity_days = 30\n",
        "ips = [\"10.0.0.1\"]\n",
    ])
}

proptest! {
    #[test]
    fn piecewise_parsing_agrees_with_parsing_at_once(
        fragments in proptest::collection::vec(fragment(), 0..24),
    ) {
        let text = fragments.concat();
        prop_assert_eq!(piecewise(&text), at_once(&text), "{}", text);
    }
}
