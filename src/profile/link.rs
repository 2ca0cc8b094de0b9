//! The link (cross-signed) CA profile: another root's subject and public
//! key certified by an existing root, so that what the other root signs
//! chains to the existing one too.
//!
//! Everything but the issuer, the authority key identifier, the serial and
//! the validity is the other root's own: its subject, its subject key
//! identifier (so that paths build through either certificate), its
//! basicConstraints (CA:TRUE, its pathLen) and keyCertSign with cRLSign.
//! The rules a pair must keep ([`LinkProfile::new`]) are the ones a chain
//! needs: the two roots differ in key and in key identifier.

use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfoRef;
use x509_cert::Certificate;

use super::key_identifier;

/// A certificate for another root, issued by an existing root.
#[derive(Debug, Clone)]
pub struct LinkProfile {
    subject: Name,
    issuer: Name,
    subject_key_id: Vec<u8>,
    issuer_key_id: Vec<u8>,
    path_len: Option<u8>,
}

/// A certificate's subject key identifier: its extension's, or computed
/// from its key as this tool computes it when it has none.
pub fn subject_key_id(cert: &Certificate) -> Result<Vec<u8>, String> {
    use der::{Decode, Encode};
    if let Ok(Some((_, ski))) = cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
    {
        return Ok(ski.0.as_bytes().to_vec());
    }
    let der = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| format!("its public key does not encode: {e}"))?;
    let spki = SubjectPublicKeyInfoRef::from_der(&der)
        .map_err(|e| format!("its public key does not decode: {e}"))?;
    Ok(key_identifier(&spki))
}

impl LinkProfile {
    /// The link from `issuer` (the existing root, which signs) to
    /// `subject` (the other root, whose subject and key it certifies).
    /// Refuses a subject that is not a CA, or one whose key or key
    /// identifier is the issuer's (a link would then be a loop).
    pub fn new(issuer: &Certificate, subject: &Certificate) -> Result<LinkProfile, String> {
        let (itbs, stbs) = (issuer.tbs_certificate(), subject.tbs_certificate());
        let bc = match stbs.get_extension::<BasicConstraints>() {
            Ok(Some((_, bc))) if bc.ca => bc,
            _ => return Err("is not a CA certificate (no basicConstraints CA:TRUE)".into()),
        };
        if itbs.subject_public_key_info() == stbs.subject_public_key_info() {
            return Err("has the issuer's own public key".into());
        }
        let own_id = subject_key_id(subject)?;
        let issuer_id = subject_key_id(issuer).map_err(|e| format!("issuer: {e}"))?;
        if own_id == issuer_id {
            return Err(format!(
                "has the issuer's subject key identifier ({}): chains could not tell the two roots apart",
                crate::hex::encode(&own_id)
            ));
        }
        Ok(LinkProfile {
            subject: stbs.subject().clone(),
            issuer: itbs.subject().clone(),
            subject_key_id: own_id,
            issuer_key_id: issuer_id,
            path_len: bc.path_len_constraint,
        })
    }

    /// The subject, RFC 4514.
    pub fn subject(&self) -> String {
        self.subject.to_string()
    }

    /// The issuer, RFC 4514.
    pub fn issuer(&self) -> String {
        self.issuer.to_string()
    }

    /// The basicConstraints pathLenConstraint, if any.
    pub fn path_len(&self) -> Option<u8> {
        self.path_len
    }
}

impl BuilderProfile for LinkProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        use der::asn1::OctetString;
        let subject = tbs.subject();
        let mut exts: Vec<Extension> = Vec::new();
        let bc = BasicConstraints {
            ca: true,
            path_len_constraint: self.path_len,
        };
        exts.push((&bc).to_extension(subject, &exts)?);
        let ku = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
        exts.push((&ku).to_extension(subject, &exts)?);
        let ski = SubjectKeyIdentifier(OctetString::new(self.subject_key_id.clone())?);
        exts.push((&ski).to_extension(subject, &exts)?);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(self.issuer_key_id.clone())?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        exts.push((&aki).to_extension(subject, &exts)?);
        Ok(exts)
    }
}

#[cfg(test)]
mod tests;
