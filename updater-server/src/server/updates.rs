//! The endpoints apps call to check for updates, in both Tauri forms. All JSON is produced by
//! `millennium-update-protocol`, so it is exactly what Tauri's and cargo-packager's updaters parse.
//!
//! # Which release is offered
//!
//! The releases of the channel (`?channel=`, default `stable`) are sorted by SemVer precedence, newest first, and
//! those that are yanked, paused, or at a partial rollout the install is not part of (see [`crate::rollout`]) are
//! dropped. The dynamic endpoint offers the newest remaining release that is an update over `current_version` *and*
//! has an artifact for the client's platform (so a release without, say, an ARM build does not hide an older one that
//! has it); nothing → `204 No Content`. The static `latest.json` describes the newest remaining release.
//!
//! # Which artifact
//!
//! Looked up as Tauri does ([`Target::lookup_keys`]): `{os}-{arch}-{bundle}`, then `{os}-{arch}`. So a deb install gets
//! the `linux-x86_64-deb` artifact and an AppImage the `linux-x86_64-appimage` one. A plain binary (no or `unknown`
//! bundle type) looks up only `{os}-{arch}`: when the publisher uploaded no plain artifact, that key is served by the
//! bundle that can replace a running binary in place ([`served_platforms`]): the AppImage on Linux, the `.app` on
//! macOS, the NSIS installer (else the MSI) on Windows. `latest.json` lists the same keys, plus the `macos-*` twins
//! cargo-packager-updater looks up.
//!
//! # The webview report
//!
//! Millennium's updater reports its system webview in the `X-Millennium-Webview` header (grammar in
//! `millennium_update_protocol::webview`). The answer never depends on it: the release's minimum webview version for
//! the requested target's backend is served (`min_webview_version` of a dynamic answer; in each platform entry of
//! `latest.json`), and the client decides. The check is counted in `millennium_update_check_webviews_total`
//! ([`webview_status`]): whether the install meets the minimum of the release it is offered for the backend it
//! reports, is older, has no webview, or sent a value that does not parse (`unknown`: never a `4xx`).
//!
//! # No database on the hot path
//!
//! Every answer of an (app, channel) is prepared once, serialized, and kept in an [`AnswerCache`] until a publish,
//! promote, rollout change or yank invalidates it; a check then only filters by rollout bucket and version. Channels
//! an app has no release in are answered from memory too, without being cached one by one.
//!
//! # Answers reused by URL
//!
//! Most checks repeat one another exactly: every install of a release asks the same URL. So each answer is also kept
//! whole by its request URL (`ReusedAnswer`: status, encoded head, body, and handles on the counters it adds to), and
//! the HTTP front answers the next `GET` of that URL with it (`reuse`) without the router, the extractors, the
//! handler or a label lookup, counting it exactly as the handler would. What else a request carries decides whether
//! its answer may be reused: an `X-Millennium-Installed` header (a delta answer) never; an install id in the header
//! only when no release of the channel is at a partial rollout (then the id cannot change the answer; it is still
//! checked); a webview report always (it changes only which counter the check adds to, judged per request). The URLs
//! go with the rest of the cache at every change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use millennium_http1::{Declared, encode_head_start};
use millennium_update_protocol::delta::{self, DeltaOffer};
use millennium_update_protocol::tauri::{
    Artifact, ArtifactUrl, DynamicResponse, PackagerFormat, ReleaseInfo, SignatureText, StaticManifest,
};
use millennium_update_protocol::webview::{self, Backend, WebviewMinimums, WebviewReport};
use millennium_update_protocol::{BundleType, Os, Target, Version};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AppState;
use crate::adoption::AdoptionKey;
use crate::db::{ArtifactRow, DeltaRow, ReleaseRow};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel};
use crate::rollout;

/// Query parameters of the update endpoints.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CheckQuery {
    /// The channel (default `stable`).
    pub channel: Option<String>,
    /// The install id, when the client cannot set a header.
    pub install_id: Option<String>,
    /// `cargo-packager` on `latest.json`: list only the platforms that have a cargo-packager `format`.
    pub client: Option<String>,
}

/// Whether `?client=` asks for the cargo-packager form of `latest.json`.
///
/// cargo-packager-updater deserializes *every* entry of `platforms` and requires a `format` in each, and `format` has
/// no value for a deb or rpm: one such entry makes the whole manifest unreadable to it. Tauri, on the other hand, must
/// find the `-deb` keys (a deb install must be offered the deb). So the default manifest is Tauri's, and
/// `?client=cargo-packager` leaves out the entries without a format (cargo-packager only ever looks up
/// `{os}-{arch}` keys, which are kept). The dynamic endpoint needs no such parameter.
fn packager_only(query: &CheckQuery) -> Result<bool> {
    match query.client.as_deref() {
        None | Some("tauri") => Ok(false),
        Some("cargo-packager") => Ok(true),
        Some(_) => Err(Error::bad_request("unknown `client`: expected `tauri` or `cargo-packager`")),
    }
}

/// The install id of a request: the `Millennium-Install-Id` header, else `?install_id=`.
fn install_id<'a>(headers: &'a HeaderMap, query: &'a CheckQuery) -> Result<Option<&'a str>> {
    let id = match headers.get(rollout::INSTALL_ID_HEADER) {
        Some(value) => Some(value.to_str().map_err(|_| Error::bad_request("invalid install id header"))?),
        None => query.install_id.as_deref(),
    };
    if let Some(id) = id {
        rollout::check_install_id(id)?;
    }
    Ok(id)
}

/// Parses `?channel=`, defaulting to `stable`.
fn channel(query: &CheckQuery) -> Result<Channel> {
    query.channel.as_deref().map_or_else(|| Ok(Channel::stable()), Channel::parse)
}

/// Most (app, channel) answers kept; past it the cache starts over. Only channels an app has releases in are cached,
/// so only publishers can get near it.
const MAX_CACHED_CHANNELS: u64 = 4096;

/// The update answers of each (app, channel), prepared from the database once and reused by every check until the
/// next change.
///
/// What a check needs from the database (the app, the channel's releases and placements, their artifacts) is read
/// once into a [`ChannelAnswers`], with every possible JSON answer already serialized; a check then only filters by
/// rollout bucket and current version and copies bytes. Every change to releases (publish, promote, rollout, yank)
/// calls [`AnswerCache::invalidate`] *after* its transaction commits ([`AppState::releases_changed`]).
///
/// A check that loads while a change commits must not put the old state back: the generation counter is read before
/// loading and the load is kept only if no invalidation happened since, so a reader sees at worst the state its own
/// database read saw, never a stale one after the change's response.
///
/// Channel names come from clients (`?channel=`), so the cache keeps answers only for the channels an app has
/// releases in, listed once per app along with its answers: any other channel is answered "no update" from that list,
/// with no database read and nothing stored. Otherwise a flood of made-up channels would fill the cache and make it
/// start over again and again, evicting the answers real installs need (every check a database read). Unknown apps
/// are never cached either (`404`).
///
/// One load per (app, channel) at a time: checks that miss while it runs wait for it instead of reading the database
/// too. After a restart or a publish, every client's check misses at once; without this each would read the
/// database (a thousand waiting installs, a thousand identical loads), and the first second after a change would be the
/// slowest of the server's life.
#[derive(Debug, Default)]
pub struct AnswerCache {
    generation: AtomicU64,
    /// App → its channels and their answers (nested so that a lookup borrows the names instead of allocating a key).
    entries: RwLock<HashMap<String, AppAnswers>>,
    /// How many (app, channel) answers there are.
    len: AtomicU64,
    /// How many answers were read from the database (for `/metrics`).
    loads: AtomicU64,
    /// How many times the cache was full and started over (for `/metrics`).
    overflows: AtomicU64,
    /// How many checks were answered with an answer kept for their URL (for `/metrics`).
    reuses: AtomicU64,
    /// Request URL → the whole answer it was given.
    reused: RwLock<ReusedUrls>,
    /// The loads running, by (app, channel); a load that fails leaves its cell empty, and the next waiter loads.
    loading: Mutex<HashMap<(String, String), Arc<Load>>>,
}

/// A load of one (app, channel)'s answers, which checks that miss while it runs wait for.
type Load = tokio::sync::OnceCell<Arc<ChannelAnswers>>;

/// What [`AnswerCache::lookup`] found.
enum Lookup {
    /// The channel's answers (none at all for a channel the app has no releases in).
    Kept(Arc<ChannelAnswers>),
    /// They must be read from the database; `known_app`: the app's channel list is kept, so it need not be.
    Load { known_app: bool },
}

/// Most request URLs whose answers are kept whole; past it, or past [`MAX_REUSED_URL_BYTES`] of URLs, they start
/// over. URLs are the clients' choice (a made-up current version is a new URL), so both bounds hold whatever they send.
const MAX_REUSED_URLS: usize = 16 * 1024;

/// Most bytes of request URLs kept with [`ReusedAnswer`]s (a URL is at most [`super::MAX_URI_LEN`] bytes).
const MAX_REUSED_URL_BYTES: usize = 4 * 1024 * 1024;

/// The answers kept by request URL, and the bytes of their URLs.
#[derive(Debug, Default)]
struct ReusedUrls {
    answers: HashMap<Box<str>, Arc<ReusedAnswer>>,
    url_bytes: usize,
}

/// An update check's whole answer, kept by its request URL (see the module documentation).
#[derive(Debug)]
pub(super) struct ReusedAnswer {
    pub status: StatusCode,
    /// The head of the answer to a `GET` up to its `date` ([`millennium_http1::encode_head_start`]).
    pub head: Vec<u8>,
    pub keep_alive: bool,
    /// Empty for `204 No Content`.
    pub body: Bytes,
    /// Whether a request with an install id in its header gets this answer too: no release of the channel is at a
    /// partial rollout. (An id in the query is part of the URL.)
    any_install: bool,
    /// The counters the check added one to: its route and status, and its update-check labels.
    requests: Arc<AtomicU64>,
    checks: Arc<AtomicU64>,
    /// The app, and the `channel` label of its checks.
    app: String,
    channel: String,
    /// The current version, counted for adoption when it is one the channel offers.
    adoption: Option<Adopted>,
    /// What a webview report is judged against: the platform the route names and the minimums of the release offered.
    webview_os: Option<Os>,
    min_webview: Option<WebviewMinimums>,
}

/// The version a kept answer's checks come from, and its adoption counter's key.
#[derive(Debug)]
struct Adopted {
    key: AdoptionKey,
    version: String,
}

impl ReusedAnswer {
    /// Counts one more check answered with this: as the handler counted the check it was made for, with the webview
    /// report (`X-Millennium-Webview`'s value) judged anew.
    fn count(&self, state: &AppState, webview_report: Option<&[u8]>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.checks.fetch_add(1, Ordering::Relaxed);
        if let Some(Adopted { key, version }) = &self.adoption {
            state.adoption().count_keyed(*key, &self.app, version);
        }
        if let Some((backend, status)) = webview_status(webview_report, self.webview_os, self.min_webview.as_ref()) {
            state.metrics().webview_check(&self.app, &self.channel, backend, status);
        }
    }
}

/// The kept answer to the `GET` request `head`, counted as answered, when there is one and the request may get it
/// (see the module documentation); `None` sends the request through the router. It reads the head as the front parsed
/// it, without building a request: on this path that would cost more than the rest.
pub(super) fn reuse(state: &AppState, head: &millennium_http1::RequestHead<'_>) -> Option<Arc<ReusedAnswer>> {
    let (count, bytes) = head.header_size();
    if head.header(delta::INSTALLED_HEADER).is_some() || super::headers_too_large(count, bytes) {
        return None;
    }
    let answer = state.cache().reused(head.path())?;
    if let Some(id) = head.header(rollout::INSTALL_ID_HEADER) {
        // A malformed id is the handler's to refuse.
        if !answer.any_install || header_text(id).is_none_or(|id| rollout::check_install_id(id).is_err()) {
            return None;
        }
    }
    answer.count(state, head.header(webview::HEADER));
    state.cache().reuses.fetch_add(1, Ordering::Relaxed);
    Some(answer)
}

/// A header value as text, as [`HeaderValue::to_str`] reads it: visible ASCII and tabs, else `None`.
fn header_text(value: &[u8]) -> Option<&str> {
    value.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)).then(|| std::str::from_utf8(value).ok()).flatten()
}

/// Whether the answer to a check with `headers` may be kept for its URL, given whether any release of the channel is
/// at a partial rollout (see the module documentation).
fn reusable(headers: &HeaderMap, any_install: bool) -> bool {
    !headers.contains_key(delta::INSTALLED_HEADER) && (any_install || !headers.contains_key(rollout::INSTALL_ID_HEADER))
}

/// What the cache holds for one app.
#[derive(Debug, Default)]
struct AppAnswers {
    /// Every channel the app has releases in (yanked or paused ones too): the only ones whose answers are kept.
    channels: HashSet<String>,
    /// Channel → answers, for the channels checked since the last change.
    answers: HashMap<String, Arc<ChannelAnswers>>,
}

impl AnswerCache {
    /// Forgets every cached answer.
    pub fn invalidate(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
        self.len.store(0, Ordering::SeqCst);
        // A check from now on must not wait for a load that began before the change: it would get the old state.
        self.loading.lock().unwrap_or_else(PoisonError::into_inner).clear();
        // After the generation moved: an answer kept from now on was made before it and is refused by `remember`.
        *self.reused.write().unwrap_or_else(PoisonError::into_inner) = ReusedUrls::default();
    }

    /// Keeps `answer` for `url` when no change happened since `generation` was read (before the check read its
    /// answers).
    fn remember(&self, url: &str, generation: u64, answer: ReusedAnswer) {
        let mut reused = self.reused.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != generation || reused.answers.contains_key(url) {
            return;
        }
        if reused.answers.len() >= MAX_REUSED_URLS || reused.url_bytes + url.len() > MAX_REUSED_URL_BYTES {
            *reused = ReusedUrls::default();
            self.overflows.fetch_add(1, Ordering::Relaxed);
        }
        reused.url_bytes += url.len();
        reused.answers.insert(url.into(), Arc::new(answer));
    }

    /// The answer kept for `url`.
    fn reused(&self, url: &str) -> Option<Arc<ReusedAnswer>> {
        self.reused.read().unwrap_or_else(PoisonError::into_inner).answers.get(url).cloned()
    }

    /// How many times the cache was invalidated: every change to releases makes it larger, so what was read from the
    /// database when it had another value may be stale (the event endpoint's [`super::events::ReleaseIndex`] keys
    /// on it).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The answers of `app`'s `channel`, from the cache or the database (one load at a time for each); a `404` error
    /// when the app does not exist.
    async fn get(&self, state: &AppState, app: &AppId, channel: &Channel) -> Result<Arc<ChannelAnswers>> {
        if let Lookup::Kept(answers) = self.lookup(app, channel) {
            return Ok(answers);
        }
        let key = (app.as_str().to_owned(), channel.as_str().to_owned());
        let cell = self.loading.lock().unwrap_or_else(PoisonError::into_inner).entry(key.clone()).or_default().clone();
        // A waiter finds what the load it waited for kept (or, for a channel with no releases, nothing to load).
        let answers = cell.get_or_try_init(|| self.load(state, app, channel)).await.cloned();
        let mut loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if loading.get(&key).is_some_and(|running| Arc::ptr_eq(running, &cell)) {
            loading.remove(&key);
        }
        answers
    }

    /// What the cache holds for `app`'s `channel`, read under one lock.
    fn lookup(&self, app: &AppId, channel: &Channel) -> Lookup {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let Some(cached) = entries.get(app.as_str()) else {
            return Lookup::Load { known_app: false };
        };
        match cached.answers.get(channel.as_str()) {
            Some(answers) => Lookup::Kept(answers.clone()),
            None if !cached.channels.contains(channel.as_str()) => Lookup::Kept(Arc::new(ChannelAnswers::none())),
            None => Lookup::Load { known_app: true },
        }
    }

    /// Reads `app`'s `channel` from the database and keeps it (see [`AnswerCache::get`]).
    async fn load(&self, state: &AppState, app: &AppId, channel: &Channel) -> Result<Arc<ChannelAnswers>> {
        // Again: a check that waited for another's load finds what it kept.
        let known_app = match self.lookup(app, channel) {
            Lookup::Kept(answers) => return Ok(answers),
            Lookup::Load { known_app } => known_app,
        };
        let generation = self.generation.load(Ordering::SeqCst);
        let channels = if known_app {
            None
        } else {
            state.db().app(app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
            Some(state.db().app_channels(app).await?.into_iter().collect::<HashSet<_>>())
        };
        let known_channel = channels.as_ref().is_none_or(|channels| channels.contains(channel.as_str()));
        let answers = if known_channel {
            self.loads.fetch_add(1, Ordering::Relaxed);
            // Boxed: the loading future (database queries) is many times the size of everything else a check holds,
            // and inline it would make every check's future that large, to be moved through each middleware layer.
            Arc::new(Box::pin(ChannelAnswers::load(state, app, channel)).await?)
        } else {
            Arc::new(ChannelAnswers::none())
        };
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(answers);
        }
        if known_channel && self.len.load(Ordering::SeqCst) >= MAX_CACHED_CHANNELS {
            entries.clear();
            self.len.store(0, Ordering::SeqCst);
            self.overflows.fetch_add(1, Ordering::Relaxed);
        }
        let cached = match channels {
            Some(channels) => {
                let cached = entries.entry(app.as_str().to_owned()).or_default();
                cached.channels = channels;
                cached
            }
            // The app's channel list went with an overflow meanwhile: an entry without it would hide every channel.
            None => match entries.get_mut(app.as_str()) {
                Some(cached) => cached,
                None => return Ok(answers),
            },
        };
        if known_channel && cached.answers.insert(channel.as_str().to_owned(), answers.clone()).is_none() {
            self.len.fetch_add(1, Ordering::SeqCst);
        }
        Ok(answers)
    }

    /// The cache's figures in the Prometheus text format: answers held, database loads, and overflows.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let figures = [
            (
                "millennium_answer_cache_entries",
                "gauge",
                "Update answers held in memory, one per (app, channel) checked since the last change.",
                self.len.load(Ordering::SeqCst),
            ),
            (
                "millennium_answer_cache_urls",
                "gauge",
                "Request URLs whose whole update answer is held in memory and reused.",
                self.reused.read().unwrap_or_else(PoisonError::into_inner).answers.len() as u64,
            ),
            (
                "millennium_answer_cache_reuses_total",
                "counter",
                "Update checks answered with the whole answer kept for their URL.",
                self.reuses.load(Ordering::Relaxed),
            ),
            (
                "millennium_answer_cache_loads_total",
                "counter",
                "Update answers read from the database because they were not in memory.",
                self.loads.load(Ordering::Relaxed),
            ),
            (
                "millennium_answer_cache_overflows_total",
                "counter",
                "Times the answer cache, or its answers by URL, was full and started over.",
                self.overflows.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in figures {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
    }
}

/// The `channel` label of checks of a channel the app has no release in, in `/metrics`: the names are the clients'
/// choice, and each would take a series of its own.
pub const UNKNOWN_CHANNEL: &str = "_unknown";

/// Everything the update endpoints can answer for one (app, channel).
#[derive(Debug)]
pub struct ChannelAnswers {
    /// Offerable releases (not yanked, not paused), newest first by SemVer precedence.
    releases: Vec<OfferedRelease>,
    /// Whether the app has releases in the channel (offerable or not).
    known: bool,
}

/// One offerable release and its answers.
#[derive(Debug)]
struct OfferedRelease {
    version: Version,
    version_text: String,
    rollout: u8,
    /// The oldest webview the release works with, per backend.
    min_webview: WebviewMinimums,
    /// Platform key served (see [`served_platforms`]) → the dynamic answer's JSON.
    dynamic: HashMap<String, Bytes>,
    /// Platform key served → the dynamic answer and the deltas stored to its artifact, for requests that name their
    /// installed artifact ([`delta_answer`]); only keys with deltas.
    deltas: HashMap<String, (DynamicResponse, Vec<DeltaOffer>)>,
    /// `latest.json`.
    manifest: Bytes,
    /// `latest.json?client=cargo-packager`; `None` when no platform has a cargo-packager format.
    packager_manifest: Option<Bytes>,
}

impl ChannelAnswers {
    /// No release: the answer of a channel the app has nothing in.
    fn none() -> Self {
        Self { releases: Vec::new(), known: false }
    }

    /// The `channel` label of a check of this channel: its name, or [`UNKNOWN_CHANNEL`].
    fn label<'a>(&self, channel: &'a Channel) -> &'a str {
        if self.known { channel.as_str() } else { UNKNOWN_CHANNEL }
    }

    async fn load(state: &AppState, app: &AppId, channel: &Channel) -> Result<Self> {
        state.db().app(app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
        let mut releases = Vec::new();
        for (release, placement) in state.db().channel_releases(app, channel).await? {
            if release.yanked || placement.paused {
                continue;
            }
            let version = parse_stored_version(&release.version)?;
            let artifacts = state.db().artifacts(release.id).await?;
            let served = served_platforms(&artifacts)?;
            let stored_deltas = state.db().deltas_to(release.id).await?;
            let info = release_info(&release, &version)?;
            let min_webview = stored_min_webview(&release)?;
            let mut dynamic = HashMap::with_capacity(served.len());
            let mut deltas = HashMap::new();
            let mut builder = StaticManifest::builder(info.clone()).min_webview_versions(min_webview.clone());
            let mut packager = StaticManifest::builder(info.clone()).min_webview_versions(min_webview.clone());
            for (target, artifact) in &served {
                let protocol = protocol_artifact(state, app.as_str(), &version, artifact)?;
                // One target per answer: the scalar of its backend, as existing clients read it.
                let target_info = match min_webview.get(Backend::from(target.os())) {
                    Some(min) => info.clone().with_min_webview_version(min.clone()),
                    None => info.clone(),
                };
                let response = DynamicResponse::new(target_info, protocol.clone())
                    .map_err(|e| Error::Internal(format!("dynamic response: {e}")))?;
                dynamic.insert(target.to_string(), Bytes::from(response.to_json()));
                let offers = stored_deltas
                    .iter()
                    .filter(|d| d.target == artifact.target)
                    .map(|d| delta_offer(state, app.as_str(), &version, d))
                    .collect::<Result<Vec<_>>>()?;
                if !offers.is_empty() {
                    deltas.insert(target.to_string(), (response, offers));
                }
                if packager_format(artifact).is_some() {
                    packager = packager.platform(*target, protocol.clone());
                }
                builder = builder.platform(*target, protocol);
            }
            let manifest = builder.build().map_err(|e| Error::Internal(format!("static manifest: {e}")))?;
            let packager_manifest = packager.build().ok().map(|m| Bytes::from(m.to_json()));
            releases.push(OfferedRelease {
                min_webview,
                version,
                version_text: release.version,
                rollout: placement.rollout,
                dynamic,
                deltas,
                manifest: Bytes::from(manifest.to_json()),
                packager_manifest,
            });
        }
        releases.sort_by(|a, b| b.version.cmp_precedence(&a.version));
        Ok(Self { releases, known: true })
    }

    /// The releases this install is offered, newest first.
    fn offered<'a>(&'a self, app: &'a AppId, install: Option<&'a str>) -> impl Iterator<Item = &'a OfferedRelease> {
        self.releases.iter().filter(move |r| rollout::is_offered(install, app.as_str(), &r.version_text, r.rollout))
    }
}

fn parse_stored_version(text: &str) -> Result<Version> {
    Version::parse(text).map_err(|e| Error::Internal(format!("stored version {text:?}: {e}")))
}

/// The platform keys a release is served under, each with the stored artifact behind it: every stored key, plus
/// `{os}-{arch}` for each platform that has only bundle-specific artifacts, served by the bundle that can replace a
/// plain binary (AppImage; app; NSIS, else MSI). Deb and rpm never stand in for a plain binary.
pub fn served_platforms(artifacts: &[ArtifactRow]) -> Result<BTreeMap<Target, &ArtifactRow>> {
    let mut served = BTreeMap::new();
    for artifact in artifacts {
        let target: Target = artifact
            .target
            .parse()
            .map_err(|e| Error::Internal(format!("stored target {:?}: {e}", artifact.target)))?;
        served.insert(target, artifact);
    }
    let preference = |os: Os| -> &'static [BundleType] {
        match os {
            Os::Linux => &[BundleType::AppImage],
            Os::Darwin => &[BundleType::App],
            Os::Windows => &[BundleType::Nsis, BundleType::Msi],
        }
    };
    let mut stand_ins = Vec::new();
    for target in served.keys() {
        let plain = target.without_bundle();
        if served.contains_key(&plain) || stand_ins.iter().any(|(t, _)| *t == plain) {
            continue;
        }
        for &bundle in preference(plain.os()) {
            if let Ok(bundled) = Target::new(plain.os(), plain.arch(), Some(bundle))
                && let Some(artifact) = served.get(&bundled)
            {
                stand_ins.push((plain, *artifact));
                break;
            }
        }
    }
    served.extend(stand_ins);
    Ok(served)
}

/// The download URL of an artifact.
pub fn download_url(state: &AppState, app: &str, version: &Version, artifact: &ArtifactRow) -> String {
    format!(
        "{}/download/{app}/{}/{}/{}",
        state.config().download_base_url(),
        version.to_request_segment(),
        artifact.target,
        crate::names::url_segment(&artifact.file_name)
    )
}

/// cargo-packager-updater's `format` for an artifact: from its stored target, else (a plain Windows artifact) from its
/// file extension.
fn packager_format(artifact: &ArtifactRow) -> Option<PackagerFormat> {
    let target: Target = artifact.target.parse().ok()?;
    PackagerFormat::for_target(&target).or_else(|| {
        let name = artifact.file_name.to_ascii_lowercase();
        match target.os() {
            Os::Windows if name.ends_with(".msi") => Some(PackagerFormat::Wix),
            Os::Windows if name.ends_with(".exe") => Some(PackagerFormat::Nsis),
            _ => None,
        }
    })
}

/// The protocol's view of a stored artifact.
pub fn protocol_artifact(state: &AppState, app: &str, version: &Version, artifact: &ArtifactRow) -> Result<Artifact> {
    let url = ArtifactUrl::parse(&download_url(state, app, version, artifact))
        .map_err(|e| Error::Internal(format!("download URL: {e}")))?;
    let signature =
        SignatureText::parse(&artifact.signature).map_err(|e| Error::Internal(format!("stored signature: {e}")))?;
    let mut out = Artifact::new(url, signature);
    if let Some(format) = packager_format(artifact) {
        out = out.with_format(format);
    }
    Ok(out)
}

/// The protocol's view of a stored release (without its minimum webview versions: see [`stored_min_webview`]).
pub fn release_info(release: &ReleaseRow, version: &Version) -> Result<ReleaseInfo> {
    let mut info = ReleaseInfo::new(version.clone());
    if let Some(notes) = &release.notes {
        info = info.with_notes(notes.clone()).map_err(|e| Error::Internal(format!("stored notes: {e}")))?;
    }
    let date = OffsetDateTime::parse(&release.pub_date, &Rfc3339)
        .map_err(|e| Error::Internal(format!("stored pub_date: {e}")))?;
    info.with_pub_date(date).map_err(|e| Error::Internal(format!("stored pub_date: {e}")))
}

/// A stored release's minimum webview versions, per backend (stored in their canonical text form).
pub fn stored_min_webview(release: &ReleaseRow) -> Result<WebviewMinimums> {
    match &release.min_webview_version {
        None => Ok(WebviewMinimums::new()),
        Some(text) => WebviewMinimums::parse(text)
            .map_err(|e| Error::Internal(format!("stored min_webview_version of release {}: {e}", release.id))),
    }
}

fn json_response(body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Answers depend on the install id and change with every publish.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn no_update() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The last `n` segments of the request path, still percent-encoded.
fn raw_segments(uri: &Uri, n: usize) -> Result<Vec<&str>> {
    let segments: Vec<&str> = uri.path().split('/').collect();
    if segments.len() < n + 1 {
        return Err(Error::Internal("route shape".into()));
    }
    Ok(segments[segments.len() - n..].to_vec())
}

/// What the update endpoints know of a request besides its query: its URL and route (to keep the answer for the
/// URL) and its headers (taken from the request: no extractor after this one sees them).
#[derive(Debug)]
pub struct CheckRequest {
    uri: Uri,
    /// The route pattern, which the router names in every request it routes.
    route: Option<MatchedPath>,
    headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CheckRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        let route = parts.extensions.get::<MatchedPath>().cloned();
        Ok(Self { uri: parts.uri.clone(), route, headers: std::mem::take(&mut parts.headers) })
    }
}

impl CheckRequest {
    /// Keeps the answer `response` with `body` for this request's URL, when it may be reused (see the module
    /// documentation); `generation` is the cache's, read before the answers were.
    fn remember(&self, state: &AppState, generation: u64, response: &Response, body: Bytes, counted: Counted<'_>) {
        let any_install = counted.answers.releases.iter().all(|release| release.rollout >= 100);
        let (Some(url), Some(route)) = (self.uri.path_and_query(), &self.route) else { return };
        // A kept URL (a `HEAD`, or a check the front did not take) needs no second answer encoded.
        if !reusable(&self.headers, any_install) || state.cache().reused(url.as_str()).is_some() {
            return;
        }
        let declared = if body.is_empty() { Declared::Nothing } else { Declared::Known(body.len() as u64) };
        let mut head = Vec::new();
        let Some(encoded) = encode_head_start(&mut head, &Method::GET, response.status(), response.headers(), declared)
        else {
            return;
        };
        let metrics = state.metrics();
        let channel = counted.answers.label(counted.channel);
        let answer = ReusedAnswer {
            status: response.status(),
            head,
            keep_alive: encoded.keep_alive,
            body,
            any_install,
            requests: metrics.request_counter(route.as_str(), "GET", response.status().as_u16()),
            checks: metrics.update_check_counter(
                counted.app.as_str(),
                channel,
                counted.version,
                counted.target,
                counted.result,
            ),
            app: counted.app.as_str().to_owned(),
            channel: channel.to_owned(),
            adoption: counted.adopted.then(|| Adopted {
                key: state.adoption().key(counted.app.as_str(), counted.version),
                version: counted.version.to_owned(),
            }),
            webview_os: counted.webview_os,
            min_webview: counted.min_webview.cloned(),
        };
        state.cache().remember(url.as_str(), generation, answer);
    }
}

/// What a check counted, for [`CheckRequest::remember`].
struct Counted<'a> {
    app: &'a AppId,
    channel: &'a Channel,
    answers: &'a ChannelAnswers,
    version: &'a str,
    target: &'a str,
    result: &'static str,
    adopted: bool,
    webview_os: Option<Os>,
    min_webview: Option<&'a WebviewMinimums>,
}

/// `GET /{app}/{target}/{arch}/{current_version}`.
pub async fn dynamic_check(
    State(state): State<AppState>,
    request: CheckRequest,
    query: std::result::Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = query.map_err(|e| Error::bad_request(e.body_text()))?.0;
    let segments = raw_segments(&request.uri, 4)?;
    check(&state, &request, &segments, None, &query).await
}

/// `GET /{app}/{target}/{arch}/{current_version}/{bundle_type}`.
pub async fn dynamic_check_bundle(
    State(state): State<AppState>,
    request: CheckRequest,
    query: std::result::Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = query.map_err(|e| Error::bad_request(e.body_text()))?.0;
    let segments = raw_segments(&request.uri, 5)?;
    check(&state, &request, &segments[..4], Some(segments[4]), &query).await
}

async fn check(
    state: &AppState,
    request: &CheckRequest,
    segments: &[&str],
    bundle_type: Option<&str>,
    query: &CheckQuery,
) -> Result<Response> {
    let headers = &request.headers;
    let [app, os, arch, current] = segments else {
        return Err(Error::Internal("route shape".into()));
    };
    // Names first: a traversal attempt is a 400 before anything is looked up.
    let app_id = AppId::parse(&percent_decode_name(app)?)?;
    let target =
        Target::from_request_vars(os, arch, bundle_type).map_err(|source| Error::protocol("target", source))?;
    let current =
        Version::from_request_segment(current).map_err(|source| Error::protocol("current version", source))?;
    let channel = channel(query)?;
    let install = install_id(headers, query)?;
    let generation = state.cache().generation();
    let answers = state.cache().get(state, &app_id, &channel).await?;

    let keys = target.lookup_keys();
    let answer = answers
        .offered(&app_id, install)
        .take_while(|release| release.version.is_update_over(&current))
        .find_map(|release| {
            keys.iter().find_map(|key| release.dynamic.get(key).map(|body| (key, body))).map(|found| (release, found))
        });
    let min_webview = answer.map(|(release, _)| &release.min_webview);
    if let Some((backend, status)) = webview_status(webview_report(headers), Some(target.os()), min_webview) {
        state.metrics().webview_check(app_id.as_str(), answers.label(&channel), backend, status);
    }
    let version = current.to_string();
    // Adoption: only versions the channel offers, so clients cannot add made-up ones.
    let adopted = answers.releases.iter().any(|release| release.version == current);
    if adopted {
        state.adoption().count(app_id.as_str(), &version);
    }
    let answer = match answer {
        Some((release, (key, body))) => Some(delta_answer(headers, release, key)?.unwrap_or_else(|| body.clone())),
        None => None,
    };
    let target_key = target.to_string();
    let result = if answer.is_some() { "update" } else { "no_update" };
    state.metrics().update_check(app_id.as_str(), answers.label(&channel), &version, &target_key, result);
    let response = answer.clone().map_or_else(no_update, json_response);
    let counted = Counted {
        app: &app_id,
        channel: &channel,
        answers: &answers,
        version: &version,
        target: &target_key,
        result,
        adopted,
        webview_os: Some(target.os()),
        min_webview,
    };
    request.remember(state, generation, &response, answer.unwrap_or_default(), counted);
    Ok(response)
}

/// The dynamic answer with the delta from the installed artifact the request names in `X-Millennium-Installed`, if
/// the release has one for the answer's target; `None` (the cached answer, unchanged) otherwise, and always for
/// requests without the header, which is what keeps Tauri answers byte-identical. A malformed header is ignored like
/// a missing one: an update check never fails over it.
fn delta_answer(headers: &HeaderMap, release: &OfferedRelease, key: &str) -> Result<Option<Bytes>> {
    let Some((response, offers)) = release.deltas.get(key) else { return Ok(None) };
    let Some(installed) = headers
        .get(delta::INSTALLED_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| delta::Blake2b256::parse_header(text).ok())
    else {
        return Ok(None);
    };
    let Some(offer) = offers.iter().find(|offer| offer.from == installed) else { return Ok(None) };
    let forms = headers
        .get(delta::DELTA_FORMS_HEADER)
        .and_then(|value| value.to_str().ok())
        .map_or(delta::DeltaForms::NONE, delta::DeltaForms::parse_header);
    let response = response
        .clone()
        .with_deltas(vec![offer.for_forms(forms)])
        .map_err(|e| Error::Internal(format!("dynamic response with a delta: {e}")))?;
    Ok(Some(Bytes::from(response.to_json())))
}

/// The offer of a stored delta and its alternative, downloaded from `/download/…/delta/<from>[.<form>]`.
pub(super) fn delta_offer(state: &AppState, app: &str, version: &Version, row: &DeltaRow) -> Result<DeltaOffer> {
    let bad = |what: &str| Error::Internal(format!("stored delta {what}"));
    let from = delta::Blake2b256::parse_hex(&row.from_blake2b, "from").map_err(|_| bad("base hash"))?;
    let url = |form: Option<delta::DeltaForm>| {
        let url = format!(
            "{}/download/{app}/{}/{}/delta/{}",
            state.config().download_base_url(),
            version.to_request_segment(),
            row.target,
            delta::delta_file_name(&from, form)
        );
        ArtifactUrl::parse(&url).map_err(|_| bad("URL"))
    };
    let alternatives = match &row.alternative {
        Some(alt) => {
            let form = delta::DeltaForm::from_token(&alt.form).ok_or_else(|| bad("form"))?;
            vec![delta::DeltaAlternative {
                form,
                url: url(Some(form))?,
                size: u64::try_from(alt.size).map_err(|_| bad("size"))?,
                blake2b_256: delta::Blake2b256::parse_hex(&alt.blake2b_256, "blake2b_256").map_err(|_| bad("hash"))?,
            }]
        }
        None => Vec::new(),
    };
    Ok(DeltaOffer {
        from,
        url: url(None)?,
        size: u64::try_from(row.size).map_err(|_| bad("size"))?,
        blake2b_256: delta::Blake2b256::parse_hex(&row.blake2b_256, "blake2b_256").map_err(|_| bad("hash"))?,
        encoder: row.encoder.clone(),
        alternatives,
    })
}

/// How a check's webview report compares with the minimums of the release it is offered: `(backend, status)`
/// label values for `millennium_update_check_webviews_total`, `None` without the header. Both are fixed words, never
/// text from the request: `backend` is the reported one, for `missing` the one of `os` when the route names it, else
/// `unknown`; `status` is `ok`, `too_old` (older than the release's minimum for the *reported* backend; a release
/// without one for that backend counts as `ok`), `missing` or `unknown` (malformed). `report` is the header's value
/// ([`webview_report`]).
pub fn webview_status(
    report: Option<&[u8]>,
    os: Option<Os>,
    minimums: Option<&WebviewMinimums>,
) -> Option<(&'static str, &'static str)> {
    const UNKNOWN: &str = "unknown";
    let report = header_text(report?).and_then(|text| WebviewReport::parse(text).ok());
    Some(match report {
        None => (UNKNOWN, UNKNOWN),
        Some(WebviewReport::Missing) => (os.map_or(UNKNOWN, |os| Backend::from(os).id()), "missing"),
        Some(WebviewReport::Installed { backend, version }) => {
            let minimum = minimums.and_then(|minimums| minimums.get(backend));
            let status = if minimum.is_some_and(|min| version < *min) { "too_old" } else { "ok" };
            (backend.id(), status)
        }
    })
}

/// The value of the webview report header (`X-Millennium-Webview`) of a request.
pub fn webview_report(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(webview::HEADER).map(HeaderValue::as_bytes)
}

/// App ids in the dynamic route come raw from the URI; decode so `%2e%2e` is judged as `..` (and refused).
fn percent_decode_name(segment: &str) -> Result<String> {
    if !segment.contains('%') {
        return Ok(segment.to_owned());
    }
    // Any escape in an app id decodes to a character app ids cannot contain, or to one that never needs escaping.
    Err(Error::InvalidName {
        what: "app id",
        value: crate::names::snippet(segment),
        reason: "percent-encoded characters are not allowed",
    })
}

/// `GET /{app}/{channel}/latest.json`.
pub async fn static_manifest(
    State(state): State<AppState>,
    Path((app, channel)): Path<(String, String)>,
    request: CheckRequest,
    query: std::result::Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let headers = &request.headers;
    let query = query.map_err(|e| Error::bad_request(e.body_text()))?.0;
    let app = AppId::parse(&app)?;
    let channel = Channel::parse(&channel)?;
    let install = install_id(headers, &query)?;
    let packager_only = packager_only(&query)?;
    let generation = state.cache().generation();
    let answers = state.cache().get(&state, &app, &channel).await?;
    let offered = answers.offered(&app, install).next();
    let answer = offered
        .and_then(|release| if packager_only { release.packager_manifest.as_ref() } else { Some(&release.manifest) });
    let min_webview = answer.and(offered).map(|release| &release.min_webview);
    if let Some((backend, status)) = webview_status(webview_report(headers), None, min_webview) {
        state.metrics().webview_check(app.as_str(), answers.label(&channel), backend, status);
    }
    let target = if packager_only { "latest.json?client=cargo-packager" } else { "latest.json" };
    let result = if answer.is_some() { "update" } else { "no_update" };
    state.metrics().update_check(app.as_str(), answers.label(&channel), "", target, result);
    let response = answer.map_or_else(no_update, |body| json_response(body.clone()));
    let counted = Counted {
        app: &app,
        channel: &channel,
        answers: &answers,
        version: "",
        target,
        result,
        adopted: false,
        webview_os: None,
        min_webview,
    };
    request.remember(&state, generation, &response, answer.cloned().unwrap_or_default(), counted);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, file: &str) -> ArtifactRow {
        ArtifactRow {
            release_id: 1,
            target: target.into(),
            file_name: file.into(),
            sha256: "0".repeat(64),
            size: 1,
            signature: String::new(),
        }
    }

    fn kept(body: &'static str) -> ReusedAnswer {
        ReusedAnswer {
            status: StatusCode::OK,
            head: Vec::new(),
            keep_alive: true,
            body: Bytes::from_static(body.as_bytes()),
            any_install: true,
            requests: Arc::default(),
            checks: Arc::default(),
            app: "demo".into(),
            channel: "stable".into(),
            adoption: None,
            webview_os: None,
            min_webview: None,
        }
    }

    #[test]
    fn an_answer_made_before_a_change_is_never_kept_and_a_change_drops_the_kept_ones() {
        let cache = AnswerCache::default();
        let before = cache.generation();
        cache.invalidate();
        cache.remember("/demo/linux/x86_64/1.0.0", before, kept("old"));
        assert!(cache.reused("/demo/linux/x86_64/1.0.0").is_none(), "an answer read before the change was kept");
        cache.remember("/demo/linux/x86_64/1.0.0", cache.generation(), kept("new"));
        assert_eq!(&cache.reused("/demo/linux/x86_64/1.0.0").unwrap().body[..], b"new");
        cache.invalidate();
        assert!(cache.reused("/demo/linux/x86_64/1.0.0").is_none());
    }

    #[test]
    fn kept_urls_start_over_at_their_bounds() {
        let cache = AnswerCache::default();
        for i in 0..MAX_REUSED_URLS {
            cache.remember(&format!("/demo/linux/x86_64/{i}.0.0"), 0, kept("{}"));
        }
        assert_eq!(cache.overflows.load(Ordering::Relaxed), 0);
        cache.remember("/demo/linux/x86_64/one-more", 0, kept("{}"));
        assert_eq!(cache.overflows.load(Ordering::Relaxed), 1);
        assert_eq!(cache.reused.read().unwrap().answers.len(), 1);
        // Long URLs: the byte bound comes first.
        let long = "x".repeat(super::super::MAX_URI_LEN);
        for i in 0..MAX_REUSED_URL_BYTES / long.len() + 1 {
            cache.remember(&format!("/{i}{long}"), 0, kept("{}"));
        }
        assert_eq!(cache.overflows.load(Ordering::Relaxed), 2);
        assert!(cache.reused.read().unwrap().url_bytes <= MAX_REUSED_URL_BYTES);
    }

    #[test]
    fn plain_keys_are_served_by_the_right_bundle() {
        let rows = vec![
            row("linux-x86_64-deb", "a.deb"),
            row("linux-x86_64-appimage", "a.AppImage"),
            row("linux-aarch64-deb", "b.deb"),
            row("windows-x86_64-msi", "a.msi"),
            row("windows-x86_64-nsis", "a-setup.exe"),
            row("darwin-aarch64-app", "a.app.tar.gz"),
            row("windows-i686", "plain.exe"),
            row("windows-i686-nsis", "b-setup.exe"),
        ];
        let served = served_platforms(&rows).unwrap();
        let get = |k: &str| served.get(&k.parse::<Target>().unwrap()).map(|a| a.file_name.as_str());
        assert_eq!(get("linux-x86_64"), Some("a.AppImage"));
        assert_eq!(get("linux-aarch64"), None, "a deb must not stand in for a plain binary");
        assert_eq!(get("windows-x86_64"), Some("a-setup.exe"));
        assert_eq!(get("darwin-aarch64"), Some("a.app.tar.gz"));
        assert_eq!(get("windows-i686"), Some("plain.exe"), "an uploaded plain artifact wins");
        assert_eq!(get("linux-x86_64-deb"), Some("a.deb"));
    }

    #[test]
    fn formats_for_cargo_packager() {
        assert_eq!(packager_format(&row("windows-x86_64", "x.msi")), Some(PackagerFormat::Wix));
        assert_eq!(packager_format(&row("windows-x86_64", "x-setup.exe")), Some(PackagerFormat::Nsis));
        assert_eq!(packager_format(&row("windows-x86_64-msi", "x.msi")), Some(PackagerFormat::Wix));
        assert_eq!(packager_format(&row("linux-x86_64-deb", "x.deb")), None);
        assert_eq!(packager_format(&row("linux-x86_64", "x.AppImage")), Some(PackagerFormat::AppImage));
    }
}
