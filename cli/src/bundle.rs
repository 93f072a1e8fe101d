//! `millennium build`: `cargo build --release`, then the bundler's library on what cargo built (the binary cargo
//! reports, wherever `CARGO_TARGET_DIR` puts it), with the updater's `.sig` files when a signing key is available.
//!
//! The configuration is read before cargo runs, so a missing `Millennium.toml` is reported at once. With an AppImage
//! the webview launcher (`millennium-webview-probe`, which `AppRun` starts the app through) is built too, by a
//! second cargo run with the same profile and target directory, so it lands next to the app's binary where the
//! bundler looks for it; a run of its own, so that the app's binary is exactly what `cargo build --release` makes
//! (see [`crate::cargo`]). Only the AppImage reads the launcher, so its cargo run goes on while the bundler reads the
//! binaries and builds the other formats ([`while_launcher_builds`]); the AppImage waits for it there.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use millennium_bundler::config::Overrides;
use millennium_bundler::{App, Arch, Format, Options, Pending, Progress};
use millennium_sign::SecretKey;

use crate::cargo;
use crate::error::{Error, Result};

/// What to build and bundle (shared by `build` and `release`).
#[derive(Debug, Clone, Args)]
pub struct BuildOptions {
    /// Comma-separated formats: deb, rpm, appimage, msi, nsis, app, dmg (`updater` is added when a key is given).
    #[arg(long, value_delimiter = ',', default_value = "deb,rpm,appimage")]
    pub format: Vec<String>,
    /// Target architecture: x86_64 or aarch64 (default: this machine's).
    #[arg(long)]
    pub target: Option<String>,
    /// The app's `Cargo.toml` (or its directory, or its `Millennium.toml`).
    #[arg(long, default_value = "Cargo.toml")]
    pub manifest_path: PathBuf,
    /// Where to write the bundles [default: `target/bundle` in the app's directory].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Build with cargo's `dev` profile instead of `--release` (quicker; for trying the packaging out).
    #[arg(long)]
    pub debug: bool,
    /// The Windows executable for `msi` and `nsis` (cross-compiled, or built on a Windows runner).
    #[arg(long)]
    pub windows_binary: Option<PathBuf>,
    /// The macOS executable for `app` and `dmg` (built on a macOS runner, or cross-compiled).
    #[arg(long)]
    pub macos_binary: Option<PathBuf>,
    /// The signing key file (default: `MILLENNIUM_SIGNING_PRIVATE_KEY`, text or path; password from
    /// `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

/// The app's configuration as read before building.
#[derive(Debug)]
pub struct Prepared {
    /// The app's `Cargo.toml`.
    pub manifest: PathBuf,
    /// Its configuration (binaries not yet checked).
    pub app: App,
    /// The requested formats, `updater` included when signing.
    pub formats: BTreeSet<Format>,
    /// The target architecture.
    pub arch: Arch,
    /// The output directory.
    pub out: PathBuf,
}

impl BuildOptions {
    /// Reads and checks the configuration and the options, before anything is built.
    ///
    /// # Errors
    ///
    /// No `Millennium.toml`, an invalid one, an unknown format or target.
    pub fn prepare(&self, signing: bool) -> Result<Prepared> {
        let manifest = cargo::manifest_of(&self.manifest_path);
        let manifest = std::path::absolute(&manifest).map_err(Error::io("find", &manifest))?;
        if !manifest.is_file() {
            return Err(Error::usage(format!(
                "no `{}`\nhint: run in the app's directory, or pass `--manifest-path PATH/Cargo.toml`; `millennium new NAME` starts an app",
                manifest.display()
            )));
        }
        let mut formats =
            self.format.iter().map(|f| f.trim().parse()).collect::<std::result::Result<BTreeSet<Format>, _>>()?;
        if signing {
            formats.insert(Format::Updater);
        }
        let arch = match &self.target {
            Some(target) => target.parse()?,
            None => Arch::host().ok_or_else(|| Error::usage("unsupported host architecture\nhint: pass `--target`"))?,
        };
        // The binaries do not exist yet: `given_binaries_only` skips their check, which `bundle` does after the build.
        let app = App::load(&manifest, &Overrides { given_binaries_only: true, ..self.overrides() })?;
        let out = self.out.clone().unwrap_or_else(|| app.root.join("target").join("bundle"));
        Ok(Prepared { manifest, app, formats, arch, out })
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            windows_binary: self.windows_binary.clone(),
            macos_binary: self.macos_binary.clone(),
            ..Overrides::default()
        }
    }
}

/// Whether the formats need this machine's build of the app: the Linux packages do, and `.app`/`.dmg` do unless a
/// macOS build is given; MSI and NSIS always package the given Windows build.
fn needs_app_build(options: &BuildOptions, formats: &BTreeSet<Format>) -> bool {
    formats.iter().any(|f| match f {
        Format::Deb | Format::Rpm | Format::AppImage => true,
        Format::App | Format::Dmg => options.macos_binary.is_none(),
        _ => false,
    })
}

/// What [`compile`] built: the app, and the AppImage's launcher still to be built.
#[derive(Debug, Default)]
pub struct Compiled {
    /// The app's main binary; `None` when the formats only package given Windows and macOS builds.
    pub main: Option<PathBuf>,
    /// The launcher's cargo run, when the AppImage needs one: [`while_launcher_builds`] runs it.
    launcher: Option<Launcher>,
}

/// Runs cargo for the app and returns its main binary, with the AppImage's launcher build when it needs one (not run
/// yet: only the AppImage reads the launcher, so it is built while the other formats are bundled); nothing when the
/// formats only package given Windows and macOS builds. `stop` ends it early.
///
/// # Errors
///
/// A failed or stopped build, a build that produced no binary for the app, or no launcher for an AppImage that needs
/// one.
pub fn compile(options: &BuildOptions, prepared: &Prepared, stop: &cargo::Stop) -> Result<Compiled> {
    if !needs_app_build(options, &prepared.formats) {
        return Ok(Compiled::default());
    }
    let package = cargo::package_name(&prepared.manifest)?;
    let build = cargo::Build {
        manifest_path: prepared.manifest.clone(),
        debug: options.debug,
        target: (Some(prepared.arch) != Arch::host()).then(|| format!("{}-unknown-linux-gnu", prepared.arch.as_str())),
        ..cargo::Build::default()
    };
    let built = build.run_unless(stop)?;
    let main = cargo::main_binary(&built.executables, &package, prepared.app.config.binaries.main.as_deref())?;
    let launcher = builds_launcher(prepared).then(|| Launcher::of(&build, &built, &main)).transpose()?;
    Ok(Compiled { main: Some(main), launcher })
}

/// The launcher's binary name, which the bundler looks for next to the app's.
pub const LAUNCHER: &str = "millennium-webview-probe";

/// The cargo run that builds the AppImage's launcher next to the app's binary.
#[derive(Debug)]
struct Launcher {
    build: cargo::Build,
    /// Where it must land: next to the app's binary.
    expected: PathBuf,
}

impl Launcher {
    /// A cargo run of its own: from the manifest of the `millennium-webview-probe` the app's build compiled (the
    /// framework's, wherever it is), with the `cli` feature its binary needs, into the app's target directory.
    fn of(app: &cargo::Build, built: &cargo::Built, main: &Path) -> Result<Launcher> {
        let manifest = built.library_manifest(&LAUNCHER.replace('-', "_")).ok_or_else(|| {
            Error::usage(format!(
                "the app depends on `millennium` but its build has no `{LAUNCHER}`, the AppImage's webview \
                 launcher\nhint: depend on the framework's `millennium` crate, or set `appimage.webview-launcher` in \
                 `Millennium.toml`"
            ))
        })?;
        // TARGET_DIR[/TRIPLE]/PROFILE/app
        let levels = if app.target.is_some() { 3 } else { 2 };
        let target_dir = main.ancestors().nth(levels).map(Path::to_owned);
        let build = cargo::Build {
            manifest_path: manifest.to_owned(),
            features: vec!["cli".to_owned()],
            target_dir,
            ..app.clone()
        };
        Ok(Launcher { build, expected: main.with_file_name(LAUNCHER) })
    }

    /// Runs cargo and checks that the launcher is where the bundler looks for it.
    fn build(&self, stop: &cargo::Stop) -> Result<()> {
        let built = self.build.run_unless(stop)?;
        if built.executables.iter().any(|e| e.name == LAUNCHER && e.path == self.expected) {
            return Ok(());
        }
        Err(Error::usage(format!(
            "cargo built no `{LAUNCHER}` at {} from {}\nhint: set `appimage.webview-launcher` in `Millennium.toml` to a \
             launcher you build yourself",
            self.expected.display(),
            self.build.manifest_path.display()
        )))
    }
}

/// Runs `work` (the bundling) while the AppImage's launcher is built, handing it the launcher as [`Pending`] for the
/// bundler, which waits for it only where the AppImage reads it. A failed launcher build is the error, whatever
/// `work` then failed with (a launcher that did not come); a failed `work` stops the launcher's cargo run, which is
/// then of no use.
///
/// # Errors
///
/// The launcher's failure, else `work`'s.
pub fn while_launcher_builds<T>(compiled: &Compiled, work: impl FnOnce(Option<&Pending>) -> Result<T>) -> Result<T> {
    let Some(launcher) = &compiled.launcher else {
        return work(None);
    };
    let (pending, resolver) = Pending::new();
    let stop = cargo::Stop::default();
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (stop, failed) = (&stop, &failed);
        let building = scope.spawn(move || {
            let built = launcher.build(stop);
            // Before the bundler learns of it, so that it counts as the cause of whatever the bundler fails with.
            failed.store(built.is_err(), Ordering::SeqCst);
            resolver.resolve(built.as_ref().copied().map_err(ToString::to_string));
            built
        });
        let result = work(Some(&pending));
        let failed_first = failed.load(Ordering::SeqCst);
        if result.is_err() && !failed_first {
            stop.stop();
        }
        let built = building.join().unwrap_or_else(|_| Err(Error::usage("the thread building the launcher panicked")));
        match (result, built) {
            (_, Err(launcher)) if failed_first => Err(launcher),
            (Err(e), _) => Err(e),
            (Ok(done), built) => built.map(|()| done),
        }
    })
}

/// Whether the AppImage's webview launcher is built with the app (an AppImage of an app on the framework, without
/// `appimage.webview-launcher`): `millennium-webview-probe` next to the app's binary.
pub fn builds_launcher(prepared: &Prepared) -> bool {
    prepared.formats.contains(&Format::AppImage)
        && prepared.app.config.appimage.webview_launcher.is_none()
        && depends_on_framework(&prepared.manifest)
}

/// Whether the app depends on the framework (whose dependency graph has the webview launcher).
fn depends_on_framework(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest).is_ok_and(|text| {
        toml::from_str::<toml::Table>(&text).is_ok_and(|table| {
            table.get("dependencies").and_then(|d| d.as_table()).is_some_and(|d| d.contains_key("millennium"))
        })
    })
}

/// Bundles the built app: every requested format, signed with `key` when given, with the AppImage's `launcher`
/// when it is still being built ([`while_launcher_builds`]).
///
/// # Errors
///
/// What the bundler reports.
pub fn bundle(
    options: &BuildOptions,
    prepared: &Prepared,
    main_binary: Option<PathBuf>,
    launcher: Option<&Pending>,
    key: Option<&SecretKey>,
    progress: &dyn Progress,
) -> Result<millennium_bundler::Report> {
    let overrides = Overrides { main_binary, ..options.overrides() };
    let bundle_options = Options {
        manifest_path: prepared.manifest.clone(),
        formats: prepared.formats.clone(),
        arch: prepared.arch,
        out_dir: prepared.out.clone(),
        overrides,
        launcher: launcher.cloned(),
    };
    let env = crate::keys::bundler_env(key)?;
    Ok(millennium_bundler::bundle(&bundle_options, &env, progress)?)
}

/// `millennium build`.
///
/// # Errors
///
/// Bad configuration, a failed build, or a bundling failure.
pub fn run(options: &BuildOptions, json: bool) -> Result<millennium_bundler::Report> {
    let key = crate::keys::open(options.key.as_deref())?;
    let prepared = options.prepare(key.is_some())?;
    if key.is_none() {
        eprintln!("note: no signing key, so no updater signatures (`--key`, or `MILLENNIUM_SIGNING_PRIVATE_KEY`)");
    }
    let compiled = compile(options, &prepared, &cargo::Stop::default())?;
    let spinner = Spinner::new(json);
    let report = while_launcher_builds(&compiled, |launcher| {
        bundle(options, &prepared, compiled.main.clone(), launcher, key.as_ref(), &spinner)
    });
    spinner.finish();
    report
}

/// A spinner on stderr naming the bundler's current step (only on a terminal, and never with `--json`), with room for
/// byte-count bars under it (`release`'s upload).
#[derive(Debug)]
pub struct Spinner(Option<(indicatif::MultiProgress, indicatif::ProgressBar)>);

impl Spinner {
    /// A spinner, or nothing when stderr is not a terminal or with `--json`.
    pub fn new(json: bool) -> Spinner {
        Spinner((!json && std::io::stderr().is_terminal()).then(|| {
            let multi = indicatif::MultiProgress::new();
            let bar = multi.add(indicatif::ProgressBar::new_spinner());
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            (multi, bar)
        }))
    }

    /// A bar of bytes under the spinner, its length to be raised as work is queued; hidden when the spinner is. It
    /// outlives the spinner: it is cleared when it is finished.
    pub fn bytes_bar(&self, message: &str) -> indicatif::ProgressBar {
        let Some((multi, _)) = &self.0 else {
            return indicatif::ProgressBar::hidden();
        };
        let bar = multi.add(indicatif::ProgressBar::new(0));
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_owned());
        bar
    }

    /// Removes it.
    pub fn finish(&self) {
        if let Some((_, bar)) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Spinner {
    fn step(&self, message: &str) {
        if let Some((_, bar)) = &self.0 {
            bar.set_message(message.to_owned());
        }
    }
}
