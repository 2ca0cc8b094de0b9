//! What the requester pins out of band: the CA certificates it trusts
//! (`--ca`) and the ceremony's audit public key (`--audit-key`).

use std::path::{Path, PathBuf};

use der::{DecodePem, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::Certificate;

use crate::bundle::{Error, Result};
use crate::oid::{
    ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP256R1, SECP384R1,
    SHA256_WITH_RSA,
};
use crate::x509::name_string;

/// The largest `--ca` or `--audit-key` file read.
const MAX_PIN_FILE_BYTES: u64 = 1 << 20;

/// A CA certificate the requester pinned.
#[derive(Debug)]
pub struct Pinned {
    /// The `--ca` file it came from.
    pub(super) file: PathBuf,
    /// The certificate.
    pub(super) cert: Certificate,
    /// Its DER encoding.
    pub(super) der: Vec<u8>,
    /// Its DER SubjectPublicKeyInfo.
    pub(super) spki: Vec<u8>,
    /// Its subject, RFC 4514.
    pub(super) subject: String,
}

/// The CA certificates a requester trusts, from `--ca` files whose
/// fingerprints it got out of band.
#[derive(Debug)]
pub struct Pins {
    pub(super) certs: Vec<Pinned>,
}

impl Pins {
    /// Reads every certificate of every file (PEM, one or more
    /// `CERTIFICATE` blocks). Refuses no file at all, a file holding a
    /// private key or no certificate, and a certificate that is not a CA.
    pub fn read(files: &[PathBuf]) -> Result<Pins> {
        if files.is_empty() {
            return Err(Error::Pin {
                path: PathBuf::from("--ca"),
                rule: "at least one pinned CA certificate is needed: a bundle is checked against the roots you trust".into(),
            });
        }
        let mut certs = Vec::new();
        for file in files {
            let fail = |rule: String| Error::Pin {
                path: file.clone(),
                rule,
            };
            let bytes = read_small(file).map_err(fail)?;
            if crate::x509::holds_private_key(&bytes) {
                return Err(fail(
                    "holds a private key; give the CA certificate only".into(),
                ));
            }
            let chain = Certificate::load_pem_chain(&bytes)
                .map_err(|e| fail(format!("is not PEM certificates: {e}")))?;
            if chain.is_empty() {
                return Err(fail("holds no certificate".into()));
            }
            for cert in chain {
                let tbs = cert.tbs_certificate();
                let subject = name_string(tbs.subject());
                let is_ca =
                    matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca);
                if !is_ca {
                    return Err(fail(format!(
                        "certificate {subject} is not a CA certificate"
                    )));
                }
                let der = cert.to_der().map_err(|e| fail(e.to_string()))?;
                let spki = tbs
                    .subject_public_key_info()
                    .to_der()
                    .map_err(|e| fail(e.to_string()))?;
                certs.push(Pinned {
                    file: file.clone(),
                    cert,
                    der,
                    spki,
                    subject,
                });
            }
        }
        Ok(Pins { certs })
    }

    /// The pinned certificate whose DER is `der`.
    pub(super) fn find(&self, der: &[u8]) -> Option<&Pinned> {
        self.certs.iter().find(|p| p.der == der)
    }
}

/// The ceremony's audit public key, from `--audit-key` (PEM
/// SubjectPublicKeyInfo, as `generate-audit-key` writes `audit-key.pub`).
#[derive(Debug)]
pub struct AuditKey {
    /// The file it came from.
    pub(super) file: PathBuf,
    /// Its DER SubjectPublicKeyInfo.
    pub(super) spki: Vec<u8>,
    /// The signature algorithm the ceremony signs with for this key.
    pub(super) algorithm: AlgorithmIdentifierOwned,
}

impl AuditKey {
    /// Reads the key and picks the algorithm the ceremony signs with:
    /// ECDSA with SHA-256 (P-256) or SHA-384 (P-384), or RSA PKCS#1 v1.5
    /// with SHA-256.
    pub fn read(file: &Path) -> Result<AuditKey> {
        let fail = |rule: String| Error::AuditKey {
            path: file.to_path_buf(),
            rule,
        };
        let bytes = read_small(file).map_err(fail)?;
        let spki = SubjectPublicKeyInfoOwned::from_pem(&bytes)
            .map_err(|e| fail(format!("is not a PEM public key: {e}")))?;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok());
        let oid = match (spki.algorithm.oid, curve) {
            (ID_EC_PUBLIC_KEY, Some(SECP256R1)) => ECDSA_WITH_SHA256,
            (ID_EC_PUBLIC_KEY, Some(SECP384R1)) => ECDSA_WITH_SHA384,
            (RSA_ENCRYPTION, _) => SHA256_WITH_RSA,
            (oid, _) => {
                return Err(fail(format!(
                    "key algorithm {oid} is not one an audit key uses"
                )))
            }
        };
        Ok(AuditKey {
            file: file.to_path_buf(),
            spki: spki.to_der().map_err(|e| fail(e.to_string()))?,
            algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            },
        })
    }

    /// The file the key came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Checks `signature` over `msg` as the ceremony signs with this key.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> std::result::Result<(), String> {
        crate::x509::verify_signature(&self.spki, &self.algorithm, msg, signature)
    }
}

/// Reads a small regular file (a pin or a public key).
fn read_small(file: &Path) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_PIN_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_PIN_FILE_BYTES {
        return Err(format!("is over {MAX_PIN_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}
