//! Bounds on what one request may ask for, checked before anything else
//! about it: when it is sealed, when its bundle is opened in the room, and
//! at the start of every profile check.
//!
//! They keep every message, manifest and transcript entry about a request
//! small (a transcript line must stay under `transcript::MAX_LINE`, or the
//! transcript breaks for good), and they are far above what a Kubernetes
//! certificate needs. A message about an oversized value quotes only its
//! start. Pure: no I/O.

use super::RequestParams;

/// SANs in one request, of every kind together.
pub const MAX_SANS: usize = 100;
/// Bytes in a DNS name (RFC 1035) and in a node name.
pub const MAX_DNS_NAME_LEN: usize = 253;
/// Bytes in one DNS label (RFC 1035).
pub const MAX_DNS_LABEL_LEN: usize = 63;
/// Bytes in an IP SAN as written (the longest IPv6 text is 45).
pub const MAX_IP_TEXT_LEN: usize = 45;
/// Bytes in an email SAN (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Bytes in a URI SAN.
pub const MAX_URI_LEN: usize = 1024;
/// Bytes in a profile name as a request writes it.
pub const MAX_PROFILE_NAME_LEN: usize = 63;
/// Bytes in a `kubeadm_path` or `kubeconfig` (the bundle's member path limit).
pub const MAX_FILE_NAME_LEN: usize = 255;

/// How much of an oversized value a message quotes.
const SHOWN: usize = 40;

/// The start of `value` for a message: whole when short, else its first
/// bytes (on a character boundary) and an ellipsis.
pub fn shown(value: &str) -> String {
    if value.len() <= SHOWN {
        return value.to_string();
    }
    let mut end = SHOWN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

/// Refuses a `field` longer than `max` bytes.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "{field} {} is {} bytes, over the limit of {max}",
            shown(value),
            value.len()
        ));
    }
    Ok(())
}

/// Checks a request's node name and SANs against the limits above.
pub fn check_params(params: &RequestParams<'_>) -> Result<(), String> {
    let count = params.dns.len() + params.ips.len() + params.emails.len() + params.uris.len();
    if count > MAX_SANS {
        return Err(format!(
            "the request lists {count} SANs, over the limit of {MAX_SANS}"
        ));
    }
    if let Some(node) = params.node {
        check_len("node name", node, MAX_DNS_NAME_LEN)?;
    }
    for d in params.dns {
        san_len("DNS", d, MAX_DNS_NAME_LEN)?;
        if let Some(label) = d.split('.').find(|l| l.len() > MAX_DNS_LABEL_LEN) {
            return Err(format!(
                "SAN DNS:{} has a label of {} bytes, over the limit of {MAX_DNS_LABEL_LEN}",
                shown(d),
                label.len()
            ));
        }
    }
    for i in params.ips {
        san_len("IP", i, MAX_IP_TEXT_LEN)?;
    }
    for e in params.emails {
        san_len("email", e, MAX_EMAIL_LEN)?;
    }
    for u in params.uris {
        san_len("URI", u, MAX_URI_LEN)?;
    }
    Ok(())
}

/// Refuses a SAN of `kind` longer than `max` bytes.
fn san_len(kind: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!(
            "SAN {kind}:{} is {} bytes, over the limit of {max}",
            shown(value),
            value.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
