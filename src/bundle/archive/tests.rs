//! Tests of the strict tar reader and writer: what is read, what is refused.

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
        .map(|m| (m.name.as_str(), slice(&tar, &m.range)))
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

/// `tar` written to an unnamed temporary file, as a [`FileSource`].
fn file_source(tar: &[u8]) -> FileSource {
    use std::io::Write;
    let mut file = tempfile::tempfile().expect("tempfile");
    file.write_all(tar).expect("write");
    FileSource::new(file).expect("wrap")
}

#[test]
fn a_file_reads_exactly_as_the_same_bytes_in_memory() {
    let good = write(
        Path::new("t.tar"),
        &[("a", b"x"), ("d/b", &[7u8; 1000]), ("e", b"")],
    )
    .expect("write");
    let mut long_tail = good.clone();
    long_tail.resize(good.len() + 3 * TAIL_CHUNK, 0);
    let mut late_junk = long_tail.clone();
    let junk_at = late_junk.len() - 700;
    late_junk[junk_at] = 1;
    let mut dirty_padding = good.clone();
    dirty_padding[BLOCK + 1] = 1;
    let cases = [
        good.clone(),
        long_tail,
        late_junk,
        dirty_padding,
        good[..good.len() - BLOCK].to_vec(),
        good[..good.len() - 2 * BLOCK].to_vec(),
        good[..BLOCK + 100].to_vec(),
        good[..BLOCK - 1].to_vec(),
        raw_tar(&[(raw_header(b"big", b'0', 1 << 30), b"")]),
        raw_tar(&[(raw_header(b"l", b'2', 0), b"")]),
        Vec::new(),
    ];
    for tar in cases {
        let from_memory = parse(&tar).map_err(|e| e.to_string());
        let from_file =
            read(Path::new("t.tar"), &file_source(&tar), |_| 1 << 20).map_err(|e| e.to_string());
        assert_eq!(from_file, from_memory);
    }
    let members = parse(&good).expect("read");
    let file = file_source(&good);
    for m in &members {
        assert_eq!(
            file.read_range(&m.range).expect("read"),
            slice(&good, &m.range)
        );
    }
}

#[test]
fn junk_far_into_the_tail_is_found_at_its_offset() {
    let mut tar = raw_tar(&[(raw_header(b"a", b'0', 1), b"x")]);
    let end = tar.len() - 2 * BLOCK;
    tar.resize(tar.len() + 2 * TAIL_CHUNK, 0);
    let at = end + TAIL_CHUNK + 3;
    tar[at] = 9;
    let err = parse(&tar).expect_err("junk").to_string();
    assert!(
        err.ends_with(&format!(
            "data at offset {at} after the end-of-archive marker at offset {end}"
        )),
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
