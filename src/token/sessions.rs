//! Signing sessions within the token's limits: never more than the token
//! allows, than were asked for, or than a batch can keep busy; a token that
//! answers `CKR_SESSION_COUNT` leaves the batch the sessions it has.

use cryptoki::error::RvError;

use super::slots::{self, SessionLimits};
use super::{Error, Result, Rv, SigningSession, Token};

/// What bounds the number of signing sessions a batch opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapBy {
    /// The number asked for (`--sessions`).
    Asked,
    /// The work: a batch keeps no more sessions busy than this.
    Work,
    /// The token's `ulMaxSessionCount`, less the sessions already open.
    Token,
}

/// How many signing sessions to open, and why that many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCap {
    /// Sessions to open.
    pub count: usize,
    /// What bounds `count`.
    pub by: CapBy,
}

/// The signing sessions to open: the fewest of `asked` (at least 1), `useful` (the most
/// sessions the work can keep busy; 0 for no work) and the room the token
/// reports (`ulMaxSessionCount` less the sessions open, taken as 1, this
/// token's own session, when the token does not say). A token that reports
/// no limit (effectively infinite or unavailable) sets none. When the token
/// reports no room left but there is work, one session is still tried (its
/// count may be stale; it answers `CKR_SESSION_COUNT` if not).
pub fn session_cap(asked: usize, useful: usize, limits: SessionLimits) -> SessionCap {
    let mut cap = SessionCap {
        count: asked.max(1),
        by: CapBy::Asked,
    };
    if useful < cap.count {
        cap = SessionCap {
            count: useful,
            by: CapBy::Work,
        };
    }
    if let Some(max) = limits.max_sessions {
        let room = max.saturating_sub(limits.open_sessions.unwrap_or(1));
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        if room < cap.count {
            cap = SessionCap {
                count: room.max(usize::from(useful > 0)),
                by: CapBy::Token,
            };
        }
    }
    cap
}

/// The signing sessions a batch got, and the account of them that the
/// transcript records.
pub struct SigningSessions {
    /// The sessions opened.
    pub sessions: Vec<SigningSession>,
    /// How many were asked for.
    pub asked: usize,
    /// How many were to be opened, and why that many.
    pub cap: SessionCap,
    /// The token's session limits, as it reported them before the opening.
    pub limits: SessionLimits,
    /// The return value that stopped the opening short (`SessionCount`).
    pub stopped_by: Option<Rv>,
}

impl SigningSessions {
    /// Why this many sessions were opened, in words.
    pub fn reason(&self) -> String {
        let opened = self.sessions.len();
        if let Some(rv) = self.stopped_by {
            return format!(
                "C_OpenSession answered {rv} after {opened} of {} session(s); the batch signs on those",
                self.cap.count
            );
        }
        match self.cap.by {
            CapBy::Asked => format!("{opened} session(s) as asked"),
            CapBy::Work => format!("the batch keeps at most {} session(s) busy", self.cap.count),
            CapBy::Token => format!(
                "the token allows {} session(s) at once and {} are open",
                self.limits.max_sessions.unwrap_or_default(),
                self.limits.open_sessions.unwrap_or(1)
            ),
        }
    }
}

impl Token {
    /// Opens up to `asked` more read-only sessions on the token, for
    /// signing in parallel, but no more than `useful` (the most the work can
    /// keep busy) nor than the token allows ([`session_cap`]). A token that
    /// answers `CKR_SESSION_COUNT` ends the opening; the sessions opened by
    /// then are kept. Fails only when not even one can be opened. They share
    /// this session's login (PKCS#11 logs in a whole application, not one
    /// session) and end when dropped.
    pub fn signing_sessions(&self, asked: usize, useful: usize) -> Result<SigningSessions> {
        // Limits unknown (the token info unreadable now) set no cap; the
        // token still answers CKR_SESSION_COUNT.
        let limits = slots::read(&self.ctx, &self.module, self.slot)
            .map(|info| info.limits)
            .unwrap_or_default();
        let cap = session_cap(asked, useful, limits);
        let mut granted = SigningSessions {
            sessions: Vec::with_capacity(cap.count),
            asked,
            cap,
            limits,
            stopped_by: None,
        };
        while granted.sessions.len() < cap.count {
            match self.open_signing_session(granted.sessions.len()) {
                Ok(session) => granted.sessions.push(session),
                Err(Error::Call { rv, .. })
                    if rv.value() == RvError::SessionCount && !granted.sessions.is_empty() =>
                {
                    granted.stopped_by = Some(rv);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(granted)
    }

    fn open_signing_session(&self, opened: usize) -> Result<SigningSession> {
        #[cfg(feature = "fault-injection")]
        super::fault::before_open_session(&self.identity.label, opened)?;
        let _ = opened;
        self.ctx
            .open_ro_session(self.slot)
            .map(SigningSession)
            .map_err(|e| self.call_error(e))
    }
}

#[cfg(test)]
mod tests;
