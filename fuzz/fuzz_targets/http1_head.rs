//! Any bytes as what a client sent first on a connection to the update server's HTTP front (`millennium-http1`): no
//! panic; every head the front serves with a valid target becomes an `http` request with the headers the head gives
//! (the front may answer from the head alone, so the parse must never accept what `http`'s types refuse); a request the front serves is a `GET`/`HEAD` of HTTP/1.1
//! with an origin-form target and none of the headers hyper must see, whose header values the head gives as the
//! request has them, its head ends within the input, and the head alone parses to the same request; a response head for
//! it that echoes its headers, for several statuses and body kinds, is well-formed HTTP/1.1 that `httparse` reads back
//! whole, with the framing headers the encoder said. With `POST`s allowed (`max_post`), `GET`/`HEAD` are served exactly
//! as without, and a served `POST` has one `Content-Length` of plain digits, no `Transfer-Encoding`, and a body of
//! exactly that length that ends within the input and within `max_post` bytes of head and body; a shorter input is the
//! start of it (`Partial`), never something else.
#![no_main]

use http::{HeaderMap, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use millennium_http1::{Declared, Framing, HANDED_OFF, Parsed, encode_head, parse_head, parse_request};

fuzz_target!(|data: &[u8]| {
    posts(data);
    let served = parse_head(data, 4096, 0, |head| {
        // Only the target can make `http`'s types refuse a head the parse serves (`httparse` takes some bytes a `Uri`
        // does not); the front answers without a `Request` only for targets it answered before.
        let Some(request) = head.to_request() else {
            assert!(http::Uri::try_from(head.path()).is_err(), "a head with a valid target is not a request");
            return None;
        };
        for name in request.headers().keys() {
            assert_eq!(head.header(name.as_str()), request.headers().get(name).map(|value| value.as_bytes()));
        }
        assert_eq!(head.header_size().0, request.headers().len());
        Some(())
    });
    assert_eq!(matches!(served, Parsed::Request(..)), matches!(parse_request(data, 4096), Parsed::Request(..)));
    let Parsed::Request(request, len) = parse_request(data, 4096) else { return };
    assert!(len <= data.len());
    assert!(matches!(*request.method(), Method::GET | Method::HEAD));
    assert!(request.uri().path().starts_with('/') && request.uri().scheme().is_none());
    assert!(HANDED_OFF.iter().all(|name| !request.headers().contains_key(name)));
    match parse_request(&data[..len], 4096) {
        Parsed::Request(again, again_len) => {
            assert_eq!(again_len, len);
            assert_eq!(again.uri(), request.uri());
            assert_eq!(again.headers(), request.headers());
        }
        other => panic!("the head alone parses to {other:?}"),
    }
    let mut echoed = HeaderMap::new();
    for (name, value) in request.headers() {
        // Header names the encoder handles itself are covered by the unit tests; the rest are echoed as they came.
        if !matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection" | "date" | "trailer") {
            echoed.append(name.clone(), value.clone());
        }
    }
    for status in [200, 204, 206, 304, 404, 416] {
        let status = StatusCode::from_u16(status).expect("a status");
        for declared in [Declared::Nothing, Declared::Known(7), Declared::Unknown] {
            let mut out = Vec::new();
            let head = encode_head(&mut out, request.method(), status, &echoed, declared);
            let mut lines = vec![httparse::EMPTY_HEADER; echoed.len() + 4];
            let mut response = httparse::Response::new(&mut lines);
            let parsed = response.parse(&out).expect("the encoded head parses");
            assert_eq!(parsed, httparse::Status::Complete(out.len()), "the head is whole and ends the output");
            assert_eq!(response.code, Some(status.as_u16()));
            let has = |name: &str| response.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
            assert_eq!(head.framing == Framing::Chunked, has("transfer-encoding"));
            if let Framing::Length(n) = head.framing
                && n > 0
            {
                assert!(has("content-length"));
            }
            assert!(head.keep_alive);
        }
    }
});

/// Most bytes (head and body) of a `POST` served here.
const MAX_POST: usize = 2048;

/// The `POST`s of `data` (see the header).
fn posts(data: &[u8]) {
    let posted = parse_head(data, 4096, MAX_POST, |head| {
        Some((head.method().clone(), head.body().len(), head.header("content-length").map(<[u8]>::to_vec)))
    });
    let plain = parse_head(data, 4096, 0, |head| Some(head.method().clone()));
    match posted {
        Parsed::Request((method, body, length), len) if method == Method::POST => {
            assert!(matches!(plain, Parsed::HandOff), "a POST served without room for one");
            assert!(len <= data.len() && len <= MAX_POST);
            let length = length.expect("a served POST has a length");
            assert!(!length.is_empty() && length.iter().all(u8::is_ascii_digit), "{length:?}");
            assert_eq!(std::str::from_utf8(&length).ok().and_then(|l| l.parse::<usize>().ok()), Some(body));
            let mut lines = [httparse::EMPTY_HEADER; 128];
            let mut head = httparse::Request::new(&mut lines);
            assert_eq!(
                head.parse(data).ok(),
                Some(httparse::Status::Complete(len - body)),
                "the head ends before the body"
            );
            let count = |name: &str| head.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).count();
            assert_eq!(count("content-length"), 1);
            for name in HANDED_OFF.iter().filter(|name| **name != http::header::CONTENT_LENGTH) {
                assert_eq!(count(name.as_str()), 0, "a served POST with {name}");
            }
            // Every shorter input is the start of the same request.
            for cut in [len - body, len - 1].into_iter().filter(|cut| *cut >= len - body && *cut < len) {
                let again = parse_head(&data[..cut], 4096, MAX_POST, |_| Some(()));
                assert!(matches!(again, Parsed::Partial), "cut at {cut} of {len}: {again:?}");
            }
        }
        Parsed::Request((method, body, _), len) => {
            assert_eq!(body, 0, "a {method} with a body");
            assert!(
                matches!(plain, Parsed::Request(ref m, l) if *m == method && l == len),
                "served differently with room for POSTs"
            );
        }
        Parsed::Partial => assert!(!matches!(plain, Parsed::Request(..)), "served only without room for POSTs"),
        Parsed::HandOff => assert!(matches!(plain, Parsed::HandOff), "handed off only with room for POSTs"),
    }
}
