//! The custody primitives of the token layer (`ceremony::token::custody`)
//! against real SoftHSM tokens, through the library (the `backup-keys` and
//! `restore-keys` steps build on them): the module, not the tool, refuses
//! to wrap a backup-capable key with an untrusted key
//! (`CKR_KEY_NOT_WRAPPABLE`; pkcs11-tool 0.23 wraps only secret keys, so
//! the call goes through our API, to the real module), a
//! user session cannot make a trusted key, and a key wrapped under the
//! security officer's trusted key is restored into a second token, where it
//! signs what the original public key verifies (checked by openssl).
//!
//! SoftHSM reads its configuration once per process, so every token here
//! lives in one SoftHSM directory and the scenario is one test.

mod common;

use std::path::Path;

use ceremony::token::{
    Error, KeyAlgorithm, KeyPolicy, PinSource, SignatureHash, Token, TokenSelector, TokenSigner,
};
use cryptoki::error::RvError;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use common::{ok, openssl, text, Env};

fn open(env: &Env, label: &str) -> Token {
    let selector = TokenSelector::new(Some(label.into()), None).expect("a label");
    Token::open(Path::new(&env.module()), &selector).expect("token opens")
}

/// The return value of a failed call, and the function that failed.
fn rv(e: &Error) -> (String, RvError) {
    match e {
        Error::Call { function, rv, .. } => (format!("{function:?}"), rv.value()),
        other => panic!("not a PKCS#11 call failure: {other}"),
    }
}

#[test]
fn the_module_wraps_a_backup_key_only_under_a_trusted_key_and_it_restores_elsewhere() {
    let env = Env::new();
    // Token A: a backup-capable root and a never-extractable root, by a ceremony.
    let script = env.write(
        "roots.toml",
        &common::script(&format!(
            "{}{}",
            common::root_step("kept", "ecdsa-p256", "CN=kept", "kept.crt", "backup = true"),
            common::root_step("fixed", "ecdsa-p256", "CN=fixed", "fixed.crt", ""),
        )),
    );
    ok(&common::run_ceremony(&env, &script));
    // An untrusted AES key made in a user session by an outside tool.
    ok(&env.pkcs11_tool(&[
        "--keygen",
        "--key-type",
        "AES:32",
        "--label",
        "untrusted",
        "--id",
        "77",
        "--usage-wrap",
    ]));
    // Token B, empty, in the same SoftHSM directory.
    env.init_token("restore", &env.so_pin);

    // std::env::set_var is safe in edition 2021; no other thread of this
    // process uses the environment (one test in this file).
    std::env::set_var("SOFTHSM2_CONF", env.path("softhsm2.conf"));
    let user_pin = AuthPin::from(env.pin.as_str());
    let so_pin = {
        env.write_secret("so.pin", &format!("{}\n", env.so_pin));
        PinSource::File(env.path("so.pin"))
            .read_so("ceremony")
            .expect("SO PIN file")
    };
    let value = Zeroizing::new([0x5au8; 32]);

    let a = open(&env, "ceremony");
    // A user session cannot make a trusted key: the module refuses CKA_TRUSTED.
    a.login(&user_pin).expect("user login");
    let refused = a
        .create_trusted_wrap_key(&value, "wrap-by-user")
        .expect_err("a user session cannot set CKA_TRUSTED");
    let (function, refused_rv) = rv(&refused);
    assert_eq!(function, "CreateObject", "{refused}");
    assert!(
        matches!(
            refused_rv,
            RvError::AttributeReadOnly
                | RvError::TemplateInconsistent
                | RvError::AttributeValueInvalid
        ),
        "{refused}"
    );
    assert!(!a.label_exists("wrap-by-user").expect("find"));

    // The untrusted key: the module refuses to wrap the backup key with it.
    let kept = a.find_key("kept-key").expect("kept-key");
    assert_eq!(kept.policy(), KeyPolicy::Backup);
    kept.check_policy("ceremony").expect("backup policy");
    let untrusted = a.find_wrap_key("untrusted").expect("untrusted AES key");
    let refused = a
        .wrap_private_key(&untrusted, &kept)
        .expect_err("an untrusted key may not wrap it");
    assert_eq!(
        rv(&refused),
        ("WrapKey".into(), RvError::KeyNotWrappable),
        "{refused}"
    );
    assert!(refused.hint().expect("hint").contains("trusted wrap key"));

    // The security officer makes the trusted key; the user wraps with it.
    a.logout().expect("logout");
    let refused = a
        .login_so(&AuthPin::from("00000000"))
        .expect_err("a wrong SO PIN");
    assert!(matches!(refused, Error::SoLogin { .. }), "{refused}");
    a.login_so(&so_pin).expect("SO login");
    let wrap = a
        .create_trusted_wrap_key(&value, "backup-wrap")
        .expect("the SO makes a trusted key");
    assert_eq!(wrap.label(), "backup-wrap");
    a.logout().expect("logout");
    a.login(&user_pin).expect("user login");
    let wrap = a.find_trusted_wrap_key("backup-wrap").expect("found again");
    assert!(
        a.find_trusted_wrap_key("untrusted").is_err(),
        "an untrusted key is not found as a trusted one"
    );
    // A private key's handle does not outlive the login: find it again.
    assert!(a.wrap_private_key(&wrap, &kept).is_err());
    let kept = a.find_key("kept-key").expect("kept-key again");
    let wrapped = a.wrap_private_key(&wrap, &kept).expect("wrapped");
    assert_eq!(
        wrapped.len(),
        80,
        "P-256 PKCS#8 under AES key wrap with padding"
    );
    // A never-extractable key stays in: the module refuses even the trusted key.
    let fixed = a.find_key("fixed-key").expect("fixed-key");
    let refused = a
        .wrap_private_key(&wrap, &fixed)
        .expect_err("never extractable");
    assert_eq!(
        rv(&refused),
        ("WrapKey".into(), RvError::KeyUnextractable),
        "{refused}"
    );
    a.destroy_object(wrap).expect("the wrap key is destroyed");
    assert!(!a.label_exists("backup-wrap").expect("find"));
    drop(a);

    // Token B: the SO makes the same trusted key; the user unwraps and
    // makes the public key; find_key finds the pair with its policy.
    let b = open(&env, "restore");
    b.login_so(&so_pin).expect("SO login on B");
    let new_pin = AuthPin::from("24681357");
    b.init_user_pin(&new_pin).expect("C_InitPIN");
    b.create_trusted_wrap_key(&value, "restore-wrap")
        .expect("trusted key on B");
    b.logout().expect("logout");
    b.login(&new_pin).expect("the new user PIN logs in");
    let unwrap = b.find_trusted_wrap_key("restore-wrap").expect("on B");
    let id = ceremony::hex::decode(&kept.id).expect("hex id");
    // A wrapped key altered by one byte is refused by the module.
    let mut altered = wrapped.clone();
    altered[40] ^= 1;
    assert!(b
        .unwrap_private_key(&unwrap, &altered, "kept-key", &id, KeyAlgorithm::EcdsaP256)
        .is_err());
    assert!(!b.label_exists("kept-key").expect("find"));
    b.unwrap_private_key(&unwrap, &wrapped, "kept-key", &id, KeyAlgorithm::EcdsaP256)
        .expect("unwrapped");
    b.create_public_key("kept-key", &id, KeyAlgorithm::EcdsaP256, &kept.spki_der)
        .expect("public key");
    b.destroy_object(unwrap)
        .expect("the unwrap key is destroyed");
    let restored = b.find_key("kept-key").expect("the pair is found");
    assert_eq!(restored.spki_sha256, kept.spki_sha256);
    assert_eq!(restored.id, kept.id);
    // Unwrapped, the key is neither local nor always sensitive (SoftHSM
    // 2.6.1, as PKCS#11 says): its policy is `restored`.
    assert_eq!(restored.policy(), KeyPolicy::Restored);
    let attrs = &restored.attributes;
    assert!(
        attrs.sensitive && attrs.extractable && attrs.sign,
        "{attrs:?}"
    );
    assert_eq!(attrs.wrap_with_trusted, Some(true));
    assert!(
        !attrs.decrypt && !attrs.unwrap && !attrs.derive,
        "{attrs:?}"
    );
    assert!(!attrs.local && !attrs.always_sensitive, "{attrs:?}");
    restored
        .check_policy("restore")
        .expect("the restored key keeps the policy");

    // The restored key signs; openssl verifies with the original certificate's key.
    let signer = TokenSigner::new(&b, &restored, SignatureHash::Sha256).expect("signer");
    let message = b"restored on another token";
    let signature = signer.sign_raw(message).expect("signs");
    std::fs::write(env.path("msg"), message).expect("msg");
    std::fs::write(env.path("msg.sig"), &signature).expect("sig");
    ok(&openssl(
        env.dir.path(),
        &[
            "x509",
            "-in",
            "pki/kept.crt",
            "-pubkey",
            "-noout",
            "-out",
            "kept.pub",
        ],
    ));
    ok(&openssl(
        env.dir.path(),
        &[
            "dgst",
            "-sha256",
            "-verify",
            "kept.pub",
            "-signature",
            "msg.sig",
            "msg",
        ],
    ));
    drop(signer);
    drop(b);

    // inventory, through the binary: the restored key is `restored`, not
    // flagged; no wrap key is left on either token.
    env.write_secret("restore.pin", "24681357\n");
    let module = env.module();
    let inventory = |token: &str, pin: &str| {
        env.run(&[
            "inventory",
            "--module",
            &module,
            "--pin-file",
            pin,
            "--token",
            token,
        ])
    };
    let table = ok(&inventory("restore", "restore.pin"));
    assert!(
        table.contains("    policy restored (sensitive, extractable only under a trusted wrap key, sign only; unwrapped into this token, not generated in it)\n"),
        "{table}"
    );
    assert!(
        table.ends_with("1 private key(s), none flagged\n"),
        "{table}"
    );
    assert!(!table.contains("secret-key"), "{table}");
    let table = text(&inventory("ceremony", "user.pin").stdout);
    assert!(!table.contains("backup-wrap"), "{table}");
    std::fs::write(env.path("other"), b"something else").expect("other");
    let out = openssl(
        env.dir.path(),
        &[
            "dgst",
            "-sha256",
            "-verify",
            "kept.pub",
            "-signature",
            "msg.sig",
            "other",
        ],
    );
    assert!(
        !out.status.success(),
        "a signature verifies only its message"
    );
}
