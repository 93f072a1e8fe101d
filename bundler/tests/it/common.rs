//! A tiny real app for the bundler tests: a C hello-world linked against zlib (so `DT_NEEDED` holds `libc.so.6` and
//! `libz.so.1`), compiled with `cc` into a temp dir, plus a generated square PNG icon, a resource file and a config.
//! Also helpers to run the CLI and the real verification tools (`dpkg-deb`, `lintian`, `rpm`, `unsquashfs`, ...).

#![allow(dead_code, clippy::unwrap_used)] // test support: failures should panic with the error

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

pub fn write_png(path: &Path, w: u32, h: u32) {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([(x * 2) as u8, (y * 2) as u8, 128, 255]));
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
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

/// A minimal 64-bit Mach-O executable (`MH_EXECUTE`) for macOS: `__PAGEZERO`, a `__TEXT` segment whose `__text`
/// section holds a `ret`, and `LC_MAIN`. `arch` is `x86_64` or `arm64`; `marker` ends up in the file so slices can be
/// told apart.
pub fn macho_executable(arch: &str, marker: &str) -> Vec<u8> {
    macho(arch, marker, false)
}

/// [`macho_executable`] with an `LC_CODE_SIGNATURE` load command, as linkers add for an ad-hoc signature (the
/// signature blob itself is zeros: only its presence is checked).
pub fn macho_executable_signed(arch: &str, marker: &str) -> Vec<u8> {
    macho(arch, marker, true)
}

fn macho(arch: &str, marker: &str, signed: bool) -> Vec<u8> {
    let (cputype, cpusubtype, ret): (u32, u32, &[u8]) = match arch {
        "x86_64" => (0x0100_0007, 3, &[0xc3]),
        "arm64" => (0x0100_000c, 0, &[0xc0, 0x03, 0x5f, 0xd6]),
        _ => panic!("unknown arch {arch}"),
    };
    const SIZE: usize = 0x4000;
    const CODE: usize = 0x3ff0;
    let mut b = Vec::new();
    let w32 = |b: &mut Vec<u8>, v: u32| b.extend_from_slice(&v.to_le_bytes());
    let w64 = |b: &mut Vec<u8>, v: u64| b.extend_from_slice(&v.to_le_bytes());
    let name = |b: &mut Vec<u8>, s: &str| {
        let mut n = [0u8; 16];
        n[..s.len()].copy_from_slice(s.as_bytes());
        b.extend_from_slice(&n);
    };
    w32(&mut b, 0xfeed_facf);
    w32(&mut b, cputype);
    w32(&mut b, cpusubtype);
    w32(&mut b, 2); // MH_EXECUTE
    w32(&mut b, if signed { 4 } else { 3 });
    w32(&mut b, 72 + 152 + 24 + if signed { 16 } else { 0 });
    w32(&mut b, 0x0020_0085); // NOUNDEFS | DYLDLINK | TWOLEVEL | PIE
    w32(&mut b, 0);
    // __PAGEZERO
    w32(&mut b, 0x19);
    w32(&mut b, 72);
    name(&mut b, "__PAGEZERO");
    w64(&mut b, 0);
    w64(&mut b, 0x1_0000_0000);
    w64(&mut b, 0);
    w64(&mut b, 0);
    for _ in 0..4 {
        w32(&mut b, 0);
    }
    // __TEXT with __text
    w32(&mut b, 0x19);
    w32(&mut b, 152);
    name(&mut b, "__TEXT");
    w64(&mut b, 0x1_0000_0000);
    w64(&mut b, SIZE as u64);
    w64(&mut b, 0);
    w64(&mut b, SIZE as u64);
    w32(&mut b, 5);
    w32(&mut b, 5);
    w32(&mut b, 1);
    w32(&mut b, 0);
    name(&mut b, "__text");
    name(&mut b, "__TEXT");
    w64(&mut b, 0x1_0000_0000 + CODE as u64);
    w64(&mut b, ret.len() as u64);
    w32(&mut b, CODE as u32);
    w32(&mut b, 2);
    w32(&mut b, 0);
    w32(&mut b, 0);
    w32(&mut b, 0x8000_0400);
    for _ in 0..3 {
        w32(&mut b, 0);
    }
    // LC_MAIN
    w32(&mut b, 0x8000_0028);
    w32(&mut b, 24);
    w64(&mut b, CODE as u64);
    w64(&mut b, 0);
    if signed {
        // LC_CODE_SIGNATURE: 16 bytes at 0x3f00.
        w32(&mut b, 0x1d);
        w32(&mut b, 16);
        w32(&mut b, 0x3f00);
        w32(&mut b, 16);
    }
    b.extend_from_slice(marker.as_bytes());
    b.resize(CODE, 0);
    b.extend_from_slice(ret);
    b.resize(SIZE, 0);
    b
}
