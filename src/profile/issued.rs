//! The certificate an approved request becomes: subject, SANs, key usage,
//! EKU, basic constraints and name constraints, all from the profile and the
//! manifest, never from the CSR's requested extensions.

use std::net::IpAddr;

use der::asn1::{Ia5String, OctetString, SetOfVec, Utf8StringRef};
use der::Any;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::constraints::name::{GeneralSubtree, NameConstraints};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::spki::SubjectPublicKeyInfoRef;
use x509_cert::Certificate;

use super::component::{Approved, IntermediatePolicy};
use super::{key_identifier, push_key_ids, Error};
use crate::oid::{AT_COMMON_NAME, AT_ORGANIZATION};

/// A certificate issued by a CA certificate to an approved request.
#[derive(Debug, Clone)]
pub struct IssuedProfile {
    subject: Name,
    issuer: Name,
    issuer_key_id: Vec<u8>,
    approved: Approved,
    name_constraints: Option<NameConstraints>,
}

impl IssuedProfile {
    /// The profile for `approved`, issued by `issuer`. Name constraints from
    /// `intermediate` apply when `approved` is a CA.
    pub fn new(
        approved: &Approved,
        issuer: &Certificate,
        intermediate: &IntermediatePolicy,
    ) -> Result<IssuedProfile, Error> {
        let subject = subject_name(&approved.cn, &approved.orgs)?;
        let tbs = issuer.tbs_certificate();
        let issuer_key_id = match tbs.get_extension::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => ski.0.as_bytes().to_vec(),
            _ => key_identifier(&tbs.subject_public_key_info().owned_to_ref_spki()),
        };
        let name_constraints = match approved.ca_path_len {
            Some(_) => name_constraints(intermediate)?,
            None => None,
        };
        Ok(IssuedProfile {
            subject,
            issuer: tbs.subject().clone(),
            issuer_key_id,
            approved: approved.clone(),
            name_constraints,
        })
    }

    /// The subject, RFC 4514.
    pub fn subject(&self) -> String {
        self.subject.to_string()
    }
}

trait OwnedToRefSpki {
    fn owned_to_ref_spki(&self) -> SubjectPublicKeyInfoRef<'_>;
}

impl OwnedToRefSpki for x509_cert::spki::SubjectPublicKeyInfoOwned {
    fn owned_to_ref_spki(&self) -> SubjectPublicKeyInfoRef<'_> {
        use der::referenced::OwnedToRef;
        self.owned_to_ref()
    }
}

/// `O=…,CN=…` in the order kubeadm writes it (O before CN), as UTF8Strings.
pub fn subject_name(cn: &str, orgs: &[String]) -> Result<Name, Error> {
    let bad = |reason: String| Error::Subject {
        subject: format!("CN={cn}"),
        reason,
    };
    let atv = |oid, value: &str| -> Result<RelativeDistinguishedName, Error> {
        let s = Utf8StringRef::new(value).map_err(|e| bad(e.to_string()))?;
        let mut set = SetOfVec::new();
        set.insert(AttributeTypeAndValue {
            oid,
            value: Any::from(s),
        })
        .map_err(|e| bad(e.to_string()))?;
        Ok(RelativeDistinguishedName::from(set))
    };
    let mut rdns = RdnSequence::default();
    for o in orgs {
        rdns.push(atv(AT_ORGANIZATION, o)?);
    }
    rdns.push(atv(AT_COMMON_NAME, cn)?);
    let der = der::Encode::to_der(&rdns).map_err(|e| bad(e.to_string()))?;
    <Name as der::Decode>::from_der(&der).map_err(|e| bad(e.to_string()))
}

fn name_constraints(p: &IntermediatePolicy) -> Result<Option<NameConstraints>, Error> {
    let subtree = |base: GeneralName| GeneralSubtree {
        base,
        minimum: 0,
        maximum: None,
    };
    let dns = |names: &[String]| -> Result<Vec<GeneralSubtree>, Error> {
        names
            .iter()
            .map(|n| {
                Ia5String::new(n)
                    .map(|s| subtree(GeneralName::DnsName(s)))
                    .map_err(|e| Error::Constraint {
                        value: n.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect()
    };
    let ips = |cidrs: &[String]| -> Result<Vec<GeneralSubtree>, Error> {
        cidrs
            .iter()
            .map(|c| {
                let bytes = cidr_bytes(c).map_err(|reason| Error::Constraint {
                    value: c.clone(),
                    reason,
                })?;
                OctetString::new(bytes)
                    .map(|o| subtree(GeneralName::IpAddress(o)))
                    .map_err(|e| Error::Constraint {
                        value: c.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect()
    };
    let mut permitted = dns(&p.permitted_dns)?;
    permitted.extend(ips(&p.permitted_ips)?);
    let mut excluded = dns(&p.excluded_dns)?;
    excluded.extend(ips(&p.excluded_ips)?);
    if permitted.is_empty() && excluded.is_empty() {
        return Ok(None);
    }
    Ok(Some(NameConstraints {
        permitted_subtrees: (!permitted.is_empty()).then_some(permitted),
        excluded_subtrees: (!excluded.is_empty()).then_some(excluded),
    }))
}

/// A CIDR (`10.0.0.0/8`, `fd00::/8`) as name-constraint bytes: address then mask.
pub fn cidr_bytes(cidr: &str) -> Result<Vec<u8>, String> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| "must be an address/prefix-length, e.g. 10.0.0.0/8".to_string())?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let len: u32 = len
        .parse()
        .map_err(|_| format!("{len:?} is not a prefix length"))?;
    let addr_bytes = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let bits = addr_bytes.len() as u32 * 8;
    if len > bits {
        return Err(format!("prefix length {len} is longer than {bits}"));
    }
    let mask: Vec<u8> = (0..addr_bytes.len() as u32)
        .map(|i| {
            let on = len.saturating_sub(i * 8).min(8);
            (0xffu16 << (8 - on)) as u8
        })
        .collect();
    if addr_bytes.iter().zip(&mask).any(|(a, m)| a & !m != 0) {
        return Err("host bits are set; use the network address".into());
    }
    Ok([addr_bytes, mask].concat())
}

impl BuilderProfile for IssuedProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
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
        let a = &self.approved;
        let mut exts: Vec<Extension> = Vec::new();
        let bc = BasicConstraints {
            ca: a.ca_path_len.is_some(),
            path_len_constraint: a.ca_path_len,
        };
        exts.push((&bc).to_extension(subject, &exts)?);
        let ku = match (a.ca_path_len, a.rsa_key) {
            (Some(_), _) => {
                KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature)
            }
            (None, true) => KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
            (None, false) => KeyUsage(KeyUsages::DigitalSignature.into()),
        };
        exts.push((&ku).to_extension(subject, &exts)?);
        if !a.eku.is_empty() {
            let eku = ExtendedKeyUsage(a.eku.clone());
            exts.push((&eku).to_extension(subject, &exts)?);
        }
        let mut names = Vec::new();
        for d in &a.dns {
            names.push(GeneralName::DnsName(Ia5String::new(d)?));
        }
        for ip in &a.ips {
            names.push(GeneralName::from(*ip));
        }
        if !names.is_empty() {
            let san = SubjectAltName(names);
            exts.push((&san).to_extension(subject, &exts)?);
        }
        if let Some(nc) = &self.name_constraints {
            exts.push(nc.to_extension(subject, &exts)?);
        }
        push_key_ids(&mut exts, subject, &spk, self.issuer_key_id.clone())?;
        Ok(exts)
    }
}

#[cfg(test)]
mod tests;
