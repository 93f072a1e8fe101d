//! The one error type of `millennium-cli`. Errors of the libraries it drives (the bundler, the admin client, the
//! signing library) are kept whole as sources, and their stable `code` and exit code pass through, so `millennium
//! build` fails with the same code as `millennium-bundler bundle` and `millennium publish` as `millennium-update-server
//! publish`.

use std::path::PathBuf;

use millennium_update_admin::report::{EXIT_FAILED, EXIT_USAGE};

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything `millennium` can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad usage or local input the command line names (the message says what and how to fix it).
    #[error("{message}")]
    Usage {
        /// The message, with its `hint:` lines.
        message: String,
    },

    /// A file or directory could not be read or written.
    #[error("could not {action} `{}`", path.display())]
    Io {
        /// What was being done: `read`, `write`, `create`…
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// `cargo` could not be started, or the build failed (its diagnostics are already on stderr).
    #[error("`{command}` failed{}", status.as_deref().map(|s| format!(" ({s})")).unwrap_or_default())]
    Cargo {
        /// The command line.
        command: String,
        /// How it ended, when it ran.
        status: Option<String>,
        /// Why it could not be started.
        #[source]
        source: Option<std::io::Error>,
    },

    /// The bundler refused the configuration or failed to build a format.
    #[error(transparent)]
    Bundle(#[from] millennium_bundler::Error),

    /// No signing key is given anywhere.
    #[error(
        "no signing key: a release's files must be signed for the updater\nhint: pass `--key FILE`, or set `MILLENNIUM_SIGNING_PRIVATE_KEY` (the key text or a path); `millennium sign generate -w release.key` makes one"
    )]
    NoKey,

    /// The signing key could not be read or opened (wrong password, malformed).
    #[error("{message}\nhint: {hint}")]
    Key {
        /// What could not be done, naming the key (`` cannot use the secret key `release.key` ``).
        message: String,
        /// What to do.
        hint: &'static str,
        /// What the signing library said (its hint included).
        #[source]
        source: millennium_sign::Error,
    },

    /// The update server refused, could not be reached, or a local input of the publish is unusable.
    #[error(transparent)]
    Admin(#[from] millennium_update_admin::Error),

    /// The update server refused the release; the hint says what to do about it.
    #[error("`{server}` refused the release\nhint: {hint}")]
    Refused {
        /// The server.
        server: String,
        /// What to do.
        hint: String,
        /// The server's answer.
        #[source]
        source: millennium_update_admin::Error,
    },

    /// The version is already published with other files than the ones just built.
    #[error(
        "version {version} of `{app}` is already published, differently ({differ})\nhint: bump `version` in `Cargo.toml` (or `Millennium.toml`): a published release never changes (`millennium-update-server promote` offers it in another channel)"
    )]
    AlreadyPublished {
        /// The app on the server.
        app: String,
        /// The version.
        version: String,
        /// Which files differ.
        differ: String,
    },

    /// An installer uploaded while the release was bundled is not the file the bundler wrote (a bug: the upload is
    /// abandoned, so nothing is published).
    #[error(
        "the uploaded `{file}` is not what the bundler wrote ({what}), so the upload was abandoned and nothing is published\nhint: this is a bug in `millennium`; please report it"
    )]
    UploadMismatch {
        /// The installer's file name.
        file: String,
        /// How it differs.
        what: String,
    },

    /// The file watcher of `millennium dev` failed.
    #[error("could not watch `{}` for changes", path.display())]
    Watch {
        /// The watched directory.
        path: PathBuf,
        /// What `notify` said.
        #[source]
        source: notify::Error,
    },

    /// The app of `millennium dev` could not be started or stopped.
    #[error("could not {action} `{}`", program.display())]
    App {
        /// `start`, `stop`, `signal`.
        action: &'static str,
        /// The app's executable.
        program: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A stable machine-readable name (`--json`): `usage`, `io`, `build_failed`, `no_key`, `already_published`,
    /// `watch`, the signing library's (`wrong_password`, …), the bundler's (`no_config`, …) or the admin client's and
    /// server's (`http`, `forbidden`, `duplicate_version`, …).
    pub fn code(&self) -> &str {
        match self {
            Error::Usage { .. } => "usage",
            Error::Io { .. } => "io",
            Error::Cargo { .. } => "build_failed",
            Error::Bundle(e) => e.code(),
            Error::NoKey => "no_key",
            Error::Key { source, .. } => source.code(),
            Error::Admin(e) | Error::Refused { source: e, .. } => e.code(),
            Error::AlreadyPublished { .. } => "duplicate_version",
            Error::UploadMismatch { .. } => "upload_mismatch",
            Error::Watch { .. } => "watch",
            Error::App { .. } => "app",
        }
    }

    /// `2` for bad usage or unusable local input (configuration, key, password, token), `1` for a build that failed
    /// or a server that refused or could not be reached.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. } | Error::NoKey | Error::Key { .. } => EXIT_USAGE,
            Error::Bundle(e) if e.is_bad_input() => EXIT_USAGE,
            Error::Admin(e) | Error::Refused { source: e, .. } => e.exit_code(),
            _ => EXIT_FAILED,
        }
    }

    /// The report a CLI prints for this error.
    pub fn report(&self) -> millennium_update_admin::report::ErrorReport {
        millennium_update_admin::report::ErrorReport::new(self.code(), self, self.exit_code())
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Error::Usage { message: message.into() }
    }

    /// An `Io` error maker for `map_err`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
