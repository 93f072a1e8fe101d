//! Test fixtures shared by Millennium's test suites, written once: what a release manager, a server, a mirror and an
//! installed app look like to a test.
//!
//! - [`require_tool`]: a real tool a test drives, or a loud failure naming the package to install; [`listing`]: what
//!   a directory holds; [`push_change`]: what a progress callback went through.
//! - [`macos`]: a minimal Mach-O executable, the main binary of a test `.app`; [`wine`]: a Wine prefix to install
//!   Windows installers in; [`png`]: small PNG images (icons, backgrounds).
//! - [`rust_builds`]: pairs of real Rust builds that differ by one asset or one function (delta updates);
//!   [`xorshift64`]: deterministic incompressible data.
//! - [`app`]: an "app" to update (a shell script printing its version), installed in a temp dir beside its state dir.
//! - `keys` (feature `metadata`): release keys, signatures and signed files as `millennium-sign` writes them.
//! - `metadata` (feature `metadata`): the release-key holder's side of signed metadata: roots, release and freshness
//!   documents.
//! - `http` (feature `http`): a scriptable HTTP server that misbehaves the way a network or a hostile mirror does;
//!   with the feature `https`, also over TLS with a test certificate authority (`TestCa`, made by `openssl`).
//! - `server` (feature `server`): the real update server in this process or as its binary, its storage backend, and
//!   apps registered on it.
//! - [`updatable`]: the updater's self-updating example program, built for the running test, stamped with a version
//!   or as a broken build.
//!
//! **Dev-only.** Crates list this one under `[dev-dependencies]` only: it may depend on the library crates, never the
//! reverse. When a crate's tests use it and it depends on that crate (the signing crate, the protocol, the update
//! server), Cargo accepts the dev-dependency cycle: an integration test binary links one copy of the library, so its
//! types here and in the tests are the same types. A unit test (`#[cfg(test)]` inside `src/`) would see a second copy
//! with distinct types, so unit tests do not use this crate.
//!
//! **Failing loudly.** Helpers panic with a message saying what went wrong (they return an error only where a test
//! checks it, as the CLI's), and a missing tool fails the test ([`require_tool`]) rather than skipping it, so that a
//! machine without it cannot pass silently.

#![allow(clippy::unwrap_used, reason = "test fixtures: failing loudly at the line that broke is the point")]

pub mod app;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "metadata")]
pub mod keys;
pub mod macos;
#[cfg(feature = "metadata")]
pub mod metadata;
pub mod png;
pub mod rust_builds;
#[cfg(feature = "server")]
pub mod server;
pub mod updatable;
pub mod wine;

use std::path::Path;

/// Fails the test unless `tool` is on `PATH`, naming the Debian/Ubuntu `package` that provides it (`scripts/test`
/// installs them all).
pub fn require_tool(tool: &str, package: &str) {
    let found =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()));
    assert!(found, "`{tool}` is needed by this test and is not on PATH\nhint: `apt-get install {package}`");
}

/// The names of everything in `dir` (hidden entries included), sorted; empty when `dir` does not exist.
pub fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Appends `value` unless it equals the last one: a progress callback's `transfer` becomes the list of the kinds of
/// transfer a download went through (`[Delta, DeltaFailed, Full]`).
pub fn push_change<T: PartialEq>(seen: &mut Vec<T>, value: T) {
    if seen.last() != Some(&value) {
        seen.push(value);
    }
}

/// Marsaglia's xorshift64 from `seed` (non-zero): deterministic, fast, and incompressible enough that no delta encoder
/// or compressor finds structure in it. Each item is the generator's next state.
pub fn xorshift64(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    })
}
