//! The one error type of the bundler. Messages are lowercase, quote paths and keys, and end with a `hint:` line when
//! the user can act on them.

use std::path::PathBuf;

/// Result with the bundler's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while bundling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No configuration file was found next to the app.
    #[error(
        "no bundler configuration in `{dir}`\nhint: create `Millennium.toml` there, or add \
         `[package.metadata.millennium]` to its `Cargo.toml`"
    )]
    NoConfig { dir: PathBuf },

    /// The configuration file does not parse, or has an unknown key or a value of the wrong type.
    #[error("invalid configuration in `{file}`: {message}")]
    ConfigSyntax { file: PathBuf, message: String },

    /// A configuration value parses but is not acceptable.
    #[error("invalid value for `{key}` in `{file}`: {message}")]
    InvalidValue { file: PathBuf, key: String, message: String },

    /// A file named by the configuration does not exist.
    #[error("{what} `{path}` does not exist{}", hint_line(hint))]
    Missing { what: &'static str, path: PathBuf, hint: Option<String> },

    /// An icon could not be used.
    #[error(
        "icon `{path}` is unusable: {message}\nhint: icons must be square PNG files; the largest one (512x512 or more is best) is scaled down to every hicolor size"
    )]
    Icon { path: PathBuf, message: String },

    /// A binary is not an ELF file for the requested architecture.
    #[error("binary `{path}` is unusable: {message}")]
    Binary { path: PathBuf, message: String },

    /// An I/O error on a named path.
    #[error("could not {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A package builder failed.
    #[error("could not build the {format}: {message}")]
    Package { format: &'static str, message: String },

    /// Signing failed (no key, wrong password, ...).
    #[error("could not sign `{file}`: {source}")]
    Sign {
        file: String,
        #[source]
        source: millennium_sign::Error,
    },

    /// The update manifest fragment could not be built.
    #[error("could not build the update manifest: {source}")]
    Manifest {
        #[source]
        source: millennium_update_protocol::Error,
    },

    /// Bad command-line use.
    #[error("{0}")]
    Usage(String),
}

fn hint_line(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default()
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }

    pub(crate) fn package(format: &'static str) -> impl FnOnce(String) -> Error {
        move |message| Error::Package { format, message }
    }
}
