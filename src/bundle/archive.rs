//! Strict tar: reading the members of a bundle and writing deterministic
//! archives.
//!
//! Reading accepts what this module writes and what GNU tar writes for the
//! same content: ustar, GNU or pre-POSIX (v7) headers holding regular files,
//! plus plain directory entries, which are checked and then ignored. Everything else is
//! refused with the member and the rule: links, devices, fifos, GNU long-name
//! and pax extension headers (so no header can rename the next one), names
//! that are absolute, contain `.`, `..`, empty components, backslashes or
//! control characters, names that are not UTF-8 or too long, duplicates and
//! names that collide when case is ignored or with another member's
//! directory, members over their size limit (checked on the header, before
//! the body is touched), too many members, and anything after the
//! end-of-archive marker but zeros.
//!
//! An archive is read from a [`Source`]: bytes in memory, or a file read with
//! `pread` ([`FileSource`]). Only headers, padding and what follows the
//! end-of-archive marker are read (the tail in chunks); a member's body is
//! left where it is, and the caller reads the [`Member::range`] it needs.
//!
//! This module owns the member-name rules. It never opens a path and never
//! returns a name that could escape the directory it is unpacked into.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{io_err, Error, Result, MAX_MEMBERS, MAX_PATH_LEN};

/// The tar block size.
const BLOCK: usize = 512;
/// [`BLOCK`] as a file offset.
const BLOCK_U64: u64 = BLOCK as u64;
/// How much of the tail after the end-of-archive marker is read at a time.
const TAIL_CHUNK: usize = 64 << 10;

/// One regular file of an archive: its checked name and where its bytes lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    /// The member name, checked against every rule.
    pub name: String,
    /// The member's bytes within the archive.
    pub range: Range<u64>,
}

/// Where an archive is read from: bytes in memory, or a [`FileSource`].
/// Only headers, padding and the tail are read; bodies are left to the caller.
pub(super) trait Source {
    /// The archive's length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from offset `pos`, failing if the archive ends first.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
}

impl<T: AsRef<[u8]> + ?Sized> Source for T {
    fn size(&self) -> u64 {
        self.as_ref().len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let bytes = self.as_ref();
        let src = usize::try_from(pos)
            .ok()
            .and_then(|start| bytes.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file read with `pread`, whose length is taken once, when it is wrapped.
/// Meant for a file nobody else can write (the private copy of a request
/// bundle); `&FileSource` may be shared between threads.
#[derive(Debug)]
pub(super) struct FileSource {
    /// The file.
    file: File,
    /// Its length when wrapped.
    len: u64,
}

impl FileSource {
    /// Wraps `file`, taking its current length.
    pub(super) fn new(file: File) -> io::Result<FileSource> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }

    /// Reads `range` into a new buffer.
    pub(super) fn read_range(&self, range: &Range<u64>) -> io::Result<Vec<u8>> {
        let len = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
        let mut buf = vec![0; len];
        self.read_exact_at(&mut buf, range.start)?;
        Ok(buf)
    }
}

impl FileSource {
    /// Reads the file from the start, as a stream.
    pub(super) fn reader(&self) -> FileSourceReader<'_> {
        FileSourceReader {
            source: self,
            pos: 0,
        }
    }
}

/// A [`FileSource`] read from start to end with `pread`, so the source
/// itself stays shareable.
pub(super) struct FileSourceReader<'a> {
    source: &'a FileSource,
    pos: u64,
}

impl io::Read for FileSourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.source.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = FileExt::read_at(&self.source.file, &mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, pos)
    }
}

/// The bytes of `range` (a member's range) within `tar`, the in-memory
/// archive it was read from.
#[cfg(test)]
pub(super) fn slice<'a>(tar: &'a [u8], range: &Range<u64>) -> &'a [u8] {
    let at = |offset: u64| usize::try_from(offset).expect("an offset within a slice fits usize");
    &tar[at(range.start)..at(range.end)]
}

/// Reads every regular file of `tar`, in archive order, without reading
/// their bodies. `limit(name)` is the largest size a member of that name may
/// have. `path` names the bundle in errors, including I/O errors from `tar`.
pub(super) fn read<S: Source + ?Sized>(
    path: &Path,
    tar: &S,
    limit: impl Fn(&str) -> u64,
) -> Result<Vec<Member>> {
    let archive_err = |rule: String| Error::Archive {
        path: path.to_path_buf(),
        rule,
    };
    let member_err = |member: &str, rule: String| Error::Member {
        path: path.to_path_buf(),
        member: member.to_string(),
        rule,
    };
    let len = tar.size();
    let mut block = [0u8; BLOCK];
    let mut members = Vec::new();
    let mut names = Names::default();
    let mut entries = 0usize;
    let mut pos = 0u64;
    loop {
        if len.saturating_sub(pos) < BLOCK_U64 {
            return Err(archive_err(if pos == len {
                "tar ends without an end-of-archive marker (truncated?)".into()
            } else {
                format!("tar ends inside the header block at offset {pos} (truncated?)")
            }));
        }
        tar.read_exact_at(&mut block, pos)
            .map_err(io_err(path, "read"))?;
        if block.iter().all(|&b| b == 0) {
            check_end(path, tar, pos)?;
            return Ok(members);
        }
        entries += 1;
        if entries > MAX_MEMBERS {
            return Err(archive_err(format!("more than {MAX_MEMBERS} members")));
        }
        let header = Header::parse(&block)
            .map_err(|rule| archive_err(format!("header at offset {pos}: {rule}")))?;
        let Ok(raw_name) = std::str::from_utf8(&header.name) else {
            return Err(member_err(
                &String::from_utf8_lossy(&header.name),
                "name is not UTF-8".into(),
            ));
        };
        let fail = |rule: String| member_err(raw_name, rule);
        let is_dir = match header.kind {
            b'0' | b'\0' => false,
            b'5' => true,
            other => {
                return Err(fail(format!(
                    "{} is not allowed; a bundle holds only regular files",
                    kind_name(other)
                )))
            }
        };
        if !header.link_empty {
            return Err(fail("a link name on a regular entry is not allowed".into()));
        }
        let size = header
            .size
            .ok_or_else(|| fail("size field is not a plain octal number".into()))?;
        let body = pos + BLOCK_U64;
        if is_dir {
            let dir = raw_name.strip_suffix('/').unwrap_or(raw_name);
            check_name(dir).map_err(&fail)?;
            if size != 0 {
                return Err(fail(format!("directory entry has size {size}, not 0")));
            }
            names.add_dir(dir).map_err(&fail)?;
            pos = body;
            continue;
        }
        check_name(raw_name).map_err(&fail)?;
        let max = limit(raw_name);
        if size > max {
            return Err(fail(format!(
                "size {size} bytes is over the limit of {max} bytes"
            )));
        }
        // size <= max, and the size field has at most 12 octal digits: no overflow.
        let padded = size.div_ceil(BLOCK_U64) * BLOCK_U64;
        // The body and its padding to a whole block must both be there.
        if len.saturating_sub(body) < padded {
            return Err(fail(
                "body runs past the end of the tar (truncated?)".into(),
            ));
        }
        let padding = &mut block[..(padded - size) as usize];
        tar.read_exact_at(padding, body + size)
            .map_err(io_err(path, "read"))?;
        if padding.iter().any(|&b| b != 0) {
            return Err(fail("non-zero bytes in the padding after the body".into()));
        }
        names.add_file(raw_name).map_err(&fail)?;
        members.push(Member {
            name: raw_name.to_string(),
            range: body..body + size,
        });
        pos = body + padded;
    }
}

/// Builds a tar of `members`, in order, with deterministic headers (ustar,
/// regular file, mode 0644, uid/gid 0, no user or group name, mtime 0).
/// Names are checked by the same rules as [`read`]. Only tests build a tar
/// in memory; the bundle writers stream theirs with [`header`], [`padding`]
/// and [`END`], byte for byte the same.
#[cfg(test)]
pub(super) fn write(path: &Path, members: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    if members.len() > MAX_MEMBERS {
        return Err(Error::Archive {
            path: path.to_path_buf(),
            rule: format!("more than {MAX_MEMBERS} members"),
        });
    }
    let member_err = |member: &str, rule: String| Error::Member {
        path: path.to_path_buf(),
        member: member.to_string(),
        rule,
    };
    let mut names = Names::default();
    let mut builder = tar::Builder::new(Vec::new());
    for &(name, bytes) in members {
        check_name(name)
            .and_then(|()| names.add_file(name))
            .map_err(|rule| member_err(name, rule))?;
        let header = header(name, bytes.len() as u64).map_err(|rule| member_err(name, rule))?;
        builder
            .append(&header, bytes)
            .map_err(|e| member_err(name, format!("cannot add to the tar: {e}")))?;
    }
    builder.into_inner().map_err(|e| Error::Archive {
        path: path.to_path_buf(),
        rule: format!("cannot finish the tar: {e}"),
    })
}

/// The deterministic header of one regular file of `size` bytes (ustar,
/// mode 0644, uid/gid 0, no user or group name, mtime 0), as `write` makes
/// it. The name is not checked against the rules here; returns the reason
/// when it does not fit a ustar header.
pub(super) fn header(name: &str, size: u64) -> std::result::Result<tar::Header, String> {
    let mut header = tar::Header::new_ustar();
    header
        .set_path(name)
        .map_err(|e| format!("cannot be stored in a ustar header: {e}"))?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header.set_cksum();
    Ok(header)
}

/// The zeros that pad a body of `size` bytes to a whole block.
pub(super) fn padding(size: u64) -> &'static [u8] {
    const ZEROS: [u8; BLOCK] = [0; BLOCK];
    // size % BLOCK < BLOCK, so the cast and the subtraction cannot fail.
    let used = (size % BLOCK as u64) as usize;
    &ZEROS[..(BLOCK - used) % BLOCK]
}

/// The bytes one member of `size` bytes takes in a tar: header, body, padding.
pub(super) fn member_len(size: u64) -> u64 {
    BLOCK as u64 + size.div_ceil(BLOCK as u64) * BLOCK as u64
}

/// The end-of-archive marker `write` ends with: two zero blocks.
pub(super) const END: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Checks a member name against the path rules; returns the rule broken.
pub(super) fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("empty name is not allowed".into());
    }
    if name.len() > MAX_PATH_LEN {
        return Err(format!(
            "name is {} bytes, over the limit of {MAX_PATH_LEN}",
            name.len()
        ));
    }
    if name.starts_with('/') {
        return Err("absolute path is not allowed".into());
    }
    if name.contains('\\') {
        return Err("backslash is not allowed".into());
    }
    if name.chars().any(char::is_control) {
        return Err("control character in the name is not allowed".into());
    }
    for component in name.split('/') {
        match component {
            "" => return Err("empty path component is not allowed".into()),
            "." => return Err("'.' path component is not allowed".into()),
            ".." => return Err("'..' path component is not allowed".into()),
            _ => {}
        }
    }
    Ok(())
}

/// The names seen so far, keyed by their lowercase form, to refuse
/// duplicates and names that would clash on a case-insensitive file system
/// or with another member's directory.
#[derive(Default)]
pub(super) struct Names {
    /// Lowercase file name → the name as written.
    files: HashMap<String, String>,
    /// Lowercase directory → the member that implies it.
    dirs: HashMap<String, String>,
}

impl Names {
    /// Records a regular file; returns the rule broken if it clashes.
    pub(super) fn add_file(&mut self, name: &str) -> std::result::Result<(), String> {
        let lower = name.to_lowercase();
        if let Some(other) = self.files.get(&lower) {
            return Err(if other == name {
                "duplicate member".into()
            } else {
                format!("collides with member {other:?} when case is ignored")
            });
        }
        if let Some(other) = self.dirs.get(&lower) {
            return Err(format!("is also a directory, of member {other:?}"));
        }
        self.add_ancestors(name)?;
        self.files.insert(lower, name.to_string());
        Ok(())
    }

    /// Records a directory entry; returns the rule broken if it clashes with a file.
    pub(super) fn add_dir(&mut self, dir: &str) -> std::result::Result<(), String> {
        let lower = dir.to_lowercase();
        if let Some(other) = self.files.get(&lower) {
            return Err(format!("directory entry clashes with member {other:?}"));
        }
        self.add_ancestors(dir)?;
        self.dirs.entry(lower).or_insert_with(|| format!("{dir}/"));
        Ok(())
    }

    /// Records the directories above `name`, refusing one that is a file.
    fn add_ancestors(&mut self, name: &str) -> std::result::Result<(), String> {
        let ancestors: Vec<&str> = name.match_indices('/').map(|(i, _)| &name[..i]).collect();
        for dir in &ancestors {
            if let Some(other) = self.files.get(&dir.to_lowercase()) {
                return Err(format!(
                    "its directory {dir:?} clashes with member {other:?}"
                ));
            }
        }
        for dir in ancestors {
            self.dirs
                .entry(dir.to_lowercase())
                .or_insert_with(|| name.to_string());
        }
        Ok(())
    }
}

/// The fields of a tar header that matter here.
struct Header {
    /// The full name (ustar prefix joined to the name field).
    name: Vec<u8>,
    /// The type flag.
    kind: u8,
    /// The size, or `None` when the field is not plain octal.
    size: Option<u64>,
    /// True when the link-name field is empty.
    link_empty: bool,
}

impl Header {
    /// Checks the checksum and magic of a non-zero header block and extracts its fields.
    fn parse(block: &[u8]) -> std::result::Result<Header, String> {
        let stated = octal(&block[148..156]).ok_or("checksum field is not octal")?;
        let actual: u64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stated != actual {
            return Err(format!(
                "checksum mismatch (stated {stated}, actual {actual}); not a tar header"
            ));
        }
        // POSIX ustar has a name prefix field; GNU and pre-POSIX (v7)
        // headers use that space for other things or leave it empty.
        let ustar = match &block[257..265] {
            b"ustar\x0000" => true,
            b"ustar  \x00" | [0, 0, 0, 0, 0, 0, 0, 0] => false,
            _ => return Err("not a ustar, GNU or v7 tar header".into()),
        };
        let mut name = Vec::with_capacity(MAX_PATH_LEN + 1);
        let prefix = until_nul(&block[345..500]);
        if ustar && !prefix.is_empty() {
            name.extend_from_slice(prefix);
            name.push(b'/');
        }
        name.extend_from_slice(until_nul(&block[0..100]));
        Ok(Header {
            name,
            kind: block[156],
            size: octal(&block[124..136]),
            link_empty: block[157] == 0,
        })
    }
}

/// The bytes of a NUL-terminated field, up to the first NUL.
fn until_nul(field: &[u8]) -> &[u8] {
    field.split(|&b| b == 0).next().unwrap_or(field)
}

/// Parses an octal numeric field: optional leading spaces, at least one
/// digit, then only NULs or spaces. The base-256 form is refused.
fn octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ')?;
    let field = &field[start..];
    let digits = field
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    if digits == 0 || field[digits..].iter().any(|&b| b != 0 && b != b' ') {
        return None;
    }
    field[..digits].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(8)?.checked_add(u64::from(d - b'0'))
    })
}

/// Checks what follows the first zero block, at `pos`: a second zero block,
/// then only zero padding in whole blocks. Reads the tail in chunks.
fn check_end<S: Source + ?Sized>(path: &Path, tar: &S, pos: u64) -> Result<()> {
    let archive_err = |rule: String| Error::Archive {
        path: path.to_path_buf(),
        rule,
    };
    let rest = tar.size() - pos;
    let mut chunk = vec![0u8; TAIL_CHUNK];
    let mut at = pos;
    while at < tar.size() {
        let n = usize::try_from(tar.size() - at).map_or(TAIL_CHUNK, |left| left.min(TAIL_CHUNK));
        let chunk = &mut chunk[..n];
        tar.read_exact_at(chunk, at).map_err(io_err(path, "read"))?;
        if let Some(i) = chunk.iter().position(|&b| b != 0) {
            return Err(archive_err(format!(
                "data at offset {} after the end-of-archive marker at offset {pos}",
                at + i as u64
            )));
        }
        at += n as u64;
    }
    if rest < 2 * BLOCK_U64 {
        return Err(archive_err(format!(
            "tar ends with a single zero block at offset {pos}; the end-of-archive marker is two (truncated?)"
        )));
    }
    if !rest.is_multiple_of(BLOCK_U64) {
        return Err(archive_err(
            "tar ends with a partial block after the end-of-archive marker".into(),
        ));
    }
    Ok(())
}

/// What a tar type flag means, for error messages.
fn kind_name(kind: u8) -> String {
    match kind {
        b'1' => "a hard link".into(),
        b'2' => "a symbolic link".into(),
        b'3' => "a character device".into(),
        b'4' => "a block device".into(),
        b'6' => "a fifo".into(),
        b'7' => "a contiguous file".into(),
        b'L' => "a GNU long-name header".into(),
        b'K' => "a GNU long-link header".into(),
        b'x' => "a pax extended header".into(),
        b'g' => "a pax global header".into(),
        b'S' => "a GNU sparse file".into(),
        b'D' => "a GNU dump directory".into(),
        b'M' => "a GNU multi-volume continuation".into(),
        b'V' => "a GNU volume label".into(),
        b'N' => "a GNU old long-name entry".into(),
        other if other.is_ascii_graphic() => format!("entry type {:?}", other as char),
        other => format!("entry type 0x{other:02x}"),
    }
}

#[cfg(test)]
pub(super) mod tests;
