//! The server's HTTP/1.1 front (`server/front.rs`) against the real binary over raw sockets: its answers compared byte
//! for byte with hyper's (the same binary with `--http-front false`), pipelining across the hand-off to hyper,
//! keep-alive and HTTP/1.0, malformed and huge heads, the slow-loris, idle and write timeouts, and clients resetting
//! in the middle of `sendfile`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use millennium_sign::Format;
use millennium_testing::keys::write_signed;
use millennium_testing::server::{ADMIN_TOKEN, Backend, ServerProcess, free_loopback_port};

use super::{SERVER, artifact_bytes, cli_publish, ok_json, register_demo, wait_for, wait_for_delta_answer};

/// The public URL of every server here: the same for the two servers compared, whatever their ports.
const PUBLIC_URL: &str = "http://updates.test";

/// The real server on `data_dir`, with `env` on top of the usual test settings.
fn start(tmp: &Path, data_dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
    let mut env = env.to_vec();
    env.push(("MILLENNIUM_PUBLIC_URL", PUBLIC_URL));
    SERVER.serve_with(data_dir, free_loopback_port(), &tmp.join("server.log"), &Backend::for_dir(data_dir), &env)
}

/// A raw HTTP/1.1 connection that reads responses by their framing.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Raw { stream, buf: Vec::new() }
    }

    fn send(&mut self, bytes: &[u8]) {
        // The server may answer (and close) before everything is written.
        let _ = self.stream.write_all(bytes);
    }

    /// Reads more; false when the connection is closed (or reset).
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("reading a response: {e}"),
        }
    }

    /// The next whole response (head and body), `None` if the connection closes first. `head_request`: the response
    /// to `HEAD`, which has no body whatever its headers say.
    fn response(&mut self, head_request: bool) -> Option<Vec<u8>> {
        let head_end = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if !self.fill() {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_ascii_lowercase();
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
        let header = |name: &str| {
            head.lines().find_map(|line| line.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(str::trim))
        };
        let body_end = if head_request || status == 204 || status == 304 {
            head_end
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                if let Some(end) = self.buf[head_end..].windows(5).position(|w| w == b"0\r\n\r\n") {
                    break head_end + end + 5;
                }
                if !self.fill() {
                    return None;
                }
            }
        } else if let Some(length) = header("content-length") {
            head_end + length.parse::<usize>().unwrap()
        } else {
            while self.fill() {}
            self.buf.len()
        };
        while self.buf.len() < body_end {
            if !self.fill() {
                return None;
            }
        }
        Some(self.buf.drain(..body_end).collect())
    }

    /// Whether the server closes the connection within `within` (without sending anything more).
    fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut byte = [0u8; 1];
        let closed = match self.stream.read(&mut byte) {
            Ok(0) => true,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
            Ok(_) => panic!("unexpected bytes from the server"),
            Err(_) => false,
        };
        self.stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        closed
    }
}

/// A response with its `date` value blanked (the one part that changes between two servers).
fn without_date(response: &[u8]) -> Vec<u8> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |e| e + 4);
    let head = String::from_utf8_lossy(&response[..head_end]);
    let mut out: Vec<u8> = head
        .split("\r\n")
        .map(|line| if line.to_ascii_lowercase().starts_with("date: ") { "date: -" } else { line })
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(&response[head_end..]);
    out
}

fn header_of(response: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(response);
    text.lines()
        .find_map(|line| {
            line.to_ascii_lowercase().strip_prefix(&format!("{name}: ")).map(|_| line[name.len() + 2..].to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// A published app with a 1 MiB AppImage, a small deb, and a delta between two AppImage releases.
struct Published {
    download: String,
    deb: String,
    delta: String,
    appimage: Vec<u8>,
    /// The `X-Millennium-Installed` value of 1.0.0's AppImage, which 2.0.0 has a delta from.
    installed: String,
}

fn publish(server: &ServerProcess, dir: &Path) -> Published {
    let demo = register_demo(server, dir);
    let v1 = artifact_bytes(7, 1024 * 1024 + 5);
    let mut v2 = v1.clone();
    v2[500_000..500_016].copy_from_slice(b"the changed part");
    let deb = artifact_bytes(8, 70_000);
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let a1 = write_signed(&dist, "demo_1.0.0_amd64.AppImage", &v1, &demo.key, "1.0.0", Format::Tauri);
    ok_json(cli_publish(server, &demo, "1.0.0", "stable", &[&a1]));
    let a2 = write_signed(&dist, "demo_2.0.0_amd64.AppImage", &v2, &demo.key, "2.0.0", Format::Tauri);
    let d2 = write_signed(&dist, "demo_2.0.0_amd64.deb", &deb, &demo.key, "2.0.0", Format::Tauri);
    let published = ok_json(cli_publish(server, &demo, "2.0.0", "stable", &[&a2, &d2]));
    let path_of = |name: &str| {
        let artifacts = published["artifacts"].as_array().unwrap();
        let url = artifacts.iter().find(|a| a["url"].as_str().unwrap().ends_with(name)).unwrap()["url"].as_str();
        url.unwrap().strip_prefix(PUBLIC_URL).unwrap().to_owned()
    };
    let stored = "millennium_delta_jobs_total{app=\"demo\",result=\"stored\"}";
    wait_for("the delta", Duration::from_secs(60), || server.figure(stored) == 1);
    let hash = millennium_update_protocol::metadata::blake2b_256_hex(&v1);
    let answer = wait_for_delta_answer(server, &hash);
    let delta = answer["deltas"][0]["url"].as_str().unwrap().strip_prefix(PUBLIC_URL).unwrap().to_owned();
    let installed = format!("blake2b-256:{hash}");
    Published { download: path_of(".AppImage"), deb: path_of(".deb"), delta, appimage: v2, installed }
}

/// The requests compared: (raw request, whether it is a `HEAD`).
fn requests(published: &Published, etag: &str) -> Vec<(Vec<u8>, bool)> {
    let get = |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes();
    let head = |path: &str, extra: &str| format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes();
    let (download, deb, delta) = (&published.download, &published.deb, &published.delta);
    let long = format!("/demo/linux/x86_64/1.0.0/deb?x={}", "a".repeat(5000));
    let admin = format!("Authorization: Bearer {ADMIN_TOKEN}\r\n");
    let mut list = vec![
        (get("/demo/linux/x86_64/1.0.0/deb", ""), false),
        (get("/demo/linux/x86_64/1.0.0", "Accept: application/json\r\n"), false),
        (get("/demo/linux/x86_64/1.0.0/appimage?channel=stable&install_id=abc", ""), false),
        (get("/demo/linux/x86_64/9.0.0/deb", ""), false),
        (get("/demo/linux/x86_64/1.0.0/deb?channel=made-up", ""), false),
        (get("/demo/linux/x86_64/not-a-version/deb", ""), false),
        (get("/nope/linux/x86_64/1.0.0/deb", ""), false),
        (get("/demo/stable/latest.json", ""), false),
        (get("/demo/stable/latest.json?client=cargo-packager", ""), false),
        (get("/demo/linux/x86_64/1.0.0", "X-Millennium-Webview: webkitgtk=2.44.1\r\n"), false),
        (head("/demo/linux/x86_64/1.0.0/deb", ""), true),
        (get(download, ""), false),
        (get(deb, ""), false),
        (head(download, ""), true),
        (get(download, "Range: bytes=0-99\r\n"), false),
        (get(download, "Range: bytes=-100\r\n"), false),
        (get(download, "Range: bytes=1000000-\r\n"), false),
        (get(download, "Range: bytes=99999999-\r\n"), false),
        (get(download, "Range: bytes=0-1,5-6\r\n"), false),
        (get(download, "Range: items=0-1\r\n"), false),
        (head(download, "Range: bytes=10-19\r\n"), true),
        (get(download, &format!("If-None-Match: {etag}\r\n")), false),
        (get(download, "If-None-Match: \"other\"\r\n"), false),
        (get(download, "If-Range: \"other\"\r\nRange: bytes=0-9\r\n"), false),
        (get(download, &format!("If-Range: {etag}\r\nRange: bytes=0-9\r\n")), false),
        (get(delta, ""), false),
        (get(delta, "Range: bytes=5-20\r\n"), false),
        (head(delta, ""), true),
        (get("/download/demo/2.0.0/linux-x86_64-appimage/nope.AppImage", ""), false),
        (get("/download/demo/9.9.9/linux-x86_64-appimage/demo_2.0.0_amd64.AppImage", ""), false),
        (get("/healthz", ""), false),
        (get("/healthz?x=%20y&z", "X-Note: caf\u{e9}\r\n"), false),
        (get("/openapi.json", ""), false),
        (get("/metrics", ""), false),
        (get("/api/v1/apps/demo", ""), false),
        (get("/api/v1/apps/demo", &admin), false),
        (get("/api/v1/apps/demo/releases", &admin), false),
        (get("/%zz", ""), false),
        (get("/no/such/route/at/all/here", ""), false),
        (get(&long, ""), false),
        (get("/healthz", &(0..100).map(|i| format!("X-H{i}: {i}\r\n")).collect::<String>()), false),
        (get("/healthz", &(0..20).map(|i| format!("X-H{i}: {}\r\n", "b".repeat(1024))).collect::<String>()), false),
        // Handed to hyper: the answers are hyper's on both sides, and must stay so.
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_vec(), false),
        (b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), false),
        (b"GET /healthz HTTP/1.0\r\n\r\n".to_vec(), false),
        (b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec(), false),
        (b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(), false),
        (b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(), false),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n".to_vec(), false),
        (b"GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), false),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), false),
        (format!("GET /healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(100 * 1024)).into_bytes(), false),
        (get("/healthz", &(0..200).map(|i| format!("X-H{i}: 1\r\n")).collect::<String>()), false),
    ];
    // The same request with its head split over two writes is answered the same way.
    list.push((get("/demo/linux/x86_64/1.0.0/deb", "X-Split: 1\r\n"), false));
    // One URL with what decides whether its kept answer may be reused: a delta for the installed artifact (never
    // reused), install ids (the channel has no partial rollout: reused, once the id is checked), a webview report.
    let installed = format!("X-Millennium-Installed: {}\r\n", published.installed);
    let appimage = "/demo/linux/x86_64/1.0.0/appimage";
    for extra in [
        "",
        &installed,
        "Millennium-Install-Id: 6d1b0c52-3c6e-4a8e-9d0e-5f2a7b9c1d34\r\n",
        "Millennium-Install-Id: not an id\r\n",
        "X-Millennium-Webview: webkitgtk/2.40\r\n",
        "X-Millennium-Webview: nonsense\r\n",
        &installed,
    ] {
        list.push((get(appimage, extra), false));
    }
    list
}

/// Each request on a fresh connection; the raw answers, dates blanked.
fn answers(port: u16, requests: &[(Vec<u8>, bool)]) -> Vec<Option<Vec<u8>>> {
    requests
        .iter()
        .map(|(request, head)| {
            let mut raw = Raw::connect(port);
            if request.windows(9).any(|w| w == b"X-Split: ") {
                raw.send(&request[..10]);
                std::thread::sleep(Duration::from_millis(50));
                raw.send(&request[10..]);
            } else {
                raw.send(request);
            }
            raw.response(*head).map(|r| without_date(&r))
        })
        .collect()
}

/// The update checks counted in the adoption figures, per version (summed over time).
fn adoption(server: &ServerProcess) -> BTreeMap<String, u64> {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/apps/demo/releases/2.0.0/health", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    let mut out = BTreeMap::new();
    for bucket in body["adoption"].as_array().unwrap() {
        *out.entry(bucket["version"].as_str().unwrap().to_owned()).or_default() += bucket["checks"].as_u64().unwrap();
    }
    out
}

/// The `/metrics` series of update checks and requests, sorted; without `431`s, which hyper counts or not depending
/// on its read sizes (see the comparison of answers).
fn check_counters(server: &ServerProcess) -> Vec<String> {
    let families = [
        "millennium_update_checks_total{",
        "millennium_update_check_webviews_total{",
        "millennium_http_requests_total{",
    ];
    let counted = |line: &&str| families.iter().any(|f| line.starts_with(f)) && !line.contains("status=\"431\"");
    let mut lines: Vec<String> = server.metrics().lines().filter(counted).map(str::to_owned).collect();
    lines.sort();
    lines
}

/// What a server answered and counted for a list of requests sent twice.
struct Answered {
    /// The first pass's answers (the second pass's are the same).
    answers: Vec<Option<Vec<u8>>>,
    /// [`check_counters`] after both passes.
    counters: Vec<String>,
    /// The adoption figures both passes added.
    adoption: BTreeMap<String, u64>,
    /// Checks answered with an answer kept for their URL.
    reuses: u64,
    /// The request log lines both passes wrote ([`request_log`]).
    log: Vec<String>,
}

/// The request log lines (`… request{method uri version}: … finished processing request latency=… status=…`) of the
/// log file, without their times, sorted; without `431`s (see [`check_counters`]).
fn request_log(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| line.contains("finished processing request") && !line.ends_with("status=431"))
        .map(|line| {
            let words = line.split_whitespace().skip(1).filter(|w| !w.starts_with("latency=") && *w != "ms");
            words.collect::<Vec<_>>().join(" ")
        })
        .collect();
    lines.sort();
    lines
}

/// The requests answered twice on fresh connections (the second time, checks get the answers kept by their URL), the
/// two passes' answers compared, and what they counted (the server is stopped, as adoption is stored at the latest
/// then).
fn answered_twice(tmp: &Path, data_dir: &Path, env: &[(&str, &str)], requests: &[(Vec<u8>, bool)]) -> Answered {
    let server = start(tmp, data_dir, env);
    let before = adoption(&server);
    // Each server appends to the same log.
    let logged_before = request_log(&tmp.join("server.log"));
    let first = answers(server.port, requests);
    let second = answers(server.port, requests);
    for (i, (first, second)) in first.iter().zip(&second).enumerate() {
        let request = String::from_utf8_lossy(&requests[i].0[..requests[i].0.len().min(200)]);
        assert!(first == second, "a second answer to {request:?} differs from the first");
    }
    let counters = check_counters(&server);
    let reuses = server.figure("millennium_answer_cache_reuses_total");
    let mut log = request_log(&tmp.join("server.log"));
    for line in logged_before {
        let at = log.iter().position(|l| *l == line).unwrap();
        log.remove(at);
    }
    server.stop();
    let server = start(tmp, data_dir, env);
    let after = adoption(&server);
    server.stop();
    let added =
        after.into_iter().map(|(version, n)| (version.clone(), n - before.get(&version).unwrap_or(&0))).collect();
    Answered { answers: first, counters, adoption: added, reuses, log }
}

#[test]
fn the_front_answers_byte_for_byte_as_hyper_does() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let front = start(tmp.path(), &data_dir, &[("MILLENNIUM_DELTA_POLL", "1")]);
    let published = publish(&front, tmp.path());
    let mut raw = Raw::connect(front.port);
    raw.send(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", published.download).as_bytes());
    let whole = raw.response(false).unwrap();
    let etag = header_of(&whole, "etag");
    assert!(whole.ends_with(&published.appimage), "the download is not the artifact");
    front.stop();
    let requests = requests(&published, &etag);
    let front = answered_twice(tmp.path(), &data_dir, &[], &requests);
    let hyper = answered_twice(tmp.path(), &data_dir, &[("MILLENNIUM_HTTP_FRONT", "false")], &requests);

    // Answers the front reused are counted as the router counts them.
    assert!(front.reuses >= 16, "the front reused {} answers", front.reuses);
    assert_eq!(hyper.reuses, 0);
    assert_eq!(front.counters, hyper.counters);
    assert_eq!(front.adoption, hyper.adoption);
    assert_eq!(front.log, hyper.log, "the request logs differ");
    assert!(front.log.len() > requests.len(), "{} request log lines", front.log.len());
    assert!(front.adoption["1.0.0"] > 2 * 10, "{:?}", front.adoption);
    let (ours, theirs) = (front.answers, hyper.answers);

    for (((request, _), ours), theirs) in requests.iter().zip(&ours).zip(&theirs) {
        let request_text = String::from_utf8_lossy(&request[..request.len().min(200)]);
        let (Some(ours), Some(theirs)) = (ours, theirs) else {
            assert_eq!(ours.is_some(), theirs.is_some(), "one side closed without answering {request_text:?}");
            continue;
        };
        if request.len() > 64 * 1024 {
            // Over hyper's 64 KiB buffer, whether hyper itself or the router refuses a head (`431` either way)
            // depends on how much hyper happens to read at once, with or without the front.
            let status = |r: &[u8]| String::from_utf8_lossy(&r[..12]).to_string();
            assert_eq!(status(ours), "HTTP/1.1 431");
            assert_eq!(status(theirs), "HTTP/1.1 431");
            continue;
        }
        let is_head_304 = request.starts_with(b"HEAD") && theirs.starts_with(b"HTTP/1.1 304");
        let theirs = if is_head_304 {
            // The deliberate difference: hyper puts `content-length: 0` on a `304` to `HEAD`; RFC 9110 forbids a
            // length other than the `200`'s.
            String::from_utf8_lossy(theirs).replace("content-length: 0\r\n", "").into_bytes()
        } else {
            theirs.clone()
        };
        assert!(
            *ours == theirs,
            "different answers to {request_text:?}:\nfront: {}\nhyper: {}",
            String::from_utf8_lossy(&ours[..ours.len().min(2000)]),
            String::from_utf8_lossy(&theirs[..theirs.len().min(2000)])
        );
    }
    // The cases that matter were really answered, not refused alike.
    let status = |i: usize| String::from_utf8_lossy(&ours[i].as_ref().unwrap()[..12]).to_string();
    assert_eq!(status(0), "HTTP/1.1 200");
    assert_eq!(status(14), "HTTP/1.1 206");
    assert_eq!(status(17), "HTTP/1.1 416");
    assert_eq!(status(21), "HTTP/1.1 304");
    assert_eq!(status(25), "HTTP/1.1 200");
    assert_eq!(status(26), "HTTP/1.1 206");
    let body = |i: usize| {
        let answer = ours[ours.len() - 7 + i].as_ref().unwrap();
        let start = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        serde_json::from_slice::<serde_json::Value>(&answer[start..]).unwrap()
    };
    assert!(body(0).get("deltas").is_none() && body(6).get("deltas").is_some(), "{} {}", body(0), body(6));
    assert_eq!(body(2), body(0));
    assert_eq!(status(ours.len() - 4), "HTTP/1.1 400");
}

/// The server with a published release, started with `env`.
fn served(tmp: &Path, env: &[(&str, &str)]) -> (ServerProcess, Published) {
    let data_dir = tmp.join("data");
    let mut env = env.to_vec();
    env.push(("MILLENNIUM_DELTA_POLL", "1"));
    let server = start(tmp, &data_dir, &env);
    let published = publish(&server, tmp);
    (server, published)
}

#[test]
fn pipelined_requests_are_answered_in_order_across_the_hand_off_to_hyper() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, published) = served(tmp.path(), &[]);
    let check = "GET /demo/linux/x86_64/1.0.0/deb HTTP/1.1\r\nHost: x\r\n\r\n";
    let range = format!("GET {} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n", published.download);
    let events = r#"{"events":[{"kind":"installed","install_id":"pipelined-1","from":"1.0.0","to":"2.0.0","target":"linux-x86_64-appimage"}]}"#;
    let post = format!(
        "POST /demo/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{events}",
        events.len()
    );
    // Front, front, hyper (a body), then hyper serves the rest of the connection.
    let all = format!("{check}{range}{post}{check}HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n{check}");
    let mut raw = Raw::connect(server.port);
    raw.send(all.as_bytes());
    let statuses: Vec<String> = [false, false, false, false, true, false]
        .iter()
        .map(|head| {
            let response = raw.response(*head).expect("an answer to each pipelined request");
            String::from_utf8_lossy(&response).lines().next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 206 Partial Content",
            "HTTP/1.1 202 Accepted",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK"
        ]
    );
    // Pipelined byte by byte too.
    let mut raw = Raw::connect(server.port);
    for byte in format!("{check}{check}").bytes() {
        raw.send(&[byte]);
    }
    for _ in 0..2 {
        assert!(raw.response(false).unwrap().starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
    server.stop();
}

#[test]
fn keep_alive_serves_many_requests_and_http_1_0_closes_unless_asked_not_to() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, published) = served(tmp.path(), &[]);
    let mut raw = Raw::connect(server.port);
    for i in 0..200 {
        let path = if i % 2 == 0 { "/demo/linux/x86_64/1.0.0/deb" } else { published.download.as_str() };
        raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n").as_bytes());
        assert!(raw.response(false).is_some(), "request {i} on one connection");
    }
    // `Connection: close`: answered, then closed.
    raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let response = raw.response(false).unwrap();
    assert!(String::from_utf8_lossy(&response).contains("connection: close\r\n"));
    assert!(raw.closed_within(Duration::from_secs(5)));
    // HTTP/1.0: closed after the answer, unless keep-alive is asked for.
    let mut raw = Raw::connect(server.port);
    raw.send(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert!(raw.response(false).unwrap().starts_with(b"HTTP/1.0 200 OK"));
    assert!(raw.closed_within(Duration::from_secs(5)));
    let mut raw = Raw::connect(server.port);
    for _ in 0..3 {
        raw.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let response = raw.response(false).unwrap();
        assert!(String::from_utf8_lossy(&response).contains("connection: keep-alive\r\n"));
    }
    server.stop();
}

#[test]
fn slow_loris_and_idle_connections_are_closed_after_their_timeouts() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("MILLENNIUM_HEADER_READ_TIMEOUT", "2"), ("MILLENNIUM_IDLE_TIMEOUT", "3")];
    let server = start(tmp.path(), &tmp.path().join("data"), &env);
    // A head trickling in a byte every 200 ms never completes: cut off 2 s after its first byte.
    let mut raw = Raw::connect(server.port);
    let started = Instant::now();
    let mut cut_off = false;
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain([b'a'; 100].iter()) {
        if raw.stream.write_all(&[*byte]).is_err() || raw.closed_within(Duration::from_millis(200)) {
            cut_off = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(cut_off, "a slow head was let through");
    assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5), "cut off after {elapsed:?}");
    // An idle keep-alive connection, after one request: closed after 3 s of nothing, not before.
    let mut raw = Raw::connect(server.port);
    raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(raw.response(false).is_some());
    assert!(!raw.closed_within(Duration::from_secs(2)), "closed before the idle timeout");
    assert!(raw.closed_within(Duration::from_secs(3)), "still open after the idle timeout");
    // A connection that never sends anything is idle too.
    let mut raw = Raw::connect(server.port);
    assert!(raw.closed_within(Duration::from_secs(5)));
    server.stop();
}

#[test]
fn a_client_that_stops_reading_a_download_is_dropped_after_the_write_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let server = start(tmp.path(), &data_dir, &[("MILLENNIUM_WRITE_TIMEOUT", "1")]);
    let demo = register_demo(&server, tmp.path());
    // Far more than the socket buffers on both ends hold.
    let data = artifact_bytes(5, 40 * 1024 * 1024);
    let file = write_signed(tmp.path(), "demo_1.0.0_amd64.AppImage", &data, &demo.key, "1.0.0", Format::Tauri);
    let published = ok_json(cli_publish(&server, &demo, "1.0.0", "stable", &[&file]));
    let path = published["artifacts"][0]["url"].as_str().unwrap().strip_prefix(PUBLIC_URL).unwrap().to_owned();
    let mut raw = Raw::connect(server.port);
    raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert!(raw.fill());
    // Stop reading for longer than the write timeout: the server gives up on the connection.
    std::thread::sleep(Duration::from_secs(4));
    while raw.fill() {}
    assert!(raw.buf.len() < data.len(), "the whole download arrived although the client stopped reading");
    // A client that keeps reading gets everything.
    let mut raw = Raw::connect(server.port);
    raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert!(raw.response(false).unwrap().ends_with(&data));
    server.stop();
}

#[test]
fn many_clients_resetting_mid_sendfile_leave_the_server_healthy() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, published) = served(tmp.path(), &[]);
    let port = server.port;
    let path = published.download.clone();
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let mut raw = Raw::connect(port);
                    raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
                    if i % 2 == 0 {
                        raw.fill();
                    }
                    // SO_LINGER 0: the close is a reset, in the middle of the server's sendfile.
                    rustix::net::sockopt::set_socket_linger(&raw.stream, Some(Duration::ZERO)).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut raw = Raw::connect(port);
    raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert!(raw.response(false).unwrap().ends_with(&published.appimage));
    raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(raw.response(false).unwrap().starts_with(b"HTTP/1.1 200 OK"));
    // The downloads the server saw were counted (a reset can beat the request), and the bytes `sendfile` sent.
    assert!(server.figure("millennium_update_downloads_total{app=\"demo\",kind=\"full\"}") > 160);
    assert!(server.figure("millennium_download_bytes_total{app=\"demo\"}") >= published.appimage.len() as u64);
    server.stop();
}

/// A file larger than one `sendfile` step (2 MiB) goes whole and in ranges that cross the steps, to two clients read
/// at once (the steps take turns), and the connections serve the next request after it.
#[test]
fn downloads_of_several_sendfile_steps_arrive_whole_and_in_ranges_on_kept_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let server = start(tmp.path(), &data_dir, &[]);
    let demo = register_demo(&server, tmp.path());
    let data = artifact_bytes(21, 5 * 1024 * 1024 + 3);
    let file = write_signed(tmp.path(), "demo_1.0.0_amd64.AppImage", &data, &demo.key, "1.0.0", Format::Minisign);
    let published = ok_json(cli_publish(&server, &demo, "1.0.0", "stable", &[&file]));
    let url = published["artifacts"][0]["url"].as_str().unwrap();
    let path = url.strip_prefix(PUBLIC_URL).unwrap().to_owned();
    let step = 2 * 1024 * 1024;
    let ranges = [(0, data.len() - 1), (step - 7, 2 * step + 9), (step, 2 * step - 1), (2 * step + 1, data.len() - 1)];

    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (path, data) = (path.clone(), data.clone());
            let port = server.port;
            std::thread::spawn(move || {
                let mut raw = Raw::connect(port);
                for (first, last) in ranges {
                    raw.send(
                        format!("GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes={first}-{last}\r\n\r\n").as_bytes(),
                    );
                    let response = raw.response(false).expect("a whole answer");
                    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    assert!(response.starts_with(b"HTTP/1.1 206 Partial Content\r\n"), "bytes={first}-{last}");
                    assert!(response[head_end..] == data[first..=last], "bytes={first}-{last} differ from the file");
                }
                raw.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
                let response = raw.response(false).expect("a whole answer");
                assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n") && response.ends_with(&data));
                raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
                assert!(raw.response(false).unwrap().starts_with(b"HTTP/1.1 200 OK"));
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    // Every byte sent is counted once.
    let sent: usize = ranges.iter().map(|(first, last)| last - first + 1).sum::<usize>() + data.len();
    assert_eq!(server.figure("millennium_download_bytes_total{app=\"demo\"}"), 2 * sent as u64);
    server.stop();
}

/// Answers kept by URL go with every change of what is offered, and a partial rollout's answers are never reused for
/// requests with an install id (the id decides them) while those without one still are.
#[test]
fn kept_answers_go_with_every_change_and_never_decide_a_rollout() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, _) = served(tmp.path(), &[]);
    let http = reqwest::blocking::Client::new();
    let check_url = format!("{}/demo/linux/x86_64/1.0.0/appimage", server.url);
    let offered = |install: Option<&str>| {
        let mut request = http.get(&check_url);
        if let Some(id) = install {
            request = request.header("Millennium-Install-Id", id);
        }
        let response = request.send().unwrap();
        match response.status().as_u16() {
            204 => None,
            200 => Some(response.json::<serde_json::Value>().unwrap()["version"].as_str().unwrap().to_owned()),
            other => panic!("status {other}"),
        }
    };
    let reuses = || server.figure("millennium_answer_cache_reuses_total");
    let admin = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &server.url, "--app", "demo", "--version", "2.0.0", "--json"]);
        ok_json(SERVER.cli(&all, &[("MILLENNIUM_TOKEN", ADMIN_TOKEN)]));
    };

    assert_eq!(offered(None).as_deref(), Some("2.0.0"));
    let before = reuses();
    assert_eq!(offered(None).as_deref(), Some("2.0.0"));
    assert_eq!(offered(Some("install-anything")).as_deref(), Some("2.0.0"), "at 100 % any id gets the same");
    assert_eq!(reuses(), before + 2);

    admin(&["rollout", "set", "50"]);
    let bucket = |id: &str| millennium_update_protocol::rollout::bucket(id, "demo", "2.0.0");
    let ids: Vec<String> = (0..200).map(|i| format!("install-{i}")).collect();
    let inside = ids.iter().find(|id| bucket(id) < 50).unwrap();
    let outside = ids.iter().find(|id| bucket(id) >= 50).unwrap();
    for _ in 0..2 {
        assert_eq!(offered(None), None, "no id, no bucket: not offered a partial rollout");
    }
    let before = reuses();
    for _ in 0..2 {
        assert_eq!(offered(Some(inside)).as_deref(), Some("2.0.0"));
        assert_eq!(offered(Some(outside)), None);
    }
    assert_eq!(reuses(), before, "an answer an install id decides was reused");
    assert_eq!(offered(None), None);
    assert_eq!(reuses(), before + 1);

    admin(&["rollout", "set", "100"]);
    assert_eq!(offered(Some(outside)).as_deref(), Some("2.0.0"));
    admin(&["yank"]);
    for _ in 0..2 {
        assert_eq!(offered(None), None);
        assert_eq!(offered(Some(inside)), None);
    }
    server.stop();
}

/// An upload the server refuses before reading it (here, to an app that does not exist) gets the refusal, not a reset:
/// the connection lingers after the answer, taking what the client still sends, so the answer is still there when the
/// client has sent everything and reads it.
#[test]
fn an_upload_refused_before_its_end_gets_its_answer_not_a_reset() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &tmp.path().join("data"), &[]);
    let body = vec![b'x'; 16 * 1024 * 1024];
    for _ in 0..5 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let head = format!(
            "POST /api/v1/apps/nope/releases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).expect("the server reset the connection while the upload was being sent");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("the answer");
        let text = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    }
    server.stop();
}

/// The release-health requests compared on both paths: raw requests, each on a fresh connection unless it holds
/// several pipelined ones (then every answer on that connection is read). The front serves those framed by one
/// `Content-Length` (`POST /{app}/events`); the rest (chunked, `Expect`, oversized, other `POST`s) stay hyper's.
fn event_requests() -> Vec<(Vec<u8>, usize)> {
    // Event ids are 16 to 64 characters.
    let event = |id: &str, kind: &str, install: &str, to: &str| {
        format!(
            r#"{{"id":"event-id-0000-{id}","kind":"{kind}","install_id":"{install}","from":"1.0.0","to":"{to}","target":"linux-x86_64-appimage"}}"#
        )
    };
    let batch = |events: &[String]| format!(r#"{{"events":[{}]}}"#, events.join(","));
    let post = |path: &str, extra: &str, body: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len())
            .into_bytes()
    };
    let good = batch(&[
        event("e-1", "installed", "install-aaaa-1", "2.0.0"),
        event("e-2", "confirmed", "install-aaaa-1", "2.0.0"),
        event("e-3", "rolled_back", "install-aaaa-2", "2.0.0"),
    ]);
    // One install over its bucket (20 at once): the last five are rejected.
    let flood =
        batch(&(0..25).map(|i| event(&format!("f-{i}"), "installed", "install-flood", "2.0.0")).collect::<Vec<_>>());
    let mixed = batch(&[
        event("m-1", "installed", "install-bbbb-1", "2.0.0"),
        event("m-2", "installed", "install-bbbb-2", "9.9.9"),
        event("e-1", "installed", "install-aaaa-1", "2.0.0"),
        event("m-1", "installed", "install-bbbb-1", "2.0.0"),
    ]);
    let big =
        batch(&(0..600).map(|i| event(&format!("b-{i}"), "installed", "install-big", "2.0.0")).collect::<Vec<_>>());
    let unknown_app = batch(&[event("u-1", "installed", "install-cccc-1", "2.0.0")]);
    let chunked = format!(
        "POST /demo/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:X}\r\n{unknown_app}\r\n0\r\n\r\n",
        unknown_app.len()
    );
    let pipelined = [
        post("/demo/events", "", &batch(&[event("p-1", "confirmed", "install-dddd-1", "2.0.0")])),
        post("/demo/events", "", &batch(&[event("p-1", "confirmed", "install-dddd-1", "2.0.0")])),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        post("/demo/events?x=1", "", &batch(&[event("p-2", "install_failed", "install-dddd-2", "2.0.0")])),
    ]
    .concat();
    // Sent in two writes, split in the middle of the body.
    let split = post("/demo/events", "X-Split: 1\r\n", &batch(&[event("s-1", "confirmed", "install-eeee-1", "2.0.0")]));
    vec![
        (post("/demo/events", "", &good), 1),
        (post("/demo/events", "", &good), 1),
        (post("/demo/events", "", &flood), 1),
        (post("/demo/events", "", &mixed), 1),
        (post("/nope/events", "", &unknown_app), 1),
        (post("/demo/events", "", "{\"events\":[}"), 1),
        (post("/demo/events", "", ""), 1),
        (post("/demo/events", "", "{\"events\":[], \"events\":[]}"), 1),
        (post("/not%20an%20app/events", "", &unknown_app), 1),
        (post("//events", "", &unknown_app), 1),
        (post("/demo/events/", "", &unknown_app), 1),
        (post("/demo/linux/x86_64/1.0.0", "", &unknown_app), 1),
        (post("/api/v1/apps", "", "{}"), 1),
        (post("/demo/events", "Content-Type: text/plain\r\n", &batch(&[event("t-1", "confirmed", "install-ffff-1", "2.0.0")])), 1),
        // Hyper's on both sides: over 64 KiB, chunked, `Connection`, two lengths, a length announced too large.
        (post("/demo/events", "", &big), 1),
        (chunked.into_bytes(), 1),
        (post("/demo/events", "Connection: keep-alive\r\n", &unknown_app), 1),
        (
            format!("POST /demo/events HTTP/1.1\r\nHost: x\r\nContent-Length: {0}\r\nContent-Length: {0}\r\n\r\n{unknown_app}", unknown_app.len())
                .into_bytes(),
            1,
        ),
        (b"POST /demo/events HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n{}".to_vec(), 1),
        (pipelined, 4),
        (split, 1),
    ]
}

/// Each request list on a fresh connection, its `count` answers read (dates and `retry-after` blanked).
fn event_answers(port: u16, requests: &[(Vec<u8>, usize)]) -> Vec<Vec<Option<Vec<u8>>>> {
    requests
        .iter()
        .map(|(request, count)| {
            let mut raw = Raw::connect(port);
            if request.windows(9).any(|w| w == b"X-Split: ") {
                // The head and the start of the body, then the rest.
                let at = request.len() - 20;
                raw.send(&request[..at]);
                std::thread::sleep(Duration::from_millis(50));
                raw.send(&request[at..]);
            } else {
                raw.send(request);
            }
            (0..*count).map(|_| raw.response(false).map(|r| without_date(&r))).collect()
        })
        .collect()
}

/// The `/metrics` series of events and requests, sorted.
fn event_counters(server: &ServerProcess) -> Vec<String> {
    let families =
        ["millennium_client_events_total{", "millennium_http_requests_total{", "millennium_update_checks_total{"];
    let mut lines: Vec<String> = server
        .metrics()
        .lines()
        .filter(|line| families.iter().any(|f| line.starts_with(f)))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The stored counts of 2.0.0 (all channels and hours).
fn event_totals(server: &ServerProcess) -> serde_json::Value {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/apps/demo/releases/2.0.0/health", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<serde_json::Value>().unwrap()["totals"].clone()
}

/// What one server made of the event requests.
struct EventsAnswered {
    answers: Vec<Vec<Option<Vec<u8>>>>,
    counters: Vec<String>,
    totals: serde_json::Value,
    log: Vec<String>,
    /// Whether a body that stopped coming was cut off (closed unanswered) within 4 s.
    cut_off: bool,
}

/// The event requests sent to a fresh server started with `env`, then a flood, then a body that stops coming.
fn events_answered(tmp: &Path, env: &[(&str, &str)]) -> EventsAnswered {
    let data_dir = tmp.join("data");
    let server = start(tmp, &data_dir, env);
    super::health::app_with_releases(&server, tmp, Some(100));
    let requests = event_requests();
    let answers = event_answers(server.port, &requests);
    // A flood from one address past its bucket (set to 40 requests below): answered `429`, counted as such.
    let flood = event_answers(
        server.port,
        &vec![(b"POST /demo/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}".to_vec(), 1); 30],
    );
    let counters = event_counters(&server);
    let totals = event_totals(&server);
    let log = request_log(&tmp.join("server.log"));
    // Last, as hyper's path counts it once the client gives up: a body that stops coming. The front reads the body
    // with the head, so the head's read timeout cuts it off; hyper hands the request on at once (and its handler
    // refuses it, as this address has no request left in its bucket, or waits for the body).
    let mut raw = Raw::connect(server.port);
    raw.send(b"POST /demo/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"events\":");
    raw.stream.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    let cut_off = match raw.stream.read(&mut [0u8; 1]) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    drop(raw);
    server.stop();
    EventsAnswered { answers: answers.into_iter().chain(flood).collect(), counters, totals, log, cut_off }
}

/// An answer with the wait of a `429` blanked, in its `retry-after` and in its message ("retry in N s").
fn blank_waits(answer: &str) -> String {
    let line = |line: &str| {
        if line.starts_with("retry-after: ") {
            return "retry-after: -".to_owned();
        }
        let mut parts = line.split("retry in ");
        let mut blanked = parts.next().unwrap_or_default().to_owned();
        for part in parts {
            blanked.push_str("retry in -");
            blanked.push_str(part.trim_start_matches(|c: char| c.is_ascii_digit()));
        }
        blanked
    };
    answer.lines().map(line).collect::<Vec<_>>().join("\n")
}

/// `POST /{app}/events` served by the front gets the answers hyper gives, byte for byte, and has the same effects:
/// counted and refused events in `/metrics` and in the stored counts, the same request log lines, the per-install and
/// per-address rate limits, duplicates; framings the front does not take (chunked, two lengths, over 64 KiB) stay
/// hyper's, and a body split over two writes or pipelined requests are read whole and in order.
#[test]
fn the_front_serves_event_reports_as_hyper_does() {
    // Room for the requests above (about 30 from one address), not for the flood after them.
    let env = [
        ("MILLENNIUM_EVENT_IP_BURST", "40"),
        ("MILLENNIUM_EVENT_IP_PER_MINUTE", "1"),
        ("MILLENNIUM_HEADER_READ_TIMEOUT", "2"),
    ];
    let front_dir = tempfile::tempdir().unwrap();
    let front = events_answered(front_dir.path(), &env);
    let hyper_dir = tempfile::tempdir().unwrap();
    let hyper_env = [env[0], env[1], env[2], ("MILLENNIUM_HTTP_FRONT", "false")];
    let hyper = events_answered(hyper_dir.path(), &hyper_env);
    // The one difference, which also shows that the front served the `POST`s.
    assert!(front.cut_off, "the front waited for a body past the head's read timeout");
    assert!(!hyper.cut_off, "hyper cut off a slow body");

    let requests = event_requests();
    let text = |r: &Option<Vec<u8>>| r.as_ref().map(|r| String::from_utf8_lossy(r).into_owned());
    for (i, (ours, theirs)) in front.answers.iter().zip(&hyper.answers).enumerate() {
        let request = requests
            .get(i)
            .map_or("a flooding request".into(), |(r, _)| String::from_utf8_lossy(&r[..r.len().min(300)]).into_owned());
        let (ours, theirs): (Vec<_>, Vec<_>) = (ours.iter().map(text).collect(), theirs.iter().map(text).collect());
        // The wait of a `429` depends on when it was asked, in its header and in its message.
        let blank = |answers: Vec<Option<String>>| -> Vec<Option<String>> {
            answers.into_iter().map(|a| a.map(|a| blank_waits(&a))).collect()
        };
        assert_eq!(blank(ours), blank(theirs), "different answers to {request:?}");
    }
    let statuses = |answers: &[Vec<Option<Vec<u8>>>]| -> Vec<String> {
        answers
            .iter()
            .flatten()
            .map(|a| a.as_ref().map_or("closed".into(), |a| String::from_utf8_lossy(&a[9..12]).into_owned()))
            .collect()
    };
    let statuses = statuses(&front.answers);
    for status in ["202", "400", "404", "413", "429"] {
        assert!(statuses.iter().any(|s| s == status), "no {status} among {statuses:?}");
    }
    let accepted =
        front.counters.iter().find(|l| l.contains("kind=\"installed\"") && l.contains("result=\"accepted\"")).unwrap();
    assert!(accepted.ends_with(" 23"), "{accepted}");
    assert_eq!(front.counters, hyper.counters);
    assert_eq!(front.totals, hyper.totals);
    assert_eq!(front.totals["installed"], 23, "{}", front.totals);
    assert_eq!(front.log, hyper.log, "the request logs differ");
    assert!(front.log.len() >= requests.len() + 30, "{} request log lines", front.log.len());
}
