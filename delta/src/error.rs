//! The one error type of `millennium-delta`.
//!
//! The applier's refusals are separate variants with stable [codes](Error::code), because the updater acts on them:
//! every one of them means "fall back to the full download", but the log line and the metrics say which one it was.

use std::path::PathBuf;

/// Everything that can go wrong when making or applying a delta.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written. The cause is the `source()` (see `docs/conventions.md`).
    #[error("could not {action} `{path}`")]
    Io {
        /// What was being done: `read the base`, `create a temporary file in`…
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The file does not start with the delta magic: it is not a Millennium delta at all.
    #[error(
        "`{path}` is not a Millennium delta\nhint: a delta starts with `MLNDELTA`; was the full artifact or an error page downloaded instead?"
    )]
    NotADelta {
        /// The delta file.
        path: PathBuf,
    },

    /// The delta is in a container version this build does not read.
    #[error(
        "`{path}` is a delta of container version {version}, and this build reads versions 1 to {supported}\nhint: update the updater, or download the full artifact"
    )]
    UnsupportedVersion {
        /// The delta file.
        path: PathBuf,
        /// The version in the file.
        version: u8,
        /// The version this build reads.
        supported: u8,
    },

    /// The delta names an encoder this build does not know.
    #[error(
        "`{path}` was made by encoder {id}, which this build does not know\nhint: update the updater, or download the full artifact"
    )]
    UnknownEncoder {
        /// The delta file.
        path: PathBuf,
        /// The encoder id in the file.
        id: u8,
    },

    /// The delta file is shorter than its header says.
    #[error(
        "`{path}` is truncated: {expected} bytes expected, {actual} found\nhint: the download was cut short; download it again or download the full artifact"
    )]
    Truncated {
        /// The delta file.
        path: PathBuf,
        /// The length the header announces (header included).
        expected: u64,
        /// The length of the file.
        actual: u64,
    },

    /// The delta's payload does not match its recorded hash, or its encoder could not decode it.
    #[error("`{path}` is corrupt: {reason}\nhint: download the full artifact instead")]
    Corrupt {
        /// The delta file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
        /// The decoder's error, when it was the decoder that failed.
        #[source]
        source: Option<std::io::Error>,
    },

    /// The file the delta is applied to is not the one it was made from.
    #[error(
        "`{path}` is not the base of this delta: {reason}\nhint: the installed file differs from the release the delta was made from; download the full artifact"
    )]
    WrongBase {
        /// The base file.
        path: PathBuf,
        /// Which check failed: size or hash.
        reason: String,
    },

    /// The delta would produce a file larger than the caller allows (for the updater: the signed full size).
    #[error(
        "the delta `{path}` would produce {size} bytes, more than the {limit} allowed\nhint: download the full artifact instead"
    )]
    TooLarge {
        /// The delta file.
        path: PathBuf,
        /// The size the delta announces, or the size it was producing when it was stopped.
        size: u64,
        /// The caller's limit.
        limit: u64,
    },

    /// Applying the delta produced something other than what its header promised.
    #[error(
        "the delta `{path}` produced a different file than it promised: {reason}\nhint: download the full artifact instead"
    )]
    ResultMismatch {
        /// The delta file.
        path: PathBuf,
        /// Which check failed: size or hash.
        reason: String,
    },

    /// An encoder failed while making a delta.
    #[error("the {encoder} encoder failed")]
    Encode {
        /// The encoder's name.
        encoder: &'static str,
        /// What it said.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A stable snake_case name for machines: `error.code` in `--json` output and the updater's metrics label.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::NotADelta { .. } => "not_a_delta",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::UnknownEncoder { .. } => "unknown_encoder",
            Error::Truncated { .. } => "truncated",
            Error::Corrupt { .. } => "corrupt",
            Error::WrongBase { .. } => "wrong_base",
            Error::TooLarge { .. } => "too_large",
            Error::ResultMismatch { .. } => "result_mismatch",
            Error::Encode { .. } => "encode",
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
