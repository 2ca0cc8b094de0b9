//! Reading a transcript for the report: every entry that reads, as a typed
//! event, grouped by ceremony. Lenient on purpose: a line that is not an
//! entry, or an event this tool does not know, is left out, so a tampered
//! transcript still renders (under the verdict the chain check gives).

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::Error;
use crate::events::{Event, FileDigest};
use crate::token::TokenIdentity;

/// One ceremony, as the report shows it.
#[derive(Debug, Default)]
pub(super) struct Ceremony {
    pub(super) start: Option<Event<'static>>,
    pub(super) time: String,
    pub(super) end: Option<Event<'static>>,
    pub(super) token: Option<TokenIdentity>,
    pub(super) rows: Vec<(String, Event<'static>)>,
}

/// The parts of an entry the report reads; the chain is checked apart.
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    time: String,
    event: Read,
}

/// An event, or an entry this tool does not know (a `crash_remnant`, or one
/// changed so it no longer reads): the latter is shown in no table.
#[derive(Deserialize)]
#[serde(untagged)]
enum Read {
    Known(Box<Event<'static>>),
    Other(serde::de::IgnoredAny),
}

/// Reads every parseable entry, grouping them by ceremony.
pub(super) fn collect(path: &Path) -> Result<Vec<Ceremony>, Error> {
    let read = |reason: String| Error::Read {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| read(e.to_string()))?;
    let mut out: Vec<Ceremony> = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| read(e.to_string()))?;
        let Ok(Entry { time, event }) = serde_json::from_str::<Entry>(&line) else {
            continue;
        };
        let event = match event {
            Read::Known(event) => Some(*event),
            Read::Other(_) => None,
        };
        if let Some(event @ Event::CeremonyStart { .. }) = event {
            out.push(Ceremony {
                start: Some(event),
                time,
                ..Ceremony::default()
            });
            continue;
        }
        if out.is_empty() {
            out.push(Ceremony::default());
        }
        let c = out.last_mut().expect("pushed above");
        match event {
            Some(event @ Event::CeremonyEnd { .. }) => c.end = Some(event),
            Some(Event::Token { identity }) => c.token = Some(identity.into_owned()),
            Some(event) => c.rows.push((time, event)),
            None => {}
        }
    }
    Ok(out)
}

/// What `ceremony_start` says, empty where the ceremony has none.
#[derive(Default)]
pub(super) struct Start<'a> {
    pub(super) ceremony: &'a str,
    pub(super) administrator: &'a str,
    pub(super) rehearsal: bool,
    pub(super) script: &'a str,
    pub(super) script_sha256: &'a str,
    pub(super) tool: &'a str,
    pub(super) version: &'a str,
    pub(super) operator: &'a str,
    pub(super) witnesses: &'a [String],
    pub(super) binary: Option<&'a FileDigest>,
    pub(super) module: Option<&'a FileDigest>,
    pub(super) token: Option<&'a TokenIdentity>,
    pub(super) token_unavailable: Option<&'a str>,
}

pub(super) fn start(c: &Ceremony) -> Start<'_> {
    match &c.start {
        Some(Event::CeremonyStart {
            ceremony,
            administrator,
            rehearsal,
            script,
            script_sha256,
            tool,
            version,
            operator,
            witnesses,
            binary,
            module,
            token,
            token_unavailable,
            ..
        }) => Start {
            ceremony,
            administrator: administrator.as_deref().unwrap_or_default(),
            rehearsal: *rehearsal,
            script,
            script_sha256,
            tool,
            version,
            operator,
            witnesses,
            binary: binary.as_deref(),
            module: module.as_deref(),
            token: token.as_deref(),
            token_unavailable: token_unavailable.as_deref(),
        },
        _ => Start::default(),
    }
}
