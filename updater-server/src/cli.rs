//! The `millennium-update-server` command line: `serve` runs the server, `migrate` copies its storage, `healthcheck`
//! asks a running one; the admin subcommands (`apps`, `tokens`, `publish`, …) are `millennium-update-admin`'s, which
//! this binary embeds so that one command does everything. Flags double as `MILLENNIUM_*` environment variables
//! (12-factor); the names are in [`crate::env_vars`].
//!
//! Output, errors and exit codes follow `millennium_update_admin::report` (documented in the README): data on stdout
//! (`--json`: one JSON document, errors as `{"error": {"code", "message", "hint"}}`), messages on stderr; exit `0`
//! success, `1` the server refused or could not be reached, `2` bad usage or unusable local input.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use millennium_update_admin::cli::AdminCommand;
use millennium_update_admin::client::Healthy;
use millennium_update_admin::report::{EXIT_FAILED, EXIT_USAGE, ErrorReport, Render};
use serde::Serialize;

use crate::env_vars;
use crate::error::{Error, Result};
use crate::migrate::Migrated;
use crate::server::ServeOptions;

/// Self-hostable, Tauri-compatible update server for Millennium apps.
///
/// `serve` runs the server (SQLite database and artifact files under `--data-dir`). The other subcommands talk to a
/// running server over HTTP: `--server URL` (or `MILLENNIUM_SERVER`) and a token from `--token` (or
/// `MILLENNIUM_TOKEN`; `publish` reads `MILLENNIUM_PUBLISH_TOKEN` first).
///
/// Tauri apps point their updater `endpoints` at
/// `http://HOST/APP/{{target}}/{{arch}}/{{current_version}}` (or `…/{{current_version}}/{{bundle_type}}` with
/// tauri-plugin-updater ≥ 2.10; add `?channel=beta` for another channel), or at the static
/// `http://HOST/APP/CHANNEL/latest.json`.
///
/// Exit codes: 0 success, 1 the server refused or could not be reached, 2 bad usage or unusable local input.
#[derive(Debug, Parser)]
#[command(name = "millennium-update-server", version, max_term_width = 110)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Print machine-readable JSON on stdout (errors too, as `{"error": {"code", "message", "hint"}}`).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the update server until SIGTERM or ctrl-c.
    ///
    /// On first start a server admin token is created and written to `admin-token` in the data directory (mode
    /// 0600, never overwritten; stderr names the file, never the token; only its hash is stored), unless
    /// `MILLENNIUM_ADMIN_TOKEN` gives one. Logs go to stderr; filter them with `MILLENNIUM_LOG` (e.g. `debug`).
    /// `GET /metrics` accepts the token in `MILLENNIUM_METRICS_TOKEN` (for Prometheus) besides server admin tokens.
    /// Online keys (signed metadata) are encrypted in the database with `MILLENNIUM_ONLINE_KEY_PASSWORD` when it is
    /// set (every replica needs the same one).
    Serve(ServeArgs),
    /// The admin subcommands, from `millennium-update-admin`.
    #[command(flatten)]
    Admin(AdminCommand),
    /// Copy every app, token, release and artifact from one storage to another, e.g. from the default SQLite +
    /// files to PostgreSQL + S3 before running replicas. Stop the server first. The target database must be empty;
    /// everything is read back and compared at the end.
    Migrate(MigrateArgs),
    /// Ask a running server's `/healthz` (exit 0 when healthy, 1 otherwise): the container `HEALTHCHECK`, with no
    /// curl in the image.
    Healthcheck(HealthcheckArgs),
}

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The source database URL (default: `millennium.db` in `--data-dir`).
    #[arg(long)]
    pub from: Option<String>,
    /// The target database URL (`postgres://…` or `sqlite://…`).
    #[arg(long)]
    pub to: String,
    /// The source artifact store (default: `blobs/` in `--data-dir`).
    #[arg(long)]
    pub from_storage: Option<String>,
    /// The target artifact store (default: the source store, whose blobs are then not copied).
    #[arg(long)]
    pub to_storage: Option<String>,
    /// The source data directory (default database and store), also where uploads to an S3 target are staged.
    #[arg(long, env = env_vars::DATA_DIR, default_value = "./millennium-data")]
    pub data_dir: PathBuf,
}

/// Options of `healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The server's base URL. Default: `http://` + `MILLENNIUM_BIND` (loopback if bound to all interfaces), so it
    /// works unchanged inside the container.
    #[arg(long)]
    pub url: Option<String>,

    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on. Use `0.0.0.0:8080` to accept connections from other machines (behind a TLS
    /// proxy), and then set `--public-url`.
    #[arg(long, env = env_vars::BIND, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Where the SQLite database (`millennium.db`) and the artifact files (`blobs/`) live by default, and where
    /// uploads are staged. Created if missing; back it up as a whole.
    #[arg(long, env = env_vars::DATA_DIR, default_value = "./millennium-data")]
    pub data_dir: PathBuf,

    /// The database: `sqlite://PATH` (default: `millennium.db` in `--data-dir`) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (shared by several replicas). Migrations run at start.
    #[arg(long, env = env_vars::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<String>,

    /// The artifact store: `file:///DIR` (default: `blobs/` in `--data-dir`) or `s3://BUCKET/PREFIX` (shared by
    /// several replicas; endpoint, region and credentials from `AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, as for any AWS tool).
    #[arg(long, env = env_vars::STORAGE_URL)]
    pub storage_url: Option<String>,

    /// How downloads from an S3 store reach clients: `stream` through the server (with `Range`), or `redirect`
    /// (302) to a presigned URL valid for `--presign-ttl`.
    #[arg(long, env = env_vars::S3_DOWNLOADS, value_enum, default_value_t = S3Downloads::Stream)]
    pub s3_downloads: S3Downloads,

    /// Seconds a presigned download URL stays valid (`--s3-downloads redirect`).
    #[arg(long, env = env_vars::PRESIGN_TTL, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub presign_ttl: u64,

    /// Base URL of a CDN that forwards `/download/…` to this server: manifests then point downloads at it (e.g.
    /// `https://cdn.example.com`). Download answers are immutable and cacheable for a year.
    #[arg(long, env = env_vars::CDN_URL)]
    pub cdn_url: Option<String>,

    /// Seconds between two collections of uploads left by interrupted publishes in an S3 store (run by one
    /// replica at a time).
    #[arg(long, env = env_vars::GC_INTERVAL, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub gc_interval: u64,

    /// Seconds an unreferenced S3 upload is kept before collection: longer than any publish takes.
    #[arg(long, env = env_vars::GC_GRACE, default_value_t = 3600)]
    pub gc_grace: u64,

    /// Base URL clients reach this server at, put in front of every download URL in update answers (e.g.
    /// `https://updates.example.com`). Default: `http://` + `--bind` (loopback if bound to all interfaces).
    #[arg(long, env = env_vars::PUBLIC_URL)]
    pub public_url: Option<String>,

    /// Largest total size of the artifacts of one publish request; larger uploads are refused with 413. Bytes, or
    /// with a binary suffix: `500M`, `2G`, `1536MiB`.
    #[arg(long, env = env_vars::MAX_UPLOAD_SIZE, default_value = "2G", value_parser = parse_size)]
    pub max_upload_size: u64,

    /// How long a signed freshness document stays valid (apps with signed metadata): `1d`, `12h`, `90m`, `30s` or
    /// seconds; at most 31 days. The server re-signs it when half of it has passed; a client that sees none newer
    /// within this time refuses to update (the "freeze" defence), so keep it short.
    #[arg(long, env = env_vars::FRESHNESS_EXPIRY, default_value = "1d", value_parser = parse_duration)]
    pub freshness_expiry: u64,

    /// Threads serving HTTP connections, each with its own single-threaded runtime. Default: one per CPU core
    /// available to the process.
    #[arg(long, env = env_vars::HTTP_WORKERS, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub http_workers: Option<u16>,

    /// Serve plain `GET`/`HEAD` requests and event reports (`POST /{app}/events` with a `Content-Length`) with the
    /// server's own HTTP/1.1 front (zero-copy file downloads, fewer system calls per update check); `false` lets hyper
    /// serve every request. The answers are the same either way.
    #[arg(long, env = env_vars::HTTP_FRONT, default_value_t = true, action = clap::ArgAction::Set)]
    pub http_front: bool,

    /// How long a client may take to send a request's headers, from their first byte (slow-loris clients are cut
    /// off): `15s` or seconds.
    #[arg(long, env = env_vars::HEADER_READ_TIMEOUT, default_value = "15s", value_parser = parse_duration)]
    pub header_read_timeout: u64,

    /// How long a keep-alive connection may wait for its next request before it is closed: `75s`, `2m` or seconds.
    #[arg(long, env = env_vars::IDLE_TIMEOUT, default_value = "75s", value_parser = parse_duration)]
    pub idle_timeout: u64,

    /// How long a client may take no bytes of a response before it is dropped (a stalled download holds a
    /// connection and a file open): `60s`, `5m` or seconds.
    #[arg(long, env = env_vars::WRITE_TIMEOUT, default_value = "60s", value_parser = parse_duration)]
    pub write_timeout: u64,

    /// Delta updates: from how many releases before the newest of each channel the server makes deltas to it (for
    /// Millennium updaters; docs/protocol.md §9). 0 turns them off. Making one is CPU-heavy (seconds to tens of
    /// seconds for large artifacts) and runs in the background on one replica, one pair at a time.
    #[arg(long, env = env_vars::DELTA_BASES, default_value_t = crate::server::deltas::DEFAULT_BASES)]
    pub delta_bases: usize,

    /// Seconds between two looks of the delta job for releases published on other replicas (publishes on the
    /// replica that runs it wake it at once).
    #[arg(long, env = env_vars::DELTA_POLL, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub delta_poll: u64,
    /// Release-health events (`POST /{app}/events`): requests one client IP address (IPv6: one /64) may send at
    /// once. Behind a reverse proxy every client has the proxy's address: raise it (and `--event-ip-per-minute`).
    #[arg(long, env = env_vars::EVENT_IP_BURST, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub event_ip_burst: u32,

    /// Release-health events: requests per minute one client IP address may send after its burst.
    #[arg(long, env = env_vars::EVENT_IP_PER_MINUTE, default_value_t = 60)]
    pub event_ip_per_minute: u32,

    /// Release-health events: events one install id may send at once.
    #[arg(long, env = env_vars::EVENT_INSTALL_BURST, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub event_install_burst: u32,

    /// Release-health events: events per minute one install id may send after its burst.
    #[arg(long, env = env_vars::EVENT_INSTALL_PER_MINUTE, default_value_t = 1)]
    pub event_install_per_minute: u32,

    /// Release health: hourly counters (events, and adoption from checks) older than this (`7d`, `48h`, …) are
    /// compacted into one row per day by the leader's health job, so storage grows with days, not hours. The ids of
    /// counted events are kept 7 days regardless (to count a resent event once).
    #[arg(long, env = env_vars::HEALTH_COMPACT_AFTER, default_value = "7d", value_parser = parse_duration)]
    pub health_compact_after: u64,

    /// Webhooks: the wait before the first retry of a failed delivery (`10s`, `1m`, …); doubled after each failure,
    /// at most an hour.
    #[arg(long, env = env_vars::WEBHOOK_RETRY, default_value = "10s", value_parser = parse_duration)]
    pub webhook_retry: u64,

    /// Webhooks: attempts before a delivery is given up (`failed`).
    #[arg(long, env = env_vars::WEBHOOK_ATTEMPTS, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_attempts: u32,

    /// Log format on stderr.
    #[arg(long, env = env_vars::LOG_FORMAT, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `--s3-downloads`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum S3Downloads {
    /// Through the server.
    Stream,
    /// 302 to a presigned URL.
    Redirect,
}

/// Log formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Parses a size: a number of bytes with an optional binary suffix (`K`, `M`, `G`, `T`, also `KiB`… and `KB`…,
/// all powers of 1024).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let number: u64 =
        number.parse().map_err(|_| format!("`{text}` is not a size: expected e.g. `1048576`, `500M` or `2G`"))?;
    let shift = match suffix.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("unknown size suffix in `{text}`: expected `K`, `M`, `G` or `T`")),
    };
    number.checked_mul(1u64 << shift).ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a duration in seconds: a number with an optional `s`, `m`, `h` or `d` suffix, from 1 s to 31 days.
pub fn parse_duration(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: expected e.g. `1d`, `12h`, `90m` or `3600`"))?;
    let unit = match suffix.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown duration suffix in `{text}`: expected `s`, `m`, `h` or `d`")),
    };
    let seconds = number.checked_mul(unit).ok_or_else(|| format!("`{text}` is too long"))?;
    let max = millennium_update_protocol::metadata::MAX_FRESHNESS_LIFETIME.whole_seconds().unsigned_abs();
    if seconds == 0 || seconds > max {
        return Err(format!("`{text}` is out of range: between 1 second and 31 days"));
    }
    Ok(seconds)
}

/// What a command of this binary printed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Output {
    /// `serve`: nothing.
    Nothing,
    /// `migrate`.
    Migrated(Migrated),
    /// `healthcheck`.
    Healthy(Healthy),
    /// An admin subcommand.
    Admin(millennium_update_admin::cli::Output),
}

impl Render for Output {
    fn human(&self, out: &mut dyn Write, notes: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Output::Nothing => Ok(()),
            Output::Migrated(report) => report.human(out),
            Output::Healthy(healthy) => writeln!(out, "healthy: {}", healthy.url),
            Output::Admin(output) => output.human(out, notes),
        }
    }
}

/// Runs one command; `json` only silences progress bars.
pub async fn run(command: Command, json: bool) -> std::result::Result<Output, ErrorReport> {
    match command {
        Command::Admin(command) => {
            millennium_update_admin::cli::run(command, json).await.map(Output::Admin).map_err(|e| e.report())
        }
        Command::Healthcheck(args) => healthcheck(args).await,
        Command::Serve(args) => serve(args).await.map(|()| Output::Nothing).map_err(|e| report(&e)),
        Command::Migrate(args) => migrate(args).await.map(Output::Migrated).map_err(|e| report(&e)),
    }
}

/// The report of a server error: its code, and exit code 2 for what the caller can fix locally.
pub fn report(error: &Error) -> ErrorReport {
    let exit_code = match error {
        Error::Usage { .. } | Error::Io { .. } | Error::InvalidName { .. } | Error::Protocol { .. } => EXIT_USAGE,
        _ => EXIT_FAILED,
    };
    ErrorReport::new(error.code(), error, exit_code)
}

async fn serve(args: ServeArgs) -> Result<()> {
    let storage = crate::server::StorageConfig::from_urls(
        &args.data_dir,
        args.database_url.as_deref(),
        args.storage_url.as_deref(),
    )?;
    crate::server::serve(ServeOptions {
        bind: args.bind,
        storage,
        public_url: args.public_url,
        cdn_url: args.cdn_url,
        downloads: match args.s3_downloads {
            S3Downloads::Stream => crate::server::DownloadMode::Stream,
            S3Downloads::Redirect => crate::server::DownloadMode::Redirect(Duration::from_secs(args.presign_ttl)),
        },
        gc: crate::server::GcConfig {
            interval: Duration::from_secs(args.gc_interval),
            grace: Duration::from_secs(args.gc_grace),
        },
        max_upload_size: args.max_upload_size,
        admin_token: std::env::var(env_vars::ADMIN_TOKEN).ok().filter(|t| !t.is_empty()),
        metrics_token: std::env::var(env_vars::METRICS_TOKEN).ok().filter(|t| !t.is_empty()),
        online_key_password: std::env::var(env_vars::ONLINE_KEY_PASSWORD)
            .ok()
            .filter(|p| !p.is_empty())
            .map(zeroize::Zeroizing::new),
        freshness_lifetime: Duration::from_secs(args.freshness_expiry),
        http_workers: args.http_workers.map_or_else(crate::server::workers::default_count, usize::from),
        deltas: crate::server::deltas::DeltaConfig {
            bases: args.delta_bases,
            poll: Duration::from_secs(args.delta_poll),
            ..crate::server::deltas::DeltaConfig::default()
        },
        events: crate::server::events::EventLimits {
            per_ip: crate::ratelimit::Rate::per_minute(args.event_ip_burst, args.event_ip_per_minute),
            per_install: crate::ratelimit::Rate::per_minute(args.event_install_burst, args.event_install_per_minute),
            ..crate::server::events::EventLimits::default()
        },
        health_compact_after: Duration::from_secs(args.health_compact_after),
        webhooks: crate::webhooks::WebhookConfig {
            base_backoff: Duration::from_secs(args.webhook_retry.max(1)),
            max_attempts: args.webhook_attempts,
            ..crate::webhooks::WebhookConfig::default()
        },
        http: crate::server::front::HttpOptions {
            front: args.http_front,
            timeouts: crate::server::front::HttpTimeouts {
                header_read: Duration::from_secs(args.header_read_timeout),
                idle: Duration::from_secs(args.idle_timeout),
                write: Duration::from_secs(args.write_timeout),
            },
        },
    })
    .await
}

async fn migrate(args: MigrateArgs) -> Result<Migrated> {
    let from =
        crate::server::StorageConfig::from_urls(&args.data_dir, args.from.as_deref(), args.from_storage.as_deref())?;
    let mut to = crate::server::StorageConfig::from_urls(&args.data_dir, Some(&args.to), None)?;
    to.blobs = match &args.to_storage {
        Some(url) => crate::blobs::StorageUrl::parse(url)?,
        None => from.blobs.clone(),
    };
    crate::migrate::migrate(&from, &to).await
}

/// `healthcheck`: `GET {url}/healthz`, success on a 2xx answer.
async fn healthcheck(args: HealthcheckArgs) -> std::result::Result<Output, ErrorReport> {
    let base = match args.url {
        Some(url) => url,
        None => {
            let bind = std::env::var(env_vars::BIND).unwrap_or_else(|_| "127.0.0.1:8080".into());
            let bind: SocketAddr = bind
                .parse()
                .map_err(|e| report(&Error::usage(format!("invalid `{}` value `{bind}`: {e}", env_vars::BIND))))?;
            crate::server::default_public_url(bind)
        }
    };
    millennium_update_admin::client::healthcheck(&base, Duration::from_secs(args.timeout))
        .await
        .map(Output::Healthy)
        .map_err(|e| e.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("2G"), Ok(crate::server::DEFAULT_MAX_UPLOAD_SIZE));
        assert_eq!(parse_size("1536MiB"), Ok(1536 << 20));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert!(parse_size("").is_err());
        assert!(parse_size("2X").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("3600"), Ok(3_600));
        assert_eq!(parse_duration("31d"), Ok(31 * 86_400));
        for bad in ["", "0", "32d", "1w", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
