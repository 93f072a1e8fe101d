//! WebView2 runtime provisioning.
//!
//! Both installers first read the EdgeUpdate client key of the runtime, `{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}`,
//! value `pv`, in `HKLM\SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients` (machine-wide installs) and
//! `HKCU\Software\Microsoft\EdgeUpdate\Clients` (per-user installs), and install the runtime only when neither is
//! set. How it is installed is `windows.webview-install-mode`:
//!
//! | mode | at bundle time | at install time |
//! |---|---|---|
//! | `download-bootstrapper` | nothing | PowerShell downloads Microsoft's bootstrapper and runs it `/silent /install` |
//! | `embed-bootstrapper` | the bootstrapper is embedded | it runs `/silent /install` (downloads the runtime) |
//! | `offline-installer` | the offline installer is embedded | it runs `/silent /install`, no network needed |
//! | `{ fixed-runtime = "dir" }` | the folder is installed next to the app | nothing |
//! | `skip` | nothing | nothing |
//!
//! # Where the embedded installers come from
//!
//! The bundler never downloads anything unverified. It looks in the cache directory first:
//! `$MILLENNIUM_WEBVIEW2_CACHE`, else `$XDG_CACHE_HOME/millennium/webview2`, else `~/.cache/millennium/webview2`,
//! for `MicrosoftEdgeWebview2Setup.exe` (bootstrapper) or `MicrosoftEdgeWebView2RuntimeInstallerX64.exe` (offline
//! installer). Put the files you downloaded from Microsoft there (CI: restore them from your artifact store). When
//! the file is missing and its SHA-256 is pinned in `windows.webview2.bootstrapper-sha256` /
//! `offline-installer-sha256`, the bundler downloads it (Microsoft's permanent links, or the configured URL), checks
//! the hash, and stores it in the cache; a pinned hash is also checked on a cached copy. Without a pin and without a
//! cached file, bundling stops with an error saying where to put the file.

use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{WEBVIEW2_CACHE_ENV, WebviewInstallMode, invalid, settings};
use crate::config::App;
use crate::error::{Error, Result};

/// The EdgeUpdate client GUID of the WebView2 runtime.
pub const RUNTIME_GUID: &str = "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}";
/// Microsoft's permanent link to the Evergreen bootstrapper.
pub const BOOTSTRAPPER_URL: &str = "https://go.microsoft.com/fwlink/p/?LinkId=2124703";
/// Microsoft's permanent link to the x64 Evergreen offline installer.
pub const OFFLINE_INSTALLER_URL: &str = "https://go.microsoft.com/fwlink/?linkid=2124701";
/// Cache file name of the bootstrapper.
pub const BOOTSTRAPPER_FILE: &str = "MicrosoftEdgeWebview2Setup.exe";
/// Cache file name of the offline installer.
pub const OFFLINE_INSTALLER_FILE: &str = "MicrosoftEdgeWebView2RuntimeInstallerX64.exe";
/// Arguments both installers are run with.
pub const INSTALL_ARGS: &str = "/silent /install";
/// Largest download accepted (the offline installer is ~180 MB).
const MAX_DOWNLOAD: u64 = 512 << 20;

/// What the installers do about WebView2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provision {
    /// Nothing (skip, or a fixed runtime installed as part of the payload).
    Nothing,
    /// Download the bootstrapper at install time.
    Download { url: String },
    /// Run an embedded installer: its file in the work directory and its name.
    Embedded { source: PathBuf, name: &'static str },
}

/// Checks the `windows.webview2` values.
pub fn validate(app: &App) -> Result<()> {
    let w = &settings(app).webview2;
    for (key, sha) in [
        ("windows.webview2.bootstrapper-sha256", &w.bootstrapper_sha256),
        ("windows.webview2.offline-installer-sha256", &w.offline_installer_sha256),
    ] {
        if let Some(sha) = sha
            && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(invalid(app, key, format!("`{sha}` is not a SHA-256 in hex (64 characters)")));
        }
    }
    for (key, url) in [
        ("windows.webview2.bootstrapper-url", &w.bootstrapper_url),
        ("windows.webview2.offline-installer-url", &w.offline_installer_url),
    ] {
        if let Some(url) = url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(app, key, format!("`{url}` is not an http(s) URL")));
        }
    }
    if let WebviewInstallMode::FixedRuntime(dir) = &settings(app).webview_install_mode
        && !app.root.join(dir).is_dir()
    {
        return Err(Error::Missing {
            what: "fixed WebView2 runtime folder",
            path: app.root.join(dir),
            hint: Some("extract the fixed-version runtime there, or change `windows.webview-install-mode`".into()),
        });
    }
    Ok(())
}

/// The cache directory for the WebView2 installers.
pub fn cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = env(WEBVIEW2_CACHE_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = env("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(Path::new(&dir).join("millennium/webview2"));
    }
    env("HOME").filter(|d| !d.is_empty()).map(|home| Path::new(&home).join(".cache/millennium/webview2"))
}

/// Resolves the configured mode: finds (or fetches) the installer to embed and copies it into `work`.
pub fn provision(
    app: &App,
    work: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    progress: &dyn crate::Progress,
) -> Result<Provision> {
    let w = &settings(app).webview2;
    let (name, pin, url, key) = match &settings(app).webview_install_mode {
        WebviewInstallMode::Skip | WebviewInstallMode::FixedRuntime(_) => return Ok(Provision::Nothing),
        WebviewInstallMode::DownloadBootstrapper => {
            return Ok(Provision::Download { url: w.bootstrapper_url.clone().unwrap_or(BOOTSTRAPPER_URL.into()) });
        }
        WebviewInstallMode::EmbedBootstrapper => (
            BOOTSTRAPPER_FILE,
            &w.bootstrapper_sha256,
            w.bootstrapper_url.as_deref().unwrap_or(BOOTSTRAPPER_URL),
            "windows.webview2.bootstrapper-sha256",
        ),
        WebviewInstallMode::OfflineInstaller => (
            OFFLINE_INSTALLER_FILE,
            &w.offline_installer_sha256,
            w.offline_installer_url.as_deref().unwrap_or(OFFLINE_INSTALLER_URL),
            "windows.webview2.offline-installer-sha256",
        ),
    };
    let cache = cache_dir(env).ok_or_else(|| Error::Usage {
        message: format!("no cache directory for the WebView2 installers\nhint: set `{WEBVIEW2_CACHE_ENV}`"),
    })?;
    let cached = cache.join(name);
    let data = if cached.is_file() {
        let data = std::fs::read(&cached).map_err(Error::io("read", &cached))?;
        if let Some(pin) = pin {
            check_hash(&cached.display().to_string(), &data, pin)?;
        }
        data
    } else if let Some(pin) = pin {
        progress.step(&format!("downloading {name}"));
        let data = download(url, name)?;
        check_hash(url, &data, pin)?;
        store(&cache, name, &data)?;
        data
    } else {
        return Err(Error::Missing {
            what: "WebView2 installer",
            path: cached,
            hint: Some(format!(
                "download it from {url} and put it there (or set `{WEBVIEW2_CACHE_ENV}` to its folder); or pin \
                 its SHA-256 in `{key}` so the bundler downloads and checks it"
            )),
        });
    };
    // The bootstrapper is a 32-bit executable: only the DOS header is checked.
    if !data.starts_with(b"MZ") {
        return Err(not_pe(&cached));
    }
    let source = work.join(name);
    std::fs::write(&source, &data).map_err(Error::io("write", &source))?;
    Ok(Provision::Embedded { source, name })
}

fn not_pe(path: &Path) -> Error {
    Error::Binary {
        path: path.to_owned(),
        message: "the WebView2 installer is not a Windows executable\nhint: replace it with the file from Microsoft"
            .into(),
    }
}

fn check_hash(what: &str, data: &[u8], pin: &str) -> Result<()> {
    let actual = hex::encode(sha2::Sha256::digest(data));
    if !actual.eq_ignore_ascii_case(pin) {
        return Err(Error::Package {
            format: "WebView2 installer",
            message: format!(
                "`{what}` has SHA-256 {actual}, not the pinned {pin}\nhint: Microsoft updates the file from time to \
                 time: check the new file and update the pin, or remove the stale cached copy"
            ),
        });
    }
    Ok(())
}

/// Writes `data` to `cache/name` via a temporary file, so a concurrent or interrupted run never sees half a file.
fn store(cache: &Path, name: &str, data: &[u8]) -> Result<()> {
    std::fs::create_dir_all(cache).map_err(Error::io("create", cache))?;
    let tmp = tempfile::NamedTempFile::new_in(cache).map_err(Error::io("create a file in", cache))?;
    std::fs::write(tmp.path(), data).map_err(Error::io("write", tmp.path()))?;
    let target = cache.join(name);
    tmp.persist(&target).map_err(|e| Error::Io { action: "store", path: target, source: e.error })?;
    Ok(())
}

fn download(url: &str, name: &str) -> Result<Vec<u8>> {
    let err = |message: String| Error::Package { format: "WebView2 installer", message };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(format!("could not start the downloader: {e}")))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(600))
            .build()
            .map_err(|e| err(format!("could not start the downloader: {e}")))?;
        let hint = format!(
            "\nhint: without network, download {name} elsewhere and put it in the cache directory (`{WEBVIEW2_CACHE_ENV}`)"
        );
        let mut response = client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| err(format!("could not download {url}: {e}{hint}")))?;
        let mut data = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| err(format!("download of {url} failed: {e}{hint}")))? {
            data.extend_from_slice(&chunk);
            if data.len() as u64 > MAX_DOWNLOAD {
                return Err(err(format!("{url} is larger than {MAX_DOWNLOAD} bytes: not a WebView2 installer")));
            }
        }
        Ok(data)
    })
}
