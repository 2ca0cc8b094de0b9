//! A kubeconfig as the rotation plan reads and rewrites it: only each
//! cluster's `certificate-authority-data` changes; every other field
//! (users, client keys, contexts, extensions) stays as it was. The text
//! holds a client key: it is kept in zeroizing buffers.

use std::path::Path;

use base64ct::{Base64, Encoding};
use x509_cert::ext::pkix::AuthorityKeyIdentifier;
use x509_cert::Certificate;
use yaml_serde::Value;
use zeroize::Zeroizing;

use super::{refuse, Error};

/// A parsed kubeconfig.
pub(super) struct Kubeconfig {
    doc: Value,
}

impl Kubeconfig {
    /// Parses the kubeconfig read from `path`.
    pub(super) fn parse(path: &Path, text: &str) -> Result<Kubeconfig, Error> {
        let doc: Value =
            yaml_serde::from_str(text).map_err(|e| refuse(path, format!("not YAML: {e}")))?;
        let clusters = doc
            .get("clusters")
            .and_then(Value::as_sequence)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| refuse(path, "names no cluster"))?;
        if clusters.iter().any(|c| c.get("cluster").is_none()) {
            return Err(refuse(path, "has a cluster entry without `cluster`"));
        }
        Ok(Kubeconfig { doc })
    }

    fn clusters(&self) -> impl Iterator<Item = &Value> {
        self.doc
            .get("clusters")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("cluster"))
    }

    /// Refuses a kubeconfig any of whose clusters does not trust `current`
    /// (its `certificate-authority-data` must hold it, alone or with
    /// `new`).
    pub(super) fn check_trusts(
        &self,
        path: &Path,
        current: &Certificate,
        new: &Certificate,
    ) -> Result<(), Error> {
        for cluster in self.clusters() {
            let data = cluster
                .get("certificate-authority-data")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    refuse(
                        path,
                        "has a cluster without certificate-authority-data (a file reference is not rotated by the plan)",
                    )
                })?;
            let pem = Base64::decode_vec(data.trim()).map_err(|e| {
                refuse(
                    path,
                    format!("certificate-authority-data is not base64: {e}"),
                )
            })?;
            let certs = Certificate::load_pem_chain(&pem).map_err(|e| {
                refuse(
                    path,
                    format!("certificate-authority-data is not PEM certificates: {e}"),
                )
            })?;
            if !certs.iter().any(|c| c == current) {
                return Err(refuse(
                    path,
                    "certificate-authority-data does not trust the current cluster root",
                ));
            }
            if certs.iter().any(|c| c != current && c != new) {
                return Err(refuse(
                    path,
                    "certificate-authority-data trusts a certificate that is neither root",
                ));
            }
        }
        Ok(())
    }

    /// The kubeconfig with every cluster's `certificate-authority-data`
    /// set to `pem`, as YAML.
    pub(super) fn with_ca(&self, path: &Path, pem: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let mut doc = self.doc.clone();
        let encoded = Base64::encode_string(pem.as_bytes());
        if let Some(clusters) = doc.get_mut("clusters").and_then(Value::as_sequence_mut) {
            for cluster in clusters {
                if let Some(map) = cluster.get_mut("cluster").and_then(Value::as_mapping_mut) {
                    map.insert(
                        Value::String("certificate-authority-data".into()),
                        Value::String(encoded.clone()),
                    );
                }
            }
        }
        let text = Zeroizing::new(
            yaml_serde::to_string(&doc)
                .map_err(|e| refuse(path, format!("cannot write YAML: {e}")))?,
        );
        Ok(Zeroizing::new(text.as_bytes().to_vec()))
    }

    /// Whether every user's client certificate (`client-certificate-data`)
    /// names `key_id` as its authority key identifier; false when a user
    /// has none.
    pub(super) fn client_issued_by(&self, key_id: &[u8]) -> bool {
        let users: Vec<&Value> = self
            .doc
            .get("users")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|u| u.get("user"))
            .collect();
        !users.is_empty()
            && users.iter().all(|user| {
                let Some(data) = user.get("client-certificate-data").and_then(Value::as_str) else {
                    return false;
                };
                let Ok(pem) = Base64::decode_vec(data.trim()) else {
                    return false;
                };
                let Ok(certs) = Certificate::load_pem_chain(&pem) else {
                    return false;
                };
                certs
                    .first()
                    .is_some_and(|cert| authority_key_id(cert).as_deref() == Some(key_id))
            })
    }
}

/// A certificate's authority key identifier, if it has one.
fn authority_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let (_, aki) = cert
        .tbs_certificate()
        .get_extension::<AuthorityKeyIdentifier>()
        .ok()??;
    aki.key_identifier.map(|k| k.as_bytes().to_vec())
}
