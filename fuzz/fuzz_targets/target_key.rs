//! Any text as a platform key or as request variables: no panic, and an accepted key round-trips through `Display`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_update_protocol::{BundleType, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(target) = text.parse::<Target>() {
        assert_eq!(target.to_string().parse::<Target>().ok(), Some(target));
        let keys = target.lookup_keys();
        assert_eq!(keys.last(), Some(&target.without_bundle().to_string()));
    }
    // The same text split the way an endpoint template delivers `{{target}}/{{arch}}/{{bundle_type}}`.
    let mut parts = text.splitn(3, '/');
    let (os, arch, bundle) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    if let Ok(target) = Target::from_request_vars(os, arch, bundle) {
        assert_eq!(target.to_string().parse::<Target>().ok(), Some(target));
    }
    let _ = BundleType::from_request_var(text);
});
