//! End to end with the example app: v1 of `examples/updatable.rs` checks a local server, downloads v2, verifies it,
//! replaces itself and relaunches; afterwards the same path runs v2.
//!
//! v2 is the same build with its version slot stamped `2.0.0` (see the example's docs), signed here with
//! `millennium-sign`. It is served twice: by this test's own small HTTP server speaking the Tauri dynamic format (so
//! every request can be inspected), and by a real `millennium-update-server` on loopback that v2 is published to
//! through its HTTP API, through both its dynamic endpoint and its static `latest.json`.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::support::dynamic_json;
use millennium_sign::Format;
use millennium_testing::app::write_exe;
use millennium_testing::http::{MockServer, Reply, serve_file};
use millennium_testing::keys::Keys;
use millennium_testing::require_tool;
use millennium_testing::server::TestServer;
use millennium_testing::updatable::stamp;
use millennium_update_admin::api::{PublishRequest, Scope};

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples").join("updatable");
    assert!(path.exists(), "{} missing: `cargo test` builds the examples", path.display());
    path
}

fn run(path: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(path).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_app_updates_itself_from_v1_to_v2_and_relaunches() {
    let built = std::fs::read(example()).unwrap();
    let v1 = stamp(&built, "1.0.0");
    let v2 = stamp(&built, "2.0.0");
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("bin").join("updatable");
    std::fs::create_dir_all(app.parent().unwrap()).unwrap();
    write_exe(&app, &v1);
    assert_eq!(run(&app, &["--version"]).1.trim(), "updatable 1.0.0");

    let keys = Keys::generate();
    let signature = keys.sign(&v2, Some("2.0.0"));
    let json = Arc::new(OnceLock::<String>::new());
    let j = json.clone();
    let served = Arc::new(v2.clone());
    let server = MockServer::start(move |req| {
        if let Some(rest) = req.path.strip_prefix("/updatable/") {
            // A dynamic server: 2.0.0 is offered to anything older.
            let current = rest.rsplit('/').next().unwrap_or_default();
            let current = millennium_update_protocol::Version::from_request_segment(current).unwrap();
            let latest = millennium_update_protocol::Version::parse("2.0.0").unwrap();
            if latest.is_update_over(&current) { Reply::json(j.get().unwrap().clone()) } else { Reply::status(204) }
        } else if req.path == "/download/updatable-2.0.0" {
            serve_file(req, &served, "\"v2\"")
        } else {
            Reply::status(404)
        }
    })
    .await;
    json.set(dynamic_json("2.0.0", &server.url("/download/updatable-2.0.0"), signature)).unwrap();

    let endpoint = server.url("/updatable/{{target}}/{{arch}}/{{current_version}}");
    let state = dir.path().join("state");
    update_in_place(app.clone(), endpoint, keys.public_text.clone(), state.clone(), &v2).await;
    // v1 is kept for rollback; v2 confirmed, so nothing is pending.
    assert_eq!(std::fs::read(dir.path().join("bin").join("updatable.previous")).unwrap(), v1);
    assert!(!state.join("pending-update.json").exists());
    let downloads = server.requests_to("/download/");
    assert_eq!(downloads.len(), 1);
    let checks = server.requests_to("/updatable/");
    assert_eq!(checks.len(), 2);
    assert!(checks[0].path.ends_with("/1.0.0") && checks[1].path.ends_with("/2.0.0"), "{checks:?}");
    assert_eq!(checks[0].header("Millennium-Install-Id"), checks[1].header("Millennium-Install-Id"));
}

/// v1 and v2 of the example app, v2 published to a real update server.
struct Published {
    v1: Vec<u8>,
    v2: Vec<u8>,
    dir: tempfile::TempDir,
    server: TestServer,
    /// The release key's public half, as the app pins it.
    pubkey: String,
}

impl Published {
    async fn new() -> Published {
        let built = std::fs::read(example()).unwrap();
        let (v1, v2) = (stamp(&built, "1.0.0"), stamp(&built, "2.0.0"));
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let app = server.register("updatable", Scope::Publish).await;
        let target = format!("linux-{}", std::env::consts::ARCH);
        let artifact = app.artifact("2.0.0", &target, &v2, &app.key);
        app.publish(
            &PublishRequest { notes: Some("updatable 2.0.0".into()), ..PublishRequest::new("2.0.0") },
            &[artifact],
        )
        .await;
        let pubkey = app.key.public_key().to_text(Format::Tauri);
        Published { v1, v2, dir, server, pubkey }
    }
}

/// Runs `updatable update` from `app` against `endpoint` and checks it went from 1.0.0 to 2.0.0 in place.
async fn update_in_place(app: PathBuf, endpoint: String, pubkey: String, state: PathBuf, v2: &[u8]) {
    let app2 = app.clone();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run(&app2, &["update", "--endpoint", &endpoint, "--pubkey", &pubkey, "--state-dir", state.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["updatable 1.0.0", "updating to 2.0.0", "installed 2.0.0; relaunching", "updatable 2.0.0", "up to date"],
        "stderr:\n{stderr}"
    );
    assert_eq!(run(&app, &["--version"]).1.trim(), "updatable 2.0.0");
    assert_eq!(std::fs::read(&app).unwrap(), v2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_app_updates_itself_from_a_real_update_server() {
    let Published { v1, v2, dir, server, pubkey } = Published::new().await;

    let endpoints = [
        ("dynamic", format!("{}/updatable/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", server.url)),
        ("static", format!("{}/updatable/stable/latest.json", server.url)),
    ];
    for (kind, endpoint) in endpoints {
        let app = dir.path().join(kind).join("updatable");
        std::fs::create_dir_all(app.parent().unwrap()).unwrap();
        write_exe(&app, &v1);
        let state = dir.path().join(kind).join("state");
        update_in_place(app, endpoint, pubkey.clone(), state, &v2).await;
    }
}

/// The download hits a full disk: the state directory is a 64 KiB tmpfs (mounted in a private user and mount
/// namespace, so no privileges are needed), much smaller than v2. The app says the disk is full and keeps running
/// v1, untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_the_download_leaves_the_app_as_it_was() {
    let Published { v1, dir, server, pubkey, .. } = Published::new().await;
    let app = dir.path().join("bin").join("updatable");
    std::fs::create_dir_all(app.parent().unwrap()).unwrap();
    write_exe(&app, &v1);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();

    let endpoint = format!("{}/updatable/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", server.url);
    let (app2, state2) = (app.clone(), state.clone());
    require_tool("unshare", "util-linux");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o size=64k millennium-full "$0" && exec "$@""#)
            .arg(&state2)
            .arg(&app2)
            .args(["update", "--endpoint", &endpoint, "--pubkey", &pubkey, "--state-dir"])
            .arg(&state2)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["updatable 1.0.0", "updating to 2.0.0"], "stderr:\n{stderr}");
    assert!(stderr.contains("no space left to write") && stderr.contains("free some disk space"), "{stderr}");
    assert_eq!(std::fs::read(&app).unwrap(), v1);
    assert_eq!(run(&app, &["--version"]).1.trim(), "updatable 1.0.0");
    assert_eq!(std::fs::read_dir(app.parent().unwrap()).unwrap().count(), 1, "nothing staged beside the app");
}
