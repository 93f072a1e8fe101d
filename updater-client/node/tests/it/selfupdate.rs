//! `examples/app.js` updates its executable with the installed npm package from the real update server: v1 → v2, a
//! tampered artifact refused (`UpdaterError`, code 12, kind `verification`, with its hint) with v1 kept, and a v2
//! that crashes before confirming rolled back to v1. And the tarball is the package of the crate's version.

use std::path::{Path, PathBuf};

use millennium_testing::app::{assert_rolls_back_a_crashing_v2, assert_updates_from_v1_to_v2};
use millennium_testing::listing;
use millennium_testing::server::Offered;

use crate::support::{Run, app_dir, check, executable, pack, run};

const APP: &str = "update-node";

/// The package installed in an app directory, and v1 of the app's executable installed as `bin/update-node`.
struct Installed {
    dir: PathBuf,
    app: PathBuf,
    state: PathBuf,
    v1: Vec<u8>,
}

fn install_v1(dir: &Path) -> Installed {
    let tarball = pack(dir);
    let app_dir = app_dir(dir, &tarball);
    let v1 = executable(&app_dir, "1.0.0", false);
    let app = dir.join("bin").join(APP);
    std::fs::create_dir_all(app.parent().unwrap()).unwrap();
    millennium_testing::app::write_exe(&app, &v1);
    Installed { dir: app_dir, app, state: dir.join("state"), v1 }
}

/// Runs the installed app against `offered`, off the async runtime that serves it.
async fn run_app(installed: &Installed, offered: &Offered) -> Run {
    let (app, endpoint, pubkey, state) =
        (installed.app.clone(), offered.endpoint.clone(), offered.pubkey.clone(), installed.state.clone());
    tokio::task::spawn_blocking(move || run(&app, &[&endpoint, &pubkey, state.to_str().unwrap()])).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_app_updates_itself_from_v1_to_v2_through_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path());
    let v2 = executable(&installed.dir, "2.0.0", false);
    let offered = Offered::new(APP, &v2).await;

    let size = v2.len();
    assert_updates_from_v1_to_v2(
        APP,
        &installed.app,
        &installed.state,
        &v2,
        &format!("downloaded {size} of {size} bytes"),
        || run_app(&installed, &offered),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_app_refuses_a_tampered_artifact_with_a_verification_error_and_keeps_v1() {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path());
    let v2 = executable(&installed.dir, "2.0.0", false);
    let offered = Offered::new(APP, &v2).await;
    offered.tamper();

    let run = run_app(&installed, &offered).await;
    assert_eq!(run.code(), Some(12), "not the verification code: {run:#?}");
    assert_eq!(run.lines(), ["update-node 1.0.0", "updating to 2.0.0 (update-node 2.0.0)"], "{run:#?}");
    assert!(run.stderr.starts_with("error (verification, 12): "), "{}", run.stderr);
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
    let hint = run.stderr.lines().find_map(|l| l.strip_prefix("hint from the error: ")).unwrap();
    assert!(hint != "None" && !hint.is_empty(), "the exception has no hint: {}", run.stderr);
    assert_eq!(std::fs::read(&installed.app).unwrap(), installed.v1, "the app changed");
    assert_eq!(listing(&installed.state.join("downloads")), Vec::<String>::new(), "the tampered file was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_app_rolls_back_a_v2_that_crashes_before_confirming() {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path());
    let broken = executable(&installed.dir, "2.0.0", true);
    let offered = Offered::new(APP, &broken).await;

    assert_rolls_back_a_crashing_v2("update-node", || run_app(&installed, &offered)).await;
    assert_eq!(std::fs::read(&installed.app).unwrap(), installed.v1, "v1 is not back");
}

#[test]
fn the_npm_package_has_the_crate_version_and_so_has_its_addon() {
    let dir = tempfile::tempdir().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let tarball = pack(dir.path());
    assert_eq!(tarball.file_name().unwrap().to_str().unwrap(), format!("millennium-updater-{version}.tgz"));
    let app = app_dir(dir.path(), &tarball);
    let output = std::process::Command::new("node")
        .args([
            "-e",
            "console.log(require('millennium-updater').version, require('millennium-updater/package.json').version)",
        ])
        .current_dir(&app)
        .output()
        .unwrap();
    check(&output, "node");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("{version} {version}"));
}
