//! Releases that need a newer system webview: a release may declare `min_webview_version` per backend (WebKitGTK
//! version on Linux, WebView2 Runtime on Windows, macOS version on macOS). Only the entry of the webview this platform
//! uses counts: a release with minimums for other backends only installs here whatever the webview. Before installing
//! a release with an entry for it, the webview the *next* launch will get is probed ([`Probe::detect_fresh`]); when it
//! is older (or missing), the [`WebviewPolicy`] decides:
//! refuse with [`Error::WebviewTooOld`] (nothing installed, the running version stays), or provision the webview
//! first and install only when the probe then meets the minimum.
//!
//! Every update check also reports the webview this app runs with in the `X-Millennium-Webview` header
//! (`webkitgtk/2.44.1`, or `missing`), so the server can count installs held back by an old webview.

use millennium_update_protocol::webview::WebviewMinimums;
use millennium_webview_probe::distro::{OsRelease, Provisioning};
use millennium_webview_probe::{Backend, Probe, Verdict, guard};

use crate::error::{Error, Result};

/// What to do when a release needs a newer webview than the machine has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WebviewPolicy {
    /// Refuse the update with [`Error::WebviewTooOld`]; the app can tell the user what to install.
    #[default]
    Refuse,
    /// Install the webview package first (Linux: the distribution's package through PackageKit, or `pkexec` and the
    /// distribution's tool, or directly when root; see `millennium_webview_probe::guard::install`), then install the
    /// update if the webview is now recent enough. Elsewhere, the same as `Refuse`.
    Provision,
    /// Run this command (program and arguments) to provision the webview, e.g. a site's own deployment script; then
    /// install the update if the webview is now recent enough.
    ProvisionWith(Vec<String>),
}

/// Checks the webview against the release's minimum for its backend and provisions it when the policy allows.
pub(crate) fn ensure(policy: &WebviewPolicy, version: &str, minimums: &WebviewMinimums) -> Result<()> {
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
        hint: hint(probe.backend, provisioned),
    };
    match policy {
        WebviewPolicy::Refuse => return Err(refuse(&probe, &verdict, false)),
        WebviewPolicy::Provision if probe.backend != Backend::Webkitgtk => {
            return Err(refuse(&probe, &verdict, false));
        }
        WebviewPolicy::Provision => {
            let provisioning = Provisioning::for_os(OsRelease::system().as_ref());
            guard::install(&provisioning).map_err(|source| Error::WebviewProvisioning { source })?;
        }
        WebviewPolicy::ProvisionWith(argv) => run_provisioner(argv)?,
    }
    let after = Probe::detect_fresh();
    let verdict = after.check(Some(minimum));
    if verdict.is_ok() { Ok(()) } else { Err(refuse(&after, &verdict, true)) }
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

fn hint(backend: Backend, provisioned: bool) -> String {
    let fix = match backend {
        Backend::Webkitgtk => {
            let provisioning = Provisioning::for_os(OsRelease::system().as_ref());
            match (provisioning.package, provisioning.command_line(guard::is_root())) {
                (Some(package), Some(command)) => format!("install or upgrade `{package}`: {command}"),
                _ => provisioning.unsupported.unwrap_or_else(|| "upgrade WebKitGTK 4.1".to_owned()),
            }
        }
        Backend::Webview2 => format!("install the WebView2 Runtime from {}", guard::WEBVIEW2_DOWNLOAD_URL),
        Backend::Wkwebview => "update macOS".to_owned(),
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
