//! `millennium build` and `millennium release` of a small app to a real update server, a resumed re-run, and an
//! updater updating from what was published.

use std::path::Path;

use millennium_testing::app::write_exe;
use millennium_testing::keys::minisign_verify;
use millennium_testing::macos::macho_executable;
use millennium_testing::require_tool;
use millennium_testing::server::RegisteredApp;
use millennium_testing::wine::mingw_exe;

use crate::common::{
    checkout, installed_appimage, json, millennium, releases, run, run_appimage, server_with, show, target_dir,
    tiny_app,
};

const APP: &str = "com.example.tiny";

/// `millennium release` of the tiny app in `root` (debug build, deb + AppImage).
fn release(root: &Path, app: &RegisteredApp) -> std::process::Command {
    let mut command = millennium();
    command
        .current_dir(root)
        .args([
            "release",
            "--json",
            "--debug",
            "--format",
            "deb,appimage",
            "--channel",
            "beta",
            "--server",
            &app.server,
        ])
        .arg("--key")
        .arg(&app.key_file)
        .env("MILLENNIUM_PUBLISH_TOKEN", &app.token);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_publishes_signed_bundles_resumes_and_an_updater_installs_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny", "0.2.0");
    let (server, app) = server_with(APP).await;

    let first = run(release(&root, &app)).await;
    assert!(first.status.success(), "{}", show(&first));
    let summary = json(&first);
    assert_eq!((summary["app"].as_str(), summary["version"].as_str()), (Some(APP), Some("0.2.0")));
    assert_eq!(summary["uploaded"], true);
    assert_eq!(summary["reused_bundles"], false);
    assert_eq!(summary["manifest_url"], format!("{}/{APP}/beta/latest.json", server.url));
    let files = summary["files"].as_array().unwrap();
    let targets: Vec<&str> = files.iter().filter_map(|f| f["target"].as_str()).collect();
    let arch = std::env::consts::ARCH;
    assert_eq!(targets, [format!("linux-{arch}-deb"), format!("linux-{arch}-appimage")], "{summary}");
    for file in files.iter().filter(|f| f["target"].is_string()) {
        let path = Path::new(file["path"].as_str().unwrap());
        assert!(Path::new(file["signature"].as_str().unwrap()).is_file(), "{file}");
        let url = file["url"].as_str().unwrap();
        let served = reqwest::get(url).await.unwrap().bytes().await.unwrap();
        assert_eq!(&served[..], &std::fs::read(path).unwrap()[..], "{url}");
    }
    let manifest: serde_json::Value =
        reqwest::get(summary["manifest_url"].as_str().unwrap()).await.unwrap().json().await.unwrap();
    assert_eq!(manifest["version"], "0.2.0", "{manifest}");

    // A re-run (as after a failure late in the first run) reuses the bundles and uploads nothing.
    let again = run(release(&root, &app)).await;
    assert!(again.status.success(), "{}", show(&again));
    let resumed = json(&again);
    assert_eq!((resumed["uploaded"].as_bool(), resumed["reused_bundles"].as_bool()), (Some(false), Some(true)));
    assert_eq!(releases(&server, APP).await, 1);

    // An installed 0.1.0 AppImage updates to what was published.
    let (installed, updater) = installed_appimage(dir.path(), &app, "0.1.0", Some("beta"));
    let update = updater.check().await.unwrap().expect("0.2.0 is offered");
    assert_eq!(update.version().to_string(), "0.2.0");
    update.download_and_install(|_| {}).await.unwrap();
    let appimage = files.iter().find(|f| f["format"] == "appimage" && f["target"].is_string()).unwrap();
    assert_eq!(std::fs::read(&installed).unwrap(), std::fs::read(appimage["path"].as_str().unwrap()).unwrap());
    assert_eq!(run_appimage(&installed), "0.2.0");
}

#[test]
fn build_without_a_key_bundles_unsigned_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny-build", "1.0.0");
    let output =
        millennium().current_dir(&root).args(["build", "--debug", "--format", "deb", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", show(&output));
    let report = json(&output);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{report}");
    assert!(files[0]["path"].as_str().unwrap().ends_with(".deb"), "{report}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no signing key"), "{}", show(&output));
}

/// The app is built by a cargo run of its own, with no `-p`, as `cargo build --release` in its directory builds it, and
/// the AppImage's launcher by a second run: built in one run, the launcher's `cli` feature would change the app's
/// dependency graph, so the packaged binary would not be the one `cargo build --release` makes. The app is one of its
/// own, outside the framework's workspace, on a stand-in `millennium` crate that links the real probe's library
/// without features, as the framework does: the launcher's binary must then come from the probe's own manifest. The
/// build goes to a target directory of this test's, with no launcher in it beforehand, so one left by another build
/// cannot stand in for it. cargo is wrapped to record its command lines.
#[test]
fn build_runs_cargo_for_the_app_alone_then_builds_the_appimage_launcher_from_its_own_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny-launcher", "1.0.0");
    let probe = on_stand_in_framework(&root);
    let log = dir.path().join("cargo.log");
    let wrapper = dir.path().join("cargo");
    write_exe(
        &wrapper,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec \"$REAL_CARGO\" \"$@\"\n", log.display()).as_bytes(),
    );
    let target = launcher_target_dir();
    let launcher = target.join("debug/millennium-webview-probe");
    let _ = std::fs::remove_file(&launcher);

    let output = millennium()
        .current_dir(&root)
        .args(["build", "--debug", "--format", "deb,appimage", "--json"])
        .env("CARGO", &wrapper)
        .env("REAL_CARGO", real_cargo())
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", show(&output));
    let runs = std::fs::read_to_string(&log).unwrap();
    let runs: Vec<&str> = runs.lines().collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs[0].starts_with("build ") && !runs[0].contains(" -p "), "the app's run: {runs:?}");
    let probe_manifest = format!("--manifest-path {}", probe.join("Cargo.toml").display());
    assert!(runs[1].contains(&probe_manifest) && runs[1].contains("--features cli"), "{runs:?}");
    // The real launcher, next to the app's binary.
    let help = std::process::Command::new(&launcher).arg("--help").output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("launch"), "{}", show(&help));
    assert!(target.join("debug/tiny-launcher").is_file());
}

/// The launcher's cargo run goes on while the other formats are bundled and uploaded; when it fails, the release
/// fails with that run's own error (its command line and exit status, exit code 1), and the upload under way is
/// abandoned: nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launcher_that_fails_to_build_fails_the_release_with_its_own_error_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny-launcher-fails", "1.0.0");
    on_stand_in_framework(&root);
    let wrapper = dir.path().join("cargo");
    write_exe(
        &wrapper,
        b"#!/bin/sh\ncase \"$*\" in *'--features cli'*) echo 'error: the launcher does not compile' >&2; exit 101 ;; esac\n\
          exec \"$REAL_CARGO\" \"$@\"\n",
    );
    let app_id = "com.example.tiny-launcher-fails";
    let (server, app) = server_with(app_id).await;

    let mut command = release(&root, &app);
    command.env("CARGO", &wrapper).env("REAL_CARGO", real_cargo()).env("CARGO_TARGET_DIR", launcher_target_dir());
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let error = &json(&output)["error"];
    assert_eq!(error["code"], "build_failed", "{}", show(&output));
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("--features cli") && message.ends_with("failed (exit status: 101)"), "{}", show(&output));
    assert_eq!(releases(&server, app_id).await, 0);
}

/// Makes the app in `root` depend on a stand-in `millennium` crate (next to it) that links the real probe's library
/// without features, as the framework does: an app on the framework, without building it. Returns the probe's
/// directory.
fn on_stand_in_framework(root: &Path) -> std::path::PathBuf {
    let shim = root.with_file_name("shim");
    std::fs::create_dir_all(shim.join("src")).unwrap();
    let probe = checkout().join("webview-probe");
    std::fs::write(
        shim.join("Cargo.toml"),
        format!(
            "[package]\nname = \"shim\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n\
             millennium-webview-probe = {{ path = \"{}\", default-features = false }}\n",
            probe.display()
        ),
    )
    .unwrap();
    std::fs::write(shim.join("src/lib.rs"), "pub use millennium_webview_probe;\n").unwrap();
    let mut manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    manifest.push_str("\n[dependencies]\nmillennium = { path = \"../shim\", package = \"shim\" }\n");
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    probe
}

/// The target directory of the apps on the stand-in framework: kept between runs (compiled dependencies).
fn launcher_target_dir() -> std::path::PathBuf {
    target_dir().join("cli-launcher-test")
}

/// The cargo that wrappers run.
fn real_cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `millennium release` packages the Windows and macOS binaries it is given (as a CI job does with binaries built on
/// other runners): an MSI, an NSIS setup and an `.app.tar.gz`, each signed, published under its target and served
/// as built; minisign verifies every signature, and each package reads back with its format's real tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_publishes_windows_and_macos_installers_built_from_given_binaries() {
    require_tool("msiinfo", "msitools");
    require_tool("7z", "7zip");
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny", "0.3.0");
    // The installers need an icon: the one `millennium new` gives an app.
    std::fs::write(root.join("icon.png"), millennium_cli::icon::placeholder().unwrap()).unwrap();
    let config = std::fs::read_to_string(root.join("Millennium.toml")).unwrap();
    std::fs::write(root.join("Millennium.toml"), format!("icons = [\"icon.png\"]\n{config}")).unwrap();
    let source = "#include <stdio.h>\nint main(void) { printf(\"tiny 0.3.0\\n\"); return 0; }\n";
    let exe = mingw_exe(dir.path(), "tiny", source);
    let mac = dir.path().join("tiny-macos");
    write_exe(&mac, &macho_executable("x86_64", "tiny 0.3.0"));
    let (server, app) = server_with(APP).await;

    let mut command = millennium();
    command
        .current_dir(&root)
        .args(["release", "--json", "--format", "msi,nsis,app", "--server", &app.server])
        .arg("--windows-binary")
        .arg(&exe)
        .arg("--macos-binary")
        .arg(&mac)
        .arg("--key")
        .arg(&app.key_file)
        .env("MILLENNIUM_PUBLISH_TOKEN", &app.token);
    let output = run(command).await;
    assert!(output.status.success(), "{}", show(&output));
    let summary = json(&output);
    let files = summary["files"].as_array().unwrap();
    let mut targets: Vec<&str> = files.iter().filter_map(|f| f["target"].as_str()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ["darwin-x86_64-app", "windows-x86_64-msi", "windows-x86_64-nsis"], "{summary}");

    for file in files.iter().filter(|f| f["target"].is_string()) {
        let path = Path::new(file["path"].as_str().unwrap());
        let served = reqwest::get(file["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
        assert_eq!(&served[..], &std::fs::read(path).unwrap()[..], "{file}");
        let signature = std::fs::read_to_string(file["signature"].as_str().unwrap()).unwrap();
        let comment = minisign_verify(path, &signature, &app.key.public_key());
        assert!(comment.contains("version:0.3.0"), "{comment}");

        let name = path.to_str().unwrap();
        let contents = match file["format"].as_str().unwrap() {
            "msi" => run_tool("msiinfo", &["export", name, "File"]),
            "nsis" => run_tool("7z", &["l", name]),
            "app" => run_tool("tar", &["-tzf", name]),
            other => panic!("unexpected format {other}: {file}"),
        };
        let binary = if file["format"] == "app" { "Tiny.app/Contents/MacOS/tiny" } else { "tiny.exe" };
        assert!(contents.contains(binary), "{binary} is not in {name}:\n{contents}");
    }
    let manifest: serde_json::Value =
        reqwest::get(format!("{}/{APP}/stable/latest.json", server.url)).await.unwrap().json().await.unwrap();
    assert_eq!(manifest["version"], "0.3.0", "{manifest}");
    for platform in ["windows-x86_64-msi", "windows-x86_64-nsis", "darwin-x86_64"] {
        assert!(manifest["platforms"][platform]["url"].is_string(), "{platform} missing: {manifest}");
    }
}

/// The formats are uploaded while they are built, so a failure must abandon an upload already under way: a format
/// that fails, or a failure after every format was built and sent (the output file cannot be written), publishes
/// nothing and names what failed; a re-run then publishes the release whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_while_the_formats_are_uploaded_publishes_nothing_and_says_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    // A name of its own: tests that build apps of one name at once would replace each other's binary in the shared
    // target directory, and a release's receipt would then not match its bundles.
    let root = tiny_app(dir.path(), "tiny-upload", "0.4.0");
    let id = "com.example.tiny-upload";
    let (server, app) = server_with(id).await;
    let release = || {
        let mut command = millennium();
        command
            .current_dir(&root)
            .args(["release", "--json", "--debug", "--format", "deb,rpm", "--server", &app.server])
            .arg("--key")
            .arg(&app.key_file)
            .env("MILLENNIUM_PUBLISH_TOKEN", &app.token);
        command
    };

    // The rpm format cannot hold a time after 2106; the deb can, and is built meanwhile.
    let mut late = release();
    late.env("SOURCE_DATE_EPOCH", (1u64 << 32).to_string());
    let failed = run(late).await;
    assert_eq!(failed.status.code(), Some(2), "{}", show(&failed));
    let error = json(&failed)["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("rpm format"), "the error names the format: {}", show(&failed));
    assert_eq!(releases(&server, id).await, 0);

    // Every format built and uploaded, then the rpm cannot be moved into place (a directory has its name).
    let out = root.join("target/bundle");
    let rpm = out.join(format!("tiny-upload-0.4.0-1.{}.rpm", std::env::consts::ARCH));
    std::fs::create_dir_all(rpm.join("in-the-way")).unwrap();
    let failed = run(release()).await;
    assert_eq!(failed.status.code(), Some(1), "{}", show(&failed));
    let error = json(&failed)["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains(&rpm.display().to_string()), "the error names the file: {}", show(&failed));
    assert_eq!(releases(&server, id).await, 0);

    std::fs::remove_dir_all(&rpm).unwrap();
    let published = run(release()).await;
    assert!(published.status.success(), "{}", show(&published));
    let summary = json(&published);
    assert_eq!((summary["uploaded"].as_bool(), summary["reused_bundles"].as_bool()), (Some(true), Some(false)));
    for file in summary["files"].as_array().unwrap().iter().filter(|f| f["target"].is_string()) {
        let served = reqwest::get(file["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
        assert_eq!(&served[..], &std::fs::read(file["path"].as_str().unwrap()).unwrap()[..], "{file}");
    }
    assert_eq!(releases(&server, id).await, 1);
}

/// Runs a tool that must succeed and returns its standard output.
fn run_tool(tool: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(tool).args(args).output().unwrap();
    assert!(output.status.success(), "`{tool} {}` failed: {}", args.join(" "), show(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
