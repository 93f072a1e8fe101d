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
    Create {
        #[command(flatten)]
        remote: Remote,
        /// The app id: lowercase letters, digits, `.`, `_`, `-` (e.g. `com.example.app`).
        #[arg(long)]
        id: String,
        /// The release public key: a path to a `.pub` file, or the key itself (minisign text or Tauri's base64
        /// `pubkey`).
        #[arg(long)]
        public_key: String,
    },
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
    /// The oldest system webview the release works with (`2.44`: WebKitGTK on Linux, the WebView2 Runtime on
    /// Windows, macOS on macOS), usually the app's `min-webview-version`. Millennium's updater does not install the
    /// release where the webview is older.
    #[arg(long, value_name = "VERSION", value_parser = parse_webview_version)]
    pub min_webview_version: Option<String>,
    /// Initial rollout percentage.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub rollout: u8,
    /// Publish even if the version is not newer than the channel's latest.
    #[arg(long)]
    pub force: bool,
    /// An artifact with an explicit target key, `KEY=FILE` (e.g. `linux-x86_64-deb=dist/app.deb`). Repeatable.
    #[arg(long = "target", value_name = "KEY=FILE")]
    pub targets: Vec<String>,
    /// Artifacts whose target is inferred from the file name (`_amd64.AppImage`, `_x64-setup.exe`, …). Each is
    /// uploaded with its signature from `ARTIFACT.sig`.
    pub artifacts: Vec<PathBuf>,
}

/// Checks `--min-webview-version` before anything is sent.
fn parse_webview_version(text: &str) -> std::result::Result<String, String> {
    millennium_update_protocol::webview::WebviewVersion::parse(text).map(|v| v.to_string()).map_err(|e| e.to_string())
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

fn parse_version(text: &str) -> Result<millennium_update_protocol::Version> {
    millennium_update_protocol::Version::parse(text).map_err(|source| Error::protocol("version", source))
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
        Command::Apps(AppsCommand::Create { remote, id, public_key }) => {
            let path = std::path::Path::new(&public_key);
            let key = if path.is_file() { read_file(path)? } else { public_key };
            remote.client()?.create_app(&id, &key).await
        }
        Command::Tokens(TokensCommand::Create { remote, app, scope, description }) => {
            remote.client()?.create_token(&app, scope.into(), &description).await
        }
        Command::Tokens(TokensCommand::Revoke { remote, id }) => remote.client()?.revoke_token(&id).await,
        Command::Publish(args) => publish(args, json).await,
        Command::Releases(ReleasesCommand::List { remote, app, channel }) => {
            remote.client()?.list_releases(&app, channel.as_deref()).await
        }
        Command::Promote(args) => {
            let version = parse_version(&args.version)?;
            let body = Promote { to: args.to, rollout: Some(args.rollout), force: args.force };
            args.remote.client()?.promote(&args.app, &version, &body).await
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
        min_webview_version: args.min_webview_version,
        rollout: Some(args.rollout),
        force: args.force,
        total_size: Some(total),
        dry_run: false,
    };
    let client = Client::new(&args.server, &token)?;
    // Ask first, so a refusal (token, version, size) does not come in the middle of a large upload.
    client.publish_check(&args.app, &release).await?;
    // Verify the signatures here too, against the key the server will use, before sending any artifact.
    let app = client.app(&args.app).await?;
    let key_text = app["public_key"].as_str().ok_or_else(|| Error::Internal("no public key in the app".into()))?;
    let public_key = millennium_sign::PublicKey::from_text(key_text)
        .map_err(|e| Error::Internal(format!("the server's public key for the app: {e}")))?;
    verify_locally(&public_key, &artifacts, &release.version).await?;

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
    let result = client.publish(&args.app, &release, &artifacts, Arc::new(move |n| progress_bar.inc(n))).await;
    bar.finish_and_clear();
    result
}

/// Verifies every artifact's signature against `public_key` (streaming, on blocking threads), as the server will.
async fn verify_locally(
    public_key: &millennium_sign::PublicKey,
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
        "apps-create" => {
            writeln!(out, "app `{}` created", value["id"].as_str().unwrap_or_default())?;
            writeln!(out, "key id: {}", value["key_id"].as_str().unwrap_or_default())?;
            writeln!(out, "Tauri `pubkey`: {}", value["tauri_pubkey"].as_str().unwrap_or_default())
        }
        "tokens-revoke" => writeln!(out, "token {} revoked", value["id"].as_str().unwrap_or_default()),
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
    let webview = release["min_webview_version"].as_str().map(|v| format!("  webview >= {v}")).unwrap_or_default();
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
        Command::Apps(_) => "apps-create",
        Command::Tokens(TokensCommand::Create { .. }) => "tokens-create",
        Command::Tokens(TokensCommand::Revoke { .. }) => "tokens-revoke",
        Command::Publish(_) => "publish",
        Command::Releases(_) => "releases-list",
        Command::Promote(_) => "promote",
        Command::Rollout(_) => "rollout",
        Command::Yank(_) => "yank",
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
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
