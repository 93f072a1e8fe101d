//! End to end with the framework, offline, in a temp dir: `millennium new demo --framework-path CHECKOUT` →
//! `millennium build` → `millennium release` to a real update server on loopback → the updater library installs the
//! published AppImage; and the built app runs under Xvfb and reports its page (self-test mode). On the way: the
//! binary `build` packages is the one a plain `cargo build` makes (which then has nothing to do), and `release` on
//! the unchanged app does not link it again.
//!
//! The demo is built into the workspace's target directory with the workspace's `Cargo.lock` and profiles, so its
//! dependencies (wry, tao, GTK, …) are the ones the test build already compiled; only what the demo's smaller
//! dependency graph resolves with other features is compiled again. `--debug` builds with the `dev` profile, which
//! the test build shares.

use std::path::{Path, PathBuf};
use std::process::Command;

use millennium_testing::require_tool;

use crate::common::{
    checkout, installed_appimage, json, millennium, run, server_with, show, target_dir, workspace_profiles,
};

/// `millennium new NAME --framework-path CHECKOUT` in `dir`, set up to share the workspace's build.
pub fn new_app(dir: &Path, name: &str) -> PathBuf {
    let output =
        millennium().current_dir(dir).args(["new", name, "--framework-path"]).arg(checkout()).output().unwrap();
    assert!(output.status.success(), "{}", show(&output));
    let root = dir.join(name);
    let mut manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    manifest.push('\n');
    manifest.push_str(&workspace_profiles());
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(checkout().join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_build_release_then_the_updater_installs_it_and_the_app_runs() {
    require_tool("xvfb-run", "xvfb");
    let dir = tempfile::tempdir().unwrap();
    let root = new_app(dir.path(), "demo");
    // The server first: `build` signs with the key the app is registered under.
    let (server, app) = server_with("com.example.demo").await;

    let mut build = millennium();
    build
        .current_dir(&root)
        .args(["build", "--debug", "--format", "deb,appimage", "--json", "--key"])
        .arg(&app.key_file);
    let built = run(build).await;
    assert!(built.status.success(), "{}", show(&built));
    let report = json(&built);
    // `build` packaged exactly what `cargo build` makes (same arguments, environment and features): a plain `cargo
    // build` afterwards has nothing to compile or link.
    let binary = target_dir().join("debug").join("demo");
    let built_binary = identity(&binary);
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--message-format", "json"])
        .env("CARGO_TARGET_DIR", target_dir())
        .stderr(std::process::Stdio::inherit());
    let plain = run(cargo).await;
    assert!(plain.status.success(), "{}", show(&plain));
    let fresh = String::from_utf8_lossy(&plain.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "demo")
        .map(|m| m["fresh"].clone());
    assert_eq!(fresh, Some(serde_json::Value::Bool(true)), "`cargo build` after `millennium build` rebuilt the app");
    assert_eq!(identity(&binary), built_binary, "`cargo build` after `millennium build` replaced the app's binary");
    let names: Vec<&str> = report["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(
        names.iter().any(|n| n.ends_with(".AppImage.sig")) && names.iter().any(|n| n.ends_with(".deb.sig")),
        "{report}"
    );

    let mut release = millennium();
    release
        .current_dir(&root)
        .args(["release", "--debug", "--format", "deb,appimage", "--json", "--server", &server.url, "--key"])
        .arg(&app.key_file)
        .env("MILLENNIUM_PUBLISH_TOKEN", &app.token);
    let released = run(release).await;
    assert!(released.status.success(), "{}", show(&released));
    let summary = json(&released);
    assert_eq!(summary["version"], "0.1.0");
    assert_eq!(identity(&binary), built_binary, "`release` on an unchanged app relinked its binary");

    // An older install of the AppImage updates to the published one.
    let (installed, updater) = installed_appimage(dir.path(), &app, "0.0.1", None);
    let update = updater.check().await.unwrap().expect("0.1.0 is offered");
    update.download_and_install(|_| {}).await.unwrap();
    let appimage = summary["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["target"].as_str().is_some_and(|t| t.ends_with("-appimage")))
        .unwrap();
    assert_eq!(std::fs::read(&installed).unwrap(), std::fs::read(appimage["path"].as_str().unwrap()).unwrap());

    // The app as built runs: its page loads, calls Rust and reports under Xvfb.
    let mut app = Command::new("xvfb-run");
    app.args(["-a", "--server-args=-screen 0 1024x768x24"])
        .arg(&binary)
        .env("MILLENNIUM_SELFTEST", "1")
        .env("MILLENNIUM_SELFTEST_EXIT", "1")
        .env("MILLENNIUM_WEBVIEW_PROMPT", "never");
    let ran = run(app).await;
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        stdout.contains(r#"selftest {"heading":"Welcome to Demo","greeting":"Hello, self-test! (from Rust)"}"#),
        "{}",
        show(&ran)
    );
}

/// What changes when cargo links a binary again or puts another build in its place: its inode (cargo hard-links the
/// build into place), modification time and bytes (their SHA-256).
fn identity(binary: &Path) -> (u64, std::time::SystemTime, String) {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(binary).unwrap();
    (metadata.ino(), metadata.modified().unwrap(), hex::encode(sha2::Sha256::digest(std::fs::read(binary).unwrap())))
}
