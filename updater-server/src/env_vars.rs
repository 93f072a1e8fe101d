//! Every environment variable the server reads, in one place (the admin commands' are
//! `millennium_update_admin::env_vars`).

/// `serve --bind`.
pub const BIND: &str = "MILLENNIUM_BIND";
/// `serve --data-dir`.
pub const DATA_DIR: &str = "MILLENNIUM_DATA_DIR";
/// `serve --database-url` (and `migrate --from`'s default).
pub const DATABASE_URL: &str = "MILLENNIUM_DATABASE_URL";
/// `serve --storage-url`.
pub const STORAGE_URL: &str = "MILLENNIUM_STORAGE_URL";
/// `serve --cdn-url`.
pub const CDN_URL: &str = "MILLENNIUM_CDN_URL";
/// `serve --s3-downloads`.
pub const S3_DOWNLOADS: &str = "MILLENNIUM_S3_DOWNLOADS";
/// `serve --presign-ttl`.
pub const PRESIGN_TTL: &str = "MILLENNIUM_PRESIGN_TTL";
/// `serve --gc-interval`.
pub const GC_INTERVAL: &str = "MILLENNIUM_GC_INTERVAL";
/// `serve --gc-grace`.
pub const GC_GRACE: &str = "MILLENNIUM_GC_GRACE";
/// `serve --public-url`.
pub const PUBLIC_URL: &str = "MILLENNIUM_PUBLIC_URL";
/// `serve --freshness-expiry`.
pub const FRESHNESS_EXPIRY: &str = "MILLENNIUM_FRESHNESS_EXPIRY";
/// `serve --http-workers`.
pub const HTTP_WORKERS: &str = "MILLENNIUM_HTTP_WORKERS";
/// `serve --http-front`.
pub const HTTP_FRONT: &str = "MILLENNIUM_HTTP_FRONT";
/// `serve --header-read-timeout`.
pub const HEADER_READ_TIMEOUT: &str = "MILLENNIUM_HEADER_READ_TIMEOUT";
/// `serve --idle-timeout`.
pub const IDLE_TIMEOUT: &str = "MILLENNIUM_IDLE_TIMEOUT";
/// `serve --write-timeout`.
pub const WRITE_TIMEOUT: &str = "MILLENNIUM_WRITE_TIMEOUT";
/// `serve --delta-bases`.
pub const DELTA_BASES: &str = "MILLENNIUM_DELTA_BASES";
/// `serve --delta-poll`.
pub const DELTA_POLL: &str = "MILLENNIUM_DELTA_POLL";
/// `serve --max-upload-size`.
pub const MAX_UPLOAD_SIZE: &str = "MILLENNIUM_MAX_UPLOAD_SIZE";
/// The server admin token, instead of one generated on first start.
pub const ADMIN_TOKEN: &str = "MILLENNIUM_ADMIN_TOKEN";
/// The password online keys are encrypted with in the database (every replica needs the same).
pub const ONLINE_KEY_PASSWORD: &str = "MILLENNIUM_ONLINE_KEY_PASSWORD";
/// The bearer token `GET /metrics` accepts besides a server admin token (for a Prometheus scrape config).
pub const METRICS_TOKEN: &str = "MILLENNIUM_METRICS_TOKEN";
/// Log filter (`tracing` `EnvFilter` syntax), e.g. `info` or `millennium_update_server=debug`.
pub const LOG: &str = "MILLENNIUM_LOG";
/// `--log-format`: `text` or `json`.
pub const LOG_FORMAT: &str = "MILLENNIUM_LOG_FORMAT";
/// `serve --event-ip-burst`.
pub const EVENT_IP_BURST: &str = "MILLENNIUM_EVENT_IP_BURST";
/// `serve --event-ip-per-minute`.
pub const EVENT_IP_PER_MINUTE: &str = "MILLENNIUM_EVENT_IP_PER_MINUTE";
/// `serve --event-install-burst`.
pub const EVENT_INSTALL_BURST: &str = "MILLENNIUM_EVENT_INSTALL_BURST";
/// `serve --event-install-per-minute`.
pub const EVENT_INSTALL_PER_MINUTE: &str = "MILLENNIUM_EVENT_INSTALL_PER_MINUTE";
/// `serve --health-compact-after`.
pub const HEALTH_COMPACT_AFTER: &str = "MILLENNIUM_HEALTH_COMPACT_AFTER";
/// `serve --webhook-retry`.
pub const WEBHOOK_RETRY: &str = "MILLENNIUM_WEBHOOK_RETRY";
/// `serve --webhook-attempts`.
pub const WEBHOOK_ATTEMPTS: &str = "MILLENNIUM_WEBHOOK_ATTEMPTS";
