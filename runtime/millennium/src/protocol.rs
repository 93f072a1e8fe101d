//! The custom protocol that serves embedded assets to the webview (`millennium://localhost/...` on Linux and macOS).
//!
//! Every response, errors included, carries the `Content-Security-Policy` header, plus `nosniff` and
//! `no-referrer`. HTML documents get the CSP meta tag injected into their `<head>`, and nothing else: the bridge
//! bootstrap, which holds the session's secrets, is never in a response (any script of the page could fetch it), it
//! reaches the page as the webview's initialization script (see [`crate::bridge`]).
//! Paths are percent-decoded and must be plain: `..`, `.`, empty segments, backslashes and NUL are refused with 404
//! (and logged) before the lookup, which is itself an exact match in the embedded table.

use std::borrow::Cow;

use millennium_runtime::{ProtocolRequest, ProtocolResponse};

use crate::assets::Assets;
use crate::csp;

/// The host name in the app's URLs.
pub const HOST: &str = "localhost";

/// What the protocol serves: the assets, the policy and the head fragment for HTML documents.
#[derive(Debug)]
pub(crate) struct Site {
    pub assets: Assets,
    /// The app's policy, as it configured it.
    pub policy: String,
    /// `<meta http-equiv="Content-Security-Policy" ...>`.
    pub head_html: String,
}

impl Site {
    /// A site serving `assets` under `policy`.
    pub(crate) fn new(assets: Assets, policy: &str) -> Self {
        let head_html =
            format!("<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">", csp::escape_attribute(policy));
        Self { assets, policy: policy.to_owned(), head_html }
    }

    /// Answer one request.
    pub(crate) fn serve(&self, request: &ProtocolRequest) -> ProtocolResponse {
        let head = request.method.eq_ignore_ascii_case("HEAD");
        if !head && !request.method.eq_ignore_ascii_case("GET") {
            return self.error(405, "method not allowed");
        }
        let Some(path) = asset_path(&request.uri) else {
            tracing::warn!(uri = %request.uri, "refused a request for a malformed or escaping path");
            return self.error(404, "not found");
        };
        let Some(asset) = self.assets.get(&path) else {
            tracing::debug!(%path, "no such asset");
            return self.error(404, "not found");
        };
        let body = match asset.contents() {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(error = %crate::Report::new(&error), "embedded asset is corrupt");
                return self.error(500, "internal error");
            }
        };
        let body = if asset.mime.starts_with("text/html") {
            csp::inject_into_head(&String::from_utf8_lossy(&body), &self.head_html).into_bytes()
        } else {
            body
        };
        let mut response = self.response(200, asset.mime, if head { Vec::new() } else { body });
        response.headers.push(("Cache-Control".into(), "no-cache".into()));
        response
    }

    /// A plain-text error response, with the policy header like every response.
    pub(crate) fn error(&self, status: u16, text: &'static str) -> ProtocolResponse {
        self.response(status, "text/plain; charset=utf-8", text.as_bytes().to_vec())
    }

    pub(crate) fn response(&self, status: u16, mime: &str, body: Vec<u8>) -> ProtocolResponse {
        ProtocolResponse {
            status,
            headers: vec![
                ("Content-Type".into(), mime.into()),
                ("Content-Security-Policy".into(), self.policy.clone()),
                ("X-Content-Type-Options".into(), "nosniff".into()),
                ("Referrer-Policy".into(), "no-referrer".into()),
            ],
            body: Cow::Owned(body),
        }
    }
}

/// The asset path a URI asks for, or `None` when it is malformed, on another host, or tries to leave the root.
///
/// Accepts `scheme://localhost/path`, and `http(s)://scheme.localhost/path` (the form WebView2 uses on Windows).
pub(crate) fn asset_path(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority != HOST && !authority.ends_with(".localhost") {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let decoded = percent_decode(path)?;
    if decoded.contains(['\\', '\0']) {
        return None;
    }
    let inner = decoded.strip_prefix('/')?;
    if !inner.is_empty() {
        let segments: Vec<&str> = inner.split('/').collect();
        let last = segments.len() - 1;
        for (i, segment) in segments.iter().enumerate() {
            let trailing_slash = i == last && segment.is_empty();
            if (*segment == "." || *segment == ".." || segment.is_empty()) && !trailing_slash {
                return None;
            }
        }
    }
    Some(if decoded.ends_with('/') { format!("{decoded}index.html") } else { decoded })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::assets::{Asset, Encoding};

    fn deflated(path: &'static str, mime: &'static str, data: &[u8]) -> Asset {
        use std::io::Write as _;
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        let deflated = Box::leak(encoder.finish().unwrap().into_boxed_slice());
        Asset { path, mime, len: data.len(), data: deflated, encoding: Encoding::DEFLATE }
    }

    /// A site with `/index.html`, `/app.js` and `/sub/index.html`, policy `default-src 'self'`.
    pub(crate) fn site() -> Site {
        let index = b"<html><head><title>t</title></head><body>hi</body></html>";
        let files = vec![
            deflated("/app.js", "text/javascript; charset=utf-8", b"1;"),
            deflated("/index.html", "text/html; charset=utf-8", index),
            Asset {
                path: "/sub/index.html",
                mime: "text/html; charset=utf-8",
                len: 1,
                data: b"x",
                encoding: Encoding::STORED,
            },
        ];
        Site::new(Assets::new(Box::leak(files.into_boxed_slice())), "default-src 'self'")
    }

    fn get(site: &Site, uri: &str) -> ProtocolResponse {
        site.serve(&ProtocolRequest { method: "GET".into(), uri: uri.into() })
    }

    #[test]
    fn serves_assets_with_their_mime_type() {
        let site = site();
        let js = get(&site, "millennium://localhost/app.js");
        assert_eq!(js.status, 200);
        assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
        assert_eq!(&js.body[..], b"1;");
        let windows_form = get(&site, "http://millennium.localhost/app.js?v=2#x");
        assert_eq!(windows_form.status, 200);
    }

    #[test]
    fn every_response_carries_the_apps_csp_header_unchanged() {
        let site = site();
        let expected = "default-src 'self'";
        for (method, uri) in [
            ("GET", "millennium://localhost/"),
            ("GET", "millennium://localhost/app.js"),
            ("GET", "millennium://localhost/missing.css"),
            ("GET", "millennium://localhost/../etc/passwd"),
            ("HEAD", "millennium://localhost/index.html"),
            ("POST", "millennium://localhost/index.html"),
            ("GET", "millennium://evil.example/index.html"),
        ] {
            let response = site.serve(&ProtocolRequest { method: method.into(), uri: uri.into() });
            assert_eq!(response.header("Content-Security-Policy"), Some(expected), "{method} {uri}");
            assert_eq!(response.header("X-Content-Type-Options"), Some("nosniff"));
        }
    }

    #[test]
    fn html_gets_the_meta_csp_and_no_script() {
        let site = site();
        let page = get(&site, "millennium://localhost/");
        let html = String::from_utf8(page.body.to_vec()).unwrap();
        assert_eq!(
            html,
            "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'\"><title>t</title>\
             </head><body>hi</body></html>"
        );
        assert_eq!(get(&site, "millennium://localhost/sub/").status, 200);
    }

    #[test]
    fn missing_files_are_404() {
        let site = site();
        assert_eq!(get(&site, "millennium://localhost/nope.html").status, 404);
        assert_eq!(get(&site, "millennium://localhost/app.js/").status, 404);
    }

    #[test]
    fn traversal_and_odd_paths_are_refused() {
        let site = site();
        for uri in [
            "millennium://localhost/../index.html",
            "millennium://localhost/sub/../index.html",
            "millennium://localhost/%2e%2e/index.html",
            "millennium://localhost/sub/%2E%2E/app.js",
            "millennium://localhost/..%2fapp.js",
            "millennium://localhost/.%2fapp.js",
            "millennium://localhost//app.js",
            "millennium://localhost/sub%5c..%5capp.js",
            "millennium://localhost/app.js%00",
            "millennium://localhost/%zz",
            "millennium://localhost/%e2%28",
            "millennium://otherhost/app.js",
            "not a uri",
        ] {
            assert_eq!(get(&site, uri).status, 404, "{uri}");
        }
    }

    #[test]
    fn only_get_and_head() {
        let site = site();
        let post = site.serve(&ProtocolRequest { method: "POST".into(), uri: "millennium://localhost/app.js".into() });
        assert_eq!(post.status, 405);
        let head = site.serve(&ProtocolRequest { method: "HEAD".into(), uri: "millennium://localhost/app.js".into() });
        assert_eq!((head.status, head.body.len()), (200, 0));
    }
}
