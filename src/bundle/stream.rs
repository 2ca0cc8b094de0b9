//! A tar written as a stream, for the two bundle writers: members are
//! appended in order (header, body, padding to a whole block), the length
//! so far is known for the size limits, and a failed write marks the tar
//! as broken, so that it is never finished.
//!
//! This module owns only that framing. The names, the limits and the
//! errors belong to the writers ([`super::request::RequestWriter`] and
//! [`super::output::OutputWriter`]).

use std::io::{self, Write};

use super::archive;
use super::Digesting;

/// A tar being written into `W`.
pub(super) struct TarStream<W> {
    /// Where the tar goes.
    out: W,
    /// The bytes written so far.
    len: u64,
    /// Set while a member is being written; still set after a failed write.
    broken: bool,
}

/// Why [`TarStream::append_again`] did not append its member.
pub(super) enum Again {
    /// A write failed: the tar is broken.
    Io(io::Error),
    /// The second call wrote other bytes than the first: more than expected
    /// (`over`), or `len` bytes with SHA-256 `sha256`. The tar is broken.
    Differs {
        over: bool,
        len: u64,
        sha256: [u8; 32],
    },
}

impl<W: Write> TarStream<W> {
    /// An empty tar written into `out`.
    pub(super) fn new(out: W) -> Self {
        TarStream {
            out,
            len: 0,
            broken: false,
        }
    }

    /// The bytes written so far.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// The tar's length once members of `sizes` bytes and the
    /// end-of-archive marker follow.
    pub(super) fn len_with(&self, sizes: &[u64]) -> u64 {
        let members: u64 = sizes.iter().map(|&size| archive::member_len(size)).sum();
        self.len + members + archive::END.len() as u64
    }

    /// Sets the length written so far, for tests of the size limits that
    /// should not have to write a gigabyte first.
    #[cfg(test)]
    pub(super) fn pretend_len(&mut self, len: u64) {
        self.len = len;
    }

    /// True once a write has failed: the tar is incomplete for good.
    pub(super) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Appends one member: `header` (made for `body.len()` bytes), `body`
    /// and its padding.
    pub(super) fn append(&mut self, header: &tar::Header, body: &[u8]) -> io::Result<()> {
        let size = body.len() as u64;
        self.broken = true;
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(body)?;
        self.out.write_all(archive::padding(size))?;
        self.broken = false;
        self.len += archive::member_len(size);
        Ok(())
    }

    /// Appends one member whose body `write` produces for the second time:
    /// it must write exactly what the first call did, `len` bytes with
    /// SHA-256 `sha256` (the size `header` was made for), so that a body
    /// never has to be held in memory to learn its size.
    pub(super) fn append_again(
        &mut self,
        header: &tar::Header,
        len: u64,
        sha256: [u8; 32],
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), Again> {
        self.broken = true;
        self.out.write_all(header.as_bytes()).map_err(Again::Io)?;
        let mut again = Digesting::new(&mut self.out, len);
        let wrote = write(&mut again);
        let (over, then_len, then_sha256) = (again.over, again.len, again.digest());
        if over || (wrote.is_ok() && (then_len, then_sha256) != (len, sha256)) {
            return Err(Again::Differs {
                over,
                len: then_len,
                sha256: then_sha256,
            });
        }
        wrote.map_err(Again::Io)?;
        self.out
            .write_all(archive::padding(len))
            .map_err(Again::Io)?;
        self.broken = false;
        self.len += archive::member_len(len);
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub(super) fn end(mut self) -> io::Result<W> {
        self.out.write_all(&archive::END)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests;
