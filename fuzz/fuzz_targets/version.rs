//! Any text as a version or a `{{current_version}}` request segment: no panic, accepted versions round-trip, and
//! "is an update" is a strict order (never true both ways, never true against itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_update_protocol::Version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let plain = Version::parse(text);
    let segment = Version::from_request_segment(text);
    for version in [plain, segment].into_iter().flatten() {
        assert_eq!(Version::parse(&version.to_string()).ok().as_ref(), Some(&version));
        assert_eq!(Version::from_request_segment(&version.to_request_segment()).ok().as_ref(), Some(&version));
        assert!(!version.is_update_over(&version));
    }
    if let Some((a, b)) = text.split_once(' ')
        && let (Ok(a), Ok(b)) = (Version::parse(a), Version::parse(b))
    {
        assert!(!(a.is_update_over(&b) && b.is_update_over(&a)));
    }
});
