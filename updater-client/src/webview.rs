//! Releases that need a newer system webview: a release may declare `min_webview_version` per backend (WebKitGTK
//! version on Linux, WebView2 Runtime on Windows, macOS version on macOS). Only the entry of the webview this platform
//! uses counts: a release with minimums for other backends only installs here whatever the webview. Before installing
//! a release with an entry for it, the webview the *next* launch will get is probed ([`Probe::detect_fresh`]); when it
//! is older (or missing), the [`WebviewPolicy`] decides:
//! refuse with [`Error::WebviewTooOld`] (nothing installed, the running version stays), or provision the webview
//! first and install only when the probe then meets the minimum.
//!
//! How a webview is provisioned depends on the platform and on the install strategy (`remedy`):
//!
//! | webview | install | `Provision` does |
//! |---|---|---|
//! | WebKitGTK (Linux) | any | the distribution's package (PackageKit, `pkexec`, or directly as root) |
//! | WebView2 (Windows) | NSIS / MSI | nothing itself: the new installer runs its own WebView2 step (its `webview-install-mode`) before it replaces the app, so the update goes ahead |
//! | WebView2 (Windows) | plain executable | Microsoft's bootstrapper shipped beside the app (`MicrosoftEdgeWebview2Setup.exe`), `/silent /install`, before the executable is swapped; without it, refused |
//! | WKWebView (macOS) | `.app` | refused, naming the macOS version the release needs: the webview is part of macOS |
//!
//! Every update check also reports the webview this app runs with in the `X-Millennium-Webview` header
//! (`webkitgtk/2.44.1`, or `missing`), so the server can count installs held back by an old webview.

use std::path::PathBuf;

use millennium_update_protocol::webview::WebviewMinimums;
use millennium_webview_probe::distro::{OsRelease, Provisioning};
use millennium_webview_probe::{Backend, Probe, Verdict, WebviewVersion, guard};

use crate::error::{Error, Result};
use crate::install::InstallKind;

/// Microsoft's WebView2 bootstrapper, as the bundler names it; a plain-executable app ships it beside itself for
/// [`WebviewPolicy::Provision`].
pub const WEBVIEW2_BOOTSTRAPPER: &str = "MicrosoftEdgeWebview2Setup.exe";

/// What to do when a release needs a newer webview than the machine has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WebviewPolicy {
    /// Refuse the update with [`Error::WebviewTooOld`]; the app can tell the user what to install.
    #[default]
    Refuse,
    /// Provision the webview first, then install the update if the webview is now recent enough. Linux: the
    /// distribution's package through PackageKit, or `pkexec` and the distribution's tool, or directly when root (see
    /// `millennium_webview_probe::guard::install`). Windows: an NSIS or MSI update's installer provisions WebView2
    /// itself; a plain executable runs the [`WEBVIEW2_BOOTSTRAPPER`] shipped beside it. macOS: the same as `Refuse`
    /// (only a macOS update brings a newer WKWebView).
    Provision,
    /// Run this command (program and arguments) to provision the webview, e.g. a site's own deployment script; then
    /// install the update if the webview is now recent enough.
    ProvisionWith(Vec<String>),
}

/// What brings the webview up to a release's minimum, for this platform's webview and this install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Remedy {
    /// Nothing: the update is refused (the policy says so, or nothing here can provision this webview).
    Refuse,
    /// The distribution's webview package (Linux).
    Package,
    /// The app's own provisioning command ([`WebviewPolicy::ProvisionWith`]).
    Command(Vec<String>),
    /// The update's NSIS or MSI installer runs its own WebView2 step before it replaces the app.
    Installer,
    /// Microsoft's bootstrapper at this path, run with `/silent /install` before the executable is swapped.
    Bootstrapper(PathBuf),
}

/// The remedy for `backend` and `install` under `policy` (the table in the module's documentation).
pub(crate) fn remedy(backend: Backend, install: &InstallKind, policy: &WebviewPolicy) -> Remedy {
    match (policy, backend, install) {
        (WebviewPolicy::Refuse, ..) => Remedy::Refuse,
        (WebviewPolicy::ProvisionWith(argv), ..) => Remedy::Command(argv.clone()),
        (WebviewPolicy::Provision, Backend::Webkitgtk, _) => Remedy::Package,
        (WebviewPolicy::Provision, Backend::Webview2, InstallKind::Nsis { .. } | InstallKind::Msi { .. }) => {
            Remedy::Installer
        }
        (WebviewPolicy::Provision, Backend::Webview2, InstallKind::Executable { path }) => path
            .parent()
            .map(|dir| dir.join(WEBVIEW2_BOOTSTRAPPER))
            .filter(|bootstrapper| bootstrapper.is_file())
            .map_or(Remedy::Refuse, Remedy::Bootstrapper),
        (WebviewPolicy::Provision, ..) => Remedy::Refuse,
    }
}

/// Checks the webview against the release's minimum for its backend and provisions it when the policy allows.
pub(crate) fn ensure(
    policy: &WebviewPolicy,
    install: &InstallKind,
    version: &str,
    minimums: &WebviewMinimums,
) -> Result<()> {
    // Like with like: a WebKitGTK number says nothing about WebView2.
    let Some(minimum) = minimums.get(Backend::current()) else { return Ok(()) };
    let probe = Probe::detect_fresh();
    let verdict = probe.check(Some(minimum));
    if verdict.is_ok() {
        return Ok(());
    }
    tracing::info!(%version, %minimum, found = %probe.header_value(), ?policy, "the update needs a newer webview");
    let refuse = |probe: &Probe, verdict: &Verdict, provisioned: bool| Error::WebviewTooOld {
        version: version.to_owned(),
        minimum: minimum.to_string(),
        found: probe.version.as_ref().map_or_else(|| "none".to_owned(), ToString::to_string),
        detail: verdict.describe(probe.backend),
        hint: hint(probe.backend, minimum, provisioned),
    };
    match remedy(probe.backend, install, policy) {
        Remedy::Refuse => return Err(refuse(&probe, &verdict, false)),
        Remedy::Installer => {
            tracing::info!(%version, "the update's installer provisions WebView2 before it replaces the app");
            return Ok(());
        }
        Remedy::Package => {
            let provisioning = Provisioning::for_os(OsRelease::system().as_ref());
            guard::install(&provisioning).map_err(|source| Error::WebviewProvisioning { source })?;
        }
        Remedy::Command(argv) => run_provisioner(&argv)?,
        Remedy::Bootstrapper(path) => run_provisioner(&bootstrapper_command(&path))?,
    }
    let after = Probe::detect_fresh();
    let verdict = after.check(Some(minimum));
    if verdict.is_ok() { Ok(()) } else { Err(refuse(&after, &verdict, true)) }
}

/// The bootstrapper's silent per-machine install (it asks for elevation itself when needed), as the bundler's
/// installers run it.
pub(crate) fn bootstrapper_command(bootstrapper: &std::path::Path) -> Vec<String> {
    vec![bootstrapper.to_string_lossy().into_owned(), "/silent".to_owned(), "/install".to_owned()]
}

fn run_provisioner(argv: &[String]) -> Result<()> {
    let command = argv.join(" ");
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::InvalidConfig { reason: "the webview provisioning command is empty".to_owned() })?;
    let failed = |reason: String| Error::WebviewProvisioning {
        source: millennium_webview_probe::Error::InstallFailed {
            package: "the webview".to_owned(),
            reason,
            command: command.clone(),
        },
    };
    let status = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| failed(format!("`{program}` could not be started: {e}")))?;
    if status.success() { Ok(()) } else { Err(failed(format!("`{command}` exited with {status}"))) }
}

fn hint(backend: Backend, minimum: &WebviewVersion, provisioned: bool) -> String {
    let fix = match backend {
        Backend::Webkitgtk => {
            let provisioning = Provisioning::for_os(OsRelease::system().as_ref());
            match (provisioning.package, provisioning.command_line(guard::is_root())) {
                (Some(package), Some(command)) => format!("install or upgrade `{package}`: {command}"),
                _ => provisioning.unsupported.unwrap_or_else(|| "upgrade WebKitGTK 4.1".to_owned()),
            }
        }
        Backend::Webview2 => format!(
            "install the WebView2 Runtime from {} (or ship `{WEBVIEW2_BOOTSTRAPPER}` beside the app and use \
             `WebviewPolicy::Provision`)",
            guard::WEBVIEW2_DOWNLOAD_URL
        ),
        Backend::Wkwebview => format!(
            "this version needs macOS {minimum} or later, and the webview comes with macOS: update macOS (System \
             Settings > General > Software Update), then update the app"
        ),
    };
    if provisioned {
        format!(
            "provisioning ran but the webview is still too old (the distribution may not have a recent enough version); {fix}"
        )
    } else {
        fix
    }
}

/// The header value reporting the webview installed here (without loading it into this process).
pub(crate) fn header_value() -> String {
    Probe::detect_fresh().header_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::{InstallScope, InstallerUi};

    #[test]
    fn each_platform_and_install_gets_its_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let exe = InstallKind::Executable { path: dir.path().join("app.exe") };
        let nsis = InstallKind::Nsis { ui: InstallerUi::Quiet, scope: InstallScope::PerUser };
        let msi = InstallKind::Msi { ui: InstallerUi::Passive, scope: InstallScope::PerMachine, relaunch: None };
        let app = InstallKind::App { path: dir.path().join("Hello.app") };
        let provision = WebviewPolicy::Provision;

        for install in [&exe, &nsis, &msi, &app, &InstallKind::Deb] {
            for backend in [Backend::Webkitgtk, Backend::Webview2, Backend::Wkwebview] {
                assert_eq!(remedy(backend, install, &WebviewPolicy::Refuse), Remedy::Refuse);
                let own = WebviewPolicy::ProvisionWith(vec!["deploy-webview".into()]);
                assert_eq!(remedy(backend, install, &own), Remedy::Command(vec!["deploy-webview".into()]));
            }
            assert_eq!(remedy(Backend::Webkitgtk, install, &provision), Remedy::Package);
            // macOS: only a macOS update brings a newer WKWebView.
            assert_eq!(remedy(Backend::Wkwebview, install, &provision), Remedy::Refuse);
        }
        assert_eq!(remedy(Backend::Webview2, &nsis, &provision), Remedy::Installer);
        assert_eq!(remedy(Backend::Webview2, &msi, &provision), Remedy::Installer);
        // A plain executable needs the bootstrapper beside it.
        assert_eq!(remedy(Backend::Webview2, &exe, &provision), Remedy::Refuse);
        std::fs::write(dir.path().join(WEBVIEW2_BOOTSTRAPPER), b"MZ").unwrap();
        let bootstrapper = dir.path().join(WEBVIEW2_BOOTSTRAPPER);
        assert_eq!(remedy(Backend::Webview2, &exe, &provision), Remedy::Bootstrapper(bootstrapper.clone()));
        assert_eq!(bootstrapper_command(&bootstrapper)[1..], ["/silent", "/install"]);
    }

    #[test]
    fn the_macos_refusal_names_the_macos_version_needed() {
        let minimum: WebviewVersion = "14.2".parse().unwrap();
        let text = hint(Backend::Wkwebview, &minimum, false);
        assert!(text.contains("needs macOS 14.2 or later") && text.contains("Software Update"), "{text}");
        let text = hint(Backend::Webview2, &minimum, false);
        assert!(text.contains(WEBVIEW2_BOOTSTRAPPER), "{text}");
    }
}
