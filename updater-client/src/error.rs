//! The one error type of `millennium-updater`.
//!
//! Every variant says what happened, to which URL or path, and (after a `hint:` line) what the user or the app can do
//! about it. Whatever the error, the running version is untouched: nothing is moved into place before it is verified,
//! and every replacement is a single atomic rename (see [`crate::install`]).
//!
//! Foreign errors are kept as sources where they add detail. I/O errors in particular are only a `source()`: their
//! text is not part of the message, so show an error with its whole chain ([`Report`](crate::Report), as
//! `docs/conventions.md` says). Network errors are flattened into the message, because `reqwest` puts the useful part
//! ("connection refused", "connection reset") deep in its source chain.

use std::path::{Path, PathBuf};

use millennium_report::Report;
use millennium_sign::KeyId;
use millennium_update_protocol::Target;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while checking for, downloading, verifying, installing or rolling back an update.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- configuration -----
    /// The updater was configured with something unusable (no endpoint, no key, a malformed template…).
    #[error("invalid updater configuration: {reason}")]
    InvalidConfig { reason: String },

    /// A pinned public key could not be parsed.
    #[error("invalid pinned public key: {source}\nhint: pass the `pubkey` text printed by `millennium-sign generate`")]
    InvalidPublicKey {
        #[source]
        source: millennium_sign::Error,
    },

    // ----- network and server -----
    /// The server could not be reached, or the connection broke.
    #[error("could not reach `{url}`: {cause}\nhint: check the network connection and proxy settings, then try again")]
    Network { url: String, cause: String },

    /// The server did not answer in time, or sent data too slowly (a stalled or deliberately slow server).
    #[error(
        "`{url}` is too slow: {what}\nhint: try again later; if this persists the server or a proxy is misbehaving"
    )]
    Timeout { url: String, what: String },

    /// The server answered with an HTTP error status.
    #[error("`{url}` answered HTTP {status}\nhint: the update server may be down or misconfigured; try again later")]
    HttpStatus { url: String, status: u16 },

    /// The server answered with a content type that cannot be an update document or artifact (typically an HTML
    /// page from a captive portal, a login wall or an error page).
    #[error(
        "`{url}` answered with content type `{content_type}`, not {expected}\nhint: a captive portal, proxy login page or error page is answering instead of the update server"
    )]
    UnexpectedContentType { url: String, content_type: String, expected: &'static str },

    /// The update check answered `200` with a document that is not a valid update response.
    #[error("`{url}` answered with an invalid update response: {source}\nhint: the update server is misconfigured")]
    InvalidResponse {
        url: String,
        #[source]
        source: Box<millennium_update_protocol::Error>,
    },

    /// The server sent more data than it announced (or than the configured maximum): the download was cut off.
    #[error(
        "`{url}` sent more than the {limit} bytes it announced; the download was cut off and discarded\nhint: the server is misbehaving (or something is tampering with the connection)"
    )]
    TooMuchData { url: String, limit: u64 },

    /// The artifact is larger than the configured maximum download size.
    #[error(
        "`{url}` announces {size} bytes, more than the {limit} bytes allowed\nhint: raise `max_download_size` if this is expected"
    )]
    TooLarge { url: String, size: u64, limit: u64 },

    /// The connection ended before the announced size was received, on every attempt.
    #[error(
        "`{url}` ended the download after {received} of {expected} bytes ({cause})\nhint: try again later; what arrived is kept and resumed next time when the server supports ranges"
    )]
    Truncated { url: String, received: u64, expected: u64, cause: String },

    /// After an https request, a server named a plain-http URL on a host other than loopback (an artifact URL in its
    /// answer, or a redirect). Nothing was requested from it: anyone on the network could read and rewrite it.
    #[error(
        "`{from}` was asked over https but points to plain-http `{url}`, which is refused\nhint: the update server must name https URLs for downloads and redirects (plain http is accepted on loopback only)"
    )]
    HttpsDowngrade { url: String, from: String },

    /// A server named a plain-http URL on a host other than loopback, and the updater does not allow plain http.
    /// Nothing was requested from it.
    #[error(
        "`{from}` points to plain-http `{url}`, which is refused\nhint: make the update server name https URLs, or allow plain http on a trusted network with `allow_insecure_http(true)`"
    )]
    InsecureHttp { url: String, from: String },

    /// The server broke the HTTP rules in a way that makes its answer unusable (e.g. a `206` for another range).
    #[error("`{url}` misbehaved: {what}")]
    ServerMisbehaved { url: String, what: String },

    /// Every endpoint failed. Each endpoint's error is listed.
    #[error("no update endpoint gave a valid answer:{}", list(errors))]
    AllEndpointsFailed { errors: Vec<Error> },

    // ----- what was offered -----
    /// The response has no artifact for this platform.
    #[error(
        "the update server offers version {version} but no artifact for `{target}`: {source}\nhint: publish an artifact for this platform (a plain binary looks up `{{os}}-{{arch}}` only)"
    )]
    NoArtifactForTarget {
        version: String,
        target: Target,
        #[source]
        source: Box<millennium_update_protocol::Error>,
    },

    /// The artifact is signed by a key that is not pinned (checked before downloading).
    #[error(
        "the update is signed by key {signed_by}, which is not one of the trusted keys ({trusted})\nhint: nothing was downloaded; the server offers an artifact signed by another key (a wrong or compromised release)"
    )]
    UntrustedKey { signed_by: KeyId, trusted: String },

    /// The signature names no version (no `version:` in its trusted comment, as `tauri signer` writes them) and the
    /// app requires one (`require_signed_version`, on in Millennium apps): it could be an old build offered as a new
    /// version. Checked before downloading.
    #[error(
        "the update offered as version {version} has a signature that does not name its version, which this app requires\nhint: nothing was installed; sign releases with `millennium-sign sign --version {version}` (or opt out with `require_signed_version(false)` if the signer cannot add a version)"
    )]
    UnsignedVersion { version: String },

    /// The signature is a legacy (non-prehashed) minisign signature, which cannot be verified in constant memory.
    #[error(
        "the update's signature is a legacy minisign signature, which this updater does not accept\nhint: re-sign the artifact with `millennium-sign sign` or `tauri signer sign` (both write prehashed signatures)"
    )]
    LegacySignature,

    /// The downloaded artifact does not verify against the pinned key(s), or its signed version differs from the
    /// offered one. It was deleted; nothing was installed.
    #[error(
        "the downloaded update failed verification: {source}\nhint: the file was deleted and nothing was installed; the server offers a corrupted or tampered artifact"
    )]
    BadSignature {
        #[source]
        source: millennium_sign::Error,
    },

    /// The signed release metadata refuses what the server or a mirror offered: a rollback, an expired (frozen) or
    /// replayed freshness document, documents or artifacts of different releases, more data than signed, another
    /// platform's artifact, a tampered artifact, or a signature by an unknown or revoked key.
    #[error(
        "the update was refused by the signed release metadata: {source}\nhint: nothing was installed and the app keeps its current version; the update server or a mirror serves stale or tampered data (or this device's clock is wrong)"
    )]
    Untrusted {
        #[source]
        source: Box<millennium_update_protocol::Error>,
    },

    /// The (correctly signed) artifact is not for this platform or install kind. It was deleted; nothing was installed.
    #[error(
        "the downloaded update is {found}, but this app needs {expected}\nhint: the file was deleted and nothing was installed; the server offers the artifact of another platform"
    )]
    WrongTarget { expected: String, found: String },

    // ----- local system -----
    /// The disk (or the user's quota) is full.
    #[error("no space left to {action} `{path}`\nhint: free some disk space and try again")]
    DiskFull {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The operating system refused the operation (EACCES, EPERM, read-only file system).
    #[error(
        "not permitted to {action} `{path}`\nhint: the app is installed where this user cannot write; update it with the system's package manager or as an administrator"
    )]
    NotPermitted {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Any other file system error.
    #[error("could not {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A state file (install id, rollback state, partial download record) is corrupt.
    #[error("the updater state file `{path}` is corrupt: {reason}\nhint: delete it; the updater starts afresh")]
    CorruptState { path: PathBuf, reason: String },

    /// The verified file changed between its verification and its install: the install checks once more the bytes it
    /// installs (and the package tool's root side the copy it makes), and they differ. Nothing was installed; a
    /// download is deleted.
    #[error(
        "`{path}` changed after it was verified; nothing was installed\nhint: something on this machine writes to the updater's files (malware, or a backup or sync tool); check for the update again"
    )]
    ChangedAfterVerification {
        path: PathBuf,
        /// What the second check found, when the updater made it (not when the package tool's root side refused).
        #[source]
        source: Option<Box<Error>>,
    },

    /// The system package tool (`dpkg`, `rpm`, through `pkexec` when not root) failed.
    #[error("`{command}` failed ({status}):\n{output}\nhint: the previous version is still installed")]
    PackageManager { command: String, status: String, output: String },

    /// The release needs a newer system webview than this machine has (or than provisioning could bring); nothing
    /// was installed.
    #[error(
        "version {version} needs webview {minimum} or newer, and this machine has {found}: {detail}; the update was not installed\nhint: {hint}"
    )]
    WebviewTooOld { version: String, minimum: String, found: String, detail: String, hint: String },

    /// Provisioning the webview failed; nothing was installed.
    #[error("could not provision the system webview: {source}")]
    WebviewProvisioning {
        #[source]
        source: millennium_webview_probe::Error,
    },

    /// The app cannot be updated where it is (a macOS bundle under App Translocation, on a read-only disk image, in
    /// a directory this user cannot write); nothing was changed.
    #[error("cannot update the app at `{path}`: {reason}; nothing was changed\nhint: {hint}")]
    InstallRefused { path: PathBuf, reason: String, hint: String },

    /// A macOS `.app` in a directory this user cannot write (installed by an administrator); nothing was changed.
    /// The app can offer to install with an administrator's password: [`crate::DownloadedUpdate::install_as_admin`].
    #[error(
        "cannot update the app at `{path}`: this user cannot write to `{directory}`; nothing was changed\nhint: the app was installed by an administrator: install the update with an administrator's password, ask an administrator to update it, or move the app to a folder you own (such as ~/Applications)"
    )]
    NeedsAdministrator { path: PathBuf, directory: PathBuf },

    /// The (correctly signed) update archive holds an entry that would escape the app bundle or is not a sound
    /// archive; nothing was changed.
    #[error(
        "the update archive `{archive}` was refused: {}{reason}; nothing was changed\nhint: the release is malformed (or its signing key is compromised); report it to the app's publisher",
        if entry.is_empty() { String::new() } else { format!("entry `{entry}` ") }
    )]
    UnsafeArchive { archive: PathBuf, entry: String, reason: String },

    /// Installing this kind of update is not supported on this platform yet.
    #[error("installing {what} is not supported on this platform")]
    Unsupported { what: String },

    /// The new version could not be started.
    #[error("could not relaunch `{path}`\nhint: the update is installed; start the app again by hand")]
    Relaunch {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A delta could not be applied. Never returned by the public API: the updater logs it and downloads the full
    /// artifact instead (see `src/delta.rs`).
    #[error("the delta could not be applied\nhint: the full artifact is downloaded instead")]
    Delta {
        #[source]
        source: millennium_delta::Error,
    },

    /// There is no previous version to roll back to.
    #[error("no previous version to roll back to (expected `{path}`)")]
    NoPreviousVersion { path: PathBuf },
}

fn list(errors: &[Error]) -> String {
    let mut out = String::new();
    for e in errors {
        out.push_str("\n  - ");
        out.push_str(&Report::new(e).to_string().replace('\n', "\n    "));
    }
    out
}

/// The broad class of an [`Error`], with a stable number: the status code of the C ABI (`MILLENNIUM_UPDATER_ERR_*`)
/// and the `code` of the Python and Node packages' exceptions, so that every binding classifies an error the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unusable configuration: no endpoint, bad key, bad version….
    Config,
    /// The update server could not be reached or answered something unusable; trying again later may help.
    Network,
    /// The update was refused (signature, pinned key, signed metadata, platform, unsafe archive); nothing installed.
    Verification,
    /// The local file system: disk full, permission denied, corrupt state.
    Io,
    /// Installing, relaunching or rolling back failed.
    Install,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The stable number (never renumbered): 10 to 14, 99 for [`ErrorKind::Other`].
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::Config => 10,
            ErrorKind::Network => 11,
            ErrorKind::Verification => 12,
            ErrorKind::Io => 13,
            ErrorKind::Install => 14,
            ErrorKind::Other => 99,
        }
    }

    /// A lowercase name: `"config"`, `"network"`, `"verification"`, `"io"`, `"install"`, `"other"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Network => "network",
            ErrorKind::Verification => "verification",
            ErrorKind::Io => "io",
            ErrorKind::Install => "install",
            ErrorKind::Other => "other",
        }
    }
}

impl Error {
    /// The error's class (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidConfig { .. } | Error::InvalidPublicKey { .. } => ErrorKind::Config,
            Error::Network { .. }
            | Error::Timeout { .. }
            | Error::HttpStatus { .. }
            | Error::UnexpectedContentType { .. }
            | Error::InvalidResponse { .. }
            | Error::TooMuchData { .. }
            | Error::TooLarge { .. }
            | Error::Truncated { .. }
            | Error::HttpsDowngrade { .. }
            | Error::InsecureHttp { .. }
            | Error::ServerMisbehaved { .. }
            | Error::AllEndpointsFailed { .. } => ErrorKind::Network,
            Error::NoArtifactForTarget { .. }
            | Error::UntrustedKey { .. }
            | Error::UnsignedVersion { .. }
            | Error::LegacySignature
            | Error::BadSignature { .. }
            | Error::Untrusted { .. }
            | Error::WrongTarget { .. }
            | Error::ChangedAfterVerification { .. }
            // A signed archive with an entry escaping the app's directory (or another unsafe entry): refused content.
            | Error::UnsafeArchive { .. } => ErrorKind::Verification,
            Error::DiskFull { .. } | Error::NotPermitted { .. } | Error::Io { .. } | Error::CorruptState { .. } => {
                ErrorKind::Io
            }
            Error::PackageManager { .. }
            | Error::InstallRefused { .. }
            | Error::NeedsAdministrator { .. }
            | Error::WebviewTooOld { .. }
            | Error::WebviewProvisioning { .. }
            | Error::Unsupported { .. }
            | Error::Relaunch { .. }
            | Error::NoPreviousVersion { .. } => ErrorKind::Install,
            #[allow(unreachable_patterns, reason = "a variant added later is Other until classified")]
            _ => ErrorKind::Other,
        }
    }

    /// Wraps an I/O error, classifying "disk full" and "not permitted" so the message can say what to do.
    pub(crate) fn io(action: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        use std::io::ErrorKind;
        let path = path.as_ref().to_owned();
        match source.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Error::DiskFull { action, path, source },
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => Error::NotPermitted { action, path, source },
            _ => Error::Io { action, path, source },
        }
    }

    /// Wraps a `reqwest` error for `url`, telling timeouts from other network failures.
    pub(crate) fn network(url: &str, e: &reqwest::Error) -> Self {
        let cause = chain(e);
        if e.is_timeout() {
            Error::Timeout { url: url.to_owned(), what: format!("no answer in time ({cause})") }
        } else {
            Error::Network { url: url.to_owned(), cause }
        }
    }

    /// A short, stable code for the kind of error (`network`, `bad_signature`, `disk_full`…): what release-health
    /// events carry (never the message, which holds paths and URLs). Codes are `a-z 0-9 _`; they are never renamed.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidConfig { .. } => "invalid_config",
            Error::InvalidPublicKey { .. } => "invalid_public_key",
            Error::Network { .. } => "network",
            Error::Timeout { .. } => "timeout",
            Error::HttpStatus { .. } => "http_status",
            Error::UnexpectedContentType { .. } => "unexpected_content_type",
            Error::InvalidResponse { .. } => "invalid_response",
            Error::TooMuchData { .. } => "too_much_data",
            Error::TooLarge { .. } => "too_large",
            Error::Truncated { .. } => "truncated",
            Error::HttpsDowngrade { .. } => "https_downgrade",
            Error::InsecureHttp { .. } => "insecure_http",
            Error::ServerMisbehaved { .. } => "server_misbehaved",
            Error::AllEndpointsFailed { .. } => "all_endpoints_failed",
            Error::NoArtifactForTarget { .. } => "no_artifact_for_target",
            Error::UntrustedKey { .. } => "untrusted_key",
            Error::UnsignedVersion { .. } => "unsigned_version",
            Error::LegacySignature => "legacy_signature",
            Error::BadSignature { .. } => "bad_signature",
            Error::Untrusted { .. } => "untrusted",
            Error::WrongTarget { .. } => "wrong_target",
            Error::DiskFull { .. } => "disk_full",
            Error::NotPermitted { .. } => "not_permitted",
            Error::Io { .. } => "io",
            Error::CorruptState { .. } => "corrupt_state",
            Error::ChangedAfterVerification { .. } => "changed_after_verification",
            Error::PackageManager { .. } => "package_manager",
            Error::WebviewTooOld { .. } => "webview_too_old",
            Error::WebviewProvisioning { .. } => "webview_provisioning",
            Error::InstallRefused { .. } => "install_refused",
            Error::UnsafeArchive { .. } => "unsafe_archive",
            Error::Unsupported { .. } => "unsupported",
            Error::Relaunch { .. } => "relaunch",
            Error::NoPreviousVersion { .. } => "no_previous_version",
            Error::NeedsAdministrator { .. } => "needs_administrator",
            Error::Delta { .. } => "delta",
        }
    }

    /// Whether the running app is certainly untouched and trying again later may help (network and server errors).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Network { .. }
                | Error::Timeout { .. }
                | Error::HttpStatus { .. }
                | Error::Truncated { .. }
                | Error::AllEndpointsFailed { .. }
        )
    }
}

/// The error and its sources, joined with `: `, without repeating a source already quoted by its parent.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    Report::new(e).message().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let raw = std::io::Error::from_raw_os_error;
        // ENOSPC, EDQUOT
        assert!(matches!(Error::io("write", "/x", raw(28)), Error::DiskFull { .. }));
        assert!(matches!(Error::io("write", "/x", raw(122)), Error::DiskFull { .. }));
        // EACCES, EPERM, EROFS
        for code in [13, 1, 30] {
            assert!(matches!(Error::io("replace", "/x", raw(code)), Error::NotPermitted { .. }), "errno {code}");
        }
        assert!(matches!(Error::io("read", "/x", raw(5)), Error::Io { .. }));
        let text = Error::io("write", "/opt/app/app", raw(28)).to_string();
        assert!(text.contains("`/opt/app/app`") && text.contains("hint: free some disk space"), "{text}");
        let text = Error::io("replace", "/usr/bin/app", raw(13)).to_string();
        assert!(text.starts_with("not permitted to replace `/usr/bin/app`"), "{text}");
    }

    #[test]
    fn io_causes_are_sources_shown_by_the_report() {
        let error = Error::io("replace", "/usr/bin/app", std::io::Error::from_raw_os_error(13));
        assert!(!error.to_string().contains("os error"), "{error}");
        let report = Report::new(&error).to_string();
        assert!(
            report.starts_with("not permitted to replace `/usr/bin/app`: Permission denied (os error 13)\nhint: "),
            "{report}"
        );
    }

    #[test]
    fn endpoint_errors_are_listed() {
        let e = Error::AllEndpointsFailed {
            errors: vec![
                Error::HttpStatus { url: "http://a".into(), status: 500 },
                Error::Network { url: "http://b".into(), cause: "connection refused".into() },
                Error::io("read", "/state/metadata.json", std::io::Error::from_raw_os_error(5)),
            ],
        };
        let text = e.to_string();
        assert!(text.contains("\n  - `http://a` answered HTTP 500"), "{text}");
        assert!(text.contains("\n  - could not reach `http://b`: connection refused"), "{text}");
        assert!(
            text.contains("\n  - could not read `/state/metadata.json`: Input/output error (os error 5)"),
            "{text}"
        );
    }
}
