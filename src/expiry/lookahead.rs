//! The look-ahead: which certificate found issued each one, what kind of
//! CA each is, what renews or rotates each, which expire within the
//! warning window, and which outlive their issuer.
//!
//! A certificate's issuer is found by its signature, never by name alone:
//! the CA certificates found whose subject equals its issuer name and whose
//! public key verifies its signature. A CA is a root when its own key
//! verifies it and its issuer is its subject; a link when another CA signed
//! it and a root with its subject and key was also found (a cross-signed
//! root); an intermediate otherwise.
//!
//! Pure: it works on certificates already read and on the names the walk
//! listed, and does no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::parse::Signed;
use super::{Entry, Kind};

/// What the walk saw of the directory, by name only.
pub(super) struct Layout<'a> {
    /// A regular `manifest.json` at the top: an opened output bundle.
    pub(super) bundle: bool,
    /// Every regular `*.key` file, relative and `/`-separated (never opened).
    pub(super) keys: &'a BTreeSet<String>,
}

/// A root that a ceremony made.
pub(super) const ROTATE_ROOT: &str = "rotate: a new root ceremony (ceremonies/root-init.toml), cross-sign, then `ceremony rotate plan` (docs/rotation.md)";
/// A root whose key is in the tree.
pub(super) const ROTATE_KUBEADM_ROOT: &str = "rotate: its key is beside it in this tree, so kubeadm manages it, not a ceremony: kubeadm's manual CA rotation";
/// A link (cross-signed root).
pub(super) const RENEW_LINK: &str = "renew: a ceremony with a cross-sign step by its issuer root";
/// An intermediate.
pub(super) const RENEW_INTERMEDIATE: &str =
    "renew: a sign-requests ceremony with its issuer (ceremonies/sign-intermediate.toml)";
/// A leaf of a kubeadm tree under an offline CA.
pub(super) const RENEW_KUBEADM_LEAF: &str =
    "renew: a sign-requests ceremony with its issuer (ceremonies/sign-kubeadm.toml)";
/// A leaf of an opened output bundle under an offline CA.
pub(super) const RENEW_BUNDLE_LEAF: &str = "renew: a sign-requests ceremony with its issuer (ceremonies/sign-components.toml, or sign-kubeadm.toml for a request sealed with --kubeadm)";
/// A leaf whose issuer's key is in the tree.
pub(super) const RENEW_BY_KUBEADM: &str =
    "renew: `kubeadm certs renew` (its issuer's key is in this tree)";
/// A leaf signed by an intermediate.
pub(super) const RENEW_BY_SIGNER: &str =
    "renew: the online signer that holds its intermediate's key (not a ceremony)";
/// A certificate whose issuer was not found.
pub(super) const RENEW_UNKNOWN: &str =
    "renew: with its issuer's key (its issuer is not among the certificates found)";

/// Fills in each entry's kind, issuers, renewal, window mark and whether it
/// outlives its issuer. `signed[i]` belongs to `entries[i]`.
pub(super) fn relate(
    entries: &mut [Entry],
    signed: &[Signed],
    layout: &Layout<'_>,
    warn_within_days: u32,
) {
    debug_assert_eq!(entries.len(), signed.len());
    let mut checker = Checker::new(signed);
    // The CA certificates, grouped by subject and key.
    let mut holders: BTreeMap<(&[u8], &[u8]), Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.is_ca {
            holders
                .entry((&signed[i].subject, &signed[i].spki))
                .or_default()
                .push(i);
        }
    }
    // Roots first: a link is known by the root it certifies.
    let roots: BTreeSet<(&[u8], &[u8])> = (0..entries.len())
        .filter(|&i| entries[i].is_ca && checker.self_signed(i))
        .map(|i| (&signed[i].subject[..], &signed[i].spki[..]))
        .collect();
    let mut issuers: Vec<Vec<usize>> = vec![Vec::new(); entries.len()];
    for i in 0..entries.len() {
        let s = &signed[i];
        let own = (&s.subject[..], &s.spki[..]);
        let root = entries[i].is_ca && checker.self_signed(i);
        entries[i].kind = match () {
            _ if !entries[i].is_ca => Kind::Leaf,
            _ if root => Kind::Root,
            _ if roots.contains(&own) => Kind::Link,
            _ => Kind::Intermediate,
        };
        if root {
            continue;
        }
        for ((subject, spki), holder) in &holders {
            if *subject == &s.issuer[..] && checker.verifies(i, spki) {
                issuers[i].extend(holder.iter().copied().filter(|&c| c != i));
            }
        }
    }
    let warn_seconds = i64::from(warn_within_days) * 86_400;
    let mut result = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let by = &issuers[i];
        let key_beside = |c: usize| {
            entries[c]
                .path
                .strip_suffix(".crt")
                .is_some_and(|stem| layout.keys.contains(&format!("{stem}.key")))
        };
        let (renewed_by, renewal) = match e.kind {
            Kind::Root if key_beside(i) => ("kubeadm", ROTATE_KUBEADM_ROOT),
            Kind::Root => ("root-init", ROTATE_ROOT),
            Kind::Link => ("cross-sign", RENEW_LINK),
            Kind::Intermediate => ("sign-intermediate", RENEW_INTERMEDIATE),
            Kind::Leaf if by.is_empty() => ("unknown", RENEW_UNKNOWN),
            Kind::Leaf if by.iter().any(|&c| key_beside(c)) => ("kubeadm", RENEW_BY_KUBEADM),
            Kind::Leaf if by.iter().all(|&c| entries[c].kind == Kind::Intermediate) => {
                ("online-signer", RENEW_BY_SIGNER)
            }
            Kind::Leaf if layout.bundle => ("sign-components", RENEW_BUNDLE_LEAF),
            Kind::Leaf => ("sign-kubeadm", RENEW_KUBEADM_LEAF),
        };
        // The issuer certificate that lasts longest bounds this one.
        let last = by.iter().copied().max_by_key(|&c| entries[c].expires);
        let outlives = last
            .filter(|&c| e.expires > entries[c].expires)
            .map(|c| entries[c].name.clone());
        result.push((
            by.iter().map(|&c| entries[c].name.clone()).collect(),
            renewed_by,
            renewal,
            e.residual_seconds <= warn_seconds,
            outlives,
        ));
    }
    for (e, (issued_by, renewed_by, renewal, within, outlives)) in entries.iter_mut().zip(result) {
        e.issued_by = issued_by;
        e.renewed_by = renewed_by;
        e.renewal = renewal;
        e.within_window = within;
        e.outlives_issuer = outlives;
    }
}

/// A signature check: the signed bytes, the signature and the key.
type Check<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Signature checks, each made once for a certificate's bytes and a key
/// (the same certificate may be in several files).
struct Checker<'a> {
    signed: &'a [Signed],
    done: HashMap<Check<'a>, bool>,
}

impl<'a> Checker<'a> {
    fn new(signed: &'a [Signed]) -> Checker<'a> {
        Checker {
            signed,
            done: HashMap::new(),
        }
    }

    /// True when `spki` verifies the signature of certificate `i`.
    fn verifies(&mut self, i: usize, spki: &'a [u8]) -> bool {
        let s = &self.signed[i];
        *self
            .done
            .entry((&s.tbs, &s.signature, spki))
            .or_insert_with(|| {
                crate::x509::verify_signature(spki, &s.algorithm, &s.tbs, &s.signature).is_ok()
            })
    }

    /// True when certificate `i` names itself as issuer and its own key verifies it.
    fn self_signed(&mut self, i: usize) -> bool {
        let s = &self.signed[i];
        s.subject == s.issuer && self.verifies(i, &s.spki)
    }
}
