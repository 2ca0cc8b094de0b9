//! The private keys a ceremony makes cannot be read out of the token.
//!
//! This file holds a single test because it points SoftHSM at the test's
//! token through this process's environment (SOFTHSM2_CONF), which parallel
//! tests in one process would share.

mod common;

use common::{ok, Env};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

#[test]
fn private_values_cannot_be_read_through_pkcs11() {
    let env = Env::new();
    let steps = [
        common::root_step("ec", "ecdsa-p256", "CN=ec", "ec.crt", ""),
        common::root_step("rsa", "rsa-2048", "CN=rsa", "rsa.crt", ""),
    ]
    .concat();
    let script = env.write("keys.toml", &common::script(&steps));
    ok(&env.run(&[
        "run",
        script.to_str().expect("utf-8"),
        "--pin-file",
        "user.pin",
    ]));

    std::env::set_var("SOFTHSM2_CONF", env.path("softhsm2.conf"));
    let ctx = Pkcs11::new(common::module()).expect("module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("initialize");
    let slot = ctx
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| ctx.get_token_info(*s).expect("info").label().trim() == "ceremony")
        .expect("token");
    let session = ctx.open_ro_session(slot).expect("session");
    session
        .login(UserType::User, Some(&AuthPin::from(env.pin.as_str())))
        .expect("login");
    for label in ["ec-key", "rsa-key"] {
        let key = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .expect("find")
            .pop()
            .expect("the key exists");
        // A sensitive attribute is answered with CKR_ATTRIBUTE_SENSITIVE,
        // which cryptoki reports by leaving the attribute out.
        let secret = session
            .get_attributes(
                key,
                &[
                    AttributeType::Value,
                    AttributeType::PrivateExponent,
                    AttributeType::Prime1,
                ],
            )
            .expect("get_attributes");
        assert!(secret.is_empty(), "{label}: the token revealed {secret:?}");
        let flags = session
            .get_attributes(
                key,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::Decrypt,
                    AttributeType::Unwrap,
                    AttributeType::Derive,
                ],
            )
            .expect("flags");
        assert_eq!(
            flags,
            vec![
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::NeverExtractable(true),
                Attribute::Decrypt(false),
                Attribute::Unwrap(false),
                Attribute::Derive(false),
            ],
            "{label}"
        );
    }
}
