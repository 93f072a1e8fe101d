//! `updatable`, the self-updating example program of `millennium-updater` (`updater-client/examples/updatable.rs`):
//! its binary, and copies of it stamped with another version or as a broken build (one that crashes on start), the
//! way the example's overview describes.
//!
//! Cargo builds a package's examples only for that package's own tests, so the suites of other packages get the binary
//! from [`binary`], which runs `cargo build --workspace --example updatable` for the profile and target directory of
//! the running test: a no-op when a workspace build made it already (as `scripts/test` does), and never a stale
//! binary when only the test was rebuilt.

use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION_MARK: &[u8] = b"MILLENNIUM-UPDATABLE-VERSION:";
const BROKEN_MARK: &[u8] = b"MILLENNIUM-UPDATABLE-BROKEN:";

/// The example's binary, built (or found up to date) by Cargo for the running test's profile and target directory.
pub fn binary() -> PathBuf {
    // `…/target/<profile>/deps/<test binary>`.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev",
        other => other,
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    // The variables Cargo and nextest set for this test would reach this cargo, and some build scripts (ring's) rerun
    // when one changes: without them the build is the one of the workspace build and of a developer's run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let keep = ["CARGO_HOME", "CARGO_BUILD_JOBS", "CARGO_INCREMENTAL"].contains(&name.as_ref());
        if (name.starts_with("CARGO_") && !keep) || name.starts_with("NEXTEST") || name.starts_with("__NEXTEST") {
            command.env_remove(name.as_ref());
        }
    }
    let output = command
        .args(["build", "--workspace", "--example", "updatable", "--profile", profile, "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "building the example failed:\n{}", String::from_utf8_lossy(&output.stderr));
    let path = profile_dir.join("examples").join("updatable");
    assert!(path.exists(), "cargo built no {}", path.display());
    path
}

/// Where the values of the slots after `mark` start in `binary` (the compiler may keep more than one copy).
fn slot_starts(binary: &[u8], mark: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(pos) = binary[i..].windows(mark.len()).position(|w| w == mark) {
        i += pos + mark.len();
        starts.push(i);
    }
    assert!(!starts.is_empty(), "no `{}` slot in the example binary", String::from_utf8_lossy(mark));
    starts
}

/// A copy of `binary` whose version slot says `version` (at most 16 bytes).
pub fn stamp(binary: &[u8], version: &str) -> Vec<u8> {
    assert!(version.len() <= 16, "version `{version}` is longer than the slot this helper writes");
    let mut out = binary.to_vec();
    for start in slot_starts(binary, VERSION_MARK) {
        let slot = &mut out[start..start + 16];
        slot.fill(0);
        slot[..version.len()].copy_from_slice(version.as_bytes());
    }
    out
}

/// A copy of `binary` that is a broken build: it crashes (aborts) on start, after the rollback bookkeeping and before
/// confirming that it works.
pub fn broken(binary: &[u8]) -> Vec<u8> {
    let mut out = binary.to_vec();
    for start in slot_starts(binary, BROKEN_MARK) {
        out[start] = b'1';
    }
    out
}
