//! The ceremony script: TOML → checked plan, then everything the dry run
//! prints about it. Reads no file and opens no token.
#![no_main]

use std::path::Path;

use ceremony::ceremony::Plan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = Plan::from_bytes(Path::new("fuzz.toml"), data) else {
        return;
    };
    let _ = plan.to_string();
    for (i, step) in plan.steps.iter().enumerate() {
        let _ = (
            step.id(),
            step.action(),
            step.new_key_labels(),
            step.outputs(),
        );
        let _ = plan.step_digest(i);
    }
    let _ = plan.outputs();
});
