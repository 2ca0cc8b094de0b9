//! A CA key in the token as a certificate builder sees it, through the
//! `signature` and `spki` traits alone (its public half, signature
//! algorithm, and [`signature::Signer`]), and signing with it: on the
//! token's own session ([`TokenSigner`]) or on a session a batch's signing
//! thread holds ([`TokenKey::sign_on`]). The x509 module builds on those
//! traits and never sees the token; a failure reaches it as a
//! [`signature::Error`] whose source is the token's [`Error`].
//!
//! Mechanisms are the portable ones, the message always hashed here.
//! ECDSA: the digest is signed with raw `CKM_ECDSA` (SoftHSM 2.6 has no
//! `CKM_ECDSA_SHA256`); the token's r||s is converted to the DER
//! `SEQUENCE { r, s }` X.509 wants. RSA: the token pads and signs the DER
//! `DigestInfo` (RFC 8017 §9.2) with `CKM_RSA_PKCS` (PKCS#1 v1.5, the same
//! bytes the combined mechanism makes); only a module whose mechanism list
//! has no signing `CKM_RSA_PKCS` gets `CKM_SHA{256,384,512}_RSA_PKCS`
//! instead (opencryptoki's soft token has the first and none of the others).
//! The list is asked once per signer, never per signature. A module may
//! list `CKM_RSA_PKCS` and still not sign with it: tpm2-pkcs11 makes it a
//! raw RSA decryption (`TPM2_RSA_Decrypt`), which a sign-only key refuses
//! (`CKR_GENERAL_ERROR`). When the module has the combined mechanism too, a
//! failed `CKM_RSA_PKCS` signature (any failure but a lost session) is made
//! again with it, and the key keeps the combined mechanism from then on:
//! the signature is the same bytes either way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use der::asn1::OctetStringRef;
use der::oid::ObjectIdentifier;
use der::{Encode, Header, Length, Tag};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{
    AlgorithmIdentifierOwned, AlgorithmIdentifierRef, DynSignatureAlgorithmIdentifier,
    EncodePublicKey, SignatureBitStringEncoding,
};

use crate::oid::{
    ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, SHA256_WITH_RSA, SHA384_WITH_RSA, SHA512_WITH_RSA,
};

use super::{Error, KeyAlgorithm, KeyRecord, Result, SignatureHash, Token};

/// The public half of a token key, as DER SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenVerifyingKey(pub Vec<u8>);

impl EncodePublicKey for TokenVerifyingKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::try_from(self.0.as_slice())?)
    }
}

/// A signature the token made, in its X.509 encoding (DER `SEQUENCE { r, s }`
/// for ECDSA, the PKCS#1 v1.5 bytes for RSA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSignature(pub Vec<u8>);

impl SignatureBitStringEncoding for TokenSignature {
    fn to_bitstring(&self) -> der::Result<der::asn1::BitString> {
        der::asn1::BitString::from_bytes(&self.0)
    }
}

/// A session of its own for one signing thread of a batch, opened by
/// [`Token::signing_sessions`]: it shares the token's login and ends when
/// dropped. Only [`TokenKey::sign_on`] uses it.
pub struct SigningSession(pub(super) Session);

/// A key in the token as a certificate builder needs it: its public half
/// and signature algorithm, and how to sign with it on a session the caller
/// holds. It holds no session, so the threads of a batch can share it.
#[derive(Debug, Clone)]
pub struct TokenKey {
    /// The token's label, for errors.
    token: String,
    handle: ObjectHandle,
    label: String,
    algorithm: KeyAlgorithm,
    hash: SignatureHash,
    /// How an RSA key signs (unused for ECDSA).
    rsa: RsaSigning,
    /// Set once `CKM_RSA_PKCS` failed and the combined mechanism signed
    /// instead; shared by the clones a batch's threads hold.
    fell_back: Arc<AtomicBool>,
    public: TokenVerifyingKey,
}

/// How the token signs with an RSA key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaSigning {
    /// The message hashed here; the token pads and signs its DER
    /// `DigestInfo` with `CKM_RSA_PKCS`. `fallback`: the module has the
    /// combined mechanism too, for a key `CKM_RSA_PKCS` fails on.
    DigestInfo {
        /// The module signs with the combined mechanism as well.
        fallback: bool,
    },
    /// The token hashes and pads with `CKM_SHA{256,384,512}_RSA_PKCS`: for
    /// a module without a signing `CKM_RSA_PKCS`.
    Combined,
}

impl RsaSigning {
    /// The portable mechanism where the module signs with it (the combined
    /// one kept as the fallback when it has that too), else the combined
    /// one where it has that, else `None`.
    pub(crate) fn choose(plain_signs: bool, combined_signs: bool) -> Option<RsaSigning> {
        if plain_signs {
            Some(RsaSigning::DigestInfo {
                fallback: combined_signs,
            })
        } else if combined_signs {
            Some(RsaSigning::Combined)
        } else {
            None
        }
    }
}

impl SignatureHash {
    /// The hash's OID (`id-sha256`, …), as a `DigestInfo` names it.
    fn oid(self) -> ObjectIdentifier {
        match self {
            SignatureHash::Sha256 => const_oid::db::rfc5912::ID_SHA_256,
            SignatureHash::Sha384 => const_oid::db::rfc5912::ID_SHA_384,
            SignatureHash::Sha512 => const_oid::db::rfc5912::ID_SHA_512,
        }
    }

    /// The digest of `msg`.
    fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            SignatureHash::Sha256 => Sha256::digest(msg).to_vec(),
            SignatureHash::Sha384 => Sha384::digest(msg).to_vec(),
            SignatureHash::Sha512 => Sha512::digest(msg).to_vec(),
        }
    }

    /// The combined PKCS#11 mechanism (the token hashes and pads).
    fn combined(self) -> Mechanism<'static> {
        match self {
            SignatureHash::Sha256 => Mechanism::Sha256RsaPkcs,
            SignatureHash::Sha384 => Mechanism::Sha384RsaPkcs,
            SignatureHash::Sha512 => Mechanism::Sha512RsaPkcs,
        }
    }
}

/// The DER `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier,
/// digest OCTET STRING }` of RFC 8017 §9.2 for `digest` made with `hash`;
/// the algorithm's parameters are NULL, as the RFC's note 1 writes them.
pub(crate) fn digest_info(hash: SignatureHash, digest: &[u8]) -> der::Result<Vec<u8>> {
    let algorithm = AlgorithmIdentifierRef {
        oid: hash.oid(),
        parameters: Some(der::AnyRef::NULL),
    }
    .to_der()?;
    let digest = OctetStringRef::new(digest)?.to_der()?;
    let length = Length::try_from(algorithm.len() + digest.len())?;
    let mut out = Header::new(Tag::Sequence, length).to_der()?;
    out.extend(algorithm);
    out.extend(digest);
    Ok(out)
}

impl TokenKey {
    /// The signature algorithm OID this key's signatures carry.
    pub fn algorithm_oid(&self) -> ObjectIdentifier {
        match (self.algorithm, self.hash) {
            (KeyAlgorithm::EcdsaP256, _) => ECDSA_WITH_SHA256,
            (KeyAlgorithm::EcdsaP384, _) => ECDSA_WITH_SHA384,
            (_, SignatureHash::Sha256) => SHA256_WITH_RSA,
            (_, SignatureHash::Sha384) => SHA384_WITH_RSA,
            (_, SignatureHash::Sha512) => SHA512_WITH_RSA,
        }
    }

    /// Signs `msg` on `session` (one of [`Token::signing_sessions`] of the
    /// key's token) and returns the X.509 encoding of the signature.
    pub fn sign_on(&self, session: &SigningSession, msg: &[u8]) -> Result<Vec<u8>> {
        self.sign_with(&session.0, msg)
    }

    /// Signs `msg` on `session` (logged in, on the key's token).
    fn sign_with(&self, session: &Session, msg: &[u8]) -> Result<Vec<u8>> {
        #[cfg(feature = "fault-injection")]
        super::fault::before_sign(&self.token, session)?;
        let call = |mech: &Mechanism, data: &[u8]| {
            session
                .sign(mech, self.handle, data)
                .map_err(|e| super::call_error(&self.token, e))
        };
        let bad = |reason: String| Error::KeyMaterial {
            token: self.token.clone(),
            label: self.label.clone(),
            reason,
        };
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => {
                let rs = call(&Mechanism::Ecdsa, &Sha256::digest(msg))?;
                let sig = p256::ecdsa::Signature::from_slice(&rs)
                    .map_err(|e| bad(format!("token returned a malformed ECDSA signature: {e}")))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            KeyAlgorithm::EcdsaP384 => {
                let rs = call(&Mechanism::Ecdsa, &Sha384::digest(msg))?;
                let sig = p384::ecdsa::Signature::from_slice(&rs)
                    .map_err(|e| bad(format!("token returned a malformed ECDSA signature: {e}")))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            _ => {
                if let RsaSigning::DigestInfo { fallback } = self.rsa {
                    if !self.fell_back.load(Ordering::Relaxed) {
                        let info = digest_info(self.hash, &self.hash.digest(msg))
                            .map_err(|e| bad(format!("cannot encode the DigestInfo: {e}")))?;
                        match call(&Mechanism::RsaPkcs, &info) {
                            Err(Error::Call { rv, .. }) if fallback && !rv.session_lost() => {
                                self.fell_back.store(true, Ordering::Relaxed);
                            }
                            done => return done,
                        }
                    }
                }
                call(&self.hash.combined(), msg)
            }
        }
    }
}

/// Signs with one private key on the token's own session.
pub struct TokenSigner<'t> {
    token: &'t Token,
    key: TokenKey,
}

impl<'t> TokenSigner<'t> {
    /// A signer for `key`. `hash` applies to RSA keys; ECDSA keys use
    /// SHA-256 (P-256) or SHA-384 (P-384). For an RSA key the token's
    /// mechanism list is asked here, once, which mechanism signs.
    pub fn new(token: &'t Token, key: &KeyRecord, hash: SignatureHash) -> Result<Self> {
        let handle = key.private_handle.ok_or_else(|| Error::KeyNotFound {
            token: token.identity().label.clone(),
            label: key.label.clone(),
        })?;
        let rsa = if key.algorithm.is_rsa() {
            token.rsa_signing(&key.label, hash)?
        } else {
            RsaSigning::Combined
        };
        Ok(TokenSigner {
            token,
            key: TokenKey {
                token: token.identity().label.clone(),
                handle,
                label: key.label.clone(),
                algorithm: key.algorithm,
                hash,
                rsa,
                fell_back: Arc::new(AtomicBool::new(false)),
                public: TokenVerifyingKey(key.spki_der.clone()),
            },
        })
    }

    /// The key, without the session: for the signing threads of a batch,
    /// each with a session of its own ([`Token::signing_sessions`]).
    pub fn key(&self) -> &TokenKey {
        &self.key
    }

    /// The signature algorithm OID this signer produces.
    pub fn algorithm_oid(&self) -> ObjectIdentifier {
        self.key.algorithm_oid()
    }

    /// Signs `msg` in the token and returns the X.509 encoding of the signature.
    pub fn sign_raw(&self, msg: &[u8]) -> Result<Vec<u8>> {
        self.key.sign_with(self.token.session(), msg)
    }
}

impl Token {
    /// How this token signs with an RSA key labelled `label` and `hash`:
    /// from its mechanism list and each mechanism's `CKF_SIGN` flag.
    fn rsa_signing(&self, label: &str, hash: SignatureHash) -> Result<RsaSigning> {
        let list = self
            .ctx
            .get_mechanism_list(self.slot)
            .map_err(|e| self.call_error(e))?;
        let signs = |mechanism: MechanismType| {
            list.contains(&mechanism)
                && self
                    .ctx
                    .get_mechanism_info(self.slot, mechanism)
                    .is_ok_and(|info| info.sign())
        };
        let combined = hash.combined().mechanism_type();
        RsaSigning::choose(signs(MechanismType::RSA_PKCS), signs(combined)).ok_or_else(|| {
            Error::KeyMaterial {
                token: self.identity().label.clone(),
                label: label.to_string(),
                reason: format!(
                    "the token signs with neither CKM_RSA_PKCS nor {combined} (its mechanism list)"
                ),
            }
        })
    }
}

impl signature::Keypair for TokenKey {
    type VerifyingKey = TokenVerifyingKey;

    fn verifying_key(&self) -> TokenVerifyingKey {
        self.public.clone()
    }
}

impl DynSignatureAlgorithmIdentifier for TokenKey {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        let parameters = if self.algorithm.is_rsa() {
            Some(der::Any::null())
        } else {
            None
        };
        Ok(AlgorithmIdentifierOwned {
            oid: self.algorithm_oid(),
            parameters,
        })
    }
}

impl signature::Keypair for TokenSigner<'_> {
    type VerifyingKey = TokenVerifyingKey;

    fn verifying_key(&self) -> TokenVerifyingKey {
        self.key.verifying_key()
    }
}

impl DynSignatureAlgorithmIdentifier for TokenSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        self.key.signature_algorithm_identifier()
    }
}

impl signature::Signer<TokenSignature> for TokenSigner<'_> {
    /// Signs in the token; a failure keeps the token's [`Error`] as the
    /// source of the [`signature::Error`].
    fn try_sign(&self, msg: &[u8]) -> signature::Result<TokenSignature> {
        self.sign_raw(msg)
            .map(TokenSignature)
            .map_err(signature::Error::from_source)
    }
}

#[cfg(test)]
mod tests;
