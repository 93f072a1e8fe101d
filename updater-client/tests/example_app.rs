//! End to end with the example app: v1 of `examples/updatable.rs` checks a local server, downloads v2, verifies it,
//! replaces itself and relaunches; afterwards the same path runs v2.
//!
//! v2 is the same build with its version slot stamped `2.0.0` (see the example's docs), signed here with
//! `millennium-sign`. The server is this test's own small HTTP server speaking the Tauri dynamic format built with
//! `millennium-update-protocol`.
//!
//! TODO(next session): the same scenario against a real `millennium-update-server` on loopback (publish v2 through
//! its API, then run v1 against its dynamic endpoint and its static `latest.json`); the server was not ready when
//! this was written.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

mod support;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use support::{Keys, Reply, Server, dynamic_json, serve_file, write_exe};

const MARK: &[u8] = b"MILLENNIUM-UPDATABLE-VERSION:";

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples").join("updatable");
    assert!(path.exists(), "{} missing: `cargo test` builds the examples", path.display());
    path
}

/// A copy of `binary` whose version slot says `version`.
fn stamp(binary: &[u8], version: &str) -> Vec<u8> {
    let mut out = binary.to_vec();
    let mut found = 0;
    let mut i = 0;
    while let Some(pos) = out[i..].windows(MARK.len()).position(|w| w == MARK) {
        let start = i + pos + MARK.len();
        let slot = &mut out[start..start + 16];
        slot.fill(0);
        slot[..version.len()].copy_from_slice(version.as_bytes());
        found += 1;
        i = start;
    }
    assert!(found > 0, "no version slot in the example binary");
    out
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
    let server = Server::start(move |req| {
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
    let (app2, pubkey, state2) = (app.clone(), keys.public_text.clone(), state.clone());
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run(&app2, &["update", "--endpoint", &endpoint, "--pubkey", &pubkey, "--state-dir", state2.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    // v1 ran, updated, exec'd v2 in the same process, which found itself up to date.
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["updatable 1.0.0", "updating to 2.0.0", "installed 2.0.0; relaunching", "updatable 2.0.0", "up to date"],
        "stderr:\n{stderr}"
    );
    // The same path now runs v2; v1 is kept for rollback; v2 confirmed, so nothing is pending.
    assert_eq!(run(&app, &["--version"]).1.trim(), "updatable 2.0.0");
    assert_eq!(std::fs::read(&app).unwrap(), v2);
    assert_eq!(std::fs::read(dir.path().join("bin").join("updatable.previous")).unwrap(), v1);
    assert!(!state.join("pending-update.json").exists());
    let downloads = server.requests_to("/download/");
    assert_eq!(downloads.len(), 1);
    let checks = server.requests_to("/updatable/");
    assert_eq!(checks.len(), 2);
    assert!(checks[0].path.ends_with("/1.0.0") && checks[1].path.ends_with("/2.0.0"), "{checks:?}");
    assert_eq!(checks[0].header("Millennium-Install-Id"), checks[1].header("Millennium-Install-Id"));
}
