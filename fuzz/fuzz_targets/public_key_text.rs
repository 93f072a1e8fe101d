//! Any text as a public key file (minisign text or Tauri's base64 form): no panic, and an accepted key re-parses from
//! both of the forms it writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_sign::{Format, PublicKey};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(key) = PublicKey::from_text(text) else { return };
    for format in [Format::Minisign, Format::Tauri] {
        let again = PublicKey::from_text(&key.to_text(format)).expect("written key re-parses");
        assert!(again == key);
    }
});
