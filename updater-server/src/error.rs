//! The one error type of `millennium-update-server`.
//!
//! Every handler returns [`Error`]; its [`IntoResponse`] writes `{"error": {"code", "message"}}`
//! ([`millennium_update_admin::api::ErrorBody`]) with a 4xx status for anything the caller can fix, and a bare
//! `500 internal` (details only in the log) for everything else, so internals such as paths or SQL never reach a
//! client. [`Error::code`] is the stable machine-readable name. The commands of the binary report the same errors
//! through `millennium_update_admin::report`; the admin commands have their own error type there.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use millennium_update_admin::api::{ErrorBody, ErrorDetail};
use millennium_update_admin::report::display_chain;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the update server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- caller mistakes (4xx) -----
    /// An app, channel, token or file name is not allowed (path traversal, odd characters, reserved word, too long).
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidName { what: &'static str, value: String, reason: &'static str },

    /// A version, target or document field the protocol crate refused (its message names what; `what` is for logs).
    #[error("{source}")]
    Protocol {
        what: &'static str,
        #[source]
        source: Box<millennium_update_protocol::Error>,
    },

    /// A malformed request that fits no other variant.
    #[error("{message}")]
    BadRequest { message: String },

    /// No token, or a token that is unknown, malformed or revoked.
    #[error(
        "missing, unknown or revoked token\nhint: pass a token as `Authorization: Bearer TOKEN` (CLI: `--token` or `MILLENNIUM_TOKEN`)"
    )]
    Unauthorized,

    /// The token is valid but does not allow this action on this app.
    #[error("this token may not {action}\nhint: create a token scoped to this app and action with `tokens create`")]
    Forbidden { action: String },

    /// The app, release or artifact does not exist.
    #[error("{what} not found")]
    NotFound { what: String },

    /// The release was yanked; its files are no longer served.
    #[error("{what} was yanked")]
    Gone { what: String },

    /// The request conflicts with what is stored (duplicate app or version, version not newer than the channel's).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    /// An upload is larger than the server's `--max-upload-size`.
    #[error(
        "upload larger than the server's limit of {limit} bytes\nhint: raise `--max-upload-size` / `MILLENNIUM_MAX_UPLOAD_SIZE` on the server"
    )]
    PayloadTooLarge { limit: u64 },

    /// A request body over an endpoint's fixed limit (the event endpoint's).
    #[error("request body larger than the {limit} bytes this endpoint accepts")]
    BodyTooLarge { limit: u64 },

    /// An artifact's signature is missing, malformed, made by another key, does not match the file, or is for another
    /// version.
    #[error("signature of `{target}` rejected: {reason}")]
    SignatureRejected { target: String, reason: String },

    /// An artifact's signature does not state its version, and the app's `require-signed-version` policy needs it.
    #[error(transparent)]
    UnversionedSignature(#[from] millennium_update_admin::api::UnversionedSignature),

    /// A signed metadata document (root, release) the server will not store.
    #[error("{what} rejected: {reason}")]
    MetadataRejected { what: String, reason: String },

    /// A `Range` header that does not overlap the file (answered with `Content-Range: bytes */SIZE`).
    #[error("range not satisfiable: the file is {size} bytes")]
    RangeNotSatisfiable { size: u64 },

    /// Busy with this resource now (answered `503` with `Retry-After`).
    #[error("{what}; retry in {retry_after} s")]
    Unavailable { what: String, retry_after: u64 },

    /// Too many requests from one client (answered `429` with `Retry-After`).
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },

    /// Request headers over the server's limits.
    #[error("request headers too large")]
    HeadersTooLarge,

    /// Request URI over the server's limit.
    #[error("request URI too long")]
    UriTooLong,

    // ----- server internals (500) -----
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// Applying the database migrations failed.
    #[error("database migration failed: {0}\nhint: is the data directory from a newer server version?")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// The object store (S3) failed.
    #[error("object store error: {0}")]
    ObjectStore(#[from] object_store::Error),

    /// The database or the object store could not be reached or set up.
    #[error("{0}")]
    Connect(String),

    /// A file or directory could not be used.
    #[error("{action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A bug or an impossible state; the message is for the log only.
    #[error("internal error: {0}")]
    Internal(String),

    /// Bad command-line usage or configuration (`serve`, `migrate`).
    #[error("{message}")]
    Usage { message: String },
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidName { .. } | Error::Protocol { .. } | Error::BadRequest { .. } | Error::Usage { .. } => {
                StatusCode::BAD_REQUEST
            }
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Gone { .. } => StatusCode::GONE,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } | Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::SignatureRejected { .. } | Error::UnversionedSignature(_) | Error::MetadataRejected { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::UriTooLong => StatusCode::URI_TOO_LONG,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Database(_)
            | Error::Migrate(_)
            | Error::ObjectStore(_)
            | Error::Connect(_)
            | Error::Io { .. }
            | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable name, used as `error.code` in responses and `--json` output.
    pub fn code(&self) -> &str {
        match self {
            Error::InvalidName { .. } => "invalid_name",
            Error::Protocol { .. } => "invalid_input",
            Error::BadRequest { .. } => "bad_request",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::Gone { .. } => "yanked",
            Error::Conflict { code, .. } => code,
            Error::PayloadTooLarge { .. } | Error::BodyTooLarge { .. } => "payload_too_large",
            Error::SignatureRejected { .. } => "bad_signature",
            Error::UnversionedSignature(_) => millennium_update_admin::api::UnversionedSignature::CODE,
            Error::MetadataRejected { .. } => "bad_metadata",
            Error::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            Error::HeadersTooLarge => "headers_too_large",
            Error::UriTooLong => "uri_too_long",
            Error::Unavailable { .. } => "unavailable",
            Error::RateLimited { .. } => "rate_limited",
            Error::Database(_)
            | Error::Migrate(_)
            | Error::ObjectStore(_)
            | Error::Connect(_)
            | Error::Io { .. }
            | Error::Internal(_) => "internal",
            Error::Usage { .. } => "usage",
        }
    }

    /// Whether this is the server's fault (answered as an opaque 500).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Database(_)
                | Error::Migrate(_)
                | Error::ObjectStore(_)
                | Error::Connect(_)
                | Error::Io { .. }
                | Error::Internal(_)
        )
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    pub(crate) fn protocol(what: &'static str, source: millennium_update_protocol::Error) -> Self {
        Error::Protocol { what, source: Box::new(source) }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest { message: message.into() }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { code, message: message.into() }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Error::Usage { message: message.into() }
    }

    /// The body sent for this error.
    pub fn body(&self) -> ErrorBody {
        let message = if self.is_internal() { "internal server error".to_owned() } else { self.to_string() };
        ErrorBody { error: ErrorDetail { code: self.code().to_owned(), message } }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if self.is_internal() {
            tracing::error!(error = %display_chain(&self), "request failed");
        } else {
            tracing::debug!(error = %display_chain(&self), status = status.as_u16(), "request refused");
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Error::RangeNotSatisfiable { size } = self
            && let Ok(value) = format!("bytes */{size}").parse()
        {
            response.headers_mut().insert(axum::http::header::CONTENT_RANGE, value);
        }
        if let Error::Unavailable { retry_after, .. } | Error::RateLimited { retry_after } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}
