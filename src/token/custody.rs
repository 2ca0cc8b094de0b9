//! The token primitives of key custody: the security officer's login, a
//! trusted AES wrap key made from a value the caller holds, wrapping a
//! backup-capable private key under it (`CKM_AES_KEY_WRAP_PAD`),
//! unwrapping one into a token with its policy and its public half,
//! destroying an object, and setting the user PIN.
//!
//! The module enforces the custody rule, not this code: a private key made
//! with `CKA_WRAP_WITH_TRUSTED` is wrapped only by a key with
//! `CKA_TRUSTED`, which only the security officer can create. This module
//! never reads or returns a private key in clear, never creates a key that
//! is extractable without `CKA_WRAP_WITH_TRUSTED`, and never keeps the wrap
//! key's value: the caller owns it and zeroizes it.

use std::fmt;

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use der::asn1::OctetStringRef;
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoRef;
use zeroize::{Zeroize, Zeroizing};

use super::keygen::private_template;
use super::{Error, KeyAlgorithm, KeyPolicy, KeyRecord, Result, Rv, Token};
use crate::oid;

/// An object this module made or found in the token (a wrap key, an
/// unwrapped private key, a public key), kept by handle for this session.
pub struct TokenObject {
    handle: ObjectHandle,
    label: String,
    class: &'static str,
}

impl TokenObject {
    /// The object's `CKA_LABEL`.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Debug for TokenObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.class, self.label)
    }
}

/// The class name of a trusted wrap key.
const WRAP_KEY: &str = "secret-key";

impl Token {
    /// Logs in as the security officer. The PIN is dropped (and zeroized)
    /// by the caller. A session logged in as the user must log out first.
    pub fn login_so(&self, pin: &AuthPin) -> Result<()> {
        match self.session().login(UserType::So, Some(pin)) {
            Ok(()) => Ok(()),
            Err(cryptoki::error::Error::Pkcs11(rv, _)) => Err(Error::SoLogin {
                token: self.identity().label.clone(),
                rv: Rv::Module(rv),
            }),
            Err(other) => Err(self.call_error(other)),
        }
    }

    /// Logs out whoever is logged in (user or security officer); a session
    /// not logged in is left as it is.
    pub fn logout(&self) -> Result<()> {
        match self.session().logout() {
            Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserNotLoggedIn, _)) => Ok(()),
            Err(e) => Err(self.call_error(e)),
        }
    }

    /// Sets the user PIN (`C_InitPIN`); the session must be logged in as
    /// the security officer.
    pub fn init_user_pin(&self, pin: &AuthPin) -> Result<()> {
        self.session().init_pin(pin).map_err(|e| self.call_error(e))
    }

    /// Creates the trusted AES-256 wrap key labelled `label` from `value`
    /// (`C_CreateObject`; the session must be logged in as the security
    /// officer, the only role that may set `CKA_TRUSTED`). It is a public
    /// session object: it outlives the security officer's logout, so that
    /// the user, logged in next on the same session, can wrap and unwrap
    /// with it, and it dies with the session whatever happens to the
    /// process. It can wrap and unwrap only: sensitive, not extractable, no
    /// encrypt or decrypt. An existing label is refused.
    pub fn create_trusted_wrap_key(
        &self,
        value: &Zeroizing<[u8; 32]>,
        label: &str,
    ) -> Result<TokenObject> {
        if self.label_exists(label)? {
            return Err(Error::LabelExists {
                token: self.identity().label.clone(),
                label: label.to_string(),
            });
        }
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(value.to_vec()),
            // A session object: it dies with the session, whatever happens
            // to the process, and public, so that it outlives the security
            // officer's logout for the user's wrap or unwrap.
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::Trusted(true),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let created = self.session().create_object(&template);
        for attribute in &mut template {
            if let Attribute::Value(v) = attribute {
                v.zeroize();
            }
        }
        Ok(TokenObject {
            handle: created.map_err(|e| self.call_error(e))?,
            label: label.to_string(),
            class: WRAP_KEY,
        })
    }

    /// Finds the one trusted wrap key labelled `label` (made by
    /// [`Token::create_trusted_wrap_key`], in this session or another); a
    /// secret key of that label the security officer did not make trusted
    /// is not found.
    pub fn find_trusted_wrap_key(&self, label: &str) -> Result<TokenObject> {
        self.find_secret_key(label, Some(Attribute::Trusted(true)))
    }

    /// Finds the one secret key labelled `label`, trusted or not. Wrapping
    /// with an untrusted one is for showing that the module refuses it;
    /// custody uses [`Token::find_trusted_wrap_key`].
    pub fn find_wrap_key(&self, label: &str) -> Result<TokenObject> {
        self.find_secret_key(label, None)
    }

    fn find_secret_key(&self, label: &str, extra: Option<Attribute>) -> Result<TokenObject> {
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        template.extend(extra);
        let found = self
            .session()
            .find_objects(&template)
            .map_err(|e| self.call_error(e))?;
        match found.as_slice() {
            &[handle] => Ok(TokenObject {
                handle,
                label: label.to_string(),
                class: WRAP_KEY,
            }),
            _ => Err(Error::KeyNotFound {
                token: self.identity().label.clone(),
                label: label.to_string(),
            }),
        }
    }

    /// The private key of `key` wrapped under `wrap_key` with
    /// `CKM_AES_KEY_WRAP_PAD` (RFC 5649 over its PKCS#8 encoding). The
    /// module decides: a key with `CKA_WRAP_WITH_TRUSTED` and an untrusted
    /// wrap key give `CKR_KEY_NOT_WRAPPABLE`, a never-extractable key
    /// `CKR_KEY_UNEXTRACTABLE`.
    pub fn wrap_private_key(&self, wrap_key: &TokenObject, key: &KeyRecord) -> Result<Vec<u8>> {
        let handle = key.private_handle.ok_or_else(|| Error::KeyNotFound {
            token: self.identity().label.clone(),
            label: key.label.clone(),
        })?;
        self.session()
            .wrap_key(&Mechanism::AesKeyWrapPad, wrap_key.handle, handle)
            .map_err(|e| self.call_error(e))
    }

    /// Unwraps `wrapped` (from [`Token::wrap_private_key`]) under
    /// `unwrap_key` into a private key labelled `label` with `CKA_ID` `id`,
    /// of `algorithm`, with the template of a backup key (token, private,
    /// sensitive, extractable only under a trusted wrap key, sign only). A
    /// label already present is refused; a wrapped key altered in any byte
    /// fails the module's integrity check. The public half is made by
    /// [`Token::create_public_key`]; then [`Token::find_key`] finds the
    /// pair, held to [`KeyPolicy::Restored`] (the module makes an unwrapped
    /// key neither local nor always sensitive).
    pub fn unwrap_private_key(
        &self,
        unwrap_key: &TokenObject,
        wrapped: &[u8],
        label: &str,
        id: &[u8],
        algorithm: KeyAlgorithm,
    ) -> Result<TokenObject> {
        if self.label_exists(label)? {
            return Err(Error::LabelExists {
                token: self.identity().label.clone(),
                label: label.to_string(),
            });
        }
        let mut template = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(key_type(algorithm)),
        ];
        template.extend(private_template(label, id, algorithm, KeyPolicy::Backup));
        let handle = self
            .session()
            .unwrap_key(
                &Mechanism::AesKeyWrapPad,
                unwrap_key.handle,
                wrapped,
                &template,
            )
            .map_err(|e| self.call_error(e))?;
        Ok(TokenObject {
            handle,
            label: label.to_string(),
            class: super::inventory::PRIVATE_KEY,
        })
    }

    /// Creates the public key object labelled `label` with `CKA_ID` `id`
    /// from `spki_der` (a DER SubjectPublicKeyInfo of `algorithm`): for EC
    /// `CKA_EC_PARAMS` and `CKA_EC_POINT` (the point as a DER OCTET
    /// STRING), for RSA the modulus and public exponent. The template is a
    /// generated key's public template (token, public, no wrap).
    pub fn create_public_key(
        &self,
        label: &str,
        id: &[u8],
        algorithm: KeyAlgorithm,
        spki_der: &[u8],
    ) -> Result<TokenObject> {
        let template = public_template(label, id, algorithm, spki_der).map_err(|reason| {
            Error::KeyMaterial {
                token: self.identity().label.clone(),
                label: label.to_string(),
                reason,
            }
        })?;
        let handle = self
            .session()
            .create_object(&template)
            .map_err(|e| self.call_error(e))?;
        Ok(TokenObject {
            handle,
            label: label.to_string(),
            class: super::inventory::PUBLIC_KEY,
        })
    }

    /// Destroys `object` (`C_DestroyObject`).
    pub fn destroy_object(&self, object: TokenObject) -> Result<()> {
        self.session()
            .destroy_object(object.handle)
            .map_err(|e| self.call_error(e))
    }
}

/// The template of the public key object of `algorithm` from its DER
/// SubjectPublicKeyInfo (a generated key's public template plus the key);
/// the error says what is wrong with `spki_der`.
pub(super) fn public_template(
    label: &str,
    id: &[u8],
    algorithm: KeyAlgorithm,
    spki_der: &[u8],
) -> std::result::Result<Vec<Attribute>, String> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| format!("public key is not a DER SubjectPublicKeyInfo: {e}"))?;
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| "public key is not a whole number of bytes".to_string())?;
    let mut template = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(key_type(algorithm)),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Wrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    if algorithm.is_rsa() {
        if spki.algorithm.oid != oid::RSA_ENCRYPTION {
            return Err(format!("public key is not RSA, not {algorithm}"));
        }
        let key = rsa::pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(key_bytes)
            .map_err(|e| format!("bad RSA public key: {e}"))?;
        template.push(Attribute::Modulus(key.modulus.as_bytes().to_vec()));
        template.push(Attribute::PublicExponent(
            key.public_exponent.as_bytes().to_vec(),
        ));
    } else {
        let params = spki
            .algorithm
            .parameters
            .as_ref()
            .map(|p| p.to_der())
            .transpose()
            .map_err(|e| format!("bad EC parameters: {e}"))?;
        if spki.algorithm.oid != oid::ID_EC_PUBLIC_KEY
            || params.as_deref() != Some(algorithm.ec_params())
        {
            return Err(format!("public key is not on the curve of {algorithm}"));
        }
        let point = OctetStringRef::new(key_bytes)
            .and_then(|o| o.to_der())
            .map_err(|e| format!("bad EC point: {e}"))?;
        template.push(Attribute::EcParams(algorithm.ec_params().to_vec()));
        template.push(Attribute::EcPoint(point));
    }
    Ok(template)
}

/// The PKCS#11 key type of `algorithm`.
fn key_type(algorithm: KeyAlgorithm) -> KeyType {
    if algorithm.is_rsa() {
        KeyType::RSA
    } else {
        KeyType::EC
    }
}

#[cfg(test)]
mod tests;
