//! Any bytes as a `latest.json`: the parser must never panic; whatever it accepts must re-parse after being written
//! back out, and every canonical key must be found by the lookup a Tauri client on that target does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_update_protocol::tauri::{StaticManifest, TauriResponse};

fuzz_target!(|data: &[u8]| {
    let Ok(TauriResponse::Static(manifest)) = TauriResponse::parse(data) else { return };
    let again = StaticManifest::parse(manifest.to_json().as_bytes()).expect("written manifest re-parses");
    assert_eq!(again.release(), manifest.release());
    assert!(again.platforms().map(|(k, _)| k).eq(manifest.platforms().map(|(k, _)| k)));
    for (key, entry) in manifest.platforms() {
        assert_eq!(again.get(key).map(|e| e.artifact()), Some(entry.artifact()));
        assert_eq!(again.get(key).map(|e| e.min_webview_version()), Some(entry.min_webview_version()));
        if key == entry.target().to_string() {
            let (found, _) = manifest.select(entry.target()).expect("a canonical key is found for its target");
            assert_eq!(found, key);
        }
    }
});
