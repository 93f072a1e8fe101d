//! Any bytes as a release-health report body (`POST /{app}/events`, unauthenticated): the one-pass parser must never
//! panic, and whatever it accepts must be written back out by the client's writer and re-parse to the same batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_update_protocol::events::EventBatch;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = EventBatch::parse(data) else { return };
    let text = batch.to_json().expect("an accepted batch is written back out");
    assert_eq!(EventBatch::parse(text.as_bytes()).expect("the written batch re-parses"), batch);
});
