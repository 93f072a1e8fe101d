//! The one error type of `millennium-update-admin`: what the server refused, and what failed on this machine.
//!
//! Messages are lowercase, quote paths and values in backticks, and end in a `hint:` line when the user can act.
//! A variant that wraps a cause keeps it as its `source` and leaves it out of its message; [`crate::report`] prints
//! the chain. [`Error::code`] is the stable machine-readable name (`--json`), [`Error::exit_code`] the documented exit
//! code.

use std::path::PathBuf;

use crate::report::{EXIT_FAILED, EXIT_USAGE};

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the admin client and its commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad command-line usage, configuration or local input (a missing token, an unreadable key, a bad URL).
    #[error("{message}")]
    Usage { message: String },

    /// A local file could not be read or written.
    #[error("{action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A version or target the protocol crate refused (its message names what).
    #[error("{source}")]
    Protocol { source: Box<millennium_update_protocol::Error> },

    /// An artifact's signature does not verify against the app's release keys (checked before anything is sent).
    #[error("signature of `{target}` rejected: {reason}")]
    SignatureRejected { target: String, reason: String },

    /// An artifact's signature does not state the version it was signed for, and the app's policy
    /// (`require-signed-version`) requires it (checked before anything is sent; the server refuses it too).
    #[error(transparent)]
    UnversionedSignature(#[from] crate::api::UnversionedSignature),

    /// The server could not be reached, or the connection broke.
    #[error("request to the server failed\nhint: check `--server` / `MILLENNIUM_SERVER` and that the server runs")]
    Http {
        #[from]
        source: reqwest::Error,
    },

    /// The server answered with an error (its `error.code` and `error.message`).
    #[error("the server refused ({status} {code}): {message}")]
    Server { status: u16, code: String, message: String },

    /// An impossible state or an answer this client does not understand; the message says which.
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl Error {
    /// A stable machine-readable name: `usage`, `io`, `invalid_input`, `bad_signature`, `http`, `internal`, or the
    /// server's own code (`not_found`, `duplicate_version`, …) for [`Error::Server`].
    pub fn code(&self) -> &str {
        match self {
            Error::Usage { .. } => "usage",
            Error::Io { .. } => "io",
            Error::Protocol { .. } => "invalid_input",
            Error::SignatureRejected { .. } => "bad_signature",
            Error::UnversionedSignature(_) => crate::api::UnversionedSignature::CODE,
            Error::Http { .. } => "http",
            Error::Server { code, .. } => code,
            Error::Internal { .. } => "internal",
        }
    }

    /// The process exit code: [`EXIT_USAGE`] for bad usage or unusable local input, [`EXIT_FAILED`] otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. } | Error::Io { .. } | Error::Protocol { .. } => EXIT_USAGE,
            Error::SignatureRejected { .. }
            | Error::UnversionedSignature(_)
            | Error::Http { .. }
            | Error::Server { .. }
            | Error::Internal { .. } => EXIT_FAILED,
        }
    }

    /// The report the CLI prints for this error.
    pub fn report(&self) -> crate::report::ErrorReport {
        crate::report::ErrorReport::new(self.code(), self, self.exit_code())
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Error::Usage { message: message.into() }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    pub(crate) fn protocol(source: millennium_update_protocol::Error) -> Self {
        Error::Protocol { source: Box::new(source) }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal { message: message.into() }
    }
}
