//! The admin subcommands of `millennium-update-server` (`apps`, `tokens`, `publish`, `releases`, `promote`, `rollout`,
//! `yank`, `online-key`, `root`): each talks to a running server over HTTP with a token, through
//! [`crate::client::Client`], and signs what the release key must sign on this machine ([`crate::offline`]). Flags
//! double as `MILLENNIUM_*` environment variables (12-factor); the names are in [`crate::env_vars`].
//!
//! [`run`] returns a typed [`Output`]; [`crate::report::finish`] prints it (text, or the JSON of the server's answer
//! with `--json`) and maps errors to the documented exit codes. Any binary can embed these commands with
//! `#[command(flatten)]` on an [`AdminCommand`] variant, as `millennium-update-server` does.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand, ValueEnum};
use millennium_update_protocol::metadata::{Envelope, Kind, Root, TrustState};
use millennium_update_protocol::webview::WebviewMinimums;
use serde::Serialize;

use crate::api::{
    App, CreateApp, CreateWebhook, CreatedToken, CreatedWebhook, HaltRule, MetadataStatus, OnlineKey, Promote,
    PublishRequest, Release, ReleaseHealth, Releases, RevokedToken, Rollout, Scope, SetHaltRule, StoredRoot, UpdateApp,
    WebhookDeliveries, Webhooks,
};
use crate::client::{Client, UploadArtifact};
use crate::env_vars;
use crate::error::{Error, Result};
use crate::report::Render;

/// The admin subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
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
    /// Stop offering a release (and serving its files) in every channel; `--undo` reverts. Apps with signed yanks
    /// also need the release key, which signs the app's next yank list (`--release-key`).
    Yank(YankArgs),
    /// Release health: what installs reported for a release (installs, confirmations, rollbacks, failures per hour),
    /// its halt rule and whether the server halted its rollout.
    Health(HealthArgs),
    /// Set or clear the rule under which the server halts a rollout by itself: for one release (`--version`), or the
    /// app's default.
    #[command(subcommand)]
    HaltRule(HaltRuleCommand),
    /// Webhooks: signed notifications of `release.published`, `rollout.changed`, `rollout.halted`, `release.yanked`.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Signed metadata: the server's online key of an app, which signs its freshness documents.
    #[command(subcommand)]
    OnlineKey(OnlineKeyCommand),
    /// Signed metadata: sign the app's next root with root keys, on this machine (co-signed on others), and upload it.
    #[command(subcommand)]
    Root(RootCommand),
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
    /// A client of this server with this token.
    pub fn client(&self) -> Result<Client> {
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
    Create(CreateAppArgs),
    /// Replace an app's release public key (to rotate a lost or leaked key). Publishes are checked against the new
    /// key from then on; releases already published keep their signatures. Tauri apps embed the key they verify
    /// with: ship one last release signed with the old key whose app embeds the new one, then replace the key here.
    /// Refused for an app with signed metadata (a root): rotate with `root sign --new-release-key` instead.
    SetKey(AppKeyArgs),
    /// Change an app's publish policy.
    SetPolicy(AppPolicyArgs),
}

/// Options of `apps create`.
#[derive(Debug, Args)]
pub struct CreateAppArgs {
    #[command(flatten)]
    key: AppKeyArgs,
    /// Refuse publishes whose artifact signatures do not state the version they were signed for (`millennium-sign
    /// sign --version`; Tauri's `tauri signer sign --app-version`), so that an old build's signature cannot be
    /// published as a new version. Turn it off only if your signer cannot write a version.
    #[arg(long, value_name = "true|false", default_value_t = true, action = clap::ArgAction::Set)]
    require_signed_version: bool,
}

/// Options of `apps set-policy`.
#[derive(Debug, Args)]
pub struct AppPolicyArgs {
    #[command(flatten)]
    remote: Remote,
    /// The app id.
    #[arg(long)]
    id: String,
    /// Refuse publishes whose artifact signatures do not state their version (see `apps create`). Turning it off
    /// needs the server admin token.
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
    require_signed_version: bool,
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
    /// Sign the app's next root with root keys and upload it (admin token), or write it for co-signing.
    ///
    /// A root is signed by its root keys, `--threshold` of them together, kept offline apart from the release key
    /// that CI holds; the recommended setup is 2 of 3. Root 1 is signed by the release key the app was registered
    /// with too, and by its own threshold of root keys:
    ///
    /// `root sign --app APP --release-key release.key --root-public-key a.pub --root-public-key b.pub
    /// --root-public-key c.pub --threshold 2 --root-key a.key --online-key online.pub --output root.json`, then
    /// `root cosign --app APP --root-key b.key root.json` (on b's machine), then `root upload --app APP root.json`.
    ///
    /// Root N+1 needs a threshold of root N's root keys and of its own. The existing roots are fetched from the server
    /// (or read from `--roots`) and verified from the signing keys first. A root of the first format has no root keys:
    /// its release key signs the next root alone (`--release-key`); `--root-public-key` and `--threshold` move the
    /// app to root keys. Online keys the server reports that the current root does not list are shown and must be
    /// confirmed in a terminal, or given with `--online-key`. Revocation of a leaked key: `--revoke KEY_ID` (with
    /// `online-key generate` first for an online key); revocations stay in force in every later root.
    Sign(RootSignArgs),
    /// Add root-key signatures to a root signed elsewhere (`root sign --output FILE`), on this machine; says how many
    /// are still missing. Writes the file back (or to `--output`).
    Cosign(RootCosignArgs),
    /// Upload a root signed elsewhere (`root sign --no-upload --output FILE`, `root cosign`).
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
    /// A root secret key that signs the root (repeatable); passwords from `MILLENNIUM_ROOT_KEY_PASSWORD`, else asked
    /// in a terminal.
    #[arg(long = "root-key", value_name = "KEY")]
    pub root_keys: Vec<PathBuf>,
    /// The release secret key, which signs root 1 (it is the key the app was registered with) and every root after one
    /// of the first format (default: `MILLENNIUM_SIGNING_PRIVATE_KEY`, text or path, read only then); its password
    /// from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`, else asked in a terminal.
    #[arg(long)]
    pub release_key: Option<PathBuf>,
    /// A root public key the new root lists (text or `.pub` path; repeatable). Default: the current root's.
    #[arg(long = "root-public-key", value_name = "KEY")]
    pub root_public_keys: Vec<String>,
    /// How many root keys must sign the next root. Default: the current root's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(millennium_update_protocol::metadata::MAX_ROOT_THRESHOLD)))]
    pub threshold: Option<u32>,
    /// A release public key the new root lists (text or `.pub` path; repeatable): rotates the release key. Default:
    /// the current root's (root 1: the `--release-key`'s). Prefer `--new-release-key`: an app built with a key that
    /// signed no root cannot start trusting from that key.
    #[arg(long = "release-public-key", value_name = "KEY")]
    pub release_public_keys: Vec<String>,
    /// Rotate to this release key, which signs the root too (its password from
    /// `MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD`): apps built with the new key start trusting from this root. In a
    /// root of the first format its signature is also one of the new root's own (its release keys sign roots).
    #[arg(long)]
    pub new_release_key: Option<PathBuf>,
    /// An online public key to list (text or `.pub` path; repeatable). Default: the server's unrevoked keys, those
    /// the current root does not list yet confirmed in a terminal.
    #[arg(long = "online-key", value_name = "KEY")]
    pub online_keys: Vec<String>,
    /// A key id (16 hex digits) to revoke from this root on (repeatable).
    #[arg(long = "revoke", value_name = "KEY_ID")]
    pub revoke: Vec<String>,
    /// The current roots (`roots.json`) instead of fetching them from the server.
    #[arg(long)]
    pub roots: Option<PathBuf>,
    /// Also write the signed root to this file (needed when it lacks signatures, for `root cosign`).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Do not upload (with `--roots`, `--online-key` and `--output`, no server is contacted at all).
    #[arg(long)]
    pub no_upload: bool,
}

/// Options of `root cosign`.
#[derive(Debug, Args)]
pub struct RootCosignArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// A root secret key that signs (repeatable); passwords from `MILLENNIUM_ROOT_KEY_PASSWORD`, else asked in a
    /// terminal.
    #[arg(long = "root-key", value_name = "KEY", required = true)]
    pub root_keys: Vec<PathBuf>,
    /// The current roots (`roots.json`) instead of fetching them from the server.
    #[arg(long)]
    pub roots: Option<PathBuf>,
    /// Write the co-signed root here instead of back to `FILE`.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The partly signed root (JSON envelope).
    pub file: PathBuf,
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

/// Options of `health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The release.
    #[arg(long)]
    pub version: String,
}

/// `halt-rule` subcommands.
#[derive(Debug, Subcommand)]
pub enum HaltRuleCommand {
    /// Halt the rollout once at least `--min-installs` installs reported and rollbacks plus failed installs exceed
    /// `--max-failure-percent` of them.
    Set {
        #[command(flatten)]
        target: HaltRuleTarget,
        /// Highest acceptable failure share, in percent.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        max_failure_percent: u8,
        /// Installs needed before the rule applies.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        min_installs: u64,
    },
    /// Remove the rule (a release then follows the app's default).
    Clear {
        #[command(flatten)]
        target: HaltRuleTarget,
    },
}

/// Whose halt rule.
#[derive(Debug, Args)]
pub struct HaltRuleTarget {
    #[command(flatten)]
    pub remote: Remote,
    /// The app.
    #[arg(long)]
    pub app: String,
    /// The release; without it, the app's default rule.
    #[arg(long)]
    pub version: Option<String>,
}

/// `webhooks` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Add a webhook; prints its signing secret (shown only this once).
    Add {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
        /// Where deliveries are POSTed.
        #[arg(long)]
        url: String,
        /// The signing secret (16 to 256 characters); a random one by default.
        #[arg(long, env = env_vars::WEBHOOK_SECRET, hide_env_values = true)]
        secret: Option<String>,
        /// An event to deliver (repeatable); every event by default.
        #[arg(long = "event")]
        events: Vec<String>,
    },
    /// List an app's webhooks.
    List {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
    },
    /// Remove a webhook and its delivery log.
    Remove {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
        /// The webhook id.
        #[arg(long)]
        id: String,
    },
    /// The newest deliveries: status, attempts, last error.
    Deliveries {
        #[command(flatten)]
        remote: Remote,
        /// The app.
        #[arg(long)]
        app: String,
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
    /// The release secret key, which signs the app's next yank list (apps with signed yanks; default:
    /// `MILLENNIUM_SIGNING_PRIVATE_KEY`; password from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`). Never uploaded.
    #[arg(long)]
    pub release_key: Option<PathBuf>,
}

fn parse_version(text: &str) -> Result<millennium_update_protocol::Version> {
    millennium_update_protocol::Version::parse(text).map_err(Error::protocol)
}

/// A `--public-key` argument: the contents of the file it names, else the key itself.
fn key_argument(argument: String) -> Result<String> {
    let path = std::path::Path::new(&argument);
    if path.is_file() { read_file(path) } else { Ok(argument) }
}

fn read_file(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("could not read", path, e))
}

/// Runs one admin subcommand; `json` only silences the progress bar of `publish`.
pub async fn run(command: AdminCommand, json: bool) -> Result<Output> {
    match command {
        AdminCommand::Apps(AppsCommand::Create(CreateAppArgs {
            key: AppKeyArgs { remote, id, public_key },
            require_signed_version,
        })) => {
            let body = CreateApp {
                id,
                public_key: key_argument(public_key)?,
                require_signed_version: Some(require_signed_version),
            };
            Ok(Output::AppCreated(remote.client()?.create_app_with(&body).await?))
        }
        AdminCommand::Apps(AppsCommand::SetKey(AppKeyArgs { remote, id, public_key })) => {
            Ok(Output::AppKeyReplaced(remote.client()?.set_app_key(&id, &key_argument(public_key)?).await?))
        }
        AdminCommand::Apps(AppsCommand::SetPolicy(AppPolicyArgs { remote, id, require_signed_version })) => {
            let body = UpdateApp { require_signed_version: Some(require_signed_version), ..UpdateApp::default() };
            Ok(Output::AppPolicyChanged(remote.client()?.update_app(&id, &body).await?))
        }
        AdminCommand::Tokens(TokensCommand::Create { remote, app, scope, description }) => {
            Ok(Output::TokenCreated(remote.client()?.create_token(&app, scope.into(), &description).await?))
        }
        AdminCommand::Tokens(TokensCommand::Revoke { remote, id }) => {
            Ok(Output::TokenRevoked(remote.client()?.revoke_token(&id).await?))
        }
        AdminCommand::Publish(args) => publish(args, json).await.map(Output::Release),
        AdminCommand::Releases(ReleasesCommand::List { remote, app, channel }) => {
            Ok(Output::Releases(remote.client()?.list_releases(&app, channel.as_deref()).await?))
        }
        AdminCommand::Promote(args) => promote(args).await.map(Output::Release),
        AdminCommand::OnlineKey(OnlineKeyCommand::Generate { remote, app }) => {
            Ok(Output::OnlineKey(remote.client()?.generate_online_key(&app).await?))
        }
        AdminCommand::Root(RootCommand::Sign(args)) => root_sign(args).await.map(Output::RootSigned),
        AdminCommand::Root(RootCommand::Cosign(args)) => root_cosign(args).await.map(Output::RootSigned),
        AdminCommand::Root(RootCommand::Upload { remote, app, file }) => {
            let envelope = Envelope::parse(read_file(&file)?.as_bytes())
                .map_err(|e| Error::usage(format!("`{}` is not a signed root: {e}", file.display())))?;
            Ok(Output::RootStored(remote.client()?.upload_root(&app, &envelope).await?))
        }
        AdminCommand::Rollout(command) => {
            let (placement, percent, paused) = match command {
                RolloutCommand::Set { placement, percent } => (placement, Some(percent), None),
                RolloutCommand::Pause { placement } => (placement, None, Some(true)),
                RolloutCommand::Resume { placement } => (placement, None, Some(false)),
            };
            let version = parse_version(&placement.version)?;
            let body = Rollout { channel: Some(placement.channel), percent, paused };
            Ok(Output::Release(placement.remote.client()?.rollout(&placement.app, &version, &body).await?))
        }
        AdminCommand::Yank(args) => yank(args).await.map(Output::Release),
        AdminCommand::Health(HealthArgs { remote, app, version }) => {
            let version = parse_version(&version)?;
            Ok(Output::Health(Box::new(remote.client()?.release_health(&app, &version).await?)))
        }
        AdminCommand::HaltRule(command) => {
            let (target, rule) = match command {
                HaltRuleCommand::Set { target, max_failure_percent, min_installs } => {
                    (target, Some(HaltRule { max_failure_percent, min_installs }))
                }
                HaltRuleCommand::Clear { target } => (target, None),
            };
            let client = target.remote.client()?;
            match target.version {
                Some(version) => {
                    let version = parse_version(&version)?;
                    Ok(Output::Health(Box::new(client.set_release_halt_rule(&target.app, &version, rule).await?)))
                }
                None => Ok(Output::AppHaltRule(client.set_app_halt_rule(&target.app, rule).await?)),
            }
        }
        AdminCommand::Webhooks(WebhooksCommand::Add { remote, app, url, secret, events }) => {
            let body = CreateWebhook { url, secret, events: (!events.is_empty()).then_some(events) };
            Ok(Output::WebhookCreated(remote.client()?.create_webhook(&app, &body).await?))
        }
        AdminCommand::Webhooks(WebhooksCommand::List { remote, app }) => {
            Ok(Output::Webhooks(remote.client()?.webhooks(&app).await?))
        }
        AdminCommand::Webhooks(WebhooksCommand::Remove { remote, app, id }) => {
            Ok(Output::Webhooks(remote.client()?.delete_webhook(&app, &id).await?))
        }
        AdminCommand::Webhooks(WebhooksCommand::Deliveries { remote, app }) => {
            Ok(Output::Deliveries(remote.client()?.webhook_deliveries(&app).await?))
        }
    }
}

async fn publish(args: PublishArgs, json: bool) -> Result<Release> {
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
    // Verify the signatures here too, against the keys the server will use and with its policy, before sending any
    // artifact: the current root's release keys for an app with signed metadata, else the key the app was
    // registered with.
    let status = client.metadata_status(&args.app).await?;
    let app = client.app(&args.app).await?;
    let keys = match &status.release_keys {
        Some(keys) => keys.clone(),
        None => vec![app.public_key.clone()],
    };
    let public_keys = keys
        .iter()
        .map(|k| millennium_sign::PublicKey::from_text(k))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(format!("the server's public key for the app: {e}")))?;
    let policy = app.require_signed_version.then_some(args.app.as_str());
    verify_locally(&public_keys, &artifacts, &release.version, policy).await?;
    let document = if status.root_version.is_none() {
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
        let sequence = next_sequence(&status, channel);
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
async fn promote(args: PromoteArgs) -> Result<Release> {
    let version = parse_version(&args.version)?;
    let client = args.remote.client()?;
    let status = client.metadata_status(&args.app).await?;
    let release_document = if status.root_version.is_none() {
        None
    } else {
        let key = crate::offline::release_key(args.release_key.as_deref())?;
        let release = client
            .release(&args.app, &version)
            .await?
            .ok_or_else(|| Error::usage(format!("app `{}` has no release {version}", args.app)))?;
        let mut source = None;
        for placement in &release.channels {
            let path = format!("channels/{}/releases/{version}.json", placement.channel);
            if let Some(text) = client.metadata_document(&args.app, &path).await? {
                source = Some(text);
                break;
            }
        }
        let source = source.ok_or_else(|| {
            Error::usage(format!("release {version} has no signed release document in any channel to promote from"))
        })?;
        let envelope = Envelope::parse(source.as_bytes())
            .map_err(|e| Error::internal(format!("the server's release document: {e}")))?;
        let mut document: millennium_update_protocol::metadata::Release = serde_json::from_str(&envelope.payload)
            .map_err(|e| Error::internal(format!("the server's release document: {e}")))?;
        document.channel.clone_from(&args.to);
        document.sequence = next_sequence(&status, &args.to);
        Some(
            Envelope::sign(&document, Kind::Release, &[&key])
                .map_err(|e| Error::internal(format!("signing the release document: {e}")))?,
        )
    };
    let body = Promote { to: args.to, rollout: Some(args.rollout), force: args.force, release_document };
    client.promote(&args.app, &version, &body).await
}

/// A public key given on the command line: the contents of the `.pub` file it names, else the key itself.
fn public_key_argument(text: &str, what: &str) -> Result<millennium_sign::PublicKey> {
    let path = std::path::Path::new(text);
    let text = if path.is_file() { read_file(path)? } else { text.to_owned() };
    millennium_sign::PublicKey::from_text(&text).map_err(|e| Error::usage(format!("invalid {what}: {e}")))
}

/// The app's roots: from `file`, else from the server, else none.
async fn current_roots(app: &str, file: Option<&std::path::Path>, client: Option<&Client>) -> Result<Vec<Envelope>> {
    match (file, client) {
        (Some(path), _) => crate::offline::parse_roots(&read_file(path)?),
        (None, Some(client)) => match client.metadata_document(app, "roots.json").await? {
            Some(text) => crate::offline::parse_roots(&text),
            None => Ok(Vec::new()),
        },
        (None, None) => Ok(Vec::new()),
    }
}

/// `root sign`.
async fn root_sign(args: RootSignArgs) -> Result<SignedRoot> {
    let root_keys = args.root_keys.iter().map(|path| crate::offline::root_key(path)).collect::<Result<Vec<_>>>()?;
    let needs_server = !args.no_upload || args.roots.is_none() || args.online_keys.is_empty();
    let client = if needs_server { Some(args.remote.client()?) } else { None };
    let roots = current_roots(&args.app, args.roots.as_deref(), client.as_ref()).await?;
    // The release key signs root 1 and every root after one of the first format; root keys sign the others.
    let legacy_or_first = match roots.last() {
        None => true,
        Some(last) => serde_json::from_str::<Root>(&last.payload).is_ok_and(|root| !root.has_root_keys()),
    };
    let release_key = if legacy_or_first || args.release_key.is_some() {
        Some(crate::offline::release_key(args.release_key.as_deref())?)
    } else {
        None
    };
    let new_key = args.new_release_key.as_deref().map(crate::offline::new_release_key).transpose()?;
    let mut signers: Vec<&millennium_sign::SecretKey> = root_keys.iter().collect();
    signers.extend(release_key.as_ref());
    let trusted: Vec<_> = signers.iter().map(|key| key.public_key()).collect();
    let trust = crate::offline::verified_chain(&args.app, &roots, &trusted)?;

    let revoke = args
        .revoke
        .iter()
        .map(|id| {
            id.parse::<millennium_sign::KeyId>()
                .map_err(|e| Error::usage(format!("invalid key id `{id}` to revoke: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let parse_all = |list: &[String], what: &str| -> Result<Option<Vec<millennium_sign::PublicKey>>> {
        if list.is_empty() {
            return Ok(None);
        }
        list.iter().map(|text| public_key_argument(text, what)).collect::<Result<Vec<_>>>().map(Some)
    };
    let mut release_keys = parse_all(&args.release_public_keys, "release public key")?;
    if trust.is_none() && release_keys.is_none() {
        release_keys = release_key.as_ref().map(|key| vec![key.public_key()]);
    }
    let mut change = crate::offline::RootChange {
        new_release_key: new_key.as_ref(),
        release_keys,
        root_keys: parse_all(&args.root_public_keys, "root public key")?,
        threshold: args.threshold,
        online_keys: parse_all(&args.online_keys, "online key")?.unwrap_or_default(),
        revoke,
    };
    let current =
        trust.as_ref().map(TrustState::current_root).transpose().map_err(|e| Error::internal(format!("{e}")))?;
    // Fail on the root keys before asking about online keys.
    crate::offline::next_root_keys(current.as_ref(), &change)?;
    if change.online_keys.is_empty()
        && let Some(client) = &client
    {
        change.online_keys = confirmed_online_keys(client, &args.app, current.as_ref()).await?;
    }
    let signed = crate::offline::next_root(&args.app, trust.as_ref(), &signers, &change)?;
    finish_root(signed, args.output.as_deref(), client.as_ref().filter(|_| !args.no_upload), &args.app).await
}

/// `root cosign`.
async fn root_cosign(args: RootCosignArgs) -> Result<SignedRoot> {
    let keys = args.root_keys.iter().map(|path| crate::offline::root_key(path)).collect::<Result<Vec<_>>>()?;
    let signers: Vec<&millennium_sign::SecretKey> = keys.iter().collect();
    let envelope = Envelope::parse(read_file(&args.file)?.as_bytes())
        .map_err(|e| Error::usage(format!("`{}` is not a signed root: {e}", args.file.display())))?;
    let root: Root = serde_json::from_str(&envelope.payload)
        .map_err(|e| Error::usage(format!("`{}` is not a root document: {e}", args.file.display())))?;
    let client = if args.roots.is_none() && root.version > 1 { Some(args.remote.client()?) } else { None };
    let roots = current_roots(&args.app, args.roots.as_deref(), client.as_ref()).await?;
    let roots: Vec<Envelope> = roots
        .into_iter()
        .filter(|r| serde_json::from_str::<Root>(&r.payload).is_ok_and(|r| r.version < root.version))
        .collect();
    // Trust the history as far as the co-signer's own keys lead, or as the root's previous signers' would.
    let mut trusted: Vec<_> = signers.iter().map(|key| key.public_key()).collect();
    trusted.extend(previous_signers(&envelope, &roots));
    let trust = crate::offline::verified_chain(&args.app, &roots, &trusted)?;
    let mut notes = std::io::stderr();
    describe_root(&root, &envelope, &mut notes).map_err(|e| Error::io("could not write to", "stderr", e))?;
    let signed = crate::offline::cosign_root(&args.app, trust.as_ref(), envelope, &signers)?;
    let output = args.output.unwrap_or(args.file);
    finish_root(signed, Some(&output), None, &args.app).await
}

/// The keys of the root before `envelope` that signed it (root keys, or release keys of a root of the first format):
/// with them a co-signer whose key the history does not name yet (a new root key) can still verify the history.
fn previous_signers(envelope: &Envelope, roots: &[Envelope]) -> Vec<millennium_sign::PublicKey> {
    let Some(previous) = roots.last().and_then(|r| serde_json::from_str::<Root>(&r.payload).ok()) else {
        return Vec::new();
    };
    let signed = envelope.signer_ids();
    previous
        .root_keys
        .iter()
        .chain(&previous.release_keys)
        .filter_map(|text| millennium_sign::PublicKey::from_text(text).ok())
        .filter(|key| signed.contains(&key.key_id()))
        .collect()
}

/// What a co-signer is about to sign, on stderr.
fn describe_root(root: &Root, envelope: &Envelope, out: &mut dyn Write) -> std::io::Result<()> {
    let ids = |list: &[String]| -> String {
        list.iter()
            .map(|text| {
                millennium_sign::PublicKey::from_text(text).map_or_else(|_| "?".to_owned(), |k| k.key_id().to_string())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "root {} of app `{}`:", root.version, root.app)?;
    if root.has_root_keys() {
        let threshold = root.root_threshold.unwrap_or(1);
        writeln!(out, "  root keys ({threshold} of {} must sign): {}", root.root_keys.len(), ids(&root.root_keys))?;
    } else {
        writeln!(out, "  no root keys: the release keys sign roots")?;
    }
    writeln!(out, "  release keys: {}", ids(&root.release_keys))?;
    writeln!(out, "  online keys: {}", ids(&root.online_keys))?;
    writeln!(out, "  revoked keys: {}", root.revoked_keys.join(", "))?;
    let signed: Vec<String> = envelope.signer_ids().iter().map(ToString::to_string).collect();
    writeln!(out, "  signed by: {}", signed.join(", "))
}

/// Writes the root to `output`, uploads it through `upload` when it carries every signature it needs, and says what
/// is missing otherwise.
async fn finish_root(
    signed: crate::offline::SignedRoot,
    output: Option<&std::path::Path>,
    upload: Option<&Client>,
    app: &str,
) -> Result<SignedRoot> {
    let missing = signed.signatures.own.missing() + signed.signatures.previous.as_ref().map_or(0, |q| q.missing());
    if let Some(path) = output {
        std::fs::write(path, signed.envelope.to_json()).map_err(|e| Error::io("could not write", path, e))?;
    }
    let uploaded = match upload {
        Some(client) if missing == 0 => {
            client.upload_root(app, &signed.envelope).await?;
            true
        }
        Some(_) if output.is_none() => {
            return Err(Error::usage(format!(
                "root {} needs {missing} more root-key signature(s), so it was not uploaded\nhint: sign with more `--root-key`s, or write it with `--output FILE`, co-sign it with `root cosign --root-key KEY FILE` and upload it with `root upload`",
                signed.root.version
            )));
        }
        _ => false,
    };
    let root = signed.root;
    Ok(SignedRoot {
        app: root.app,
        version: root.version,
        root_keys: root.root_keys,
        root_threshold: root.root_threshold.unwrap_or(1),
        release_keys: root.release_keys,
        online_keys: root.online_keys,
        revoked_keys: root.revoked_keys,
        signed_by: signed.envelope.signer_ids().iter().map(ToString::to_string).collect(),
        missing_signatures: missing,
        uploaded,
    })
}

/// The online keys the server reports (unrevoked), for `root sign` without `--online-key`. Those the current root
/// does not list yet are shown on stderr (key id, creation time) and must be confirmed in a terminal: the server could
/// be lying, and a key signed into a root signs freshness documents until a later root revokes it.
async fn confirmed_online_keys(
    client: &Client,
    app: &str,
    current: Option<&Root>,
) -> Result<Vec<millennium_sign::PublicKey>> {
    let status = client.metadata_status(app).await?;
    let listed: &[String] = current.map_or(&[], |root| &root.online_keys);
    let mut keys = Vec::new();
    let mut new = Vec::new();
    for reported in status.online_keys.iter().filter(|key| !key.revoked) {
        let key = millennium_sign::PublicKey::from_text(&reported.public_key)
            .map_err(|e| Error::internal(format!("the server's online key: {e}")))?;
        if !listed.contains(&key.to_base64()) {
            new.push(reported);
        }
        keys.push(key);
    }
    if new.is_empty() {
        return Ok(keys);
    }
    let mut notes = std::io::stderr();
    let shown = show_online_keys(&new, &mut notes).and_then(|()| {
        write!(
            notes,
            "List these online keys in the root? Compare their ids with what `online-key generate` printed. [y/N] "
        )?;
        notes.flush()
    });
    shown.map_err(|e| Error::io("could not write to", "stderr", e))?;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let ids: Vec<&str> = new.iter().map(|key| key.key_id.as_str()).collect();
        return Err(Error::usage(format!(
            "the server reports online keys the current root does not list ({}), and there is no terminal to confirm them\nhint: check them, then pass each with `--online-key KEY` (the public key `online-key generate` printed)",
            ids.join(", ")
        )));
    }
    if confirm(&mut stdin.lock()).map_err(|e| Error::io("could not read from", "stdin", e))? {
        Ok(keys)
    } else {
        Err(Error::usage(
            "not signed: the online keys were not confirmed\nhint: pass the ones to list with `--online-key KEY`",
        ))
    }
}

/// One line per online key: id, creation time (UTC) and public key.
fn show_online_keys(keys: &[&crate::api::OnlineKeyStatus], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "the server reports online keys the current root does not list:")?;
    for key in keys {
        let created = time::OffsetDateTime::from_unix_timestamp(key.created_at)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| key.created_at.to_string());
        let public = key.public_key.lines().last().unwrap_or_default();
        writeln!(out, "  {}  created {created}  {public}", key.key_id)?;
    }
    Ok(())
}

/// Reads a yes/no answer; only `y` or `yes` (any case) is yes.
fn confirm(input: &mut dyn std::io::BufRead) -> std::io::Result<bool> {
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// `yank`: for an app with signed yanks (or with `--release-key`), signs the app's next yank list first: the releases
/// yanked now, with this one added (or removed by `--undo`), numbered one above the stored list.
async fn yank(args: YankArgs) -> Result<Release> {
    let version = parse_version(&args.version)?;
    let client = args.remote.client()?;
    let status = client.metadata_status(&args.app).await?;
    let yanks = if status.signed_yanks || args.release_key.is_some() {
        if status.root_version.is_none() {
            return Err(Error::usage(format!(
                "app `{}` has no signed metadata (no root), so there is no yank list to sign\nhint: drop `--release-key`",
                args.app
            )));
        }
        let key = crate::offline::release_key(args.release_key.as_deref())?;
        let mut versions: Vec<millennium_update_protocol::Version> = Vec::new();
        for release in client.list_releases(&args.app, None).await?.releases.iter().filter(|r| r.yanked) {
            versions.push(parse_version(&release.version)?);
        }
        versions.retain(|v| v != &version);
        if !args.undo {
            versions.push(version.clone());
        }
        versions.sort_by(|a, b| a.cmp_precedence(b));
        let sequence = status.yanks.as_ref().map_or(0, |y| u64::try_from(y.sequence).unwrap_or(0)) + 1;
        let shown: Vec<String> = versions.iter().map(ToString::to_string).collect();
        eprintln!("yank list {sequence} of app `{}`: [{}]", args.app, shown.join(", "));
        Some(crate::offline::yank_list(&args.app, sequence, versions, &key)?)
    } else {
        None
    };
    client.yank(&args.app, &version, !args.undo, yanks.as_ref()).await
}

/// The sequence the next release document of `channel` needs: one above the channel's last.
fn next_sequence(status: &MetadataStatus, channel: &str) -> u64 {
    status.channels.get(channel).map_or(0, |last| u64::try_from(last.sequence).unwrap_or(0)) + 1
}

/// Verifies every artifact's signature against one of `public_keys` (streaming, on blocking threads), as the
/// server will; with `require_signed_version` (the app, whose policy it is), each must state `version`.
async fn verify_locally(
    public_keys: &[millennium_sign::PublicKey],
    artifacts: &[UploadArtifact],
    version: &str,
    require_signed_version: Option<&str>,
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
            .map_err(|e| Error::internal(format!("verify task: {e}")))??;
        verified.map_err(|e| rejected(e.to_string()))?;
        signature.trusted_fields().check_version(version, false).map_err(|e| rejected(e.to_string()))?;
        if let Some(app) = require_signed_version
            && signature.trusted_fields().version().is_none()
        {
            return Err(Error::UnversionedSignature(crate::api::UnversionedSignature {
                app: app.to_owned(),
                target: artifact.target.to_string(),
                version: version.to_owned(),
            }));
        }
    }
    Ok(())
}

/// What a command printed: the server's answer, or what was signed on this machine.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Output {
    /// `apps create`.
    AppCreated(App),
    /// `apps set-key`.
    AppKeyReplaced(App),
    /// `apps set-policy`.
    AppPolicyChanged(App),
    /// `tokens create`.
    TokenCreated(CreatedToken),
    /// `tokens revoke`.
    TokenRevoked(RevokedToken),
    /// `publish`, `promote`, `rollout`, `yank`: the release as it is now.
    Release(Release),
    /// `releases list`.
    Releases(Releases),
    /// `online-key generate`.
    OnlineKey(OnlineKey),
    /// `root sign`, `root cosign`.
    RootSigned(SignedRoot),
    /// `root upload`.
    RootStored(StoredRoot),
    /// `health`, `halt-rule set|clear --version`.
    Health(Box<ReleaseHealth>),
    /// `halt-rule set|clear` without `--version`.
    AppHaltRule(SetHaltRule),
    /// `webhooks add`.
    WebhookCreated(CreatedWebhook),
    /// `webhooks list`, `webhooks remove`.
    Webhooks(Webhooks),
    /// `webhooks deliveries`.
    Deliveries(WebhookDeliveries),
}

/// What `root sign` or `root cosign` signed (and whether it uploaded it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedRoot {
    /// The app.
    pub app: String,
    /// The root's version.
    pub version: u64,
    /// The root keys it lists (none for a root of the first format).
    pub root_keys: Vec<String>,
    /// How many root keys must sign (1 for a root of the first format, whose release keys sign roots).
    pub root_threshold: u32,
    /// The release keys it lists.
    pub release_keys: Vec<String>,
    /// The online keys it lists.
    pub online_keys: Vec<String>,
    /// The key ids it revokes.
    pub revoked_keys: Vec<String>,
    /// The ids of the keys that signed it.
    pub signed_by: Vec<String>,
    /// How many more root-key signatures it needs (0: complete).
    pub missing_signatures: usize,
    /// Whether it was uploaded.
    pub uploaded: bool,
}

impl Render for Output {
    fn human(&self, out: &mut dyn Write, notes: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Output::AppCreated(app) => {
                writeln!(out, "app `{}` created", app.id)?;
                print_key(app, out)
            }
            Output::AppKeyReplaced(app) => {
                writeln!(out, "app `{}`: release key replaced; publishes are checked against it from now on", app.id)?;
                print_key(app, out)
            }
            Output::AppPolicyChanged(app) => {
                writeln!(out, "app `{}`: policy changed", app.id)?;
                print_key(app, out)
            }
            Output::TokenCreated(token) => {
                writeln!(out, "{}", token.token)?;
                writeln!(
                    notes,
                    "token {} for app `{}` with scope `{}` (shown only this once)",
                    token.id,
                    token.app,
                    token.scope.as_str()
                )
            }
            Output::TokenRevoked(token) => writeln!(out, "token {} revoked", token.id),
            Output::Release(release) => print_release(release, out),
            Output::Releases(list) => {
                if list.releases.is_empty() {
                    writeln!(notes, "no releases")?;
                }
                list.releases.iter().try_for_each(|release| print_release(release, out))
            }
            Output::OnlineKey(key) => {
                writeln!(out, "{}", key.public_key.trim_end())?;
                writeln!(
                    notes,
                    "online key {} generated for app `{}`; list it in the next root with `root sign`",
                    key.key_id, key.app
                )
            }
            Output::RootSigned(root) => {
                let action = if root.uploaded { "stored" } else { "signed (not uploaded)" };
                writeln!(out, "root {} of app `{}` {action}", root.version, root.app)?;
                if root.missing_signatures > 0 {
                    writeln!(
                        notes,
                        "it needs {} more root-key signature(s): co-sign it with `root cosign --root-key KEY FILE`, then `root upload FILE`",
                        root.missing_signatures
                    )?;
                }
                Ok(())
            }
            Output::RootStored(root) => writeln!(out, "root {} of app `{}` stored", root.version, root.app),
            Output::Health(health) => print_health(health, out),
            Output::AppHaltRule(rule) => match rule.rule {
                Some(rule) => writeln!(
                    out,
                    "default halt rule: halt when failures exceed {} % of at least {} installs",
                    rule.max_failure_percent, rule.min_installs
                ),
                None => writeln!(out, "no default halt rule"),
            },
            Output::WebhookCreated(created) => {
                writeln!(out, "{}", created.secret)?;
                writeln!(
                    notes,
                    "webhook {} of app `{}` → {} ({}); the line above is its signing secret, shown only this once",
                    created.webhook.id,
                    created.webhook.app,
                    created.webhook.url,
                    created.webhook.events.join(", ")
                )
            }
            Output::Webhooks(list) => {
                if list.webhooks.is_empty() {
                    writeln!(notes, "no webhooks")?;
                }
                for hook in &list.webhooks {
                    writeln!(out, "{}  {}  {}", hook.id, hook.url, hook.events.join(","))?;
                }
                Ok(())
            }
            Output::Deliveries(list) => {
                if list.deliveries.is_empty() {
                    writeln!(notes, "no deliveries")?;
                }
                for d in &list.deliveries {
                    let code = d.last_status_code.map_or_else(|| "-".to_owned(), |c| c.to_string());
                    writeln!(
                        out,
                        "{}  {}  {:<16} {:<9} attempts {}  last status {code}{}",
                        d.id,
                        d.created_at,
                        d.event,
                        d.status,
                        d.attempts,
                        d.last_error.as_deref().map(|e| format!("  error: {e}")).unwrap_or_default()
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn print_key(app: &App, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "key id: {}", app.key_id)?;
    writeln!(out, "Tauri `pubkey`: {}", app.tauri_pubkey)?;
    writeln!(out, "require-signed-version: {}", app.require_signed_version)
}

/// One line per release (`APP VERSION [(yanked)]  [CHANNEL N% [paused], …]  DATE  [BACKEND >= VERSION…]`), then one
/// line per artifact.
fn print_release(release: &Release, out: &mut dyn Write) -> std::io::Result<()> {
    let channels: Vec<String> = release
        .channels
        .iter()
        .map(|c| format!("{} {}%{}", c.channel, c.rollout, if c.paused { " paused" } else { "" }))
        .collect();
    let yanked = if release.yanked { " (yanked)" } else { "" };
    let webview: String = release
        .min_webview_version
        .iter()
        .flat_map(WebviewMinimums::iter)
        .map(|(backend, version)| format!("  {} >= {version}", backend.id()))
        .collect();
    writeln!(
        out,
        "{} {}{yanked}  [{}]  {}{webview}",
        release.app,
        release.version,
        channels.join(", "),
        release.pub_date
    )?;
    for artifact in &release.artifacts {
        writeln!(out, "  {:<24} {} bytes  {}", artifact.target, artifact.size, artifact.url)?;
    }
    Ok(())
}

/// The health of a release: totals, failure share, rule, halt, then one line per hour and channel.
fn print_health(health: &ReleaseHealth, out: &mut dyn Write) -> std::io::Result<()> {
    let t = &health.totals;
    writeln!(out, "{} {}", health.app, health.version)?;
    writeln!(
        out,
        "  installed {}  confirmed {}  rolled back {}  install failed {}  download failed {}  webview too old {}",
        t.installed, t.confirmed, t.rolled_back, t.install_failed, t.download_failed, t.webview_too_old
    )?;
    match health.failure_percent {
        Some(p) => writeln!(out, "  failure rate {p:.1} % (rolled back + install failed over installed)")?,
        None => writeln!(out, "  failure rate: no installs reported yet")?,
    }
    match (&health.rule, &health.rule_source) {
        (Some(rule), source) => writeln!(
            out,
            "  halt rule ({}): halt when failures exceed {} % of at least {} installs",
            source.as_deref().unwrap_or("?"),
            rule.max_failure_percent,
            rule.min_installs
        )?,
        (None, _) => writeln!(out, "  no halt rule")?,
    }
    if let Some(halt) = &health.halted {
        writeln!(out, "  HALTED at {}: {}", halt.at, halt.reason)?;
        writeln!(out, "  resume with `rollout resume --app {} --version {}`", health.app, health.version)?;
    }
    for c in &health.channels {
        writeln!(out, "  channel {} {}%{}", c.channel, c.rollout, if c.paused { " paused" } else { "" })?;
    }
    for b in &health.buckets {
        let c = &b.counts;
        writeln!(
            out,
            "  {} {:<10} installed {} confirmed {} rolled_back {} install_failed {} download_failed {} webview_too_old {}",
            b.start,
            b.channel,
            c.installed,
            c.confirmed,
            c.rolled_back,
            c.install_failed,
            c.download_failed,
            c.webview_too_old
        )?;
    }
    Ok(())
}
