//! The wheel, the virtualenv it is installed into, and the zipapp.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use millennium_testing::app::{Run, check};
use millennium_testing::require_tool;

/// The crate's directory.
pub fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Cargo target directory this test binary was built in (`<target>/<profile>/deps/it-…`), shared with maturin's
/// build so that the wheel reuses what is compiled.
fn target_dir() -> PathBuf {
    std::env::current_exe().unwrap().ancestors().nth(3).unwrap().to_owned()
}

/// maturin: `MILLENNIUM_TEST_MATURIN` (`scripts/test` installs it from PyPI into a virtualenv in the target directory),
/// else `maturin` on PATH. Missing, the test fails.
fn maturin() -> PathBuf {
    if let Some(path) = std::env::var_os("MILLENNIUM_TEST_MATURIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "MILLENNIUM_TEST_MATURIN names `{}`, which does not exist", path.display());
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("maturin")).find(|p| p.is_file()));
    on_path.unwrap_or_else(|| {
        panic!(
            "maturin is needed by this test\nhint: `python3 -m venv V && V/bin/pip install maturin==1.16.0` and \
             MILLENNIUM_TEST_MATURIN=V/bin/maturin (scripts/test does this)"
        )
    })
}

/// Builds the wheel (maturin, this crate's pyproject.toml) and copies it into `out`; returns the copy's path.
///
/// nextest runs each test in its own process: a lock file makes them build one after the other into one directory
/// (after the first, maturin's cargo build is a no-op) instead of all at once.
pub fn build_wheel(out: &Path) -> PathBuf {
    require_tool("python3", "python3");
    let shared = target_dir().join("python-wheel-test");
    std::fs::create_dir_all(&shared).unwrap();
    let lock = std::fs::File::create(shared.join(".lock")).unwrap();
    lock.lock().unwrap();
    let wheels = shared.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    let mut command = Command::new(maturin());
    // The variables Cargo and nextest set for this test would reach maturin's cargo, and some build scripts (ring's)
    // rerun when one changes: without them the build is the one `scripts/test`'s packaging step and a developer run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let keep = ["CARGO_HOME", "CARGO_BUILD_JOBS", "CARGO_INCREMENTAL", "CARGO_TARGET_DIR"].contains(&name.as_ref());
        if (name.starts_with("CARGO_") && !keep) || name.starts_with("NEXTEST") || name.starts_with("__NEXTEST") {
            command.env_remove(name.as_ref());
        }
    }
    let output = command
        .args(["build", "--interpreter", "python3", "--out"])
        .arg(&wheels)
        .arg("--target-dir")
        .arg(target_dir())
        .current_dir(manifest())
        .output()
        .unwrap();
    check(&output, "maturin build");
    let built: Vec<PathBuf> = std::fs::read_dir(&wheels).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(built.len(), 1, "{built:?}");
    std::fs::create_dir_all(out).unwrap();
    let wheel = out.join(built[0].file_name().unwrap());
    std::fs::copy(&built[0], &wheel).unwrap();
    wheel
}

/// A fresh virtualenv in `dir` with the wheel installed (from the file only, no index); its `python`.
pub fn venv_with(dir: &Path, wheel: &Path) -> PathBuf {
    require_tool("python3", "python3-venv");
    let venv = dir.join("venv");
    check(&Command::new("python3").args(["-m", "venv"]).arg(&venv).output().unwrap(), "python3 -m venv");
    let python = venv.join("bin/python");
    let output = Command::new(&python)
        .args(["-m", "pip", "install", "--no-index", "--disable-pip-version-check", "-q"])
        .arg(wheel)
        .output()
        .unwrap();
    check(&output, "pip install");
    python
}

/// The example app as a zipapp of `version` (crashing before it confirms with `crashing`), run by `python`.
pub fn zipapp(dir: &Path, python: &Path, version: &str, crashing: bool) -> Vec<u8> {
    let source = dir.join(format!("app-{version}-{crashing}"));
    std::fs::create_dir_all(&source).unwrap();
    std::fs::copy(manifest().join("examples/app/__main__.py"), source.join("__main__.py")).unwrap();
    let crash = if crashing { "True" } else { "False" };
    std::fs::write(
        source.join("build_info.py"),
        format!("VERSION = \"{version}\"\nCRASH_BEFORE_CONFIRMING = {crash}\n"),
    )
    .unwrap();
    let out = dir.join(format!("app-{version}-{crashing}.pyz"));
    let output = Command::new(python)
        .args(["-m", "zipapp"])
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .arg("-p")
        .arg(python)
        .output()
        .unwrap();
    check(&output, "python -m zipapp");
    std::fs::read(out).unwrap()
}

/// `python app args…`.
pub fn run(python: &Path, app: &Path, args: &[&str]) -> Run {
    let output = Command::new(python).arg(app).args(args).output().unwrap();
    Run::of(output)
}
