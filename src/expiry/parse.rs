//! What a file holds: the certificates in a `*.crt` file (PEM, one or more
//! certificates, or a single DER certificate) and the client certificates
//! embedded in a kubeconfig `*.conf` file
//! (`users[].user.client-certificate-data`), each reduced to its subject,
//! issuer, CA flag and notAfter, and the parts that say who signed it
//! ([`Signed`]).
//!
//! Pure: it works on bytes already read and does no I/O. It refuses a file
//! that holds a private key, never deserializes or keeps a kubeconfig's
//! `client-key-data`, and redacts the values a YAML error quotes (one may be
//! a key).

use base64ct::Encoding;
use der::{Decode, Encode};
use serde::Deserialize;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::name::Name;
use x509_cert::Certificate;

/// What a certificate tells: the parts of an [`Entry`](super::Entry) that do not depend on `now`.
pub(super) struct Summary {
    pub(super) subject: String,
    pub(super) issuer: String,
    pub(super) is_ca: bool,
    pub(super) not_after: der::DateTime,
    pub(super) signed: Signed,
}

/// The DER parts of a certificate that say who signed it: enough to check
/// its signature against another certificate's key.
#[derive(Debug, Clone)]
pub(super) struct Signed {
    /// The subject Name, DER.
    pub(super) subject: Vec<u8>,
    /// The issuer Name, DER.
    pub(super) issuer: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER.
    pub(super) spki: Vec<u8>,
    /// The TBSCertificate, DER: what the signature covers.
    pub(super) tbs: Vec<u8>,
    /// The signature algorithm.
    pub(super) algorithm: AlgorithmIdentifierOwned,
    /// The signature bytes.
    pub(super) signature: Vec<u8>,
}

/// One certificate read from a file, or why it could not be.
pub(super) struct Item {
    pub(super) user: Option<String>,
    pub(super) result: std::result::Result<Summary, String>,
}

/// The certificates in a `.crt` file or a `client-certificate-data`: PEM
/// blocks (text around them is ignored) or, with no PEM block, one DER
/// certificate. An error is about the whole input.
pub(super) fn certificates(
    bytes: &[u8],
) -> std::result::Result<Vec<std::result::Result<Summary, String>>, String> {
    if crate::x509::holds_private_key(bytes) {
        return Err(
            "holds a private key; a certificate file must hold only certificates (nothing from it is shown)"
                .into(),
        );
    }
    if bytes.trim_ascii().is_empty() {
        return Err("empty, no certificate".into());
    }
    let blocks = pem_blocks(bytes);
    if blocks.is_empty() {
        if bytes.first() != Some(&0x30) {
            return Err("neither PEM (no -----BEGIN line) nor a DER certificate".into());
        }
        return Ok(vec![summarise(bytes)]);
    }
    Ok(blocks
        .into_iter()
        .map(|block| match der::pem::decode_vec(block) {
            _ if !block.windows(9).any(|w| w == b"-----END ") => {
                Err("PEM: no -----END line, the file is cut short".into())
            }
            Ok(("CERTIFICATE", der)) => summarise(&der),
            Ok((label, _)) => Err(format!("PEM label is {label:?}, not CERTIFICATE")),
            Err(e) => Err(format!("PEM: {e}")),
        })
        .collect())
}

/// Each `-----BEGIN` … `-----END …-----` block, through the end of its END line.
fn pem_blocks(bytes: &[u8]) -> Vec<&[u8]> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut blocks = Vec::new();
    let mut rest = bytes;
    while let Some(start) = find(rest, b"-----BEGIN ") {
        let block = &rest[start..];
        let stop = find(block, b"-----END ")
            .and_then(|end| find(&block[end..], b"\n").map(|nl| end + nl + 1))
            .unwrap_or(block.len());
        blocks.push(&block[..stop]);
        rest = &block[stop..];
    }
    blocks
}

/// Summarises one DER certificate.
fn summarise(der: &[u8]) -> std::result::Result<Summary, String> {
    let cert =
        Certificate::from_der(der).map_err(|e| format!("not a valid DER certificate: {e}"))?;
    let tbs = cert.tbs_certificate();
    let is_ca = match tbs.get_extension::<BasicConstraints>() {
        Ok(found) => found.is_some_and(|(_, bc)| bc.ca),
        Err(e) => return Err(format!("basicConstraints: {e}")),
    };
    let encode = |what: &str, r: der::Result<Vec<u8>>| r.map_err(|e| format!("{what}: {e}"));
    let signed = Signed {
        subject: encode("subject", tbs.subject().to_der())?,
        issuer: encode("issuer", tbs.issuer().to_der())?,
        spki: encode(
            "subjectPublicKeyInfo",
            tbs.subject_public_key_info().to_der(),
        )?,
        tbs: encode("tbsCertificate", tbs.to_der())?,
        algorithm: cert.signature_algorithm().clone(),
        signature: cert.signature().raw_bytes().to_vec(),
    };
    Ok(Summary {
        subject: common_name(tbs.subject()),
        issuer: common_name(tbs.issuer()),
        is_ca,
        not_after: tbs.validity().not_after.to_date_time(),
        signed,
    })
}

/// The first CN of `name`, or the whole name (RFC 4514) when there is none.
fn common_name(name: &Name) -> String {
    match name.common_name() {
        Ok(Some(cn)) => cn.value().into_owned(),
        _ => name.to_string(),
    }
}

/// The parts of a kubeconfig read: `kind` and each user's certificate, nothing else.
#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
}

/// One `users[]` element.
#[derive(Deserialize)]
struct NamedUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    user: Option<UserCertificate>,
}

/// The one field read from `users[].user`; `client-key-data` is skipped unread.
#[derive(Deserialize)]
struct UserCertificate {
    #[serde(rename = "client-certificate-data", default)]
    client_certificate_data: Option<String>,
}

/// The client certificates embedded in a kubeconfig. A user without
/// `client-certificate-data` (one naming a file, or using a token) is skipped.
pub(super) fn kubeconfig(bytes: &[u8]) -> std::result::Result<Vec<Item>, String> {
    // yaml_serde names the field (`users[0].user…`) and the line; serde
    // quotes the offending value, which may be a key: never show it.
    let config: Kubeconfig = yaml_serde::from_slice(bytes)
        .map_err(|e| format!("not a kubeconfig: {}", redact_quoted(&e.to_string())))?;
    if config.kind.as_deref().is_some_and(|k| k != "Config") {
        return Err("not a kubeconfig: kind is not Config".into());
    }
    let mut items = Vec::new();
    for (i, named) in config.users.unwrap_or_default().into_iter().enumerate() {
        let Some(data) = named.user.and_then(|u| u.client_certificate_data) else {
            continue;
        };
        let user = named.name.unwrap_or_else(|| format!("users[{i}]"));
        let compact: String = data.split_ascii_whitespace().collect();
        let certs = base64ct::Base64::decode_vec(&compact)
            .map_err(|_| "client-certificate-data is not base64".to_string())
            .and_then(|pem| certificates(&pem));
        match certs {
            Ok(certs) => items.extend(certs.into_iter().map(|result| Item {
                user: Some(user.clone()),
                result,
            })),
            Err(reason) => items.push(Item {
                user: Some(user),
                result: Err(reason),
            }),
        }
    }
    Ok(items)
}

/// `msg` with every double- or back-quoted span replaced by `"…"`.
pub(super) fn redact_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        if c != '"' && c != '`' {
            out.push(c);
            continue;
        }
        out.push(c);
        out.push('…');
        out.push(c);
        let mut escaped = false;
        for inner in chars.by_ref() {
            match inner {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if inner == c => break,
                _ => {}
            }
        }
    }
    out
}
