//! The self-signed root CA profile: CA:TRUE (critical), keyCertSign and
//! cRLSign (critical), subject and authority key identifiers.

use std::str::FromStr;

use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::{key_identifier, push_key_ids, Error};

/// A self-signed root CA certificate.
#[derive(Debug, Clone)]
pub struct RootProfile {
    subject: Name,
    path_len: Option<u8>,
}

impl RootProfile {
    /// A root profile for `subject` (RFC 4514, e.g. `CN=kubernetes`).
    pub fn new(subject: &str, path_len: Option<u8>) -> Result<RootProfile, Error> {
        let bad = |reason: String| Error::Subject {
            subject: subject.to_string(),
            reason,
        };
        let name = Name::from_str(subject).map_err(|e| bad(e.to_string()))?;
        if name.is_empty() {
            return Err(bad("is empty".into()));
        }
        if name.common_name().ok().flatten().is_none() {
            return Err(bad("has no CN".into()));
        }
        Ok(RootProfile {
            subject: name,
            path_len,
        })
    }

    /// The basicConstraints pathLenConstraint, if any.
    pub fn path_len(&self) -> Option<u8> {
        self.path_len
    }

    /// The subject, RFC 4514.
    pub fn subject(&self) -> String {
        self.subject.to_string()
    }
}

impl BuilderProfile for RootProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut exts: Vec<Extension> = Vec::new();
        let bc = BasicConstraints {
            ca: true,
            path_len_constraint: self.path_len,
        };
        exts.push((&bc).to_extension(subject, &exts)?);
        let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        exts.push((&ku).to_extension(subject, &exts)?);
        // Self-signed: the authority key is the subject key.
        push_key_ids(&mut exts, subject, &spk, key_identifier(&spk))?;
        Ok(exts)
    }
}

#[cfg(test)]
mod tests;
