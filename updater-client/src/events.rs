//! Release-health reports: what this install tells the update server about its updates (`POST {server}/{app}/events`,
//! the format of `millennium_update_protocol::events`, `docs/protocol.md` §9).
//!
//! Opt-in with [`crate::UpdaterBuilder::report_events`] (a Millennium app's runtime turns it on; plain Tauri
//! servers have no such endpoint, so the library leaves it off). The updater produces an event where the thing
//! happens: `installed` and `install_failed` (and `webview_too_old`) in the install step, `download_failed` in the
//! download, `confirmed` in [`crate::Updater::confirm_healthy`], `rolled_back` in [`crate::Updater::startup`]. Each
//! carries the install's random id (the one checks send), the from/to versions, the target, the time and, for
//! failures, [`crate::Error::code`] — nothing personal and no free text.
//!
//! **Never in the app's way.** Producing an event only writes one small file; a failure to do so is logged, never
//! returned. Sending happens on a thread of its own (one per state directory in a process), in batches of up to
//! [`MAX_EVENTS`], and nothing about it ever becomes an updater error.
//!
//! **The queue** is the directory `events/` in the state directory, one file per event (a one-event batch in the wire
//! format), written atomically (temp file + rename), named so that names sort oldest first. It is capped in count and
//! bytes ([`QueueLimits`]); past a cap the oldest events are dropped. A file that does not parse (a crash mid-way on a
//! filesystem without atomic rename, a disk error, a hand edit) is deleted with a warning. The queue survives
//! restarts: an updater built on a state directory with queued events starts sending them.
//!
//! **Delivery**: `2xx` — delivered, deleted. `429` and `5xx`, or no answer — kept, retried after a backoff that
//! doubles from [`Backoff::initial`] up to [`Backoff::max`] (a `Retry-After` in seconds is honoured within that
//! maximum). Any other `4xx` — the server refuses the batch for good (malformed, unknown app): deleted with a
//! warning, so a bad event cannot block the queue forever.
//!
//! **Counted once.** Each event gets a random id when it is produced (128 bits, in its queued file), and every attempt
//! to send it carries that id: a batch whose answer was lost (a cut connection, a process that exited or crashed
//! mid-request, two processes of one app sending the same queue) is sent again, and the server, which ignores ids it
//! already counted within its window, counts each event once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use millennium_update_protocol::events::{Event, EventBatch, EventKind, MAX_EVENTS};
use millennium_update_protocol::{Target, Version};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};

/// Caps of the on-disk queue; past either, the oldest events are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most queued events (default 1000).
    pub max_events: usize,
    /// Most bytes of queued events (default 256 KiB; an event is about 200 bytes).
    pub max_bytes: u64,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self { max_events: 1000, max_bytes: 256 * 1024 }
    }
}

/// Waits between failed deliveries: `initial`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait (default 5 s).
    pub initial: Duration,
    /// The longest wait (default 1 hour).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_secs(5), max: Duration::from_secs(3600) }
    }
}

/// Where and how one updater sends its events.
#[derive(Debug, Clone)]
struct Delivery {
    url: url::Url,
    client: reqwest::Client,
    headers: HeaderMap,
    backoff: Backoff,
    timeout: Duration,
}

/// The queue of one state directory and its sending thread.
#[derive(Debug)]
struct Outbox {
    dir: PathBuf,
    limits: Mutex<QueueLimits>,
    /// The newest updater's delivery settings (a later `build` on the same state directory replaces them).
    delivery: Mutex<Delivery>,
    /// Set when events were queued or settings changed; the thread waits on it when the queue is empty.
    wake: (Mutex<bool>, Condvar),
}

/// The event producer an updater holds when reporting is on.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    outbox: Arc<Outbox>,
    install_id: String,
    target: Target,
}

/// Set when this process is about to end (an install at exit, a relaunch): events are then left on disk for the next
/// start instead of being sent from a process about to go away. (A request cut off by the exit may still have reached
/// the server; the event's id keeps it from being counted twice when the next start sends it again.)
static SUSPENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops sending for the rest of this process (see [`SUSPENDED`]); what is queued stays on disk.
pub(crate) fn suspend_sending() {
    SUSPENDED.store(true, Ordering::SeqCst);
}

/// Undoes [`suspend_sending`] (a relaunch that failed: this process goes on).
pub(crate) fn resume_sending() {
    SUSPENDED.store(false, Ordering::SeqCst);
    for outbox in lock(outboxes()).values() {
        outbox.notify();
    }
}

/// One outbox (and one thread) per state directory in this process.
fn outboxes() -> &'static Mutex<HashMap<PathBuf, Arc<Outbox>>> {
    static OUTBOXES: OnceLock<Mutex<HashMap<PathBuf, Arc<Outbox>>>> = OnceLock::new();
    OUTBOXES.get_or_init(Default::default)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Settings from the builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: url::Url,
    pub(crate) client: reqwest::Client,
    pub(crate) headers: HeaderMap,
    pub(crate) limits: QueueLimits,
    pub(crate) backoff: Backoff,
    pub(crate) timeout: Duration,
}

impl Reporter {
    /// The reporter for `state_dir`; starts its sending thread (which first sends what earlier runs queued).
    pub(crate) fn start(state_dir: &Path, settings: Settings, install_id: String, target: Target) -> Self {
        let delivery = Delivery {
            url: settings.url,
            client: settings.client,
            headers: settings.headers,
            backoff: settings.backoff,
            timeout: settings.timeout,
        };
        let dir = state_dir.join("events");
        let mut all = lock(outboxes());
        let outbox = match all.get(&dir) {
            Some(outbox) => {
                *lock(&outbox.delivery) = delivery;
                *lock(&outbox.limits) = settings.limits;
                outbox.clone()
            }
            None => {
                let outbox = Arc::new(Outbox {
                    dir: dir.clone(),
                    limits: Mutex::new(settings.limits),
                    delivery: Mutex::new(delivery),
                    wake: (Mutex::new(true), Condvar::new()),
                });
                let sender = outbox.clone();
                let spawned =
                    std::thread::Builder::new().name("millennium-updater-events".into()).spawn(move || sender.run());
                if let Err(error) = spawned {
                    tracing::warn!(%error, "could not start sending release-health events; they stay queued");
                }
                all.insert(dir, outbox.clone());
                outbox
            }
        };
        drop(all);
        outbox.notify();
        Self { outbox, install_id, target }
    }

    /// Queues an event (never fails: a problem is logged).
    pub(crate) fn report(&self, kind: EventKind, from: Option<&Version>, to: &Version, error: Option<&crate::Error>) {
        let event = Event {
            id: new_event_id(),
            kind,
            install_id: self.install_id.clone(),
            from: from.cloned(),
            to: to.clone(),
            target: self.target,
            error: error.map(|e| e.code().to_owned()),
            at: SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs()),
        };
        tracing::debug!(kind = %kind, %to, "release-health event queued");
        if let Err(reason) = self.outbox.enqueue(&event) {
            tracing::warn!(kind = %kind, %reason, dir = %self.outbox.dir.display(), "could not queue a release-health event");
        }
        self.outbox.notify();
    }

    /// Waits until every queued event was sent (delivered, or refused for good) or `timeout` passed; whether the
    /// queue is empty. For a short-lived process (a CLI, an installer step) that would otherwise exit before the
    /// sending thread had its turn; an app that keeps running never needs it. Returns `false` at once when sending is
    /// suspended (this process is about to be replaced).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.outbox.list().is_empty() {
                return true;
            }
            if SUSPENDED.load(Ordering::SeqCst) || std::time::Instant::now() >= deadline {
                return false;
            }
            // Polled: a send takes a round trip at least, so a few milliseconds of latency here cost nothing.
            std::thread::sleep(FLUSH_POLL);
        }
    }

    /// [`Reporter::report`] with versions given as text (from the rollback record); unparsable ones are left out.
    pub(crate) fn report_text(&self, kind: EventKind, from: &str, to: &str) {
        let Ok(to) = Version::parse(to) else { return };
        self.report(kind, Version::parse(from).ok().as_ref(), &to, None);
    }
}

/// A fresh event id: 128 random bits in hex. It goes into the queued file with the event, so every attempt to send
/// the event carries the same id and the server counts it once. `None` (the event is still sent, without dedup) only
/// when the system has no randomness to give.
fn new_event_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => Some(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        Err(error) => {
            tracing::warn!(%error, "no randomness for a release-health event id; the event is sent without one");
            None
        }
    }
}

/// How often [`Reporter::flush`] looks at the queue.
const FLUSH_POLL: Duration = Duration::from_millis(10);

/// A queued event file: its path and size.
struct Queued {
    path: PathBuf,
    len: u64,
}

impl Outbox {
    fn notify(&self) {
        *lock(&self.wake.0) = true;
        self.wake.1.notify_all();
    }

    /// Writes `event` as a new file of the queue, then enforces the caps.
    fn enqueue(&self, event: &Event) -> Result<(), String> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let body = EventBatch { events: vec![event.clone()] }.to_json().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        // Sorting by name is sorting by age: time, then this process's counter, then the process.
        let name = format!("{nanos:024}-{sequence:08}-{}.json", std::process::id());
        crate::fs::write_atomic(&self.dir.join(name), body.as_bytes()).map_err(|e| e.to_string())?;
        self.enforce_limits();
        Ok(())
    }

    /// The queued files, oldest first (temp files of unfinished writes are not events).
    fn list(&self) -> Vec<Queued> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<Queued> = entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with(".json") && !name.starts_with('.')
            })
            .filter_map(|e| Some(Queued { path: e.path(), len: e.metadata().ok()?.len() }))
            .collect();
        files.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
        files
    }

    fn enforce_limits(&self) {
        let limits = *lock(&self.limits);
        let files = self.list();
        let mut count = files.len();
        let mut bytes: u64 = files.iter().map(|f| f.len).sum();
        let mut dropped = 0usize;
        for file in &files {
            if count <= limits.max_events && bytes <= limits.max_bytes {
                break;
            }
            if std::fs::remove_file(&file.path).is_ok() {
                dropped += 1;
            }
            count -= 1;
            bytes = bytes.saturating_sub(file.len);
        }
        if dropped > 0 {
            tracing::warn!(
                dropped,
                max_events = limits.max_events,
                max_bytes = limits.max_bytes,
                "release-health event queue full: the oldest events were dropped"
            );
        }
    }

    /// Up to [`MAX_EVENTS`] oldest events; files that do not parse are deleted with a warning.
    fn oldest_batch(&self) -> Vec<(PathBuf, Event)> {
        let mut batch = Vec::new();
        for file in self.list() {
            if batch.len() == MAX_EVENTS {
                break;
            }
            let parsed = std::fs::read(&file.path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| EventBatch::parse(&bytes).map_err(|e| e.to_string()));
            match parsed {
                Ok(queued) => batch.extend(queued.events.into_iter().map(|e| (file.path.clone(), e))),
                Err(reason) => {
                    tracing::warn!(path = %file.path.display(), %reason, "discarding a corrupt queued release-health event");
                    let _ = std::fs::remove_file(&file.path);
                }
            }
        }
        batch.truncate(MAX_EVENTS);
        batch
    }

    /// The sending loop (the thread's body; it lives as long as the process).
    fn run(self: Arc<Self>) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::warn!(%error, "could not start sending release-health events; they stay queued");
                return;
            }
        };
        let mut failures: u32 = 0;
        loop {
            let batch = if SUSPENDED.load(Ordering::SeqCst) { Vec::new() } else { self.oldest_batch() };
            if batch.is_empty() {
                let mut woken = lock(&self.wake.0);
                while !*woken {
                    woken = self.wake.1.wait(woken).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                *woken = false;
                continue;
            }
            let delivery = lock(&self.delivery).clone();
            if SUSPENDED.load(Ordering::SeqCst) {
                continue;
            }
            let events: Vec<Event> = batch.iter().map(|(_, e)| e.clone()).collect();
            let files: Vec<&PathBuf> = {
                let mut files: Vec<&PathBuf> = batch.iter().map(|(p, _)| p).collect();
                files.dedup();
                files
            };
            match runtime.block_on(send(&delivery, EventBatch { events })) {
                Outcome::Delivered => {
                    failures = 0;
                    tracing::debug!(events = batch.len(), "release-health events delivered");
                    files.iter().for_each(|p| drop(std::fs::remove_file(p)));
                }
                Outcome::Refused(status) => {
                    failures = 0;
                    tracing::warn!(status, events = batch.len(), url = %delivery.url, "the server refused release-health events; they are dropped");
                    files.iter().for_each(|p| drop(std::fs::remove_file(p)));
                }
                Outcome::Retry { reason, after } => {
                    let wait = backoff_wait(&delivery.backoff, failures, after);
                    failures = failures.saturating_add(1);
                    tracing::info!(%reason, wait_ms = wait.as_millis() as u64, "release-health events not delivered; retrying later");
                    self.sleep_unless_reconfigured(wait);
                }
            }
        }
    }

    /// Sleeps `wait`, cut short only by a new configuration (a new updater on this state directory), not by new
    /// events: those wait for the backoff like the ones already queued.
    fn sleep_unless_reconfigured(&self, wait: Duration) {
        let before = lock(&self.delivery).url.clone();
        let deadline = std::time::Instant::now() + wait;
        let mut woken = lock(&self.wake.0);
        loop {
            let now = std::time::Instant::now();
            if now >= deadline {
                return;
            }
            woken =
                self.wake.1.wait_timeout(woken, deadline - now).unwrap_or_else(std::sync::PoisonError::into_inner).0;
            if *woken && lock(&self.delivery).url != before {
                return;
            }
            *woken = false;
        }
    }
}

/// The wait before the next attempt after `failures` earlier failures in a row; `after` is the server's Retry-After.
pub(crate) fn backoff_wait(backoff: &Backoff, failures: u32, after: Option<Duration>) -> Duration {
    let doubled = backoff.initial.saturating_mul(1u32 << failures.min(20));
    let wait = doubled.max(after.unwrap_or_default());
    wait.min(backoff.max)
}

enum Outcome {
    Delivered,
    Refused(u16),
    Retry { reason: String, after: Option<Duration> },
}

async fn send(delivery: &Delivery, batch: EventBatch) -> Outcome {
    let body = match batch.to_json() {
        Ok(body) => body,
        // Every queued event was serialised by the same code, so this cannot happen; dropping the batch beats
        // blocking the queue behind it.
        Err(error) => {
            tracing::warn!(%error, "queued release-health events do not serialise");
            return Outcome::Refused(0);
        }
    };
    let request = delivery
        .client
        .post(delivery.url.clone())
        .headers(delivery.headers.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .timeout(delivery.timeout)
        .body(body);
    match request.send().await {
        Err(error) => Outcome::Retry { reason: crate::error::chain(&error), after: None },
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Outcome::Delivered
            } else if status.as_u16() == 429 || status.is_server_error() {
                let after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Outcome::Retry { reason: format!("HTTP {}", status.as_u16()), after }
            } else {
                Outcome::Refused(status.as_u16())
            }
        }
    }
}

/// The events URL for an updater's endpoints: `{server}/{app}/events`, from the part of the first Tauri endpoint
/// template before its first placeholder segment (`https://u.example.com/hello/{{target}}/…` →
/// `https://u.example.com/hello/events`), or from a metadata base `{server}/metadata/{app}`. `None` when neither has
/// that shape (the app then names it with `report_events_to`).
pub(crate) fn derive_url(endpoints: &[String], metadata: Option<&url::Url>) -> Option<url::Url> {
    if let Some(first) = endpoints.first() {
        let lower = first.to_ascii_lowercase();
        let placeholder = [lower.find("{{"), lower.find("%7b%7b")].into_iter().flatten().min();
        let base = match placeholder {
            Some(at) => first[..at].rsplit_once('/').map(|(base, _)| base)?,
            // A static `…/{app}/{channel}/latest.json`.
            None => first.strip_suffix("/latest.json")?.rsplit_once('/').map(|(base, _)| base)?,
        };
        return url::Url::parse(&format!("{base}/events")).ok();
    }
    let metadata = metadata?;
    let path = metadata.path().trim_end_matches('/');
    let (prefix, app) = path.rsplit_once('/')?;
    let server = prefix.strip_suffix("/metadata")?;
    let mut url = metadata.clone();
    url.set_path(&format!("{server}/{app}/events"));
    url.set_query(None);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_url_comes_from_the_endpoint_or_the_metadata_base() {
        let url = |e: &str| derive_url(&[e.to_owned()], None).map(|u| u.to_string());
        assert_eq!(
            url("https://u.example.com/hello/{{target}}/{{arch}}/{{current_version}}").as_deref(),
            Some("https://u.example.com/hello/events")
        );
        assert_eq!(
            url("https://u.example.com/updates/hello/%7B%7Btarget%7D%7D/x").as_deref(),
            Some("https://u.example.com/updates/hello/events")
        );
        assert_eq!(
            url("https://u.example.com/hello/stable/latest.json").as_deref(),
            Some("https://u.example.com/hello/events")
        );
        assert_eq!(url("https://u.example.com/update.json"), None);
        let metadata = url::Url::parse("https://u.example.com/metadata/hello").unwrap();
        assert_eq!(
            derive_url(&[], Some(&metadata)).map(|u| u.to_string()).as_deref(),
            Some("https://u.example.com/hello/events")
        );
    }

    #[test]
    fn the_backoff_doubles_up_to_its_maximum_and_honours_retry_after() {
        let backoff = Backoff { initial: Duration::from_secs(5), max: Duration::from_secs(3600) };
        let waits: Vec<u64> = (0..4).map(|n| backoff_wait(&backoff, n, None).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40]);
        assert_eq!(backoff_wait(&backoff, 30, None), Duration::from_secs(3600));
        assert_eq!(backoff_wait(&backoff, 0, Some(Duration::from_secs(120))), Duration::from_secs(120));
        assert_eq!(backoff_wait(&backoff, 0, Some(Duration::from_secs(86_400))), Duration::from_secs(3600));
    }
}
