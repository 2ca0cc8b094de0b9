//! Filling `client-certificate-data` (and an empty
//! `certificate-authority-data`) in kubeadm's partial kubeconfigs, after
//! checking the embedded key matches the certificate.

use std::path::Path;

use base64ct::{Base64, Encoding};
use yaml_serde::Value;
use zeroize::Zeroizing;

use super::keys::{public_key_of, MAX_KEY_BYTES};
use super::{tree_err, tree_rule, Error, TreeRule};

/// Fills `client-certificate-data` (and an empty `certificate-authority-data`)
/// in the kubeconfig at `path`, after checking its `client-key-data` matches.
/// Returns the new bytes, or `None` when it already holds this certificate.
pub(super) fn fill_kubeconfig(
    path: &Path,
    cert_pem: &[u8],
    cert_spki: &[u8],
    cluster_ca: Option<&[u8]>,
    force: bool,
) -> Result<Option<Vec<u8>>, Error> {
    let bad = |rule: String| tree_err(path, rule);
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| bad(format!("the partial kubeconfig: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_KEY_BYTES {
        return Err(bad("is not a regular kubeconfig file".into()));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?);
    let mut doc: Value = yaml_serde::from_str(&text).map_err(|e| bad(format!("not YAML: {e}")))?;
    let user_name =
        current_user(&doc).ok_or_else(|| bad("names no user for its current context".into()))?;
    let user = doc
        .get_mut("users")
        .and_then(Value::as_sequence_mut)
        .and_then(|users| {
            users
                .iter_mut()
                .find(|u| u.get("name").and_then(Value::as_str) == Some(user_name.as_str()))
        })
        .and_then(|u| u.get_mut("user"))
        .and_then(Value::as_mapping_mut)
        .ok_or_else(|| bad(format!("has no user {user_name:?}")))?;
    let key_b64 = user
        .get("client-key-data")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad("has no client-key-data: kubeadm's partial kubeconfig holds the key".into())
        })?;
    let key_pem = Zeroizing::new(
        Base64::decode_vec(key_b64.trim())
            .map_err(|e| bad(format!("client-key-data is not base64: {e}")))?,
    );
    let key_pem =
        std::str::from_utf8(&key_pem).map_err(|_| bad("client-key-data is not PEM".into()))?;
    let key_spki = public_key_of(key_pem).map_err(|r| bad(format!("client-key-data: {r}")))?;
    if key_spki != cert_spki {
        return Err(tree_rule(
            path,
            TreeRule::KeyMismatch,
            "client-key-data does not match the certificate issued for it",
        ));
    }
    let new_cert = Base64::encode_string(cert_pem);
    match user.get("client-certificate-data").and_then(Value::as_str) {
        Some(existing) if existing == new_cert => return Ok(None),
        Some(existing) if !existing.is_empty() && !force => {
            return Err(tree_rule(
                path,
                TreeRule::Occupied,
                "already holds a different client-certificate-data",
            ))
        }
        _ => {}
    }
    user.insert("client-certificate-data".into(), Value::String(new_cert));
    if let Some(ca) = cluster_ca {
        let clusters = doc.get_mut("clusters").and_then(Value::as_sequence_mut);
        for cluster in clusters.into_iter().flatten() {
            if let Some(c) = cluster.get_mut("cluster").and_then(Value::as_mapping_mut) {
                let empty = c
                    .get("certificate-authority-data")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if empty && c.get("certificate-authority").is_none() {
                    c.insert(
                        "certificate-authority-data".into(),
                        Value::String(Base64::encode_string(ca)),
                    );
                }
            }
        }
    }
    let out = yaml_serde::to_string(&doc).map_err(|e| bad(e.to_string()))?;
    Ok(Some(out.into_bytes()))
}

/// The user of the kubeconfig's current context (or its only user).
fn current_user(doc: &Value) -> Option<String> {
    let by_context = doc
        .get("current-context")
        .and_then(Value::as_str)
        .and_then(|ctx| {
            doc.get("contexts")?
                .as_sequence()?
                .iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(ctx))?
                .get("context")?
                .get("user")?
                .as_str()
                .map(str::to_string)
        });
    by_context.or_else(|| match doc.get("users")?.as_sequence()?.as_slice() {
        [only] => only.get("name")?.as_str().map(str::to_string),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
