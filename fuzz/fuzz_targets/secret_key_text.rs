//! Any text as a secret key file: no panic. An unencrypted key is also opened (checksum and key checks, no scrypt);
//! an encrypted one is not, since scrypt is far too slow to fuzz and needs the password anyway.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_sign::SecretKeyBox;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(boxed) = SecretKeyBox::from_text(text) else { return };
    let _ = boxed.kdf_params();
    if !boxed.is_encrypted() {
        let _ = boxed.open(None);
    }
});
