//! Tests for the request limits and how a message shows an oversized value.

use super::*;

#[test]
fn each_limit_names_the_value_and_the_bound() {
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_name = ["abcdefghij"; 26].join(".");
    let many: Vec<String> = (0..=MAX_SANS).map(|i| format!("n{i}")).collect();
    let dns_one = |d: &str| vec![d.to_string()];
    type Sans = Vec<String>;
    let cases: Vec<(Sans, Sans, Sans, Sans, &str)> = vec![
        (many, vec![], vec![], vec![], "the request lists 101 SANs, over the limit of 100"),
        (dns_one(&long_label), vec![], vec![], vec![], "SAN DNS:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa… has a label of 64 bytes, over the limit of 63"),
        (dns_one(&long_name), vec![], vec![], vec![], "SAN DNS:abcdefghij.abcdefghij.abcdefghij.abcdefg… is 285 bytes, over the limit of 253"),
        (vec![], vec!["1".repeat(46)], vec![], vec![], "SAN IP:1111111111111111111111111111111111111111… is 46 bytes, over the limit of 45"),
        (vec![], vec![], vec![format!("{}@x", "e".repeat(253))], vec![], "SAN email:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee… is 255 bytes, over the limit of 254"),
        (vec![], vec![], vec![], vec![format!("https://{}", "u".repeat(1017))], "SAN URI:https://uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu… is 1025 bytes, over the limit of 1024"),
    ];
    for (dns, ips, emails, uris, rule) in cases {
        let params = RequestParams {
            dns: &dns,
            ips: &ips,
            emails: &emails,
            uris: &uris,
            ..Default::default()
        };
        assert_eq!(check_params(&params).expect_err(rule), rule);
    }
    let node = "n".repeat(254);
    let params = RequestParams {
        node: Some(&node),
        ..Default::default()
    };
    assert_eq!(
        check_params(&params).expect_err("node"),
        "node name nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn… is 254 bytes, over the limit of 253"
    );
    // At the limits, accepted.
    let hundred: Vec<String> = (0..MAX_SANS).map(|i| format!("n{i}")).collect();
    let params = RequestParams {
        dns: &hundred,
        ..Default::default()
    };
    assert!(check_params(&params).is_ok());
}

#[test]
fn shown_cuts_on_a_character_boundary() {
    let s = format!("{}é{}", "a".repeat(39), "b".repeat(10));
    assert_eq!(shown(&s), format!("{}…", "a".repeat(39)));
    assert_eq!(shown("short"), "short");
}
