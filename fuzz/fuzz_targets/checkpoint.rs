//! A checkpoint file (`transcript verify --checkpoint`): parsed, then its
//! signature checked with the demo's audit key.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use ceremony::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;

fn audit_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = ceremony_fuzz::scratch("audit-key.pub");
        std::fs::write(&path, ceremony_fuzz::AUDIT_KEY_PEM).expect("write the audit key");
        ceremony::checkpoint::read_public_key(&path).expect("the fixture audit key")
    })
}

fuzz_target!(|data: &[u8]| {
    let key = audit_key();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cp) = Checkpoint::parse(Path::new("fuzz.checkpoint"), text) {
        let _ = cp.verify(key);
        let _ = cp.to_text();
    }
});
