//! The optional localhost server (feature `localhost-server`, [`crate::Builder::localhost_server`]): the same site the
//! custom protocol serves, over `http://127.0.0.1:<port>/`, for pages that need a real `http:` origin (some web APIs
//! and third-party libraries refuse custom schemes).
//!
//! Every response goes through [`Site::serve`], so the path rules, the embedded assets and the CSP header and meta tag
//! are exactly those of the custom protocol, and, as there, the bridge bootstrap is not in the HTML: any local process
//! or user can connect to the port, and the bootstrap holds the session's secrets. The webview runs it as an
//! initialization script, in top-level pages of this server's origin only (see [`crate::bridge`]). The listener binds
//! the IPv4 loopback only, and a request whose `Host` is not this server's own `127.0.0.1:<port>` is refused with
//! `421`, so a web page elsewhere cannot read the app's assets through DNS rebinding. Commands stay on the webview's
//! IPC channel: nothing reachable over TCP can call them.

use std::sync::Arc;
use std::thread::JoinHandle;

use millennium_runtime::ProtocolRequest;

use crate::protocol::{HOST, Site};

/// A running localhost server: its address and its thread (which runs as long as the process).
#[derive(Debug)]
pub(crate) struct Localhost {
    pub(crate) origin: String,
    _thread: JoinHandle<()>,
}

/// Starts serving `site` on `127.0.0.1:port` (`0`: a free port chosen by the system).
pub(crate) fn start(site: Arc<Site>, port: u16) -> std::io::Result<Localhost> {
    let server = tiny_http::Server::http(("127.0.0.1", port)).map_err(std::io::Error::other)?;
    let addr = server.server_addr().to_ip().ok_or_else(|| std::io::Error::other("not an IP listener"))?;
    let authority = addr.to_string();
    let origin = format!("http://{authority}");
    tracing::info!(%origin, "serving the app over localhost");
    let thread = std::thread::Builder::new().name("millennium-localhost".to_owned()).spawn(move || {
        for request in server.incoming_requests() {
            let response = answer(&site, &authority, request.method().as_str(), request.url(), host(&request));
            if let Err(error) = request.respond(response) {
                tracing::debug!(%error, "a localhost client went away");
            }
        }
    })?;
    Ok(Localhost { origin, _thread: thread })
}

fn host(request: &tiny_http::Request) -> Option<String> {
    request.headers().iter().find(|h| h.field.equiv("Host")).map(|h| h.value.as_str().to_owned())
}

type Response = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn answer(site: &Site, authority: &str, method: &str, path: &str, host: Option<String>) -> Response {
    if host.as_deref() != Some(authority) {
        tracing::warn!(?host, "refused a localhost request for another host (DNS rebinding?)");
        return to_tiny(site.error(421, "misdirected request"));
    }
    // Same rules as the custom protocol: the path is looked up as `millennium://localhost<path>`.
    let uri = if path.starts_with('/') { format!("{}://{HOST}{path}", crate::SCHEME) } else { String::new() };
    to_tiny(site.serve(&ProtocolRequest { method: method.to_owned(), uri }))
}

fn to_tiny(response: millennium_runtime::ProtocolResponse) -> Response {
    let mut out = tiny_http::Response::from_data(response.body.into_owned()).with_status_code(response.status);
    for (name, value) in response.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            out.add_header(header);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn get(origin: &str, path: &str, host: &str) -> (u16, String, String) {
        let addr = origin.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    #[test]
    fn serves_the_site_with_its_csp_on_loopback_and_refuses_other_hosts() {
        let server = start(Arc::new(crate::protocol::tests::site()), 0).unwrap();
        let host = server.origin.trim_start_matches("http://").to_owned();
        assert!(host.starts_with("127.0.0.1:"), "{host}");

        let (status, head, body) = get(&server.origin, "/", &host);
        assert_eq!(status, 200);
        assert!(head.contains("content-security-policy: default-src 'self'\r\n"), "{head}");
        assert!(body.contains("<meta http-equiv=\"Content-Security-Policy\"") && !body.contains("<script>"), "{body}");
        let (status, head, _) = get(&server.origin, "/app.js", &host);
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/javascript"), "{head}");
        // Errors carry the policy too; escaping paths are not found.
        for path in ["/missing.txt", "/../Cargo.toml", "/%2e%2e/secret"] {
            let (status, head, _) = get(&server.origin, path, &host);
            assert_eq!(status, 404, "{path}");
            assert!(head.contains("content-security-policy:"), "{path}: {head}");
        }
        // A page elsewhere reaching this port through DNS rebinding names its own host: refused.
        let (status, head, body) = get(&server.origin, "/", "attacker.example:80");
        assert_eq!((status, body.as_str()), (421, "misdirected request"));
        assert!(head.contains("content-security-policy:"), "{head}");
    }
}
