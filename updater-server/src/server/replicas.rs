//! What lets several replicas share one PostgreSQL database and one object store: cache invalidation by
//! `LISTEN/NOTIFY`, and orphan collection, freshness re-signing, the delta job and webhook deliveries as singleton
//! jobs on the leader
//! ([`crate::leader`]).
//!
//! Every change to releases commits a `NOTIFY` on [`crate::db::RELEASES_CHANNEL`] in its own transaction; each
//! replica listens and drops its cached update answers on every notification, so a publish on one replica is served
//! by all of them as soon as the notification arrives (milliseconds). If the listening connection drops, the cache
//! is dropped too (notifications may have been missed) and the listener reconnects.

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::AppState;
use crate::db::RELEASES_CHANNEL;
use crate::leader::{self, Schedule};

/// How often each replica stores its adoption counts.
pub const ADOPTION_FLUSH: std::time::Duration = std::time::Duration::from_secs(60);

/// The name of the orphan collection job.
pub const GC_JOB: &str = "orphan-gc";

/// The name of the job that compacts old hourly release-health counters into daily ones and forgets old event ids.
pub const HEALTH_JOB: &str = "health-compaction";

/// How often the health job runs.
pub const HEALTH_JOB_INTERVAL: Duration = Duration::from_secs(3600);

/// The name of the job that re-signs freshness documents before they expire.
pub const FRESHNESS_JOB: &str = "freshness";

/// Starts the background tasks this state's storage needs; abort them at shutdown.
pub fn start(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(pool) = state.db().postgres().cloned() {
        let listener_state = state.clone();
        tasks.push(tokio::spawn(async move { listen(listener_state, pool).await }));
    }
    // Every server runs it (with SQLite the only process leads): a freshness document must never lapse.
    let lifetime = state.config().freshness_lifetime;
    let interval = (lifetime / 8).clamp(Duration::from_millis(250), Duration::from_secs(900));
    let job_state = state.clone();
    tasks.push(leader::spawn_singleton(
        state.db().clone(),
        FRESHNESS_JOB,
        Schedule { interval, standby_poll: interval.min(Duration::from_secs(15)) },
        state.metrics().leader_flag(FRESHNESS_JOB),
        move || {
            let state = job_state.clone();
            async move { super::metadata::resign_due(&state).await }
        },
    ));
    // Deltas are made once, by the leader; `run` waits for a publish or the poll interval itself.
    let job_state = state.clone();
    tasks.push(leader::spawn_singleton(
        state.db().clone(),
        super::deltas::DELTA_JOB,
        Schedule { interval: Duration::ZERO, standby_poll: state.config().deltas.poll.max(Duration::from_secs(1)) },
        state.metrics().leader_flag(super::deltas::DELTA_JOB),
        move || {
            let state = job_state.clone();
            async move { super::deltas::run(&state).await }
        },
    ));
    // Every replica adds its own adoption counts (update checks per version) to the database.
    let adoption_state = state.clone();
    tasks.push(tokio::spawn(async move {
        let mut interval = tokio::time::interval(ADOPTION_FLUSH);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = crate::adoption::flush(&adoption_state).await {
                tracing::warn!(error = %e, "could not store adoption counts");
            }
        }
    }));
    // Release-health storage stays bounded: old hours become days, old event ids are forgotten.
    let job_state = state.clone();
    tasks.push(leader::spawn_singleton(
        state.db().clone(),
        HEALTH_JOB,
        Schedule { interval: HEALTH_JOB_INTERVAL, standby_poll: Duration::from_secs(15) },
        state.metrics().leader_flag(HEALTH_JOB),
        move || {
            let state = job_state.clone();
            async move { compact_health(&state).await }
        },
    ));
    // Webhook deliveries: on one replica only, so none is sent twice.
    match crate::webhooks::client(&state.config().webhooks) {
        Ok(http) => {
            let poll = state.config().webhooks.poll;
            let job_state = state.clone();
            tasks.push(leader::spawn_singleton(
                state.db().clone(),
                crate::webhooks::JOB,
                Schedule { interval: poll, standby_poll: poll.max(Duration::from_secs(5)) },
                state.metrics().leader_flag(crate::webhooks::JOB),
                move || {
                    let state = job_state.clone();
                    let http = http.clone();
                    async move { crate::webhooks::deliver_due(&state, &http).await }
                },
            ));
        }
        Err(e) => tracing::error!(error = %e, "webhooks will not be delivered"),
    }
    if state.blobs().is_object_store() {
        let gc = state.config().gc;
        let job_state = state.clone();
        let schedule = Schedule { interval: gc.interval, standby_poll: gc.interval.min(Duration::from_secs(15)) };
        tasks.push(leader::spawn_singleton(
            state.db().clone(),
            GC_JOB,
            schedule,
            state.metrics().leader_flag(GC_JOB),
            move || {
                let state = job_state.clone();
                async move {
                    let db = state.db().clone();
                    let removed = state.blobs().collect_garbage(|| db.referenced_blobs(), gc.grace).await?;
                    if removed > 0 {
                        tracing::warn!(removed, "removed uploads left by an interrupted publish");
                    }
                    Ok(())
                }
            },
        ));
    }
    tasks
}

/// One run of the health job.
pub async fn compact_health(state: &AppState) -> crate::error::Result<()> {
    let now = crate::db::now();
    let age = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let before = now.saturating_sub(age(state.config().health_compact_after));
    let ids_before = now.saturating_sub(age(super::events::EVENT_ID_WINDOW));
    let compacted = state.db().compact_health(before, ids_before).await?;
    if compacted > 0 {
        tracing::info!(rows = compacted, "hourly release-health counters compacted into days");
    }
    Ok(())
}

async fn listen(state: AppState, pool: sqlx::PgPool) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "could not connect to listen for release changes; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(RELEASES_CHANNEL).await {
            tracing::warn!(error = %e, "could not listen for release changes; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything may have changed while not listening.
        state.cache().invalidate();
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    tracing::debug!(app = notification.payload(), "releases changed on a replica");
                    state.cache().invalidate();
                }
                // The connection was lost and will be re-established: notifications may have been missed.
                Ok(None) => state.cache().invalidate(),
                Err(e) => {
                    tracing::warn!(error = %e, "listening for release changes failed; reconnecting");
                    state.cache().invalidate();
                    break;
                }
            }
        }
    }
}
