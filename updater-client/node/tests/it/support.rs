//! The npm tarball, the app directory it is installed into, and the app's executable.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use millennium_testing::app::{Run, check};
use millennium_testing::require_tool;

/// The crate's directory.
pub fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// This build's addon, `libmillennium_updater_node.so`: `target/<profile>` (the test binary is in its `deps`).
fn addon() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let found = [deps, deps.parent().unwrap()]
        .into_iter()
        .map(|d| d.join("libmillennium_updater_node.so"))
        .find(|p| p.exists());
    found.unwrap_or_else(|| panic!("no libmillennium_updater_node.so next to {}", exe.display()))
}

/// The npm tarball (`npm pack` of `npm/` with the addon as `millennium_updater.node`), made in `dir`.
pub fn pack(dir: &Path) -> PathBuf {
    require_tool("npm", "npm");
    let staging = dir.join("package");
    std::fs::create_dir_all(&staging).unwrap();
    for file in ["package.json", "index.js", "index.d.ts"] {
        std::fs::copy(manifest().join("npm").join(file), staging.join(file)).unwrap();
    }
    std::fs::copy(addon(), staging.join("millennium_updater.node")).unwrap();
    let output = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(dir)
        .current_dir(&staging)
        .output()
        .unwrap();
    check(&output, "npm pack");
    let name = String::from_utf8(output.stdout).unwrap().trim().lines().last().unwrap().to_owned();
    dir.join(name)
}

/// An app directory with the tarball installed (offline: the package has no dependencies) and `examples/app.js`.
pub fn app_dir(dir: &Path, tarball: &Path) -> PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("package.json"), r#"{ "name": "update-node-app", "private": true }"#).unwrap();
    let output = Command::new("npm")
        .args(["install", "--offline", "--no-audit", "--no-fund", "--no-package-lock", "--silent"])
        .arg(tarball)
        .current_dir(&app)
        .output()
        .unwrap();
    check(&output, "npm install");
    std::fs::copy(manifest().join("examples/app.js"), app.join("app.js")).unwrap();
    app
}

/// The app's executable for `version`: a plain executable file (a launcher, as an Electron app's binary is) that runs
/// `app.js` with the machine's `node`; `crashing` makes the broken release.
pub fn executable(app: &Path, version: &str, crashing: bool) -> Vec<u8> {
    require_tool("node", "nodejs");
    let crash = u8::from(crashing);
    let script = app.join("app.js");
    format!(
        "#!/bin/sh\nAPP_VERSION={version} APP_CRASH={crash} APP_EXECUTABLE=\"$0\" exec node {} \"$@\"\n",
        script.display()
    )
    .into_bytes()
}

pub fn run(program: &Path, args: &[&str]) -> Run {
    let output = Command::new(program).args(args).output().unwrap();
    Run::of(output)
}
