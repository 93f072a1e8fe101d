//! `millennium dev` support (feature `dev`, which only `millennium dev` turns on): the page served from disk instead of
//! the embedded table, and reloaded on request, with everything else as in production.
//!
//! When the app runs with `MILLENNIUM_DEV_DIST=DIR`, the custom protocol answers from the files in `DIR` as they are
//! now, through the same `Site` as production: the same path checks (`protocol::asset_path`: no `..`, no empty
//! segments, no NUL), the same MIME types (`millennium_build::mime_for`, what the build embeds them with), the same CSP
//! header and meta tag and the same bootstrap injection. A file is only served when its canonical path is inside
//! `DIR`, so a symbolic link cannot reach outside it. Responses say `Cache-Control: no-store`.
//!
//! With `MILLENNIUM_DEV_URL=http://localhost:5173` (a JavaScript dev server such as Vite's, on loopback only) each
//! request is fetched from that server instead, and answered through the same `Site` in the same way: the page keeps
//! its `millennium://localhost` origin, its CSP and its bridge. (A dev server's hot-reload socket is not in the
//! production CSP, so pages reload whole instead.)
//!
//! Each line `reload` on the app's stdin reloads every window (`location.reload()`), which `millennium dev` sends when
//! a file under `DIR` changes. Without the feature none of this is in the binary; without the variables the app runs
//! from its embedded assets as always.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use millennium_runtime::{Message, ProtocolHandler, ProtocolRequest, ProtocolResponse};

use crate::AppHandle;
use crate::protocol::{Site, asset_path};

/// The directory to serve the page from instead of the embedded assets.
pub const DIST_ENV: &str = "MILLENNIUM_DEV_DIST";

/// A dev server on loopback to fetch the page from instead of the embedded assets (`http://localhost:PORT`).
pub const URL_ENV: &str = "MILLENNIUM_DEV_URL";

/// The largest response taken from a dev server.
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// The custom protocol handler: from the dev server in [`URL_ENV`], else the directory in [`DIST_ENV`], else the
/// embedded assets.
pub(crate) fn protocol(site: Arc<Site>) -> ProtocolHandler {
    if let Some(url) = std::env::var(URL_ENV).ok().filter(|u| !u.is_empty()) {
        match loopback_base(&url) {
            Some(base) => {
                tracing::info!(%base, "dev mode: serving the page from a dev server");
                let config = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .timeout_global(Some(std::time::Duration::from_secs(60)))
                    .build();
                let agent = ureq::Agent::new_with_config(config);
                return Arc::new(move |request| serve_from_server(&site, &agent, &base, request));
            }
            None => {
                tracing::error!(%url, "{URL_ENV} must be an http:// URL on loopback (localhost, 127.0.0.1, [::1]); ignored")
            }
        }
    }
    match std::env::var_os(DIST_ENV).map(PathBuf::from).and_then(|dir| dir.canonicalize().ok()) {
        Some(root) => {
            tracing::info!(root = %root.display(), "dev mode: serving the page from disk");
            Arc::new(move |request| serve(&site, &root, request))
        }
        None => Arc::new(move |request| site.serve(request)),
    }
}

/// `http://HOST[:PORT]` without a trailing slash, when `url` is a plain-http URL on loopback.
fn loopback_base(url: &str) -> Option<String> {
    let authority = url.strip_prefix("http://")?.split(['/', '?', '#']).next()?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, rest) = bracketed.split_once(']')?;
            let port = if rest.is_empty() { None } else { Some(rest.strip_prefix(':')?) };
            (format!("[{host}]"), port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        },
    };
    if let Some(port) = port {
        port.parse::<u16>().ok()?;
    }
    matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]").then(|| format!("http://{authority}"))
}

/// Answers one request from the dev server at `base`, with the production CSP and bootstrap.
fn serve_from_server(site: &Site, agent: &ureq::Agent, base: &str, request: &ProtocolRequest) -> ProtocolResponse {
    let head = request.method.eq_ignore_ascii_case("HEAD");
    if !head && !request.method.eq_ignore_ascii_case("GET") {
        return site.error(405, "method not allowed");
    }
    let Some(path) = asset_path(&request.uri) else {
        tracing::warn!(uri = %request.uri, "refused a request for a malformed or escaping path");
        return site.error(404, "not found");
    };
    // Dev servers name module variants with queries (`?import`, `?t=…`): they go along.
    let query = request.uri.split_once('?').map(|(_, q)| q.split('#').next().unwrap_or_default()).unwrap_or_default();
    let url = if query.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{query}") };
    let fetched = agent.get(&url).call().and_then(|mut response| {
        let status = response.status().as_u16();
        let mime = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.body_mut().with_config().limit(MAX_BODY).read_to_vec()?;
        Ok((status, mime, body))
    });
    let (status, mime, body) = match fetched {
        Ok(answer) => answer,
        Err(error) => {
            tracing::error!(%url, %error, "the dev server did not answer");
            return site.error(502, "the dev server did not answer");
        }
    };
    let mime = mime.unwrap_or_else(|| millennium_build::mime_for(&path));
    let body = if mime.starts_with("text/html") {
        crate::csp::inject_into_head(&String::from_utf8_lossy(&body), &site.head_html).into_bytes()
    } else {
        body
    };
    let mut response = site.response(status, &mime, if head { Vec::new() } else { body });
    response.headers.push(("Cache-Control".into(), "no-store".into()));
    response
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
    if std::env::var_os(DIST_ENV).is_none() && std::env::var_os(URL_ENV).is_none() {
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

    #[test]
    fn only_plain_http_on_loopback_is_a_dev_server() {
        assert_eq!(loopback_base("http://localhost:5173").as_deref(), Some("http://localhost:5173"));
        assert_eq!(loopback_base("http://127.0.0.1:5173/app/").as_deref(), Some("http://127.0.0.1:5173"));
        assert_eq!(loopback_base("http://[::1]:8080").as_deref(), Some("http://[::1]:8080"));
        for refused in
            ["https://localhost:5173", "http://example.com:5173", "http://localhost.evil:80", "http://localhost:x"]
        {
            assert_eq!(loopback_base(refused), None, "{refused}");
        }
    }

    #[test]
    fn pages_from_a_dev_server_get_the_production_csp_and_bootstrap() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut requests = Vec::new();
            for _ in 0..2 {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buffer = [0u8; 4096];
                let n = stream.read(&mut buffer).unwrap();
                let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
                let line = request.lines().next().unwrap_or_default().to_owned();
                let (mime, body) = if line.contains("/index.html") {
                    ("text/html", "<html><head></head><body>from vite</body></html>")
                } else {
                    ("text/javascript", "export {};")
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).unwrap();
                requests.push(line);
            }
            requests
        });
        let site = crate::protocol::tests::site();
        let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
        let get = |uri: &str| {
            serve_from_server(&site, &agent, &base, &ProtocolRequest { method: "GET".into(), uri: uri.into() })
        };
        let page = get("millennium://localhost/");
        let html = String::from_utf8(page.body.to_vec()).unwrap();
        assert!(html.contains(&site.head_html) && html.contains("from vite"), "{html}");
        assert_eq!(page.header("Content-Security-Policy"), Some(site.policy.as_str()));
        let module = get("millennium://localhost/src/main.js?t=123");
        assert_eq!((module.status, &module.body[..]), (200, &b"export {};"[..]));
        assert_eq!(get("millennium://localhost/../x").status, 404);
        let requests = server.join().unwrap();
        assert_eq!(requests, ["GET /index.html HTTP/1.1", "GET /src/main.js?t=123 HTTP/1.1"]);
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
