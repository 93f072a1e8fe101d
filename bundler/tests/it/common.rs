//! A tiny real app for the bundler tests: a C hello-world linked against zlib (so `DT_NEEDED` holds `libc.so.6` and
//! `libz.so.1`), compiled with `cc` into a temp dir, plus a generated square PNG icon, a resource file and a config.
//! Also helpers to run the CLI and the real verification tools (`dpkg-deb`, `lintian`, `rpm`, `unsquashfs`, ...).

#![allow(dead_code, clippy::unwrap_used)] // test support: failures should panic with the error

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use millennium_testing::macos::{macho_executable, macho_executable_signed};
pub use millennium_testing::png::write_png;
use millennium_testing::{listing, require_tool};

pub const EPOCH: &str = "1700000000";

pub struct TestApp {
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// Builds the app with the default `Millennium.toml`.
    pub fn new() -> TestApp {
        let app = TestApp::bare();
        app.write_config(&app.default_config());
        app
    }

    /// Builds binary, icon and resources but writes no configuration.
    pub fn bare() -> TestApp {
        require_tool("cc", "build-essential");
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("hello.c");
        std::fs::write(
            &src,
            "#include <stdio.h>\n#include <zlib.h>\nint main(int argc, char **argv) {\n\
             printf(\"hello from millennium, zlib %s, %d args\\n\", zlibVersion(), argc - 1);\n return 0;\n}\n",
        )
        .unwrap();
        let out = Command::new("cc")
            .arg("-O2")
            .arg("-o")
            .arg(dir.path().join("hello"))
            .arg(&src)
            .arg("-lz")
            .output()
            .unwrap();
        assert!(out.status.success(), "cc failed (install zlib1g-dev): {}", String::from_utf8_lossy(&out.stderr));
        write_png(&dir.path().join("icon.png"), 128, 128);
        std::fs::create_dir_all(dir.path().join("assets/sub")).unwrap();
        std::fs::write(dir.path().join("assets/data.txt"), "resource\n").unwrap();
        std::fs::write(dir.path().join("assets/sub/more.txt"), "more\n").unwrap();
        TestApp { dir }
    }

    /// The test app, its binary replaced by one that links WebKitGTK 4.1 (`libwebkit2gtk-4.1-dev` provides the
    /// link-time library).
    pub fn linking_webkitgtk() -> TestApp {
        require_tool("pkg-config", "pkg-config");
        let app = TestApp::bare();
        let src = app.path().join("web.c");
        std::fs::write(
            &src,
            "#include <stdio.h>\nunsigned webkit_get_major_version(void);\n\
             int main(int argc, char **argv) { printf(\"web app, WebKitGTK %u, %d args\\n\", webkit_get_major_version(), argc - 1); return 0; }\n",
        )
        .unwrap();
        let libs = run("pkg-config", &["--libs", "webkit2gtk-4.1"]);
        let out = Command::new("cc")
            .arg("-o")
            .arg(app.path().join("hello"))
            .arg(&src)
            .args(libs.split_whitespace())
            .output()
            .unwrap();
        assert!(out.status.success(), "cc: {}", String::from_utf8_lossy(&out.stderr));
        app
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn default_config(&self) -> String {
        r#"product-name = "Hello App"
package-name = "hello-app"
identifier = "com.example.hello"
version = "1.2.3"
description = "Tiny test app for the bundler"
long-description = "This package exists to test millennium-bundler.\n\nIt prints a greeting."
authors = ["Test Person <test@example.com>"]
license = "MIT"
homepage = "https://example.com/hello"
icons = ["icon.png"]
resources = ["assets/**/*.txt"]

[binaries]
main = "hello"

[desktop]
categories = ["Utility"]
mime-types = ["text/plain"]
deep-link-schemes = ["hello"]
"#
        .to_owned()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path().join("Millennium.toml"), text).unwrap();
    }

    pub fn manifest(&self) -> PathBuf {
        self.path().join("Millennium.toml")
    }

    /// Runs `millennium-bundler bundle --manifest-path ... --out OUT ARGS` with `SOURCE_DATE_EPOCH` set.
    pub fn bundle(&self, out: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_millennium-bundler"));
        cmd.arg("bundle").arg("--manifest-path").arg(self.manifest()).arg("--out").arg(out).args(args);
        cmd.env("SOURCE_DATE_EPOCH", EPOCH);
        for var in ["MILLENNIUM_SIGNING_PRIVATE_KEY", "TAURI_SIGNING_PRIVATE_KEY", "TAURI_SIGNING_PRIVATE_KEY_PATH"] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Bundles and asserts success; returns the produced files from `--json`.
    /// Bad input: the exit code is 2, the message names the problem (`expected`: the key, the file, a hint…), and
    /// nothing is left in the output directory, not even the staging directory.
    pub fn assert_rejected(&self, args: &[&str], env: &[(&str, &str)], expected: &[&str]) {
        let out = self.path().join("out");
        let o = self.bundle(&out, args, env);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        for e in expected {
            assert!(err.contains(e), "expected `{e}` in:\n{err}");
        }
        assert!(listing(&out).is_empty(), "output left behind: {:?}", listing(&out));
    }

    pub fn bundle_ok(&self, out: &Path, formats: &str, env: &[(&str, &str)]) -> Vec<serde_json::Value> {
        let output = self.bundle(out, &["--format", formats, "--json"], env);
        assert!(output.status.success(), "bundle failed: {}\n{}", stderr(&output), stdout(&output));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        report["files"].as_array().unwrap().clone()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a tool and asserts success; returns stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("could not run {program}: {e}"));
    assert!(out.status.success(), "`{program} {}` failed: {}\n{}", args.join(" "), stderr(&out), stdout(&out));
    stdout(&out)
}

/// The single file in `dir` whose name ends with `suffix`.
pub fn find(dir: &Path, suffix: &str) -> PathBuf {
    let matches: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(matches.len(), 1, "expected one `*{suffix}` in {}: {matches:?}", dir.display());
    matches[0].clone()
}
