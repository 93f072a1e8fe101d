//! `millennium dev` support (feature `dev`, which only `millennium dev` turns on): the page served from disk instead of
//! the embedded table, and reloaded on request, with everything else as in production.
//!
//! When the app runs with `MILLENNIUM_DEV_DIST=DIR`, the custom protocol answers from the files in `DIR` as they are
//! now, through the same [`Site`] as production: the same path checks ([`protocol::asset_path`]: no `..`, no empty
//! segments, no NUL), the same MIME types (`millennium_build::mime_for`, what the build embeds them with), the same CSP
//! header and meta tag and the same bootstrap injection. A file is only served when its canonical path is inside
//! `DIR`, so a symbolic link cannot reach outside it. Responses say `Cache-Control: no-store`.
//!
//! Each line `reload` on the app's stdin reloads every window (`location.reload()`), which `millennium dev` sends when
//! a file under `DIR` changes. Without the feature none of this is in the binary; without the variable the app runs
//! from its embedded assets as always.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use millennium_runtime::{Message, ProtocolHandler, ProtocolRequest, ProtocolResponse};

use crate::AppHandle;
use crate::protocol::{Site, asset_path};

/// The directory to serve the page from instead of the embedded assets.
pub const DIST_ENV: &str = "MILLENNIUM_DEV_DIST";

/// The custom protocol handler: from the directory in [`DIST_ENV`] when it is set, else from the embedded assets.
pub(crate) fn protocol(site: Arc<Site>) -> ProtocolHandler {
    match std::env::var_os(DIST_ENV).map(PathBuf::from).and_then(|dir| dir.canonicalize().ok()) {
        Some(root) => {
            tracing::info!(root = %root.display(), "dev mode: serving the page from disk");
            Arc::new(move |request| serve(&site, &root, request))
        }
        None => Arc::new(move |request| site.serve(request)),
    }
}

/// Answers one request from `root`, as [`Site::serve`] does from the embedded table.
fn serve(site: &Site, root: &Path, request: &ProtocolRequest) -> ProtocolResponse {
    let head = request.method.eq_ignore_ascii_case("HEAD");
    if !head && !request.method.eq_ignore_ascii_case("GET") {
        return site.error(405, "method not allowed");
    }
    let Some(path) = asset_path(&request.uri) else {
        tracing::warn!(uri = %request.uri, "refused a request for a malformed or escaping path");
        return site.error(404, "not found");
    };
    let file = root.join(path.trim_start_matches('/'));
    let inside = file.canonicalize().ok().filter(|real| real.starts_with(root) && real.is_file());
    let Some(body) = inside.and_then(|real| std::fs::read(real).ok()) else {
        tracing::debug!(%path, "no such file");
        return site.error(404, "not found");
    };
    let mime = millennium_build::mime_for(&path);
    let body = if mime.starts_with("text/html") {
        crate::csp::inject_into_head(&String::from_utf8_lossy(&body), &site.head_html).into_bytes()
    } else {
        body
    };
    let mut response = site.response(200, &mime, if head { Vec::new() } else { body });
    response.headers.push(("Cache-Control".into(), "no-store".into()));
    response
}

/// Reloads every window for each line `reload` on stdin (a thread that ends with stdin).
pub(crate) fn reload_on_request(app: &AppHandle) {
    if std::env::var_os(DIST_ENV).is_none() {
        return;
    }
    let app = app.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() == "reload" => {
                    let script = "location.reload()".to_owned();
                    if app.send(Message::EvaluateScriptAll { script }).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(site: &Site, root: &Path, uri: &str) -> ProtocolResponse {
        serve(site, root, &ProtocolRequest { method: "GET".into(), uri: uri.into() })
    }

    #[test]
    fn files_are_served_from_disk_with_the_production_csp_and_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("index.html"), "<html><head></head><body>v1</body></html>").unwrap();
        std::fs::write(root.join("app.js"), "1;").unwrap();
        let site = crate::protocol::tests::site();
        let page = get(&site, &root, "millennium://localhost/");
        let production = site.serve(&ProtocolRequest { method: "GET".into(), uri: "millennium://localhost/".into() });
        assert_eq!(page.status, 200);
        assert_eq!(page.header("Content-Security-Policy"), production.header("Content-Security-Policy"));
        let html = String::from_utf8(page.body.to_vec()).unwrap();
        assert!(html.contains(&site.head_html) && html.contains("v1"), "{html}");
        // An edit shows on the next request.
        std::fs::write(root.join("index.html"), "<html><head></head><body>v2</body></html>").unwrap();
        assert!(
            String::from_utf8(get(&site, &root, "millennium://localhost/index.html").body.to_vec())
                .unwrap()
                .contains("v2")
        );
        let js = get(&site, &root, "millennium://localhost/app.js");
        assert_eq!(js.header("Content-Type"), Some("text/javascript; charset=utf-8"));
        assert_eq!(js.header("Cache-Control"), Some("no-store"));
    }

    #[cfg(unix)]
    #[test]
    fn nothing_outside_the_directory_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("dist");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt")).unwrap();
        let root = root.canonicalize().unwrap();
        let site = crate::protocol::tests::site();
        for uri in [
            "millennium://localhost/../secret.txt",
            "millennium://localhost/%2e%2e/secret.txt",
            "millennium://localhost/link.txt",
            "millennium://localhost/missing.js",
            "millennium://localhost/",
        ] {
            assert_eq!(get(&site, &root, uri).status, 404, "{uri}");
        }
        let post =
            serve(&site, &root, &ProtocolRequest { method: "POST".into(), uri: "millennium://localhost/".into() });
        assert_eq!(post.status, 405);
    }
}
