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
//! One kind of request with a body may be served too, when the caller allows it ([`parse_head`]'s `max_post`): a
//! `POST` framed by exactly one `Content-Length` of plain digits (no `Transfer-Encoding`, so never chunked), with no
//! other header of [`HANDED_OFF`], whose head and body together are at most `max_post` bytes. It is a request only
//! once the whole body is in the buffer ([`Parsed::Partial`] until then), and the length it reports covers head and
//! body. Any other `POST` (chunked, several or odd lengths, larger) stays hyper's.
//!
//! # Responses
//!
//! [`encode_head`] writes the status line and headers in hyper's order and form: lower-case names in the map's order,
//! `content-length` and `transfer-encoding` by hyper's rules from what the body declares ([`Declared`]), a cached
//! `date` last. One deliberate difference: a `HEAD` answer without a body (`304`, `204`) gets no `content-length`
//! (hyper keeps the `0` axum puts there; RFC 9110 §8.6 allows a `304` only the length a `200` would have).

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::time::{Duration, SystemTime};

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
pub enum Parsed<T = Box<Request<()>>> {
    /// A request the front serves (what was made of its head), and the length of its head (the buffer's next request
    /// starts there).
    Request(T, usize),
    /// The start of a head.
    Partial,
    /// Hyper's to serve, or to refuse.
    HandOff,
}

/// The head of a request the front serves (see the crate documentation), borrowed from the read buffer: what a server
/// needs to answer it without building an [`http::Request`] (which allocates its URI, header map and values).
#[derive(Debug)]
pub struct RequestHead<'a> {
    method: Method,
    path: &'a str,
    headers: &'a [httparse::Header<'a>],
    body: &'a [u8],
}

impl<'a> RequestHead<'a> {
    /// `GET` or `HEAD`, or `POST` when the caller allowed it.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request target as sent: an origin-form path and query (not checked to be a valid [`Uri`]: `httparse` takes
    /// a few bytes `http` refuses, and [`RequestHead::to_request`] does not make a request of them).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The value of the first header named `name` (compared ignoring ASCII case).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.iter().find(|line| line.name.eq_ignore_ascii_case(name)).map(|line| line.value)
    }

    /// The body: the `Content-Length` bytes after the head of a `POST`, empty for `GET` and `HEAD`.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// How many header lines there are, and the bytes of their names and values: what a [`HeaderMap`] of them would
    /// count (`len()`, and the names' and values' lengths).
    pub fn header_size(&self) -> (usize, usize) {
        (self.headers.len(), self.headers.iter().map(|line| line.name.len() + line.value.len()).sum())
    }

    /// The request as `http` types; `None` when its target is not a valid [`Uri`] (hyper's to refuse).
    pub fn to_request(&self) -> Option<Request<()>> {
        let uri = Uri::from_maybe_shared(Bytes::copy_from_slice(self.path.as_bytes())).ok()?;
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for line in self.headers {
            headers
                .append(HeaderName::from_bytes(line.name.as_bytes()).ok()?, HeaderValue::from_bytes(line.value).ok()?);
        }
        let mut request = Request::new(());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        Some(request)
    }
}

/// Parses the request at the start of `buf`, serving only request targets up to `max_uri` bytes and `POST`s of at
/// most `max_post` bytes, head and body (0: none; see the crate documentation), and makes what `serve` makes of it;
/// `None` from `serve` hands the request to hyper. The length of a served request covers its body.
pub fn parse_head<T>(
    buf: &[u8],
    max_uri: usize,
    max_post: usize,
    serve: impl FnOnce(&RequestHead<'_>) -> Option<T>,
) -> Parsed<T> {
    // Left uninitialised: httparse writes the lines it parses (setting all 128 was ~1 % of a check's CPU time).
    let mut lines = [const { MaybeUninit::uninit() }; MAX_HEADER_LINES];
    let mut head = httparse::Request::new(&mut []);
    match head.parse_with_uninit_headers(buf, &mut lines) {
        Ok(httparse::Status::Complete(len)) => {
            match served(&head, &buf[len..], max_uri, max_post.saturating_sub(len)) {
                Served::Head(head) => match serve(&head) {
                    Some(made) => Parsed::Request(made, len + head.body.len()),
                    None => Parsed::HandOff,
                },
                Served::Partial => Parsed::Partial,
                Served::No => Parsed::HandOff,
            }
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::HandOff,
    }
}

/// [`parse_head`] of `GET` and `HEAD` only, making an [`http::Request`].
pub fn parse_request(buf: &[u8], max_uri: usize) -> Parsed {
    parse_head(buf, max_uri, 0, |head| head.to_request().map(Box::new))
}

/// What [`served`] found.
enum Served<'a> {
    Head(RequestHead<'a>),
    /// A `POST` served once the rest of its body is read.
    Partial,
    No,
}

/// The head when the front serves it; `rest`: the bytes after it, `max_body`: most body bytes of a served `POST`.
fn served<'a>(head: &'a httparse::Request<'_, 'a>, rest: &'a [u8], max_uri: usize, max_body: usize) -> Served<'a> {
    let (method, post) = match head.method {
        Some("GET") => (Method::GET, false),
        Some("HEAD") => (Method::HEAD, false),
        Some("POST") if max_body > 0 => (Method::POST, true),
        _ => return Served::No,
    };
    let Some(path) = head.path else { return Served::No };
    if head.version != Some(1) || !path.starts_with('/') || path.len() > max_uri {
        return Served::No;
    }
    let mut length = None;
    // httparse (with hyper's configuration) refuses what `HeaderName` and `HeaderValue` refuse: names that are not
    // tokens, and control characters but HTAB in values (a test holds it to that).
    for line in head.headers.iter() {
        if post && length.is_none() && line.name.eq_ignore_ascii_case(header::CONTENT_LENGTH.as_str()) {
            // Plain digits only (hyper also takes a list of equal values: those stay its to read).
            length = Some(content_length(line.value));
            continue;
        }
        if HANDED_OFF.iter().any(|name| line.name.eq_ignore_ascii_case(name.as_str())) {
            return Served::No;
        }
    }
    let body = if post {
        match length.flatten() {
            Some(length) if length <= max_body => match rest.get(..length) {
                Some(body) => body,
                None => return Served::Partial,
            },
            _ => return Served::No,
        }
    } else {
        &[]
    };
    Served::Head(RequestHead { method, path, headers: head.headers, body })
}

/// A `Content-Length` value of 1 to 19 ASCII digits.
fn content_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
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
    if wrote_date {
        out.extend_from_slice(b"\r\n");
    } else {
        finish_head(out);
    }
    Head { framing, keep_alive }
}

/// [`encode_head`] of `headers` without a `date`, up to where the `date` goes: a head sent again and again is
/// encoded once, and each copy ends with [`finish_head`]. `None` when `headers` has a `date`.
pub fn encode_head_start(
    out: &mut Vec<u8>,
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
    declared: Declared,
) -> Option<Head> {
    if headers.contains_key(header::DATE) {
        return None;
    }
    let head = encode_head(out, method, status, headers, declared);
    // What `finish_head` wrote: the date line and the blank line.
    out.truncate(out.len() - DATE_LINE_LEN - 2);
    Some(head)
}

/// The end of a head begun by [`encode_head_start`]: the `date` of the current second, and the blank line.
pub fn finish_head(out: &mut Vec<u8>) {
    out.extend_from_slice(b"date: ");
    DATE.with(|date| {
        let mut date = date.borrow_mut();
        let second = unix_second();
        if date.0 != second || date.1.is_empty() {
            *date = (second, httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(second)));
        }
        out.extend_from_slice(date.1.as_bytes());
    });
    out.extend_from_slice(b"\r\n\r\n");
}

/// The wall clock's current second (0 before 1970). On Linux from `CLOCK_REALTIME_COARSE`, the time of the kernel's
/// last tick: at most a tick (a few milliseconds) behind, where reading the precise clock for every answer was ~0.5 %
/// of a check's CPU time (nginx, too, reads the clock once per event loop turn, not per answer).
fn unix_second() -> u64 {
    #[cfg(target_os = "linux")]
    if let Some(second) = coarse_unix_second() {
        return second;
    }
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code, reason = "clock_gettime(2) of a clock std does not read")]
fn coarse_unix_second() -> Option<u64> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec the call only writes to.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) };
    if read == 0 { u64::try_from(now.tv_sec).ok() } else { None }
}

/// The length of `date: …\r\n`: an IMF-fixdate is always 29 bytes.
const DATE_LINE_LEN: usize = "date: ".len() + 29 + 2;

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
    fn the_date_is_of_the_current_second() {
        let since_epoch = || SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        for _ in 0..1000 {
            let before = since_epoch();
            let second = unix_second();
            let after = since_epoch();
            // At most a tick behind the precise clock: the second before `before` only across a second's turn.
            assert!((before.saturating_sub(1)..=after).contains(&second), "{before} {second} {after}");
            std::thread::sleep(Duration::from_micros(700));
        }
        let mut head = Vec::new();
        finish_head(&mut head);
        let head = String::from_utf8(head).unwrap();
        let date = httpdate::parse_http_date(head.trim_start_matches("date: ").trim_end()).unwrap();
        let age = SystemTime::now().duration_since(date).unwrap();
        assert!(age < Duration::from_secs(2), "{head:?} is {age:?} old");
    }

    #[test]
    fn a_head_begun_once_and_finished_per_copy_is_the_whole_head() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        for (status, declared) in [(StatusCode::OK, Declared::Known(591)), (StatusCode::NO_CONTENT, Declared::Nothing)]
        {
            let mut whole = Vec::new();
            let head = encode_head(&mut whole, &Method::GET, status, &headers, declared);
            let mut begun = Vec::new();
            assert_eq!(encode_head_start(&mut begun, &Method::GET, status, &headers, declared), Some(head));
            assert!(!String::from_utf8_lossy(&begun).contains("date:"));
            finish_head(&mut begun);
            // The same second, almost always; the date is the only part that may differ.
            let date = |text: &[u8]| String::from_utf8_lossy(text).replace(|c: char| c.is_ascii_digit(), "0");
            assert_eq!(date(&begun), date(&whole));
        }
        headers.insert(header::DATE, HeaderValue::from_static("Sat, 05 Dec 2026 00:00:00 GMT"));
        assert_eq!(encode_head_start(&mut Vec::new(), &Method::GET, StatusCode::OK, &headers, Declared::Nothing), None);
    }

    #[test]
    fn a_served_head_is_read_without_building_a_request() {
        let text = b"GET /app/linux/x86_64/1.0.0?channel=beta HTTP/1.1\r\nHost: a\r\nX-Id: \xe9t\xe9\r\n\r\n";
        let made = parse_head(text, LIMITS, 0, |head| {
            assert_eq!(head.method(), Method::GET);
            assert_eq!(head.path(), "/app/linux/x86_64/1.0.0?channel=beta");
            assert_eq!(head.header("host"), Some(&b"a"[..]));
            assert_eq!(head.header("x-id"), Some(&b"\xe9t\xe9"[..]));
            assert_eq!(head.header("accept"), None);
            assert_eq!(head.header_size(), (2, 4 + 1 + 4 + 3));
            Some(head.to_request().unwrap())
        });
        let Parsed::Request(request, len) = made else { panic!("not served: {made:?}") };
        assert_eq!(len, text.len());
        assert_eq!(request.headers()["x-id"].as_bytes(), b"\xe9t\xe9");
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\n\r\n", LIMITS, 0, |_| None::<()>), Parsed::HandOff));
    }

    #[test]
    fn a_control_character_in_a_header_value_hands_the_head_to_hyper_to_refuse() {
        let controls = (0..b' ').filter(|b| ![b'\t', b'\r', b'\n'].contains(b)).chain([0x7f]);
        for control in controls {
            // Long values too: httparse scans them 16 or 32 bytes at a time.
            let long = [vec![b'a'; 40], vec![control], vec![b'b'; 40]].concat();
            for value in [vec![control, b'a'], vec![b'a', control, b'b'], vec![b'a', control], long] {
                let mut text = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
                text.extend_from_slice(&value);
                text.extend_from_slice(b"\r\n\r\n");
                let made = parse_head(&text, LIMITS, 0, |_| Some(()));
                assert!(matches!(made, Parsed::HandOff), "{value:?} was {made:?}");
                assert!(http::HeaderValue::from_bytes(&value).is_err(), "{value:?}");
            }
        }
        // What `HeaderValue` takes is served: HTAB and bytes past ASCII.
        let text = b"GET / HTTP/1.1\r\nX: a\tb\xff\r\n\r\n";
        assert!(matches!(parse_head(text, LIMITS, 0, |_| Some(())), Parsed::Request((), _)));
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

    /// What `parse_head` with room for `POST`s makes of `text`: the method, path and body it served, and the length.
    fn post(text: &[u8], max_post: usize) -> Parsed<(Method, String, Vec<u8>)> {
        parse_head(text, LIMITS, max_post, |head| {
            Some((head.method().clone(), head.path().to_owned(), head.body().to_vec()))
        })
    }

    #[test]
    fn a_post_with_one_content_length_is_served_once_its_whole_body_is_read() {
        let text = b"POST /app/events HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n{\"events\":1}GET";
        // The whole body, and the next pipelined request after it.
        let Parsed::Request((method, path, body), len) = post(text, 1024) else { panic!("not served") };
        assert_eq!((method, path.as_str(), body.as_slice()), (Method::POST, "/app/events", &b"{\"events\":1"[..]));
        assert_eq!(&text[len..], b"}GET");
        // Until then, the start of a request.
        assert!(matches!(post(&text[..text.len() - 10], 1024), Parsed::Partial));
        let empty = b"POST /app/events HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(post(empty, 1024), Parsed::Request((_, _, ref body), 48) if body.is_empty()));
        // Its head and body over `max_post`: hyper's, however much of it was read.
        assert!(matches!(post(text, text.len() - 5), Parsed::HandOff));
        assert!(matches!(post(&text[..40], text.len() - 5), Parsed::Partial));
        assert!(matches!(post(&text[..text.len() - 10], text.len() - 5), Parsed::HandOff));
        // Not allowed at all.
        assert!(matches!(post(text, 0), Parsed::HandOff));
        assert!(matches!(parse_request(text, LIMITS), Parsed::HandOff));
    }

    #[test]
    fn a_post_framed_any_other_way_is_handed_off() {
        for text in [
            "POST /e HTTP/1.1\r\n\r\n",
            "POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /e HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /e HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
            "POST /e HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nab",
            "POST /e HTTP/1.1\r\nContent-Length: +2\r\n\r\nab",
            "POST /e HTTP/1.1\r\nContent-Length: 0x2\r\n\r\nab",
            "POST /e HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nab",
            "POST /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nab",
            "POST /e HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
            "POST /e HTTP/1.0\r\nContent-Length: 2\r\n\r\nab",
            "POST http://x/e HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
            "PUT /e HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
            "GET /e HTTP/1.1\r\nContent-Length: 2\r\n\r\nab",
        ] {
            assert!(matches!(post(text.as_bytes(), 1024), Parsed::HandOff), "{text:?}");
        }
    }
}
