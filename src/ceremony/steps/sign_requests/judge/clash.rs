//! Requests of one step that cannot all be signed: two with the same public
//! key, and two whose outputs would land on the same path.
//!
//! Both are found in the dry run, before anything is signed, and each
//! request involved is rejected with a rule naming the other. Output paths
//! are compared without case (a bundle is refused on a case-insensitive file
//! system otherwise, and `bundle open` refuses such clashes), and a path
//! that another needs as a directory clashes too. Everything is one pass
//! with hash maps: linear in the number of requests. Pure: no I/O.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use der::Decode;
use sha2::{Digest, Sha256};

use crate::bundle::request::RequestEntry;
use crate::profile::{Issuer, Rejection};
use crate::x509::{Csr, KeyKind};

/// Files every output bundle may hold besides the requests' certificates.
const BUNDLE_FILES: [&str; 3] = ["manifest.json", "SHA256SUMS", "SHA256SUMS.sig"];

/// Who owns a path.
#[derive(Debug, Clone)]
enum Owner {
    /// Request `index`'s file of this kind, as written.
    Request {
        index: usize,
        kind: &'static str,
        path: String,
    },
    /// A file of the bundle itself, described.
    Bundle(String),
}

impl Owner {
    fn describe(&self, entries: &[RequestEntry]) -> String {
        match self {
            Owner::Request { index, kind, path } => {
                format!("request {}'s {kind} {path}", entries[*index].id)
            }
            Owner::Bundle(what) => what.clone(),
        }
    }
}

/// Rejects the first of `verdicts` that is still approved (an earlier
/// rejection keeps its own rule).
fn reject<T>(verdict: &mut Result<T, Rejection>, rule: String) {
    if verdict.is_ok() {
        *verdict = Err(Rejection { rule, hint: None });
    }
}

/// The identity of a CSR's public key, the same however the key is
/// written: SHA-256 over the key's kind and its bytes, where an EC point is
/// reduced to its x-coordinate and the parity of y (so a compressed and an
/// uncompressed point of one key are one key). `None` when the key does
/// not parse (the CSR's own checks refuse it then).
pub(super) fn key_identity(csr: &Csr) -> Option<[u8; 32]> {
    let spki = spki::SubjectPublicKeyInfoRef::from_der(&csr.spki_der).ok()?;
    let bytes = spki.subject_public_key.as_bytes()?;
    let mut digest = Sha256::new();
    match csr.key {
        KeyKind::P256 | KeyKind::P384 => {
            let (&prefix, rest) = bytes.split_first()?;
            let (x, y_odd) = match prefix {
                0x04 if rest.len() % 2 == 0 => {
                    let (x, y) = rest.split_at(rest.len() / 2);
                    (x, y.last()? & 1)
                }
                0x02 | 0x03 => (rest, prefix & 1),
                _ => return None,
            };
            digest.update(b"ec\0");
            digest.update(x);
            digest.update([y_odd]);
        }
        _ => {
            digest.update(b"key\0");
            digest.update(bytes);
        }
    }
    Some(digest.finalize().into())
}

/// Rejects every request whose public key (`keys[i]`, its
/// [`key_identity`], `None` when the CSR did not parse) is also
/// in another request, naming that request. The first of a pair is rejected
/// too, unless it is rejected already.
pub(super) fn same_keys<T>(
    entries: &[RequestEntry],
    keys: &[Option<[u8; 32]>],
    verdicts: &mut [Result<T, Rejection>],
) {
    let mut first: HashMap<&[u8; 32], usize> = HashMap::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let Some(key) = key else { continue };
        match first.entry(key) {
            Entry::Vacant(v) => {
                v.insert(index);
            }
            Entry::Occupied(o) => {
                let other = *o.get();
                let rule = |of: usize| {
                    format!(
                        "its public key is also in request {}: each certificate needs its own key",
                        entries[of].id
                    )
                };
                reject(&mut verdicts[index], rule(other));
                reject(&mut verdicts[other], rule(index));
            }
        }
    }
}

/// The paths an approved request writes: in the output bundle
/// `certs/<id>.crt`, `certs/<id>.chain.crt` for a CA, its `kubeadm_path`.
fn paths(entry: &RequestEntry, is_ca: bool) -> Vec<(&'static str, String)> {
    let mut out = vec![("certificate file", format!("certs/{}.crt", entry.id))];
    if is_ca {
        out.push(("chain file", format!("certs/{}.chain.crt", entry.id)));
    }
    if let Some(p) = &entry.kubeadm_path {
        out.push(("kubeadm_path", p.clone()));
    }
    out
}

/// The directories above `path`, outermost first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// How two paths clash, said from each side.
type How = (&'static str, &'static str);

/// The other path needs this one as a directory.
const NEEDS_IT: &str = ", which needs it as a directory";
/// The other path is a file where this one needs a directory.
const A_FILE: &str = ", a file where this needs a directory";

/// Paths claimed so far, by their lowercase form.
#[derive(Default)]
struct Claimed {
    files: HashMap<String, Owner>,
    dirs: HashMap<String, Owner>,
}

impl Claimed {
    /// Claims `path` for `owner`; returns the owner it clashes with and how,
    /// said of `path` and said of the other's path.
    fn claim(&mut self, path: &str, owner: Owner) -> Result<(), (Owner, How)> {
        let lower = path.to_lowercase();
        let written = |o: &Owner| match o {
            Owner::Request { path, .. } => path.clone(),
            Owner::Bundle(_) => String::new(),
        };
        if let Some(other) = self.files.get(&lower) {
            let how = if written(other) == path || matches!(other, Owner::Bundle(_)) {
                ("", "")
            } else {
                (" when case is ignored", " when case is ignored")
            };
            return Err((other.clone(), how));
        }
        if let Some(other) = self.dirs.get(&lower) {
            return Err((other.clone(), (NEEDS_IT, A_FILE)));
        }
        for dir in ancestors(path) {
            if let Some(other) = self.files.get(&dir.to_lowercase()) {
                return Err((other.clone(), (A_FILE, NEEDS_IT)));
            }
        }
        for dir in ancestors(path) {
            self.dirs
                .entry(dir.to_lowercase())
                .or_insert_with(|| owner.clone());
        }
        self.files.insert(lower, owner);
        Ok(())
    }
}

/// Rejects every approved request (`is_ca(i)` is `Some` for those) whose
/// output path or kubeconfig clashes with another request's, or whose path
/// clashes with a CA certificate's path or a file of the bundle itself.
pub(super) fn output_paths<T>(
    entries: &[RequestEntry],
    verdicts: &mut [Result<T, Rejection>],
    is_ca: impl Fn(&T) -> bool,
) {
    let mut claimed = Claimed::default();
    for issuer in [Issuer::Cluster, Issuer::Etcd, Issuer::FrontProxy] {
        let what = format!(
            "the {} CA certificate {}",
            issuer.name(),
            issuer.kubeadm_path()
        );
        // Distinct fixed paths: these cannot clash with each other.
        let _ = claimed.claim(issuer.kubeadm_path(), Owner::Bundle(what));
    }
    for file in BUNDLE_FILES {
        let _ = claimed.claim(file, Owner::Bundle(format!("the bundle's {file}")));
    }
    let mut kubeconfigs: HashMap<String, (usize, &str)> = HashMap::new();
    let mut clashes: Vec<(usize, String, Option<usize>, String)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Ok(approved) = &verdicts[index] else {
            continue;
        };
        for (kind, path) in paths(entry, is_ca(approved)) {
            let owner = Owner::Request {
                index,
                kind,
                path: path.clone(),
            };
            if let Err((other, (how, how_back))) = claimed.claim(&path, owner) {
                let rule = format!(
                    "{kind} {path} collides with {}{how}",
                    other.describe(entries)
                );
                let back = match &other {
                    Owner::Request {
                        index: o,
                        kind: k,
                        path: p,
                    } if *o != index => Some((
                        *o,
                        format!(
                            "{k} {p} collides with request {}'s {kind} {path}{how_back}",
                            entry.id
                        ),
                    )),
                    _ => None,
                };
                clashes.push((
                    index,
                    rule,
                    back.as_ref().map(|b| b.0),
                    back.map(|b| b.1).unwrap_or_default(),
                ));
            }
        }
        if let Some(conf) = entry.kubeconfig.as_deref() {
            match kubeconfigs.entry(conf.to_lowercase()) {
                Entry::Vacant(v) => {
                    v.insert((index, conf));
                }
                Entry::Occupied(o) => {
                    let (other, other_conf) = *o.get();
                    let how = if other_conf == conf {
                        ""
                    } else {
                        " when case is ignored"
                    };
                    clashes.push((
                        index,
                        format!(
                            "kubeconfig {conf} collides with request {}'s kubeconfig {other_conf}{how}",
                            entries[other].id
                        ),
                        Some(other),
                        format!(
                            "kubeconfig {other_conf} collides with request {}'s kubeconfig {conf}{how}",
                            entry.id
                        ),
                    ));
                }
            }
        }
    }
    for (index, rule, other, back) in clashes {
        reject(&mut verdicts[index], rule);
        if let Some(other) = other {
            reject(&mut verdicts[other], back);
        }
    }
}
