//! One update through the real `tauri-plugin-updater`, as a Tauri app runs it, against a running update server.
//!
//! The app is built on Tauri's `test` mock runtime (no window, no webview), with the plugin configured as an app's
//! `tauri.conf.json` would (`plugins.updater`): the endpoint, the release key in Tauri's `pubkey` form, and
//! `requireSignedVersion`. Then `check()` and `download()`, which verifies the signature (and the signed `version:`)
//! exactly as an installed app does before installing. `scripts/test-tauri-updater` runs it once per scenario:
//!
//! ```text
//! tauri-updater-check ENDPOINT PUBKEY REQUIRE_SIGNED_VERSION EXPECT
//! ```
//!
//! `REQUIRE_SIGNED_VERSION` is `true` or `false`. `EXPECT` is `update:VERSION:FILE` (an update to `VERSION` whose
//! downloaded bytes verify and equal `FILE`), `none` (no update), or `refused:KIND` (the download is refused with
//! `missing-signed-version` or `signed-version-mismatch`). `relabel:VERSION:KIND` fetches the endpoint's genuine
//! answer, rewrites its `version` to `VERSION` (what a hostile mirror or a compromised server would serve) and
//! serves that to the plugin from a loopback port: the download must be refused with `KIND`. Prints one line and
//! exits 0 when the expectation holds, 1 otherwise.

use std::io::{Read, Write};
use std::net::TcpListener;

use tauri_plugin_updater::{Error, UpdaterExt};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, pubkey, require, expect] = args.as_slice() else {
        eprintln!("usage: tauri-updater-check ENDPOINT PUBKEY true|false EXPECT");
        std::process::exit(2);
    };
    let outcome = tauri::async_runtime::block_on(run(endpoint, pubkey, require == "true", expect));
    match outcome {
        Ok(line) => println!("ok: {line}"),
        Err(line) => {
            println!("FAILED: {line}");
            std::process::exit(1);
        }
    }
}

async fn run(endpoint: &str, pubkey: &str, require_signed_version: bool, expect: &str) -> Result<String, String> {
    let (endpoint, expect) = match expect.strip_prefix("relabel:") {
        Some(rest) => {
            let (version, kind) = rest.split_once(':').ok_or("relabel:VERSION:KIND")?;
            (relabelling_mirror(endpoint, version)?, format!("refused:{kind}"))
        }
        None => (endpoint.to_owned(), expect.to_owned()),
    };
    let mut context = tauri::test::mock_context(tauri::test::noop_assets());
    // What an app's `tauri.conf.json` says under `plugins.updater`; plain HTTP is the loopback test server.
    context.config_mut().plugins.0.insert(
        "updater".into(),
        serde_json::json!({
            "endpoints": [endpoint],
            "pubkey": pubkey,
            "requireSignedVersion": require_signed_version,
            "dangerousInsecureTransportProtocol": true,
        }),
    );
    let app = tauri::test::mock_builder()
        .plugin(tauri_plugin_updater::Builder::new().build())
        .build(context)
        .map_err(|e| format!("could not build the app: {e}"))?;
    let updater = app.updater().map_err(|e| format!("updater: {e}"))?;
    let update = updater.check().await.map_err(|e| format!("check failed: {e}"))?;
    if expect == "none" {
        return match update {
            None => Ok("no update".into()),
            Some(update) => Err(format!("expected no update, got {}", update.version)),
        };
    }
    let update = update.ok_or("expected an update, got none")?;
    let downloaded = update.download(|_, _| {}, || {}).await;
    if let Some(rest) = expect.strip_prefix("update:") {
        let (version, file) = rest.split_once(':').ok_or("update:VERSION:FILE")?;
        let bytes = downloaded.map_err(|e| format!("download of {} refused: {e}", update.version))?;
        let expected = std::fs::read(file).map_err(|e| format!("could not read `{file}`: {e}"))?;
        if update.version != version || bytes != expected {
            return Err(format!(
                "got {} ({} bytes), expected {version} ({} bytes)",
                update.version,
                bytes.len(),
                expected.len()
            ));
        }
        return Ok(format!("updated to {version}: {} bytes, signature verified", bytes.len()));
    }
    let kind = expect.strip_prefix("refused:").ok_or_else(|| format!("unknown expectation `{expect}`"))?;
    match (kind, downloaded) {
        ("missing-signed-version", Err(e @ Error::MissingSignedVersion))
        | ("signed-version-mismatch", Err(e @ Error::SignedVersionMismatch { .. })) => {
            Ok(format!("{} refused: {e}", update.version))
        }
        (_, Ok(bytes)) => Err(format!("{} was accepted ({} bytes), expected `{kind}`", update.version, bytes.len())),
        (_, Err(e)) => Err(format!("{} refused for another reason than `{kind}`: {e}", update.version)),
    }
}

/// Serves, from a loopback port, the genuine answer of `endpoint` with its `version` replaced by `version`; returns
/// the URL to check instead.
fn relabelling_mirror(endpoint: &str, version: &str) -> Result<String, String> {
    let url =
        endpoint.replace("{{target}}", "linux").replace("{{arch}}", "x86_64").replace("{{current_version}}", "0.1.0");
    let genuine = http_get(&url)?;
    let mut answer: serde_json::Value =
        serde_json::from_str(&genuine).map_err(|e| format!("the server's answer is not JSON: {e}: {genuine}"))?;
    answer["version"] = version.into();
    let body = answer.to_string();
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(4) {
            let mut stream = stream;
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok(format!("http://127.0.0.1:{port}/relabelled"))
}

/// A plain HTTP/1.0 `GET` of a loopback URL (`http://127.0.0.1:PORT/PATH`), body as text.
fn http_get(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or("expected an http:// URL")?;
    let (host, path) = rest.split_once('/').ok_or("expected a path")?;
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| format!("could not connect to {host}: {e}"))?;
    write!(stream, "GET /{path} HTTP/1.0\r\nhost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("malformed answer")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("{url}: {}", head.lines().next().unwrap_or_default()));
    }
    Ok(body.to_owned())
}
