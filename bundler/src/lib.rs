//! `millennium-bundler`: turns a built Millennium app into Linux installers (`.deb`, `.rpm`, AppImage), Windows
//! installers ([`windows`]: `.msi`, NSIS `-setup.exe`), macOS `.app` bundles and `.dmg` disk images ([`macos`], on any
//! OS) and signed updater artifacts, offline and reproducibly.
//!
//! # Pipeline
//!
//! 1. [`config::App::load`] reads `Millennium.toml` (or `[package.metadata.millennium]`) and validates everything:
//!    identifier, version, binaries, icons, resource globs, scripts, updater key.
//! 2. The binaries are read once; [`elf`] extracts their `DT_NEEDED` sonames and symbol versions, [`deps`] maps them to
//!    Debian packages (as `dpkg-shlibdeps` does) and rpm capabilities.
//! 3. [`layout::install_tree`] builds the installed file tree; [`deb`], [`rpm`] and [`appimage`] serialise it.
//! 4. [`updater`] signs each installer and writes the manifest fragment.
//!
//! # Output
//!
//! Every file is first written into a staging directory inside the output directory; only when every requested
//! format has succeeded are the files renamed into place. On any error the staging directory is removed, so no
//! half-written package is ever left in the output directory.
//!
//! # Reproducibility
//!
//! With `SOURCE_DATE_EPOCH` set, that time is the only one embedded anywhere (tar/ar/rpm/squashfs mtimes, changelog
//! date, signature timestamp, manifest `pub_date`); entries are sorted and root-owned; compression output does not
//! depend on the number of threads.

pub mod config;
mod error;
pub mod icons;
pub mod linux;
pub mod macos;
pub mod tauri_import;
pub mod tree;
pub mod updater;
pub mod windows;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::Digest;

use linux::{appimage, deb, deps, elf, layout, rpm, zsync};

pub use config::App;
pub use error::{Error, Result};

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

impl std::str::FromStr for Arch {
    type Err = Error;

    fn from_str(s: &str) -> Result<Arch> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            _ => Err(Error::Usage(format!("unknown target `{s}`\nhint: use `x86_64` or `aarch64`"))),
        }
    }
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Deb,
    Rpm,
    AppImage,
    /// macOS `.app` bundle (a directory).
    App,
    /// macOS disk image.
    Dmg,
    /// `.sig` files for the installers and the manifest fragment.
    Updater,
    /// Windows Installer package (built with `wixl`).
    Msi,
    /// NSIS `-setup.exe` (built with `makensis`).
    Nsis,
}

impl Format {
    /// Every format, in build order.
    pub const ALL: [Format; 8] = [
        Format::Deb,
        Format::Rpm,
        Format::AppImage,
        Format::App,
        Format::Dmg,
        Format::Msi,
        Format::Nsis,
        Format::Updater,
    ];

    /// Name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
            Format::AppImage => "appimage",
            Format::App => "app",
            Format::Dmg => "dmg",
            Format::Updater => "updater",
            Format::Msi => "msi",
            Format::Nsis => "nsis",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s.to_ascii_lowercase()).ok_or_else(|| {
            Error::Usage(format!(
                "unknown format `{s}`\nhint: use one or more of `deb`, `rpm`, `appimage`, `msi`, `nsis`, `app`, `dmg`, `updater`"
            ))
        })
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

/// Progress notifications for a display.
pub trait Progress {
    /// A new step starts.
    fn step(&self, message: &str);
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
        Some(v) => v.trim().parse::<u64>().map_err(|_| {
            Error::Usage(format!(
                "`{SOURCE_DATE_EPOCH}={v}` is not a number of seconds\nhint: use `git log -1 --format=%ct`"
            ))
        }),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()),
    }
}

/// Bundles the app. `env` supplies environment variables (`SOURCE_DATE_EPOCH`, signing key variables).
pub fn bundle(options: &Options, env: &dyn Fn(&str) -> Option<String>, progress: &dyn Progress) -> Result<Report> {
    if options.formats.is_empty() {
        return Err(Error::Usage("no format requested".into()));
    }
    let epoch = build_time(env)?;
    progress.step("reading configuration");
    let linux = options.formats.iter().any(|f| matches!(f, Format::Deb | Format::Rpm | Format::AppImage));
    let windows = options.formats.iter().any(|f| matches!(f, Format::Msi | Format::Nsis));
    let only_windows = !options
        .formats
        .iter()
        .any(|f| matches!(f, Format::Deb | Format::Rpm | Format::AppImage | Format::App | Format::Dmg));
    let overrides = config::Overrides { windows_only: only_windows, ..options.overrides.clone() };
    let app = App::load(&options.manifest_path, &overrides)?;
    let windows_exe = windows::binary_path(&app, options.overrides.windows_binary.as_deref());
    if windows {
        windows::validate(&app, options.arch, &windows_exe, env)?;
    }
    let arch = options.arch;
    let mut report = Report::default();

    // Check signing prerequisites before any long work.
    let key = if options.formats.contains(&Format::Updater) {
        if !linux && !windows && !options.formats.contains(&Format::App) {
            return Err(Error::Usage(
                "the `updater` format signs installers: add `deb`, `rpm`, `appimage`, `msi`, `nsis` or `app` to \
                 `--format`"
                    .into(),
            ));
        }
        if app.config.updater.as_ref().and_then(|u| u.artifact_base_url.as_ref()).is_none() {
            return Err(Error::InvalidValue {
                file: app.source.file().to_owned(),
                key: "updater.artifact-base-url".into(),
                message: "missing: the `updater` format needs the URL the artifacts will be published under".into(),
            });
        }
        Some(updater::load_key(env)?)
    } else {
        None
    };
    if options.formats.contains(&Format::AppImage) {
        appimage::runtime(arch)?;
    }

    let mac = options.formats.iter().any(|f| matches!(f, Format::App | Format::Dmg));
    if mac {
        // Checked before any long work, like the rest of the configuration.
        macos::app::validate(&app)?;
        if options.formats.contains(&Format::Dmg) {
            macos::dmg::validate(&app)?;
        }
    }

    progress.step("reading binaries");
    let mut binaries = Vec::new();
    let mut needs = Vec::new();
    let linux_binaries = std::iter::once(&app.main_binary).chain(app.extra_binaries.iter()).filter(|_| linux);
    for path in linux_binaries {
        let mut data = std::fs::read(path).map_err(Error::io("read", path))?;
        needs.push(elf::read(path, &data, arch)?);
        if app.config.binaries.strip.unwrap_or(true) && elf::has_symtab(&data) {
            match elf::strip(path, &data)? {
                Some(stripped) => data = stripped,
                None => report.warnings.push(format!(
                    "`strip` is not installed: `{}` is packaged with its symbol table (install binutils)",
                    path.display()
                )),
            }
        }
        binaries.push((App::binary_name(path), data));
    }

    std::fs::create_dir_all(&options.out_dir).map_err(Error::io("create the output directory", &options.out_dir))?;
    let staging = tempfile::Builder::new()
        .prefix(".millennium-bundler-")
        .tempdir_in(&options.out_dir)
        .map_err(Error::io("create a staging directory in", &options.out_dir))?;
    let mut staged: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut signed = Vec::new();
    let version = app.version.to_string();

    // Prepare everything that talks to the system (dpkg look-ups, library search) or warns, then build the formats
    // in parallel: they only read the prepared data.
    let want = |f| options.formats.contains(&f);
    let deb_input = if want(Format::Deb) {
        let tree = layout::install_tree(&app, &binaries, layout::Flavour::Deb, epoch)?;
        let depends: Vec<String> = match &app.config.deb.depends {
            Some(list) => list.clone(),
            None => {
                let computed = deps::Dpkg::system(arch).depends(&needs, &[]);
                for (soname, reason) in &computed.unresolved {
                    report.warnings.push(format!(
                        "deb: no package found for `{soname}` ({reason}); list it in `deb.extra-depends` if needed"
                    ));
                }
                let webkitgtk =
                    app.min_webview.get(millennium_webview_probe::Backend::Webkitgtk).map(ToString::to_string);
                let computed = computed.depends.into_iter().map(|dep| match &webkitgtk {
                    Some(min) => deps::raise_webkitgtk(dep, min),
                    None => dep,
                });
                computed.chain(app.config.deb.extra_depends.iter().cloned()).collect()
            }
        };
        Some((tree, depends))
    } else {
        None
    };
    let rpm_input = if want(Format::Rpm) {
        let tree = layout::install_tree(&app, &binaries, layout::Flavour::Rpm, epoch)?;
        let computed: BTreeSet<String> = needs.iter().flat_map(elf::rpm_requires).collect();
        Some((tree, rpm::requires(&app, computed)))
    } else {
        None
    };
    let appimage_input = if want(Format::AppImage) {
        let mut tree = layout::install_tree(&app, &binaries, layout::Flavour::Rpm, epoch)?;
        let mut with_libraries = false;
        if app.config.appimage.bundle_libraries {
            for (soname, data) in private_libraries(&app, &needs, arch, &mut report)? {
                tree.file(format!("usr/lib/{soname}"), 0o755, data);
                with_libraries = true;
            }
            tree.sort();
        }
        let launcher = match webview_launcher(&app, &needs, arch)? {
            Some(data) => {
                let path = appimage::launcher_path(&app);
                tree.file(path.clone(), 0o755, data);
                tree.sort();
                Some(path)
            }
            None => None,
        };
        Some((tree, with_libraries, launcher))
    } else {
        None
    };

    let names: Vec<&str> =
        [("deb", deb_input.is_some()), ("rpm", rpm_input.is_some()), ("AppImage", appimage_input.is_some())]
            .into_iter()
            .filter_map(|(n, on)| on.then_some(n))
            .collect();
    progress.step(&format!("building {}", names.join(", ")));
    let app_ref = &app;
    let (deb_out, rpm_out, appimage_out) = std::thread::scope(|scope| {
        let deb = deb_input
            .as_ref()
            .map(|(tree, depends)| scope.spawn(move || deb::build(app_ref, tree, depends, arch, epoch)));
        let rpm = rpm_input
            .as_ref()
            .map(|(tree, requires)| scope.spawn(move || rpm::build(app_ref, tree, requires, arch, epoch)));
        let appimage = appimage_input.as_ref().map(|(tree, with_libraries, launcher)| {
            scope.spawn(move || -> Result<(Vec<u8>, Option<Vec<u8>>)> {
                let bytes = appimage::build(app_ref, tree, arch, epoch, *with_libraries, launcher.as_deref())?;
                let name = appimage::file_name(app_ref, arch);
                // The `.zsync` file that the embedded update information points at, for AppImageUpdate.
                let zsync = appimage::update_information(app_ref, arch)
                    .and_then(|info| appimage::zsync_file_name(&info))
                    .map(|_| zsync::make(&bytes, &name, epoch));
                Ok((bytes, zsync))
            })
        });
        let join = |format: &'static str| {
            move |e: Box<dyn std::any::Any + Send>| Error::Package {
                format,
                message: format!("the build thread panicked: {}", panic_message(&e)),
            }
        };
        (
            deb.map(|h| h.join().map_err(join("deb"))),
            rpm.map(|h| h.join().map_err(join("rpm"))),
            appimage.map(|h| h.join().map_err(join("AppImage"))),
        )
    });
    if let Some(bytes) = deb_out {
        staged.push(("deb", deb::file_name(&app, arch), bytes??));
    }
    if let Some(bytes) = rpm_out {
        staged.push(("rpm", rpm::file_name(&app, arch), bytes??));
    }
    if let Some(result) = appimage_out {
        let (bytes, zsync) = result??;
        staged.push(("appimage", appimage::file_name(&app, arch), bytes));
        if let (Some(zsync_bytes), Some(zsync_name)) =
            (zsync, appimage::update_information(&app, arch).and_then(|info| appimage::zsync_file_name(&info)))
        {
            staged.push(("appimage", zsync_name, zsync_bytes));
        }
    }
    if windows {
        let built = windows::build(&app, &windows_exe, want(Format::Msi), want(Format::Nsis), epoch, env, progress)?;
        staged.extend(built);
    }
    let mut app_dir = None;
    let mut mac_arches = Vec::new();
    if mac {
        progress.step("building the macOS app");
        let wanted = macos::Wanted {
            app: want(Format::App),
            dmg: want(Format::Dmg),
            tarball: want(Format::App) && key.is_some(),
        };
        let out = macos::build(&app, arch, wanted, epoch, env, &mut report.warnings)?;
        if let Some((_, arches)) = &out.updater {
            mac_arches = arches.clone();
        }
        staged.extend(out.files);
        app_dir = out.app;
    }
    if let Some(key) = &key {
        progress.step("signing updater artifacts");
        let mut sigs = Vec::new();
        let has_nsis = staged.iter().any(|(format, _, _)| *format == "nsis");
        for (format, name, bytes) in staged.iter() {
            use millennium_update_protocol::BundleType;
            let (bundle, arches, plain) = match *format {
                "deb" => (BundleType::Deb, vec![arch], false),
                "rpm" => (BundleType::Rpm, vec![arch], false),
                "appimage" if !name.ends_with(".zsync") => (BundleType::AppImage, vec![arch], true),
                "msi" => (BundleType::Msi, vec![arch], !has_nsis),
                "nsis" => (BundleType::Nsis, vec![arch], true),
                "app" => (BundleType::App, mac_arches.clone(), true),
                _ => continue,
            };
            let signature = updater::sign(key, name, bytes, &version, epoch)?;
            sigs.push(("updater", format!("{name}.sig"), updater::sig_text(&signature).into_bytes()));
            signed.push((updater::targets(bundle, &arches, plain)?, name.clone(), signature));
        }
        let manifest = updater::manifest(&app, epoch, &signed)?;
        // Named after the Linux architecture, or the app's (`universal`) when only macOS artifacts are signed.
        let label = if linux || mac_arches.is_empty() {
            arch.as_str()
        } else if mac_arches.len() > 1 {
            "universal"
        } else {
            mac_arches[0].as_str()
        };
        sigs.push((
            "updater",
            format!("{}_{}_{}.update.json", app.package_name, version, label),
            manifest.into_bytes(),
        ));
        staged.extend(sigs);
    }

    progress.step("writing files");
    for (_, name, bytes) in &staged {
        write_file(&staging.path().join(name), bytes)?;
    }
    if let Some(bundle) = &app_dir {
        bundle.tree.write_to(&staging.path().join(&bundle.name))?;
    }
    for (format, name, bytes) in staged {
        let from = staging.path().join(&name);
        let to = options.out_dir.join(&name);
        std::fs::rename(&from, &to).map_err(Error::io("move the finished file to", &to))?;
        report.files.push(Produced {
            format,
            path: to,
            size: bytes.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        });
    }
    if let Some(bundle) = app_dir {
        let from = staging.path().join(&bundle.name);
        let to = options.out_dir.join(&bundle.name);
        if std::fs::symlink_metadata(&to).is_ok() {
            // A directory cannot be renamed over a non-empty one: move the old bundle into the staging directory,
            // which is removed below.
            let old = staging.path().join(format!("{}.old", bundle.name));
            std::fs::rename(&to, &old).map_err(Error::io("replace the previous bundle", &to))?;
        }
        std::fs::rename(&from, &to).map_err(Error::io("move the finished bundle to", &to))?;
        let tar = macos::tarball::tar(&bundle.name, &bundle.tree, epoch)?;
        report.files.push(Produced {
            format: "app",
            path: to,
            size: bundle.tree.size(),
            sha256: hex::encode(sha2::Sha256::digest(&tar)),
        });
    }
    drop(staging);
    Ok(report)
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Core C library sonames: always provided by the system, never bundled.
const NEVER_BUNDLE: [&str; 10] = [
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libgcc_s.so.1",
];

/// The shared libraries the binaries need (recursively) that no installed package provides: found through the
/// binaries' runpath (`$ORIGIN` resolved), or in a library directory without an owning package.
/// The soname a binary needs when it shows its window with WebKitGTK 4.1.
const WEBKITGTK_SONAME: &str = "libwebkit2gtk-4.1.so.0";

/// The webview launcher for the AppImage's `AppRun`, read, when the main binary links WebKitGTK (an AppImage has no
/// package dependencies, so this is what turns a missing WebKitGTK into a clear message); `None` otherwise.
fn webview_launcher(app: &App, needs: &[elf::Needs], arch: Arch) -> Result<Option<Vec<u8>>> {
    if !needs.first().is_some_and(|main| main.needed.iter().any(|s| s == WEBKITGTK_SONAME)) {
        return Ok(None);
    }
    let path = match &app.config.appimage.webview_launcher {
        Some(path) => app.root.join(path),
        None => app.main_binary.with_file_name("millennium-webview-probe"),
    };
    if !path.is_file() {
        return Err(Error::Missing {
            what: "webview launcher for the AppImage",
            path,
            hint: Some(
                "the app links WebKitGTK, so the AppImage starts it through `millennium-webview-probe launch` to \
                 explain a missing WebKitGTK; build it next to the app with `cargo build --release -p \
                 millennium-webview-probe`, or set `appimage.webview-launcher`"
                    .into(),
            ),
        });
    }
    let mut data = std::fs::read(&path).map_err(Error::io("read", &path))?;
    // A script is a launcher too; an executable must be one for the AppImage's architecture, stripped like the app.
    if data.starts_with(b"\x7fELF") {
        elf::read(&path, &data, arch)?;
        if app.config.binaries.strip.unwrap_or(true)
            && elf::has_symtab(&data)
            && let Some(stripped) = elf::strip(&path, &data)?
        {
            data = stripped;
        }
    }
    Ok(Some(data))
}

fn private_libraries(
    app: &App,
    needs: &[elf::Needs],
    arch: Arch,
    report: &mut Report,
) -> Result<Vec<(String, Vec<u8>)>> {
    let dpkg = deps::Dpkg::system(arch);
    let mut queue: Vec<(String, Vec<String>, Option<PathBuf>)> = Vec::new();
    let origins = std::iter::once(&app.main_binary).chain(app.extra_binaries.iter());
    for (need, path) in needs.iter().zip(origins) {
        for soname in &need.needed {
            queue.push((soname.clone(), need.runpaths.clone(), path.parent().map(Path::to_owned)));
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    while let Some((soname, runpaths, origin)) = queue.pop() {
        if NEVER_BUNDLE.contains(&soname.as_str()) || !seen.insert(soname.clone()) {
            continue;
        }
        let Some(path) = dpkg.locate(&soname, &runpaths, origin.as_deref()).into_iter().next() else {
            report.warnings.push(format!("appimage: `{soname}` was not found, so it is not bundled"));
            continue;
        };
        if dpkg.is_packaged(&path) {
            continue;
        }
        let data = std::fs::read(&path).map_err(Error::io("read", &path))?;
        let lib_needs = elf::read(&path, &data, arch)?;
        for next in &lib_needs.needed {
            queue.push((next.clone(), lib_needs.runpaths.clone(), path.parent().map(Path::to_owned)));
        }
        out.push((soname, data));
    }
    out.sort();
    Ok(out)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let executable = path.extension().is_some_and(|e| e == "AppImage");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(path)
        .map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o755)).map_err(Error::io("set permissions of", path))?;
    }
    file.sync_all().map_err(Error::io("sync", path))
}
