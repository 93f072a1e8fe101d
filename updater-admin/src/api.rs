//! The request and response bodies of the update server's admin and publish API (`/api/v1`), defined once: the server
//! answers with these types, the [`crate::client::Client`] reads them, and the server's OpenAPI document is generated
//! from them (`utoipa`), so the three cannot drift apart.
//!
//! Request bodies refuse unknown fields, so a typo in a client is an error instead of a silently ignored option. The
//! update-check answers and the signed metadata documents are not here: their wire format belongs to
//! `millennium-update-protocol`.

use std::collections::BTreeMap;

use millennium_update_protocol::metadata::Envelope;
use millennium_update_protocol::webview::WebviewMinimums;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Multipart part of a publish that holds the [`PublishRequest`]; it must come first.
pub const RELEASE_PART: &str = "release";
/// Multipart part of a publish that holds the signed release document (apps with signed metadata).
pub const RELEASE_DOCUMENT_PART: &str = "release-document";
/// Prefix of the multipart parts that hold an artifact's signature: `signature:{target}`.
pub const SIGNATURE_PART_PREFIX: &str = "signature:";
/// Prefix of the multipart parts that hold an artifact: `artifact:{target}`.
pub const ARTIFACT_PART_PREFIX: &str = "artifact:";

/// Prefix of every token (`mlnm_<id>_<secret>`), so secret scanners can recognise them.
pub const TOKEN_PREFIX: &str = "mlnm_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Publish releases.
    Publish,
    /// Everything on its app.
    Admin,
}

impl Scope {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Admin => "admin",
        }
    }

    /// Parses the stored and wire name.
    pub fn parse(text: &str) -> Result<Self, UnknownScope> {
        match text {
            "publish" => Ok(Scope::Publish),
            "admin" => Ok(Scope::Admin),
            _ => Err(UnknownScope),
        }
    }

    /// Whether this scope allows `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Admin || needed == Scope::Publish
    }
}

/// A scope name other than `publish` and `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown token scope: expected `publish` or `admin`")]
pub struct UnknownScope;

// ----- apps -----

/// Body of `POST /api/v1/apps`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// The app id: lowercase letters, digits, `.`, `_`, `-` (e.g. `com.example.app`).
    pub id: String,
    /// The release public key: minisign public key text or Tauri's base64 form.
    pub public_key: String,
    /// Refuse publishes whose artifact signatures do not state the version they were signed for (`version:` in the
    /// trusted comment, as `millennium-sign sign --version` writes it), so an old build's signature cannot be
    /// published as a new version. Default `true`; `false` only for signers that cannot write a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed_version: Option<bool>,
}

/// Body of `PATCH /api/v1/apps/{app}`: the fields to change (at least one).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    /// The new release public key: minisign public key text or Tauri's base64 form. Refused for an app with signed
    /// metadata (a root): its release keys change through the next root (`root sign --new-release-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The `require-signed-version` policy. Turning it off needs the server admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signed_version: Option<bool>,
}

/// An app and its release public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct App {
    /// The app id.
    pub id: String,
    /// The release public key, minisign text.
    pub public_key: String,
    /// The same key in Tauri's base64 form (the `pubkey` of a Tauri app's updater configuration).
    pub tauri_pubkey: String,
    /// The key id (16 hex digits), as minisign shows it.
    pub key_id: String,
    /// When the app was registered (Unix seconds).
    pub created_at: i64,
    /// Whether publishes need artifact signatures that state their version (`require-signed-version`). Apps
    /// registered before the policy existed have `false`.
    pub require_signed_version: bool,
}

/// A publish refused by an app's `require-signed-version` policy: an artifact's signature does not state the version
/// it was signed for. The server answers with it (code [`UnversionedSignature::CODE`], `422`) and the CLI checks it
/// before uploading, with the same message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "signature of `{target}` does not state the version it was signed for, and app `{app}` requires one (`require-signed-version`)\nhint: sign it again with `millennium-sign sign --version {version} FILE` (Tauri's signer: `tauri signer sign --app-version {version} FILE`)\nhint: if your signer cannot write a version, the server admin can turn the policy off: `millennium-update-server apps set-policy --id {app} --require-signed-version false`"
)]
pub struct UnversionedSignature {
    /// The app.
    pub app: String,
    /// The artifact's target key.
    pub target: String,
    /// The release version the signature should state.
    pub version: String,
}

impl UnversionedSignature {
    /// The `error.code` of the server's refusal.
    pub const CODE: &str = "unversioned_signature";
}

// ----- tokens -----

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// The app the token is for.
    pub app: String,
    /// What the token may do.
    pub scope: Scope,
    /// Free text: who or what uses it (at most 256 bytes).
    #[serde(default)]
    pub description: String,
}

/// A new token, shown only in this answer (the server keeps only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    /// The token id: the 16 hex digits after `mlnm_`, safe to log and to revoke with.
    pub id: String,
    /// The whole token, `mlnm_<id>_<secret>`.
    pub token: String,
    /// The app it is scoped to.
    pub app: String,
    /// What it may do.
    pub scope: Scope,
}

/// Answer of `DELETE /api/v1/tokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevokedToken {
    /// The token id.
    pub id: String,
    /// Always `true`.
    pub revoked: bool,
}

// ----- releases -----

/// Query of `GET /api/v1/apps/{app}/releases`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only releases in this channel.
    pub channel: Option<String>,
}

/// A release as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Release {
    /// The app.
    pub app: String,
    /// The version (SemVer).
    pub version: String,
    /// Release notes (Markdown).
    pub notes: Option<String>,
    /// The oldest system webview the release works with, per backend, as in the signed release document:
    /// `{"webkitgtk": "2.44", "webview2": "124.0"}`; `null` when there is none.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub min_webview_version: Option<WebviewMinimums>,
    /// Publication time (RFC 3339).
    pub pub_date: String,
    /// Whether the release was yanked (no longer offered nor served).
    pub yanked: bool,
    /// The channels that offer it.
    pub channels: Vec<Placement>,
    /// Its files.
    pub artifacts: Vec<ReleaseArtifact>,
    /// Set when the server halted the release's rollout by itself (its halt rule was exceeded): every placement was
    /// paused. Cleared when an operator resumes it (`rollout resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halted: Option<Halt>,
}

/// A release's place in a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Placement {
    /// The channel.
    pub channel: String,
    /// Percentage of installs it is offered to.
    #[schema(minimum = 0, maximum = 100)]
    pub rollout: u8,
    /// Whether the rollout is paused (not offered at all).
    pub paused: bool,
    /// When it was added to the channel (Unix seconds).
    pub added_at: i64,
}

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseArtifact {
    /// The target key, e.g. `linux-x86_64-deb`.
    pub target: String,
    /// The file name.
    pub file_name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Where clients download it.
    pub url: String,
}

/// Answer of `GET /api/v1/apps/{app}/releases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Releases {
    /// Newest first.
    pub releases: Vec<Release>,
}

/// The `release` part of a publish (`POST /api/v1/apps/{app}/releases`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// SemVer version.
    pub version: String,
    /// Channel to publish to (default `stable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Release notes (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The oldest system webview the release works with, per backend, in the text form `webkitgtk=2.44,webview2=124.0`
    /// (see `millennium_update_protocol::webview`), served with the release so that Millennium's updater does not
    /// install it where its own backend's webview is older. A bare version is refused: it names no backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_webview_version: Option<String>,
    /// Initial rollout percentage (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub rollout: Option<u8>,
    /// Publish even if the version is not newer than the channel's latest.
    #[serde(default)]
    pub force: bool,
    /// Total size in bytes of the artifacts that will follow, if known: refused at once when over the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_size: Option<u64>,
    /// Only check the token, app, version, channel and size, and answer `200` without reading artifacts. The CLI
    /// does this before uploading, so a refusal arrives before gigabytes are sent (a server that refuses in the
    /// middle of an upload cannot always get its answer through).
    #[serde(default)]
    pub dry_run: bool,
}

impl PublishRequest {
    /// A request for `version` with every option at its default (channel `stable`, no notes, 100 %).
    pub fn new(version: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            channel: None,
            notes: None,
            min_webview_version: None,
            rollout: None,
            force: false,
            total_size: None,
            dry_run: false,
        }
    }
}

/// Answer of a publish with `dry_run`: it would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DryRun {
    /// Always `true`.
    pub dry_run: bool,
    /// The app.
    pub app: String,
    /// The version, normalised.
    pub version: String,
    /// The channel.
    pub channel: String,
}

/// Body of `POST …/releases/{version}/promote`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    /// The channel to add the release to.
    pub to: String,
    /// Rollout percentage in that channel (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub rollout: Option<u8>,
    /// Add it even if the channel has a newer release.
    #[serde(default)]
    pub force: bool,
    /// The release document for the target channel, signed offline (required when the app has signed metadata;
    /// its artifacts must be those of the release's document in another channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<EnvelopeSchema>)]
    pub release_document: Option<Envelope>,
}

/// Body of `POST …/releases/{version}/rollout`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// The channel whose placement changes (default `stable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// New percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub percent: Option<u8>,
    /// Pause (`true`) or resume (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

/// Body of `POST …/releases/{version}/yank`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Yank {
    /// `false` un-yanks.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub yanked: bool,
    /// The app's next yank list, signed offline by a release key: the versions yanked once this request is done,
    /// numbered above the stored list. Required when the app's root has root keys, or once the app has a signed yank
    /// list (`signed_yanks` in the metadata status); accepted for any app with signed metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<EnvelopeSchema>)]
    pub yanks: Option<Envelope>,
}

fn yes() -> bool {
    true
}

// ----- release health -----

/// The events a webhook can subscribe to.
pub const WEBHOOK_EVENTS: [&str; 4] = ["release.published", "rollout.changed", "rollout.halted", "release.yanked"];

/// When the server halts a rollout by itself: once at least `min_installs` installs of the release reported
/// `installed`, and rollbacks plus failed installs exceed `max_failure_percent` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HaltRule {
    /// Highest acceptable share of failures (`rolled_back` + `install_failed` over `installed`), in percent.
    #[schema(minimum = 0, maximum = 100)]
    pub max_failure_percent: u8,
    /// How many `installed` reports are needed before the rule is applied (at least 1).
    #[schema(minimum = 1)]
    pub min_installs: u64,
}

/// Body of `PUT /api/v1/apps/{app}/halt-rule` (the app's default) and `PUT …/releases/{version}/halt-rule` (one
/// release's, which wins over the app's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetHaltRule {
    /// The rule; `null` removes it. Required: an empty body must not silently remove a rule.
    #[serde(deserialize_with = "present")]
    pub rule: Option<HaltRule>,
}

/// Reads an `Option` field that must be present (`null` allowed): serde otherwise takes a missing `Option` as `None`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(deserializer)
}

/// Why and when the server halted a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Halt {
    /// When (Unix seconds).
    pub at: i64,
    /// Why, for a person (the figures and the rule).
    pub reason: String,
}

/// Event counts, one field per event kind (`docs/protocol.md` §10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthCounts {
    pub installed: u64,
    pub confirmed: u64,
    pub rolled_back: u64,
    pub install_failed: u64,
    pub download_failed: u64,
    pub webview_too_old: u64,
}

impl HealthCounts {
    /// Rollbacks plus failed installs: what a halt rule counts as failures.
    pub fn failures(&self) -> u64 {
        self.rolled_back.saturating_add(self.install_failed)
    }

    /// Failures over installs, in percent; `None` before any install was reported.
    pub fn failure_percent(&self) -> Option<f64> {
        (self.installed > 0).then(|| self.failures() as f64 * 100.0 / self.installed as f64)
    }

    /// The counter of an event kind by its wire name; `None` for an unknown name.
    pub fn get_mut(&mut self, kind: &str) -> Option<&mut u64> {
        Some(match kind {
            "installed" => &mut self.installed,
            "confirmed" => &mut self.confirmed,
            "rolled_back" => &mut self.rolled_back,
            "install_failed" => &mut self.install_failed,
            "download_failed" => &mut self.download_failed,
            "webview_too_old" => &mut self.webview_too_old,
            _ => return None,
        })
    }
}

/// The counts of one hour in one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HealthBucket {
    /// Start of the bucket (Unix seconds, a multiple of 3600).
    pub start: i64,
    /// Length of the bucket in seconds: 3600 (an hour), or 86400 (a UTC day) for hours the server compacted into
    /// their day once they were older than its compaction age.
    #[serde(default = "hour_seconds")]
    pub seconds: u32,
    /// The channel the events were counted under.
    pub channel: String,
    /// What was reported in that hour.
    pub counts: HealthCounts,
}

/// Answer of `GET /api/v1/apps/{app}/releases/{version}/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReleaseHealth {
    /// The app.
    pub app: String,
    /// The release.
    pub version: String,
    /// Every event reported for the release, all channels and hours added up.
    pub totals: HealthCounts,
    /// `totals`' failures over installs in percent; `null` before any install was reported.
    pub failure_percent: Option<f64>,
    /// The halt rule in force: the release's own, else the app's default; `null` when neither is set.
    pub rule: Option<HaltRule>,
    /// Where `rule` comes from: `release` or `app`.
    pub rule_source: Option<String>,
    /// Set while the rollout is halted by the server.
    pub halted: Option<Halt>,
    /// The release's placements (rollout percentage, paused).
    pub channels: Vec<Placement>,
    /// Counts per hour and channel, oldest first.
    pub buckets: Vec<HealthBucket>,
    /// Update checks answered per client version and hour, for adoption (all channels; oldest first).
    #[serde(default)]
    pub adoption: Vec<AdoptionBucket>,
}

/// The length of an hourly bucket, the default of a bucket's `seconds`.
pub const fn hour_seconds() -> u32 {
    3600
}

/// Update checks from installs running one version in one hour: the adoption curve of that version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdoptionBucket {
    /// Start of the bucket (Unix seconds).
    pub start: i64,
    /// Length of the bucket in seconds: 3600 (an hour), or 86400 (a UTC day) for compacted hours.
    #[serde(default = "hour_seconds")]
    pub seconds: u32,
    /// The version the checking installs ran.
    pub version: String,
    /// How many checks.
    pub checks: u64,
}

/// Answer of `POST /{app}/events` (`202`): how many events of the batch were counted. Kept tiny: the endpoint is
/// unauthenticated and must never answer more than it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventsAccepted {
    /// Counted.
    pub accepted: u32,
    /// Not counted: a version the app never released, or over an install's rate limit.
    pub rejected: u32,
    /// Not counted again: events whose `id` the server had already counted (a batch sent again after its answer was
    /// lost).
    #[serde(default)]
    pub duplicates: u32,
}

// ----- webhooks -----

/// Body of `POST /api/v1/apps/{app}/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with (at least 16 characters); the server makes a random one when
    /// it is absent, and answers it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The events to deliver (see [`WEBHOOK_EVENTS`]); all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

/// A webhook (its secret is never shown again after creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// The app.
    pub app: String,
    /// Where deliveries go.
    pub url: String,
    /// The events it receives.
    pub events: Vec<String>,
    /// When it was added (Unix seconds).
    pub created_at: i64,
}

/// Answer of `POST /api/v1/apps/{app}/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    /// The webhook.
    pub webhook: Webhook,
    /// The signing secret: shown only now.
    pub secret: String,
}

/// Answer of `GET /api/v1/apps/{app}/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Webhooks {
    /// Oldest first.
    pub webhooks: Vec<Webhook>,
}

/// One event sent (or being sent) to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDelivery {
    /// Its id (also sent as `X-Millennium-Delivery`).
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The event, e.g. `rollout.halted`.
    pub event: String,
    /// `pending` (will be tried, again), `delivered` (a `2xx` answer) or `failed` (gave up).
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the event happened (Unix seconds).
    pub created_at: i64,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<i64>,
    /// When it was delivered.
    pub delivered_at: Option<i64>,
    /// The JSON body sent.
    pub body: String,
}

/// Answer of `GET /api/v1/apps/{app}/webhooks/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveries {
    /// Newest first (at most 100).
    pub deliveries: Vec<WebhookDelivery>,
}

// ----- signed metadata -----

/// A signed document as transmitted (`millennium_update_protocol::metadata::Envelope`), for the OpenAPI document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Envelope)]
pub struct EnvelopeSchema {
    /// The document's JSON text, exactly as signed.
    pub payload: String,
    /// minisign signatures over `payload`, Tauri base64 form.
    pub signatures: Vec<String>,
}

/// Answer of `GET /api/v1/apps/{app}/metadata`: what a publisher or the root signer needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MetadataStatus {
    /// The app.
    pub app: String,
    /// The current root's version; `null` when the app has no signed metadata.
    pub root_version: Option<u64>,
    /// The current root's root keys (minisign base64 lines); empty for a root of the first format, whose release
    /// keys sign roots.
    pub root_keys: Option<Vec<String>>,
    /// How many root keys must sign the next root (1 for a root of the first format).
    pub root_threshold: Option<u32>,
    /// The current root's release keys (minisign base64 lines).
    pub release_keys: Option<Vec<String>>,
    /// The key ids revoked by the current root or any before it (revocations are cumulative).
    pub revoked_keys: Option<Vec<String>>,
    /// The stored signed yank list; `null` when the app has none.
    pub yanks: Option<YanksStatus>,
    /// Whether yanking and un-yanking need a yank list signed with the release key (`yank --release-key`).
    #[serde(default)]
    pub signed_yanks: bool,
    /// Every online key the server holds for the app.
    pub online_keys: Vec<OnlineKeyStatus>,
    /// The last release document of each channel.
    pub channels: BTreeMap<String, ChannelSequence>,
    /// The current freshness document; `null` when none was signed yet.
    pub freshness: Option<FreshnessStatus>,
}

/// An online key the server holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OnlineKeyStatus {
    /// Its key id.
    pub key_id: String,
    /// Its public key, minisign text.
    pub public_key: String,
    /// Whether the current root lists it.
    pub in_root: bool,
    /// Whether the current root revokes it.
    pub revoked: bool,
    /// When it was generated (Unix seconds).
    pub created_at: i64,
}

/// The last release document of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelSequence {
    /// Its sequence number; the next document of the channel needs a higher one.
    pub sequence: i64,
    /// The release it describes.
    pub version: String,
}

/// The stored signed yank list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct YanksStatus {
    /// Its sequence number; the next list needs a higher one.
    pub sequence: i64,
    /// When it was stored (Unix seconds).
    pub created_at: i64,
}

/// The current freshness document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FreshnessStatus {
    /// Its sequence number.
    pub sequence: i64,
    /// When it was signed (Unix seconds).
    pub issued_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// Answer of `POST /api/v1/apps/{app}/online-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OnlineKey {
    /// The app.
    pub app: String,
    /// The new key's id.
    pub key_id: String,
    /// The new public key, minisign text: list it in the next root.
    pub public_key: String,
}

/// Answer of `POST /api/v1/apps/{app}/roots`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredRoot {
    /// The app.
    pub app: String,
    /// The root's version.
    pub version: u64,
}

// ----- errors and operations -----

/// Every error answer of the server (4xx, and an opaque 500). A hint, when there is one, is the message's last line,
/// `hint: …`. (The CLIs print errors in their own shape, [`crate::report::ErrorReport`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable name, e.g. `not_found`, `duplicate_version`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// Answer of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}
