//! The example app built with `api-updater` (`scripts/test` runs the example's tests with every feature), updated
//! for real: a copy of the binary runs under Xvfb against the real update server on loopback, the runtime's
//! background check finds v2 while the page runs its self-test, downloads and verifies it, and installs it when the
//! app exits (`UpdateChecks::install_on_exit`); the next launch of the installed v2 confirms it and skips its check
//! because the last one (recorded in the updater's state directory) is recent; the release-health events of both
//! launches reach the real server, which counts them.

#![cfg(feature = "api-updater")]
#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use millennium_sign::Format;
use millennium_testing::require_tool;
use millennium_testing::server::TestServer;
use millennium_update_admin::api::{PublishRequest, Scope};

use crate::app::Launch;

const BIN: &str = env!("CARGO_BIN_EXE_hello");

fn write_exe(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `text`'s lines containing `needle`.
fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_check_finds_v2_while_the_app_runs_and_it_is_installed_when_the_app_quits() {
    require_tool("xvfb-run", "xvfb");
    // v2 is the same build with bytes appended (an ELF file ignores them), so that the installed file tells which
    // version it is.
    let v1 = std::fs::read(BIN).unwrap();
    let mut v2 = v1.clone();
    v2.extend_from_slice(b"\nhello 2.0.0\n");
    let server = TestServer::start().await;
    let app = server.register("hello", Scope::Publish).await;
    let target = format!("linux-{}", std::env::consts::ARCH);
    let artifact = app.artifact("2.0.0", &target, &v2, &app.key);
    app.publish(&PublishRequest { notes: Some("hello 2.0.0".into()), ..PublishRequest::new("2.0.0") }, &[artifact])
        .await;

    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("bin").join("hello");
    write_exe(&exe, &v1);
    let state = dir.path().join("state");
    let endpoint = format!("{}/hello/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", server.url);
    let pubkey = app.key.public_key().to_text(Format::Tauri);
    let env = |version: &'static str, checks: &'static str| {
        vec![
            ("MILLENNIUM_HELLO_UPDATE_ENDPOINT", endpoint.clone()),
            ("MILLENNIUM_HELLO_UPDATE_PUBKEY", pubkey.clone()),
            ("MILLENNIUM_HELLO_UPDATE_INSECURE", "http".to_owned()),
            ("MILLENNIUM_HELLO_VERSION", version.to_owned()),
            ("MILLENNIUM_HELLO_UPDATE_CHECKS", checks.to_owned()),
            ("MILLENNIUM_UPDATER_STATE_DIR", state.to_str().unwrap().to_owned()),
            ("MILLENNIUM_LOG", "info".to_owned()),
        ]
    };
    let launch = |binary: std::path::PathBuf, env: Vec<(&'static str, String)>, hold_ms: u64| {
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut launch = Launch::start_binary(&binary, &env, hold_ms);
            launch.wait_for_report();
            let report = launch.report();
            let (stdout, stderr) = launch.finish();
            (report, stdout, stderr)
        })
    };

    // v1: first check 200 ms after start, then hourly; a found update is downloaded for exit. The app stays up 15 s
    // after its self-test (far more than the download of a debug build over loopback takes).
    let (report, stdout, stderr) = launch(exe.clone(), env("1.0.0", "200,3600000,100,exit"), 15_000).await.unwrap();
    // The page worked meanwhile: the check ran beside the event loop, not on it.
    assert_eq!(report["greet"], serde_json::json!({"ok": true, "value": "Hello, Selftest! (from Rust)"}), "{stderr}");
    let ready = lines_with(&stderr, "update downloaded and verified; it is installed when the app exits");
    assert_eq!(ready.len(), 1, "stderr:\n{stderr}");
    assert!(ready[0].contains("version=2.0.0"), "{}", ready[0]);
    let installed = lines_with(&stderr, "update installed at exit");
    assert_eq!(installed.len(), 1, "stderr:\n{stderr}");
    // The app's own exit hook ran first, with the exit code, once the window was gone.
    assert!(stdout.lines().any(|l| l == "exit 0"), "stdout:\n{stdout}");
    assert!(std::fs::read(&exe).unwrap() == v2, "the installed binary is not v2");
    assert!(state.join("pending-update.json").exists(), "the install is recorded for rollback");
    let last_check = std::fs::read_to_string(state.join("last-update-check")).unwrap();

    // v2 starts: its page's first message confirms it; the last check was moments ago, so none is made now.
    let (report, _stdout, stderr) = launch(exe.clone(), env("2.0.0", "200,3600000,0,exit"), 1_000).await.unwrap();
    assert_eq!(report["greet"]["ok"], true, "{stderr}");
    assert!(!state.join("pending-update.json").exists(), "v2 was not confirmed\nstderr:\n{stderr}");
    let next = lines_with(&stderr, "next background update check");
    assert_eq!(next.len(), 1, "stderr:\n{stderr}");
    assert!(next[0].contains("recent=true"), "{}", next[0]);
    let wait_ms: u64 = next[0].split("wait_ms=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(wait_ms > 3_000_000, "the recent check was not honoured: {}", next[0]);
    assert!(lines_with(&stderr, "background update check:").is_empty(), "stderr:\n{stderr}");
    assert_eq!(std::fs::read_to_string(state.join("last-update-check")).unwrap(), last_check);
    assert!(std::fs::read(&exe).unwrap() == v2);

    // With the checks off, nothing is scheduled at all.
    let (_report, _stdout, stderr) = launch(exe.clone(), env("2.0.0", "off"), 0).await.unwrap();
    assert!(lines_with(&stderr, "next background update check").is_empty(), "stderr:\n{stderr}");

    // Release health, on by default in the runtime: v1 queued `installed` on disk as it installed v2 at exit, v2 sent
    // it with its `confirmed`, and the real server counted both for 2.0.0.
    let health_url = format!("{}/api/v1/apps/hello/releases/2.0.0/health", server.url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let health: serde_json::Value = reqwest::Client::new()
            .get(&health_url)
            .bearer_auth(millennium_testing::server::ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if health["totals"]["installed"] == 1 && health["totals"]["confirmed"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not count the app's events: {health}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
