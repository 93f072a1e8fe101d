//! Content-Security-Policy handling.
//!
//! The app configures one policy. It is sent as a `Content-Security-Policy` header on every custom-protocol
//! response and injected into every HTML document as a `<meta http-equiv>` tag, exactly as configured: the framework
//! adds nothing to it. Its own script, the bridge bootstrap, is the webview's initialization script, which a page's
//! policy does not govern, so no hash of it and never `'unsafe-inline'` is needed.

/// The policy used when the app sets none: same-origin everything, no plugins, no framing, no base or form targets.
pub const DEFAULT_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                                  form-action 'none'; frame-ancestors 'none'";

/// Escape text for a double-quoted HTML attribute value.
pub fn escape_attribute(value: &str) -> String {
    value.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Insert `head_html` right after the opening `<head>` tag of `document` (after `<html>`, or at the start, when there
/// is none), so the CSP meta tag comes before any content it must govern.
pub fn inject_into_head(document: &str, head_html: &str) -> String {
    let lower = document.to_ascii_lowercase();
    let position = find_tag_end(&lower, "<head").or_else(|| find_tag_end(&lower, "<html")).unwrap_or(0);
    let mut out = String::with_capacity(document.len() + head_html.len());
    out.push_str(&document[..position]);
    out.push_str(head_html);
    out.push_str(&document[position..]);
    out
}

/// The index just past the `>` of the first tag `<name` (followed by `>` or whitespace).
fn find_tag_end(lower: &str, tag: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = lower[from..].find(tag) {
        let start = from + found;
        let after = start + tag.len();
        match lower.as_bytes().get(after) {
            Some(b'>') | Some(b' ') | Some(b'\t') | Some(b'\n') | Some(b'\r') => {
                return lower[after..].find('>').map(|end| after + end + 1);
            }
            _ => from = after,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_strict() {
        for directive in ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
            assert!(DEFAULT_POLICY.contains(directive), "{directive}");
        }
        assert!(!DEFAULT_POLICY.contains("unsafe-"), "{DEFAULT_POLICY}");
    }

    #[test]
    fn injects_after_head_ignoring_case_and_lookalikes() {
        let doc = "<!doctype html><HTML><header-x></header-x><HEAD lang=en><title>t</title></HEAD></HTML>";
        let out = inject_into_head(doc, "<meta>");
        assert_eq!(out, "<!doctype html><HTML><header-x></header-x><HEAD lang=en><meta><title>t</title></HEAD></HTML>");
        assert_eq!(inject_into_head("<html><body>x", "<m>"), "<html><m><body>x");
        assert_eq!(inject_into_head("<p>x", "<m>"), "<m><p>x");
    }

    #[test]
    fn attribute_escaping() {
        assert_eq!(escape_attribute(r#"a"b&<c>"#), "a&quot;b&amp;&lt;c&gt;");
    }
}
