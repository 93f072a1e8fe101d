//! Test fixtures shared by Millennium's test suites, written once: what a release manager, a server, a mirror and an
//! installed app look like to a test.
//!
//! | module | feature | what |
//! |---|---|---|
//! | [`require_tool`], [`listing`] | – | a real tool a test drives, or a loud failure with the package to install; a directory's entries |
//! | [`app`] | – | an "app" to update: a shell script printing its version, installed in a temp dir with a state dir |
//! | `keys` | `metadata` | release keys, signatures and signed files as `millennium-sign` writes them |
//! | `metadata` | `metadata` | the release-key holder's side of signed metadata: roots, release and freshness documents |
//! | `http` | `http` | a scriptable HTTP server that can misbehave in every way a network or a hostile mirror does |
//! | `server` | `server` | the real update server in this process or as its binary, its storage backend, apps registered on it |
//!
//! **Dev-only.** Every crate lists this one under `[dev-dependencies]` and nothing else: it may depend on the library
//! crates, never the reverse. A crate whose tests use it while it depends on that crate (the update server, the
//! protocol) forms a dev-dependency cycle that Cargo accepts: integration tests link one copy of the library, so its
//! types here and in the tests are the same types. A unit test (`#[cfg(test)]` inside `src/`) would see a second copy
//! with distinct types, so those do not use this crate.
//!
//! **Failing loudly.** Helpers panic with a message saying what went wrong instead of returning errors, and a missing
//! tool fails the test ([`require_tool`]) rather than skipping it, so that a machine without it cannot pass silently.

#![allow(clippy::unwrap_used, reason = "test fixtures: failing loudly at the line that broke is the point")]

pub mod app;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "metadata")]
pub mod keys;
#[cfg(feature = "metadata")]
pub mod metadata;
#[cfg(feature = "server")]
pub mod server;

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
