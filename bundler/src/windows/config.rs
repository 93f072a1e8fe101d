//! The `[windows]` configuration section.

use serde::Deserialize;

/// Windows installers (`.msi`, NSIS `-setup.exe`).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Windows {
    /// The app's Windows executable (x86_64 PE), cross-compiled, e.g. with `cargo xwin build --release --target
    /// x86_64-pc-windows-msvc`. Default: `target/x86_64-pc-windows-msvc/release/CRATE.exe`.
    pub binary: Option<String>,
    /// Icon for the installers, shortcuts and the uninstall entry: an `.ico` file, or a square PNG converted to a
    /// multi-size `.ico`. Default: the largest of `icons`.
    pub icon: Option<String>,
    /// `per-machine` (Program Files, needs administrator rights; default) or `per-user` (`%LOCALAPPDATA%\Programs`).
    #[serde(default)]
    pub install_scope: InstallScope,
    /// How the installers make sure the WebView2 runtime is present. Default: `download-bootstrapper`.
    #[serde(default)]
    pub webview_install_mode: WebviewInstallMode,
    /// Where the WebView2 bootstrapper / offline installer comes from, when embedded.
    #[serde(default)]
    pub webview2: Webview2Source,
    /// Also put a shortcut on the desktop (the Start menu shortcut is always created).
    #[serde(default)]
    pub desktop_shortcut: bool,
    /// File types the app opens: registered under `Software\Classes` with an "open" command.
    #[serde(default)]
    pub file_associations: Vec<crate::config::FileAssociation>,
    /// Installer languages for NSIS: NSIS names (`English`, `German`, ...) or codes (`en`, `de`, ...). Default: `en`.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Overrides the MSI UpgradeCode (a GUID), e.g. to upgrade installs made by another tool. Default: a UUIDv5 of the
    /// identifier, stable across versions.
    pub upgrade_code: Option<String>,
    /// Authenticode signing of the app executable, the uninstaller and the installers.
    pub signing: Option<Signing>,
}

/// Who the app is installed for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum InstallScope {
    #[default]
    PerMachine,
    PerUser,
}

/// How the WebView2 runtime is provisioned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum WebviewInstallMode {
    /// Download Microsoft's bootstrapper at install time (needs network on the user's machine) and run it.
    #[default]
    DownloadBootstrapper,
    /// Embed the bootstrapper (~2 MB) in the installer; it still downloads the runtime at install time.
    EmbedBootstrapper,
    /// Embed the offline runtime installer (~130 MB): installs without network.
    OfflineInstaller,
    /// Ship a fixed-version runtime folder next to the executable (`{ fixed-runtime = "path/to/folder" }`).
    FixedRuntime(String),
    /// Do nothing (the runtime is known to be present, e.g. Windows 11).
    Skip,
}

/// Where the bootstrapper or offline installer is taken from when it is embedded.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Webview2Source {
    /// SHA-256 (hex) the bootstrapper must have. Required for the bundler to download it; checked on cached copies.
    pub bootstrapper_sha256: Option<String>,
    /// SHA-256 (hex) the offline installer must have.
    pub offline_installer_sha256: Option<String>,
    /// Download URL of the bootstrapper. Default: Microsoft's permanent link.
    pub bootstrapper_url: Option<String>,
    /// Download URL of the offline installer. Default: Microsoft's permanent link for x64.
    pub offline_installer_url: Option<String>,
}

/// Authenticode signing: built-in `osslsigncode` with a certificate and key, or a command for cloud signers.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Signing {
    /// Certificate: PEM/DER chain (with `key`) or a PKCS#12 `.pfx`/`.p12` holding both. Default: the path in
    /// `MILLENNIUM_WINDOWS_CERTIFICATE`.
    pub certificate: Option<String>,
    /// Private key (PEM/DER) for `certificate`. Default: the path in `MILLENNIUM_WINDOWS_CERTIFICATE_KEY`. Its password,
    /// if any, is read from `MILLENNIUM_WINDOWS_CERTIFICATE_PASSWORD`.
    pub key: Option<String>,
    /// RFC 3161 timestamp server, e.g. `http://timestamp.digicert.com`. Default: no timestamp.
    pub timestamp_url: Option<String>,
    /// Instead of osslsigncode: a command run once per file, signing it in place; `{path}` is replaced by the file's
    /// path, e.g. `azuresigntool sign -kvu https://vault.example.net -kvc cert {path}`. Run with `sh -c`.
    pub sign_command: Option<String>,
}
