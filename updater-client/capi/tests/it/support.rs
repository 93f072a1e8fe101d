//! Building and running the C programs, plain or under AddressSanitizer + UndefinedBehaviorSanitizer; the real update
//! server offering version 2.0.0 is `millennium_testing::server::Offered` (shared with the Python and Node packages'
//! tests).

use std::path::{Path, PathBuf};
use std::process::Command;

pub use millennium_testing::app::Run;
use millennium_testing::require_tool;
pub use millennium_testing::server::Offered;

/// The app id the C programs are published under.
pub const APP: &str = "update-c";

/// The crate's directory.
pub fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding this build's `libmillennium_updater_capi.so` (and `.a`): `target/<profile>/deps`, where
/// Cargo builds it for the tests, else `target/<profile>`.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let dir = [deps, deps.parent().unwrap()]
        .into_iter()
        .find(|d| d.join("libmillennium_updater_capi.so").exists())
        .unwrap_or(deps)
        .to_owned();
    assert!(
        dir.join("libmillennium_updater_capi.so").exists(),
        "no libmillennium_updater_capi.so in {}",
        dir.display()
    );
    dir
}

/// How a C program is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Plain,
    /// gcc's AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer; any report ends the program.
    Sanitized,
}

/// Compiles `source` (with `defines`, `-DNAME=VALUE`) to `out`, linked to the `cdylib`: C11 with `cc`, or C++17
/// with `g++` for a `.cpp` file (the RAII wrapper's language level).
pub fn compile(source: &Path, out: &Path, defines: &[&str], build: Build) -> PathBuf {
    let cpp = source.extension().is_some_and(|e| e == "cpp");
    let mut command = if cpp {
        require_tool("g++", "g++");
        let mut command = Command::new("g++");
        command.arg("-std=c++17");
        command
    } else {
        require_tool("cc", "gcc");
        let mut command = Command::new("cc");
        command.arg("-std=c11");
        command
    };
    command.args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-pthread", "-g"]);
    if build == Build::Sanitized {
        command.args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]);
    }
    command.args(defines).arg("-o").arg(out).arg(source).arg("-I").arg(manifest().join("include"));
    command.arg("-L").arg(lib_dir()).arg("-lmillennium_updater_capi");
    let output = command.output().unwrap();
    assert!(output.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&output.stderr));
    out.to_owned()
}

/// Runs `program` with `args`, finding the `cdylib` through `LD_LIBRARY_PATH`. A sanitizer report fails the test
/// whatever the exit status.
pub fn run(program: &Path, args: &[&str]) -> Run {
    let output = Command::new(program)
        .args(args)
        .env("LD_LIBRARY_PATH", lib_dir())
        // Leaks are checked at exit; `abort_on_error=0` keeps a report an ordinary failure with its text on stderr.
        .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86")
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=87")
        .output()
        .unwrap();
    let run = Run::of(output);
    for report in ["AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:"] {
        assert!(!run.stderr.contains(report), "a sanitizer report:\n{}", run.stderr);
    }
    run
}
