//! Closing idle connections without a timer per request.
//!
//! A keep-alive connection waits for its next request after every answer, and must be closed after the idle timeout
//! of silence, or at once when the server stops. Arming a timer and subscribing to the shutdown for each of those waits
//! (a timer-wheel insert and removal, a clock read, a waiter list lock and unlock) cost about 2.5 % of an update
//! check's CPU time (the server README's performance section), which is why each runtime's connections are watched by
//! one sweeper instead:
//!
//! - every connection is registered once, with its task's abort handle and a word saying "busy", "closed" or "waiting
//!   since tick `t`"; it writes that word when it starts and stops waiting for a request (a store and an exchange per
//!   request);
//! - the sweeper counts ticks, a tick every period (an eighth of the idle timeout, between 10 ms and 1 s),
//!   and aborts the tasks of connections that have waited more than the idle timeout's worth of ticks. A connection
//!   is closed after `idle` and at most `idle` plus two periods of silence (a tick is only counted when it is over);
//! - a stop ([`Sweeper::stop`]) aborts every waiting connection at once, as nginx closes its idle keep-alive
//!   connections on a graceful shutdown, and tells the busy ones, which close after their answer.
//!
//! A task is aborted only while it waits for a request with nothing of one read, so no answer is ever cut short:
//! dropping the task closes the socket as a timeout would. The sweeper claims a waiting connection by swapping its word
//! from "waiting since `t`" to "closed" before aborting it, and the connection, when its wait ends, swaps its word to
//! "busy" and closes by itself if it finds "closed": so a connection that has started on a request is never aborted,
//! on a multi-threaded runtime too ([`super::serve_on`] runs on the caller's), where the two can meet. For the same
//! reason a connection reads the stop after announcing its wait, and the stop is set before the sweep: one of the two
//! sees the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use slab::Slab;
use tokio::task::AbortHandle;

/// What a connection's word says while it serves a request (or hyper serves it).
const BUSY: u64 = u64::MAX;

/// What a connection's word says once the sweeper has claimed it to close it.
const CLOSED: u64 = u64::MAX - 1;

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
            // Waiting since tick `t` means since some time after tick `t` ended and before tick `t + 1` did (ticks
            // are at least a period apart): at tick `T`, more than `T - t - 1` periods, so at least `idle` once
            // `T - t > idle_ticks`.
            self.abort_waiting(|since| tick - since > self.idle_ticks);
        }
    }

    /// Closes every waiting connection, and makes the busy ones close after their answer.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.abort_waiting(|_| true);
    }

    /// Whether the server is stopping.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Claims and aborts the waiting connections whose tick of `since` makes `close` true.
    fn abort_waiting(&self, close: impl Fn(u64) -> bool) {
        for (_, tracked) in self.lock().iter() {
            let since = tracked.waiting_since.load(Ordering::SeqCst);
            if since < CLOSED
                && close(since)
                && tracked.waiting_since.compare_exchange(since, CLOSED, Ordering::SeqCst, Ordering::SeqCst).is_ok()
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
    /// `false` when the server is stopping: the connection is to close instead.
    pub fn waiting(&self) -> bool {
        self.waiting_since.store(self.sweeper.tick.load(Ordering::Relaxed), Ordering::SeqCst);
        if self.stopping() {
            self.busy();
            return false;
        }
        true
    }

    /// The connection is done waiting (it has bytes of a request); `false` when the sweeper has claimed it first,
    /// and it is to close.
    pub fn busy(&self) -> bool {
        self.waiting_since.swap(BUSY, Ordering::SeqCst) != CLOSED
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

    #[test]
    fn a_connection_claimed_by_the_sweeper_closes_by_itself_and_one_that_started_on_a_request_is_not_claimed() {
        let sweeper = Sweeper::new(Duration::from_secs(1));
        let waiting_since = Arc::new(AtomicU64::new(BUSY));
        let key = sweeper.lock().insert(Tracked { waiting_since: waiting_since.clone(), task: None });
        let presence = Presence { sweeper: sweeper.clone(), key, waiting_since };
        // Woken by a request before the sweep: not claimed.
        assert!(presence.waiting());
        assert!(presence.busy());
        sweeper.abort_waiting(|_| true);
        assert!(presence.busy(), "a busy connection was claimed");
        // Claimed while waiting, as when its wake-up and the sweep meet on two threads: it closes by itself.
        assert!(presence.waiting());
        sweeper.abort_waiting(|_| true);
        assert!(!presence.busy(), "a claimed connection went on to serve");
        // After a stop, a connection does not wait at all.
        sweeper.stop();
        assert!(!presence.waiting());
        assert!(presence.busy(), "a connection refused a wait was left announced as waiting");
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
