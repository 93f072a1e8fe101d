//! Every environment variable the server and CLI read, in one place.

/// `serve --bind`.
pub const BIND: &str = "MILLENNIUM_BIND";
/// `serve --data-dir`.
pub const DATA_DIR: &str = "MILLENNIUM_DATA_DIR";
/// `serve --public-url`.
pub const PUBLIC_URL: &str = "MILLENNIUM_PUBLIC_URL";
/// `serve --max-upload-size`.
pub const MAX_UPLOAD_SIZE: &str = "MILLENNIUM_MAX_UPLOAD_SIZE";
/// The server admin token, instead of one generated on first start.
pub const ADMIN_TOKEN: &str = "MILLENNIUM_ADMIN_TOKEN";
/// The bearer token `GET /metrics` accepts besides a server admin token (for a Prometheus scrape config).
pub const METRICS_TOKEN: &str = "MILLENNIUM_METRICS_TOKEN";
/// `--server` of the client subcommands.
pub const SERVER: &str = "MILLENNIUM_SERVER";
/// `--token` of the client subcommands.
pub const TOKEN: &str = "MILLENNIUM_TOKEN";
/// `publish --token`, checked before [`TOKEN`].
pub const PUBLISH_TOKEN: &str = "MILLENNIUM_PUBLISH_TOKEN";
/// Log filter (`tracing` `EnvFilter` syntax), e.g. `info` or `millennium_update_server=debug`.
pub const LOG: &str = "MILLENNIUM_LOG";
/// `--log-format`: `text` or `json`.
pub const LOG_FORMAT: &str = "MILLENNIUM_LOG_FORMAT";
