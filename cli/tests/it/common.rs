//! What the tests of `millennium` share beyond `millennium-testing` (whose in-process update server, registered apps
//! and app scripts they use): the binary under test, small apps to build, and an installed AppImage with its updater.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use millennium_sign::{Format, KdfParams};
use millennium_testing::app::{script_app, write_exe};
use millennium_testing::server::{RegisteredApp, TestServer};
use millennium_update_admin::api::Scope;
use millennium_update_protocol::BundleType;
use millennium_updater::Updater;

/// The `millennium` binary under test.
pub fn millennium() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_millennium"));
    // Builds of test apps go to the workspace's target directory, where their dependencies are already compiled.
    command.env("CARGO_TARGET_DIR", target_dir());
    for var in [
        "MILLENNIUM_SIGNING_PRIVATE_KEY",
        "MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD",
        "TAURI_SIGNING_PRIVATE_KEY",
        "TAURI_SIGNING_PRIVATE_KEY_PATH",
        "TAURI_SIGNING_PRIVATE_KEY_PASSWORD",
        "MILLENNIUM_SERVER",
        "MILLENNIUM_TOKEN",
        "MILLENNIUM_PUBLISH_TOKEN",
        "SOURCE_DATE_EPOCH",
    ] {
        command.env_remove(var);
    }
    command.env("NO_COLOR", "1");
    command
}

/// The target directory this test binary was built into (`…/target/debug/deps/it-…` → `…/target`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// The repository's root (a Millennium checkout for `--framework-path`).
pub fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Runs a command to completion on a blocking thread (the server runs on this test's runtime meanwhile).
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

/// Stdout and stderr, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The JSON document on stdout.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", show(output)))
}

/// A real update server (SQLite + files) in this process on a loopback port, with `app` registered under a new
/// release key (unencrypted in `app.key_file`, as `--key` reads it) and a publish token.
pub async fn server_with(app: &str) -> (TestServer, RegisteredApp) {
    let server = TestServer::start().await;
    let registered = server.register(app, Scope::Publish).await;
    (server, registered)
}

/// How many releases `app` has on `server`.
pub async fn releases(server: &TestServer, app: &str) -> usize {
    server.admin.list_releases(app, None).await.map(|list| list.releases.len()).unwrap_or(0)
}

/// `app`'s release key, encrypted with `password`, written to `path`.
pub fn write_encrypted_key(app: &RegisteredApp, path: &Path, password: &str) {
    let sealed = app.key.seal(Some(password), KdfParams::INTERACTIVE).unwrap();
    std::fs::write(path, sealed.to_text(Format::Minisign).as_str()).unwrap();
}

/// An installed AppImage of `app` at version `current` (a script printing it) in `dir/installed/`, and an updater of
/// it that checks `app`'s server (in `channel`, when given) and pins `app`'s release key: what a user's machine has.
pub fn installed_appimage(dir: &Path, app: &RegisteredApp, current: &str, channel: Option<&str>) -> (PathBuf, Updater) {
    let installed = dir.join("installed").join("App.AppImage");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    write_exe(&installed, &script_app(current, 64));
    let query = channel.map(|c| format!("?channel={c}")).unwrap_or_default();
    let updater = Updater::builder()
        .endpoint(format!(
            "{}/{}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}/{{{{bundle_type}}}}{query}",
            app.server, app.id
        ))
        .pubkey(app.key.public_key().to_text(Format::Minisign))
        .current_version(current)
        .app_id(&app.id)
        .executable(&installed)
        .bundle_type(Some(BundleType::AppImage))
        .state_dir(dir.join("state"))
        .allow_insecure_http(true)
        .build()
        .unwrap();
    (installed, updater)
}

/// Runs an installed AppImage (extracting itself: no FUSE needed) and returns what it printed.
pub fn run_appimage(path: &Path) -> String {
    let ran = Command::new(path).env("APPIMAGE_EXTRACT_AND_RUN", "1").output().unwrap();
    assert!(ran.status.success(), "{}", show(&ran));
    String::from_utf8_lossy(&ran.stdout).trim().to_owned()
}

/// A small app without the framework (it builds in a second): `NAME` printing its version, with a `Millennium.toml`.
pub fn tiny_app(dir: &Path, name: &str, version: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2024\"\ndescription = \"A tiny test app\"\nlicense = \"MIT\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {\n    println!(\"{}\", env!(\"CARGO_PKG_VERSION\"));\n}\n")
        .unwrap();
    std::fs::write(
        root.join("Millennium.toml"),
        format!(
            "product-name = \"Tiny\"\nidentifier = \"com.example.{name}\"\nauthors = [\"Tiny Developers <dev@example.com>\"]\n"
        ),
    )
    .unwrap();
    root
}

/// The workspace's `[profile.*]` sections: an app built into the workspace's target directory with the same profiles
/// (and the same locked versions) reuses the dependencies the workspace has compiled.
pub fn workspace_profiles() -> String {
    let text = std::fs::read_to_string(checkout().join("Cargo.toml")).unwrap();
    let start = text.find("\n[profile.").map_or(text.len(), |i| i + 1);
    text[start..].to_owned()
}
