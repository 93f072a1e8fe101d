//! Any text as an `X-Millennium-Webview` value (what every update check sends the server), a webview version or a
//! list of per-backend minimums (`webkitgtk=2.44,webview2=124.0`, read from the command line, the publish form and
//! the server database): no panic, accepted values are written back exactly as given (minimums: in canonical order)
//! and parse again to the same, and versions are totally ordered with missing parts counting as zero.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millennium_update_protocol::webview::{WebviewMinimums, WebviewReport, WebviewVersion};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(report) = WebviewReport::parse(text) {
        assert_eq!(report.to_header_value(), text);
        assert_eq!(WebviewReport::parse(&report.to_header_value()).ok().as_ref(), Some(&report));
    }
    if let Ok(version) = WebviewVersion::parse(text) {
        assert_eq!(version.to_string(), text);
        let padded = WebviewVersion::from_parts(&[version.parts(), &[0; 4][version.parts().len()..]].concat()).unwrap();
        assert_eq!(padded, version);
    }
    if let Ok(minimums) = WebviewMinimums::parse(text) {
        let canonical = minimums.to_string();
        assert_eq!(canonical.len(), text.len());
        let again = WebviewMinimums::parse(&canonical).expect("canonical minimums re-parse");
        assert_eq!(again, minimums);
        assert_eq!(again.to_string(), canonical);
        let json = serde_json::to_string(&minimums).expect("minimums serialise");
        assert_eq!(serde_json::from_str::<WebviewMinimums>(&json).ok().as_ref(), Some(&minimums));
    }
    if let Ok(legacy) = WebviewMinimums::parse_or_legacy(text) {
        assert!(!legacy.is_empty());
    }
    if let Some((a, b)) = text.split_once(' ')
        && let (Ok(a), Ok(b)) = (WebviewVersion::parse(a), WebviewVersion::parse(b))
    {
        assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        assert_eq!(a == b, a.cmp(&b).is_eq());
    }
});
