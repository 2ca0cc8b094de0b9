//! Which token a ceremony talks to: by label, by serial, or by an RFC 7512
//! `pkcs11:` URI. Never by slot number, which changes between runs.

use std::fmt;

use super::{Error, Result, TokenIdentity};

/// Identifies exactly one token. Every attribute that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSelector {
    /// Token label (`token=` in a URI).
    pub label: Option<String>,
    /// Token serial number (`serial=`).
    pub serial: Option<String>,
    /// Token manufacturer (`manufacturer=`).
    pub manufacturer: Option<String>,
    /// Token model (`model=`).
    pub model: Option<String>,
}

impl TokenSelector {
    /// A selector from a label and/or serial. At least one must be given.
    pub fn new(label: Option<String>, serial: Option<String>) -> Option<TokenSelector> {
        if label.is_none() && serial.is_none() {
            return None;
        }
        Some(TokenSelector {
            label,
            serial,
            ..TokenSelector::default()
        })
    }

    /// Parses an RFC 7512 URI such as `pkcs11:token=ceremony;object=cluster-root-ca`.
    ///
    /// Path attributes `token`, `serial`, `manufacturer` and `model` are
    /// understood. `object`, `id` and `type` are refused: a script names its
    /// keys in its steps, and nothing in a URI is silently ignored.
    /// `pin-value` and `pin-source` are refused because a PIN never travels
    /// in a URI; slot attributes because slots change between runs.
    pub fn parse_uri(uri: &str) -> Result<TokenSelector> {
        let bad = |reason: String| Error::Uri {
            uri: uri.to_string(),
            reason,
        };
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("must start with \"pkcs11:\"".into()))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        if let Some(query) = query {
            if let Some(attr) = query.split('&').find(|a| !a.is_empty()) {
                let name = attr.split_once('=').map_or(attr, |(n, _)| n);
                return Err(bad(match name {
                    "pin-value" | "pin-source" => {
                        "a PIN is never taken from a URI; use --pin-file, --pin-fd or the prompt"
                            .into()
                    }
                    other => format!("query attribute {other:?} is not supported"),
                }));
            }
        }
        let mut sel = TokenSelector::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, raw) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("attribute {attr:?} has no '='")))?;
            let value = percent_decode(raw).map_err(|r| bad(format!("attribute {name}: {r}")))?;
            let slot = match name {
                "token" => &mut sel.label,
                "serial" => &mut sel.serial,
                "manufacturer" => &mut sel.manufacturer,
                "model" => &mut sel.model,
                "object" | "id" | "type" => {
                    return Err(bad(format!(
                        "{name} names a key; a ceremony script names its keys in its steps (key_label)"
                    )))
                }
                "pin-value" | "pin-source" => {
                    return Err(bad(
                        "a PIN is never taken from a URI; use --pin-file, --pin-fd or the prompt"
                            .into(),
                    ))
                }
                "slot-id" | "slot-description" | "slot-manufacturer" => {
                    return Err(bad(format!(
                        "{name} is not accepted: slots change between runs; name the token by label or serial"
                    )))
                }
                other => return Err(bad(format!("attribute {other:?} is not supported"))),
            };
            if slot.replace(value).is_some() {
                return Err(bad(format!("attribute {name} appears twice")));
            }
        }
        if sel.label.is_none() && sel.serial.is_none() {
            return Err(bad("must name the token with token= or serial=".into()));
        }
        Ok(sel)
    }

    /// True when every attribute this selector sets equals the token's.
    pub fn matches(&self, id: &TokenIdentity) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.label, &id.label)
            && eq(&self.serial, &id.serial)
            && eq(&self.manufacturer, &id.manufacturer)
            && eq(&self.model, &id.model)
    }
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (name, value) in [
            ("label", &self.label),
            ("serial", &self.serial),
            ("manufacturer", &self.manufacturer),
            ("model", &self.model),
        ] {
            if let Some(v) = value {
                parts.push(format!("{name} {v:?}"));
            }
        }
        f.write_str(&parts.join(", "))
    }
}

fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests;
