//! Tests of choosing a token: labels, serials and RFC 7512 URIs, and what is refused.

use super::*;

fn id(label: &str, serial: &str) -> TokenIdentity {
    TokenIdentity {
        module: "m".into(),
        label: label.into(),
        manufacturer: "SoftHSM project".into(),
        model: "SoftHSM v2".into(),
        serial: serial.into(),
        hardware_version: None,
        firmware_version: None,
    }
}

#[test]
fn parses_token() {
    let sel = TokenSelector::parse_uri("pkcs11:token=ceremony").expect("valid uri");
    assert_eq!(sel.label.as_deref(), Some("ceremony"));
    assert!(sel.matches(&id("ceremony", "1")));
    assert!(!sel.matches(&id("other", "1")));
}

#[test]
fn decodes_percent_escapes_and_matches_all_attributes() {
    let sel = TokenSelector::parse_uri(
        "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=abc;token=my%20token",
    )
    .expect("valid uri");
    assert!(sel.matches(&id("my token", "abc")));
    assert!(!sel.matches(&id("my token", "abd")));
}

#[test]
fn refuses_pins_slots_and_unknowns() {
    for (uri, needle) in [
        ("pkcs11:token=a?pin-value=1234", "never taken from a URI"),
        ("pkcs11:token=a;pin-value=1234", "never taken from a URI"),
        ("pkcs11:slot-id=3", "slots change"),
        ("pkcs11:token=a;colour=blue", "\"colour\" is not supported"),
        ("pkcs11:manufacturer=x", "must name the token"),
        (
            "pkcs11:token=a;object=cluster-root-ca",
            "object names a key",
        ),
        ("pkcs:token=a", "must start with"),
        ("pkcs11:token=a;token=b", "appears twice"),
        ("pkcs11:token=%zz", "bad percent escape"),
    ] {
        let err = TokenSelector::parse_uri(uri).expect_err(uri).to_string();
        assert!(err.contains(needle), "{uri}: {err}");
        assert!(err.contains(uri), "error names the uri: {err}");
    }
}
