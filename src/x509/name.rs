//! RFC 4514 strings of names, as `x509_cert`'s `Display` makes them, but
//! without its search of the whole OID database for every attribute: that
//! search was a tenth of the time a batch spent outside signing and
//! verifying. The common attribute types are named from a short table;
//! any other attribute falls back to `x509_cert`'s own formatting, so the
//! string is always the same (a test holds the two to that).

use std::fmt::Write;

use der::asn1::{PrintableStringRef, Utf8StringRef};
use der::oid::db::rfc4519;
use der::oid::ObjectIdentifier;
use der::{Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

/// The short names `x509_cert` prints for the common attribute types.
const SHORT_NAMES: [(ObjectIdentifier, &str); 6] = [
    (rfc4519::CN, "CN"),
    (rfc4519::O, "O"),
    (rfc4519::OU, "OU"),
    (rfc4519::C, "C"),
    (rfc4519::L, "L"),
    (rfc4519::ST, "ST"),
];

/// `name` as an RFC 4514 string, equal to `name.to_string()`.
pub fn name_string(name: &Name) -> String {
    let mut out = String::with_capacity(64);
    let rdns: &RdnSequence = name.as_ref();
    let rdns: &Vec<RelativeDistinguishedName> = rdns.as_ref();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            push_atv(&mut out, atv);
        }
    }
    out
}

fn push_atv(out: &mut String, atv: &AttributeTypeAndValue) {
    let short = SHORT_NAMES.iter().find(|(oid, _)| *oid == atv.oid);
    let value = match atv.value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str()),
        Tag::Utf8String => Utf8StringRef::try_from(&atv.value).ok().map(|s| s.as_str()),
        _ => None,
    };
    let (Some((_, key)), Some(value)) = (short, value) else {
        let _ = write!(out, "{atv}");
        return;
    };
    out.push_str(key);
    out.push('=');
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x00'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\{:02x}", c as u8);
            }
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests;
