//! Pairs of real builds for delta updates: a Rust program compiled with `rustc -O`, stripped, in variants that differ by
//! one embedded asset or by one function. The program has a few hundred functions after the changed one, so that a
//! change that makes one function longer moves the code and the addresses of everything after it, as in a real
//! release. Used by `millennium-delta`'s tests and by the delta update tests of the updater and the end-to-end suite.

use std::path::{Path, PathBuf};
use std::process::Command;

/// FNV-1a of `data`, in hex: names a cached build (stable across processes and Rust versions, unlike `DefaultHasher`).
fn cache_key(data: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in data {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A temporary directory with two or three builds in it.
#[derive(Debug)]
pub struct Builds {
    pub dir: tempfile::TempDir,
    /// The first release.
    pub v1: PathBuf,
    /// v1 with one embedded asset changed.
    pub asset: PathBuf,
    /// v1 with one function changed (longer, so that the code after it moves).
    pub function: PathBuf,
}

impl Builds {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Builds v1 and its two variants.
pub fn builds(cache: &Path) -> Builds {
    crate::require_tool("rustc", "rustc (rustup)");
    let dir = tempfile::tempdir().unwrap();
    let v1 = build(cache, dir.path(), "v1", &source("the first release of the welcome page", false));
    let asset = build(cache, dir.path(), "asset", &source("the second release of the welcome page", false));
    let function = build(cache, dir.path(), "function", &source("the first release of the welcome page", true));
    Builds { dir, v1, asset, function }
}

/// Compiles `source` once per test run and copies the binary into `dir`. Nextest runs every test in its own process, so
/// the builds are shared through `cache` (the test target's temporary directory, `CARGO_TARGET_TMPDIR`, which every
/// crate's tests share), keyed by the source and the compiler's version; a build is renamed into place when complete,
/// so concurrent tests at worst build it twice.
fn build(cache: &Path, dir: &Path, name: &str, source: &str) -> PathBuf {
    let version = Command::new("rustc").arg("-V").output().unwrap().stdout;
    let key = cache_key(&[source.as_bytes(), &version].concat());
    let cache = cache.join("delta-fixtures");
    std::fs::create_dir_all(&cache).unwrap();
    let built = cache.join(format!("{name}-{key}"));
    if !built.exists() {
        let work = tempfile::tempdir_in(&cache).unwrap();
        let src = work.path().join(format!("{name}.rs"));
        std::fs::write(&src, source).unwrap();
        let out = work.path().join(name);
        let status = Command::new("rustc")
            .args(["-O", "-C", "strip=symbols", "-C", "codegen-units=1", "--edition", "2021", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .unwrap();
        assert!(status.success(), "rustc failed on {}", src.display());
        std::fs::rename(&out, &built).unwrap();
    }
    let copy = dir.join(name);
    std::fs::copy(&built, &copy).unwrap();
    copy
}

/// Functions after the changed one.
const FUNCTIONS: usize = 150;

fn source(asset: &str, changed_function: bool) -> String {
    // The one function that changes: v2 does more work, so its code is longer.
    let step = if changed_function {
        "fn step(x: u64) -> u64 { let y = x.rotate_left(7) ^ 0x9e37_79b9; y.wrapping_mul(31).wrapping_add(y >> 3) ^ (y % 1009) }"
    } else {
        "fn step(x: u64) -> u64 { x.rotate_left(7) ^ 0x9e37_79b9 }"
    };
    let mut s = format!(
        "static ASSET: &str = \"<html><body><h1>Welcome</h1><p>{asset}</p></body></html>\";\n\
         #[inline(never)] {step}\n"
    );
    // Code after the changed function: distinct, not inlined, all reachable from main.
    for i in 0..FUNCTIONS {
        s.push_str(&format!(
            "#[inline(never)] fn f{i}(v: &mut Vec<u64>, s: &str) -> String {{ v.push(step({i}) ^ v.len() as u64); \
             v.sort_unstable(); format!(\"{{}}-{i}-{{:?}}\", s.len(), v.iter().rev().take({}).collect::<Vec<_>>()) }}\n",
            i % 7 + 1
        ));
    }
    s.push_str("fn main() {\n    let mut v = Vec::new();\n    let mut out = String::from(ASSET);\n");
    for i in 0..FUNCTIONS {
        s.push_str(&format!("    out.push_str(&f{i}(&mut v, &out));\n"));
    }
    s.push_str(
        "    if std::env::args().count() > 5 { println!(\"{out}\"); } else { println!(\"{}\", out.len()); }\n}\n",
    );
    s
}
