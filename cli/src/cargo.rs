//! Building the app with `cargo`, and finding what it built.
//!
//! `cargo build --message-format json-render-diagnostics` prints one JSON message per compiled target on stdout (the
//! diagnostics stay human, on stderr); the `compiler-artifact` messages of the app's package with an `executable` are
//! its binaries, wherever `CARGO_TARGET_DIR`, `--target` or the profile put them. Nothing is guessed from paths.
//!
//! The app is built by a cargo run of its own, with the arguments a developer would type (`cargo build --release
//! --manifest-path APP/Cargo.toml`, no `-p`): cargo compiles a package once per feature set, and the feature set is
//! unified over every package of one run. Building another package in the same run would leak its features into the
//! app: the AppImage's launcher (`millennium-webview-probe`) needs its library's `cli` feature, which turns on
//! `millennium-report/json` and, through clap, `bitflags/std`, so the framework and the GTK bindings would be compiled
//! a second time, differently, and the packaged binary would not be the one `cargo build --release` makes (nor the
//! one `--format deb` alone packages). The launcher gets a cargo run of its own, from its own manifest (found in the
//! app's run: [`Built::library_manifest`]) with its `cli` feature and the app's target directory: a package outside
//! the workspace it is built from cannot be given features, and the app's dependency graph has the launcher's library
//! without them, so `-p millennium-webview-probe` in the app's workspace would build no binary. A warm tree is then a
//! no-op for `cargo build --release` and `millennium build` alike, in any order.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct Build {
    /// The app's `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// `--release` unless `debug`.
    pub debug: bool,
    /// A Rust target triple (`--target`), for cross builds.
    pub target: Option<String>,
    /// `--features`.
    pub features: Vec<String>,
    /// `--target-dir`: where another workspace's package is built so that its binaries land next to the app's.
    pub target_dir: Option<PathBuf>,
}

/// What a cargo run built.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// Its executables.
    pub executables: Vec<Executable>,
    /// Each library crate's manifest, by crate name (`millennium_webview_probe`): where a dependency's source is.
    libraries: BTreeMap<String, PathBuf>,
}

impl Built {
    /// The `Cargo.toml` of the package whose library `crate_name` was part of the build.
    pub fn library_manifest(&self, crate_name: &str) -> Option<&Path> {
        self.libraries.get(crate_name).map(PathBuf::as_path)
    }
}

/// One built executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// The package it belongs to.
    pub package: String,
    /// The binary target's name.
    pub name: String,
    /// Where cargo put it.
    pub path: PathBuf,
}

/// The `cargo` to run: `$CARGO` when this runs under cargo (`cargo millennium`), else `cargo`.
pub fn program() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

impl Build {
    /// The command line, without the program.
    fn args(&self) -> Vec<String> {
        let mut args = vec!["build".to_owned(), "--message-format".into(), "json-render-diagnostics".into()];
        args.extend(["--manifest-path".into(), self.manifest_path.display().to_string()]);
        if !self.debug {
            args.push("--release".into());
        }
        if let Some(target) = &self.target {
            args.extend(["--target".into(), target.clone()]);
        }
        if !self.features.is_empty() {
            args.extend(["--features".into(), self.features.join(",")]);
        }
        if let Some(dir) = &self.target_dir {
            args.extend(["--target-dir".into(), dir.display().to_string()]);
        }
        args
    }

    /// Runs the build (its diagnostics on stderr) and returns what it built.
    ///
    /// # Errors
    ///
    /// [`Error::Cargo`] when cargo cannot be started or the build fails.
    pub fn run(&self) -> Result<Built> {
        self.run_unless(&Stop::default())
    }

    /// [`Build::run`], ended early (cargo killed) when `stop` is triggered, e.g. because a check that runs meanwhile
    /// failed and the build would be wasted.
    ///
    /// # Errors
    ///
    /// [`Error::Cargo`] when cargo cannot be started, the build fails or it was stopped.
    pub fn run_unless(&self, stop: &Stop) -> Result<Built> {
        let args = self.args();
        let command_line = format!("cargo {}", args.join(" "));
        let failed = |status: Option<String>, source: Option<std::io::Error>| Error::Cargo {
            command: command_line.clone(),
            status,
            source,
        };
        let mut state = stop.lock();
        if state.stopped {
            return Err(failed(Some("stopped".into()), None));
        }
        let mut child = Command::new(program())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| failed(None, Some(e)))?;
        let stdout = child.stdout.take();
        state.child = Some(child);
        drop(state);
        // Read without holding the lock, so that `stop` can kill cargo meanwhile (which ends its output).
        let mut built = Built::default();
        let mut read_error = None;
        if let Some(stdout) = stdout {
            for line in std::io::BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => match parse_artifact(&line) {
                        Some(Artifact::Executable(executable)) => built.executables.push(executable),
                        Some(Artifact::Library { name, manifest }) => {
                            built.libraries.insert(name, manifest);
                        }
                        None => {}
                    },
                    Err(e) => {
                        read_error = Some(e);
                        break;
                    }
                }
            }
        }
        let mut state = stop.lock();
        let Some(mut child) = state.child.take() else {
            return Err(failed(Some("stopped".into()), None));
        };
        if let Some(e) = read_error {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(None, Some(e)));
        }
        let status = child.wait().map_err(|e| failed(None, Some(e)))?;
        if state.stopped {
            return Err(failed(Some("stopped".into()), None));
        }
        if !status.success() {
            return Err(failed(Some(status.to_string()), None));
        }
        Ok(built)
    }
}

/// Stops the cargo runs it is given to ([`Build::run_unless`]): the running one is killed, later ones do not start.
#[derive(Debug, Default)]
pub struct Stop(std::sync::Mutex<StopState>);

#[derive(Debug, Default)]
struct StopState {
    stopped: bool,
    /// The cargo that is running, while its output is read.
    child: Option<std::process::Child>,
}

impl Stop {
    /// Kills the running cargo, if any (and waits for it), and keeps any other from starting.
    pub fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        if let Some(mut child) = state.child.take() {
            // `kill` ends cargo, not the compilers it started: they finish their crate and exit (cargo records
            // nothing for them, so the next build compiles them again).
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StopState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a `compiler-artifact` message announces.
#[derive(Debug, PartialEq, Eq)]
enum Artifact {
    Executable(Executable),
    /// A library crate (its target's name) and its package's manifest.
    Library {
        name: String,
        manifest: PathBuf,
    },
}

/// The executable or library a `compiler-artifact` message announces, if any.
fn parse_artifact(line: &str) -> Option<Artifact> {
    if !line.contains("\"reason\":\"compiler-artifact\"") {
        return None;
    }
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = message.get("target")?;
    let name = target.get("name")?.as_str()?.to_owned();
    let Some(path) = message.get("executable").and_then(|e| e.as_str()).map(PathBuf::from) else {
        let is_lib = target.get("kind")?.as_array()?.iter().any(|k| k.as_str().is_some_and(|k| k.ends_with("lib")));
        let manifest = PathBuf::from(message.get("manifest_path")?.as_str()?);
        return is_lib.then_some(Artifact::Library { name, manifest });
    };
    // `path+file:///…/demo#0.1.0` or `registry+…#name@1.2.3`: the name is in the target's manifest path's package.
    let package = message
        .get("manifest_path")
        .and_then(|p| p.as_str())
        .and_then(|p| package_name(Path::new(p)).ok())
        .unwrap_or_default();
    Some(Artifact::Executable(Executable { package, name, path }))
}

/// The app's executable among what cargo built: the one `configured` (`binaries.main`) names, else the package's
/// binary named like the package, else its only one.
///
/// # Errors
///
/// When none of these is there.
pub fn main_binary(executables: &[Executable], package: &str, configured: Option<&str>) -> Result<PathBuf> {
    let own: Vec<&Executable> = executables.iter().filter(|e| e.package == package).collect();
    let configured = configured.and_then(|p| Path::new(p).file_name());
    let chosen = own
        .iter()
        .find(|e| configured.is_some_and(|name| e.path.file_name() == Some(name)))
        .or_else(|| own.iter().find(|e| e.name == package))
        .or_else(|| if own.len() == 1 { own.first() } else { None });
    chosen.map(|e| e.path.clone()).ok_or_else(|| {
        Error::usage(format!(
            "cargo built no binary to run for `{package}` (found: {})\nhint: name the main binary after the package, or set `binaries.main` in `Millennium.toml`",
            own.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The `[package] name` of a `Cargo.toml`.
///
/// # Errors
///
/// When the file cannot be read or has no package name.
pub fn package_name(manifest: &Path) -> Result<String> {
    let text = std::fs::read_to_string(manifest).map_err(Error::io("read", manifest))?;
    let value: toml::Table =
        toml::from_str(&text).map_err(|e| Error::usage(format!("`{}` is not valid TOML: {e}", manifest.display())))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::usage(format!("`{}` has no `[package] name`", manifest.display())))
}

/// The app's manifest: `path` itself when it is a `Cargo.toml`, else the `Cargo.toml` in `path` (a directory) or next
/// to it (a `Millennium.toml`).
pub fn manifest_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        return path.join("Cargo.toml");
    }
    if path.file_name().is_some_and(|n| n == "Cargo.toml") {
        return path.to_owned();
    }
    path.parent().map_or_else(|| PathBuf::from("Cargo.toml"), |dir| dir.join("Cargo.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_and_libraries_are_taken_from_cargo_messages() {
        let line = r#"{"reason":"compiler-artifact","package_id":"x","manifest_path":"/nonexistent/Cargo.toml","target":{"kind":["bin"],"name":"demo"},"executable":"/t/release/demo","filenames":["/t/release/demo"]}"#;
        let Some(Artifact::Executable(exe)) = parse_artifact(line) else { panic!("not an executable") };
        assert_eq!((exe.name.as_str(), exe.path.as_path()), ("demo", Path::new("/t/release/demo")));
        let lib = r#"{"reason":"compiler-artifact","manifest_path":"/src/probe/Cargo.toml","target":{"kind":["rlib"],"name":"probe"},"executable":null}"#;
        let library = Artifact::Library { name: "probe".into(), manifest: "/src/probe/Cargo.toml".into() };
        assert_eq!(parse_artifact(lib), Some(library));
        let build_script = r#"{"reason":"compiler-artifact","manifest_path":"/src/x/Cargo.toml","target":{"kind":["custom-build"],"name":"build-script-build"},"executable":null}"#;
        assert_eq!(parse_artifact(build_script), None);
        assert_eq!(parse_artifact(r#"{"reason":"build-finished","success":true}"#), None);
        assert_eq!(parse_artifact("not json"), None);
    }

    #[test]
    fn the_manifest_is_found_from_a_directory_or_a_millennium_toml() {
        assert_eq!(manifest_of(Path::new("app/Millennium.toml")), Path::new("app/Cargo.toml"));
        assert_eq!(manifest_of(Path::new("app/Cargo.toml")), Path::new("app/Cargo.toml"));
    }
}
