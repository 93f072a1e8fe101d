//! `examples/update.c` updates itself through the C ABI from a real update server: v1 → v2, a tampered artifact
//! refused, and a v2 that crashes before confirming rolled back to v1. Each runs twice: built plainly, and under
//! AddressSanitizer + UndefinedBehaviorSanitizer (where any report fails the test). `examples/update.cpp`, the same
//! program through the C++ RAII wrapper (`include/millennium_updater.hpp`), built with `g++ -std=c++17 -Werror`,
//! goes through the same three flows.

use std::path::{Path, PathBuf};

use millennium_testing::app::{assert_rolls_back_a_crashing_v2, assert_updates_from_v1_to_v2};
use millennium_testing::listing;

use crate::support::{Build, Offered, compile, manifest, run};

/// One of the examples: its source and the name it prints, is published and installed under.
#[derive(Debug, Clone, Copy)]
struct Example {
    source: &'static str,
    name: &'static str,
    build: Build,
}

const C: Example = Example { source: "examples/update.c", name: "update-c", build: Build::Plain };
const C_SANITIZED: Example = Example { build: Build::Sanitized, ..C };
const CPP: Example = Example { source: "examples/update.cpp", name: "update-cpp", build: Build::Plain };

/// The example, compiled as `version` (crashing before it confirms with `crashing`).
fn build_app(dir: &Path, example: Example, version: &str, crashing: bool) -> Vec<u8> {
    let out = dir.join(format!("build-{version}-{crashing}"));
    let define = format!("-DAPP_VERSION=\"{version}\"");
    let mut defines = vec![define.as_str()];
    if crashing {
        defines.push("-DCRASH_BEFORE_CONFIRMING");
    }
    compile(&manifest().join(example.source), &out, &defines, example.build);
    std::fs::read(out).unwrap()
}

/// v1 installed as `bin/<name>`, and the state directory.
struct Installed {
    app: PathBuf,
    state: PathBuf,
    v1: Vec<u8>,
}

fn install_v1(dir: &Path, example: Example) -> Installed {
    let v1 = build_app(dir, example, "1.0.0", false);
    let app = dir.join("bin").join(example.name);
    std::fs::create_dir_all(app.parent().unwrap()).unwrap();
    millennium_testing::app::write_exe(&app, &v1);
    Installed { app, state: dir.join("state"), v1 }
}

/// Runs the installed app against `offered`, off the async runtime that serves it.
async fn run_app(installed: &Installed, offered: &Offered) -> crate::support::Run {
    let (app, endpoint, pubkey, state) =
        (installed.app.clone(), offered.endpoint.clone(), offered.pubkey.clone(), installed.state.clone());
    tokio::task::spawn_blocking(move || run(&app, &[&endpoint, &pubkey, state.to_str().unwrap()])).await.unwrap()
}

async fn updates_from_v1_to_v2(example: Example) {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path(), example);
    let v2 = build_app(dir.path(), example, "2.0.0", false);
    let offered = Offered::new(example.name, &v2).await;
    let size = v2.len();
    let downloaded = format!("downloaded {size} of {size} bytes (full)");
    assert_updates_from_v1_to_v2(example.name, &installed.app, &installed.state, &v2, &downloaded, || {
        run_app(&installed, &offered)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_updates_itself_from_v1_to_v2_through_the_real_server() {
    updates_from_v1_to_v2(C).await;
}

/// The server's delta job has made the delta from the installed v1: the example reads its size, downloads it (the
/// progress reports say `delta`), and installs exactly v2; the server counted a delta download and no full one.
async fn updates_by_delta(example: Example) {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path(), example);
    let v2 = build_app(dir.path(), example, "2.0.0", false);
    let offered = Offered::with_delta(example.name, &installed.v1, &v2).await;
    let name = example.name;

    let run = run_app(&installed, &offered).await;
    assert_eq!(run.code(), Some(0), "{run:#?}");
    let lines = run.lines();
    assert_eq!(lines[..2], [format!("{name} 1.0.0"), format!("updating to 2.0.0 ({name} 2.0.0)")], "{run:#?}");
    let size: u64 = lines[2]
        .strip_prefix("a delta of ")
        .and_then(|rest| rest.strip_suffix(" bytes is offered"))
        .unwrap_or_else(|| panic!("no delta offered: {run:#?}"))
        .parse()
        .unwrap();
    assert!(size * 10 < v2.len() as u64, "a delta of {size} bytes for {} bytes", v2.len());
    assert_eq!(lines[3], format!("downloaded {size} of {size} bytes (delta)"), "{run:#?}");
    assert_eq!(lines[4], "installed 2.0.0; relaunching", "{run:#?}");
    assert_eq!(std::fs::read(&installed.app).unwrap(), v2, "v2, byte for byte, is in place");
    assert_eq!((offered.server.downloads(name, "delta").await, offered.server.downloads(name, "full").await), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_updates_itself_by_delta_and_reports_the_delta_transfer() {
    updates_by_delta(C).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cpp_example_updates_itself_by_delta_and_reports_the_delta_transfer() {
    updates_by_delta(CPP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_updates_itself_cleanly_under_asan_and_ubsan() {
    updates_from_v1_to_v2(C_SANITIZED).await;
}

async fn refuses_a_tampered_artifact(example: Example) {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path(), example);
    let v2 = build_app(dir.path(), example, "2.0.0", false);
    let offered = Offered::new(example.name, &v2).await;
    let name = example.name;
    offered.tamper();

    let run = run_app(&installed, &offered).await;
    assert_eq!(run.code(), Some(12), "not MILLENNIUM_UPDATER_ERR_VERIFICATION: {run:#?}");
    assert_eq!(run.lines(), [format!("{name} 1.0.0"), format!("updating to 2.0.0 ({name} 2.0.0)")], "{run:#?}");
    assert!(run.stderr.contains("failed verification"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: "), "{}", run.stderr);
    assert_eq!(std::fs::read(&installed.app).unwrap(), installed.v1, "the app changed");
    assert_eq!(listing(&installed.state.join("downloads")), Vec::<String>::new(), "the tampered file was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_refuses_a_tampered_artifact_and_keeps_v1() {
    refuses_a_tampered_artifact(C).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_refuses_a_tampered_artifact_cleanly_under_asan_and_ubsan() {
    refuses_a_tampered_artifact(C_SANITIZED).await;
}

async fn rolls_back_a_crashing_v2(example: Example) {
    let dir = tempfile::tempdir().unwrap();
    let installed = install_v1(dir.path(), example);
    let broken = build_app(dir.path(), example, "2.0.0", true);
    let offered = Offered::new(example.name, &broken).await;
    assert_rolls_back_a_crashing_v2(example.name, || run_app(&installed, &offered)).await;
    assert_eq!(std::fs::read(&installed.app).unwrap(), installed.v1, "{}: v1 is not back", example.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_rolls_back_a_v2_that_crashes_before_confirming() {
    rolls_back_a_crashing_v2(C).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_example_rolls_back_cleanly_under_asan_and_ubsan() {
    rolls_back_a_crashing_v2(C_SANITIZED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cpp_example_updates_itself_from_v1_to_v2_through_the_raii_wrapper() {
    updates_from_v1_to_v2(CPP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cpp_example_refuses_a_tampered_artifact_with_an_exception_carrying_the_code() {
    refuses_a_tampered_artifact(CPP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cpp_example_rolls_back_a_v2_that_crashes_before_confirming() {
    rolls_back_a_crashing_v2(CPP).await;
}
