//! The rules one certificate of an output bundle must pass: canonical PEM,
//! signed by the pinned CA of its profile's issuer, valid now, exactly what
//! its manifest entry says (serial, subject, issuer, SANs, dates, SHA-256),
//! and the basic constraints, key usage and extended key usage its profile
//! implies. Pure: no I/O.

use std::time::SystemTime;

use der::oid::ObjectIdentifier;
use der::Decode;
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::Certificate;

use super::{IssuedEntry, Pinned};
use crate::oid::{KP_CLIENT_AUTH, KP_SERVER_AUTH, RSA_ENCRYPTION};
use crate::profile::Profile;
use crate::x509::{describe_general_name, name_string, verify_signature};

/// A certificate parsed from a member, with its DER.
pub(super) struct Parsed {
    /// The certificate.
    pub(super) cert: Certificate,
    /// Its DER encoding.
    pub(super) der: Vec<u8>,
}

/// Parses `pem` as exactly one certificate in the PEM form the ceremony
/// writes (one `CERTIFICATE` block, 64-column base64, LF line ends, nothing
/// before or after), so no member carries text beside its certificate.
pub(super) fn parse_pem(pem: &[u8]) -> Result<Parsed, String> {
    let (label, der) =
        der::pem::decode_vec(pem).map_err(|e| format!("is not a PEM certificate: {e}"))?;
    if label != "CERTIFICATE" {
        return Err(format!("is a PEM {label:?}, not a CERTIFICATE"));
    }
    let canonical = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
        .map_err(|e| format!("is not a PEM certificate: {e}"))?;
    if canonical.as_bytes() != pem {
        return Err(
            "is not one certificate in the PEM form the ceremony writes (nothing before or after it)"
                .into(),
        );
    }
    let cert = Certificate::from_der(&der).map_err(|e| format!("is not a certificate: {e}"))?;
    Ok(Parsed { cert, der })
}

/// The TBSCertificate's bytes within a certificate's DER: the first
/// element of the outer SEQUENCE, as signed.
fn tbs_bytes(der: &[u8]) -> Option<&[u8]> {
    use der::{Encode, Header, Reader, SliceReader};
    let mut reader = SliceReader::new(der).ok()?;
    let outer = Header::decode(&mut reader).ok()?;
    if outer.tag() != der::Tag::Sequence {
        return None;
    }
    let start = usize::try_from(reader.position()).ok()?;
    let inner = Header::peek(&reader).ok()?;
    let len = (inner.encoded_len().ok()? + inner.length()).ok()?;
    let len = usize::try_from(len).ok()?;
    der.get(start..start.checked_add(len)?)
}

/// Checks that `issuer` signed the certificate.
pub(super) fn check_signed_by(parsed: &Parsed, issuer: &Pinned) -> Result<(), String> {
    let cert = &parsed.cert;
    let tbs = cert.tbs_certificate();
    if tbs.issuer() != issuer.cert.tbs_certificate().subject() {
        return Err(format!(
            "does not chain to a pinned CA: its issuer is {}, not the pinned {} ({})",
            name_string(tbs.issuer()),
            issuer.subject,
            issuer.file.display()
        ));
    }
    // The DER was parsed strictly, so its TBS is the encoding of `tbs`.
    let tbs_der = tbs_bytes(&parsed.der).ok_or("its TBSCertificate cannot be found")?;
    let signature = cert
        .signature()
        .as_bytes()
        .ok_or("its signature is not a whole number of bytes")?;
    verify_signature(&issuer.spki, cert.signature_algorithm(), tbs_der, signature).map_err(
        |reason| {
            format!(
            "does not chain to a pinned CA: its signature does not verify with {} ({}): {reason}",
            issuer.subject,
            issuer.file.display()
        )
        },
    )
}

/// Checks that `now` lies within the certificate's validity.
pub(super) fn check_valid_now(cert: &Certificate, now: SystemTime) -> Result<(), String> {
    let validity = cert.tbs_certificate().validity();
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| "the clock is before 1970".to_string())?;
    if now < validity.not_before.to_unix_duration() {
        return Err(format!(
            "is not valid yet (notBefore {})",
            validity.not_before.to_date_time()
        ));
    }
    if now > validity.not_after.to_unix_duration() {
        return Err(format!(
            "has expired (notAfter {})",
            validity.not_after.to_date_time()
        ));
    }
    Ok(())
}

/// Checks the certificate against its manifest entry.
pub(super) fn check_entry(parsed: &Parsed, entry: &IssuedEntry) -> Result<(), String> {
    let tbs = parsed.cert.tbs_certificate();
    let differs = |field: &str, listed: &str, actual: &str| {
        Err(format!(
            "its {field} {actual} is not the manifest's {listed}"
        ))
    };
    let serial = crate::hex::encode(tbs.serial_number().as_bytes());
    if serial != entry.serial {
        return differs("serial", &entry.serial, &serial);
    }
    let subject = name_string(tbs.subject());
    if subject != entry.subject {
        return differs("subject", &entry.subject, &subject);
    }
    let issuer = name_string(tbs.issuer());
    if issuer != entry.issuer {
        return differs("issuer", &entry.issuer, &issuer);
    }
    let sans = sans(&parsed.cert)?;
    if sans != entry.sans {
        return differs(
            "SANs",
            &format!("[{}]", entry.sans.join(", ")),
            &format!("[{}]", sans.join(", ")),
        );
    }
    let validity = tbs.validity();
    let not_before = validity.not_before.to_date_time().to_string();
    if not_before != entry.not_before {
        return differs("notBefore", &entry.not_before, &not_before);
    }
    let not_after = validity.not_after.to_date_time().to_string();
    if not_after != entry.not_after {
        return differs("notAfter", &entry.not_after, &not_after);
    }
    let sha256 = crate::hex::encode(&Sha256::digest(&parsed.der));
    if sha256 != entry.sha256 {
        return differs("SHA-256", &entry.sha256, &sha256);
    }
    Ok(())
}

/// The certificate's SANs as the manifest lists them (`DNS:x`, `IP:x`).
fn sans(cert: &Certificate) -> Result<Vec<String>, String> {
    match cert.tbs_certificate().get_extension::<SubjectAltName>() {
        Ok(Some((_, san))) => Ok(san.0.iter().map(describe_general_name).collect()),
        Ok(None) => Ok(Vec::new()),
        Err(e) => Err(format!("its subjectAltName does not parse: {e}")),
    }
}

/// Checks basic constraints, key usage and EKU against what `profile` issues.
pub(super) fn check_profile(cert: &Certificate, profile: &Profile) -> Result<(), String> {
    let name = profile.name;
    let eku_rule = profile.eku();
    let is_ca = eku_rule.is_none();
    let tbs = cert.tbs_certificate();
    let bad = |what: String| Err(format!("{what}, which profile {name} does not issue"));
    let ca = match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) => bc.ca,
        Ok(None) => return bad("it has no basicConstraints".into()),
        Err(e) => return Err(format!("its basicConstraints do not parse: {e}")),
    };
    if ca != is_ca {
        return bad(format!(
            "it has basicConstraints CA:{}",
            ca.to_string().to_uppercase()
        ));
    }
    let rsa = tbs.subject_public_key_info().algorithm.oid == RSA_ENCRYPTION;
    let want = if is_ca {
        KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature
    } else if rsa {
        KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
    } else {
        KeyUsages::DigitalSignature.into()
    };
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if ku.0 == want => {}
        Ok(Some((_, ku))) => return bad(format!("its key usage is {:?}", ku.0)),
        Ok(None) => return bad("it has no key usage".into()),
        Err(e) => return Err(format!("its key usage does not parse: {e}")),
    }
    let mut ekus = match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) => eku.0,
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("its extended key usage does not parse: {e}")),
    };
    ekus.sort();
    let allowed: Vec<Vec<ObjectIdentifier>> = match eku_rule {
        Some(want) => vec![sorted(want)],
        None => vec![Vec::new(), sorted(&[KP_SERVER_AUTH, KP_CLIENT_AUTH])],
    };
    if !allowed.contains(&ekus) {
        let shown: Vec<String> = ekus.iter().map(ToString::to_string).collect();
        return bad(format!("its extended key usage is [{}]", shown.join(", ")));
    }
    Ok(())
}

fn sorted(oids: &[ObjectIdentifier]) -> Vec<ObjectIdentifier> {
    let mut v = oids.to_vec();
    v.sort();
    v
}
