//! The Python API beyond the example (`tests/python/api.py`, run with the wheel installed): the GIL is released while
//! `check()` blocks and `cancel()` from another thread stops it; configuration errors carry their codes; an
//! exception raised by the progress callback stops the download and is re-raised; a download installs once.

use std::process::Command;

use millennium_testing::server::Offered;

use crate::support::{build_wheel, manifest, venv_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_api_releases_the_gil_cancels_and_raises_coded_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = build_wheel(&dir.path().join("wheels"));
    let python = venv_with(dir.path(), &wheel);
    // A server that accepts connections (the kernel does, up to the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    // Several chunks, so that the progress callback is called before the end; a script (the updater installs only
    // what looks like an executable for this machine).
    let mut v2 = b"#!/bin/sh\nexit 0\n#".to_vec();
    v2.extend((0..3 * 1024 * 1024).map(|i: u32| b'a' + (i % 26) as u8));
    let offered = Offered::new("update-py-api", &v2).await;
    let target = dir.path().join("app.pyz");
    std::fs::write(&target, b"v1").unwrap();
    let state = dir.path().join("state");

    let script = manifest().join("tests/python/api.py");
    let args = [
        port,
        offered.endpoint.clone(),
        offered.pubkey.clone(),
        state.display().to_string(),
        target.display().to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || Command::new(&python).arg(script).args(args).output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "check released the GIL and was cancelled from another thread",
            "cancel is sticky until reset_cancel()",
            "configuration errors carry their code",
            "a raising progress callback stops the download; install works once",
            "startup after install: normal",
        ]
    );
    assert_eq!(std::fs::read(&target).unwrap(), v2, "the update is not in place");
    drop(silent);
}

/// A delta update through the Python API: `uses_delta` and `delta_size` before the download, `on_transfer` told
/// `"delta"` and progress counting the delta's bytes, and the installed file is exactly v2; the server counted one
/// delta download and no full one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_api_reports_a_delta_update_and_its_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = build_wheel(&dir.path().join("wheels"));
    let python = venv_with(dir.path(), &wheel);
    let (v1, v2) = Offered::script_releases();
    let offered = Offered::with_delta("update-py-delta", &v1, &v2).await;
    let target = dir.path().join("app");
    millennium_testing::app::write_exe(&target, &v1);
    let script = r#"
import sys
import millennium_updater as mu
endpoint, pubkey, state_dir, target = sys.argv[1:]
updater = mu.Updater(endpoint=endpoint, pubkey=pubkey, current_version="1.0.0", state_dir=state_dir,
                     executable=target, bundle_type="none")
update = updater.check()
print(f"uses_delta {update.uses_delta} {update.delta_size}")
transfers, calls = [], []
download = update.download(progress=lambda done, total: calls.append((done, total)), on_transfer=transfers.append)
print(f"transfers {transfers} last {calls[-1]}")
download.install()
"#;
    let args = [
        offered.endpoint.clone(),
        offered.pubkey.clone(),
        dir.path().join("state").display().to_string(),
        target.display().to_string(),
    ];
    let output =
        tokio::task::spawn_blocking(move || Command::new(&python).arg("-c").arg(script).args(args).output().unwrap())
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    let size: u64 = lines[0].strip_prefix("uses_delta True ").unwrap_or_else(|| panic!("{stdout}")).parse().unwrap();
    assert!(size * 10 < v2.len() as u64, "{stdout}");
    assert_eq!(lines[1], format!("transfers ['delta'] last ({size}, {size})"));
    assert_eq!(std::fs::read(&target).unwrap(), v2, "v2, byte for byte, is installed");
    assert_eq!(
        (
            offered.server.downloads("update-py-delta", "delta").await,
            offered.server.downloads("update-py-delta", "full").await
        ),
        (1, 0)
    );
}
