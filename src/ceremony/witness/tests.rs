//! Tests of how an acknowledgement line is judged: only the name and the
//! code, white space collapsed; a wrong line says what did not match and
//! never quotes what was typed.

use super::*;

const NAME: &str = "Demo Witness Two";
const CODE: &str = "76e4df8a";

#[test]
fn the_name_and_the_code_acknowledge_with_white_space_collapsed() {
    for line in [
        "Demo Witness Two 76e4df8a",
        "  Demo   Witness Two\t76e4df8a ",
    ] {
        assert_eq!(judge(line, NAME, CODE), Answer::Acknowledged, "{line:?}");
    }
    assert_eq!(
        judge("Bob 76e4df8a", "Bob ", CODE),
        Answer::Acknowledged,
        "the script's name is collapsed too"
    );
}

#[test]
fn abort_in_any_case_aborts() {
    for line in ["abort", "ABORT", " Abort "] {
        assert_eq!(judge(line, NAME, CODE), Answer::Abort, "{line:?}");
    }
}

#[test]
fn a_wrong_line_says_what_did_not_match_without_quoting_it() {
    let cases = [
        ("", "the line was empty"),
        ("   ", "the line was empty"),
        (
            "Demo Witness Two 76e4df8",
            "the name matches but the code is not this step's code",
        ),
        (
            "Demo Witness Two",
            "neither the witness's name nor this step's code was typed as asked",
        ),
        (
            "Demo Witness 2 76e4df8a",
            "the code matches but the name is not the witness's name as the script spells it",
        ),
        (
            "demo witness two 76e4df8a",
            "the code matches but the name is not the witness's name as the script spells it",
        ),
        (
            "Demo Witness Two 76E4DF8A",
            "the name matches but the code is not this step's code",
        ),
        (
            "Demo Witness Two Extra 76e4df8a",
            "the code matches but the name is not the witness's name as the script spells it",
        ),
        (
            "hunter2",
            "neither the witness's name nor this step's code was typed as asked",
        ),
        (
            "Demo Witness Two76e4df8a",
            "neither the witness's name nor this step's code was typed as asked",
        ),
    ];
    for (line, why) in cases {
        let Answer::Wrong(reason) = judge(line, NAME, CODE) else {
            panic!("{line:?} was not judged wrong");
        };
        assert_eq!(reason, why, "{line:?}");
        if !line.trim().is_empty() {
            assert!(!reason.contains(line.trim()), "{reason} quotes {line:?}");
        }
    }
}
