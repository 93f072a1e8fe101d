//! End to end: the real `millennium-update-server` binary on a loopback port with a temporary data directory. The
//! real CLI creates an app and a token and publishes artifacts signed with `millennium-sign`; reqwest then checks for
//! updates (dynamic and static), downloads with and without `Range`, and the downloaded artifact's signature is
//! verified against the app's key. The server is stopped with SIGTERM and restarted, and everything is still served.

// Helpers outside `#[test]` functions state their expectations with `unwrap()` too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use millennium_sign::{Format, PublicKey, SecretKey, Signature, TrustedComment};
use millennium_update_protocol::Target;
use millennium_update_protocol::tauri::{DynamicResponse, StaticManifest};
use serde_json::{Value, json};

use millennium_testing::keys::write_signed;
use millennium_testing::require_tool;
use millennium_testing::server::{ADMIN_TOKEN, Backend, ServerBinary, ServerProcess, free_loopback_port};

mod attacks;
mod front;
mod health;
mod ui;
mod webhooks;

/// The binary Cargo built for these tests.
const SERVER: ServerBinary = ServerBinary::new(env!("CARGO_BIN_EXE_millennium-update-server"));

fn json_out(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn ok_json(output: Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    json_out(&output)
}

fn artifact_bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Everything an app sees: dynamic checks for each bundle, the static manifest, and downloads.
fn check_served(server: &ServerProcess, public_key: &PublicKey, appimage: &[u8], deb: &[u8]) {
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", server.url)).send().unwrap();

    // Dynamic: a deb install gets the deb, an AppImage the AppImage, a plain binary the AppImage.
    for (path, expected) in [
        ("/demo/linux/x86_64/1.0.0/deb", deb),
        ("/demo/linux/x86_64/1.0.0/appimage", appimage),
        ("/demo/linux/x86_64/1.0.0", appimage),
        ("/demo/linux/x86_64/1.0.0-rc.1%2Bb.1/unknown", appimage),
    ] {
        let response = get(path);
        assert_eq!(response.status(), 200, "{path}");
        let offer = DynamicResponse::parse(&response.bytes().unwrap()).unwrap();
        assert_eq!(offer.release().version().to_string(), "1.2.3");
        assert_eq!(offer.release().notes(), Some("# 1.2.3\n\n- faster\n"));
        // A Linux target gets the WebKitGTK minimum.
        assert_eq!(offer.release().min_webview_version().map(ToString::to_string).as_deref(), Some("2.44"));
        let url = offer.artifact().url().as_str().to_owned();
        assert!(url.starts_with(&server.url), "{url}");

        // Full download, verified with millennium-sign against the app's key, like a Tauri client does.
        let body = http.get(&url).header("accept", "application/octet-stream").send().unwrap();
        assert_eq!(body.status(), 200);
        assert_eq!(body.headers()["content-length"], expected.len().to_string());
        assert!(body.headers().contains_key("etag") && body.headers().contains_key("last-modified"));
        let bytes = body.bytes().unwrap();
        assert_eq!(&bytes[..], expected, "{path}");
        let signature = offer.artifact().signature().signature();
        signature.verify(public_key, &bytes[..]).unwrap();
        signature.trusted_fields().check_version("1.2.3", true).unwrap();

        // Range.
        let part = http.get(&url).header("range", "bytes=100-199").send().unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.headers()["content-range"], format!("bytes 100-199/{}", expected.len()));
        assert_eq!(&part.bytes().unwrap()[..], &expected[100..200]);
        let past = http.get(&url).header("range", format!("bytes={}-", expected.len())).send().unwrap();
        assert_eq!(past.status(), 416);
        let head = http.head(&url).send().unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["content-length"], expected.len().to_string());
    }
    let windows = DynamicResponse::parse(&get("/demo/windows/x86_64/1.0.0").bytes().unwrap()).unwrap();
    assert_eq!(windows.release().min_webview_version().map(ToString::to_string).as_deref(), Some("124.0"));
    assert_eq!(get("/demo/linux/x86_64/1.2.3").status(), 204);
    assert_eq!(get("/demo/linux/x86_64/1.2.3%2Bother/deb").status(), 204);
    assert_eq!(get("/demo/linux/aarch64/1.0.0").status(), 204);
    assert_eq!(get("/demo/linux/x86_64/1.0").status(), 400);

    // Static manifest.
    let response = get("/demo/stable/latest.json");
    assert_eq!(response.status(), 200);
    let manifest = StaticManifest::parse(&response.bytes().unwrap()).unwrap();
    assert_eq!(manifest.release().min_webview_version(), None, "per platform, not once for all");
    for (key, min) in [("linux-x86_64", "2.44"), ("linux-x86_64-deb", "2.44"), ("windows-x86_64-nsis", "124.0")] {
        let entry = manifest.get(key).unwrap();
        assert_eq!(entry.min_webview_version().map(ToString::to_string).as_deref(), Some(min), "{key}");
    }
    for (target, bytes) in [("linux-x86_64-deb", deb), ("linux-x86_64", appimage), ("linux-x86_64-appimage", appimage)]
    {
        let (_, entry) = manifest.select(&target.parse::<Target>().unwrap()).unwrap();
        let download = http.get(entry.artifact().url().as_str()).send().unwrap().bytes().unwrap();
        assert_eq!(&download[..], bytes, "{target}");
        entry.artifact().signature().signature().verify(public_key, &download[..]).unwrap();
    }
    assert!(manifest.get("windows-x86_64").is_some() && manifest.get("windows-x86_64-nsis").is_some());
}

#[test]
fn publish_with_the_cli_then_serve_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let log = tmp.path().join("server.log");

    // Release key and signed artifacts (minisign form for two, Tauri's base64 form for one).
    let key = SecretKey::generate().unwrap();
    let public_key = key.public_key();
    let pub_path = tmp.path().join("release.key.pub");
    std::fs::write(&pub_path, public_key.to_text(Format::Minisign)).unwrap();
    let appimage = artifact_bytes(1, 3 * 1024 * 1024 + 17);
    let deb = artifact_bytes(2, 200_000);
    let nsis = artifact_bytes(3, 150_000);
    let a = write_signed(&dist, "demo_1.2.3_amd64.AppImage", &appimage, &key, "1.2.3", Format::Minisign);
    let d = write_signed(&dist, "demo_1.2.3_amd64.deb", &deb, &key, "1.2.3", Format::Tauri);
    let n = write_signed(&dist, "demo_1.2.3_x64-setup.exe", &nsis, &key, "1.2.3", Format::Minisign);
    let notes = tmp.path().join("NOTES.md");
    std::fs::write(&notes, "# 1.2.3\n\n- faster\n").unwrap();

    let port = free_loopback_port();
    let server = SERVER.serve(&data_dir, port, &log);
    let url = server.url.clone();

    // App and publish token with the CLI.
    let app = ok_json(SERVER.cli(
        &["apps", "create", "--server", &url, "--id", "demo", "--public-key", pub_path.to_str().unwrap(), "--json"],
        &[("MILLENNIUM_TOKEN", ADMIN_TOKEN)],
    ));
    assert_eq!(app["id"], "demo");
    assert_eq!(app["key_id"], public_key.key_id().to_string());
    let token = create_publish_token(&url);
    let publish_token = token["token"].as_str().unwrap().to_owned();

    // Publish without a token: usage error, exit 2.
    let out =
        SERVER.cli(&["publish", "--server", &url, "--app", "demo", "--version", "1.2.3", a.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    // Minimum webview versions that are not `BACKEND=VERSION`: usage errors saying what to write, before anything is
    // sent.
    for (given, says) in [
        (&["webkitgtk=2.44-rc1"][..], "`2.44-rc1` is not a version for `webkitgtk`"),
        (&["2.44"], "write `webkitgtk=2.44` for WebKitGTK (Linux)"),
        (&["webkitgtk=2.44", "webkitgtk=2.46"], "`webkitgtk` is given twice"),
    ] {
        let mut args = vec!["publish", "--server", &url, "--app", "demo", "--version", "1.2.3"];
        for value in given {
            args.extend(["--min-webview-version", value]);
        }
        args.push(a.to_str().unwrap());
        let out = SERVER.cli(&args, &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{given:?}: {stderr}");
        assert!(stderr.contains(says), "{given:?}: {stderr}");
    }

    // Publish with the CLI, token from MILLENNIUM_PUBLISH_TOKEN, targets inferred from the file names.
    let published = ok_json(SERVER.cli(
        &[
            "publish",
            "--server",
            &url,
            "--app",
            "demo",
            "--channel",
            "stable",
            "--version",
            "1.2.3",
            "--notes-file",
            notes.to_str().unwrap(),
            "--min-webview-version",
            "webkitgtk=2.44",
            "--min-webview-version",
            "webview2=124.0",
            "--json",
            a.to_str().unwrap(),
            d.to_str().unwrap(),
            n.to_str().unwrap(),
        ],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    ));
    let targets: Vec<&str> =
        published["artifacts"].as_array().unwrap().iter().map(|a| a["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["linux-x86_64-appimage", "linux-x86_64-deb", "windows-x86_64-nsis"]);
    assert_eq!(published["min_webview_version"], json!({"webkitgtk": "2.44", "webview2": "124.0"}));

    // The same version again: refused by the server, exit 1, JSON error on stdout.
    let out = SERVER.cli(
        &["publish", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json", a.to_str().unwrap()],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"]["code"], "duplicate_version");

    // A wrongly signed artifact: refused (the CLI checks against the app's key before uploading; the server's own
    // refusal is covered by the in-process tests), nothing published.
    let other_key = SecretKey::generate().unwrap();
    let bad = write_signed(&dist, "bad_2.0.0_amd64.AppImage", b"evil", &other_key, "2.0.0", Format::Minisign);
    let out = SERVER.cli(
        &["publish", "--server", &url, "--app", "demo", "--version", "2.0.0", "--json", bad.to_str().unwrap()],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"]["code"], "bad_signature");

    let listed = ok_json(SERVER.cli(
        &["releases", "list", "--server", &url, "--app", "demo", "--json"],
        &[("MILLENNIUM_TOKEN", &publish_token)],
    ));
    assert_eq!(listed["releases"].as_array().unwrap().len(), 1);
    assert_eq!(listed["releases"][0]["min_webview_version"], json!({"webkitgtk": "2.44", "webview2": "124.0"}));
    let out =
        SERVER.cli(&["releases", "list", "--server", &url, "--app", "demo"], &[("MILLENNIUM_TOKEN", &publish_token)]);
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.ends_with("  webkitgtk >= 2.44  webview2 >= 124.0"), "{text}");

    check_served(&server, &public_key, &appimage, &deb);

    // Restart: everything is still there.
    server.stop();
    let server = SERVER.serve(&data_dir, port, &log);
    assert_eq!((server.port, server.data_dir.as_path()), (port, data_dir.as_path()));
    check_served(&server, &public_key, &appimage, &deb);

    // Admin commands over the CLI: rollout, pause, yank.
    let admin = [("MILLENNIUM_TOKEN", ADMIN_TOKEN)];
    let out = ok_json(
        SERVER
            .cli(&["rollout", "set", "--server", &url, "--app", "demo", "--version", "1.2.3", "50", "--json"], &admin),
    );
    assert_eq!(out["channels"][0]["rollout"], 50);
    let http = reqwest::blocking::Client::new();
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 204);
    ok_json(
        SERVER
            .cli(&["rollout", "set", "--server", &url, "--app", "demo", "--version", "1.2.3", "100", "--json"], &admin),
    );
    ok_json(
        SERVER.cli(&["rollout", "pause", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json"], &admin),
    );
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 204);
    ok_json(
        SERVER.cli(&["rollout", "resume", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json"], &admin),
    );
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 200);
    ok_json(SERVER.cli(&["yank", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json"], &admin));
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 204);
    let download = published["artifacts"][0]["url"].as_str().unwrap();
    assert_eq!(http.get(download).send().unwrap().status(), 410);

    // Rotating the release key: the publish token may not; the admin may, in one command; the old key then no longer
    // publishes.
    let new_key = SecretKey::generate().unwrap();
    let new_pub = tmp.path().join("new.key.pub");
    std::fs::write(&new_pub, new_key.public_key().to_text(Format::Minisign)).unwrap();
    let set_key = ["apps", "set-key", "--server", &url, "--id", "demo", "--public-key", new_pub.to_str().unwrap()];
    let out = SERVER.cli(&[&set_key[..], &["--json"]].concat(), &[("MILLENNIUM_TOKEN", &publish_token)]);
    assert_eq!(json_out(&out)["error"]["code"], "forbidden");
    let out = SERVER.cli(&set_key, &admin);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("release key replaced"), "{text}");
    assert!(text.contains(&new_key.public_key().key_id().to_string()), "{text}");
    let old_signed = write_signed(&dist, "demo_2.0.0_amd64.AppImage", b"two", &key, "2.0.0", Format::Minisign);
    let out = SERVER.cli(
        &["publish", "--server", &url, "--app", "demo", "--version", "2.0.0", "--json", old_signed.to_str().unwrap()],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    );
    assert_eq!(json_out(&out)["error"]["code"], "bad_signature");

    // Revoked tokens stop working.
    let out =
        ok_json(SERVER.cli(&["tokens", "revoke", "--server", &url, "--json", token["id"].as_str().unwrap()], &admin));
    assert_eq!(out["revoked"], true);
    let out = SERVER.cli(
        &["releases", "list", "--server", &url, "--app", "demo", "--json"],
        &[("MILLENNIUM_TOKEN", &publish_token)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"]["code"], "unauthorized");
    server.stop();

    // The log is structured and never contains a token.
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("listening") && log_text.contains("published"), "{log_text}");
    // Request logs at the default level (the layer is left out only when the filter drops them).
    assert!(log_text.contains("finished processing request"), "{log_text}");
    assert!(!log_text.contains(&publish_token) && !log_text.contains(ADMIN_TOKEN));
}

/// Issue 20 item 14: the first start's admin token goes to a file only its owner can read, never to stderr (which
/// `docker logs` keeps); stderr names the file. Restarts neither make another token nor rewrite the file.
#[test]
fn first_start_writes_the_admin_token_to_a_private_file_never_to_stderr() {
    use std::os::unix::fs::PermissionsExt;

    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = free_loopback_port();
    let start = |log: &Path| {
        let log_file = std::fs::File::create(log).unwrap();
        let child = SERVER
            .command()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir", data_dir.to_str().unwrap()])
            .envs(Backend::for_dir(&data_dir).env())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        ServerProcess::attach(child, port, &data_dir, log, Backend::for_dir(&data_dir))
    };
    let first_log = tmp.path().join("first.log");
    let server = start(&first_log);
    let file = data_dir.join("admin-token");
    let token = std::fs::read_to_string(&file).expect("the admin token file").trim().to_owned();
    assert!(token.starts_with("mlnm_"), "{token}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let stderr = std::fs::read_to_string(&first_log).unwrap();
    assert!(!stderr.contains(&token) && !stderr.contains("mlnm_"), "the token must not reach stderr:\n{stderr}");
    assert!(stderr.contains(file.to_str().unwrap()), "stderr names the file:\n{stderr}");
    // No other file of the data directory holds it either (only its hash is stored).
    let leaked: Vec<_> = walk(&data_dir)
        .into_iter()
        .filter(|p| p != &file && std::fs::read(p).is_ok_and(|b| b.windows(token.len()).any(|w| w == token.as_bytes())))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    let out = SERVER.cli(
        &[
            "apps",
            "create",
            "--server",
            &server.url,
            "--id",
            "demo",
            "--public-key",
            &SecretKey::generate().unwrap().public_key().to_text(Format::Tauri),
            "--json",
        ],
        &[("MILLENNIUM_TOKEN", &token)],
    );
    ok_json(out);
    server.stop();
    let second_log = tmp.path().join("second.log");
    let server = start(&second_log);
    let stderr = std::fs::read_to_string(&second_log).unwrap();
    assert!(!stderr.contains("mlnm_") && !stderr.contains("admin-token"), "made only once:\n{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token, "the file is never rewritten");
    server.stop();
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

#[test]
fn help_explains_every_serve_setting() {
    let out = SERVER.cli(&["serve", "--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--bind",
        "MILLENNIUM_BIND",
        "127.0.0.1:8080",
        "--data-dir",
        "MILLENNIUM_DATA_DIR",
        "./millennium-data",
        "--public-url",
        "MILLENNIUM_PUBLIC_URL",
        "--max-upload-size",
        "MILLENNIUM_MAX_UPLOAD_SIZE",
        "MILLENNIUM_ADMIN_TOKEN",
        "MILLENNIUM_METRICS_TOKEN",
        "MILLENNIUM_ONLINE_KEY_PASSWORD",
        "--database-url",
        "MILLENNIUM_DATABASE_URL",
        "--storage-url",
        "MILLENNIUM_STORAGE_URL",
        "AWS_ENDPOINT_URL",
        "--s3-downloads",
        "--cdn-url",
        "MILLENNIUM_CDN_URL",
    ] {
        assert!(help.contains(needle), "`serve --help` does not mention {needle}:\n{help}");
    }
    let out = SERVER.cli(&["publish", "--help"], &[]);
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("MILLENNIUM_PUBLISH_TOKEN") && help.contains("--target"), "{help}");
}

#[test]
fn oversized_request_heads_are_refused_by_the_real_server() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let port = free_loopback_port();
    let server = SERVER.serve(&tmp.path().join("data"), port, &tmp.path().join("server.log"));
    let status_of = |request: &[u8]| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The server may answer and close before everything is written.
        let _ = stream.write_all(request);
        // Only the status line matters; do not wait for the server to close.
        let mut response = Vec::new();
        let mut buf = [0u8; 1024];
        while !response.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned()
    };
    // One 100 KiB header: hyper's bounded buffer refuses it.
    let huge = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(100 * 1024));
    assert!(status_of(huge.as_bytes()).contains("431"));
    // 200 small headers: refused too.
    let many: String = (0..200).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert!(status_of(request.as_bytes()).contains("431"));
    // 20 KiB over several headers: under hyper's limits, over the server's own (JSON answer).
    let medium: String = (0..20).map(|i| format!("X-H{i}: {}\r\n", "b".repeat(1024))).collect();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{medium}\r\n");
    assert!(status_of(request.as_bytes()).contains("431"));
    // A normal request still works.
    let ok = status_of(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(ok.contains("200"), "{ok}");
    server.stop();
}

/// Regression: every distinct HTTP method a client invented became a `method` label, and was written whole into the
/// request log (2,000 requests with 4 KiB methods took `/metrics` from 1 KB to 8.4 MB).
#[test]
fn invented_http_methods_grow_neither_metrics_nor_the_log() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let port = free_loopback_port();
    let log = tmp.path().join("server.log");
    let server = SERVER.serve(&tmp.path().join("data"), port, &log);
    let padding = "X".repeat(4096);
    for i in 0..2000 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let request = format!("M{i:04}{padding} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let status = String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned();
        assert!(status.contains(" 405 "), "request {i}: {status}");
    }
    let metrics = server.metrics();
    assert!(
        metrics.contains("millennium_http_requests_total{route=\"unmatched\",method=\"other\",status=\"405\"} 2000\n"),
        "{metrics}"
    );
    assert!(metrics.len() < 4096, "/metrics is {} bytes:\n{}", metrics.len(), &metrics[..4096]);
    server.stop();

    // The request log names each method by its first 16 bytes only.
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("method=M0000XXXXXXXXXXX… "), "{}", &log[..log.len().min(4096)]);
    assert!(log.contains("method=M1999XXXXXXXXXXX… "));
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 512, "a log line of {longest} bytes");
}

// ----- shared set-up for the tests below -----

/// An app `demo` registered with the CLI, and a publish token for it.
struct Demo {
    key: SecretKey,
    publish_token: String,
}

fn register_demo(server: &ServerProcess, dir: &Path) -> Demo {
    let key = SecretKey::generate().unwrap();
    let pub_path = dir.join("release.key.pub");
    std::fs::write(&pub_path, key.public_key().to_text(Format::Minisign)).unwrap();
    ok_json(SERVER.cli(
        &[
            "apps",
            "create",
            "--server",
            &server.url,
            "--id",
            "demo",
            "--public-key",
            pub_path.to_str().unwrap(),
            "--json",
        ],
        &[("MILLENNIUM_TOKEN", ADMIN_TOKEN)],
    ));
    Demo { key, publish_token: create_publish_token(&server.url)["token"].as_str().unwrap().to_owned() }
}

/// A publish token for `demo`, made with the CLI and the server admin token: the CLI's JSON answer.
fn create_publish_token(url: &str) -> Value {
    let args =
        ["tokens", "create", "--server", url, "--token", ADMIN_TOKEN, "--app", "demo", "--scope", "publish", "--json"];
    ok_json(SERVER.cli(&args, &[]))
}

/// `publish` with the real CLI; returns the process output.
fn cli_publish(server: &ServerProcess, demo: &Demo, version: &str, channel: &str, files: &[&Path]) -> Output {
    let mut args =
        vec!["publish", "--server", &server.url, "--app", "demo", "--version", version, "--channel", channel];
    args.push("--json");
    let files: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    args.extend(files);
    SERVER.cli(&args, &[("MILLENNIUM_PUBLISH_TOKEN", &demo.publish_token)])
}

fn curl(args: &[&str]) -> Output {
    require_tool("curl", "curl");
    let out = Command::new("curl").args(["-sS", "--noproxy", "*"]).args(args).output().unwrap();
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// SIGTERM while downloads are in flight, on connections spread over the HTTP workers: each download still gets every
/// byte, a connection made after the signal is refused, idle keep-alive connections are closed at once (not when the
/// downloads are done), and the server exits cleanly once they are done.
#[test]
fn sigterm_lets_in_flight_downloads_finish() {
    use std::io::{Read, Write};

    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let log = tmp.path().join("server.log");
    let port = free_loopback_port();
    let server = SERVER.serve(&data_dir, port, &log);
    let demo = register_demo(&server, tmp.path());
    // Larger than what the kernel buffers on a loopback connection, so the answers are still being written.
    let data = artifact_bytes(9, 32 * 1024 * 1024);
    let file = write_signed(tmp.path(), "demo_1.0.0_amd64.AppImage", &data, &demo.key, "1.0.0", Format::Minisign);
    let published = ok_json(cli_publish(&server, &demo, "1.0.0", "stable", &[&file]));
    let url = published["artifacts"][0]["url"].as_str().unwrap();
    let path = url.strip_prefix(&server.url).unwrap();

    // Four connections (spread over the workers), each with its request sent and only a little read, so the server
    // is blocked on each one's full socket buffer when the signal comes.
    // Half of them with `Connection: close` (hyper serves those), half keep-alive (the front's `sendfile`; the
    // connection closes after the answer as the server stops).
    let mut downloads: Vec<(std::net::TcpStream, Vec<u8>)> = (0..4)
        .map(|i| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let close = if i % 2 == 0 { "Connection: close\r\n" } else { "" };
            write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{close}\r\n").unwrap();
            let mut received = vec![0; 64 * 1024];
            let n = stream.read(&mut received).unwrap();
            received.truncate(n);
            (stream, received)
        })
        .collect();
    // Two keep-alive connections waiting for their next request (one per worker), after a whole answer each.
    let idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            write!(stream, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            while !answer.ends_with(b"\"ok\"}") {
                let mut more = [0; 1024];
                let n = stream.read(&mut more).unwrap();
                assert!(n > 0, "the server closed a keep-alive connection: {}", String::from_utf8_lossy(&answer));
                answer.extend_from_slice(&more[..n]);
            }
            stream
        })
        .collect();
    server.terminate();
    wait_for("the listener to close", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    });
    for mut stream in idle {
        let mut rest = Vec::new();
        let closed = stream.read_to_end(&mut rest);
        assert!(closed.is_ok() && rest.is_empty(), "an idle connection was not closed by the stop: {closed:?}");
    }

    for (stream, received) in &mut downloads {
        stream.read_to_end(received).unwrap();
        let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&received[..head_end]).to_string();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains(&format!("content-length: {}", data.len())), "{head}");
        assert!(received[head_end..] == data[..], "a download was cut short by the shutdown");
    }
    server.wait_exit();
}

/// A SIGTERM the moment the port accepts connections (a supervisor stopping a server it just started, or a test right
/// after its health check) stops the server cleanly: the handlers are installed before the listener is bound, so the
/// signal never meets the default action that kills the process.
#[test]
fn sigterm_right_after_the_port_opens_stops_the_server_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    for attempt in 0..5 {
        let data_dir = tmp.path().join(format!("data-{attempt}"));
        let port = free_loopback_port();
        let mut child = SERVER
            .command()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir", data_dir.to_str().unwrap()])
            .envs(Backend::for_dir(&data_dir).env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server never listened");
            assert!(child.try_wait().unwrap().is_none(), "the server exited before listening");
            std::thread::sleep(Duration::from_millis(1));
        }
        #[allow(unsafe_code, reason = "kill(2) of our own child, at once: spawning `kill` would take milliseconds")]
        // SAFETY: the pid is our child's, which has not been waited for, so it is not reused.
        let sent = unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM) };
        assert_eq!(sent, 0);
        let status = child.wait().unwrap();
        assert!(status.success(), "attempt {attempt}: the server exited with {status}");
    }
}

// ----- a real third-party client, and curl -----

/// cargo-packager-updater (a published crate that speaks Tauri's protocol, with `format` and `macos-*` keys) checks,
/// downloads and verifies with its own code against the real server; then curl does the same by hand.
#[test]
fn cargo_packager_updater_and_curl_update_from_the_real_server() {
    use cargo_packager_updater::{Config, UpdateFormat, UpdaterBuilder, semver::Version as PVersion};

    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let server = SERVER.serve(&tmp.path().join("data"), free_loopback_port(), &tmp.path().join("server.log"));
    let demo = register_demo(&server, tmp.path());
    let arch = std::env::consts::ARCH;
    let deb_arch = if arch == "x86_64" { "amd64" } else { "arm64" };

    let appimage = artifact_bytes(11, 1024 * 1024 + 3);
    let deb = artifact_bytes(12, 70_000);
    let app = artifact_bytes(13, 90_000);
    let files = [
        write_signed(&dist, &format!("demo_1.2.3_{deb_arch}.AppImage"), &appimage, &demo.key, "1.2.3", Format::Tauri),
        write_signed(&dist, &format!("demo_1.2.3_{deb_arch}.deb"), &deb, &demo.key, "1.2.3", Format::Minisign),
        write_signed(&dist, "demo_1.2.3_aarch64.app.tar.gz", &app, &demo.key, "1.2.3", Format::Tauri),
    ];
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    ok_json(cli_publish(&server, &demo, "1.2.3", "stable", &refs));

    // The app config's `pubkey`: Tauri's base64 form of the public key.
    let pubkey = demo.key.public_key().to_text(Format::Tauri);
    let exe = tmp.path().join("demo.AppImage");
    std::fs::write(&exe, b"installed").unwrap();
    let updater = |current: &str, endpoint: String, pubkey: &str, target: Option<&str>| {
        let config = Config { endpoints: vec![endpoint.parse().unwrap()], pubkey: pubkey.to_owned(), windows: None };
        let mut builder = UpdaterBuilder::new(PVersion::parse(current).unwrap(), config)
            .executable_path(&exe)
            .timeout(Duration::from_secs(30));
        if let Some(target) = target {
            builder = builder.target(target);
        }
        builder.build().unwrap()
    };
    let dynamic = format!("{}/demo/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", server.url);
    let latest = format!("{}/demo/stable/latest.json", server.url);

    // Dynamic endpoint: offered, downloaded and verified by the client's own code.
    let update = updater("1.0.0", dynamic.clone(), &pubkey, None).check().unwrap().expect("an update");
    assert_eq!(update.version, "1.2.3");
    assert_eq!(update.body.as_deref(), None);
    assert!(update.date.is_some());
    assert!(matches!(update.format, UpdateFormat::AppImage), "{:?}", update.format);
    assert!(update.download_url.as_str().starts_with(&server.url));
    assert_eq!(update.download().unwrap(), appimage);
    // A pre-release with build metadata (`+` percent-encoded by the client) is offered the update too.
    let update = updater("1.2.3-rc.1+build.5", dynamic.clone(), &pubkey, None).check().unwrap();
    assert_eq!(update.expect("an update").version, "1.2.3");
    // Up to date: 204, no update.
    assert!(updater("1.2.3", dynamic.clone(), &pubkey, None).check().unwrap().is_none());
    // A key that did not sign the artifact: the client's own verification refuses the download.
    let other = SecretKey::generate().unwrap().public_key().to_text(Format::Tauri);
    let update = updater("1.0.0", dynamic, &other, None).check().unwrap().expect("an update");
    assert!(update.download().is_err(), "a foreign key must not verify");

    // Static manifest: `{os}-{arch}` on Linux, and the `macos-*` twin of `darwin-aarch64-app`.
    // cargo-packager-updater parses every entry of `platforms` and needs a `format` in each, which a deb or rpm
    // entry cannot have: with such artifacts it reads `latest.json?client=cargo-packager`, which leaves them out.
    let error = updater("1.0.0", latest.clone(), &pubkey, None).check().expect_err("deb entry has no format");
    assert!(error.to_string().contains("format"), "{error}");
    let latest = format!("{latest}?client=cargo-packager");
    let update = updater("1.0.0", latest.clone(), &pubkey, None).check().unwrap().expect("an update");
    assert!(matches!(update.format, UpdateFormat::AppImage));
    assert_eq!(update.download().unwrap(), appimage);
    let update = updater("1.0.0", latest, &pubkey, Some("macos-aarch64")).check().unwrap().expect("an update");
    assert!(matches!(update.format, UpdateFormat::App), "{:?}", update.format);
    assert_eq!(update.download().unwrap(), app);

    // curl: the dynamic endpoint for a deb install, then the download, a range and a HEAD.
    let out = curl(&["-H", "Accept: application/json", &format!("{}/demo/linux/{arch}/1.0.0/deb", server.url)]);
    let offer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(offer["version"], "1.2.3");
    let url = offer["url"].as_str().unwrap();
    assert!(url.ends_with(".deb"), "{url}");
    let saved = tmp.path().join("curl.deb");
    curl(&["-f", "-o", saved.to_str().unwrap(), url]);
    let bytes = std::fs::read(&saved).unwrap();
    assert_eq!(bytes, deb);
    let signature = DynamicResponse::parse(&out.stdout).unwrap().artifact().signature().signature().clone();
    signature.verify(&demo.key.public_key(), &bytes[..]).unwrap();
    let out = curl(&["-f", "-r", "10-19", url]);
    assert_eq!(out.stdout, &deb[10..20]);
    let out = curl(&["-I", url]);
    let head = String::from_utf8(out.stdout).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-length: {}", deb.len())), "{head}");
    let out = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{}/demo/linux/{arch}/1.2.3", server.url)]);
    assert_eq!(out.stdout, b"204");

    // The traffic above, as Prometheus scrapes it (curl with the admin token), and the OpenAPI document.
    let out = curl(&["-f", "-H", &format!("Authorization: Bearer {ADMIN_TOKEN}"), &format!("{}/metrics", server.url)]);
    let metrics = String::from_utf8(out.stdout).unwrap();
    let value = |series: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let check = format!(
        "millennium_update_checks_total{{app=\"demo\",channel=\"stable\",version=\"1.0.0\",target=\"linux-{arch}\""
    );
    assert_eq!(value(&format!("{check},result=\"update\"}}")), 2, "two cargo-packager checks from 1.0.0");
    let sent = value("millennium_download_bytes_total{app=\"demo\"}");
    // Three AppImage downloads by cargo-packager, one .app, curl's deb and its 10-byte range (HEAD sends no body).
    assert_eq!(sent, (3 * appimage.len() + app.len() + deb.len() + 10) as u64);
    assert_eq!(value("millennium_release_events_total{app=\"demo\",event=\"published\"}"), 1);
    let out = curl(&["-f", &format!("{}/openapi.json", server.url)]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["paths"]["/{app}/{target}/{arch}/{current_version}/{bundle_type}"]["get"].is_object());

    // The container healthcheck: the binary asks /healthz.
    let out = SERVER.cli(&["healthcheck", "--url", &server.url], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = SERVER.cli(&["healthcheck"], &[("MILLENNIUM_BIND", &format!("0.0.0.0:{}", server.port))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.stop();
    let out = SERVER.cli(&["healthcheck", "--url", &format!("http://127.0.0.1:{}", free_loopback_port())], &[]);
    assert_eq!(out.status.code(), Some(1), "a stopped server is unhealthy");
}

// ----- kill -9 during publish -----

/// After a crash: the releases listed are exactly `expected` (newest first), each complete and served, no temporary
/// upload is left, and every blob on disk belongs to a listed release.
fn assert_consistent(server: &ServerProcess, demo: &Demo, expected: &[&str], contents: &dyn Fn(&str, &str) -> Vec<u8>) {
    let releases = server.releases("demo");
    let versions: Vec<&str> = releases.iter().map(|r| r["version"].as_str().unwrap()).collect();
    assert_eq!(versions, expected);
    let mut referenced = Vec::new();
    for release in &releases {
        let version = release["version"].as_str().unwrap();
        for artifact in release["artifacts"].as_array().unwrap() {
            let target = artifact["target"].as_str().unwrap();
            let bytes =
                server.get(artifact["url"].as_str().unwrap().strip_prefix(&server.url).unwrap()).bytes().unwrap();
            assert_eq!(&bytes[..], &contents(version, target)[..], "{version} {target}");
            referenced.push(artifact["sha256"].as_str().unwrap().to_owned());
        }
    }
    referenced.sort();
    referenced.dedup();
    // A shared store is collected by the leader a few seconds after the crash (see `Backend::env`).
    let deadline = Instant::now() + Duration::from_secs(if Backend::shared() { 15 } else { 0 });
    while server.blob_files() != referenced && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(server.blob_files(), referenced, "orphan or temporary files left in the blob store");
    // What apps are offered: the newest listed release, complete and verifiable.
    let r = server.get("/demo/linux/x86_64/0.1.0");
    let offer = DynamicResponse::parse(&r.bytes().unwrap()).unwrap();
    assert_eq!(offer.release().version().to_string(), expected[0]);
    let bytes = reqwest::blocking::get(offer.artifact().url().as_str()).unwrap().bytes().unwrap();
    offer.artifact().signature().signature().verify(&demo.key.public_key(), &bytes[..]).unwrap();
}

/// Sends a publish request by hand, slowly: the artifact is written in chunks with pauses, so the server is killed
/// while it is surely in the middle of storing it.
fn slow_publish(server: &ServerProcess, demo: &Demo, version: &str, data: &[u8], name: &str) -> std::net::TcpStream {
    use std::io::Write;
    let boundary = "millennium-e2e-boundary";
    let comment = TrustedComment::tauri(1_700_000_000, name, Some(version)).unwrap();
    let sig = Signature::sign(&demo.key, data, &comment).unwrap().to_text(Format::Minisign);
    let mut head = Vec::new();
    let release = serde_json::json!({ "version": version }).to_string();
    head.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"release\"\r\n\r\n{release}\r\n").as_bytes(),
    );
    let target = "linux-x86_64-appimage";
    head.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"signature:{target}\"\r\n\r\n{sig}\r\n")
            .as_bytes(),
    );
    head.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"artifact:{target}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() + data.len() + tail.len();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let request = format!(
        "POST /api/v1/apps/demo/releases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n",
        demo.publish_token
    );
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(&head).unwrap();
    // Half the artifact, then wait until the server has it in a temporary file.
    stream.write_all(&data[..data.len() / 2]).unwrap();
    stream.flush().unwrap();
    let blobs = server.backend.staging_dir(&server.data_dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let staged: u64 = std::fs::read_dir(&blobs)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        if staged > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the server never started storing the upload");
        std::thread::sleep(Duration::from_millis(20));
    }
    stream
}

#[test]
fn kill_9_during_publish_leaves_the_previous_release_served() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let log = tmp.path().join("server.log");
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let port = free_loopback_port();
    let server = SERVER.serve(&data_dir, port, &log);
    let demo = register_demo(&server, tmp.path());

    let contents = |version: &str, target: &str| -> Vec<u8> {
        let seed = version.bytes().fold(0u8, |a, b| a.wrapping_mul(7).wrapping_add(b));
        let len = if target.ends_with("appimage") { 24 * 1024 * 1024 + 5 } else { 50_000 + usize::from(seed) };
        artifact_bytes(seed ^ target.len() as u8, len)
    };
    let files_of = |version: &str| -> Vec<PathBuf> {
        [("linux-x86_64-appimage", "amd64.AppImage"), ("linux-x86_64-deb", "amd64.deb")]
            .iter()
            .map(|(target, suffix)| {
                let name = format!("demo_{version}_{suffix}");
                write_signed(&dist, &name, &contents(version, target), &demo.key, version, Format::Minisign)
            })
            .collect()
    };
    let publish = |server: &ServerProcess, version: &str| {
        let files = files_of(version);
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        ok_json(cli_publish(server, &demo, version, "stable", &refs));
    };
    publish(&server, "1.0.0");
    let mut expected = vec!["1.0.0".to_owned()];

    // 1. Killed for sure in the middle of storing an artifact (a slow hand-made upload).
    let data = contents("2.0.0", "linux-x86_64-appimage");
    let stream = slow_publish(&server, &demo, "2.0.0", &data, "demo_2.0.0_amd64.AppImage");
    server.kill9();
    drop(stream);
    let server = SERVER.serve(&data_dir, port, &log);
    assert_consistent(&server, &demo, &["1.0.0"], &contents);

    // 2. Killed at points spread over whole CLI publishes (upload, verification, renames, commit, answer).
    let mut server = server;
    let mut published_during_kill = 0;
    for (trial, delay_ms) in [15u64, 40, 80, 130, 200, 350].into_iter().enumerate() {
        let version = format!("2.{trial}.0");
        let files = files_of(&version);
        let mut args: Vec<String> =
            ["publish", "--server", &server.url, "--app", "demo", "--version", &version, "--json"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        args.extend(files.iter().map(|f| f.to_str().unwrap().to_owned()));
        let mut child = SERVER
            .command()
            .args(&args)
            .env("MILLENNIUM_PUBLISH_TOKEN", &demo.publish_token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        server.kill9();
        let _ = child.wait().unwrap();
        server = SERVER.serve(&data_dir, port, &log);
        // Either the whole release made it (the kill came after the commit) or nothing of it did.
        if server.releases("demo").iter().any(|r| r["version"] == version.as_str()) {
            expected.insert(0, version.clone());
            published_during_kill += 1;
        }
        let expected_refs: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert_consistent(&server, &demo, &expected_refs, &contents);
    }
    eprintln!("kill -9 trials: {published_during_kill} of 6 publishes had committed before the kill");

    // 3. Publishing works again afterwards, and is served across a clean restart.
    publish(&server, "3.0.0");
    expected.insert(0, "3.0.0".to_owned());
    server.stop();
    let server = SERVER.serve(&data_dir, port, &log);
    let expected_refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_consistent(&server, &demo, &expected_refs, &contents);
    server.stop();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("removed uploads left by an interrupted publish"), "{log_text}");
}

/// The delta job makes deltas on a blocking thread for as long as a large artifact takes (here many seconds of CPU):
/// a SIGTERM still stops the server at once, and the next start finds no leftovers of the abandoned work.
#[test]
fn sigterm_stops_a_server_at_once_while_its_delta_job_makes_a_large_delta() {
    let tmp = tempfile::tempdir().unwrap();
    let (data_dir, log, dist) = (tmp.path().join("data"), tmp.path().join("server.log"), tmp.path().join("dist"));
    std::fs::create_dir_all(&dist).unwrap();
    let port = free_loopback_port();
    let server = SERVER.serve(&data_dir, port, &log);
    let demo = register_demo(&server, tmp.path());
    // Incompressible, so that zstd -19 and the suffix sort of bsdiff both take their slowest path.
    let v1: Vec<u8> =
        millennium_testing::xorshift64(0x9e37_79b9_7f4a_7c15).take(16 << 20).map(|x| (x >> 24) as u8).collect();
    let mut v2 = v1.clone();
    v2[1_000_000..1_000_100].fill(0);
    for (version, data) in [("1.0.0", &v1), ("2.0.0", &v2)] {
        let name = format!("demo_{version}_amd64.AppImage");
        let file = write_signed(&dist, &name, data, &demo.key, version, Format::Minisign);
        ok_json(cli_publish(&server, &demo, version, "stable", &[&file]));
    }
    // The job wakes on the publish; give it the time to start on the pair.
    std::thread::sleep(Duration::from_secs(2));
    let stopping = Instant::now();
    server.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(6), "the server took {took:?} to stop");

    let server = SERVER.serve(&data_dir, port, &log);
    assert_eq!(server.releases("demo").len(), 2);
    server.stop();
}

// ----- concurrent publishes and reads -----

/// Readers hammer the update endpoints of the real binary while two releases are published concurrently (to two
/// channels) with the CLI: every answer is either the old release or a complete new one whose artifacts download in
/// full and verify.
#[test]
fn concurrent_publishes_and_reads_never_show_a_half_published_release() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let server = SERVER.serve(&tmp.path().join("data"), free_loopback_port(), &tmp.path().join("server.log"));
    let demo = register_demo(&server, tmp.path());
    let files_of = |version: &str, big: usize| -> Vec<PathBuf> {
        [("amd64.AppImage", big), ("amd64.deb", 30_000), ("x64-setup.exe", 40_000)]
            .iter()
            .enumerate()
            .map(|(i, (suffix, len))| {
                let name = format!("demo_{version}_{suffix}");
                let data = artifact_bytes(version.len() as u8 + i as u8 * 17 + version.as_bytes()[0], *len);
                write_signed(&dist, &name, &data, &demo.key, version, Format::Minisign)
            })
            .collect()
    };
    let v1 = files_of("1.0.0", 100_000);
    ok_json(cli_publish(&server, &demo, "1.0.0", "stable", &v1.iter().map(PathBuf::as_path).collect::<Vec<_>>()));
    let beta = files_of("1.0.0-beta.1", 100_000);
    ok_json(cli_publish(&server, &demo, "1.0.0-beta.1", "beta", &[beta[0].as_path()]));

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let new_seen = Arc::new(AtomicUsize::new(0));
    let key = demo.key.public_key();
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let (stop, reads, new_seen, url, key) =
                (stop.clone(), reads.clone(), new_seen.clone(), server.url.clone(), key.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let (channel, old, new) =
                    if i % 2 == 0 { ("stable", "1.0.0", "2.0.0") } else { ("beta", "1.0.0-beta.1", "3.0.0-beta.1") };
                while !stop.load(Ordering::Relaxed) {
                    let bundle = ["deb", "appimage", "nsis"][reads.load(Ordering::Relaxed) % 3];
                    let os = if bundle == "nsis" { "windows" } else { "linux" };
                    let r =
                        http.get(format!("{url}/demo/{os}/x86_64/0.0.1/{bundle}?channel={channel}")).send().unwrap();
                    reads.fetch_add(1, Ordering::Relaxed);
                    if r.status() == 204 {
                        // Only the beta channel's first release lacks deb and nsis.
                        assert!(channel == "beta" && bundle != "appimage", "{channel} {bundle}: 204");
                        continue;
                    }
                    assert_eq!(r.status(), 200);
                    let offer = DynamicResponse::parse(&r.bytes().unwrap()).unwrap();
                    let version = offer.release().version().to_string();
                    assert!(version == old || version == new, "{channel}: unexpected {version}");
                    if version == new {
                        new_seen.fetch_add(1, Ordering::Relaxed);
                    }
                    let body = http.get(offer.artifact().url().as_str()).send().unwrap();
                    assert_eq!(body.status(), 200, "an offered artifact must be downloadable");
                    let bytes = body.bytes().unwrap();
                    offer.artifact().signature().signature().verify(&key, &bytes[..]).unwrap();
                    // The static manifest is complete whenever it names the new release.
                    let m = http.get(format!("{url}/demo/{channel}/latest.json")).send().unwrap().bytes().unwrap();
                    let manifest = StaticManifest::parse(&m).unwrap();
                    if manifest.release().version().to_string() == new {
                        for key in ["linux-x86_64-deb", "linux-x86_64-appimage", "windows-x86_64-nsis"] {
                            assert!(manifest.get(key).is_some(), "{key} missing from {new}");
                        }
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(200));
    let v2 = files_of("2.0.0", 12 * 1024 * 1024);
    let v3 = files_of("3.0.0-beta.1", 12 * 1024 * 1024);
    let publishers = [("2.0.0", "stable", v2), ("3.0.0-beta.1", "beta", v3)].map(|(version, channel, files)| {
        let (url, token) = (server.url.clone(), demo.publish_token.clone());
        std::thread::spawn(move || {
            let mut args = vec!["publish".to_owned(), "--server".into(), url, "--app".into(), "demo".into()];
            args.extend(["--version".into(), version.into(), "--channel".into(), channel.into(), "--json".into()]);
            args.extend(files.iter().map(|f| f.to_str().unwrap().to_owned()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ok_json(SERVER.cli(&args, &[("MILLENNIUM_PUBLISH_TOKEN", &token)]))
        })
    });
    for publisher in publishers {
        publisher.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
    assert!(new_seen.load(Ordering::Relaxed) > 0, "the readers never saw the new releases");
    eprintln!("{} reads during two concurrent publishes", reads.load(Ordering::Relaxed));
    server.stop();
}

// ----- replicas sharing PostgreSQL + S3, and migration between backends -----

/// Unusable storage settings stop `serve` at once with a message that says what to do.
#[test]
fn bad_storage_settings_are_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let serve = |env: &[(&str, &str)]| {
        let mut args = vec!["serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()];
        args.push("--log-format=text");
        SERVER.cli(&args, env)
    };
    for (env, exit, needle) in [
        (("MILLENNIUM_DATABASE_URL", "mysql://u@localhost/db"), 2, "hint: use `sqlite://PATH`"),
        (("MILLENNIUM_STORAGE_URL", "s3://"), 2, "hint: use `file:///ABSOLUTE/DIR` or `s3://BUCKET/PREFIX`"),
        (("MILLENNIUM_STORAGE_URL", "blobs"), 2, "invalid storage URL"),
        // Nothing listens on port 1.
        (
            ("MILLENNIUM_DATABASE_URL", "postgres://u@127.0.0.1:1/db"),
            1,
            "could not connect to postgres://u@127.0.0.1:1/db",
        ),
    ] {
        let out = serve(&[env]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(exit), "{env:?}: {stderr}");
        assert!(stderr.contains(needle), "{env:?}: {stderr}");
    }
    // Nothing was created for the refused database.
    assert!(!data_dir.join("millennium.db").exists());
}

/// The `millennium_leader{job="orphan-gc"}` gauge of a server.
fn gc_leader(server: &ServerProcess) -> Option<u64> {
    let text = reqwest::blocking::Client::new()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .ok()?
        .text()
        .ok()?;
    text.lines().find_map(|l| l.strip_prefix("millennium_leader{job=\"orphan-gc\"} ")?.parse().ok())
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Two replicas on different ports share one PostgreSQL database and one S3 bucket: a publish on one is served by
/// the other at once (its cached "no update" answer is dropped by `NOTIFY`); exactly one replica runs the orphan
/// collection, and the other takes over when it dies; `kill -9` of a replica in the middle of a publish leaves
/// nothing half-published, and the other replica serves the previous release throughout.
#[test]
fn two_replicas_share_postgres_and_s3() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    if !Backend::shared() {
        eprintln!("skipped: needs PostgreSQL + S3 (run under scripts/with-server-backends)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let shared = Backend::for_dir(&tmp.path().join("shared"));
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let (port_a, port_b) = (free_loopback_port(), free_loopback_port());
    let a = SERVER.serve_with(&tmp.path().join("a"), port_a, &tmp.path().join("a.log"), &shared, &[]);
    let b = SERVER.serve_with(&tmp.path().join("b"), port_b, &tmp.path().join("b.log"), &shared, &[]);
    let demo = register_demo(&a, tmp.path());
    let contents = |version: &str| artifact_bytes(version.len() as u8 ^ version.as_bytes()[0], 300_000);

    // B answers (and caches) "no update" before anything is published.
    assert_eq!(b.get("/demo/linux/x86_64/0.1.0").status(), 204);
    let file =
        write_signed(&dist, "demo_1.0.0_amd64.AppImage", &contents("1.0.0"), &demo.key, "1.0.0", Format::Minisign);
    ok_json(cli_publish(&a, &demo, "1.0.0", "stable", &[&file]));
    let visible_after = wait_for("replica B to offer 1.0.0", Duration::from_secs(3), || {
        b.get("/demo/linux/x86_64/0.1.0").status() == 200
    });
    eprintln!("a publish on replica A was served by replica B after {visible_after:?}");
    let offer = DynamicResponse::parse(&b.get("/demo/linux/x86_64/0.1.0").bytes().unwrap()).unwrap();
    assert_eq!(offer.release().version().to_string(), "1.0.0");
    let bytes = reqwest::blocking::get(offer.artifact().url().as_str()).unwrap().bytes().unwrap();
    assert_eq!(&bytes[..], &contents("1.0.0")[..]);
    offer.artifact().signature().signature().verify(&demo.key.public_key(), &bytes[..]).unwrap();

    // Exactly one replica leads the orphan collection.
    wait_for("one orphan-gc leader", Duration::from_secs(20), || {
        gc_leader(&a).unwrap_or(0) + gc_leader(&b).unwrap_or(0) == 1
    });
    let a_leads = gc_leader(&a) == Some(1);
    eprintln!("orphan-gc leader: replica {}", if a_leads { "A" } else { "B" });

    // Readers on B all along while A is killed in the middle of a publish of 2.0.0.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (stop, reads, url) = (stop.clone(), reads.clone(), b.url.clone());
        let expected = contents("1.0.0");
        let public_key = demo.key.public_key();
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let r = http.get(format!("{url}/demo/linux/x86_64/0.1.0")).send().unwrap();
                assert_eq!(r.status(), 200, "replica B stopped serving");
                let offer = DynamicResponse::parse(&r.bytes().unwrap()).unwrap();
                assert_eq!(offer.release().version().to_string(), "1.0.0", "a half-published release was offered");
                let bytes = http.get(offer.artifact().url().as_str()).send().unwrap().bytes().unwrap();
                assert_eq!(&bytes[..], &expected[..]);
                offer.artifact().signature().signature().verify(&public_key, &bytes[..]).unwrap();
                reads.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let data = contents("2.0.0");
    let stream = slow_publish(&a, &demo, "2.0.0", &data, "demo_2.0.0_amd64.AppImage");
    a.kill9();
    drop(stream);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    reader.join().expect("a reader on replica B failed");
    assert!(reads.load(Ordering::SeqCst) > 0);
    let versions: Vec<Value> = b.releases("demo").iter().map(|r| r["version"].clone()).collect();
    assert_eq!(versions, ["1.0.0"], "the killed publish must leave nothing");

    // B leads the collection now (taking over if A led).
    let takeover = wait_for("replica B to lead orphan-gc", Duration::from_secs(20), || gc_leader(&b) == Some(1));
    if a_leads {
        eprintln!("replica B took over orphan-gc {takeover:?} after A was killed");
    }

    // A comes back; a publish on B is served by A.
    let a = SERVER.serve_with(&tmp.path().join("a"), port_a, &tmp.path().join("a.log"), &shared, &[]);
    assert_eq!(
        DynamicResponse::parse(&a.get("/demo/linux/x86_64/0.1.0").bytes().unwrap())
            .unwrap()
            .release()
            .version()
            .to_string(),
        "1.0.0"
    );
    let file =
        write_signed(&dist, "demo_2.1.0_amd64.AppImage", &contents("2.1.0"), &demo.key, "2.1.0", Format::Minisign);
    ok_json(cli_publish(&b, &demo, "2.1.0", "stable", &[&file]));
    wait_for("replica A to offer 2.1.0", Duration::from_secs(3), || {
        let r = a.get("/demo/linux/x86_64/0.1.0");
        DynamicResponse::parse(&r.bytes().unwrap()).is_ok_and(|o| o.release().version().to_string() == "2.1.0")
    });
    let bytes = a.get("/download/demo/2.1.0/linux-x86_64-appimage/demo_2.1.0_amd64.AppImage").bytes().unwrap();
    assert_eq!(&bytes[..], &contents("2.1.0")[..]);
    a.stop();
    b.stop();
}

/// Data published under the default SQLite + files is copied by `migrate` into PostgreSQL + S3 (or, without them, a
/// second SQLite database and directory), and a server on the target serves exactly the same: releases, channels,
/// rollouts, yanks, tokens (a revoked one stays revoked) and artifact bytes.
#[test]
fn migrate_copies_everything_from_sqlite_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let source_dir = tmp.path().join("source");
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let port = free_loopback_port();
    let log = tmp.path().join("server.log");
    let server = SERVER.serve_with(&source_dir, port, &log, &Backend::local(), &[]);
    let demo = register_demo(&server, tmp.path());
    let contents = |version: &str, suffix: &str| artifact_bytes(version.as_bytes()[2] ^ suffix.len() as u8, 70_000);
    for (version, channel) in [("1.0.0", "stable"), ("1.1.0", "stable"), ("2.0.0-beta.1", "beta")] {
        let files: Vec<PathBuf> = ["amd64.AppImage", "amd64.deb"]
            .iter()
            .map(|suffix| {
                let name = format!("demo_{version}_{suffix}");
                write_signed(&dist, &name, &contents(version, suffix), &demo.key, version, Format::Tauri)
            })
            .collect();
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        ok_json(cli_publish(&server, &demo, version, channel, &refs));
    }
    let admin = |args: &[&str]| {
        ok_json(
            SERVER.cli(&[&["--json"], args, &["--server", &server.url]].concat(), &[("MILLENNIUM_TOKEN", ADMIN_TOKEN)]),
        )
    };
    admin(&["rollout", "set", "--app", "demo", "--version", "1.1.0", "30"]);
    admin(&["yank", "--app", "demo", "--version", "1.0.0"]);
    admin(&["promote", "--app", "demo", "--version", "2.0.0-beta.1", "--to", "canary"]);
    let spare = admin(&["tokens", "create", "--app", "demo", "--scope", "admin"]);
    let spare_token = spare["token"].as_str().unwrap().to_owned();
    admin(&["tokens", "revoke", &spare_token]);
    let before = server.releases("demo");
    let manifest_before = server.get("/demo/stable/latest.json").text().unwrap();
    server.stop();

    let target = if Backend::shared() {
        Backend::for_dir(&tmp.path().join("target"))
    } else {
        let dir = tmp.path().join("target");
        Backend {
            database_url: Some(format!("sqlite://{}/millennium.db", dir.display())),
            storage_url: Some(url::Url::from_directory_path(dir.join("blobs")).unwrap().to_string()),
        }
    };
    let migrate = |extra: &[&str]| {
        let mut args = vec![
            "migrate",
            "--json",
            "--data-dir",
            source_dir.to_str().unwrap(),
            "--to",
            target.database_url.as_deref().unwrap(),
            "--to-storage",
            target.storage_url.as_deref().unwrap(),
        ];
        args.extend_from_slice(extra);
        SERVER.cli(&args, &[])
    };
    // A damaged blob in the source stops the copy before anything is written to the target database.
    let blob = std::fs::read_dir(source_dir.join("blobs/sha256")).unwrap().next().unwrap().unwrap().path();
    let original = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, b"bit rot").unwrap();
    let damaged = migrate(&[]);
    assert_eq!(damaged.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("is damaged"),
        "{}",
        String::from_utf8_lossy(&damaged.stderr)
    );
    std::fs::write(&blob, original).unwrap();

    let report = ok_json(migrate(&[]));
    assert_eq!(report["rows"]["apps"], 1, "{report}");
    assert_eq!(report["rows"]["releases"], 3, "{report}");
    assert_eq!(report["rows"]["artifacts"], 6, "{report}");
    assert_eq!(report["rows"]["placements"], 4, "{report}");
    assert_eq!(report["rows"]["tokens"], 2, "{report}");
    // Identical content is stored (and copied) once; the delta job's deltas (its rows and blobs) are copied too.
    let mut distinct: Vec<&str> = before
        .iter()
        .flat_map(|r| r["artifacts"].as_array().unwrap().iter().map(|a| a["sha256"].as_str().unwrap()))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    // (How many deltas the job made before the server stopped varies: `deltas::migrate_copies_the_deltas_and_their_blobs`
    // checks them exactly.)
    let referenced = report["blobs"]["referenced"].as_u64().unwrap() as usize;
    assert!(referenced >= distinct.len(), "{report}");
    assert_eq!(report["blobs"]["copied"], referenced, "{report}");
    // A second run refuses: the target is no longer empty.
    let again = migrate(&[]);
    assert_eq!(again.status.code(), Some(2), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(json_out(&again)["error"]["code"], "usage");

    let server = SERVER.serve_with(&tmp.path().join("target-run"), port, &log, &target, &[]);
    assert_eq!(server.releases("demo"), before, "the migrated releases differ");
    assert_eq!(server.get("/demo/stable/latest.json").text().unwrap(), manifest_before);
    for release in &before {
        if release["yanked"] == true {
            continue;
        }
        for artifact in release["artifacts"].as_array().unwrap() {
            let path = artifact["url"].as_str().unwrap().strip_prefix(&server.url).unwrap();
            let bytes = server.get(path).bytes().unwrap();
            assert_eq!(
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                artifact["sha256"].as_str().unwrap()
            );
        }
    }
    let revoked = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/apps/demo/releases", server.url))
        .bearer_auth(&spare_token)
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 401, "a revoked token must stay revoked");
    // The publish token still works, and release ids continue after the copied ones.
    let file =
        write_signed(&dist, "demo_1.2.0_amd64.AppImage", &contents("1.2.0", "x"), &demo.key, "1.2.0", Format::Tauri);
    ok_json(cli_publish(&server, &demo, "1.2.0", "stable", &[&file]));
    assert_eq!(server.releases("demo").len(), 4);
    server.stop();
}

/// Signed metadata with the real binary: encrypted release keys read from files and `MILLENNIUM_SIGNING_*`
/// variables, the online key and root made with the CLI, a publish that signs its release document, and the
/// freshness document re-signed by the server's own job before it expires (`MILLENNIUM_FRESHNESS_EXPIRY=4s`), with
/// the online key encrypted in the database (`MILLENNIUM_ONLINE_KEY_PASSWORD`).
#[test]
fn signed_metadata_with_the_binary_encrypted_keys_and_the_re_signing_job() {
    use millennium_update_protocol::metadata::{Envelope, TrustState};

    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = free_loopback_port();
    let log = tmp.path().join("server.log");
    let env =
        [("MILLENNIUM_FRESHNESS_EXPIRY", "4s"), ("MILLENNIUM_ONLINE_KEY_PASSWORD", "e2e-online-key-password-0123")];
    let server = SERVER.serve_with(&data_dir, port, &log, &Backend::for_dir(&data_dir), &env);
    let url = server.url.clone();

    let key = SecretKey::generate().unwrap();
    let key_file = tmp.path().join("release.key");
    let sealed = key.seal(Some("correct horse"), millennium_sign::KdfParams::INTERACTIVE).unwrap();
    std::fs::write(&key_file, sealed.to_text(Format::Minisign).as_bytes()).unwrap();
    let key_path = key_file.to_str().unwrap();
    let remote = [("MILLENNIUM_SERVER", url.as_str()), ("MILLENNIUM_TOKEN", ADMIN_TOKEN)];
    let public = key.public_key().to_text(Format::Minisign);
    ok_json(SERVER.cli(&["--json", "apps", "create", "--id", "demo", "--public-key", &public], &remote));
    let online = ok_json(SERVER.cli(&["--json", "online-key", "generate", "--app", "demo"], &remote));
    assert!(online["public_key"].as_str().unwrap().contains("minisign public key"), "{online}");

    // Root 1: the release key (the one the app was registered with) and one root key, kept apart from it.
    let root_key = SecretKey::generate().unwrap();
    let (root_key_file, root_pub_file, online_file) =
        (tmp.path().join("root.key"), tmp.path().join("root.pub"), tmp.path().join("online.pub"));
    let sealed_root = root_key.seal(Some("root password"), millennium_sign::KdfParams::INTERACTIVE).unwrap();
    std::fs::write(&root_key_file, sealed_root.to_text(Format::Minisign).as_bytes()).unwrap();
    std::fs::write(&root_pub_file, root_key.public_key().to_text(Format::Minisign)).unwrap();
    std::fs::write(&online_file, online["public_key"].as_str().unwrap()).unwrap();
    let (root_key_path, root_pub_path) = (root_key_file.to_str().unwrap(), root_pub_file.to_str().unwrap());
    let unconfirmed = [
        "--json",
        "root",
        "sign",
        "--app",
        "demo",
        "--release-key",
        key_path,
        "--root-key",
        root_key_path,
        "--root-public-key",
        root_pub_path,
        "--threshold",
        "1",
    ];
    let sign = [&unconfirmed[..], &["--online-key", online_file.to_str().unwrap()]].concat();
    let root_password = [("MILLENNIUM_ROOT_KEY_PASSWORD", "root password")];
    let remote_root = [&remote[..], &root_password[..]].concat();

    // An encrypted key without a password (no terminal) or with a wrong one: a usage error, nothing uploaded.
    let no_password = SERVER.cli(&sign, &remote_root);
    assert_eq!(no_password.status.code(), Some(2));
    assert!(
        json_out(&no_password)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD")
    );
    let wrong =
        SERVER.cli(&sign, &[&remote_root[..], &[("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "wrong")]].concat());
    assert_eq!(wrong.status.code(), Some(2), "{}", String::from_utf8_lossy(&wrong.stdout));
    let no_root_password =
        SERVER.cli(&sign, &[&remote[..], &[("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "correct horse")]].concat());
    assert_eq!(no_root_password.status.code(), Some(2));
    assert!(json_out(&no_root_password)["error"]["message"].as_str().unwrap().contains("MILLENNIUM_ROOT_KEY_PASSWORD"));
    let passwords = [&remote_root[..], &[("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "correct horse")]].concat();
    // The online key the server reports is not confirmed without a terminal unless named with `--online-key`: the
    // key id and the hint are shown, nothing is uploaded.
    let blind = SERVER.cli(&unconfirmed, &passwords);
    assert_eq!(blind.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&blind.stderr);
    assert!(stderr.contains(online["key_id"].as_str().unwrap()) && stderr.contains("created 20"), "{stderr}");
    let error = &json_out(&blind)["error"];
    assert!(error["hint"].as_str().unwrap().contains("--online-key KEY"), "{error}");
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| http.get(format!("{url}/metadata/demo/{path}")).send().unwrap();
    assert_eq!(get("roots.json").status(), 404);
    let root = ok_json(SERVER.cli(&sign, &passwords));
    assert_eq!(root["version"], 1);
    assert_eq!(root["uploaded"], true);

    // The publish finds the key in `MILLENNIUM_SIGNING_PRIVATE_KEY` (a path) and signs the release document.
    let artifact =
        write_signed(tmp.path(), "demo_1.1.0_amd64", &artifact_bytes(3, 50_000), &key, "1.1.0", Format::Tauri);
    let target = format!("linux-x86_64={}", artifact.display());
    ok_json(
        SERVER.cli(
            &["--json", "publish", "--app", "demo", "--version", "1.1.0", "--target", &target],
            &[
                &remote[..],
                &[
                    ("MILLENNIUM_SIGNING_PRIVATE_KEY", key_path),
                    ("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "correct horse"),
                ],
            ]
            .concat(),
        ),
    );
    let roots = millennium_update_admin::offline::parse_roots(&get("roots.json").text().unwrap()).unwrap();
    let mut trust = TrustState::bootstrap("demo", &key.public_key(), &roots).unwrap();
    let freshness = |trust: &mut TrustState| {
        let envelope = Envelope::parse(&get("freshness.json").bytes().unwrap()).unwrap();
        trust.check_freshness(&envelope, time::OffsetDateTime::now_utc()).unwrap()
    };
    let first = freshness(&mut trust);
    let release = Envelope::parse(&get("channels/stable/releases/1.1.0.json").bytes().unwrap()).unwrap();
    assert_eq!(trust.check_release(&first, "stable", &release).unwrap().release.version.to_string(), "1.1.0");

    // Before it expires, the server's job signs a newer one (a request signs only an expired one).
    let deadline = Instant::now() + Duration::from_millis(3400);
    let mut resigned = None;
    while Instant::now() < deadline {
        let current = freshness(&mut trust);
        if current.sequence > first.sequence {
            resigned = Some(current);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let resigned = resigned.unwrap_or_else(|| {
        panic!("not re-signed in time; log:\n{}", std::fs::read_to_string(&server.log).unwrap_or_default())
    });
    assert!(resigned.expires > first.expires);
    server.stop();
}

/// Two replicas on one PostgreSQL database and one S3 bucket: the delta of a publish is made once, by the replica that
/// leads the delta job, and both offer and serve it.
#[test]
fn two_replicas_make_a_delta_once_and_both_serve_it() {
    if !Backend::shared() {
        eprintln!("skipped: needs PostgreSQL + S3 (run under scripts/with-server-backends)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let shared = Backend::for_dir(&tmp.path().join("shared"));
    let dist = tmp.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let env = [("MILLENNIUM_DELTA_POLL", "1")];
    let a = SERVER.serve_with(&tmp.path().join("a"), free_loopback_port(), &tmp.path().join("a.log"), &shared, &env);
    let b = SERVER.serve_with(&tmp.path().join("b"), free_loopback_port(), &tmp.path().join("b.log"), &shared, &env);
    let demo = register_demo(&a, tmp.path());
    let v1 = artifact_bytes(7, 300_000);
    let mut v2 = v1.clone();
    v2[150_000..150_016].copy_from_slice(b"the changed part");
    for (version, data, server) in [("1.0.0", &v1, &a), ("2.0.0", &v2, &b)] {
        let file =
            write_signed(&dist, &format!("demo_{version}_amd64.AppImage"), data, &demo.key, version, Format::Tauri);
        ok_json(cli_publish(server, &demo, version, "stable", &[&file]));
    }
    let stored = "millennium_delta_jobs_total{app=\"demo\",result=\"stored\"}";
    wait_for("the delta", Duration::from_secs(60), || a.figure(stored) + b.figure(stored) == 1);
    let hash = millennium_update_protocol::metadata::blake2b_256_hex(&v1);
    for server in [&a, &b] {
        let answer = wait_for_delta_answer(server, &hash);
        let delta = reqwest::blocking::get(answer["deltas"][0]["url"].as_str().unwrap()).unwrap().bytes().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (base, file, out) = (dir.path().join("base"), dir.path().join("delta"), dir.path().join("out"));
        std::fs::write(&base, &v1).unwrap();
        std::fs::write(&file, &delta).unwrap();
        millennium_delta::apply(&base, &file, &out, v2.len() as u64).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), v2);
    }
    // Made once, whichever replica leads.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(a.figure(stored) + b.figure(stored), 1);
    a.stop();
    b.stop();
}

/// The dynamic answer of `server` for 0.1.0 naming `hash`, once it lists a delta (the replica that did not make it
/// learns of it through `NOTIFY`).
fn wait_for_delta_answer(server: &ServerProcess, hash: &str) -> Value {
    let mut answer = Value::Null;
    wait_for("the delta in the answer", Duration::from_secs(10), || {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}/demo/linux/x86_64/0.1.0", server.url))
            .header("X-Millennium-Installed", format!("blake2b-256:{hash}"))
            .send()
            .unwrap();
        answer = r.json().unwrap_or(Value::Null);
        answer.get("deltas").is_some()
    });
    answer
}
