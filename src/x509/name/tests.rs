//! Tests of RFC 4514 name strings.

use std::str::FromStr;

use der::asn1::{Any, SetOfVec};

use super::*;

fn atv(oid: ObjectIdentifier, tag: Tag, value: &str) -> AttributeTypeAndValue {
    AttributeTypeAndValue {
        oid,
        value: Any::new(tag, value.as_bytes()).expect("value"),
    }
}

#[test]
fn matches_the_display_of_x509_cert() {
    let parsed = [
        "CN=system:node:n00001,O=system:nodes",
        "CN=kubernetes",
        "CN=etcd-ca,OU=Platform,O=Example\\, Inc.,L=Paris,ST=IDF,C=FR",
        "CN=a+O=b",
        "CN=\\#hash\\ ,O=\\ lead",
        "CN=x\\;y\\<z\\>\\\"q\\\\",
        "UID=someone,DC=example,DC=org",
    ];
    for s in parsed {
        let name = Name::from_str(s).expect(s);
        assert_eq!(name_string(&name), name.to_string(), "{s}");
    }
    // Value types the table does not take, control characters, and an
    // attribute outside the table.
    let rdns = [
        atv(rfc4519::CN, Tag::Utf8String, "tab\there\u{7f}"),
        atv(rfc4519::O, Tag::PrintableString, "Org"),
        atv(rfc4519::CN, Tag::Ia5String, "ia5"),
        atv(rfc4519::SERIAL_NUMBER, Tag::PrintableString, "42"),
        atv(rfc4519::C, Tag::PrintableString, " "),
        atv(rfc4519::L, Tag::Utf8String, "Zürich"),
    ];
    let rdns: Vec<RelativeDistinguishedName> = rdns
        .into_iter()
        .map(|a| SetOfVec::try_from(vec![a]).expect("set").into())
        .collect();
    let der = der::Encode::to_der(&RdnSequence::from(rdns)).expect("encode");
    let name = <Name as der::Decode>::from_der(&der).expect("decode");
    assert_eq!(name_string(&name), name.to_string());
}
