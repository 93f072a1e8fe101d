//! End to end: the real `millennium-update-server` binary on a loopback port with a temporary data directory. The
//! real CLI creates an app and a token and publishes artifacts signed with `millennium-sign`; reqwest then checks for
//! updates (dynamic and static), downloads with and without `Range`, and the downloaded artifact's signature is
//! verified against the app's key. The server is stopped with SIGTERM and restarted, and everything is still served.

// Helpers outside `#[test]` functions state their expectations with `unwrap()` too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use millennium_sign::{Format, PublicKey, SecretKey, Signature, TrustedComment};
use millennium_update_protocol::Target;
use millennium_update_protocol::tauri::{DynamicResponse, StaticManifest};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_millennium-update-server");
const ADMIN: &str = "e2e-admin-token-0123456789abcdef";

struct Server {
    child: Child,
    url: String,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
}

fn free_loopback_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A command with no inherited `MILLENNIUM_*` settings.
fn command() -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("MILLENNIUM_") {
            command.env_remove(key);
        }
    }
    command
}

impl Server {
    fn start(data_dir: &Path, port: u16, log: &Path) -> Self {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = command()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--max-upload-size", "50000000"])
            .env("MILLENNIUM_DATA_DIR", data_dir)
            .env("MILLENNIUM_ADMIN_TOKEN", ADMIN)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let server =
            Server { child, url: format!("http://127.0.0.1:{port}"), port, data_dir: data_dir.into(), log: log.into() };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if client.get(format!("{}/healthz", self.url)).send().is_ok_and(|r| r.status().is_success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy; log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "server exited with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached on a failed test; `stop` consumed the child otherwise.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = command();
    command.args(args).stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

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

fn write_signed(dir: &Path, name: &str, data: &[u8], key: &SecretKey, version: &str, format: Format) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    let comment = TrustedComment::tauri(1_700_000_000, name, Some(version)).unwrap();
    let sig = Signature::sign(key, data, &comment).unwrap();
    std::fs::write(dir.join(format!("{name}.sig")), sig.to_text(format)).unwrap();
    path
}

/// Everything an app sees: dynamic checks for each bundle, the static manifest, and downloads.
fn check_served(server: &Server, public_key: &PublicKey, appimage: &[u8], deb: &[u8]) {
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
    assert_eq!(get("/demo/linux/x86_64/1.2.3").status(), 204);
    assert_eq!(get("/demo/linux/x86_64/1.2.3%2Bother/deb").status(), 204);
    assert_eq!(get("/demo/linux/aarch64/1.0.0").status(), 204);
    assert_eq!(get("/demo/linux/x86_64/1.0").status(), 400);

    // Static manifest.
    let response = get("/demo/stable/latest.json");
    assert_eq!(response.status(), 200);
    let manifest = StaticManifest::parse(&response.bytes().unwrap()).unwrap();
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
    let server = Server::start(&data_dir, port, &log);
    let url = server.url.clone();

    // App and publish token with the CLI.
    let app = ok_json(cli(
        &["apps", "create", "--server", &url, "--id", "demo", "--public-key", pub_path.to_str().unwrap(), "--json"],
        &[("MILLENNIUM_TOKEN", ADMIN)],
    ));
    assert_eq!(app["id"], "demo");
    assert_eq!(app["key_id"], public_key.key_id().to_string());
    let token = ok_json(cli(
        &["tokens", "create", "--server", &url, "--token", ADMIN, "--app", "demo", "--scope", "publish", "--json"],
        &[],
    ));
    let publish_token = token["token"].as_str().unwrap().to_owned();

    // Publish without a token: usage error, exit 2.
    let out = cli(&["publish", "--server", &url, "--app", "demo", "--version", "1.2.3", a.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    // Publish with the CLI, token from MILLENNIUM_PUBLISH_TOKEN, targets inferred from the file names.
    let published = ok_json(cli(
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

    // The same version again: refused by the server, exit 1, JSON error on stdout.
    let out = cli(
        &["publish", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json", a.to_str().unwrap()],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"]["code"], "duplicate_version");

    // A wrongly signed artifact: refused (the CLI checks against the app's key before uploading; the server's own
    // refusal is covered by the in-process tests), nothing published.
    let other_key = SecretKey::generate().unwrap();
    let bad = write_signed(&dist, "bad_2.0.0_amd64.AppImage", b"evil", &other_key, "2.0.0", Format::Minisign);
    let out = cli(
        &["publish", "--server", &url, "--app", "demo", "--version", "2.0.0", "--json", bad.to_str().unwrap()],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"]["code"], "bad_signature");

    let listed = ok_json(cli(
        &["releases", "list", "--server", &url, "--app", "demo", "--json"],
        &[("MILLENNIUM_TOKEN", &publish_token)],
    ));
    assert_eq!(listed["releases"].as_array().unwrap().len(), 1);

    check_served(&server, &public_key, &appimage, &deb);

    // Restart: everything is still there.
    server.stop();
    let server = Server::start(&data_dir, port, &log);
    assert_eq!((server.port, server.data_dir.as_path()), (port, data_dir.as_path()));
    check_served(&server, &public_key, &appimage, &deb);

    // Admin commands over the CLI: rollout, pause, yank.
    let admin = [("MILLENNIUM_TOKEN", ADMIN)];
    let out = ok_json(cli(
        &["rollout", "set", "--server", &url, "--app", "demo", "--version", "1.2.3", "50", "--json"],
        &admin,
    ));
    assert_eq!(out["channels"][0]["rollout"], 50);
    let http = reqwest::blocking::Client::new();
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 204);
    ok_json(cli(&["rollout", "set", "--server", &url, "--app", "demo", "--version", "1.2.3", "100", "--json"], &admin));
    ok_json(cli(&["rollout", "pause", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json"], &admin));
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 204);
    ok_json(cli(&["rollout", "resume", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json"], &admin));
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 200);
    ok_json(cli(&["yank", "--server", &url, "--app", "demo", "--version", "1.2.3", "--json"], &admin));
    assert_eq!(http.get(format!("{url}/demo/linux/x86_64/1.0.0")).send().unwrap().status(), 204);
    let download = published["artifacts"][0]["url"].as_str().unwrap();
    assert_eq!(http.get(download).send().unwrap().status(), 410);

    // Revoked tokens stop working.
    let out = ok_json(cli(&["tokens", "revoke", "--server", &url, "--json", token["id"].as_str().unwrap()], &admin));
    assert_eq!(out["revoked"], true);
    let out = cli(
        &["releases", "list", "--server", &url, "--app", "demo", "--json"],
        &[("MILLENNIUM_TOKEN", &publish_token)],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_out(&out)["error"]["code"], "unauthorized");
    server.stop();

    // The log is structured and never contains a token.
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("listening") && log_text.contains("published"), "{log_text}");
    assert!(!log_text.contains(&publish_token) && !log_text.contains(ADMIN));
}

#[test]
fn first_start_prints_an_admin_token_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = free_loopback_port();
    let start = |log: &Path| {
        let log_file = std::fs::File::create(log).unwrap();
        let child = command()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir", data_dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            data_dir: data_dir.clone(),
            log: log.into(),
        };
        server.wait_healthy();
        server
    };
    let first_log = tmp.path().join("first.log");
    let server = start(&first_log);
    let text = std::fs::read_to_string(&first_log).unwrap();
    let token = text.lines().map(str::trim).find(|l| l.starts_with("mlnm_")).expect("admin token printed").to_owned();
    let out = cli(
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
    assert!(!std::fs::read_to_string(&second_log).unwrap().contains("mlnm_"), "the token is printed only once");
    server.stop();
}

#[test]
fn help_explains_every_serve_setting() {
    let out = cli(&["serve", "--help"], &[]);
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
    ] {
        assert!(help.contains(needle), "`serve --help` does not mention {needle}:\n{help}");
    }
    let out = cli(&["publish", "--help"], &[]);
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("MILLENNIUM_PUBLISH_TOKEN") && help.contains("--target"), "{help}");
}

#[test]
fn oversized_request_heads_are_refused_by_the_real_server() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let port = free_loopback_port();
    let server = Server::start(&tmp.path().join("data"), port, &tmp.path().join("server.log"));
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
