//! The bundler configuration: `Millennium.toml` next to the app, or `[package.metadata.millennium]` in its
//! `Cargo.toml`.
//!
//! Loading happens in two steps. [`Config`] is the file as written (serde, unknown keys rejected, errors naming the key
//! and the file); [`App`] is the validated result with defaults filled in from the crate's `[package]` table, paths
//! resolved against the app's directory, icons decoded and resource globs expanded. Every later stage works on [`App`]
//! only, so a configuration error always surfaces before anything is written.

use std::path::{Path, PathBuf};

use millennium_update_protocol::webview::{self, Backend, WebviewMinimums, WebviewVersion};
use serde::Deserialize;

use crate::artifact::Platform;
use crate::error::{Error, Result};

/// The name of the standalone configuration file.
pub const CONFIG_FILE: &str = "Millennium.toml";

/// The configuration as written by the user.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Name shown to people (menus, window titles). Default: the package name.
    pub product_name: Option<String>,
    /// Package name for deb/rpm/AppImage files: lowercase letters, digits, `+`, `-`, `.`. Default: the crate name.
    pub package_name: Option<String>,
    /// Reverse-DNS application identifier, e.g. `com.example.hello`.
    pub identifier: Option<String>,
    /// Semantic version. Default: the crate's version.
    pub version: Option<String>,
    /// One-line summary. Default: the crate's description.
    pub description: Option<String>,
    /// Longer description for package managers.
    pub long_description: Option<String>,
    /// Authors, `Name <email>`. Default: the crate's authors.
    #[serde(default)]
    pub authors: Option<Vec<String>>,
    /// Package maintainer, `Name <email>`. Default: the first author.
    pub maintainer: Option<String>,
    /// SPDX licence expression. Default: the crate's licence.
    pub license: Option<String>,
    /// Project home page. Default: the crate's homepage.
    pub homepage: Option<String>,
    /// PNG icons, square; every hicolor size is generated from the largest.
    #[serde(default)]
    pub icons: Vec<String>,
    /// The binaries to install.
    #[serde(default)]
    pub binaries: Binaries,
    /// Glob patterns (relative to the app's directory) of files installed under `/usr/lib/PACKAGE/`.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The desktop entry.
    #[serde(default)]
    pub desktop: Desktop,
    /// Debian package settings.
    #[serde(default)]
    pub deb: Deb,
    /// RPM package settings.
    #[serde(default)]
    pub rpm: Rpm,
    /// AppImage settings.
    #[serde(default)]
    pub appimage: AppImage,
    /// Maintainer scripts (paths to shell scripts), used by deb and rpm.
    #[serde(default)]
    pub scripts: Scripts,
    /// macOS `.app` settings.
    #[serde(default)]
    pub macos: Macos,
    /// macOS disk image (`.dmg`) settings.
    #[serde(default)]
    pub dmg: Dmg,
    /// Update server settings, embedded in the app and used for updater artifacts.
    pub updater: Option<Updater>,
    /// Windows installers (`.msi`, NSIS).
    #[serde(default)]
    pub windows: crate::windows::Windows,
    /// The oldest system webview the app works with, per backend: a table
    /// `{ webkitgtk = "2.44", webview2 = "124.0", wkwebview = "13.0" }` (WebKitGTK on Linux, the WebView2 Runtime on
    /// Windows, the macOS version), or a string: a bare version is the WebKitGTK minimum (`"2.44"`), and the text form
    /// `"webkitgtk=2.44,webview2=124.0"` is the same as the table. The WebKitGTK entry raises the deb's dependency on
    /// WebKitGTK to at least this version (the rpm's too: `webkit2gtk4.1`, openSUSE's `libwebkit2gtk-4_1-0`) and the
    /// AppImage's launch check; each platform entry of the updater manifest carries its backend's entry, so that the
    /// updater does not install the release where that webview is older. Pass the text form to the app's
    /// `Builder::min_webview_version` (it picks the running platform's entry).
    pub min_webview_version: Option<MinWebviewVersion>,
}

/// `min-webview-version` as written: a string or a table of backends (see [`Config::min_webview_version`]).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum MinWebviewVersion {
    /// A bare version (the WebKitGTK minimum) or the text form `webkitgtk=2.44,webview2=124.0`.
    Text(String),
    /// Backend (`webkitgtk`, `webview2`, `wkwebview`) to version.
    PerBackend(std::collections::BTreeMap<String, String>),
}

impl MinWebviewVersion {
    /// The minimums, checked; the message says what to write instead.
    pub fn minimums(&self) -> std::result::Result<WebviewMinimums, String> {
        match self {
            MinWebviewVersion::Text(text) => WebviewMinimums::parse_or_legacy(text).map_err(|e| e.to_string()),
            MinWebviewVersion::PerBackend(table) => table
                .iter()
                .map(|(name, version)| {
                    let backend = Backend::from_id(name).ok_or_else(|| {
                        format!(
                            "{}, e.g. `min-webview-version = {{ webkitgtk = \"2.44\" }}`",
                            webview::unknown_backend(name)
                        )
                    })?;
                    let version = WebviewVersion::parse(version).map_err(|e| format!("`{name}`: {e}"))?;
                    Ok((backend, version))
                })
                .collect(),
        }
    }
}

/// The binaries to install.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Binaries {
    /// Path of the main binary. Default: `target/release/CRATE_NAME`.
    pub main: Option<String>,
    /// Extra binaries installed next to the main one in `/usr/bin`.
    #[serde(default)]
    pub extra: Vec<String>,
    /// Strip symbol tables from the binaries (with `strip --strip-unneeded`, when a binary has them). Default: true.
    pub strip: Option<bool>,
}

/// The desktop entry (`.desktop` file).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Desktop {
    /// freedesktop.org categories, e.g. `["Utility"]`. Default: `["Utility"]`.
    #[serde(default)]
    pub categories: Vec<String>,
    /// MIME types the app opens.
    #[serde(default)]
    pub mime_types: Vec<String>,
    /// URL schemes the app handles (deep links), e.g. `["myapp"]`.
    #[serde(default)]
    pub deep_link_schemes: Vec<String>,
    /// Runs in a terminal.
    #[serde(default)]
    pub terminal: bool,
}

/// Debian package settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Deb {
    /// Replaces the automatically computed `Depends` entirely.
    pub depends: Option<Vec<String>>,
    /// Added to the computed `Depends`.
    #[serde(default)]
    pub extra_depends: Vec<String>,
    /// Debian section. Default: `utils`.
    pub section: Option<String>,
    /// Debian priority. Default: `optional`.
    pub priority: Option<String>,
}

/// RPM package settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Rpm {
    /// Replaces the automatically computed `Requires` entirely.
    pub requires: Option<Vec<String>>,
    /// Added to the computed `Requires`.
    #[serde(default)]
    pub extra_requires: Vec<String>,
    /// RPM release number. Default: `1`.
    pub release: Option<String>,
}

/// AppImage settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AppImage {
    /// Update information written into the `.upd_info` section, e.g. `zsync|https://example.com/app.AppImage.zsync`.
    /// Default: derived from `updater.artifact-base-url` when it is set.
    pub update_information: Option<String>,
    /// Copy the shared libraries the binaries need that no system package provides (found through their runpath,
    /// e.g. built next to the app) into the AppImage's `usr/lib`, recursively. Default: false.
    #[serde(default)]
    pub bundle_libraries: bool,
    /// The launcher `AppRun` starts the app through when the main binary links WebKitGTK 4.1: it checks the webview
    /// (and `min-webview-version`) first, so that a missing or too old WebKitGTK gives a clear message naming the
    /// package to install instead of the dynamic loader's error. Default: `millennium-webview-probe` next to the
    /// main binary (`millennium build` builds it there: the probe's own manifest with its `cli` feature, into the
    /// app's target directory).
    pub webview_launcher: Option<String>,
}

/// macOS `.app` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Macos {
    /// `LSMinimumSystemVersion`, e.g. `"11.0"`. Default: `"10.13"`.
    pub minimum_system_version: Option<String>,
    /// `LSApplicationCategoryType`, e.g. `"public.app-category.developer-tools"`.
    pub category: Option<String>,
    /// `CFBundleVersion` (the build number, up to three integers). Default: MAJOR.MINOR.PATCH of the version.
    pub bundle_version: Option<String>,
    /// `NSHumanReadableCopyright`.
    pub copyright: Option<String>,
    /// The macOS build of the main binary (single-architecture or universal), used instead of `binaries.main` for
    /// `.app` and `.dmg`, so one configuration can bundle Linux and macOS builds in one run.
    pub binary: Option<String>,
    /// Two single-architecture builds (one x86_64, one arm64) merged into one universal executable; used instead of
    /// `binaries.main` (and `macos.binary`) for `.app` and `.dmg`.
    #[serde(default)]
    pub universal: Vec<String>,
    /// macOS builds of the extra binaries, used instead of `binaries.extra` when `macos.binary` or `macos.universal`
    /// is set.
    #[serde(default)]
    pub extra_binaries: Vec<String>,
    /// Frameworks and dynamic libraries (`.framework` directories, `.dylib` files) copied into
    /// `Contents/Frameworks`.
    #[serde(default)]
    pub frameworks: Vec<String>,
    /// Document types the app opens (`CFBundleDocumentTypes`).
    #[serde(default)]
    pub file_associations: Vec<FileAssociation>,
    /// Entitlements (an XML plist) used when signing with `rcodesign`.
    pub entitlements: Option<String>,
}

/// A file type the app opens: an entry of `macos.file-associations` or `windows.file-associations`. The fields are the
/// same on both; each platform uses those it has a place for.
#[derive(Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileAssociation {
    /// File name extensions without the dot, e.g. `["md", "markdown"]`.
    pub extensions: Vec<String>,
    /// macOS: name of the document type shown by Finder. Default: the first extension in upper case plus
    /// ` document`.
    pub name: Option<String>,
    /// Windows: the file type's description shown by Explorer, e.g. `Hello document`. Default: `PRODUCT file`.
    pub description: Option<String>,
    /// macOS: `Editor`, `Viewer`, `Shell` or `None`. Default: `Editor`.
    pub role: Option<String>,
    /// macOS: MIME types of the documents.
    #[serde(default)]
    pub mime_types: Vec<String>,
    /// The section the entry was read from, set by [`App::from_config`]; only `Debug` reads it.
    #[serde(skip)]
    pub(crate) section: Option<Platform>,
}

/// Prints an entry as the per-platform types this one replaced printed it. The MSI package code is a digest of the
/// configuration's `Debug` text (`windows::prepare`), so another text would change the bytes of every MSI whose
/// configuration has file associations.
impl std::fmt::Debug for FileAssociation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("FileAssociation");
        s.field("extensions", &self.extensions);
        match self.section {
            Some(Platform::Windows) => s.field("description", &self.description),
            _ => s.field("name", &self.name).field("role", &self.role).field("mime_types", &self.mime_types),
        }
        .finish()
    }
}

impl FileAssociation {
    /// Checks what holds on every platform: at least one extension, each without the dot, and a known `role`.
    /// `key` names the entry (`macos.file-associations[0]`); the error is the key at fault and the message.
    pub fn check(&self, key: &str) -> std::result::Result<(), (String, String)> {
        if self.extensions.is_empty() {
            return Err((format!("{key}.extensions"), "must list at least one extension".into()));
        }
        if let Some(bad) = self.extensions.iter().find(|e| e.is_empty() || e.contains(['.', '/', ' '])) {
            return Err((
                format!("{key}.extensions"),
                format!("`{bad}` is not an extension; write it without the dot, e.g. `md`"),
            ));
        }
        if let Some(role) = &self.role
            && !["Editor", "Viewer", "Shell", "None"].contains(&role.as_str())
        {
            return Err((format!("{key}.role"), format!("`{role}` is not `Editor`, `Viewer`, `Shell` or `None`")));
        }
        Ok(())
    }
}

/// macOS disk image settings: the Finder window shown when the image is opened.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Dmg {
    /// Volume name. Default: the product name.
    pub volume_name: Option<String>,
    /// Window background (PNG), the size of the window.
    pub background: Option<String>,
    /// The same background at twice the size, for Retina screens (needs `background`).
    pub background_2x: Option<String>,
    /// Window content size in points, `[width, height]`. Default: the background's size, else `[660, 400]`.
    pub window_size: Option<[u32; 2]>,
    /// Window position on screen, `[x, y]`. Default: `[200, 120]`.
    pub window_position: Option<[u32; 2]>,
    /// Icon size in points (16 to 512). Default: 128.
    pub icon_size: Option<u32>,
    /// Centre of the app's icon in the window, `[x, y]`. Default: a quarter of the way across, near the middle.
    pub app_position: Option<[u32; 2]>,
    /// Centre of the `Applications` link's icon. Default: three quarters of the way across, near the middle.
    pub applications_position: Option<[u32; 2]>,
}

/// Maintainer scripts: paths of shell scripts, relative to the app's directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Scripts {
    /// Runs before the package is installed (`preinst` / `%pre`).
    pub pre_install: Option<String>,
    /// Runs after the package is installed (`postinst` / `%post`).
    pub post_install: Option<String>,
    /// Runs before the package is removed (`prerm` / `%preun`).
    pub pre_remove: Option<String>,
    /// Runs after the package is removed (`postrm` / `%postun`).
    pub post_remove: Option<String>,
}

/// Update server settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Updater {
    /// Update endpoints the app queries (Tauri-style URLs with `{{target}}`, `{{arch}}`, `{{current_version}}`).
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Public key the app verifies updates with (minisign or Tauri form).
    pub pubkey: String,
    /// Where the artifacts will be published; the manifest fragment's URLs are this plus the file name.
    pub artifact_base_url: Option<String>,
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `Millennium.toml`.
    Standalone(PathBuf),
    /// `[package.metadata.millennium]` in a `Cargo.toml`.
    CargoMetadata(PathBuf),
}

impl Source {
    /// The file the configuration is in.
    pub fn file(&self) -> &Path {
        match self {
            Source::Standalone(p) | Source::CargoMetadata(p) => p,
        }
    }

    pub(crate) fn key(&self, key: &str) -> String {
        match self {
            Source::Standalone(_) => key.to_owned(),
            Source::CargoMetadata(_) => format!("package.metadata.millennium.{key}"),
        }
    }
}

/// What the crate's `Cargo.toml` `[package]` table provides as defaults.
#[derive(Debug, Clone, Default)]
pub struct CrateInfo {
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
}

/// Reads the configuration for the app at `path` (a directory, a `Cargo.toml` or a `Millennium.toml`).
pub fn load(path: &Path) -> Result<(Config, Source, CrateInfo)> {
    let (dir, explicit) = if path.is_dir() {
        (path.to_owned(), None)
    } else {
        if !path.exists() {
            return Err(Error::Missing {
                what: "manifest",
                path: path.to_owned(),
                hint: Some("pass `--manifest-path` the app's `Cargo.toml` or `Millennium.toml`".into()),
            });
        }
        (path.parent().map(Path::to_owned).unwrap_or_else(|| PathBuf::from(".")), Some(path.to_owned()))
    };
    let cargo_toml = dir.join("Cargo.toml");
    let mut crate_info = CrateInfo::default();
    let mut metadata = None;
    if cargo_toml.is_file() {
        let text = read(&cargo_toml)?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| Error::ConfigSyntax { file: cargo_toml.clone(), message: e.to_string() })?;
        if let Some(package) = table.get("package").and_then(|p| p.as_table()) {
            let s = |k: &str| package.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            crate_info = CrateInfo {
                name: s("name"),
                version: s("version"),
                description: s("description"),
                authors: package
                    .get("authors")
                    .and_then(|a| a.as_array())
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                license: s("license"),
                homepage: s("homepage"),
            };
            metadata = package.get("metadata").and_then(|m| m.get("millennium")).cloned();
        }
    }
    let standalone = match &explicit {
        Some(p) if p.file_name().is_some_and(|n| n != "Cargo.toml") => Some(p.clone()),
        _ => Some(dir.join(CONFIG_FILE)).filter(|p| p.is_file()),
    };
    if let Some(file) = standalone {
        let text = read(&file)?;
        let de = toml::Deserializer::parse(&text)
            .map_err(|e| Error::ConfigSyntax { file: file.clone(), message: e.to_string() })?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| syntax_error(&file, "", e))?;
        return Ok((config, Source::Standalone(file), crate_info));
    }
    match metadata {
        Some(value) => {
            let config: Config = serde_path_to_error::deserialize(value)
                .map_err(|e| syntax_error(&cargo_toml, "package.metadata.millennium.", e))?;
            Ok((config, Source::CargoMetadata(cargo_toml), crate_info))
        }
        None => Err(Error::NoConfig { dir }),
    }
}

fn syntax_error<E: std::fmt::Display>(file: &Path, prefix: &str, e: serde_path_to_error::Error<E>) -> Error {
    let path = e.path().to_string();
    let message =
        if path == "." || path.is_empty() { e.inner().to_string() } else { format!("`{prefix}{path}`: {}", e.inner()) };
    Error::ConfigSyntax { file: file.to_owned(), message }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(Error::io("read", path))
}

/// Validated configuration with every default filled in.
#[derive(Debug, Clone)]
pub struct App {
    /// Where the configuration came from.
    pub source: Source,
    /// The app's directory; relative paths are resolved against it.
    pub root: PathBuf,
    pub package_name: String,
    pub product_name: String,
    pub identifier: String,
    pub version: semver::Version,
    pub description: String,
    pub long_description: Option<String>,
    pub authors: Vec<String>,
    pub maintainer: String,
    pub license: Option<String>,
    pub homepage: Option<String>,
    /// The main binary and its installed name.
    pub main_binary: PathBuf,
    pub extra_binaries: Vec<PathBuf>,
    /// The largest icon, decoded.
    pub icon: Option<crate::icons::Icon>,
    /// Resource files: (source path, path relative to the resource directory), sorted.
    pub resources: Vec<(PathBuf, String)>,
    /// Maintainer scripts, read: (kind, text).
    pub scripts: Vec<(ScriptKind, String)>,
    /// `min-webview-version`, checked.
    pub min_webview: WebviewMinimums,
    pub config: Config,
}

/// The four maintainer script slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScriptKind {
    PreInstall,
    PostInstall,
    PreRemove,
    PostRemove,
}

impl ScriptKind {
    /// The Debian control file name.
    pub fn deb_name(self) -> &'static str {
        match self {
            ScriptKind::PreInstall => "preinst",
            ScriptKind::PostInstall => "postinst",
            ScriptKind::PreRemove => "prerm",
            ScriptKind::PostRemove => "postrm",
        }
    }
}

/// Options that override the configuration from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Use this main binary instead of the configured/default one.
    pub main_binary: Option<PathBuf>,
    /// Use this Windows executable instead of `windows.binary`.
    pub windows_binary: Option<PathBuf>,
    /// Use this macOS executable for `.app` and `.dmg` instead of `macos.binary`.
    pub macos_binary: Option<PathBuf>,
    /// Only installers of given Windows and macOS builds are made (MSI, NSIS, and `.app`/`.dmg` with a macOS binary):
    /// this machine's build of the app, the main and extra binaries, need not exist.
    pub given_binaries_only: bool,
}

impl App {
    /// Loads and validates the configuration of the app at `path`.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<App> {
        let (config, source, crate_info) = load(path)?;
        App::from_config(config, source, crate_info, overrides)
    }

    /// Validates a parsed configuration.
    pub fn from_config(mut config: Config, source: Source, krate: CrateInfo, overrides: &Overrides) -> Result<App> {
        let file = source.file().to_owned();
        let root = file.parent().map(Path::to_owned).unwrap_or_else(|| PathBuf::from("."));
        let invalid =
            |key: &str, message: String| Error::InvalidValue { file: file.clone(), key: source.key(key), message };

        let package_name = match config.package_name.clone().or_else(|| krate.name.clone()) {
            Some(name) => name.to_lowercase().replace('_', "-"),
            None => {
                return Err(invalid(
                    "package-name",
                    "missing: set it, or run on a crate with a `[package] name`".into(),
                ));
            }
        };
        if !is_package_name(&package_name) {
            return Err(invalid(
                "package-name",
                format!(
                    "`{package_name}` is not a valid package name\nhint: use lowercase letters, digits, `+`, `-` and `.`, starting with a letter or digit"
                ),
            ));
        }
        let identifier = config
            .identifier
            .clone()
            .ok_or_else(|| invalid("identifier", "missing\nhint: add `identifier = \"com.example.app\"`".into()))?;
        validate_identifier(&identifier).map_err(|m| invalid("identifier", m))?;

        let version_text = config.version.clone().or_else(|| krate.version.clone()).ok_or_else(|| {
            invalid("version", "missing: set it, or give the crate a literal `[package] version`".into())
        })?;
        let version = semver::Version::parse(&version_text).map_err(|e| {
            invalid(
                "version",
                format!("`{version_text}` is not a semantic version ({e})\nhint: use MAJOR.MINOR.PATCH, e.g. `1.2.3`"),
            )
        })?;

        let authors = config.authors.clone().unwrap_or_else(|| krate.authors.clone());
        let maintainer =
            config.maintainer.clone().or_else(|| authors.first().cloned()).ok_or_else(|| {
                invalid("maintainer", "missing: set `maintainer` or `authors` (`Name <email>`)".into())
            })?;
        if !(maintainer.contains('<') && maintainer.trim_end().ends_with('>') && maintainer.contains('@')) {
            return Err(invalid("maintainer", format!("`{maintainer}` must look like `Name <email@example.com>`")));
        }
        let product_name = config.product_name.clone().unwrap_or_else(|| package_name.clone());
        if product_name.trim().is_empty() || product_name.contains(['\n', '/']) {
            return Err(invalid("product-name", "must be non-empty, on one line, without `/`".into()));
        }
        let description =
            config.description.clone().or_else(|| krate.description.clone()).unwrap_or_else(|| product_name.clone());
        if description.contains('\n') {
            return Err(invalid("description", "must be one line; put the rest in `long-description`".into()));
        }

        let min_webview = match &config.min_webview_version {
            Some(min) => min.minimums().map_err(|e| invalid("min-webview-version", e))?,
            None => WebviewMinimums::new(),
        };

        let resolve = |p: &str| root.join(p);
        let main_binary = match (&overrides.main_binary, &config.binaries.main) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => resolve(p),
            // A macOS-only app may name its builds in `macos.universal` alone.
            (None, None) if !config.macos.universal.is_empty() => resolve(&config.macos.universal[0]),
            (None, None) if config.macos.binary.is_some() => {
                resolve(config.macos.binary.as_deref().unwrap_or_default())
            }
            (None, None) => root.join("target").join("release").join(krate.name.as_deref().unwrap_or(&package_name)),
        };
        // After the main binary is chosen: the macOS build is only for `.app` and `.dmg`.
        if let Some(path) = &overrides.macos_binary {
            config.macos.binary = Some(path.to_string_lossy().into_owned());
            config.macos.universal.clear();
        }
        let mut all_binaries = vec![main_binary.clone()];
        let extra_binaries: Vec<PathBuf> = config.binaries.extra.iter().map(|p| resolve(p)).collect();
        all_binaries.extend(extra_binaries.iter().cloned());
        for binary in all_binaries.iter().filter(|_| !overrides.given_binaries_only) {
            if !binary.is_file() {
                return Err(Error::Missing {
                    what: "binary",
                    path: binary.clone(),
                    hint: Some("build it first (`cargo build --release`), or set `binaries.main`".into()),
                });
            }
        }

        let mut icon: Option<crate::icons::Icon> = None;
        for (i, p) in config.icons.iter().enumerate() {
            let path = resolve(p);
            if !path.is_file() {
                return Err(Error::Missing {
                    what: "icon",
                    path,
                    hint: Some(format!("fix `{}`", source.key(&format!("icons[{i}]")))),
                });
            }
            let candidate = crate::icons::Icon::load(&path)?;
            if icon.as_ref().is_none_or(|best| candidate.size() > best.size()) {
                icon = Some(candidate);
            }
        }

        let resources =
            expand_resources(&root, &config.resources).map_err(|(i, m)| invalid(&format!("resources[{i}]"), m))?;

        let mut scripts = Vec::new();
        for (kind, p) in [
            (ScriptKind::PreInstall, &config.scripts.pre_install),
            (ScriptKind::PostInstall, &config.scripts.post_install),
            (ScriptKind::PreRemove, &config.scripts.pre_remove),
            (ScriptKind::PostRemove, &config.scripts.post_remove),
        ] {
            if let Some(p) = p {
                let path = resolve(p);
                if !path.is_file() {
                    return Err(Error::Missing { what: "maintainer script", path, hint: None });
                }
                let text = read(&path)?;
                if !text.starts_with("#!") {
                    return Err(invalid(
                        &format!("scripts.{}", kind_key(kind)),
                        format!("`{}` must start with a `#!` line, e.g. `#!/bin/sh`", path.display()),
                    ));
                }
                scripts.push((kind, text));
            }
        }

        for (i, scheme) in config.desktop.deep_link_schemes.iter().enumerate() {
            let ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if !ok {
                return Err(invalid(
                    &format!("desktop.deep-link-schemes[{i}]"),
                    format!("`{scheme}` is not a URL scheme"),
                ));
            }
        }
        for (i, mime) in config.desktop.mime_types.iter().enumerate() {
            if mime.split('/').count() != 2 || mime.contains([';', ' ']) {
                return Err(invalid(
                    &format!("desktop.mime-types[{i}]"),
                    format!("`{mime}` is not a MIME type like `text/plain`"),
                ));
            }
        }
        if let Some(updater) = &config.updater {
            millennium_sign::PublicKey::from_text(&updater.pubkey)
                .map_err(|e| invalid("updater.pubkey", format!("not a usable public key: {e}")))?;
            for (i, endpoint) in updater.endpoints.iter().enumerate() {
                if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                    return Err(invalid(
                        &format!("updater.endpoints[{i}]"),
                        format!("`{endpoint}` is not an http(s) URL"),
                    ));
                }
            }
            if let Some(base) = &updater.artifact_base_url {
                millennium_update_protocol::tauri::ArtifactUrl::parse(base)
                    .map_err(|e| invalid("updater.artifact-base-url", e.to_string()))?;
            }
        }
        for (section, list) in [
            (Platform::Macos, &mut config.macos.file_associations),
            (Platform::Windows, &mut config.windows.file_associations),
        ] {
            list.iter_mut().for_each(|assoc| assoc.section = Some(section));
        }
        Ok(App {
            source,
            root,
            package_name,
            product_name,
            identifier,
            version,
            description,
            long_description: config.long_description.clone(),
            authors,
            maintainer,
            license: config.license.clone().or(krate.license),
            homepage: config.homepage.clone().or(krate.homepage),
            main_binary,
            extra_binaries,
            icon,
            resources,
            scripts,
            min_webview,
            config,
        })
    }

    /// Installed file name of a binary.
    pub fn binary_name(path: &Path) -> String {
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// The main binary's installed name.
    pub fn main_binary_name(&self) -> String {
        App::binary_name(&self.main_binary)
    }
}

fn kind_key(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::PreInstall => "pre-install",
        ScriptKind::PostInstall => "post-install",
        ScriptKind::PreRemove => "pre-remove",
        ScriptKind::PostRemove => "post-remove",
    }
}

/// Debian's rule for package names (also fine for rpm and file names).
pub fn is_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// A reverse-DNS identifier: at least two dot-separated labels of ASCII letters, digits and `-`, each starting with a
/// letter.
pub fn validate_identifier(id: &str) -> std::result::Result<(), String> {
    let hint = "\nhint: use reverse-DNS notation with ASCII letters, digits and `-`, e.g. `com.example.my-app`";
    let labels: Vec<&str> = id.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("`{id}` needs at least two dot-separated parts{hint}"));
    }
    for label in labels {
        if label.is_empty() {
            return Err(format!("`{id}` has an empty part{hint}"));
        }
        if let Some(bad) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(format!("`{id}` contains the illegal character `{bad}`{hint}"));
        }
        if !label.starts_with(|c: char| c.is_ascii_alphabetic()) || label.ends_with('-') {
            return Err(format!("part `{label}` of `{id}` must start with a letter and not end with `-`{hint}"));
        }
    }
    Ok(())
}

/// Expands resource globs against `root`. A pattern that matches no file is an error (index, message).
fn expand_resources(root: &Path, patterns: &[String]) -> std::result::Result<Vec<(PathBuf, String)>, (usize, String)> {
    let mut out = std::collections::BTreeMap::new();
    for (i, pattern) in patterns.iter().enumerate() {
        if Path::new(pattern).is_absolute() || pattern.split(['/', '\\']).any(|c| c == "..") {
            return Err((i, format!("`{pattern}` must be relative to the app's directory and stay inside it")));
        }
        let full = root.join(pattern);
        let full = full.to_string_lossy();
        let paths = glob::glob(&full).map_err(|e| (i, format!("`{pattern}` is not a valid glob: {e}")))?;
        let mut found = 0usize;
        for entry in paths {
            let path = entry.map_err(|e| (i, format!("`{pattern}`: {e}")))?;
            let mut stack = vec![path];
            while let Some(path) = stack.pop() {
                if path.is_dir() {
                    let entries = std::fs::read_dir(&path).map_err(|e| (i, format!("`{}`: {e}", path.display())))?;
                    for e in entries {
                        stack.push(e.map_err(|e| (i, format!("`{}`: {e}", path.display())))?.path());
                    }
                } else if path.is_file() {
                    let rel = path.strip_prefix(root).unwrap_or(&path);
                    let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    out.insert(rel, path);
                    found += 1;
                }
            }
        }
        if found == 0 {
            return Err((i, format!("`{pattern}` matches no file\nhint: fix the pattern or remove it")));
        }
    }
    Ok(out.into_iter().map(|(rel, path)| (path, rel)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(validate_identifier("com.example.hello").is_ok());
        assert!(validate_identifier("com.example.my-app2").is_ok());
        for bad in ["hello", "com..x", "com.exa mple", "com.example.hé", "com.1abc", "com.example_x", ".com.x"] {
            assert!(validate_identifier(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn package_names() {
        assert!(is_package_name("hello-world"));
        assert!(is_package_name("lib2.0+x"));
        assert!(!is_package_name("Hello"));
        assert!(!is_package_name("-x"));
        assert!(!is_package_name("a"));
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "identifier = \"com.a.b\"\n[desktop]\ncategory = [\"x\"]\n")
            .unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Millennium.toml"), "{err}");
        assert!(err.contains("category"), "{err}");
    }

    #[test]
    fn cargo_metadata_errors_name_the_full_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"x\"\nversion = \"1.0.0\"\n[package.metadata.millennium]\nicons = 3\n",
        )
        .unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("Cargo.toml"), "{err}");
        assert!(err.contains("package.metadata.millennium.icons"), "{err}");
    }

    #[test]
    fn file_associations_need_extensions_without_dots_and_a_known_role() {
        let assoc = |extensions: &[&str], role: Option<&str>| FileAssociation {
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
            role: role.map(str::to_owned),
            ..FileAssociation::default()
        };
        assert_eq!(assoc(&["md", "c++"], Some("Viewer")).check("a[0]"), Ok(()));
        assert_eq!(assoc(&[], None).check("a[0]").unwrap_err().0, "a[0].extensions");
        let (key, message) = assoc(&["md", "tar.gz"], None).check("a[0]").unwrap_err();
        assert_eq!(key, "a[0].extensions");
        assert!(message.contains("`tar.gz`"), "{message}");
        assert_eq!(assoc(&["md"], Some("Reader")).check("a[0]").unwrap_err().0, "a[0].role");
    }

    /// `millennium.schema.json` is what `schemars` generates from [`Config`]; regenerate with
    /// `MILLENNIUM_UPDATE_SCHEMA=1 cargo test -p millennium-bundler schema`.
    #[test]
    fn schema_is_up_to_date() {
        let schema = schemars::schema_for!(Config);
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("millennium.schema.json");
        if std::env::var_os("MILLENNIUM_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(on_disk, text, "run `MILLENNIUM_UPDATE_SCHEMA=1 cargo test -p millennium-bundler schema`");
    }
}
