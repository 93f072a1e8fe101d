//! Any text as a signature file (minisign text or Tauri's base64 form): no panic, and an accepted signature
//! re-parses from both of the forms it writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_sign::{Format, Signature};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(signature) = Signature::from_text(text) else { return };
    for format in [Format::Minisign, Format::Tauri] {
        let again = Signature::from_text(&signature.to_text(format)).expect("written signature re-parses");
        assert!(again == signature);
    }
    let _ = signature.trusted_fields().version();
});
