//! What the steps that sign with an existing CA share: its certificate
//! loaded from disk (before the token), and its key found in the token and
//! matched to that certificate (with it).

use std::borrow::Cow;
use std::time::SystemTime;

use std::path::PathBuf;

use der::{DecodePem, Encode, EncodePem};
use serde::Deserialize;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use super::super::step::Context;
use super::super::Error;
use crate::events::Event;
use crate::token::{KeyRecord, SignatureHash};
use crate::x509;

/// One CA: its key in the token and its certificate on disk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpec {
    /// `CKA_LABEL` of the CA key in the token.
    pub key_label: String,
    /// The CA certificate (PEM), relative to the current directory.
    pub certificate: PathBuf,
    /// Digest for RSA signatures (default sha256); not allowed for ECDSA.
    pub hash: Option<SignatureHash>,
}

/// A CA certificate loaded from disk for a signing step.
#[derive(Debug)]
pub struct LoadedIssuer {
    /// The script's settings for it.
    pub spec: IssuerSpec,
    /// The certificate.
    pub cert: Certificate,
    /// The certificate as PEM, for the output bundle.
    pub pem: String,
    /// Its notAfter.
    pub not_after: SystemTime,
}

/// Loads a PEM CA certificate and checks it is a CA; `role` names it in errors.
pub(super) fn load_issuer(role: &str, spec: &IssuerSpec) -> Result<LoadedIssuer, String> {
    let path = &spec.certificate;
    let what = format!("issuer {role} certificate {}", path.display());
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{what}: {e}"))?;
    let cert = Certificate::from_pem(pem.as_bytes())
        .map_err(|e| format!("{what}: not a PEM certificate: {e}"))?;
    let is_ca = matches!(
        cert.tbs_certificate().get_extension::<BasicConstraints>(),
        Ok(Some((_, bc))) if bc.ca
    );
    if !is_ca {
        return Err(format!(
            "{what}: not a CA certificate (no basicConstraints CA:TRUE)"
        ));
    }
    let not_after = cert.tbs_certificate().validity().not_after.to_system_time();
    let pem = cert
        .to_pem(der::pem::LineEnding::LF)
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(LoadedIssuer {
        spec: spec.clone(),
        cert,
        pem,
        not_after,
    })
}

/// Finds an issuing CA's key in the token, checks its attributes and that
/// `cert` is its certificate, and records `issuer_checked`. A missing key
/// or a certificate of another key is a refusal.
pub(super) fn check_issuer(
    cx: &mut Context<'_>,
    role: &'static str,
    spec: &IssuerSpec,
    cert: &Certificate,
) -> Result<KeyRecord, Error> {
    let token = cx.token();
    let label = &spec.key_label;
    let key = match token.find_key(label) {
        Ok(k) => k,
        Err(crate::token::Error::KeyNotFound { .. }) => {
            return Err(cx.refuse(vec![format!(
                "issuer {role}: no key labelled {label:?} in token {:?}",
                token.identity().label
            )
            .into()]))
        }
        Err(e) => return Err(e.into()),
    };
    key.check_policy(&token.identity().label)?;
    let cert_spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| x509::Error::Der {
            what: spec.certificate.display().to_string(),
            reason: e.to_string(),
        })?;
    if cert_spki != key.spki_der {
        return Err(cx.refuse(vec![format!(
            "issuer {role}: certificate {} does not belong to key {label:?} in the token",
            spec.certificate.display()
        )
        .into()]));
    }
    let step = cx.step().to_string();
    cx.record(&Event::IssuerChecked {
        step: Cow::Borrowed(&step),
        issuer: Cow::Borrowed(role),
        key_label: Cow::Borrowed(label),
        certificate: spec.certificate.display().to_string(),
        subject: cert.tbs_certificate().subject().to_string(),
        spki_sha256: Cow::Borrowed(&key.spki_sha256),
    })?;
    Ok(key)
}
