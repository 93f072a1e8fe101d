//! Release-health events (`report_events`): produced where installs, downloads, confirmations and rollbacks happen,
//! queued on disk in the state directory and sent in the background to a real local HTTP receiver (axum, in the
//! test), which can answer what each test needs: down, 5xx, 429, 4xx.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{self, CHECK};
use millennium_testing::app::{Fixture, script_app};
use millennium_testing::http::{MockServer, Reply};
use millennium_testing::keys::Keys;
use millennium_updater::events::{Backoff, QueueLimits};
use millennium_updater::{StartupStatus, Updater, UpdaterBuilder};

/// What the receiver got: when, what it answered, the body.
#[derive(Default)]
struct Received {
    hits: Vec<(Instant, u16, Value)>,
    /// Statuses to answer next (then 202).
    script: VecDeque<u16>,
}

/// A real HTTP server on loopback taking `POST /hello/events`.
struct Receiver {
    url: String,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    async fn start(script: &[u16]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, script)
    }

    fn serve(listener: tokio::net::TcpListener, script: &[u16]) -> Receiver {
        let url = format!("http://{}/hello/events", listener.local_addr().unwrap());
        let received =
            Arc::new(Mutex::new(Received { script: script.iter().copied().collect(), ..Received::default() }));
        async fn take(State(received): State<Arc<Mutex<Received>>>, body: axum::body::Bytes) -> (StatusCode, String) {
            let mut received = received.lock().unwrap();
            let status = received.script.pop_front().unwrap_or(202);
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            received.hits.push((Instant::now(), status, body));
            (StatusCode::from_u16(status).unwrap(), "{}".to_owned())
        }
        let app = axum::Router::new().route("/hello/events", axum::routing::post(take)).with_state(received.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, received }
    }

    fn hits(&self) -> Vec<(Instant, u16, Value)> {
        self.received.lock().unwrap().hits.clone()
    }

    /// The events of the accepted (2xx) batches.
    fn delivered(&self) -> Vec<Value> {
        self.hits()
            .into_iter()
            .filter(|(_, status, _)| (200..300).contains(status))
            .flat_map(|(_, _, body)| body["events"].as_array().unwrap().clone())
            .collect()
    }

    /// Waits until `n` events were delivered (at most 20 s).
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let delivered = self.delivered();
            if delivered.len() >= n {
                return delivered;
            }
            assert!(Instant::now() < deadline, "{} of {n} events arrived: {delivered:?}", delivered.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A loopback URL where nothing listens.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/hello/events", listener.local_addr().unwrap())
}

const FAST: Backoff = Backoff { initial: Duration::from_millis(200), max: Duration::from_millis(800) };

fn reporting(fx: &Fixture, keys: &Keys, server: &MockServer, events: &str) -> UpdaterBuilder {
    support::builder(fx, keys, &[server.url(CHECK)]).report_events(true).report_events_to(events).event_backoff(FAST)
}

/// The queued event files.
fn queued(state: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.join("events"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// A server offering 2.0.0 whose artifact is missing: every download fails (a cheap way to produce events).
async fn broken_offer(keys: &Keys) -> MockServer {
    let signature = keys.sign(b"never served", Some("2.0.0"));
    let json = Arc::new(std::sync::OnceLock::<String>::new());
    let served = json.clone();
    let server = MockServer::start(move |req| {
        if req.path.starts_with("/update/") { Reply::json(served.get().unwrap().clone()) } else { Reply::status(404) }
    })
    .await;
    json.set(support::dynamic_json("2.0.0", &server.url("/artifact"), signature)).unwrap();
    server
}

/// `n` download failures, each queuing a `download_failed` event.
async fn fail_downloads(updater: &Updater, n: usize) {
    for _ in 0..n {
        let update = updater.check().await.unwrap().expect("2.0.0 offered");
        assert!(update.download(|_| {}).await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_and_confirmed_arrive_with_the_install_id_versions_and_target() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = support::offering(&keys, script_app("2.0.0", 50_000), support::release("2.0.0")).await;
    let receiver = Receiver::start(&[]).await;

    let v1 = reporting(&fx, &keys, &server, &receiver.url).build().unwrap();
    let id = v1.install_id().to_owned();
    v1.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    let v2 = reporting(&fx, &keys, &server, &receiver.url).current_version("2.0.0").build().unwrap();
    assert!(matches!(v2.startup().unwrap(), StartupStatus::PendingConfirmation { .. }));
    v2.confirm_healthy().unwrap();

    let events = receiver.wait_for(2).await;
    let target = format!("linux-{}", std::env::consts::ARCH);
    for (event, kind) in events.iter().zip(["installed", "confirmed"]) {
        assert_eq!(event["kind"], kind, "{events:?}");
        assert_eq!(event["install_id"], id.as_str());
        assert_eq!(event["from"], "1.0.0");
        assert_eq!(event["to"], "2.0.0");
        assert_eq!(event["target"], target.as_str());
        assert!(event.get("error").is_none(), "{event}");
        let at = event["at"].as_u64().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(at <= now && at + 120 > now, "{event}");
    }
    assert_eq!(events.len(), 2, "{events:?}");
    // Delivered events leave the queue.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !queued(&fx.state).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", queued(&fx.state));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_rollbacks_are_reported_with_their_error_code() {
    let keys = Keys::generate();
    let receiver = Receiver::start(&[]).await;
    let target = format!("linux-{}", std::env::consts::ARCH);

    // download_failed: the artifact is missing.
    let fx = Fixture::new();
    let server = broken_offer(&keys).await;
    let updater = reporting(&fx, &keys, &server, &receiver.url).download_attempts(1).build().unwrap();
    let error = updater.check().await.unwrap().unwrap().download(|_| {}).await.unwrap_err();
    let events = receiver.wait_for(1).await;
    assert_eq!(events[0]["kind"], "download_failed");
    assert_eq!(events[0]["error"], error.code());
    assert_eq!(events[0]["error"], "http_status");
    assert_eq!((&events[0]["from"], &events[0]["to"]), (&Value::from("1.0.0"), &Value::from("2.0.0")));
    assert_eq!(events[0]["target"], target.as_str());

    // install_failed: the app's directory is gone by the time the verified update is installed.
    let fx = Fixture::new();
    let app_dir = fx.dir.path().join("apps");
    std::fs::create_dir(&app_dir).unwrap();
    millennium_testing::app::write_exe(&app_dir.join("app"), &fx.v1);
    let server = support::offering(&keys, script_app("2.0.0", 50_000), support::release("2.0.0")).await;
    let updater = reporting(&fx, &keys, &server, &receiver.url).executable(app_dir.join("app")).build().unwrap();
    let downloaded = updater.check().await.unwrap().unwrap().download(|_| {}).await.unwrap();
    std::fs::remove_dir_all(&app_dir).unwrap();
    let error = downloaded.install().unwrap_err();
    let events = receiver.wait_for(2).await;
    assert_eq!(events[1]["kind"], "install_failed", "{events:?}");
    assert_eq!(events[1]["error"], error.code());

    // rolled_back: 2.0.0 is installed and never confirms within its 3 starts.
    let fx = Fixture::new();
    let updater = reporting(&fx, &keys, &server, &receiver.url).build().unwrap();
    updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    let v2 = reporting(&fx, &keys, &server, &receiver.url).current_version("2.0.0").build().unwrap();
    let mut status = v2.startup().unwrap();
    while matches!(status, StartupStatus::PendingConfirmation { .. }) {
        status = v2.startup().unwrap();
    }
    assert!(matches!(status, StartupStatus::RolledBack { .. }), "{status:?}");
    let events = receiver.wait_for(4).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["download_failed", "install_failed", "installed", "rolled_back"]);
    assert_eq!((&events[3]["from"], &events[3]["to"]), (&Value::from("1.0.0"), &Value::from("2.0.0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_needing_a_newer_webview_reports_webview_too_old() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let release = support::release("2.0.0").with_min_webview_version("99.0".parse().unwrap());
    let server = support::offering(&keys, script_app("2.0.0", 50_000), release).await;
    let receiver = Receiver::start(&[]).await;
    let updater = reporting(&fx, &keys, &server, &receiver.url).build().unwrap();
    let error = updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap_err();
    assert_eq!(error.code(), "webview_too_old");
    let events = receiver.wait_for(1).await;
    assert_eq!(events[0]["kind"], "webview_too_old");
    assert_eq!(events[0]["error"], "webview_too_old");
    fx.assert_untouched();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_down_events_wait_on_disk_and_a_later_updater_delivers_them() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = broken_offer(&keys).await;
    let down = dead_url();
    let first = reporting(&fx, &keys, &server, &down).download_attempts(1).build().unwrap();
    fail_downloads(&first, 2).await;
    // Never an error for the app; the events wait on disk while the receiver is down.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(queued(&fx.state).len(), 2, "{:?}", queued(&fx.state));
    drop(first);

    // "Restart": a new updater on the same state directory, the server now up.
    let receiver = Receiver::start(&[]).await;
    let _second = reporting(&fx, &keys, &server, &receiver.url).build().unwrap();
    let events = receiver.wait_for(2).await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["kind"] == "download_failed"), "{events:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !queued(&fx.state).is_empty() {
        assert!(Instant::now() < deadline, "{:?}", queued(&fx.state));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_keeps_the_newest_events_within_its_count_and_byte_caps() {
    let keys = Keys::generate();
    let server = broken_offer(&keys).await;
    let down = dead_url();

    let fx = Fixture::new();
    let limits = QueueLimits { max_events: 3, max_bytes: 1 << 20 };
    let updater =
        reporting(&fx, &keys, &server, &down).download_attempts(1).event_queue_limits(limits).build().unwrap();
    fail_downloads(&updater, 2).await;
    let oldest_kept = queued(&fx.state);
    fail_downloads(&updater, 3).await;
    let names = queued(&fx.state);
    assert_eq!(names.len(), 3, "{names:?}");
    // The two oldest were dropped: what is left was all written after them.
    assert!(oldest_kept.iter().all(|n| !names.contains(n)), "{oldest_kept:?} {names:?}");

    let fx = Fixture::new();
    let one = {
        let probe = reporting(&fx, &keys, &server, &down).download_attempts(1).build().unwrap();
        fail_downloads(&probe, 1).await;
        let name = &queued(&fx.state)[0];
        std::fs::metadata(fx.state.join("events").join(name)).unwrap().len()
    };
    let limits = QueueLimits { max_events: 1000, max_bytes: one * 5 / 2 };
    let updater =
        reporting(&fx, &keys, &server, &down).download_attempts(1).event_queue_limits(limits).build().unwrap();
    fail_downloads(&updater, 4).await;
    assert_eq!(queued(&fx.state).len(), 2, "{:?}", queued(&fx.state));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_queue_file_is_discarded_and_the_others_delivered() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = broken_offer(&keys).await;
    let first = reporting(&fx, &keys, &server, &dead_url()).download_attempts(1).build().unwrap();
    fail_downloads(&first, 1).await;
    let events_dir = fx.state.join("events");
    // Oldest by name, so it is read first: a torn write, then a file of something else.
    std::fs::write(events_dir.join("0000-torn.json"), br#"{"events":[{"kind":"instal"#).unwrap();
    std::fs::write(events_dir.join("0001-other.json"), b"\x00\xffnot json").unwrap();

    let receiver = Receiver::start(&[]).await;
    let second = reporting(&fx, &keys, &server, &receiver.url).build().unwrap();
    let events = receiver.wait_for(1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "download_failed");
    assert!(!events_dir.join("0000-torn.json").exists() && !events_dir.join("0001-other.json").exists());
    // The app never saw any of it: the updater works on.
    assert!(second.check().await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_429_are_retried_with_backoff_and_other_4xx_are_dropped() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = broken_offer(&keys).await;
    let receiver = Receiver::start(&[503, 429, 500, 202, 400]).await;
    let updater = reporting(&fx, &keys, &server, &receiver.url).download_attempts(1).build().unwrap();
    fail_downloads(&updater, 1).await;

    let events = receiver.wait_for(1).await;
    assert_eq!(events.len(), 1);
    let hits = receiver.hits();
    let statuses: Vec<u16> = hits.iter().map(|(_, s, _)| *s).collect();
    assert_eq!(statuses, [503, 429, 500, 202]);
    // Waits of 200, 400 and 800 ms (doubling from `initial`, capped at `max`), give or take scheduling.
    let gaps: Vec<Duration> = hits.windows(2).map(|w| w[1].0 - w[0].0).collect();
    for (gap, expected) in gaps.iter().zip([200u64, 400, 800]) {
        assert!(*gap >= Duration::from_millis(expected - 20), "{gaps:?}");
        assert!(*gap < Duration::from_millis(expected + 1500), "{gaps:?}");
    }
    // The same event each time, with the same random id (so the server counts it once however often it arrives).
    assert!(hits.iter().all(|(_, _, body)| body == &hits[0].2));
    let id = hits[0].2["events"][0]["id"].as_str().unwrap().to_owned();
    assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    // A 400 is final: the batch is dropped, not retried.
    fail_downloads(&updater, 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.hits().len() < 5 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.hits().len(), 5, "retried after a 400");
    assert_eq!(receiver.hits()[4].1, 400);
    assert_ne!(receiver.hits()[4].2["events"][0]["id"], id.as_str(), "another event, another id");
    assert!(queued(&fx.state).is_empty(), "{:?}", queued(&fx.state));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporting_is_off_unless_asked_for_and_on_with_millennium_defaults() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = broken_offer(&keys).await;
    let receiver = Receiver::start(&[]).await;
    let plain = support::builder(&fx, &keys, &[server.url(CHECK)]).report_events_to(&receiver.url);
    let updater = plain.clone().download_attempts(1).build().unwrap();
    fail_downloads(&updater, 1).await;
    assert!(queued(&fx.state).is_empty());

    let updater = plain.millennium_defaults().require_signed_version(true).download_attempts(1).build().unwrap();
    fail_downloads(&updater, 1).await;
    assert_eq!(receiver.wait_for(1).await[0]["kind"], "download_failed");
}

/// Against the real update server: the events URL follows from the endpoint (`{server}/{app}/events`), the install id
/// goes with them (same origin as the checks), and the server counts `installed` and `confirmed` for the release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_update_server_counts_the_reported_install_and_confirmation() {
    use millennium_testing::server::{ADMIN_TOKEN, TestServer};
    use millennium_update_admin::api::{PublishRequest, Scope};

    let server = TestServer::start().await;
    let app = server.register("hello", Scope::Publish).await;
    let target = format!("linux-{}", std::env::consts::ARCH);
    let v2 = script_app("2.0.0", 50_000);
    let artifact = app.artifact("2.0.0", &target, &v2, &app.key);
    app.publish(&PublishRequest::new("2.0.0"), &[artifact]).await;

    let fx = Fixture::new();
    let endpoint = format!("{}/hello/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", server.url);
    let builder = |version: &str| {
        Updater::builder()
            .endpoint(&endpoint)
            .pubkey(app.key.public_key().to_text(millennium_sign::Format::Tauri))
            .current_version(version)
            .executable(&fx.app)
            .bundle_type(None)
            .state_dir(&fx.state)
            .millennium_defaults()
            .event_backoff(FAST)
    };
    builder("1.0.0").build().unwrap().check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    assert_eq!(millennium_testing::app::run(&fx.app), "2.0.0");
    let v2 = builder("2.0.0").build().unwrap();
    v2.startup().unwrap();
    v2.confirm_healthy().unwrap();
    // What a CLI does before it exits: wait until the queue is sent.
    assert!(v2.flush_events(Duration::from_secs(20)), "{:?}", queued(&fx.state));

    let health_url = format!("{}/api/v1/apps/hello/releases/2.0.0/health", server.url);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health: Value = reqwest::Client::new()
            .get(&health_url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let totals = &health["totals"];
        if totals["installed"] == 1 && totals["confirmed"] == 1 {
            assert_eq!(totals["rolled_back"], 0, "{health}");
            break;
        }
        assert!(Instant::now() < deadline, "the server did not count the events: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(queued(&fx.state).is_empty(), "{:?}", queued(&fx.state));
}
