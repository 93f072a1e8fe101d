//! `POST /{app}/events`: release-health reports from installs (format: `docs/protocol.md` §10,
//! [`millennium_update_protocol::events`]), counted into hourly counters, and the automatic rollout halt.
//!
//! The endpoint is unauthenticated, so everything it does is bounded before it costs anything:
//!
//! 1. the client's IP address (its /64 for IPv6) spends one token of its bucket per request ([`EventLimits::per_ip`])
//!    before the body is read: a flood is answered `429` with `Retry-After` for the price of a map lookup;
//! 2. the body is read up to [`MAX_BODY_LEN`] bytes (`413` beyond, after reading at most [`MAX_DRAIN_LEN`]; a
//!    `Content-Length` over that is refused unread) and parsed strictly (`400`);
//! 3. an app that does not exist is `404`; each event spends a token of its install id's bucket
//!    ([`EventLimits::per_install`]) and names a release the app has, or it is counted as rejected and never stored
//!    (both answered from memory: [`ReleaseIndex`]);
//! 4. the accepted events go to the [event writer](super::event_queue), which adds them, with those of every other
//!    request of the last moments, to one counter row per (release, channel, kind, hour) in one transaction; an
//!    event whose `id` was already counted (within [`EVENT_ID_WINDOW`]) is a duplicate and adds nothing, so a batch
//!    sent again after its answer was lost counts once;
//! 5. once they are committed, the answer is `202` with `{"accepted":N,"rejected":M,"duplicates":D}`: never more
//!    than the request, so the endpoint cannot be used to amplify traffic (`503` with `Retry-After` when the writer
//!    is too far behind or the database refuses).
//!
//! The `at` of an event picks its hour when it lies within the last 7 days (and not in the future); otherwise the
//! event counts in the current hour, so a client cannot make rows for arbitrary hours.
//!
//! After counting a batch, the writer evaluates the halt rule of each release that got `installed`, `rolled_back` or
//! `install_failed` reports in it; see [`evaluate_halt`]. Events are attributed to the channel the release was most recently placed in
//! (the placement new installs come from); the halt itself pauses every placement of the release.
//!
//! Behind a reverse proxy every client has the proxy's address: the per-IP limit then applies to all of them
//! together, and should be raised (`--event-ip-burst`, `--event-ip-per-minute`).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use millennium_update_admin::api::EventsAccepted;
use millennium_update_protocol::events::{EventBatch, EventKind, MAX_BODY_LEN};

use super::AppState;
use crate::db::{HealthKey, ReleaseRow, bucket_of};
use crate::error::{Error, Result};
use crate::names::AppId;
use crate::ratelimit::{KeyedLimiter, Rate, ip_key};
use crate::webhooks::{Event, HaltedBy};

/// The client's IP address, put in every request's extensions by the connection ([`super::serve_on`]).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// The `app` label of events for an app that does not exist.
pub const UNKNOWN_APP: &str = "_unknown";

/// How far back an event's `at` may place it.
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long the id of a counted event is kept to recognise it when it is sent again: as long as an event's `at` can
/// place it in the past. A client's queue holds an event until it is delivered, so a resend comes after at most the
/// backoff (an hour) while the app runs, or at its next start.
pub const EVENT_ID_WINDOW: Duration = MAX_EVENT_AGE;

/// Rate limits of the event endpoint.
#[derive(Debug, Clone, Copy)]
pub struct EventLimits {
    /// Requests per client IP address (IPv6: per /64).
    pub per_ip: Rate,
    /// Events per install id.
    pub per_install: Rate,
    /// Most keys each limiter keeps (see [`KeyedLimiter`]).
    pub max_keys: usize,
    /// Most accepted events waiting to be counted ([`super::event_queue`]); beyond, requests are answered `503`.
    pub max_queued: usize,
}

impl Default for EventLimits {
    /// 60 requests at once per IP, then one a second; 20 events at once per install, then one a minute. An install
    /// sends a handful of events per update; a whole office behind one address updating at once sends a few
    /// batches each.
    fn default() -> Self {
        Self {
            per_ip: Rate::per_minute(60, 60),
            per_install: Rate::per_minute(20, 1),
            max_keys: 65_536,
            max_queued: super::event_queue::MAX_QUEUED_EVENTS,
        }
    }
}

/// The limiters.
#[derive(Debug)]
pub struct Limiters {
    per_ip: KeyedLimiter,
    per_install: KeyedLimiter,
}

impl Limiters {
    /// Empty limiters with `limits`.
    pub fn new(limits: &EventLimits) -> Self {
        Self {
            per_ip: KeyedLimiter::new(limits.per_ip, limits.max_keys),
            per_install: KeyedLimiter::new(limits.per_install, limits.max_keys),
        }
    }
}

/// Most bytes of an oversized body read (and thrown away) before answering `413`. Closing a connection with unread
/// bytes makes the kernel reset it, which can destroy the `413` on its way to a client still sending; past this the
/// server stops reading anyway (a body announced longer is refused unread).
pub const MAX_DRAIN_LEN: usize = 256 * 1024;

/// The body, if it is at most [`MAX_BODY_LEN`] bytes; an oversized one is read up to [`MAX_DRAIN_LEN`] and dropped.
async fn read_body(body: axum::body::Body) -> Option<axum::body::Bytes> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut read = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        read += chunk.len();
        if read > MAX_DRAIN_LEN {
            return None;
        }
        if read <= MAX_BODY_LEN {
            kept.extend_from_slice(&chunk);
        }
    }
    (read <= MAX_BODY_LEN).then(|| axum::body::Bytes::from(kept))
}

/// `POST /{app}/events`.
pub async fn ingest(State(state): State<AppState>, Path(app): Path<String>, request: Request) -> Result<Response> {
    let now = Instant::now();
    // Requests through `oneshot` in tests have no peer: they share the unspecified address's bucket.
    let ip = request.extensions().get::<PeerAddr>().map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0);
    if let Err(wait) = state.limiters().per_ip.check(ip_key(ip), 1.0, now) {
        state.metrics().client_events(UNKNOWN_APP, "_batch", "rate_limited", 1);
        return Err(Error::RateLimited { retry_after: wait.as_secs().max(1) });
    }
    let app = AppId::parse(&app)?;
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let too_large = Error::BodyTooLarge { limit: MAX_BODY_LEN as u64 };
    if declared.is_some_and(|len| len > MAX_DRAIN_LEN as u64) {
        state.metrics().client_events(UNKNOWN_APP, "_batch", "too_large", 1);
        return Err(too_large);
    }
    let Some(body) = read_body(request.into_body()).await else {
        state.metrics().client_events(UNKNOWN_APP, "_batch", "too_large", 1);
        return Err(too_large);
    };
    let batch = match EventBatch::parse(&body) {
        Ok(batch) => batch,
        Err(source) => {
            state.metrics().client_events(UNKNOWN_APP, "_invalid", "invalid", 1);
            return Err(Error::protocol("event batch", source));
        }
    };
    let index = state.release_index();
    if !index.app_known(&state, &app).await? {
        for event in &batch.events {
            state.metrics().client_events(UNKNOWN_APP, event.kind.as_str(), "unknown_app", 1);
        }
        return Err(Error::not_found(format!("app `{app}`")));
    }

    let unix_now = crate::db::now();
    let oldest = unix_now - i64::try_from(MAX_EVENT_AGE.as_secs()).unwrap_or(0);
    let mut counted: Vec<(Option<String>, HealthKey)> = Vec::new();
    let mut judged: BTreeMap<i64, Arc<Attributed>> = BTreeMap::new();
    let mut rejected = 0u32;
    for event in batch.events {
        let version = event.to.to_string();
        let Some(found) = index.release(&state, &app, &version).await? else {
            state.metrics().client_events(app.as_str(), event.kind.as_str(), "unknown_version", 1);
            rejected += 1;
            continue;
        };
        if state.limiters().per_install.check(event.install_id.as_str(), 1.0, now).is_err() {
            state.metrics().client_events(app.as_str(), event.kind.as_str(), "rate_limited", 1);
            rejected += 1;
            continue;
        }
        let at = event.at.and_then(|at| i64::try_from(at).ok()).filter(|at| (oldest..=unix_now).contains(at));
        let key = HealthKey {
            version,
            channel: found.channel.clone(),
            kind: event.kind.as_str(),
            bucket: bucket_of(at.unwrap_or(unix_now)),
        };
        counted.push((event.id, key));
        if matches!(event.kind, EventKind::Installed) || event.kind.is_release_failure() {
            judged.entry(found.release.id).or_insert_with(|| Arc::clone(&found));
        }
    }
    let kinds: Vec<&'static str> = counted.iter().map(|(_, key)| key.kind).collect();
    let fresh = if counted.is_empty() {
        Vec::new()
    } else {
        let submitted = state.event_queue().submit(&app, counted, judged.into_values().collect()).await;
        if let Err(Error::Unavailable { .. }) = &submitted {
            for kind in &kinds {
                state.metrics().client_events(app.as_str(), kind, "unavailable", 1);
            }
        }
        submitted?
    };
    let (mut accepted, mut duplicates) = (0u32, 0u32);
    for (kind, fresh) in kinds.iter().zip(fresh) {
        state.metrics().client_events(app.as_str(), kind, if fresh { "accepted" } else { "duplicate" }, 1);
        if fresh {
            accepted += 1;
        } else {
            duplicates += 1;
        }
    }
    Ok((StatusCode::ACCEPTED, axum::Json(EventsAccepted { accepted, rejected, duplicates })).into_response())
}

/// A release as the event endpoint counts it: the release, and the channel its events are attributed to (the one
/// it was most recently placed in, which new installs come from).
#[derive(Debug)]
pub struct Attributed {
    pub release: ReleaseRow,
    pub channel: String,
}

/// Most apps [`ReleaseIndex`] holds; past it, it starts over.
const MAX_INDEXED_APPS: usize = 1024;

/// Most versions (released or not) [`ReleaseIndex`] holds per app; past it, the app's start over.
const MAX_INDEXED_VERSIONS: usize = 1024;

/// What the endpoint needs to know of each app (that it exists) and of the versions events name (the release and
/// its channel, or that there is none), read from the database once and reused until releases change.
///
/// Entries are tagged with the [`super::updates::AnswerCache::generation`] read before their database read: every
/// change to releases (on any replica) invalidates that cache, so an entry of another generation is read again, and
/// one read while a change committed is never taken for current. Apps that do not exist are not kept (an app may be
/// created at any time, and a flood of made-up names must not fill memory); the versions of an existing app are kept
/// whether released or not, at most `MAX_INDEXED_VERSIONS`, so made-up versions cost one read each at worst.
#[derive(Debug, Default)]
pub struct ReleaseIndex {
    apps: Mutex<HashMap<String, IndexedApp>>,
}

#[derive(Debug)]
struct IndexedApp {
    generation: u64,
    versions: HashMap<String, Option<Arc<Attributed>>>,
}

impl ReleaseIndex {
    fn apps(&self) -> std::sync::MutexGuard<'_, HashMap<String, IndexedApp>> {
        self.apps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `app` exists.
    pub async fn app_known(&self, state: &AppState, app: &AppId) -> Result<bool> {
        let generation = state.cache().generation();
        if self.apps().get(app.as_str()).is_some_and(|a| a.generation == generation) {
            return Ok(true);
        }
        if state.db().app(app).await?.is_none() {
            return Ok(false);
        }
        let mut apps = self.apps();
        if apps.len() >= MAX_INDEXED_APPS {
            apps.clear();
        }
        let indexed =
            apps.entry(app.as_str().to_owned()).or_insert_with(|| IndexedApp { generation, versions: HashMap::new() });
        if indexed.generation != generation {
            *indexed = IndexedApp { generation, versions: HashMap::new() };
        }
        Ok(true)
    }

    /// The release `version` of `app` (an app [`ReleaseIndex::app_known`] found) and its channel; `None` when the
    /// app has no such release, or the release is in no channel.
    pub async fn release(&self, state: &AppState, app: &AppId, version: &str) -> Result<Option<Arc<Attributed>>> {
        let generation = state.cache().generation();
        if let Some(indexed) = self.apps().get(app.as_str())
            && indexed.generation == generation
            && let Some(found) = indexed.versions.get(version)
        {
            return Ok(found.clone());
        }
        let found = match state.db().release(app, version).await? {
            Some(release) => {
                let placements = state.db().placements(release.id).await?;
                let channel = placements.iter().max_by_key(|p| p.added_at).map(|p| p.channel.clone());
                channel.map(|channel| Arc::new(Attributed { release, channel }))
            }
            None => None,
        };
        let mut apps = self.apps();
        if let Some(indexed) = apps.get_mut(app.as_str())
            && indexed.generation == generation
        {
            if indexed.versions.len() >= MAX_INDEXED_VERSIONS {
                indexed.versions.clear();
            }
            indexed.versions.insert(version.to_owned(), found.clone());
        }
        Ok(found)
    }
}

/// Applies a release's halt rule (its own, else the app's): once at least `min_installs` installs were reported
/// since the last resume, and rollbacks plus failed installs since then exceed `max_failure_percent` of them, the
/// rollout is halted: every placement paused (never offered to new installs on either the Tauri or the signed
/// path), why and when recorded, the halt counted in `/metrics`, and `rollout.halted` enqueued for the app's webhooks
/// in the halt's transaction.
/// Idempotent: a release already halted is left alone, and of concurrent evaluations (on any replica) one halts it.
pub async fn evaluate_halt(state: &AppState, app: &AppId, release: &ReleaseRow) -> Result<bool> {
    let Some((rule, source)) = state.db().halt_rule(app, release.id).await? else {
        return Ok(false);
    };
    let halt = state.db().halt_state(release.id).await?;
    if halt.halted.is_some() {
        return Ok(false);
    }
    let totals = state.db().health_totals(app, &release.version).await?;
    let installs = totals.installed.saturating_sub(halt.base_installs);
    let failures = totals.failures().saturating_sub(halt.base_failures);
    if installs < rule.min_installs.max(1) {
        return Ok(false);
    }
    // Integer comparison: failures / installs > max / 100.
    if u128::from(failures) * 100 <= u128::from(rule.max_failure_percent) * u128::from(installs) {
        return Ok(false);
    }
    let percent = failures as f64 * 100.0 / installs as f64;
    let reason = format!(
        "{failures} of {installs} installs rolled back or failed to install ({percent:.1} %), over the {source} rule's {} % (at least {} installs)",
        rule.max_failure_percent, rule.min_installs
    );
    // The channels the halt pauses: it pauses every placement and adds or removes none.
    let channels: Vec<String> = state.db().placements(release.id).await?.into_iter().map(|p| p.channel).collect();
    let rule = HaltedBy::new(rule, source);
    let event = Event::RolloutHalted { reason: reason.clone(), installs, failures, rule, channels };
    if !state.db().halt_release(app, release.id, &reason, &event.notice(app, &release.version)).await? {
        return Ok(false);
    }
    tracing::warn!(app = %app, version = %release.version, reason, "rollout halted");
    state.metrics().rollout_halt(app.as_str());
    state.releases_changed(app, "halted");
    super::metadata::refresh(state, app).await;
    Ok(true)
}
