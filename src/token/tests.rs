//! Tests of the token's errors: return values kept as values, what they
//! print, and the lost-session hint found by value through a chain of causes.

use super::*;

fn call(rv: Rv) -> Error {
    Error::Call {
        token: "t".into(),
        function: Function::Sign,
        rv,
    }
}

#[test]
fn a_return_value_prints_as_cryptoki_names_it() {
    assert_eq!(
        call(Rv::Module(RvError::SessionClosed)).to_string(),
        "token t: C_Sign failed: SessionClosed"
    );
    assert_eq!(
        call(Rv::Injected(RvError::DeviceError)).to_string(),
        "token t: C_Sign failed: DeviceError (injected by CEREMONY_FAULT)"
    );
    let login = Error::Login {
        token: "t".into(),
        rv: Rv::Module(RvError::PinIncorrect),
    };
    assert_eq!(login.to_string(), "token t: login refused: PinIncorrect");
    assert!(login.hint().is_some_and(|h| h.contains("the PIN is wrong")));
}

#[test]
fn a_lost_session_is_found_by_value_through_causes() {
    for rv in [
        Rv::Module(RvError::UserNotLoggedIn),
        Rv::Module(RvError::ObjectHandleInvalid),
        Rv::Injected(RvError::SessionClosed),
    ] {
        let e = call(rv);
        assert_eq!(e.hint().as_deref(), Some(SESSION_LOST_HINT), "{rv}");
        assert!(session_lost(&e), "{rv}");
        // As the x509 module receives it from a signer.
        let wrapped = signature::Error::from_source(e);
        assert!(session_lost(&wrapped), "{rv}");
    }
    let device = call(Rv::Injected(RvError::DeviceError));
    assert_eq!(device.hint(), None);
    assert!(!session_lost(&signature::Error::from_source(device)));
    assert!(!session_lost(&signature::Error::from_source(
        "SessionClosed, as text only"
    )));
}

#[test]
fn a_token_not_found_lists_the_unreadable_slots_and_hints_at_them() {
    let mut e = Error::TokenNotFound {
        module: PathBuf::from("/usr/lib/libopencryptoki.so"),
        selector: "label \"x\"".into(),
        present: vec!["\"a\" (serial 123)".into()],
        unreadable: vec![
            UnreadableSlot {
                slot: 3,
                reason: "C_GetTokenInfo failed: TokenNotRecognized".into(),
            },
            UnreadableSlot {
                slot: 4,
                reason: "C_GetTokenInfo failed: DeviceError".into(),
            },
        ],
    };
    assert_eq!(
        e.to_string(),
        "module /usr/lib/libopencryptoki.so: no token matches label \"x\" (tokens present: \"a\" (serial 123); unreadable: slot 3: C_GetTokenInfo failed: TokenNotRecognized; slot 4: C_GetTokenInfo failed: DeviceError)"
    );
    assert!(e
        .hint()
        .is_some_and(|h| h.starts_with("a slot's token could not be read")));
    if let Error::TokenNotFound { unreadable, .. } = &mut e {
        unreadable.clear();
    }
    assert!(e
        .to_string()
        .ends_with("(tokens present: \"a\" (serial 123))"));
    assert!(e.hint().is_some_and(|h| h.contains("SOFTHSM2_CONF")));
}

#[test]
fn no_session_left_has_a_hint() {
    let e = Error::Call {
        token: "t".into(),
        function: Function::OpenSession,
        rv: Rv::Module(RvError::SessionCount),
    };
    assert!(e
        .hint()
        .is_some_and(|h| h.contains("no session left") && h.contains("--sessions 1")));
}
