//! HTTP/1.1 message heads for the update server's front (`millennium-update-server`, `server/front.rs`): which request
//! heads the front may serve itself, and response heads encoded exactly as hyper's server encodes them.
//!
//! # Requests
//!
//! [`parse_request`] runs `httparse` (the parser hyper uses, with the same default configuration) over the bytes read
//! so far. A complete head becomes an [`http::Request`] only when nothing in it needs more than a body-less exchange:
//! `GET` or `HEAD`, HTTP/1.1, an origin-form URI (`/…`) no longer than the server's limit, and none of the headers that
//! bring a body or manage the connection ([`HANDED_OFF`]). Everything else — other methods and versions, bodies,
//! `Connection`, `Upgrade`, `Expect`, malformed heads, too many header lines — is [`Parsed::HandOff`]: the server hands
//! the connection to hyper, which then answers exactly as it always does. The front therefore never decides
//! anything differently from hyper; it only serves a subset faster.
//!
//! # Responses
//!
//! [`encode_head`] writes the status line and headers in hyper's order and form: lower-case names in the map's order,
//! `content-length` and `transfer-encoding` by hyper's rules from what the body declares ([`Declared`]), a cached
//! `date` last. One deliberate difference: a `HEAD` answer without a body (`304`, `204`) gets no `content-length`
//! (hyper keeps the `0` axum puts there; RFC 9110 §8.6 allows a `304` only the length a `200` would have).

use std::cell::RefCell;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version, header};

/// Request headers that leave the request to hyper: they bring a body or manage the connection.
pub const HANDED_OFF: [HeaderName; 5] =
    [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION, header::UPGRADE, header::EXPECT];

/// Most header lines of a head the front serves; the server gives hyper the same limit (`max_headers`), so a head
/// with more is hyper's to refuse.
pub const MAX_HEADER_LINES: usize = 128;

/// What the bytes at the start of a read buffer are.
#[derive(Debug)]
pub enum Parsed {
    /// A request the front serves, and the length of its head (the buffer's next request starts there).
    Request(Box<Request<()>>, usize),
    /// The start of a head.
    Partial,
    /// Hyper's to serve, or to refuse.
    HandOff,
}

/// Parses the request head at the start of `buf`, serving only request targets up to `max_uri` bytes (see the crate
/// documentation).
pub fn parse_request(buf: &[u8], max_uri: usize) -> Parsed {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADER_LINES];
    let mut head = httparse::Request::new(&mut lines);
    match head.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            request(&head, max_uri).map_or(Parsed::HandOff, |r| Parsed::Request(Box::new(r), len))
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::HandOff,
    }
}

fn request(head: &httparse::Request<'_, '_>, max_uri: usize) -> Option<Request<()>> {
    let method = match head.method? {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        _ => return None,
    };
    let path = head.path?;
    if head.version? != 1 || !path.starts_with('/') || path.len() > max_uri {
        return None;
    }
    let uri = Uri::from_maybe_shared(Bytes::copy_from_slice(path.as_bytes())).ok()?;
    let mut headers = HeaderMap::with_capacity(head.headers.len());
    for line in head.headers.iter() {
        let name = HeaderName::from_bytes(line.name.as_bytes()).ok()?;
        if HANDED_OFF.contains(&name) {
            return None;
        }
        headers.append(name, HeaderValue::from_bytes(line.value).ok()?);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Some(request)
}

/// What a response body says of its length, as hyper reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// The body is empty (already at its end).
    Nothing,
    /// Exactly this many bytes.
    Known(u64),
    /// A stream of unknown length.
    Unknown,
}

/// How the body follows the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many body bytes follow.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// What [`encode_head`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub framing: Framing,
    /// Whether the connection stays open after the response (not when it says `Connection: close`).
    pub keep_alive: bool,
}

/// Appends the head of a response with `status` and `headers` to a `method` request to `out`, as hyper's server
/// encoder does, and returns the body framing.
pub fn encode_head(
    out: &mut Vec<u8>,
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
    declared: Declared,
) -> Head {
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let head_request = *method == Method::HEAD;
    let mut framing = Framing::Length(0);
    let (mut wrote_len, mut wrote_date, mut keep_alive) = (false, false, true);
    for (name, value) in headers {
        match *name {
            header::CONTENT_LENGTH => {
                if wrote_len {
                    continue;
                }
                match declared {
                    Declared::Known(len) => framing = Framing::Length(len),
                    Declared::Unknown => match value.to_str().ok().and_then(|v| v.parse().ok()) {
                        Some(len) => framing = Framing::Length(len),
                        None => continue,
                    },
                    // The deliberate difference: no length on a `HEAD` answer that cannot have one (`304`, `204`).
                    Declared::Nothing if head_request && can_have_content_length(status) => {}
                    Declared::Nothing => continue,
                }
                wrote_len = true;
            }
            header::CONNECTION if connection_close(value) => keep_alive = false,
            header::DATE => wrote_date = true,
            // The framing is the encoder's; the application never sets these.
            header::TRANSFER_ENCODING | header::TRAILER => continue,
            _ => {}
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_len {
        match declared {
            Declared::Unknown if can_have_body(method, status) => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                framing = Framing::Chunked;
            }
            Declared::Unknown => {}
            Declared::Nothing | Declared::Known(0) => {
                if can_have_content_length(status) && !head_request {
                    out.extend_from_slice(b"content-length: 0\r\n");
                }
            }
            Declared::Known(len) => {
                if can_have_content_length(status) {
                    out.extend_from_slice(format!("content-length: {len}\r\n").as_bytes());
                    framing = Framing::Length(len);
                }
            }
        }
    }
    if !can_have_body(method, status) {
        framing = Framing::Length(0);
    }
    if !wrote_date {
        out.extend_from_slice(b"date: ");
        DATE.with(|date| {
            let mut date = date.borrow_mut();
            let now = SystemTime::now();
            let second = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            if date.0 != second || date.1.is_empty() {
                *date = (second, httpdate::fmt_http_date(now));
            }
            out.extend_from_slice(date.1.as_bytes());
        });
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Head { framing, keep_alive }
}

thread_local! {
    /// The `date` value of the current second (formatting it costs more than the rest of a head).
    static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

fn can_have_body(method: &Method, status: StatusCode) -> bool {
    *method != Method::HEAD && can_have_content_length(status)
}

fn can_have_content_length(status: StatusCode) -> bool {
    !status.is_informational() && !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
}

/// Whether a `Connection` value says `close`.
pub fn connection_close(value: &HeaderValue) -> bool {
    value.to_str().is_ok_and(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case("close")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: usize = 4096;

    fn head_of(method: Method, status: StatusCode, headers: &[(&str, &str)], declared: Declared) -> (String, Head) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map.insert(header::DATE, HeaderValue::from_static("Sat, 05 Dec 2026 00:00:00 GMT"));
        let mut out = Vec::new();
        let head = encode_head(&mut out, &method, status, &map, declared);
        (String::from_utf8(out).unwrap(), head)
    }

    #[test]
    fn a_head_answer_without_a_body_keeps_its_length_unless_it_is_a_304() {
        let (text, head) = head_of(Method::HEAD, StatusCode::OK, &[("content-length", "1234")], Declared::Nothing);
        assert_eq!(text, "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\ndate: Sat, 05 Dec 2026 00:00:00 GMT\r\n\r\n");
        assert_eq!(head.framing, Framing::Length(0));
        let (text, _) = head_of(Method::HEAD, StatusCode::NOT_MODIFIED, &[("content-length", "0")], Declared::Nothing);
        assert_eq!(text, "HTTP/1.1 304 Not Modified\r\ndate: Sat, 05 Dec 2026 00:00:00 GMT\r\n\r\n");
    }

    #[test]
    fn a_body_of_unknown_length_is_chunked_unless_a_length_is_given() {
        let (text, head) = head_of(Method::GET, StatusCode::OK, &[], Declared::Unknown);
        assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
        assert_eq!(head.framing, Framing::Chunked);
        let (_, head) = head_of(Method::GET, StatusCode::OK, &[("content-length", "7")], Declared::Unknown);
        assert_eq!(head.framing, Framing::Length(7));
    }

    #[test]
    fn an_empty_get_answer_gets_a_zero_length_and_a_known_one_its_length() {
        let (text, _) = head_of(Method::GET, StatusCode::NOT_FOUND, &[], Declared::Nothing);
        // A `date` the application set stays in its place; the length hyper adds comes after the map's headers.
        assert_eq!(text, "HTTP/1.1 404 Not Found\r\ndate: Sat, 05 Dec 2026 00:00:00 GMT\r\ncontent-length: 0\r\n\r\n");
        let (text, head) = head_of(Method::GET, StatusCode::OK, &[("x-a", "1")], Declared::Known(12));
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: Sat, 05 Dec 2026 00:00:00 GMT\r\ncontent-length: 12\r\n\r\n"
        );
        assert_eq!(head.framing, Framing::Length(12));
    }

    #[test]
    fn connection_close_in_the_answer_ends_keep_alive() {
        let (_, head) = head_of(Method::GET, StatusCode::OK, &[("connection", "close")], Declared::Nothing);
        assert!(!head.keep_alive);
        let (_, head) = head_of(Method::GET, StatusCode::OK, &[], Declared::Nothing);
        assert!(head.keep_alive);
    }

    #[test]
    fn requests_with_a_body_or_connection_management_are_handed_off() {
        for text in [
            "POST / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\n\r\n",
            "GET * HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            assert!(matches!(parse_request(text.as_bytes(), LIMITS), Parsed::HandOff), "{text:?}");
        }
        let many: String = (0..129).map(|i| format!("X-{i}: 1\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse_request(text.as_bytes(), LIMITS), Parsed::HandOff));
        let text = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(4096));
        assert!(matches!(parse_request(text.as_bytes(), LIMITS), Parsed::HandOff));
    }

    #[test]
    fn a_plain_get_is_served_and_the_next_pipelined_request_starts_after_its_head() {
        assert!(matches!(parse_request(b"GET /x HTTP/1.1\r\nHost: a\r\n", LIMITS), Parsed::Partial));
        match parse_request(b"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nGET", LIMITS) {
            Parsed::Request(request, len) => {
                assert_eq!(len, 45);
                assert_eq!(request.uri(), "/x?y=1");
                assert_eq!(request.headers().len(), 2);
            }
            other => panic!("not served by the front: {other:?}"),
        }
    }
}
