//! `millennium-webview-probe`: is the system webview an app needs present, which version is it, and does it meet
//! the app's minimum? Shared by the runtime (checked at start, before any window), the launcher of bundled apps and
//! the updater (a release may require a newer webview).
//!
//! | platform | backend | how the version is found |
//! |----------|---------|--------------------------|
//! | Linux    | WebKitGTK 4.1 | `dlopen("libwebkit2gtk-4.1.so.0")`, `webkit_get_{major,minor,micro}_version()` |
//! | Windows  | WebView2 | the EdgeUpdate `pv` registry value of the Evergreen Runtime |
//! | macOS    | WKWebView | the macOS version (WKWebView ships with the OS) |
//!
//! ```no_run
//! use millennium_webview_probe::{Probe, Verdict};
//!
//! let probe = Probe::detect();
//! match probe.check(Some(&"2.40".parse().unwrap())) {
//!     Verdict::Ok => {}
//!     verdict => eprintln!("{}", verdict.describe(probe.backend)),
//! }
//! ```
//!
//! [`guard`] turns a failed check into what a user needs: a message naming the package for their distribution
//! ([`distro`]), a native dialog, and an offer to install it.

pub mod distro;
pub mod guard;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod macos;
pub mod windows;

use serde::{Deserialize, Serialize};

/// The version grammar, backend names and the header live in `millennium-webview-version`, the leaf crate the update
/// protocol re-exports for the server; they are re-exported here for the runtime, the launcher and the updater.
pub use millennium_webview_version::{Backend, HEADER, WebviewMinimums, WebviewReport, WebviewVersion};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version string (e.g. `min_webview_version`) is not a dotted version, or a list of minimums does not parse.
    #[error(transparent)]
    InvalidVersion {
        /// What is wrong with it.
        #[from]
        source: millennium_webview_version::Error,
    },
    /// The install command could not be started or failed.
    #[error("installing {package} failed: {reason}\nhint: install it yourself: {command}")]
    InstallFailed {
        /// The package.
        package: String,
        /// What went wrong.
        reason: String,
        /// The command to run by hand.
        command: String,
    },
    /// This system has no supported way to install the webview.
    #[error("the webview cannot be installed automatically here: {reason}")]
    CannotInstall {
        /// Why.
        reason: String,
    },
}

impl Error {
    /// A stable machine name of the error: the `code` of the CLI's `--json` errors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidVersion { source } => match source {
                millennium_webview_version::Error::InvalidMinimums { .. } => "invalid_webview_minimums",
                millennium_webview_version::Error::InvalidHeader { .. } => "invalid_webview_header",
                _ => "invalid_webview_version",
            },
            Self::InstallFailed { .. } => "install_failed",
            Self::CannotInstall { .. } => "cannot_install",
        }
    }
}

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The backend looked for.
    pub backend: Backend,
    /// Its version; `None` when it is missing or unusable.
    pub version: Option<WebviewVersion>,
    /// Why it is missing or unusable (the loader's message, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Probe {
    /// Probes the webview this process uses or would use. On Linux, an already loaded WebKitGTK is the answer.
    #[must_use]
    pub fn detect() -> Self {
        Self::detect_platform(false)
    }

    /// Probes the webview now installed, which the *next* launch of the app will get, without loading it into this
    /// process. On Linux the package manager answers (see [`linux::package_version`]): it knows about an upgrade made
    /// while this process has the old library loaded, and asking it costs a short child process instead of mapping
    /// WebKitGTK (tens of MiB) into an updater that never shows a window. Only where it cannot tell (unknown
    /// distribution, no package tool) is the library itself asked.
    #[must_use]
    pub fn detect_fresh() -> Self {
        Self::detect_platform(true)
    }

    #[cfg(target_os = "linux")]
    fn detect_platform(fresh: bool) -> Self {
        if fresh {
            let family = distro::OsRelease::system().map_or(distro::Family::Unknown, |os| distro::Family::of(&os));
            if let Some(version) = linux::package_version(family) {
                return Self { backend: Backend::Webkitgtk, version: Some(version), error: None };
            }
        }
        Self::detect_library(linux::SONAME)
    }

    #[cfg(windows)]
    fn detect_platform(_fresh: bool) -> Self {
        Self::from_result(Backend::Webview2, windows::webview2_version())
    }

    #[cfg(target_os = "macos")]
    fn detect_platform(_fresh: bool) -> Self {
        Self::from_result(Backend::Wkwebview, macos::macos_version())
    }

    #[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
    fn detect_platform(_fresh: bool) -> Self {
        Self::from_result(Backend::Webkitgtk, Err("this platform has no webview probe".to_owned()))
    }

    /// Probes a WebKitGTK library by soname or path (the app's is [`linux::SONAME`]).
    #[cfg(target_os = "linux")]
    #[must_use]
    pub fn detect_library(library: &str) -> Self {
        Self::from_result(Backend::Webkitgtk, linux::webkitgtk_version(library))
    }

    fn from_result(backend: Backend, result: Result<WebviewVersion, String>) -> Self {
        match result {
            Ok(version) => Self { backend, version: Some(version), error: None },
            Err(error) => Self { backend, version: None, error: Some(error) },
        }
    }

    /// Whether the webview is present and at least `minimum` (when given).
    #[must_use]
    pub fn check(&self, minimum: Option<&WebviewVersion>) -> Verdict {
        match (&self.version, minimum) {
            (None, _) => Verdict::Missing { reason: self.error.clone().unwrap_or_else(|| "not found".to_owned()) },
            (Some(found), Some(minimum)) if found < minimum => {
                Verdict::TooOld { found: found.clone(), minimum: minimum.clone() }
            }
            (Some(_), _) => Verdict::Ok,
        }
    }

    /// What the updater reports in the [`HEADER`].
    #[must_use]
    pub fn report(&self) -> WebviewReport {
        match &self.version {
            Some(version) => WebviewReport::Installed { backend: self.backend, version: version.clone() },
            None => WebviewReport::Missing,
        }
    }

    /// The value of the [`HEADER`] the updater sends: `webkitgtk/2.44.1`, or `missing`.
    #[must_use]
    pub fn header_value(&self) -> String {
        self.report().to_header_value()
    }
}

/// The outcome of [`Probe::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Verdict {
    /// Present and recent enough.
    Ok,
    /// Not installed or not loadable.
    Missing {
        /// Why (the loader's message, ...).
        reason: String,
    },
    /// Installed, older than required.
    TooOld {
        /// The installed version.
        found: WebviewVersion,
        /// The required minimum.
        minimum: WebviewVersion,
    },
}

impl Verdict {
    /// Whether the webview is usable.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }

    /// One sentence for people.
    #[must_use]
    pub fn describe(&self, backend: Backend) -> String {
        match self {
            Self::Ok => format!("{backend} is installed and recent enough"),
            Self::Missing { reason } => format!("{backend} is not installed ({reason})"),
            Self::TooOld { found, minimum } => {
                format!("{backend} {found} is installed, but this app needs version {minimum} or newer")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(version: Option<&str>) -> Probe {
        Probe {
            backend: Backend::Webkitgtk,
            version: version.map(|v| v.parse().unwrap()),
            error: version.is_none().then(|| "libwebkit2gtk-4.1.so.0: cannot open shared object file".to_owned()),
        }
    }

    #[test]
    fn check_compares_with_the_minimum() {
        let min: WebviewVersion = "2.44".parse().unwrap();
        assert_eq!(probe(Some("2.44.1")).check(Some(&min)), Verdict::Ok);
        assert_eq!(probe(Some("2.44.0")).check(Some(&min)), Verdict::Ok);
        assert_eq!(probe(Some("2.42.5")).check(None), Verdict::Ok);
        let too_old = probe(Some("2.42.5")).check(Some(&min));
        assert!(matches!(&too_old, Verdict::TooOld { found, .. } if found.to_string() == "2.42.5"));
        assert_eq!(
            too_old.describe(Backend::Webkitgtk),
            "WebKitGTK 4.1 2.42.5 is installed, but this app needs version 2.44 or newer"
        );
        let missing = probe(None).check(Some(&min));
        assert!(missing.describe(Backend::Webkitgtk).contains("not installed (libwebkit2gtk-4.1.so.0: cannot open"));
    }

    #[test]
    fn header_value_names_backend_and_version() {
        assert_eq!(probe(Some("2.44.1")).header_value(), "webkitgtk/2.44.1");
        assert_eq!(probe(None).header_value(), "missing");
        // What the server parses is what was sent.
        for probe in [probe(Some("2.44.1")), probe(None)] {
            assert_eq!(WebviewReport::parse(&probe.header_value()).unwrap(), probe.report());
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let code = |text| Error::from(WebviewMinimums::parse_for(text, Backend::Webkitgtk).unwrap_err()).code();
        assert_eq!(code("2.x"), "invalid_webview_version");
        assert_eq!(code("webkitgtk=2.x"), "invalid_webview_minimums");
        let header = WebviewReport::parse("gecko/1").unwrap_err();
        assert_eq!(Error::from(header).code(), "invalid_webview_header");
        let failed = Error::InstallFailed { package: "p".into(), reason: "r".into(), command: "c".into() };
        assert_eq!(failed.code(), "install_failed");
        assert_eq!(Error::CannotInstall { reason: "r".into() }.code(), "cannot_install");
    }

    #[test]
    fn json_shape_is_stable() {
        let json = serde_json::to_value(probe(Some("2.44.1"))).unwrap();
        assert_eq!(json, serde_json::json!({ "backend": "webkitgtk", "version": "2.44.1" }));
        let verdict = serde_json::to_value(probe(Some("2.42")).check(Some(&"2.44".parse().unwrap()))).unwrap();
        assert_eq!(verdict, serde_json::json!({ "status": "too-old", "found": "2.42", "minimum": "2.44" }));
    }
}
