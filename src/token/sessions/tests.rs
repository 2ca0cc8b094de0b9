//! The session cap (issue 13): never more sessions than asked, than the
//! work keeps busy, or than the token allows.

use super::*;

fn limits(max: Option<u64>, open: Option<u64>) -> SessionLimits {
    SessionLimits {
        max_sessions: max,
        open_sessions: open,
    }
}

fn cap(count: usize, by: CapBy) -> SessionCap {
    SessionCap { count, by }
}

#[test]
fn a_token_without_a_limit_gives_what_is_asked_up_to_the_work() {
    let none = SessionLimits::default();
    assert_eq!(session_cap(4, 100, none), cap(4, CapBy::Asked));
    // A one-request batch opens one session.
    assert_eq!(session_cap(4, 1, none), cap(1, CapBy::Work));
    assert_eq!(session_cap(4, 0, none), cap(0, CapBy::Work));
    assert_eq!(session_cap(4, 4, none), cap(4, CapBy::Asked));
}

#[test]
fn the_token_maximum_less_the_open_sessions_caps_the_count() {
    // tpm2-pkcs11: 1024 at most; ours is open.
    assert_eq!(
        session_cap(64, 2000, limits(Some(1024), Some(1))),
        cap(64, CapBy::Asked)
    );
    // YubiHSM 2: 16 at most.
    assert_eq!(
        session_cap(64, 100, limits(Some(16), Some(1))),
        cap(15, CapBy::Token)
    );
    // An unreported open count is taken as our one session.
    assert_eq!(
        session_cap(64, 100, limits(Some(16), None)),
        cap(15, CapBy::Token)
    );
    assert_eq!(
        session_cap(8, 100, limits(Some(8), Some(3))),
        cap(5, CapBy::Token)
    );
    // The work can bound it below the token.
    assert_eq!(
        session_cap(64, 2, limits(Some(16), Some(1))),
        cap(2, CapBy::Work)
    );
}

#[test]
fn a_huge_maximum_is_no_cap_and_a_full_token_still_gets_one_try() {
    // opencryptoki reports ULONG_MAX-1.
    assert_eq!(
        session_cap(8, 100, limits(Some(u64::MAX - 1), None)),
        cap(8, CapBy::Asked)
    );
    // No room by the token's count: one is tried, and the token answers.
    assert_eq!(
        session_cap(8, 100, limits(Some(1), Some(1))),
        cap(1, CapBy::Token)
    );
    assert_eq!(
        session_cap(8, 100, limits(Some(2), Some(5))),
        cap(1, CapBy::Token)
    );
    // No work, no session, whatever the token says.
    assert_eq!(
        session_cap(8, 0, limits(Some(1), Some(1))),
        cap(0, CapBy::Work)
    );
}

#[test]
fn the_cap_never_exceeds_any_bound() {
    for asked in 1..=8 {
        for useful in 0..=10 {
            for max in [None, Some(0), Some(1), Some(2), Some(5), Some(u64::MAX - 1)] {
                for open in [None, Some(0), Some(1), Some(3)] {
                    let c = session_cap(asked, useful, limits(max, open));
                    assert!(c.count <= asked && c.count <= useful);
                    // Asking for none is asking for one.
                    assert_eq!(
                        session_cap(0, useful, limits(max, open)).count,
                        session_cap(1, useful, limits(max, open)).count
                    );
                    if let Some(max) = max {
                        let room = max.saturating_sub(open.unwrap_or(1));
                        assert!(
                            c.count as u64 <= room.max(1),
                            "{asked} {useful} {max} {open:?}"
                        );
                    }
                    assert_eq!(c.count == 0, useful == 0);
                }
            }
        }
    }
}
