//! Every environment variable the example reads, in one place.

use std::path::PathBuf;
use std::time::Duration;

/// `1` runs the page's self-test on load and prints its results.
pub const SELFTEST: &str = "MILLENNIUM_SELFTEST";
/// How long to stay up after the self-test before exiting, in milliseconds (for screenshots); default 0.
pub const SELFTEST_HOLD_MS: &str = "MILLENNIUM_SELFTEST_HOLD_MS";
/// The directory `Millennium.fs.readTextFile` may read; default the current directory.
pub const FS_SCOPE: &str = "MILLENNIUM_HELLO_FS_SCOPE";
/// `0` turns IPC message authentication off (default on).
pub const AUTH: &str = "MILLENNIUM_HELLO_AUTH";
/// A command name from an earlier launch that the self-test tries to call (it must be refused).
pub const SELFTEST_STALE_NAME: &str = "MILLENNIUM_SELFTEST_STALE_NAME";
/// A Content-Security-Policy instead of the framework's default (the tests loosen it so that the self-test's frames
/// load and their attacks on the bridge can be tried).
pub const CSP: &str = "MILLENNIUM_HELLO_CSP";
/// The oldest system webview the app accepts; default [`MIN_WEBVIEW_VERSION`].
pub const MIN_WEBVIEW: &str = "MILLENNIUM_HELLO_MIN_WEBVIEW";
/// The WebKitGTK this example needs at least (a 2023 release; `Millennium.toml` says the same).
pub const MIN_WEBVIEW_VERSION: &str = "2.40";
/// With the `localhost-server` feature: serve the page over `http://127.0.0.1:<port>/` (`0`: any free port).
#[cfg(feature = "localhost-server")]
pub const LOCALHOST_PORT: &str = "MILLENNIUM_HELLO_LOCALHOST_PORT";
/// Set to anything to turn colours off in the log.
pub const NO_COLOR: &str = "NO_COLOR";
/// The log level on stderr (`error`, `warn`, `info`, `debug`, `trace`); default `warn`.
pub const LOG: &str = "MILLENNIUM_LOG";

pub fn selftest() -> bool {
    std::env::var(SELFTEST).is_ok_and(|v| v == "1")
}

pub fn hold() -> Duration {
    Duration::from_millis(std::env::var(SELFTEST_HOLD_MS).ok().and_then(|v| v.parse().ok()).unwrap_or(0))
}

#[cfg_attr(not(feature = "api-fs"), allow(dead_code))]
pub fn fs_scope() -> PathBuf {
    std::env::var_os(FS_SCOPE).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

pub fn log_level() -> tracing::Level {
    std::env::var(LOG).ok().and_then(|v| v.parse().ok()).unwrap_or(tracing::Level::WARN)
}

pub fn authenticate() -> bool {
    std::env::var(AUTH).map_or(true, |v| v != "0")
}

pub fn stale_name() -> Option<String> {
    std::env::var(SELFTEST_STALE_NAME).ok().filter(|v| !v.is_empty())
}

pub fn csp() -> Option<String> {
    std::env::var(CSP).ok().filter(|v| !v.is_empty())
}

pub fn color() -> bool {
    use std::io::IsTerminal as _;
    std::env::var_os(NO_COLOR).is_none() && std::io::stderr().is_terminal()
}

pub fn min_webview() -> String {
    std::env::var(MIN_WEBVIEW).unwrap_or_else(|_| MIN_WEBVIEW_VERSION.to_owned())
}

/// The localhost server's port, if one is asked for.
///
/// # Errors
///
/// When the variable is set but is not a port number.
#[cfg(feature = "localhost-server")]
pub fn localhost_port() -> Result<Option<u16>, String> {
    match std::env::var(LOCALHOST_PORT) {
        Err(_) => Ok(None),
        Ok(value) => value.trim().parse().map(Some).map_err(|_| {
            format!("{LOCALHOST_PORT}={value:?} is not a port number\nhint: use 0 to 65535 (0: any free port)")
        }),
    }
}

/// With the `api-updater` feature: the update server's endpoint template (e.g.
/// `https://updates.example.com/hello/{{target}}/{{arch}}/{{current_version}}`); without it the app has no updater.
/// A real app writes its endpoint and key into its code; the example reads them so that the tests can point it at a
/// local server.
#[cfg(feature = "api-updater")]
pub const UPDATE_ENDPOINT: &str = "MILLENNIUM_HELLO_UPDATE_ENDPOINT";
/// The release key the updater pins (minisign or Tauri text form).
#[cfg(feature = "api-updater")]
pub const UPDATE_PUBKEY: &str = "MILLENNIUM_HELLO_UPDATE_PUBKEY";
/// The version the updater says is running; default the crate's version.
#[cfg(feature = "api-updater")]
pub const VERSION: &str = "MILLENNIUM_HELLO_VERSION";
/// The runtime's background update checks: `off`, or `FIRST_MS,INTERVAL_MS,JITTER_MS` (the first check's delay,
/// the interval, the jitter), optionally followed by `,exit` to download found updates and install them at exit.
/// Default: the framework's (first after 60 s, every 6 h, up to 30 min jitter, announce only).
#[cfg(feature = "api-updater")]
pub const UPDATE_CHECKS: &str = "MILLENNIUM_HELLO_UPDATE_CHECKS";
/// `http` allows a plain-http update server (the tests' loopback server); never in a shipped app.
#[cfg(feature = "api-updater")]
pub const UPDATE_INSECURE: &str = "MILLENNIUM_HELLO_UPDATE_INSECURE";
/// Which install strategy the updater uses is chosen by the bundle the binary ships in, fixed when it is built:
/// `MILLENNIUM_HELLO_BUNDLE=deb cargo build …` for the binary inside the .deb (`appimage`, `deb`, `rpm`, `app`,
/// `nsis`, `msi`); unset, a plain executable (or an AppImage, recognised at run time by `$APPIMAGE`).
#[cfg(feature = "api-updater")]
pub const BUNDLE_AT_BUILD: Option<&str> = option_env!("MILLENNIUM_HELLO_BUNDLE");

/// The updater configured from the variables above, or `None` without an endpoint.
///
/// # Errors
///
/// When a variable is set to something unusable.
#[cfg(feature = "api-updater")]
pub fn updater() -> Result<Option<(millennium::updater::UpdaterBuilder, millennium::api::updater::UpdateChecks)>, String>
{
    use millennium::api::updater::UpdateChecks;
    use std::time::Duration;

    let Ok(endpoint) = std::env::var(UPDATE_ENDPOINT) else { return Ok(None) };
    let pubkey =
        std::env::var(UPDATE_PUBKEY).map_err(|_| format!("{UPDATE_ENDPOINT} is set but not {UPDATE_PUBKEY}"))?;
    let version = std::env::var(VERSION).unwrap_or_else(|_| env!("CARGO_PKG_VERSION").to_owned());
    let bundle = match BUNDLE_AT_BUILD.filter(|b| !b.is_empty()) {
        None => None,
        Some(name) => Some(name.parse().map_err(|_| format!("MILLENNIUM_HELLO_BUNDLE={name:?} is no bundle type"))?),
    };
    let mut builder = millennium::updater::Updater::builder()
        .endpoint(endpoint)
        .pubkey(pubkey)
        .current_version(version)
        .app_id("com.millennium.hello")
        .allow_insecure_http(std::env::var(UPDATE_INSECURE).is_ok_and(|v| v == "http"));
    if bundle.is_some() {
        builder = builder.bundle_type(bundle);
    }
    let checks = match std::env::var(UPDATE_CHECKS) {
        Err(_) => UpdateChecks::new(),
        Ok(value) if value == "off" => UpdateChecks::off(),
        Ok(value) => {
            let bad =
                || format!("{UPDATE_CHECKS}={value:?}: expected `off` or `FIRST_MS,INTERVAL_MS,JITTER_MS[,exit]`");
            let parts: Vec<&str> = value.split(',').map(str::trim).collect();
            let ms = |i: usize| -> Result<Duration, String> {
                parts.get(i).and_then(|p| p.parse().ok()).map(Duration::from_millis).ok_or_else(bad)
            };
            let on_exit = match parts.get(3) {
                None => false,
                Some(&"exit") => true,
                Some(_) => return Err(bad()),
            };
            UpdateChecks::new().first_delay(ms(0)?).interval(ms(1)?).jitter(ms(2)?).install_on_exit(on_exit)
        }
    };
    Ok(Some((builder, checks)))
}
