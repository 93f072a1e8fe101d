//! The writer of release-health events: every accepted event of every request goes through one queue to one task,
//! which counts them in the database in batches, one transaction per batch.
//!
//! Counting events one request at a time made each request a write transaction of its own (on SQLite: the single
//! writer's lock, a `BEGIN IMMEDIATE`, a statement per event and per counter, and an fsync of the log at commit), and
//! with sqlx's SQLite driver every statement is a round trip to the connection's thread: dozens of thread switches
//! per request, which took CPU time from the update checks served meanwhile. Here a request only validates its
//! events (from memory, see [`super::events::ReleaseIndex`]) and hands them over; the writer takes whatever
//! arrived within [`BATCH_WINDOW`] of the first submission (at most [`MAX_BATCH_EVENTS`] events), counts all of it
//! with a handful of multi-row statements in one transaction ([`crate::db::Db::add_health`]), judges the halt rule
//! of each release the batch touched, and only then answers every request of the batch. So:
//!
//! - an answer `202` still means "counted and committed": a crash loses no answered event, and the answer's
//!   `duplicates` is exact (an event id repeated within a batch, or counted by an earlier one, is a duplicate);
//! - a request waits up to [`BATCH_WINDOW`] plus the commit: the price of the batching, invisible to an app that
//!   reports in the background;
//! - the halt of a rollout is judged on the batch's counts by the writer, which no client can cancel by going away (a
//!   request whose client left is still counted; its events come again with the same ids and are answered as
//!   duplicates); the halt and its `rollout.halted` webhook deliveries commit in one transaction;
//! - at most [`MAX_QUEUED_EVENTS`] events (or [`super::events::EventLimits::max_queued`]) wait at once: beyond, a request is answered `503` with `Retry-After`, and
//!   the client keeps its events for later. A batch the database refuses is answered `503` too; nothing of it was
//!   counted, so the retry counts it once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::events::Attributed;
use super::{AppState, Inner};
use crate::db::{HealthEvent, HealthKey, ReleaseRow};
use crate::error::{Error, Result};
use crate::names::AppId;

/// How long the writer collects submissions after the first one before it writes them.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// Most events written in one transaction (the rest of the queue goes in the next one).
pub const MAX_BATCH_EVENTS: usize = 5_000;

/// Most events waiting to be written by default ([`super::events::EventLimits::max_queued`]); a request that would
/// exceed it is answered `503`.
pub const MAX_QUEUED_EVENTS: usize = 50_000;

/// The `Retry-After` of a request answered `503` because the queue was full or the batch could not be written.
const RETRY_AFTER_SECS: u64 = 5;

/// One request's accepted events.
struct Submission {
    app: AppId,
    /// Each event's id (if it has one) and counter.
    events: Vec<(Option<String>, HealthKey)>,
    /// The releases whose halt rule the batch must judge once counted.
    judged: Vec<Arc<Attributed>>,
    /// Whether each event was counted (`false`: a duplicate), or why nothing was.
    reply: oneshot::Sender<Answer>,
    /// The runtime the request waits on (an HTTP worker's), where its reply is sent from ([`answer`]).
    origin: Handle,
}

/// What a submission is answered: whether each event was counted, or why nothing was.
type Answer = Result<Vec<bool>>;

/// A submission's reply channel and its answer, to be sent.
type Reply = (oneshot::Sender<Answer>, Answer);

/// The queue's end held by the state: [`EventQueue::submit`].
#[derive(Debug)]
pub struct EventQueue {
    sender: mpsc::UnboundedSender<Submission>,
    /// Events submitted and not yet written (shared with the writer).
    queued: Arc<AtomicUsize>,
    /// Most events [`EventQueue::queued`] may hold.
    capacity: usize,
}

impl EventQueue {
    /// The queue, holding at most `capacity` events, and its writer started on the current runtime; the writer ends
    /// when the state is dropped.
    pub(super) fn start(state: &Weak<Inner>, capacity: usize) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(state.clone(), receiver, queued.clone()));
        Self { sender, queued, capacity }
    }

    /// Hands `events` of `app` to the writer and waits until they are committed; returns, for each, whether it was
    /// counted (`false`: a duplicate). `judged`: the releases whose halt rule to judge after counting.
    pub async fn submit(
        &self,
        app: &AppId,
        events: Vec<(Option<String>, HealthKey)>,
        judged: Vec<Arc<Attributed>>,
    ) -> Result<Vec<bool>> {
        let n = events.len();
        if self.queued.fetch_add(n, Ordering::SeqCst) + n > self.capacity {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(Error::Unavailable {
                what: "too many events are waiting to be counted".into(),
                retry_after: RETRY_AFTER_SECS,
            });
        }
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::Internal("the event writer stopped".into());
        let origin = Handle::current();
        if self.sender.send(Submission { app: app.clone(), events, judged, reply, origin }).is_err() {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer: collects a batch, writes it, answers it; until the state is gone.
///
/// It sleeps through the window and then takes what arrived, rather than waking for each submission: a wake-up is a
/// thread switch when the writer's runtime is idle, which is what batching saves. What a full batch leaves in the
/// queue is written next, without waiting for another window.
async fn run(state: Weak<Inner>, mut receiver: mpsc::UnboundedReceiver<Submission>, queued: Arc<AtomicUsize>) {
    let mut left = false;
    while let Some(first) = receiver.recv().await {
        if !left {
            tokio::time::sleep(BATCH_WINDOW).await;
        }
        let mut events = first.events.len();
        let mut batch = vec![first];
        while events < MAX_BATCH_EVENTS {
            let Ok(submission) = receiver.try_recv() else { break };
            events += submission.events.len();
            batch.push(submission);
        }
        left = !receiver.is_empty();
        let Some(inner) = state.upgrade() else { break };
        write(&AppState(inner), batch).await;
        queued.fetch_sub(events, Ordering::SeqCst);
    }
}

/// Counts one batch, judges the halt rules it may have tripped, and answers each submission.
async fn write(state: &AppState, batch: Vec<Submission>) {
    let rows: Vec<HealthEvent<'_>> = batch
        .iter()
        .flat_map(|s| s.events.iter().map(|(id, key)| HealthEvent { app: s.app.as_str(), id: id.as_deref(), key }))
        .collect();
    let counted = state.db().add_health(&rows, crate::db::now()).await;
    drop(rows);
    let mut fresh = match counted {
        Ok(fresh) => fresh.into_iter(),
        Err(e) => {
            tracing::error!(error = %millennium_update_admin::report::display_chain(&e), events = batch.iter().map(|s| s.events.len()).sum::<usize>(), "could not count a batch of events");
            answer(batch.into_iter().map(|submission| {
                let refused = Error::Unavailable {
                    what: "the events could not be counted".into(),
                    retry_after: RETRY_AFTER_SECS,
                };
                (submission, Err(refused))
            }));
            return;
        }
    };
    // Each release once per batch, after the batch's counts are committed.
    let judged: BTreeMap<i64, (&AppId, &ReleaseRow)> =
        batch.iter().flat_map(|s| s.judged.iter().map(move |r| (r.release.id, (&s.app, &r.release)))).collect();
    for (app, release) in judged.into_values() {
        if let Err(e) = super::events::evaluate_halt(state, app, release).await {
            tracing::error!(app = %app, version = release.version, error = %millennium_update_admin::report::display_chain(&e), "could not evaluate the halt rule");
        }
    }
    answer(batch.into_iter().map(|submission| {
        let counted: Vec<bool> = fresh.by_ref().take(submission.events.len()).collect();
        (submission, Ok(counted))
    }));
}

/// Sends each submission its answer, from one task per runtime the requests wait on, spawned there.
///
/// A reply sent from the writer's thread to a request waiting on another runtime schedules the request's task from
/// outside that runtime, which wakes its thread each time (a write to its eventfd, a system call, and the wake-up of
/// its `epoll_wait`): one per request, dozens per batch, all to the same HTTP worker or two. Sent from a task on the
/// worker, the replies are wakes within the runtime, which cost a queue push each; so a batch wakes each worker once.
fn answer(answers: impl Iterator<Item = (Submission, Answer)>) {
    // A handful of runtimes (one per HTTP worker): a list is the cheapest map.
    let mut by_runtime: Vec<(Handle, Vec<Reply>)> = Vec::new();
    for (Submission { reply, origin, .. }, answer) in answers {
        let at = match by_runtime.iter().position(|(handle, _)| handle.id() == origin.id()) {
            Some(at) => at,
            None => {
                by_runtime.push((origin, Vec::new()));
                by_runtime.len() - 1
            }
        };
        by_runtime[at].1.push((reply, answer));
    }
    for (handle, replies) in by_runtime {
        // A runtime shutting down drops the task and its replies unsent: its requests are gone with it.
        handle.spawn(async move {
            for (reply, answer) in replies {
                // The client may have gone away: its events are counted all the same.
                let _ = reply.send(answer);
            }
        });
    }
}
