//! Compiles `tests/c/hello.c` against `include/millennium.h` with the system C compiler (`-Wall -Wextra -Werror`),
//! links it to the `cdylib`, and runs it under `xvfb-run`: its page calls the C command `add` and reports the sum
//! to the C command `report`, which prints it and ends the app.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding this build's `libmillennium_capi.so`: `target/<profile>/deps` (where `cargo test` leaves
/// it), else `target/<profile>` (where `cargo build` puts it).
fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()].into_iter().find(|d| d.join("libmillennium_capi.so").exists()).unwrap_or(deps).into()
}

#[test]
fn a_c_program_opens_a_window_and_answers_an_ipc_call() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = artifact_dir();
    assert!(lib_dir.join("libmillennium_capi.so").exists(), "no `libmillennium_capi.so` in {}", lib_dir.display());
    let out = tempfile::tempdir().unwrap();
    let program = out.path().join("hello-c");
    let compiled = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&program)
        .arg(manifest.join("tests/c/hello.c"))
        .arg("-I")
        .arg(manifest.join("include"))
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lmillennium_capi")
        .output()
        .expect("cannot run `cc`\nhint: install `build-essential`");
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));

    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1024x768x24"])
        .arg(&program)
        .env("LD_LIBRARY_PATH", &lib_dir)
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        .output()
        .expect("cannot run `xvfb-run`\nhint: install `xvfb xauth`");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    assert_eq!(stdout, "calls 1\nreport {\"guessed\":\"undefined\",\"sum\":5}\n", "stderr:\n{stderr}");
}

#[test]
fn the_header_declares_every_exported_function() {
    let header = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/millennium.h")).unwrap();
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let exported: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("pub unsafe extern \"C\" fn "))
        .map(|l| l.split('(').next().unwrap())
        .collect();
    assert_eq!(exported.len(), 8, "{exported:?}");
    for name in exported {
        assert!(header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}(")), "`{name}` missing");
    }
}
