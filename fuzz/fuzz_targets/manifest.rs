//! The request bundle's `manifest.json`: strict serde, unknown fields
//! refused. Whatever parses must survive a round trip unchanged.
#![no_main]

use ceremony::bundle::request::RequestManifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = serde_json::from_slice::<RequestManifest>(data) else {
        return;
    };
    let again = serde_json::to_vec(&manifest).expect("a parsed manifest serializes");
    let back: RequestManifest =
        serde_json::from_slice(&again).expect("a serialized manifest parses");
    assert_eq!(back, manifest);
});
