//! The runtime's own update checks in the background ([`UpdateChecks`], set with `Builder::update_checks`).
//!
//! A thread of its own (never the event loop's) sleeps until the next check is due, asks the server, tells the page
//! (`millennium:updater.available`) and, with [`UpdateChecks::install_on_exit`], downloads and verifies the update and
//! schedules it for the app's exit (`millennium:updater.ready`), where the runtime installs it once the windows are
//! gone. The time of the last check is kept in the updater's state directory (`last-update-check`, Unix seconds), so
//! an app started many times a day still checks once per interval; each wait gets a random jitter so that installs
//! started together (a fleet rebooted at 9:00) do not all ask at once.
//!
//!
//! A check that is due while the machine runs on battery or on a metered connection (as far as the system says: see
//! `conditions.rs`; Linux only so far) waits: it is tried again every [`HELD_RETRY`] until the condition is gone,
//! unless the app allows it ([`UpdateChecks::on_battery`], [`UpdateChecks::on_metered`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::conditions::Conditions;
use super::{Offered, UpdaterApi, lock};
use crate::{AppHandle, Report};

/// The broker a background check publishes an update it found on: `{ version, notes, date, size }`, as
/// `Millennium.updater.check()` answers. `Millennium.updater.install()` then installs it.
pub const AVAILABLE_BROKER: &str = "millennium:updater.available";
/// The broker told `{ version }` once an update is downloaded, verified and scheduled for the app's exit.
pub const READY_BROKER: &str = "millennium:updater.ready";
/// The file in the updater's state directory holding the time of the last background check.
pub const LAST_CHECK_FILE: &str = "last-update-check";
/// How soon a check held back by battery power or a metered connection is tried again.
pub const HELD_RETRY: Duration = Duration::from_secs(15 * 60);

/// When the runtime checks for updates by itself. On by default once an app has an updater (`Builder::updater`):
/// first 60 s after start (unless the last check, of any launch, was less than an interval ago), then every 6 hours,
/// each wait plus a random jitter of up to 30 minutes; found updates are announced to the page, not installed. A due
/// check waits while the machine is on battery or on a metered connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateChecks {
    pub(crate) enabled: bool,
    pub(crate) first_delay: Duration,
    pub(crate) interval: Duration,
    pub(crate) jitter: Duration,
    pub(crate) install_on_exit: bool,
    pub(crate) on_battery: bool,
    pub(crate) on_metered: bool,
}

impl Default for UpdateChecks {
    fn default() -> Self {
        Self {
            enabled: true,
            first_delay: Duration::from_secs(60),
            interval: Duration::from_secs(6 * 3600),
            jitter: Duration::from_secs(30 * 60),
            install_on_exit: false,
            on_battery: false,
            on_metered: false,
        }
    }
}

impl UpdateChecks {
    /// The defaults (see [`UpdateChecks`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// No background checks: the page checks when it wants to (`Millennium.updater.check()`).
    pub fn off() -> Self {
        Self { enabled: false, ..Self::default() }
    }

    /// How long after start the first check waits at least (default 60 s), so start-up is not slowed.
    pub fn first_delay(mut self, delay: Duration) -> Self {
        self.first_delay = delay;
        self
    }

    /// The time between checks (default 6 hours), across launches.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The most random time added to each wait (default 30 minutes; zero for none).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Also download and verify a found update in the background and install it when the app quits (after its
    /// windows are closed), so the user is never interrupted: the next start runs the new version (default off).
    pub fn install_on_exit(mut self, on: bool) -> Self {
        self.install_on_exit = on;
        self
    }

    /// Whether checks (and their downloads) also run while the machine is on battery (default no: they wait for
    /// mains power).
    pub fn on_battery(mut self, allowed: bool) -> Self {
        self.on_battery = allowed;
        self
    }

    /// Whether checks (and their downloads) also run on a metered connection, such as a phone's hotspot (default no).
    pub fn on_metered(mut self, allowed: bool) -> Self {
        self.on_metered = allowed;
        self
    }
}

/// Why a due check waits now, if it does.
pub(crate) fn held_back(checks: &UpdateChecks, now: Conditions) -> Option<&'static str> {
    if now.on_battery == Some(true) && !checks.on_battery {
        Some("the machine is on battery")
    } else if now.metered == Some(true) && !checks.on_metered {
        Some("the connection is metered")
    } else {
        None
    }
}

/// How long to wait before the first check: at least `first_delay`, and until an interval after the last check.
/// A last check in the future (the clock was set back) counts as none.
pub(crate) fn first_wait(checks: &UpdateChecks, last: Option<SystemTime>, now: SystemTime) -> Duration {
    let until_due = last
        .filter(|last| *last <= now)
        .and_then(|last| (last + checks.interval).duration_since(now).ok())
        .unwrap_or_default();
    until_due.max(checks.first_delay)
}

/// A uniformly random duration in `0..=max` (millisecond steps).
pub(crate) fn random_jitter(max: Duration) -> Duration {
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    // Without randomness the checks are merely less spread out.
    if getrandom::fill(&mut bytes).is_err() {
        return Duration::ZERO;
    }
    Duration::from_millis(u64::from_le_bytes(bytes) % (millis.saturating_add(1)).max(1))
}

/// The time of the last check recorded in `state_dir`; unreadable or corrupt means none (a warning, not an error).
pub(crate) fn read_last_check(state_dir: &Path) -> Option<SystemTime> {
    let path = state_dir.join(LAST_CHECK_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(secs) => Some(UNIX_EPOCH + Duration::from_secs(secs)),
            Err(_) => {
                tracing::warn!(path = %path.display(), "the time of the last update check is corrupt; checking soon");
                None
            }
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the time of the last update check");
            None
        }
    }
}

/// Records `when` as the last check, atomically (a temp file renamed over the old one).
pub(crate) fn write_last_check(state_dir: &Path, when: SystemTime) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let secs = when.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let path = state_dir.join(LAST_CHECK_FILE);
    let temp: PathBuf = state_dir.join(format!(".{LAST_CHECK_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&temp, format!("{secs}\n"))?;
    std::fs::rename(&temp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Starts the checking thread. It ends when `stop`'s sender is dropped (at exit), or at once when checks are off.
pub(crate) fn spawn(api: Arc<UpdaterApi>, checks: UpdateChecks, app: AppHandle, stop: Receiver<()>) {
    if !checks.enabled {
        tracing::debug!("background update checks are off");
        return;
    }
    let spawned = std::thread::Builder::new().name("millennium-update-checks".into()).spawn(move || {
        let state_dir = api.updater.as_async().state_dir().to_owned();
        let last = read_last_check(&state_dir);
        let mut wait = first_wait(&checks, last, SystemTime::now()) + random_jitter(checks.jitter);
        tracing::info!(wait_ms = wait.as_millis() as u64, recent = last.is_some(), "next background update check");
        loop {
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                // The app is exiting.
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
            if let Some(reason) = held_back(&checks, Conditions::current()) {
                tracing::info!(reason, retry_s = HELD_RETRY.as_secs(), "background update check postponed");
                wait = HELD_RETRY;
                continue;
            }
            check_once(&api, &checks, &app, &state_dir);
            wait = checks.interval + random_jitter(checks.jitter);
        }
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not start the background update checks");
    }
}

/// One check; failures are logged and the next check comes an interval later.
fn check_once(api: &UpdaterApi, checks: &UpdateChecks, app: &AppHandle, state_dir: &Path) {
    let found = match api.updater.check() {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(error = %Report::new(&error), "background update check failed");
            return;
        }
    };
    if let Err(error) = write_last_check(state_dir, SystemTime::now()) {
        tracing::warn!(%error, dir = %state_dir.display(), "cannot record the time of the update check");
    }
    let Some(update) = found else {
        tracing::info!("background update check: up to date");
        return;
    };
    let version = update.version().to_string();
    tracing::info!(%version, "background update check: update available");
    if let Err(error) = app.emit(AVAILABLE_BROKER, Offered::of(&update)) {
        tracing::debug!(%error, "could not announce the update to the page");
    }
    *lock(&api.offered) = Some(update.clone());
    if !checks.install_on_exit || lock(&api.scheduled).as_deref() == Some(version.as_str()) {
        return;
    }
    match update.download(|_| {}) {
        Ok(downloaded) => {
            downloaded.install_on_exit();
            *lock(&api.scheduled) = Some(version.clone());
            tracing::info!(%version, "update downloaded and verified; it is installed when the app exits");
            if let Err(error) = app.emit(READY_BROKER, serde_json::json!({ "version": version })) {
                tracing::debug!(%error, "could not tell the page the update is ready");
            }
        }
        Err(error) => tracing::warn!(error = %Report::new(&error), "background update download failed"),
    }
}

/// The version scheduled for exit by this process, if any.
pub(crate) type Scheduled = Mutex<Option<String>>;

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_first_check_waits_for_the_first_delay_and_for_an_interval_since_the_last_check() {
        let checks = UpdateChecks::new().first_delay(Duration::from_secs(60)).interval(6 * HOUR);
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        // Never checked, or checked long ago: after the first delay.
        assert_eq!(first_wait(&checks, None, now), Duration::from_secs(60));
        assert_eq!(first_wait(&checks, Some(now - 7 * HOUR), now), Duration::from_secs(60));
        // Checked an hour ago (by an earlier launch): skipped until the interval is over.
        assert_eq!(first_wait(&checks, Some(now - HOUR), now), 5 * HOUR);
        // Due in 10 s: still not before the first delay.
        assert_eq!(first_wait(&checks, Some(now - 6 * HOUR + Duration::from_secs(10)), now), Duration::from_secs(60));
        // A last check in the future (clock set back): as if none.
        assert_eq!(first_wait(&checks, Some(now + HOUR), now), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_its_bound_and_varies() {
        assert_eq!(random_jitter(Duration::ZERO), Duration::ZERO);
        let max = Duration::from_secs(1800);
        let draws: Vec<Duration> = (0..200).map(|_| random_jitter(max)).collect();
        assert!(draws.iter().all(|d| *d <= max));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 150, "{} distinct of 200", distinct.len());
    }

    #[test]
    fn the_last_check_survives_in_the_state_dir_and_a_corrupt_record_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(read_last_check(&state), None);
        let when = UNIX_EPOCH + Duration::from_secs(1_800_000_123);
        write_last_check(&state, when).unwrap();
        assert_eq!(read_last_check(&state), Some(when));
        assert_eq!(std::fs::read_dir(&state).unwrap().count(), 1, "no temp file left");
        std::fs::write(state.join(LAST_CHECK_FILE), "yesterday").unwrap();
        assert_eq!(read_last_check(&state), None);
    }

    #[test]
    fn a_due_check_waits_on_battery_and_on_metered_connections_unless_allowed() {
        let defaults = UpdateChecks::new();
        let at = |on_battery, metered| Conditions { on_battery, metered };
        assert_eq!(held_back(&defaults, at(None, None)), None, "unknown never holds a check");
        assert_eq!(held_back(&defaults, at(Some(false), Some(false))), None);
        assert_eq!(held_back(&defaults, at(Some(true), None)), Some("the machine is on battery"));
        assert_eq!(held_back(&defaults, at(Some(false), Some(true))), Some("the connection is metered"));
        let allowed = UpdateChecks::new().on_battery(true).on_metered(true);
        assert_eq!(held_back(&allowed, at(Some(true), Some(true))), None);
        assert_eq!(
            held_back(&UpdateChecks::new().on_battery(true), at(Some(true), Some(true))),
            Some("the connection is metered")
        );
    }

    #[test]
    fn checks_are_on_by_default_and_can_be_turned_off() {
        assert!(UpdateChecks::default().enabled);
        assert!(!UpdateChecks::default().install_on_exit);
        assert!(!UpdateChecks::off().enabled);
    }
}
