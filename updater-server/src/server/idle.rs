//! Closing idle connections without a timer per request.
//!
//! A keep-alive connection waits for its next request after every answer, and must be closed after the idle timeout
//! of silence, or at once when the server stops. Arming a timer and subscribing to the shutdown for each of those waits
//! (a timer-wheel insert and removal, a clock read, a waiter list lock and unlock) cost about 2.5 % of an update
//! check's CPU time (the server README's performance section), which is why each runtime's connections are watched by
//! one sweeper instead:
//!
//! - every connection is registered once, with its task's abort handle and a word saying "busy" or "waiting since
//!   tick `t`"; it stores to that word when it starts and stops waiting for a request (two relaxed stores per request);
//! - the sweeper counts ticks, a tick every period (an eighth of the idle timeout, between 10 ms and 1 s),
//!   and aborts the tasks of connections that have waited more than the idle timeout's worth of ticks. A connection
//!   is closed after `idle` and at most `idle` plus two periods of silence (a tick is only counted when it is over);
//! - a stop ([`Sweeper::stop`]) aborts every waiting connection at once, as nginx closes its idle keep-alive
//!   connections on a graceful shutdown, and tells the busy ones, which close after their answer.
//!
//! A task is aborted only while it waits for a request with nothing of one read, so no answer is ever cut short:
//! dropping the task closes the socket as a timeout would. All of it runs on the runtime's one thread, so the sweeper
//! never sees a connection between its two stores.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use slab::Slab;
use tokio::task::AbortHandle;

/// What a connection's word says while it serves a request (or hyper serves it).
const BUSY: u64 = u64::MAX;

/// The connections of one runtime, and the ticks of their sweeper.
#[derive(Debug)]
pub(super) struct Sweeper {
    /// Ticks counted so far.
    tick: AtomicU64,
    /// Ticks a connection may wait in full before it is closed.
    idle_ticks: u64,
    /// The time between two ticks.
    period: Duration,
    stopping: AtomicBool,
    connections: Mutex<Slab<Tracked>>,
}

#[derive(Debug)]
struct Tracked {
    waiting_since: Arc<AtomicU64>,
    /// `None` for the instant between registering a connection and spawning its task.
    task: Option<AbortHandle>,
}

impl Sweeper {
    /// A sweeper closing connections idle for `idle`; [`Sweeper::run`] counts its ticks.
    pub fn new(idle: Duration) -> Arc<Self> {
        let period = (idle / 8).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let idle_ticks = idle.as_nanos().div_ceil(period.as_nanos()).try_into().unwrap_or(u64::MAX);
        Arc::new(Self {
            tick: AtomicU64::new(0),
            idle_ticks,
            period,
            stopping: AtomicBool::new(false),
            connections: Mutex::new(Slab::new()),
        })
    }

    /// Registers a connection and spawns `serve(presence)` as its task on the current runtime.
    pub fn spawn<F>(self: &Arc<Self>, serve: impl FnOnce(Presence) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let waiting_since = Arc::new(AtomicU64::new(BUSY));
        let key = self.lock().insert(Tracked { waiting_since: waiting_since.clone(), task: None });
        let presence = Presence { sweeper: self.clone(), key, waiting_since };
        // Not under the lock: a runtime that is shutting down drops the task, and with it the presence, at once.
        let task = tokio::spawn(serve(presence)).abort_handle();
        if let Some(tracked) = self.lock().get_mut(key) {
            tracked.task = Some(task);
        }
    }

    /// Counts ticks and closes the connections that waited too long, until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + self.period, self.period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let tick = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
            // Waiting since tick `t` means since some time in (t - 1, t] periods: more than `idle_ticks` full ticks
            // later, the connection has waited at least `idle`.
            self.abort_waiting(|since| tick - since > self.idle_ticks);
        }
    }

    /// Closes every waiting connection, and makes the busy ones close after their answer.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.abort_waiting(|_| true);
    }

    /// Whether the server is stopping.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn abort_waiting(&self, close: impl Fn(u64) -> bool) {
        for (_, tracked) in self.lock().iter() {
            let since = tracked.waiting_since.load(Ordering::Relaxed);
            if since != BUSY
                && close(since)
                && let Some(task) = &tracked.task
            {
                task.abort();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slab<Tracked>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection's registration with its runtime's [`Sweeper`], undone when it is dropped (the task ended or was
/// aborted).
#[derive(Debug)]
pub(super) struct Presence {
    sweeper: Arc<Sweeper>,
    key: usize,
    waiting_since: Arc<AtomicU64>,
}

impl Presence {
    /// The connection waits for its next request, with nothing of it read: the sweeper may close it from now on.
    pub fn waiting(&self) {
        self.waiting_since.store(self.sweeper.tick.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// The connection has bytes of a request, or is done waiting.
    pub fn busy(&self) {
        self.waiting_since.store(BUSY, Ordering::Relaxed);
    }

    /// Whether the server is stopping: an idle connection closes, and an answer says `connection: close`.
    pub fn stopping(&self) -> bool {
        self.sweeper.stopping()
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.sweeper.lock().try_remove(self.key);
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot::{self, error::TryRecvError};

    use super::*;

    /// A connection task that waits (as the front does, for a request that never comes) until it is aborted; its
    /// receiver is closed when the task has ended.
    fn waiting_connection(sweeper: &Arc<Sweeper>) -> oneshot::Receiver<()> {
        let (ended_tx, ended) = oneshot::channel::<()>();
        sweeper.spawn(|presence| async move {
            let _ended = ended_tx;
            presence.waiting();
            std::future::pending::<()>().await;
        });
        ended
    }

    fn ended<T>(task: &mut oneshot::Receiver<T>) -> bool {
        matches!(task.try_recv(), Err(TryRecvError::Closed))
    }

    #[tokio::test]
    async fn a_waiting_connection_is_closed_after_the_idle_time_and_not_before() {
        let sweeper = Sweeper::new(Duration::from_millis(800));
        assert_eq!(sweeper.period, Duration::from_millis(100));
        let sweeping = tokio::spawn(sweeper.clone().run());
        tokio::time::sleep(Duration::from_millis(30)).await;
        let mut connection = waiting_connection(&sweeper);
        let waiting = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(750)).await;
        assert!(!ended(&mut connection), "closed before the idle time");
        // Two periods later at most, on a machine that keeps time: a generous bound for a busy one.
        while !ended(&mut connection) {
            assert!(waiting.elapsed() < Duration::from_secs(5), "still open long after the idle time");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(waiting.elapsed() >= Duration::from_millis(800), "closed before the idle time");
        assert!(sweeper.lock().is_empty(), "the ended connection is still registered");
        sweeping.abort();
    }

    #[tokio::test]
    async fn a_busy_connection_is_left_alone_and_a_stop_closes_only_the_waiting_ones() {
        let sweeper = Sweeper::new(Duration::from_millis(80));
        let sweeping = tokio::spawn(sweeper.clone().run());
        let (answered_tx, mut answered) = oneshot::channel::<bool>();
        let (go_tx, go) = oneshot::channel::<()>();
        sweeper.spawn(|presence| async move {
            presence.waiting();
            presence.busy();
            // An answer that takes long, then the check the front makes before waiting again.
            let _ = go.await;
            let _ = answered_tx.send(presence.stopping());
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!ended(&mut answered), "a busy connection was closed as idle");
        let mut waiting = waiting_connection(&sweeper);
        tokio::time::sleep(Duration::from_millis(1)).await;
        sweeper.stop();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(ended(&mut waiting), "a stop left a waiting connection open");
        assert!(!ended(&mut answered), "a stop cut a busy connection short");
        go_tx.send(()).unwrap();
        assert_eq!(answered.await, Ok(true), "the busy connection did not see the stop");
        assert!(sweeper.lock().is_empty());
        sweeping.abort();
    }
}
