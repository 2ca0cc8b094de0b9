//! A share file's text (`ceremony-share/1`, what a custodian's sealed share
//! decrypts to): parsed strictly; what parses writes back the same text, and
//! its share is checked against its commitments.
#![no_main]

use ceremony::custody::ShareFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = ShareFile::parse(text) {
        let _ = file.verify();
        let again = ShareFile::parse(&file.to_text()).expect("a parsed share file reads back");
        assert_eq!(again.to_text(), file.to_text());
        assert_eq!(again.set_id(), file.set_id());
    }
});
