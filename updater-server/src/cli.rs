//! The `millennium-update-server` command line: `serve` runs the server; every other subcommand talks to a running
//! server over HTTP with a token. Flags double as `MILLENNIUM_*` environment variables (12-factor); the names are in
//! [`crate::env_vars`].
//!
//! Output: data on stdout (with `--json`, the server's JSON answer, one document per command, errors included as
//! `{"error": {"code", "message"}}`), progress and messages on stderr. Exit codes: `0` success, `1` the server refused
//! or could not be reached, `2` bad usage or unusable local input.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use millennium_update_protocol::webview::WebviewMinimums;
use serde_json::Value;

use crate::client::{Client, UploadArtifact};
use crate::env_vars;
use crate::error::{Error, Result};
use crate::server::ServeOptions;
use crate::server::api::{Promote, Rollout};
use crate::server::publish::PublishRequest;
use crate::tokens::Scope;

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

    /// Print machine-readable JSON on stdout (errors too, as `{"error": {"code", "message"}}`).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the update server until SIGTERM or ctrl-c.
    ///
    /// On first start a server admin token is created and printed once on stderr (only its hash is stored), unless
    /// `MILLENNIUM_ADMIN_TOKEN` gives one. Logs go to stderr; filter them with `MILLENNIUM_LOG` (e.g. `debug`).
    /// `GET /metrics` accepts the token in `MILLENNIUM_METRICS_TOKEN` (for Prometheus) besides server admin tokens.
    /// Online keys (signed metadata) are encrypted in the database with `MILLENNIUM_ONLINE_KEY_PASSWORD` when it is
    /// set (every replica needs the same one).
    Serve(ServeArgs),
    /// Manage apps (needs the server admin token).
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Create and revoke tokens scoped to one app and one action.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Publish a release: upload signed artifacts (each with its `ARTIFACT.sig`) to a channel.
    ///
    /// The server verifies every signature against the app's public key and refuses unsigned or wrongly signed
    /// artifacts, a version that exists, or one not newer than the channel's latest (unless `--force`). The release
    /// becomes visible only when everything is stored. The token comes from `--token`, else
    /// `MILLENNIUM_PUBLISH_TOKEN`, else `MILLENNIUM_TOKEN`.
    Publish(PublishArgs),
    /// List releases.
    #[command(subcommand)]
    Releases(ReleasesCommand),
    /// Offer an existing release in another channel too (e.g. beta → stable).
    Promote(PromoteArgs),
    /// Change a staged rollout: set the percentage, pause or resume.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Stop offering a release (and serving its files) in every channel; `--undo` reverts.
    Yank(YankArgs),
    /// Signed metadata: the server's online key of an app, which signs its freshness documents.
    #[command(subcommand)]
    OnlineKey(OnlineKeyCommand),
    /// Signed metadata: sign the app's next root with the release key, on this machine, and upload it.
    #[command(subcommand)]
    Root(RootCommand),
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

/// Where the server is and who we are.
#[derive(Debug, Args)]
pub struct Remote {
    /// The server's base URL.
    #[arg(long, env = env_vars::SERVER, default_value = "http://127.0.0.1:8080")]
    pub server: String,

    /// API token (`mlnm_…`).
    #[arg(long, env = env_vars::TOKEN, hide_env_values = true)]
    pub token: Option<String>,
}

impl Remote {
    fn client(&self) -> Result<Client> {
        let token = self.token.as_deref().ok_or_else(|| {
            Error::usage(format!("no token given\nhint: pass `--token` or set `{}`", env_vars::TOKEN))
        })?;
        Client::new(&self.server, token)
    }
}

/// `apps` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register an app and its release public key.
    Create(AppKeyArgs),
    /// Replace an app's release public key (to rotate a lost or leaked key). Publishes are checked against the new
    /// key from then on; releases already published keep their signatures. Tauri apps embed the key they verify
    /// with: ship one last release signed with the old key whose app embeds the new one, then replace the key here.
    SetKey(AppKeyArgs),
}

/// An app and its release public key.
#[derive(Debug, Args)]
pub struct AppKeyArgs {
    #[command(flatten)]
    remote: Remote,
    /// The app id: lowercase letters, digits, `.`, `_`, `-` (e.g. `com.example.app`).
    #[arg(long)]
    id: String,
    /// The release public key: a path to a `.pub` file, or the key itself (minisign text or Tauri's base64
    /// `pubkey`).
    #[arg(long)]
    public_key: String,
}

/// `tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token for one app and action; it is printed once.
    Create {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
        /// What the token may do: `publish` (CI) or `admin` (everything on the app).
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// Who or what uses it.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Revoke a token (by id, or the whole token).
    Revoke {
        #[command(flatten)]
        remote: Remote,
        /// The token id (the 16 hex digits after `mlnm_`) or the token.
        id: String,
    },
}

/// Token scopes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// May publish releases.
    Publish,
    /// May do everything on the app.
    Admin,
}

impl From<ScopeArg> for Scope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::Publish => Scope::Publish,
            ScopeArg::Admin => Scope::Admin,
        }
    }
}

/// Options of `publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The server's base URL.
    #[arg(long, env = env_vars::SERVER, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Publish token (default: `MILLENNIUM_PUBLISH_TOKEN`, else `MILLENNIUM_TOKEN`).
    #[arg(long)]
    pub token: Option<String>,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The channel.
    #[arg(long, default_value = "stable")]
    pub channel: String,
    /// The release version (SemVer). Signatures that carry a `version:` must carry this one.
    #[arg(long)]
    pub version: String,
    /// Release notes file (Markdown).
    #[arg(long)]
    pub notes_file: Option<PathBuf>,
    /// The oldest system webview the release works with, per backend: `webkitgtk=2.44` (WebKitGTK, Linux),
    /// `webview2=124.0` (the WebView2 Runtime, Windows), `wkwebview=13.0` (the macOS version). Repeatable, or
    /// comma-separated (`webkitgtk=2.44,webview2=124.0`); usually the app's `min-webview-version`. Millennium's updater
    /// does not install the release where its own backend's webview is older; backends without an entry take any
    /// version.
    #[arg(long, value_name = "BACKEND=VERSION", value_parser = parse_webview_minimums)]
    pub min_webview_version: Vec<WebviewMinimums>,
    /// Initial rollout percentage.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub rollout: u8,
    /// Publish even if the version is not newer than the channel's latest.
    #[arg(long)]
    pub force: bool,
    /// The release secret key, for apps with signed metadata: the CLI signs the release document with it (default:
    /// `MILLENNIUM_SIGNING_PRIVATE_KEY`; password from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`). Never uploaded.
    #[arg(long)]
    pub release_key: Option<PathBuf>,
    /// An artifact with an explicit target key, `KEY=FILE` (e.g. `linux-x86_64-deb=dist/app.deb`). Repeatable.
    #[arg(long = "target", value_name = "KEY=FILE")]
    pub targets: Vec<String>,
    /// Artifacts whose target is inferred from the file name (`_amd64.AppImage`, `_x64-setup.exe`, …). Each is
    /// uploaded with its signature from `ARTIFACT.sig`.
    pub artifacts: Vec<PathBuf>,
}

/// Checks one `--min-webview-version` before anything is sent.
fn parse_webview_minimums(text: &str) -> std::result::Result<WebviewMinimums, String> {
    WebviewMinimums::parse(text).map_err(|e| e.to_string())
}

/// All `--min-webview-version` values as one list; a backend given in two of them is refused.
fn merge_webview_minimums(given: &[WebviewMinimums]) -> Result<WebviewMinimums> {
    if given.len() <= 1 {
        return Ok(given.first().cloned().unwrap_or_default());
    }
    let joined = given.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    WebviewMinimums::parse(&joined).map_err(|e| Error::usage(format!("--min-webview-version: {e}")))
}

/// `online-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum OnlineKeyCommand {
    /// Make the server generate an online key for the app (it keeps the secret; needs an admin token). Prints the
    /// public key; the next root (`root sign`) lists it, and from then on the server signs freshness with it. To
    /// replace a leaked online key: generate a new one, then `root sign --revoke OLD_KEY_ID`.
    Generate {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
    },
}

/// `root` subcommands.
#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Sign the next root with the release key and upload it (admin token).
    ///
    /// Root 1 must be signed by the release key the app was registered with; later roots by a release key of the
    /// current root. The existing roots are fetched from the server (or read from `--roots`) and verified from the
    /// signing key first. The online keys listed are the server's unrevoked ones unless `--online-key` is given.
    /// Rotation: `--new-release-key NEW.key` (the root is signed by both keys, and lists only the new one).
    /// Revocation of a leaked online key: `online-key generate`, then `root sign --revoke OLD_KEY_ID`.
    Sign(RootSignArgs),
    /// Upload a root signed elsewhere (`root sign --no-upload --output FILE`).
    Upload {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
        /// The root envelope (JSON).
        file: PathBuf,
    },
}

/// Options of `root sign`.
#[derive(Debug, Args)]
pub struct RootSignArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The release secret key (default: `MILLENNIUM_SIGNING_PRIVATE_KEY`, text or path); its password from
    /// `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`, else asked in a terminal.
    #[arg(long)]
    pub release_key: Option<PathBuf>,
    /// Rotate to this release key (its password from `MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD`).
    #[arg(long)]
    pub new_release_key: Option<PathBuf>,
    /// An online public key to list (text or `.pub` path; repeatable). Default: the server's unrevoked keys.
    #[arg(long = "online-key", value_name = "KEY")]
    pub online_keys: Vec<String>,
    /// A key id (16 hex digits) to revoke from this root on (repeatable).
    #[arg(long = "revoke", value_name = "KEY_ID")]
    pub revoke: Vec<String>,
    /// The current roots (`roots.json`) instead of fetching them from the server.
    #[arg(long)]
    pub roots: Option<PathBuf>,
    /// Also write the signed root to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Do not upload (with `--roots`, `--online-key` and `--output`, no server is contacted at all).
    #[arg(long)]
    pub no_upload: bool,
}

/// `releases` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReleasesCommand {
    /// List an app's releases, newest first.
    List {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
        /// Only releases in this channel.
        #[arg(long)]
        channel: Option<String>,
    },
}

/// Options of `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The release.
    #[arg(long)]
    pub version: String,
    /// The channel to offer it in.
    #[arg(long)]
    pub to: String,
    /// Rollout percentage in that channel.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub rollout: u8,
    /// Promote even if the channel has a newer release.
    #[arg(long)]
    pub force: bool,
    /// The release secret key, for apps with signed metadata: signs the release document for the new channel
    /// (default: `MILLENNIUM_SIGNING_PRIVATE_KEY`). Never uploaded.
    #[arg(long)]
    pub release_key: Option<PathBuf>,
}

/// Which release in which channel.
#[derive(Debug, Args)]
pub struct Placement {
    #[command(flatten)]
    pub remote: Remote,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The release.
    #[arg(long)]
    pub version: String,
    /// The channel.
    #[arg(long, default_value = "stable")]
    pub channel: String,
}

/// `rollout` subcommands.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Offer the release to this percentage of installs (those that send an install id).
    Set {
        #[command(flatten)]
        placement: Placement,
        /// 0 to 100.
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
    },
    /// Stop offering the release in the channel (installs keep what they have).
    Pause {
        #[command(flatten)]
        placement: Placement,
    },
    /// Offer it again.
    Resume {
        #[command(flatten)]
        placement: Placement,
    },
}

/// Options of `yank`.
#[derive(Debug, Args)]
pub struct YankArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The release.
    #[arg(long)]
    pub version: String,
    /// Un-yank.
    #[arg(long)]
    pub undo: bool,
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

fn parse_version(text: &str) -> Result<millennium_update_protocol::Version> {
    millennium_update_protocol::Version::parse(text).map_err(|source| Error::protocol("version", source))
}

/// A `--public-key` argument: the contents of the file it names, else the key itself.
fn key_argument(argument: String) -> Result<String> {
    let path = std::path::Path::new(&argument);
    if path.is_file() { read_file(path) } else { Ok(argument) }
}

fn read_file(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("could not read", path, e))
}

/// Runs a subcommand other than `serve` (which [`crate::server::serve`] runs). Returns what to print on stdout.
pub async fn run(command: Command, json: bool) -> Result<Value> {
    match command {
        Command::Healthcheck(args) => healthcheck(args).await,
        Command::Serve(args) => {
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
                    S3Downloads::Redirect => {
                        crate::server::DownloadMode::Redirect(std::time::Duration::from_secs(args.presign_ttl))
                    }
                },
                gc: crate::server::GcConfig {
                    interval: std::time::Duration::from_secs(args.gc_interval),
                    grace: std::time::Duration::from_secs(args.gc_grace),
                },
                max_upload_size: args.max_upload_size,
                admin_token: std::env::var(env_vars::ADMIN_TOKEN).ok().filter(|t| !t.is_empty()),
                metrics_token: std::env::var(env_vars::METRICS_TOKEN).ok().filter(|t| !t.is_empty()),
                online_key_password: std::env::var(env_vars::ONLINE_KEY_PASSWORD)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(zeroize::Zeroizing::new),
                freshness_lifetime: std::time::Duration::from_secs(args.freshness_expiry),
                http_workers: args.http_workers.map_or_else(crate::server::workers::default_count, usize::from),
            })
            .await?;
            Ok(Value::Null)
        }
        Command::Migrate(args) => {
            let from = crate::server::StorageConfig::from_urls(
                &args.data_dir,
                args.from.as_deref(),
                args.from_storage.as_deref(),
            )?;
            let mut to = crate::server::StorageConfig::from_urls(&args.data_dir, Some(&args.to), None)?;
            to.blobs = match &args.to_storage {
                Some(url) => crate::blobs::StorageUrl::parse(url)?,
                None => from.blobs.clone(),
            };
            crate::migrate::migrate(&from, &to).await
        }
        Command::Apps(AppsCommand::Create(AppKeyArgs { remote, id, public_key })) => {
            remote.client()?.create_app(&id, &key_argument(public_key)?).await
        }
        Command::Apps(AppsCommand::SetKey(AppKeyArgs { remote, id, public_key })) => {
            remote.client()?.set_app_key(&id, &key_argument(public_key)?).await
        }
        Command::Tokens(TokensCommand::Create { remote, app, scope, description }) => {
            remote.client()?.create_token(&app, scope.into(), &description).await
        }
        Command::Tokens(TokensCommand::Revoke { remote, id }) => remote.client()?.revoke_token(&id).await,
        Command::Publish(args) => publish(args, json).await,
        Command::Releases(ReleasesCommand::List { remote, app, channel }) => {
            remote.client()?.list_releases(&app, channel.as_deref()).await
        }
        Command::Promote(args) => promote(args).await,
        Command::OnlineKey(OnlineKeyCommand::Generate { remote, app }) => {
            remote.client()?.generate_online_key(&app).await
        }
        Command::Root(RootCommand::Sign(args)) => root_sign(args).await,
        Command::Root(RootCommand::Upload { remote, app, file }) => {
            let envelope = millennium_update_protocol::metadata::Envelope::parse(read_file(&file)?.as_bytes())
                .map_err(|e| Error::usage(format!("`{}` is not a signed root: {e}", file.display())))?;
            remote.client()?.upload_root(&app, &envelope).await
        }
        Command::Rollout(command) => {
            let (placement, percent, paused) = match command {
                RolloutCommand::Set { placement, percent } => (placement, Some(percent), None),
                RolloutCommand::Pause { placement } => (placement, None, Some(true)),
                RolloutCommand::Resume { placement } => (placement, None, Some(false)),
            };
            let version = parse_version(&placement.version)?;
            let body = Rollout { channel: Some(placement.channel), percent, paused };
            placement.remote.client()?.rollout(&placement.app, &version, &body).await
        }
        Command::Yank(args) => {
            let version = parse_version(&args.version)?;
            args.remote.client()?.yank(&args.app, &version, !args.undo).await
        }
    }
}

async fn publish(args: PublishArgs, json: bool) -> Result<Value> {
    let token = args
        .token
        .or_else(|| std::env::var(env_vars::PUBLISH_TOKEN).ok().filter(|t| !t.is_empty()))
        .or_else(|| std::env::var(env_vars::TOKEN).ok().filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            Error::usage(format!("no publish token given\nhint: set `{}` (or pass `--token`)", env_vars::PUBLISH_TOKEN))
        })?;
    let version = parse_version(&args.version)?;
    let min_webview = merge_webview_minimums(&args.min_webview_version)?;
    let mut files = Vec::new();
    for arg in &args.targets {
        files.push(crate::infer::parse_target_arg(arg)?);
    }
    for path in &args.artifacts {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::usage(format!("`{}` has no usable file name", path.display())))?;
        files.push((crate::infer::target_from_file_name(name)?, path.clone()));
    }
    if files.is_empty() {
        return Err(Error::usage(
            "no artifacts given\nhint: `publish … app_1.2.3_amd64.AppImage` or `--target KEY=FILE`",
        ));
    }
    let mut artifacts = Vec::with_capacity(files.len());
    let mut total = 0;
    for (target, path) in files {
        if artifacts.iter().any(|a: &UploadArtifact| a.target == target) {
            return Err(Error::usage(format!("two artifacts for `{target}`\nhint: give one file per target")));
        }
        let meta = std::fs::metadata(&path).map_err(|e| Error::io("could not read", &path, e))?;
        total += meta.len();
        let mut sig_path = path.clone().into_os_string();
        sig_path.push(".sig");
        let sig_path = PathBuf::from(sig_path);
        let signature = std::fs::read_to_string(&sig_path).map_err(|e| {
            Error::usage(format!(
                "could not read the signature `{}`: {e}\nhint: sign the artifact first: `millennium-sign sign --version {version} {}`",
                sig_path.display(),
                path.display()
            ))
        })?;
        artifacts.push(UploadArtifact { target, path, signature });
    }
    let notes = args.notes_file.as_deref().map(read_file).transpose()?;
    let release = PublishRequest {
        version: version.to_string(),
        channel: Some(args.channel),
        notes,
        min_webview_version: (!min_webview.is_empty()).then(|| min_webview.to_string()),
        rollout: Some(args.rollout),
        force: args.force,
        total_size: Some(total),
        dry_run: false,
    };
    let client = Client::new(&args.server, &token)?;
    // Ask first, so a refusal (token, version, size) does not come in the middle of a large upload.
    client.publish_check(&args.app, &release).await?;
    // Verify the signatures here too, against the keys the server will use, before sending any artifact: the
    // current root's release keys for an app with signed metadata, else the key the app was registered with.
    let status = client.metadata_status(&args.app).await?;
    let keys = match status["release_keys"].as_array() {
        Some(keys) => keys.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        None => {
            let app = client.app(&args.app).await?;
            vec![
                app["public_key"]
                    .as_str()
                    .ok_or_else(|| Error::Internal("no public key in the app".into()))?
                    .to_owned(),
            ]
        }
    };
    let public_keys = keys
        .iter()
        .map(|k| millennium_sign::PublicKey::from_text(k))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("the server's public key for the app: {e}")))?;
    verify_locally(&public_keys, &artifacts, &release.version).await?;
    let document = if status["root_version"].is_null() {
        if args.release_key.is_some() {
            return Err(Error::usage(format!(
                "app `{}` has no signed metadata (no root), so there is no release document to sign\nhint: drop `--release-key`, or sign a root first with `root sign`",
                args.app
            )));
        }
        None
    } else {
        let key = crate::offline::release_key(args.release_key.as_deref())?;
        let channel = release.channel.as_deref().unwrap_or("stable");
        let sequence = status["channels"][channel]["sequence"].as_u64().unwrap_or(0) + 1;
        Some(
            crate::offline::release_document(&args.app, channel, &version, sequence, min_webview, &artifacts, &key)
                .await?,
        )
    };

    let bar = if !json && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("uploading {} artifact(s)", artifacts.len()));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let progress_bar = bar.clone();
    let result = client
        .publish_signed(&args.app, &release, document.as_ref(), &artifacts, Arc::new(move |n| progress_bar.inc(n)))
        .await;
    bar.finish_and_clear();
    result
}

/// `promote`: for an app with signed metadata, signs the release document of the target channel from the release's
/// document in another channel (same artifacts, next sequence of the target channel).
async fn promote(args: PromoteArgs) -> Result<Value> {
    let version = parse_version(&args.version)?;
    let client = args.remote.client()?;
    let status = client.metadata_status(&args.app).await?;
    let release_document = if status["root_version"].is_null() {
        None
    } else {
        let key = crate::offline::release_key(args.release_key.as_deref())?;
        let release = client
            .release(&args.app, &version)
            .await?
            .ok_or_else(|| Error::usage(format!("app `{}` has no release {version}", args.app)))?;
        let mut source = None;
        for placement in release["channels"].as_array().into_iter().flatten() {
            let channel = placement["channel"].as_str().unwrap_or_default();
            let path = format!("channels/{channel}/releases/{version}.json");
            if let Some(text) = client.metadata_document(&args.app, &path).await? {
                source = Some(text);
                break;
            }
        }
        let source = source.ok_or_else(|| {
            Error::usage(format!("release {version} has no signed release document in any channel to promote from"))
        })?;
        let envelope = millennium_update_protocol::metadata::Envelope::parse(source.as_bytes())
            .map_err(|e| Error::Internal(format!("the server's release document: {e}")))?;
        let mut document: millennium_update_protocol::metadata::Release = serde_json::from_str(&envelope.payload)
            .map_err(|e| Error::Internal(format!("the server's release document: {e}")))?;
        document.channel.clone_from(&args.to);
        document.sequence = status["channels"][args.to.as_str()]["sequence"].as_u64().unwrap_or(0) + 1;
        let kind = millennium_update_protocol::metadata::Kind::Release;
        Some(
            millennium_update_protocol::metadata::Envelope::sign(&document, kind, &[&key])
                .map_err(|e| Error::Internal(format!("signing the release document: {e}")))?,
        )
    };
    let body = Promote { to: args.to, rollout: Some(args.rollout), force: args.force, release_document };
    client.promote(&args.app, &version, &body).await
}

/// `root sign`.
async fn root_sign(args: RootSignArgs) -> Result<Value> {
    use millennium_update_protocol::metadata::Envelope;
    let signer = crate::offline::release_key(args.release_key.as_deref())?;
    let new_key = args.new_release_key.as_deref().map(crate::offline::new_release_key).transpose()?;
    let needs_server = !args.no_upload || args.roots.is_none() || args.online_keys.is_empty();
    let client = if needs_server { Some(args.remote.client()?) } else { None };
    let roots: Vec<Envelope> = match (&args.roots, &client) {
        (Some(path), _) => crate::offline::parse_roots(&read_file(path)?)?,
        (None, Some(client)) => match client.metadata_document(&args.app, "roots.json").await? {
            Some(text) => crate::offline::parse_roots(&text)?,
            None => Vec::new(),
        },
        (None, None) => Vec::new(),
    };
    let revoke = args
        .revoke
        .iter()
        .map(|id| {
            id.parse::<millennium_sign::KeyId>()
                .map_err(|e| Error::usage(format!("invalid key id `{id}` to revoke: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut online_keys = Vec::new();
    for text in &args.online_keys {
        let path = std::path::Path::new(text);
        let text = if path.is_file() { read_file(path)? } else { text.clone() };
        online_keys.push(
            millennium_sign::PublicKey::from_text(&text)
                .map_err(|e| Error::usage(format!("invalid online key: {e}")))?,
        );
    }
    if online_keys.is_empty()
        && let Some(client) = &client
    {
        let status = client.metadata_status(&args.app).await?;
        for key in status["online_keys"].as_array().into_iter().flatten() {
            if key["revoked"].as_bool() == Some(true) {
                continue;
            }
            let text = key["public_key"].as_str().unwrap_or_default();
            online_keys.push(
                millennium_sign::PublicKey::from_text(text)
                    .map_err(|e| Error::Internal(format!("the server's online key: {e}")))?,
            );
        }
    }
    let change = crate::offline::RootChange { new_release_key: new_key.as_ref(), online_keys, revoke };
    let (envelope, root) = crate::offline::next_root(&args.app, &roots, &signer, &change)?;
    if let Some(path) = &args.output {
        std::fs::write(path, envelope.to_json()).map_err(|e| Error::io("could not write", path, e))?;
    }
    let uploaded = match &client {
        Some(client) if !args.no_upload => {
            client.upload_root(&args.app, &envelope).await?;
            true
        }
        _ => false,
    };
    Ok(serde_json::json!({
        "app": root.app,
        "version": root.version,
        "release_keys": root.release_keys,
        "online_keys": root.online_keys,
        "revoked_keys": root.revoked_keys,
        "uploaded": uploaded,
    }))
}

/// Verifies every artifact's signature against one of `public_keys` (streaming, on blocking threads), as the
/// server will.
async fn verify_locally(
    public_keys: &[millennium_sign::PublicKey],
    artifacts: &[UploadArtifact],
    version: &str,
) -> Result<()> {
    for artifact in artifacts {
        let rejected = |reason: String| Error::SignatureRejected {
            target: artifact.target.to_string(),
            reason: format!(
                "{reason}\nhint: sign `{}` with the app's release key: `millennium-sign sign --version {version} {}`",
                artifact.path.display(),
                artifact.path.display()
            ),
        };
        let signature =
            millennium_sign::Signature::from_text(&artifact.signature).map_err(|e| rejected(e.to_string()))?;
        let public_key = public_keys.iter().find(|k| k.key_id() == signature.key_id()).ok_or_else(|| {
            rejected(format!("it is signed by key {}, not by a release key of the app", signature.key_id()))
        })?;
        let (key, path, checked) = (public_key.clone(), artifact.path.clone(), signature.clone());
        let verified =
            tokio::task::spawn_blocking(move || -> Result<std::result::Result<(), millennium_sign::Error>> {
                let file = std::fs::File::open(&path).map_err(|e| Error::io("could not open", &path, e))?;
                Ok(checked.verify(&key, std::io::BufReader::with_capacity(256 * 1024, file)))
            })
            .await
            .map_err(|e| Error::Internal(format!("verify task: {e}")))??;
        verified.map_err(|e| rejected(e.to_string()))?;
        signature.trusted_fields().check_version(version, false).map_err(|e| rejected(e.to_string()))?;
    }
    Ok(())
}

/// Prints a command's result for a human (stdout) when not in `--json` mode.
pub fn print_human(command_name: &str, value: &Value, out: &mut impl Write) -> std::io::Result<()> {
    match command_name {
        "tokens-create" => {
            writeln!(out, "{}", value["token"].as_str().unwrap_or_default())?;
            eprintln!(
                "token {} for app `{}` with scope `{}` (shown only this once)",
                value["id"].as_str().unwrap_or_default(),
                value["app"].as_str().unwrap_or_default(),
                value["scope"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        "releases-list" => {
            let empty = Vec::new();
            let releases = value["releases"].as_array().unwrap_or(&empty);
            if releases.is_empty() {
                eprintln!("no releases");
            }
            for release in releases {
                print_release(release, out)?;
            }
            Ok(())
        }
        "apps-create" | "apps-set-key" => {
            let id = value["id"].as_str().unwrap_or_default();
            if command_name == "apps-create" {
                writeln!(out, "app `{id}` created")?;
            } else {
                writeln!(out, "app `{id}`: release key replaced; publishes are checked against it from now on")?;
            }
            writeln!(out, "key id: {}", value["key_id"].as_str().unwrap_or_default())?;
            writeln!(out, "Tauri `pubkey`: {}", value["tauri_pubkey"].as_str().unwrap_or_default())
        }
        "tokens-revoke" => writeln!(out, "token {} revoked", value["id"].as_str().unwrap_or_default()),
        "online-key-generate" => {
            writeln!(out, "{}", value["public_key"].as_str().unwrap_or_default().trim_end())?;
            eprintln!(
                "online key {} generated for app `{}`; list it in the next root with `root sign`",
                value["key_id"].as_str().unwrap_or_default(),
                value["app"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        "root-sign" | "root-upload" => {
            let action = if value["uploaded"].as_bool() == Some(false) { "signed (not uploaded)" } else { "stored" };
            writeln!(out, "root {} of app `{}` {action}", value["version"], value["app"].as_str().unwrap_or_default())
        }
        "healthcheck" => writeln!(out, "healthy: {}", value["url"].as_str().unwrap_or_default()),
        "migrate" => {
            let rows = &value["rows"];
            writeln!(
                out,
                "migrated {} apps, {} tokens, {} releases, {} artifacts, {} channel placements to {}",
                rows["apps"],
                rows["tokens"],
                rows["releases"],
                rows["artifacts"],
                rows["placements"],
                value["to"]["database"]
            )?;
            writeln!(
                out,
                "signed metadata: {} roots, {} release documents, {} online keys, {} freshness documents",
                rows["roots"], rows["release_documents"], rows["online_keys"], rows["freshness"]
            )?;
            writeln!(
                out,
                "blobs: {} referenced, {} copied ({} bytes) to {}",
                value["blobs"]["referenced"],
                value["blobs"]["copied"],
                value["blobs"]["bytes_copied"],
                value["to"]["storage"]
            )
        }
        _ => print_release(value, out),
    }
}

fn print_release(release: &Value, out: &mut impl Write) -> std::io::Result<()> {
    let channels: Vec<String> = release["channels"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let mut s = format!("{} {}%", c["channel"].as_str().unwrap_or_default(), c["rollout"]);
                    if c["paused"].as_bool() == Some(true) {
                        s.push_str(" paused");
                    }
                    s
                })
                .collect()
        })
        .unwrap_or_default();
    let yanked = if release["yanked"].as_bool() == Some(true) { " (yanked)" } else { "" };
    let webview: String = release["min_webview_version"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(backend, version)| format!("  {backend} >= {}", version.as_str().unwrap_or_default()))
        .collect();
    writeln!(
        out,
        "{} {}{yanked}  [{}]  {}{webview}",
        release["app"].as_str().unwrap_or_default(),
        release["version"].as_str().unwrap_or_default(),
        channels.join(", "),
        release["pub_date"].as_str().unwrap_or_default()
    )?;
    for artifact in release["artifacts"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {:<24} {:>12} bytes  {}",
            artifact["target"].as_str().unwrap_or_default(),
            artifact["size"],
            artifact["url"].as_str().unwrap_or_default()
        )?;
    }
    Ok(())
}

/// A short name of a command for [`print_human`].
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Serve(_) => "serve",
        Command::Apps(AppsCommand::Create(_)) => "apps-create",
        Command::Apps(AppsCommand::SetKey(_)) => "apps-set-key",
        Command::Tokens(TokensCommand::Create { .. }) => "tokens-create",
        Command::Tokens(TokensCommand::Revoke { .. }) => "tokens-revoke",
        Command::Publish(_) => "publish",
        Command::Releases(_) => "releases-list",
        Command::Promote(_) => "promote",
        Command::Rollout(_) => "rollout",
        Command::Yank(_) => "yank",
        Command::OnlineKey(_) => "online-key-generate",
        Command::Root(RootCommand::Sign(_)) => "root-sign",
        Command::Root(RootCommand::Upload { .. }) => "root-upload",
        Command::Migrate(_) => "migrate",
        Command::Healthcheck(_) => "healthcheck",
    }
}

/// `healthcheck`: `GET {url}/healthz`, success on a 2xx answer.
async fn healthcheck(args: HealthcheckArgs) -> Result<Value> {
    let base = match args.url {
        Some(url) => url,
        None => {
            let bind = std::env::var(env_vars::BIND).unwrap_or_else(|_| "127.0.0.1:8080".into());
            let bind: SocketAddr =
                bind.parse().map_err(|e| Error::usage(format!("invalid `{}` value `{bind}`: {e}", env_vars::BIND)))?;
            crate::server::default_public_url(bind)
        }
    };
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(args.timeout)).build()?;
    let response = client.get(&url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Server {
            status: status.as_u16(),
            code: "unhealthy".into(),
            message: format!("`{url}` answered {status}"),
        });
    }
    Ok(serde_json::json!({ "status": "ok", "url": url }))
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
