//! Prometheus metrics, written in the text exposition format by hand (a few counters do not need a metrics crate).
//!
//! | metric | labels |
//! |---|---|
//! | `millennium_http_requests_total` | `route` (the router's pattern, `unmatched` otherwise), `method`, `status` |
//! | `millennium_update_checks_total` | `app`, `channel`, `version` (the client's current version), `target`, `result` |
//! | `millennium_update_check_webviews_total` | `app`, `channel`, `backend`, `webview` (`ok`, `too_old`, `missing`, `unknown`; see `server::updates::webview_status`) |
//! | `millennium_download_bytes_total` | `app` |
//! | `millennium_release_events_total` | `app`, `event` (`published`, `publish_refused`, `promoted`, `rollout`, `yanked`, `unyanked`) |
//! | `millennium_freshness_signings_total` | `app`, `result` (`signed`, `failed`: the online key could not be opened): each time a freshness document was due and the key was opened |
//! | `millennium_client_events_total` | `app` (`_unknown` for an app that does not exist), `kind` (an event kind, or `_invalid` for a batch that does not parse, or `_batch` for a batch refused as a whole), `result` (`accepted`, `unknown_version`, `rate_limited`, `unknown_app`, `invalid`, `too_large`): release-health events of `POST /{app}/events` |
//! | `millennium_rollout_halts_total` | `app`: rollouts the server halted by itself (a halt rule was exceeded) |
//! | `millennium_webhook_deliveries_total` | `app`, `result` (`delivered`, `pending`: failed and will be retried, `failed`: gave up) |
//! | `millennium_leader` (gauge) | `job`: 1 while this replica runs that singleton job ([`crate::leader`]) |
//! | `millennium_answer_cache_entries` (gauge), `millennium_answer_cache_loads_total`, `millennium_answer_cache_overflows_total` | none: the update answers held in memory, read from the database, and how often the cache started over (`server::updates::AnswerCache`) |
//!
//! Label values partly come from clients (a current version can be anything that parses, a request method anything
//! hyper accepts), so they are bounded three ways, and memory and the size of `/metrics` stay bounded whatever
//! clients send:
//!
//! - the `method` label is one of the nine standard methods, or `other` ([`method_label`]): a client that invents
//!   methods must not invent series;
//! - each counter family keeps at most [`MAX_SERIES`] label sets, and at most [`MAX_LABEL_BYTES`] bytes of label
//!   values, so a few thousand 4 KiB versions cannot take megabytes where ten thousand short ones fit; once either
//!   is reached, new label sets are added up under one series whose labels are all `_other`.
//!
//! Update checks are only counted for registered apps, and a check of a channel the app has no release in is counted
//! under the channel `_unknown` (`server::updates::UNKNOWN_CHANNEL`), not under the name the client made up.
//!
//! `GET /metrics` lists app ids, and no endpoint may list apps to an unauthenticated caller: it needs a bearer token,
//! the one given by `MILLENNIUM_METRICS_TOKEN` (what a Prometheus scrape config holds) or a server admin token.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Most label sets one counter family keeps.
pub const MAX_SERIES: usize = 10_000;

/// Most bytes of label values one counter family keeps (the label sets' values added up). Ten thousand ordinary label
/// sets (an app id, a channel, a version, a target) take a few hundred KiB.
pub const MAX_LABEL_BYTES: usize = 1024 * 1024;

/// The `method` label of a request method nobody standardised.
pub const OTHER_METHOD: &str = "other";

/// The `method` label of a request method: the method itself when it is one of HTTP's nine, else [`OTHER_METHOD`].
pub fn method_label(method: &str) -> &'static str {
    const STANDARD: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    STANDARD.into_iter().find(|m| *m == method).unwrap_or(OTHER_METHOD)
}

/// The value every label takes in the overflow series.
const OTHER: &str = "_other";

/// One counter family.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: Mutex<Series>,
}

/// Label values and their counter.
type LabeledCounter = (Vec<String>, Arc<AtomicU64>);

/// The label sets of a family, found by a hash of the borrowed label values so that counting an existing series
/// allocates nothing (this runs on every request).
#[derive(Debug, Default)]
struct Series {
    by_hash: HashMap<u64, Vec<LabeledCounter>>,
    len: usize,
    /// Label value bytes held, for [`MAX_LABEL_BYTES`].
    bytes: usize,
}

fn hash_labels(values: &[&str]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    values.hash(&mut hasher);
    hasher.finish()
}

impl Family {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self { name, help, labels, series: Mutex::new(Series::default()) }
    }

    /// The counter of a label set (created at zero; the overflow series once [`MAX_SERIES`] label sets or
    /// [`MAX_LABEL_BYTES`] bytes of values are held).
    fn counter(&self, values: &[&str]) -> Arc<AtomicU64> {
        debug_assert_eq!(values.len(), self.labels.len());
        let other = [OTHER; 8];
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut values = values;
        let mut hash = hash_labels(values);
        if let Some(counter) = series.find(hash, values) {
            return counter;
        }
        let bytes: usize = values.iter().map(|v| v.len()).sum();
        // The overflow series itself always fits: its few bytes are not counted against the budget.
        if series.len >= MAX_SERIES || series.bytes + bytes > MAX_LABEL_BYTES {
            values = &other[..self.labels.len()];
            hash = hash_labels(values);
            if let Some(counter) = series.find(hash, values) {
                return counter;
            }
        } else {
            series.bytes += bytes;
        }
        let counter = Arc::new(AtomicU64::new(0));
        let owned = values.iter().map(|v| (*v).to_owned()).collect();
        series.by_hash.entry(hash).or_default().push((owned, counter.clone()));
        series.len += 1;
        counter
    }

    fn add(&self, values: &[&str], n: u64) {
        self.counter(values).fetch_add(n, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} counter", self.name);
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut lines: Vec<String> = series
            .by_hash
            .values()
            .flatten()
            .map(|(values, counter)| {
                let labels: Vec<String> = self
                    .labels
                    .iter()
                    .zip(values)
                    .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
                    .collect();
                format!("{}{{{}}} {}", self.name, labels.join(","), counter.load(Ordering::Relaxed))
            })
            .collect();
        drop(series);
        lines.sort();
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

impl Series {
    fn find(&self, hash: u64, values: &[&str]) -> Option<Arc<AtomicU64>> {
        let bucket = self.by_hash.get(&hash)?;
        bucket
            .iter()
            .find(|(owned, _)| owned.iter().map(String::as_str).eq(values.iter().copied()))
            .map(|(_, c)| c.clone())
    }
}

/// A label value as the exposition format wants it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    requests: Family,
    checks: Family,
    webviews: Family,
    bytes: Family,
    events: Family,
    signings: Family,
    downloads: Family,
    saved: Family,
    delta_jobs: Family,
    client_events: Family,
    halts: Family,
    webhooks: Family,
    leaders: Mutex<Vec<(&'static str, Arc<AtomicBool>)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All counters at zero.
    pub fn new() -> Self {
        Self {
            leaders: Mutex::default(),
            requests: Family::new(
                "millennium_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
                &["route", "method", "status"],
            ),
            checks: Family::new(
                "millennium_update_checks_total",
                "Update checks of registered apps, by app, channel, client version, target and result.",
                &["app", "channel", "version", "target", "result"],
            ),
            webviews: Family::new(
                "millennium_update_check_webviews_total",
                "Update checks reporting X-Millennium-Webview, by app, channel, webview backend and whether the webview meets the offered release's minimum (ok, too_old), is missing, or was reported in a form not understood (unknown).",
                &["app", "channel", "backend", "webview"],
            ),
            bytes: Family::new("millennium_download_bytes_total", "Artifact bytes sent to clients, by app.", &["app"]),
            events: Family::new(
                "millennium_release_events_total",
                "Changes to releases, by app and event.",
                &["app", "event"],
            ),
            downloads: Family::new(
                "millennium_update_downloads_total",
                "Update downloads started (a request from the first byte), by app and kind: full artifact or delta.",
                &["app", "kind"],
            ),
            saved: Family::new(
                "millennium_delta_bytes_saved_total",
                "Bytes clients did not have to download because a delta was served instead of the full artifact, by app.",
                &["app"],
            ),
            delta_jobs: Family::new(
                "millennium_delta_jobs_total",
                "Deltas the delta job computed, by app and result: stored, not_worth_it (over 60 % of the full artifact) or failed.",
                &["app", "result"],
            ),
            signings: Family::new(
                "millennium_freshness_signings_total",
                "Freshness documents signed (or not: the online key could not be opened), by app and result.",
                &["app", "result"],
            ),
            client_events: Family::new(
                "millennium_client_events_total",
                "Release-health events sent by installs (POST /{app}/events), by app, kind and result.",
                &["app", "kind", "result"],
            ),
            halts: Family::new(
                "millennium_rollout_halts_total",
                "Rollouts the server halted by itself because their halt rule was exceeded, by app.",
                &["app"],
            ),
            webhooks: Family::new(
                "millennium_webhook_deliveries_total",
                "Webhook delivery attempts, by app and result (delivered, pending: will be retried, failed: gave up).",
                &["app", "result"],
            ),
        }
    }

    /// Counts an answered request. `route` must be a route pattern (or `unmatched`), never the raw path; `method`
    /// is counted through [`method_label`].
    pub fn request(&self, route: &str, method: &str, status: u16) {
        self.requests.add(&[route, method_label(method), &status.to_string()], 1);
    }

    /// The counter [`Metrics::request`] adds to, for a caller that counts the same request many times (a reused
    /// answer: `server::updates::ReusedAnswer`). Series are never removed, so the handle stays the one rendered.
    pub fn request_counter(&self, route: &str, method: &str, status: u16) -> Arc<AtomicU64> {
        self.requests.counter(&[route, method_label(method), &status.to_string()])
    }

    /// Counts an update check. `target` is the platform key asked for (`linux-x86_64-deb`), or `latest.json`;
    /// `result` is `update` or `no_update`.
    pub fn update_check(&self, app: &str, channel: &str, version: &str, target: &str, result: &str) {
        self.checks.add(&[app, channel, version, target, result], 1);
    }

    /// The counter [`Metrics::update_check`] adds to (see [`Metrics::request_counter`]).
    pub fn update_check_counter(
        &self,
        app: &str,
        channel: &str,
        version: &str,
        target: &str,
        result: &str,
    ) -> Arc<AtomicU64> {
        self.checks.counter(&[app, channel, version, target, result])
    }

    /// Counts the webview report of an update check: `backend` and `webview` are fixed words (see
    /// `server::updates::webview_status`), so this family grows only with apps and channels.
    pub fn webview_check(&self, app: &str, channel: &str, backend: &str, webview: &str) {
        self.webviews.add(&[app, channel, backend, webview], 1);
    }

    /// The counter of bytes sent for an app's artifacts (kept by the download stream).
    pub fn download_bytes(&self, app: &str) -> Arc<AtomicU64> {
        self.bytes.counter(&[app])
    }

    /// Counts a release event.
    pub fn release_event(&self, app: &str, event: &str) {
        self.events.add(&[app, event], 1);
    }

    /// Counts a freshness signing: `result` is `signed` or `failed`.
    pub fn freshness_signing(&self, app: &str, result: &str) {
        self.signings.add(&[app, result], 1);
    }

    /// Counts a download started from its first byte: `kind` is `full` or `delta`; a delta adds the bytes it spares.
    pub fn download_started(&self, app: &str, kind: &str, saved: u64) {
        self.downloads.add(&[app, kind], 1);
        if kind == "delta" {
            self.saved.add(&[app], saved);
        }
    }

    /// Counts a decision of the delta job: `result` is `stored`, `not_worth_it` or `failed`.
    pub fn delta_job(&self, app: &str, result: &str) {
        self.delta_jobs.add(&[app, result], 1);
    }

    /// Counts `n` release-health events. `kind` and `result` are fixed words; `app` is a registered app or
    /// `_unknown`.
    pub fn client_events(&self, app: &str, kind: &str, result: &str, n: u64) {
        self.client_events.add(&[app, kind, result], n);
    }

    /// Counts a rollout halted by the server.
    pub fn rollout_halt(&self, app: &str) {
        self.halts.add(&[app], 1);
    }

    /// Counts a webhook delivery attempt.
    pub fn webhook_delivery(&self, app: &str, result: &str) {
        self.webhooks.add(&[app, result], 1);
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for family in [
            &self.requests,
            &self.checks,
            &self.webviews,
            &self.bytes,
            &self.downloads,
            &self.saved,
            &self.delta_jobs,
            &self.events,
            &self.signings,
            &self.client_events,
            &self.halts,
            &self.webhooks,
        ] {
            family.render(&mut out);
        }
        let leaders = self.leaders.lock().unwrap_or_else(PoisonError::into_inner);
        if !leaders.is_empty() {
            out.push_str("# HELP millennium_leader 1 while this replica runs the singleton job\n");
            out.push_str("# TYPE millennium_leader gauge\n");
            for (job, flag) in leaders.iter() {
                let _ = writeln!(out, "millennium_leader{{job=\"{job}\"}} {}", u8::from(flag.load(Ordering::SeqCst)));
            }
        }
        out
    }

    /// The flag that says whether this replica currently runs singleton job `job`.
    pub fn leader_flag(&self, job: &'static str) -> Arc<AtomicBool> {
        let mut leaders = self.leaders.lock().unwrap_or_else(PoisonError::into_inner);
        leaders.iter().find(|(name, _)| *name == job).map(|(_, flag)| flag.clone()).unwrap_or_else(|| {
            let flag = Arc::new(AtomicBool::new(false));
            leaders.push((job, flag.clone()));
            flag
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_escaped_labels() {
        let m = Metrics::new();
        m.request("/healthz", "GET", 200);
        m.request("/healthz", "GET", 200);
        m.update_check("demo", "stable", "1.0.0-\"x\"\\", "linux-x86_64", "update");
        m.download_bytes("demo").fetch_add(42, Ordering::Relaxed);
        m.release_event("demo", "published");
        let text = m.render();
        assert!(text.contains("millennium_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2\n"));
        assert!(text.contains("version=\"1.0.0-\\\"x\\\"\\\\\""), "{text}");
        assert!(text.contains("millennium_download_bytes_total{app=\"demo\"} 42\n"));
        assert!(text.contains("# TYPE millennium_release_events_total counter\n"));
    }

    #[test]
    fn invented_methods_share_one_label() {
        let m = Metrics::new();
        let empty = m.render().len();
        for i in 0..100 {
            m.request("unmatched", &format!("M{i}{}", "X".repeat(4096)), 405);
        }
        m.request("unmatched", "PATCH", 405);
        m.request("unmatched", "get", 405); // methods are case-sensitive: `get` is not `GET`
        let text = m.render();
        assert!(text.contains("{route=\"unmatched\",method=\"other\",status=\"405\"} 101\n"), "{text}");
        assert!(text.contains("{route=\"unmatched\",method=\"PATCH\",status=\"405\"} 1\n"), "{text}");
        // Two short series, not 100 lines of 4 KiB each (the empty rendering is every family's HELP and TYPE).
        assert!(text.len() - empty < 512, "{} bytes more than without requests", text.len() - empty);
    }

    #[test]
    fn label_memory_is_bounded_in_bytes() {
        // 2,000 distinct 4 KiB versions: far fewer than MAX_SERIES label sets, far more than MAX_LABEL_BYTES bytes.
        let m = Metrics::new();
        let long = "x".repeat(4096);
        for i in 0..2000 {
            m.update_check("demo", "stable", &format!("1.0.{i}-{long}"), "linux-x86_64", "no_update");
        }
        let text = m.render();
        let kept = text.lines().filter(|l| l.starts_with("millennium_update_checks_total{app=\"demo\"")).count();
        // Label sets are kept in arrival order while their values fit in the budget (sizes only grow here).
        let mut expected = 0;
        let mut bytes = 0;
        for i in 0..2000 {
            let size = "demo".len() + "stable".len() + format!("1.0.{i}-{long}").len() + "linux-x86_64".len() + 9;
            if bytes + size > MAX_LABEL_BYTES {
                break;
            }
            bytes += size;
            expected += 1;
        }
        assert!(expected > 200 && expected < 300, "{expected}");
        assert_eq!(kept, expected);
        let overflow = 2000 - kept;
        assert!(text.contains(&format!("result=\"_other\"}} {overflow}\n")), "{}", &text[text.len() - 300..]);
        assert!(text.len() < MAX_LABEL_BYTES + 64 * 1024, "{} bytes", text.len());
    }

    #[test]
    fn series_are_bounded() {
        let m = Metrics::new();
        for i in 0..MAX_SERIES + 50 {
            m.update_check("demo", "stable", &format!("1.0.{i}"), "linux-x86_64", "no_update");
        }
        let text = m.render();
        assert_eq!(text.lines().filter(|l| l.starts_with("millennium_update_checks_total")).count(), MAX_SERIES + 1);
        assert!(text.contains("millennium_update_checks_total{app=\"_other\",channel=\"_other\",version=\"_other\",target=\"_other\",result=\"_other\"} 50\n"));
    }
}
