//! The one error type of `millennium-sign`.
//!
//! Messages are lowercase, say what is wrong with which input, and end with a hint when the user can act on it.
//! [`Error::is_verification_failure`] separates "the signature is bad" (exit code 1 in the CLI) from "the input could not
//! be used" (exit code 2), so scripts can tell a tampered artifact from a typo in a path.

use std::path::PathBuf;

use crate::KeyId;

/// What kind of minisign object a parse error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Object {
    PublicKey,
    SecretKey,
    Signature,
    RotationStatement,
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Object::PublicKey => "public key",
            Object::SecretKey => "secret key",
            Object::Signature => "signature",
            Object::RotationStatement => "key rotation statement",
        })
    }
}

/// Everything that can go wrong when reading, writing, signing or verifying keys and signatures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written. The cause is the `source()`, not part of the message (see
    /// `docs/conventions.md`): show the whole chain, e.g. with `millennium_report::Report`.
    #[error("could not {action} `{path}`")]
    Io {
        /// What was being done (`read the secret key`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },

    /// Reading the data to sign or verify failed part-way.
    #[error("could not read the data")]
    Read {
        /// What the reader reported.
        #[source]
        source: std::io::Error,
    },

    /// The text is not a minisign or Tauri encoded key or signature.
    #[error("not a valid {object}: {reason}")]
    Malformed { object: Object, reason: String },

    /// The key or signature uses an algorithm this tool does not know.
    #[error("unsupported {object} algorithm {found:?}: only Ed25519 minisign keys and signatures are supported")]
    UnsupportedAlgorithm { object: Object, found: String },

    /// A secret key is encrypted and no password was supplied.
    #[error(
        "the secret key is encrypted and no password was given\nhint: set `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`, or run in a terminal to be asked for it"
    )]
    PasswordRequired,

    /// Decrypting the secret key produced a key whose checksum does not match.
    #[error("wrong password for the secret key (or the key file is corrupt)")]
    WrongPassword,

    /// An unencrypted secret key (or an encrypted one, once decrypted) does not hold together: its checksum does not
    /// match, or its stored public key is not the one its seed derives.
    #[error("the secret key is corrupt: {reason}\nhint: restore the key file from your backup")]
    CorruptSecretKey { reason: &'static str },

    /// The key derivation parameters in a secret key exceed what we are willing to spend.
    #[error(
        "the secret key asks for scrypt parameters beyond the supported maximum (opslimit {opslimit}, memlimit {memlimit} bytes)"
    )]
    KdfTooExpensive { opslimit: u64, memlimit: u64 },

    /// The signature was made by another key than the one it is checked against.
    #[error(
        "the signature was made by key {signature_key}, but the public key is {public_key}\nhint: check that you are using the public key that belongs to the secret key used to sign"
    )]
    WrongKey { signature_key: KeyId, public_key: KeyId },

    /// The Ed25519 signature over the data does not verify.
    #[error(
        "signature verification failed: the data does not match the signature (the file was modified, or the signature belongs to another file)"
    )]
    DataMismatch,

    /// The signature over the data is fine but the trusted comment was altered.
    #[error("the trusted comment was tampered with: its signature does not verify")]
    TrustedCommentTampered,

    /// The signed `version:` field differs from the version being installed or published.
    #[error("the signature is for version {signed}, not {expected}")]
    VersionMismatch { signed: String, expected: String },

    /// A legacy (non-prehashed) signature over data larger than we will buffer.
    #[error(
        "legacy (non-prehashed) signature over more than {limit} bytes; legacy signatures need the whole file in memory\nhint: re-sign the file with a prehashed signature (`millennium-sign sign`, or `minisign -S` without `-l`)"
    )]
    LegacyTooLarge { limit: u64 },

    /// Refuse to sign something that is almost certainly a failed build.
    #[error(
        "`{path}` is empty; refusing to sign an empty artifact\nhint: check that the build that produced it succeeded"
    )]
    EmptyFile { path: PathBuf },

    /// A trusted comment that cannot be stored in a minisign signature.
    #[error("invalid trusted comment: {reason}")]
    InvalidTrustedComment { reason: String },

    /// A key rotation statement or chain does not lead from the pinned key.
    #[error("key rotation chain rejected at statement {index}: {reason}")]
    RotationRejected { index: usize, reason: String },

    /// A file that must not be overwritten exists.
    #[error("`{path}` already exists\nhint: pass `--force` to overwrite it")]
    AlreadyExists { path: PathBuf },

    /// A secret or public key was not given anywhere.
    #[error("{0}")]
    MissingKey(String),

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random {
        /// What it reported.
        #[source]
        source: getrandom::Error,
    },
}

impl Error {
    /// True when the inputs were well-formed but the signature does not hold (wrong key, modified data, tampered comment,
    /// wrong version, broken rotation chain), as opposed to unusable input.
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            Error::WrongKey { .. }
                | Error::DataMismatch
                | Error::TrustedCommentTampered
                | Error::VersionMismatch { .. }
                | Error::RotationRejected { .. }
        )
    }

    /// A stable snake_case name for machines: `error.code` in `--json` output (see `docs/conventions.md`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Read { .. } => "read",
            Error::Malformed { .. } => "malformed",
            Error::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Error::PasswordRequired => "password_required",
            Error::WrongPassword => "wrong_password",
            Error::CorruptSecretKey { .. } => "corrupt_secret_key",
            Error::KdfTooExpensive { .. } => "kdf_too_expensive",
            Error::WrongKey { .. } => "wrong_key",
            Error::DataMismatch => "data_mismatch",
            Error::TrustedCommentTampered => "trusted_comment_tampered",
            Error::VersionMismatch { .. } => "version_mismatch",
            Error::LegacyTooLarge { .. } => "legacy_too_large",
            Error::EmptyFile { .. } => "empty_file",
            Error::InvalidTrustedComment { .. } => "invalid_trusted_comment",
            Error::RotationRejected { .. } => "rotation_rejected",
            Error::AlreadyExists { .. } => "already_exists",
            Error::MissingKey(_) => "missing_key",
            Error::Random { .. } => "random",
        }
    }

    pub(crate) fn malformed(object: Object, reason: impl Into<String>) -> Self {
        Error::Malformed { object, reason: reason.into() }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
