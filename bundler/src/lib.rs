//! `millennium-bundler`: turns a built Millennium app into Linux installers (`.deb`, `.rpm`, AppImage), Windows
//! installers ([`windows`]: `.msi`, NSIS `-setup.exe`), macOS `.app` bundles and `.dmg` disk images ([`macos`], on any
//! OS) and signed updater artifacts, offline and reproducibly.
//!
//! # Pipeline
//!
//! [`bundle`] checks the configuration and everything the requested formats need, builds each platform's formats
//! ([`linux`], [`windows`], [`macos`]) into artifacts (a name, bytes or a directory tree, the format and the role),
//! signs the ones the updater installs ([`updater`]) as each is built, handing it to [`Progress::finished`], and
//! commits the outputs atomically: they are written into a staging directory inside the output directory and renamed
//! into place only when every requested format has succeeded, so a failed run leaves nothing behind (the stages in
//! detail: `src/pipeline.rs`). [`config`] reads and validates `Millennium.toml`; [`tree`] is the in-memory file tree
//! every format serialises.
//!
//! # Reproducibility
//!
//! With `SOURCE_DATE_EPOCH` set, that time is the only one embedded anywhere (tar/ar/rpm/squashfs mtimes, changelog
//! date, signature timestamp, manifest `pub_date`); entries are sorted and root-owned; compression output does not
//! depend on the number of threads.

mod artifact;
pub mod config;
mod error;
pub mod icons;
pub mod linux;
pub mod macos;
mod pipeline;
pub mod tauri_import;
pub mod tree;
pub mod updater;
pub mod windows;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

pub use artifact::Format;
pub use config::App;
pub use error::{Error, Result};
pub use pipeline::bundle;

/// Environment variable holding the reproducible build time.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Target CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this bundler runs on, when supported.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// `x86_64` / `aarch64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Debian architecture name.
    pub fn deb(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// rpm architecture name.
    pub fn rpm(self) -> &'static str {
        self.as_str()
    }

    /// GNU multiarch triplet.
    pub fn gnu_triplet(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu",
            Arch::Aarch64 => "aarch64-linux-gnu",
        }
    }

    /// The update protocol's architecture.
    pub fn protocol(self) -> millennium_update_protocol::Arch {
        match self {
            Arch::X86_64 => millennium_update_protocol::Arch::X86_64,
            Arch::Aarch64 => millennium_update_protocol::Arch::Aarch64,
        }
    }
}

/// How file names name the architectures of an artifact: the one architecture, or `universal`.
pub(crate) fn arch_label(arches: &[Arch]) -> &'static str {
    match arches {
        [one] => one.as_str(),
        _ => "universal",
    }
}

impl std::str::FromStr for Arch {
    type Err = Error;

    fn from_str(s: &str) -> Result<Arch> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            _ => Err(Error::Usage { message: format!("unknown target `{s}`\nhint: use `x86_64` or `aarch64`") }),
        }
    }
}

/// What to bundle.
#[derive(Debug, Clone)]
pub struct Options {
    /// The app's `Cargo.toml`, `Millennium.toml` or directory.
    pub manifest_path: PathBuf,
    /// Formats to produce.
    pub formats: BTreeSet<Format>,
    pub arch: Arch,
    /// Output directory (created if missing).
    pub out_dir: PathBuf,
    pub overrides: config::Overrides,
    /// The AppImage's webview launcher is still being made by the caller (`millennium build` compiles it while the
    /// other formats are bundled): the AppImage waits for it right before reading it, instead of [`bundle`] requiring
    /// it up front. `None`: it is there already, or not needed.
    pub launcher: Option<Pending>,
}

/// A file the caller is still making while [`bundle`] runs. Only the format that reads it waits for it, there;
/// the other formats are built meanwhile. [`Pending::new`] also returns the [`Resolver`] that ends the wait.
#[derive(Debug, Clone)]
pub struct Pending(Arc<Latch>);

/// The outcome of a [`Pending`] file, once there is one.
#[derive(Debug, Default)]
struct Latch {
    outcome: Mutex<Option<std::result::Result<(), String>>>,
    resolved: Condvar,
}

impl Latch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<std::result::Result<(), String>>> {
        self.outcome.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the outcome and wakes every waiter.
    fn set(&self, outcome: std::result::Result<(), String>) {
        *self.lock() = Some(outcome);
        self.resolved.notify_all();
    }
}

impl Pending {
    /// A file to wait for, and what ends the wait.
    pub fn new() -> (Pending, Resolver) {
        let latch = Arc::new(Latch::default());
        (Pending(Arc::clone(&latch)), Resolver(Some(latch)))
    }

    /// Blocks until the file is there (`Ok`) or will not be (`Err`: the caller's reason).
    pub fn wait(&self) -> std::result::Result<(), String> {
        let mut outcome = self.0.lock();
        loop {
            if let Some(outcome) = &*outcome {
                return outcome.clone();
            }
            outcome = self.0.resolved.wait(outcome).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// Ends the wait for a [`Pending`] file. Dropped unresolved (its maker failed early or panicked), it ends the wait
/// with a failure, so a bundle never waits forever.
#[derive(Debug)]
pub struct Resolver(Option<Arc<Latch>>);

impl Resolver {
    /// The file is there (`Ok`), or will not be (`Err`, why).
    pub fn resolve(mut self, outcome: std::result::Result<(), String>) {
        if let Some(latch) = self.0.take() {
            latch.set(outcome);
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        if let Some(latch) = self.0.take() {
            latch.set(Err("its maker ended without making it".into()));
        }
    }
}

/// One produced file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Produced {
    /// Format that produced it (`deb`, `rpm`, `appimage`, `updater`).
    pub format: &'static str,
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 (of a directory such as a `.app`: of its reproducible tar, as in the updater tarball).
    pub sha256: String,
}

/// Result of a bundle run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub files: Vec<Produced>,
    /// Things worth a warning (unresolved libraries, ...).
    pub warnings: Vec<String>,
}

/// Progress notifications for a display, and each installer the moment it is finished.
pub trait Progress {
    /// A new step starts.
    fn step(&self, message: &str);

    /// An installer the updater installs is finished: built, and signed with the `updater` format. Called on the
    /// thread that called [`bundle`], once per installer, in the order they finish (the Linux formats are built in
    /// parallel), while other formats may still be building and before anything is written: a caller can start on it
    /// (`millennium release` uploads it). The run can still fail afterwards, and then nothing is written, so it is not
    /// final until [`bundle`] returns `Ok`; the bytes are those the output file will hold.
    fn finished(&self, _installer: &Finished<'_>) {}
}

/// An installer handed to [`Progress::finished`].
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// The format that made it.
    pub format: Format,
    /// Its file name in the output directory.
    pub name: &'a str,
    /// Its contents.
    pub bytes: &'a [u8],
    /// Its `.sig` file's text, with the `updater` format.
    pub signature: Option<&'a str>,
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn step(&self, _message: &str) {}
}

/// The build time: `SOURCE_DATE_EPOCH` when set, else now.
pub fn build_time(env: &dyn Fn(&str) -> Option<String>) -> Result<u64> {
    match env(SOURCE_DATE_EPOCH) {
        Some(v) => v.trim().parse::<u64>().map_err(|_| Error::Usage {
            message: format!(
                "`{SOURCE_DATE_EPOCH}={v}` is not a number of seconds\nhint: use `git log -1 --format=%ct`"
            ),
        }),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_file_is_waited_for_and_a_dropped_resolver_ends_the_wait_with_a_failure() {
        let (pending, resolver) = Pending::new();
        let waiter = std::thread::spawn({
            let pending = pending.clone();
            move || pending.wait()
        });
        resolver.resolve(Ok(()));
        assert_eq!(waiter.join().unwrap(), Ok(()));
        assert_eq!(pending.wait(), Ok(()));

        let (pending, resolver) = Pending::new();
        let waiter = std::thread::spawn(move || pending.wait());
        drop(resolver);
        assert_eq!(waiter.join().unwrap(), Err("its maker ended without making it".to_owned()));
    }
}
