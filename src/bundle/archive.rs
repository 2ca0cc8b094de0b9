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
//! This module owns the member-name rules. It never touches the file system
//! and never returns a name that could escape the directory it is unpacked
//! into.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::{Error, Result, MAX_MEMBERS, MAX_PATH_LEN};

/// The tar block size.
const BLOCK: usize = 512;

/// One regular file of an archive: its checked name and where its bytes lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    /// The member name, checked against every rule.
    pub name: String,
    /// The member's bytes within the archive.
    pub range: Range<usize>,
}

/// Reads every regular file of `tar`, in archive order. `limit(name)` is the
/// largest size a member of that name may have. `path` names the bundle in errors.
pub(super) fn read(path: &Path, tar: &[u8], limit: impl Fn(&str) -> u64) -> Result<Vec<Member>> {
    let archive_err = |rule: String| Error::Archive {
        path: path.to_path_buf(),
        rule,
    };
    let member_err = |member: &str, rule: String| Error::Member {
        path: path.to_path_buf(),
        member: member.to_string(),
        rule,
    };
    let mut members = Vec::new();
    let mut names = Names::default();
    let mut entries = 0usize;
    let mut pos = 0usize;
    loop {
        let Some(block) = tar.get(pos..pos + BLOCK) else {
            return Err(archive_err(if pos == tar.len() {
                "tar ends without an end-of-archive marker (truncated?)".into()
            } else {
                format!("tar ends inside the header block at offset {pos} (truncated?)")
            }));
        };
        if block.iter().all(|&b| b == 0) {
            check_end(&tar[pos..], pos).map_err(archive_err)?;
            return Ok(members);
        }
        entries += 1;
        if entries > MAX_MEMBERS {
            return Err(archive_err(format!("more than {MAX_MEMBERS} members")));
        }
        let header = Header::parse(block)
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
        let body = pos + BLOCK;
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
        // size <= max, and every limit fits in memory, so this cannot overflow.
        let size = usize::try_from(size).map_err(|_| fail("size does not fit in memory".into()))?;
        let padded = size.div_ceil(BLOCK) * BLOCK;
        // The body and its padding to a whole block must both be there.
        let Some(padding) = tar.get(body + size..body + padded) else {
            return Err(fail(
                "body runs past the end of the tar (truncated?)".into(),
            ));
        };
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
/// Names are checked by the same rules as [`read`].
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
        let mut header = tar::Header::new_ustar();
        header
            .set_path(name)
            .map_err(|e| member_err(name, format!("cannot be stored in a ustar header: {e}")))?;
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        builder
            .append(&header, bytes)
            .map_err(|e| member_err(name, format!("cannot add to the tar: {e}")))?;
    }
    builder.into_inner().map_err(|e| Error::Archive {
        path: path.to_path_buf(),
        rule: format!("cannot finish the tar: {e}"),
    })
}

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

/// Checks what follows the first zero block: a second zero block, then only
/// zero padding in whole blocks.
fn check_end(rest: &[u8], pos: usize) -> std::result::Result<(), String> {
    if let Some(i) = rest.iter().position(|&b| b != 0) {
        return Err(format!(
            "data at offset {} after the end-of-archive marker at offset {pos}",
            pos + i
        ));
    }
    if rest.len() < 2 * BLOCK {
        return Err(format!(
            "tar ends with a single zero block at offset {pos}; the end-of-archive marker is two (truncated?)"
        ));
    }
    if !rest.len().is_multiple_of(BLOCK) {
        return Err("tar ends with a partial block after the end-of-archive marker".into());
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
pub(super) mod tests {
    use super::*;

    /// A raw header block, for crafting archives the `tar` crate refuses to write.
    pub(crate) fn raw_header(name: &[u8], kind: u8, size: u64) -> [u8; BLOCK] {
        let mut h = tar::Header::new_ustar();
        {
            let bytes = h.as_mut_bytes();
            bytes[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
            if name.len() > 100 {
                bytes[345..345 + name.len() - 100].copy_from_slice(&name[100..]);
            }
        }
        h.set_mode(0o644);
        h.set_size(size);
        h.as_mut_bytes()[156] = kind;
        h.set_cksum();
        *h.as_bytes()
    }

    /// A tar made of raw entries (header plus zero-padded body), then the end marker.
    pub(crate) fn raw_tar(entries: &[([u8; BLOCK], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (header, body) in entries {
            out.extend_from_slice(header);
            out.extend_from_slice(body);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out.resize(out.len() + 2 * BLOCK, 0);
        out
    }

    fn parse(tar: &[u8]) -> Result<Vec<Member>> {
        read(Path::new("t.tar"), tar, |_| 1 << 20)
    }

    fn one(name: &[u8], kind: u8) -> String {
        let tar = raw_tar(&[(raw_header(name, kind, 0), b"")]);
        parse(&tar).expect_err("must refuse").to_string()
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let long = format!("{}/{}", "d".repeat(150), "f".repeat(100));
        let members: Vec<(&str, &[u8])> = vec![
            ("a.txt", b"hello"),
            ("pki/etcd/server.crt", &[7u8; 1000]),
            (&long, b""),
        ];
        let tar = write(Path::new("t.tar"), &members).expect("write");
        assert_eq!(tar, write(Path::new("t.tar"), &members).expect("write"));
        let read = parse(&tar).expect("read");
        let got: Vec<(&str, &[u8])> = read
            .iter()
            .map(|m| (m.name.as_str(), &tar[m.range.clone()]))
            .collect();
        assert_eq!(got, members);
    }

    #[test]
    fn refuses_non_regular_entries() {
        for (kind, what) in [
            (b'1', "hard link"),
            (b'2', "symbolic link"),
            (b'3', "character device"),
            (b'4', "block device"),
            (b'6', "fifo"),
            (b'L', "GNU long-name"),
            (b'K', "GNU long-link"),
            (b'x', "pax extended"),
            (b'g', "pax global"),
            (b'S', "sparse"),
        ] {
            let err = one(b"x", kind);
            assert!(err.contains("member \"x\"") && err.contains(what), "{err}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        for (name, rule) in [
            (&b"../x"[..], "'..' path component"),
            (b"a/../x", "'..' path component"),
            (b"/abs", "absolute path"),
            (b"./x", "'.' path component"),
            (b"a//b", "empty path component"),
            (b"a\\b", "backslash"),
            (b"a\nb", "control character"),
            (b"caf\xe9", "not UTF-8"),
        ] {
            let err = one(name, b'0');
            assert!(err.contains(rule), "{name:?}: {err}");
        }
        parse(&raw_tar(&[(raw_header(&[b'a'; 100], b'0', 0), b"")])).expect("100 bytes is fine");
        // 155 bytes of prefix, a slash and 100 bytes of name: 256 bytes.
        let err = one(&[b'a'; 255], b'0');
        assert!(
            err.contains("name is 256 bytes, over the limit of 255"),
            "{err}"
        );
    }

    #[test]
    fn refuses_duplicates_and_clashes() {
        for (names, rule) in [
            (&["a", "a"][..], "duplicate member"),
            (&["certs/CA.crt", "certs/ca.crt"], "when case is ignored"),
            (&["a/b", "a"], "is also a directory"),
            (&["a", "a/b"], "its directory \"a\""),
            (&["A", "a/b"], "its directory \"a\""),
        ] {
            let entries: Vec<_> = names
                .iter()
                .map(|n| (raw_header(n.as_bytes(), b'0', 0), &b""[..]))
                .collect();
            let err = parse(&raw_tar(&entries))
                .expect_err("must refuse")
                .to_string();
            assert!(err.contains(rule), "{names:?}: {err}");
            let members: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, &b""[..])).collect();
            let err = write(Path::new("t.tar"), &members).expect_err("write must refuse");
            assert!(err.to_string().contains(rule), "{names:?}: {err}");
        }
    }

    #[test]
    fn plain_directories_are_ignored_others_refused() {
        let tar = raw_tar(&[
            (raw_header(b"csr/", b'5', 0), b""),
            (raw_header(b"csr/a.csr", b'0', 2), b"hi"),
        ]);
        let members = parse(&tar).expect("read");
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].name, "csr/a.csr");
        assert!(one(b"../", b'5').contains("'..' path component"));
        assert!(one(b"/etc/", b'5').contains("absolute path"));
        let tar = raw_tar(&[
            (raw_header(b"a", b'0', 0), b""),
            (raw_header(b"a/", b'5', 0), b""),
        ]);
        assert!(parse(&tar)
            .expect_err("clash")
            .to_string()
            .contains("clashes"));
    }

    #[test]
    fn size_is_checked_on_the_header_before_the_body() {
        // The header claims 1 GiB but no body follows: the limit, not truncation, is reported.
        let tar = raw_tar(&[(raw_header(b"big", b'0', 1 << 30), b"")]);
        let err = parse(&tar).expect_err("too big").to_string();
        assert!(
            err.contains("member \"big\": size 1073741824 bytes is over the limit"),
            "{err}"
        );
        let tar = raw_tar(&[(raw_header(b"short", b'0', 4096), b"")]);
        let err = parse(&tar).expect_err("truncated").to_string();
        assert!(err.contains("runs past the end"), "{err}");
    }

    #[test]
    fn refuses_bad_endings() {
        let good = raw_tar(&[(raw_header(b"a", b'0', 1), b"x")]);
        parse(&good).expect("good");
        let mut padded = good.clone();
        padded.resize(10240, 0);
        parse(&padded).expect("record padding is fine");
        let mut garbage = good.clone();
        garbage.extend_from_slice(b"junk");
        assert!(parse(&garbage)
            .expect_err("garbage")
            .to_string()
            .contains("after the end-of-archive"));
        let mut partial = good.clone();
        partial.extend_from_slice(&[0; 100]);
        assert!(parse(&partial)
            .expect_err("partial")
            .to_string()
            .contains("partial block"));
        let lone = &good[..good.len() - BLOCK];
        assert!(parse(lone)
            .expect_err("lone")
            .to_string()
            .contains("single zero block"));
        let none = &good[..good.len() - 2 * BLOCK];
        assert!(parse(none)
            .expect_err("none")
            .to_string()
            .contains("without an end-of-archive"));
        let mut dirty = good.clone();
        dirty[BLOCK + 1] = 1;
        assert!(parse(&dirty)
            .expect_err("padding")
            .to_string()
            .contains("padding"));
        let mut bad_sum = good;
        bad_sum[0] = b'b';
        assert!(parse(&bad_sum)
            .expect_err("checksum")
            .to_string()
            .contains("checksum mismatch"));
        assert!(parse(b"").is_err());
    }

    #[test]
    fn reads_v7_and_gnu_headers_and_refuses_other_magic() {
        let retag = |magic: &[u8; 8]| {
            let mut h = tar::Header::new_old();
            h.as_mut_bytes()
                .copy_from_slice(&raw_header(b"a/b", b'0', 1));
            h.as_mut_bytes()[257..265].copy_from_slice(magic);
            h.set_cksum();
            raw_tar(&[(*h.as_bytes(), b"x")])
        };
        for magic in [b"ustar\x0000", b"ustar  \x00", &[0; 8]] {
            let tar = retag(magic);
            let members = parse(&tar).expect("accepted");
            assert_eq!(members[0].name, "a/b");
        }
        let err = parse(&retag(b"ustar\x00\x00\x00")).expect_err("odd magic");
        assert!(
            err.to_string()
                .contains("not a ustar, GNU or v7 tar header"),
            "{err}"
        );
    }

    #[test]
    fn refuses_too_many_members() {
        let header = raw_header(b"d/", b'5', 0);
        let mut tar = Vec::with_capacity((MAX_MEMBERS + 3) * BLOCK);
        for _ in 0..=MAX_MEMBERS {
            tar.extend_from_slice(&header);
        }
        tar.resize(tar.len() + 2 * BLOCK, 0);
        let err = parse(&tar).expect_err("too many").to_string();
        assert!(err.contains("more than 250000 members"), "{err}");
    }
}
