//! Certificate profiles: what a certificate of each kind must contain.
//!
//! A profile decides every extension; nothing a requester asks for is copied
//! into a certificate. This module is pure: no I/O, no token.

pub mod component;
mod issued;
pub mod limits;
mod link;
pub mod nodes;
mod root;

pub use component::{
    find, Approved, IntermediatePolicy, Issuer, Profile, Rejection, RequestParams, StepPolicy,
};
pub use issued::{cidr_bytes, subject_name, IssuedProfile};
pub use link::{subject_key_id, LinkProfile};
pub use nodes::{Network, NodeNames, NodeScope};
pub use root::RootProfile;

use spki::SubjectPublicKeyInfoRef;

/// Errors from profile construction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A subject string is not a valid RFC 4514 name, or is empty.
    #[error("subject {subject:?}: {reason}")]
    Subject {
        /// The subject string as given.
        subject: String,
        /// Why, naming the rule broken.
        reason: String,
    },
    /// A name constraint from the script is malformed.
    #[error("name constraint {value:?}: {reason}")]
    Constraint {
        /// The constraint as given.
        value: String,
        /// Why, naming the rule broken.
        reason: String,
    },
}

/// Appends the subject key identifier (of `spk`) and the authority key
/// identifier (`issuer_key_id`) to `exts`.
pub(crate) fn push_key_ids(
    exts: &mut Vec<x509_cert::ext::Extension>,
    subject: &x509_cert::name::Name,
    spk: &SubjectPublicKeyInfoRef<'_>,
    issuer_key_id: Vec<u8>,
) -> x509_cert::builder::Result<()> {
    use der::asn1::OctetString;
    use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
    use x509_cert::ext::ToExtension;
    let ski = SubjectKeyIdentifier(OctetString::new(key_identifier(spk))?);
    exts.push((&ski).to_extension(subject, exts)?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer_key_id)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    exts.push((&aki).to_extension(subject, exts)?);
    Ok(())
}

pub use crate::x509::key_identifier;

/// A kubeadm-tree path for an issued certificate: relative, at most
/// [`limits::MAX_FILE_NAME_LEN`] bytes, components of letters, digits, `-`,
/// `_` and `.` (never `.` or `..` alone, never empty), ending in `.crt`. The
/// same path is an output bundle member, so it must pass the bundle's rules.
pub fn check_kubeadm_path(path: &str) -> Result<(), String> {
    limits::check_len("kubeadm_path", path, limits::MAX_FILE_NAME_LEN)?;
    let plain = path.split('/').all(|c| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    if !plain || !path.ends_with(".crt") || path.ends_with("/.crt") || path == ".crt" {
        return Err(format!(
            "kubeadm_path {path:?} must be a relative path inside the kubeadm tree ending in .crt"
        ));
    }
    Ok(())
}

/// A kubeconfig file name in the kubeadm tree: a plain name ending in `.conf`.
pub fn check_kubeconfig_name(name: &str) -> Result<(), String> {
    limits::check_len("kubeconfig", name, limits::MAX_FILE_NAME_LEN)?;
    let plain = !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !plain || !name.ends_with(".conf") {
        return Err(format!(
            "kubeconfig {name:?} must be a plain file name in the kubeadm tree ending in .conf"
        ));
    }
    Ok(())
}
