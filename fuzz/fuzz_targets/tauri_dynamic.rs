//! Any bytes as an update-check response body: the parser must never panic, and whatever it accepts must re-parse to
//! the same release and artifact after being written back out (what the server writes, the client reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_update_protocol::tauri::{DynamicResponse, TauriResponse};

fuzz_target!(|data: &[u8]| {
    let Ok(TauriResponse::Dynamic(response)) = TauriResponse::parse(data) else { return };
    let again = DynamicResponse::parse(response.to_json().as_bytes()).expect("written response re-parses");
    assert_eq!(again.release(), response.release());
    assert_eq!(again.artifact(), response.artifact());
    // Unknown fields keep their keys (numbers may be re-rounded by serde_json, so values are not compared).
    assert!(again.extra().keys().eq(response.extra().keys()));
});
