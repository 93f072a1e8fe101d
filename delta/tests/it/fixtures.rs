//! Pairs of real builds: a Rust program compiled with `rustc -O`, stripped, in variants that differ by one embedded
//! asset or by one function. The program has a few hundred functions after the changed one, so that a change that
//! makes one function longer moves the code and the addresses of everything after it, as in a real release.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::{Path, PathBuf};
use std::process::Command;

use millennium_delta::{Header, blake2b_256};

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
pub fn builds() -> Builds {
    millennium_testing::require_tool("rustc", "rustc (rustup)");
    let dir = tempfile::tempdir().unwrap();
    let v1 = build(dir.path(), "v1", &source("the first release of the welcome page", false));
    let asset = build(dir.path(), "asset", &source("the second release of the welcome page", false));
    let function = build(dir.path(), "function", &source("the first release of the welcome page", true));
    Builds { dir, v1, asset, function }
}

/// Compiles `source` once per test run and copies the binary into `dir`. Nextest runs every test in its own process, so
/// the builds are shared through the test target's temporary directory, keyed by the source and the compiler's
/// version; a build is renamed into place when complete, so concurrent tests at worst build it twice.
fn build(dir: &Path, name: &str, source: &str) -> PathBuf {
    let version = Command::new("rustc").arg("-V").output().unwrap().stdout;
    let key = hex::encode(&blake2b_256(&[source.as_bytes(), &version].concat())[..8]);
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("delta-fixtures");
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

/// Wraps a payload made by a real tool (`bsdiff`, `zstd --patch-from`) in the container, as `make` would.
pub fn wrap(encoder: millennium_delta::Encoder, base: &Path, result: &Path, payload: &[u8]) -> Vec<u8> {
    let (base, result) = (std::fs::read(base).unwrap(), std::fs::read(result).unwrap());
    let header = Header {
        encoder,
        base_size: base.len() as u64,
        base_blake2b_256: blake2b_256(&base),
        result_size: result.len() as u64,
        result_blake2b_256: blake2b_256(&result),
        payload_size: payload.len() as u64,
        payload_blake2b_256: blake2b_256(payload),
    };
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// The names in `dir`, to check that a refusal left no temporary file behind.
pub fn listing(dir: &Path) -> Vec<String> {
    millennium_testing::listing(dir)
}
