//! `examples/app` (a zipapp) updates itself with the installed wheel from the real update server: v1 → v2, a tampered
//! artifact refused (`VerificationError`, code 12, with its hint) with v1 kept, and a v2 that crashes before
//! confirming rolled back to v1. And the wheel is the abi3 wheel of the crate's version.

use std::path::{Path, PathBuf};

use millennium_testing::app::{assert_rolls_back_a_crashing_v2, assert_updates_from_v1_to_v2};
use millennium_testing::listing;
use millennium_testing::server::Offered;

use crate::support::{Run, build_wheel, run, venv_with, zipapp};

const APP: &str = "update-py";

/// The wheel installed in a fresh virtualenv, and v1 of the app installed as `bin/update-py.pyz`.
struct Installed {
    python: PathBuf,
    app: PathBuf,
    state: PathBuf,
    v1: Vec<u8>,
}

fn install_v1(dir: &Path) -> Installed {
    let wheel = build_wheel(&dir.join("wheels"));
    let python = venv_with(dir, &wheel);
    let v1 = zipapp(dir, &python, "1.0.0", false);
    let app = dir.join("bin").join(format!("{APP}.pyz"));
    std::fs::create_dir_all(app.parent().unwrap()).unwrap();
    std::fs::write(&app, &v1).unwrap();
    Installed { python, app, state: dir.join("state"), v1 }
}

/// Runs the installed app against `offered`, off the async runtime that serves it.
async fn run_app(installed: &Installed, offered: &Offered) -> Run {
    let (python, app, endpoint, pubkey, state) = (
        installed.python.clone(),
        installed.app.clone(),
        offered.endpoint.clone(),
        offered.pubkey.clone(),
        installed.state.clone(),
    );
    tokio::task::spawn_blocking(move || run(&python, &app, &[&endpoint, &pubkey, state.to_str().unwrap()]))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_app_updates_itself_from_v1_to_v2_through_the_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path());
    let v2 = zipapp(dir.path(), &installed.python, "2.0.0", false);
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
async fn the_python_app_refuses_a_tampered_artifact_with_a_verification_error_and_keeps_v1() {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path());
    let v2 = zipapp(dir.path(), &installed.python, "2.0.0", false);
    let offered = Offered::new(APP, &v2).await;
    offered.tamper();

    let run = run_app(&installed, &offered).await;
    assert_eq!(run.code(), Some(12), "not the verification code: {run:#?}");
    assert_eq!(run.lines(), ["update-py 1.0.0", "updating to 2.0.0 (update-py 2.0.0)"], "{run:#?}");
    assert!(run.stderr.starts_with("error (verification, 12): "), "{}", run.stderr);
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
    let hint = run.stderr.lines().find_map(|l| l.strip_prefix("hint from the exception: ")).unwrap();
    assert!(hint != "None" && !hint.is_empty(), "the exception has no hint: {}", run.stderr);
    assert_eq!(std::fs::read(&installed.app).unwrap(), installed.v1, "the app changed");
    assert_eq!(listing(&installed.state.join("downloads")), Vec::<String>::new(), "the tampered file was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_app_rolls_back_a_v2_that_crashes_before_confirming() {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path());
    let broken = zipapp(dir.path(), &installed.python, "2.0.0", true);
    let offered = Offered::new(APP, &broken).await;

    assert_rolls_back_a_crashing_v2("update-py", || run_app(&installed, &offered)).await;
    assert_eq!(std::fs::read(&installed.app).unwrap(), installed.v1, "v1 is not back");
}

#[test]
fn the_wheel_is_one_abi3_wheel_of_the_crate_version() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = build_wheel(&dir.path().join("wheels"));
    let name = wheel.file_name().unwrap().to_str().unwrap().to_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert!(name.starts_with(&format!("millennium_updater-{version}-cp39-abi3-")), "{name}");
    let python = venv_with(dir.path(), &wheel);
    let output = std::process::Command::new(&python)
        .args(["-c", "import importlib.metadata as m, millennium_updater as mu; print(mu.__version__, m.version('millennium-updater'))"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), format!("{version} {version}"), "{output:#?}");
}
