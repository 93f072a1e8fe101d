//! Content-Security-Policy handling.
//!
//! The app configures one policy. It is sent as a `Content-Security-Policy` header on every custom-protocol
//! response and injected into every HTML document as a `<meta http-equiv>` tag. The framework's own inline bootstrap
//! script is allowed by its SHA-256 hash, appended to `script-src` (created from `default-src` when absent, so the
//! page's own allowances are kept); `'unsafe-inline'` is never added.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The policy used when the app sets none: same-origin everything, no plugins, no framing, no base or form targets.
pub const DEFAULT_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                                  form-action 'none'; frame-ancestors 'none'";

/// The CSP source expression for a script's text: `'sha256-<base64>'`.
pub fn script_hash(script: &str) -> String {
    let digest = Sha256::digest(script.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// `policy` with `sources` added to `script-src`.
pub fn allow_scripts(policy: &str, sources: &[String]) -> String {
    let mut directives: Vec<String> =
        policy.split(';').map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect();
    let name_of = |d: &str| d.split_ascii_whitespace().next().unwrap_or("").to_ascii_lowercase();
    let extra = sources.join(" ");
    if let Some(script_src) = directives.iter_mut().find(|d| name_of(d) == "script-src") {
        script_src.push(' ');
        script_src.push_str(&extra);
    } else {
        let inherited = directives
            .iter()
            .find(|d| name_of(d) == "default-src")
            .map(|d| d.split_ascii_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| "'self'".to_owned());
        directives.push(format!("script-src {inherited} {extra}").replace("  ", " "));
    }
    directives.join("; ")
}

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
    fn hash_matches_the_csp_spec_example_form() {
        // sha256("alert('Hello, world.');"), the example from the CSP specification.
        assert_eq!(script_hash("alert('Hello, world.');"), "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='");
    }

    #[test]
    fn hash_is_appended_to_an_existing_script_src() {
        let policy = allow_scripts("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'", &["'sha256-x'".into()]);
        assert_eq!(policy, "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-x'");
    }

    #[test]
    fn script_src_is_created_from_default_src() {
        let policy = allow_scripts("default-src 'self' data:; img-src *", &["'sha256-x'".into()]);
        assert_eq!(policy, "default-src 'self' data:; img-src *; script-src 'self' data: 'sha256-x'");
        assert!(!allow_scripts(DEFAULT_POLICY, &["'sha256-x'".into()]).contains("unsafe-inline"));
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
