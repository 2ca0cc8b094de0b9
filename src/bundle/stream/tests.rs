//! Tests of the streamed tar writer: what it writes is what the reader reads.

use super::*;
use sha2::{Digest, Sha256};

#[test]
fn a_stream_is_the_tar_the_reader_reads() {
    let mut tar = TarStream::new(Vec::new());
    let header = archive::header("a.txt", 3).expect("header");
    tar.append(&header, b"abc").expect("append");
    assert_eq!(tar.len(), 1024);
    assert_eq!(tar.len_with(&[600]), 1024 + 512 + 1024 + 1024);
    let body = b"{\"x\":1}\n";
    let sha256: [u8; 32] = Sha256::digest(body).into();
    let header = archive::header("m.json", body.len() as u64).expect("header");
    let again = tar.append_again(&header, body.len() as u64, sha256, |w| w.write_all(body));
    assert!(again.is_ok());
    assert!(!tar.is_broken());
    let bytes = tar.end().expect("end");
    assert_eq!(bytes.len(), 1024 + 1024 + 1024);
    let members = archive::read(std::path::Path::new("t"), &bytes, |_| 1 << 20).expect("read");
    let names: Vec<_> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["a.txt", "m.json"]);
    assert_eq!(archive::slice(&bytes, &members[1].range), body);
}

#[test]
fn a_body_written_differently_the_second_time_breaks_the_tar() {
    let body = b"first";
    let sha256: [u8; 32] = Sha256::digest(body).into();
    let header = archive::header("m", 5).expect("header");
    for (second, over) in [(&b"other"[..], false), (&b"longer"[..], true)] {
        let mut tar = TarStream::new(Vec::new());
        let again = tar.append_again(&header, 5, sha256, |w| w.write_all(second));
        match again {
            Err(Again::Differs { over: o, len, .. }) => {
                assert_eq!(o, over);
                assert!(over || len == 5);
            }
            _ => panic!("a different body must be refused"),
        }
        assert!(tar.is_broken());
    }
}
