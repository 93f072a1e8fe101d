//! Release health against the real server binary: installs report events over HTTP, the server halts a rollout
//! that rolls back by itself, tells a real webhook receiver (which checks the signature), and stops offering the
//! release — with events posted by the test, and with the real example app (`millennium-updater`'s `updatable`)
//! installing a release that crashes on start; the unauthenticated event endpoint under abuse (oversized, unknown
//! app and version, junk, a flood of 100,000 events from one address); and its in-memory release index following
//! every change of releases.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use millennium_sign::{Format, SecretKey};
use millennium_testing::app::{Run, write_exe};
use millennium_testing::keys::write_signed;
use millennium_testing::server::{ADMIN_TOKEN, Backend, ServerProcess, free_loopback_port};
use millennium_testing::updatable;
use millennium_update_protocol::rollout::is_offered;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{SERVER, artifact_bytes, ok_json};

pub(super) fn start(tmp: &Path, env: &[(&str, &str)]) -> ServerProcess {
    let data_dir = tmp.join("data");
    SERVER.serve_with(&data_dir, free_loopback_port(), &tmp.join("server.log"), &Backend::for_dir(&data_dir), env)
}

pub(super) fn admin(server: &ServerProcess) -> [(&'static str, &str); 2] {
    [("MILLENNIUM_SERVER", server.url.as_str()), ("MILLENNIUM_TOKEN", ADMIN_TOKEN)]
}

/// App `demo` with 1.0.0 at 100 % and, when `v2_rollout` is given, 2.0.0 at that percentage, published with the CLI;
/// returns the app's release key.
pub(super) fn app_with_releases(server: &ServerProcess, dir: &Path, v2_rollout: Option<u8>) -> SecretKey {
    let key = SecretKey::generate().unwrap();
    let public = key.public_key().to_text(Format::Minisign);
    ok_json(SERVER.cli(&["--json", "apps", "create", "--id", "demo", "--public-key", &public], &admin(server)));
    publish(server, dir, &key, "1.0.0", 100, &[]);
    if let Some(rollout) = v2_rollout {
        publish(server, dir, &key, "2.0.0", rollout, &[]);
    }
    key
}

/// Publishes `version` of `demo` (an AppImage signed with `key`) at `rollout` % with the CLI, with `extra` arguments.
pub(super) fn publish(server: &ServerProcess, dir: &Path, key: &SecretKey, version: &str, rollout: u8, extra: &[&str]) {
    let name = format!("demo_{version}_amd64.AppImage");
    let file = write_signed(dir, &name, &artifact_bytes(rollout, 4096), key, version, Format::Tauri);
    let rollout = rollout.to_string();
    let args = ["--json", "publish", "--app", "demo", "--version", version, "--rollout", &rollout];
    ok_json(SERVER.cli(&[&args[..], extra, &[file.to_str().unwrap()]].concat(), &admin(server)));
}

/// `POST /demo/events` with `events`; the status and the JSON answer.
fn post(http: &reqwest::blocking::Client, server: &ServerProcess, app: &str, body: &Value) -> (u16, Value) {
    let r = http.post(format!("{}/{app}/events", server.url)).json(body).send().unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn event(kind: &str, install: &str, to: &str) -> Value {
    json!({"kind": kind, "install_id": install, "from": "1.0.0", "to": to, "target": "linux-x86_64-appimage"})
}

/// The dynamic check of a 1.0.0 AppImage install with `install` as its id: the version offered, if any.
fn offered(http: &reqwest::blocking::Client, server: &ServerProcess, install: &str) -> Option<String> {
    let r = http
        .get(format!("{}/demo/linux/x86_64/1.0.0/appimage", server.url))
        .header("Millennium-Install-Id", install)
        .send()
        .unwrap();
    match r.status().as_u16() {
        204 => None,
        200 => Some(r.json::<Value>().unwrap()["version"].as_str().unwrap().to_owned()),
        other => panic!("check answered {other}"),
    }
}

/// What the webhook receiver got: event header, body, and whether the signature verified.
#[derive(Debug, Clone)]
pub(super) struct Received {
    pub(super) event: String,
    pub(super) body: Value,
    pub(super) signature_ok: bool,
    pub(super) delivery: String,
}

/// A real HTTP receiver (axum, on its own runtime and thread) that verifies `X-Millennium-Signature` over
/// `{timestamp}.{body}` with `secret` as a receiver is told to in docs/webhooks.md, and answers `500` to the first
/// `fail_first` requests (to exercise retries), `204` afterwards; on a port of its own.
pub(super) fn receiver(secret: &'static str, fail_first: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    receiver_on(0, secret, fail_first)
}

/// [`receiver`] on loopback port `port` (`0`: any free one); its URL and what it got.
pub(super) fn receiver_on(port: u16, secret: &'static str, fail_first: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen = Arc::new(Mutex::new(0usize));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let store = received.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let handler = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                let seen = seen.clone();
                async move {
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let timestamp = header("x-millennium-timestamp");
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
                    mac.update(format!("{timestamp}.").as_bytes());
                    mac.update(&body);
                    let claimed = header("x-millennium-signature");
                    let fresh = timestamp
                        .parse::<i64>()
                        .is_ok_and(|t| (t - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 300);
                    let signature_ok = fresh
                        && claimed
                            .strip_prefix("sha256=")
                            .and_then(|h| hex::decode(h).ok())
                            .is_some_and(|tag| mac.verify_slice(&tag).is_ok());
                    let mut n = seen.lock().unwrap();
                    *n += 1;
                    if *n <= fail_first {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    store.lock().unwrap().push(Received {
                        event: header("x-millennium-event"),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        signature_ok,
                        delivery: header("x-millennium-delivery"),
                    });
                    axum::http::StatusCode::NO_CONTENT
                }
            };
            let app = axum::Router::new().route("/hook", axum::routing::post(handler));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (url, received)
}

/// The proof of issue 24's halt: 2.0.0 at 10 %, many installs in the rollout (distinct ids, a bounded loop) report
/// `installed` and most of them `rolled_back`; the server halts the rollout by itself once its rule (20 % of at least
/// 10 installs) is exceeded, counts it, and its webhook (failing once, so a retry delivers it) receives
/// `rollout.halted` with a valid signature; an install in the rollout that had not updated is no longer offered 2.0.0.
/// `rollout resume` offers it again, and the reports that halted it do not halt it again.
#[test]
fn a_rollout_that_rolls_back_is_halted_by_the_server_and_the_webhook_is_told() {
    const SECRET: &str = "receiver-test-secret-0123456789";
    let tmp = tempfile::tempdir().unwrap();
    // Every install reports from 127.0.0.1 here: raise the per-address limit as one would behind a proxy.
    let server = start(tmp.path(), &[("MILLENNIUM_EVENT_IP_BURST", "10000"), ("MILLENNIUM_WEBHOOK_RETRY", "1s")]);
    app_with_releases(&server, tmp.path(), Some(10));
    let (hook_url, received) = receiver(SECRET, 1);
    let created =
        ok_json(SERVER.cli(
            &["--json", "webhooks", "add", "--app", "demo", "--url", &hook_url, "--secret", SECRET],
            &admin(&server),
        ));
    assert_eq!(created["secret"], SECRET);
    let health = ok_json(
        SERVER.cli(
            &["--json", "halt-rule", "set", "--app", "demo", "--version", "2.0.0"]
                .into_iter()
                .chain(["--max-failure-percent", "20", "--min-installs", "10"])
                .collect::<Vec<_>>(),
            &admin(&server),
        ),
    );
    assert_eq!(health["rule"], json!({"max_failure_percent": 20, "min_installs": 10}));
    assert_eq!(health["rule_source"], "release");
    assert!(health["halted"].is_null());

    // Install ids in the 10 % (the ones offered 2.0.0) and outside it, from a bounded loop.
    let ids: Vec<String> = (0..2000).map(|i| format!("install-{i:04}-{}", i * 7919)).collect();
    let inside: Vec<&String> = ids.iter().filter(|id| is_offered(Some(id), "demo", "2.0.0", 10)).collect();
    assert!(inside.len() > 60, "{}", inside.len());
    let (reporters, waiting) = inside.split_at(40);
    let http = reqwest::blocking::Client::new();
    assert_eq!(offered(&http, &server, waiting[0]).as_deref(), Some("2.0.0"));

    // Each install reports on its own: 30 of 40 roll back (75 %, over the 20 % rule).
    let mut halted_after = None;
    for (i, install) in reporters.iter().enumerate() {
        assert_eq!(
            offered(&http, &server, install).as_deref(),
            if halted_after.is_none() { Some("2.0.0") } else { None }
        );
        let second = if i % 4 == 3 { "confirmed" } else { "rolled_back" };
        let (status, answer) = post(
            &http,
            &server,
            "demo",
            &json!({"events": [event("installed", install, "2.0.0"), event(second, install, "2.0.0")]}),
        );
        assert_eq!((status, &answer), (202, &json!({"accepted": 2, "rejected": 0, "duplicates": 0})));
        if halted_after.is_none() && offered(&http, &server, waiting[0]).is_none() {
            halted_after = Some(i + 1);
        }
    }
    // Halted as soon as the rule could judge: at the 10th install (8 rollbacks of 10).
    assert_eq!(halted_after, Some(10));
    for install in waiting {
        assert_eq!(offered(&http, &server, install), None, "{install} is still offered 2.0.0");
    }
    // Installs on 1.0.0 outside the rollout never got it and still do not; 1.0.0 installs are told nothing new.
    let outside = ids.iter().find(|id| !is_offered(Some(id), "demo", "2.0.0", 10)).unwrap();
    assert_eq!(offered(&http, &server, outside), None);

    let health = ok_json(SERVER.cli(&["--json", "health", "--app", "demo", "--version", "2.0.0"], &admin(&server)));
    assert_eq!(health["totals"]["installed"], 40);
    assert_eq!(health["totals"]["rolled_back"], 30);
    assert_eq!(health["totals"]["confirmed"], 10);
    assert_eq!(health["failure_percent"], 75.0);
    let reason = health["halted"]["reason"].as_str().unwrap();
    assert!(reason.contains("8 of 10 installs"), "{reason}");
    assert_eq!(health["channels"][0]["paused"], true);
    assert_eq!(health["buckets"].as_array().unwrap().len(), 1, "one hour, one channel");
    assert_eq!(server.figure("millennium_rollout_halts_total{app=\"demo\"}"), 1);
    // The text form names the halt and how to resume.
    let text = SERVER.cli(&["health", "--app", "demo", "--version", "2.0.0"], &admin(&server));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("HALTED") && text.contains("rollout resume"), "{text}");

    // The webhook: one failed attempt (500), then delivered with a valid signature.
    let halted = delivered(&received, "rollout.halted");
    assert!(halted.signature_ok, "{halted:?}");
    assert_eq!(halted.body["app"], "demo");
    assert_eq!(halted.body["version"], "2.0.0");
    assert_eq!(halted.body["data"]["installs"], 10);
    assert_eq!(halted.body["data"]["failures"], 8);
    let deliveries = ok_json(SERVER.cli(&["--json", "webhooks", "deliveries", "--app", "demo"], &admin(&server)));
    let delivery = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == halted.delivery.as_str())
        .unwrap()
        .clone();
    assert_eq!(delivery["event"], "rollout.halted");
    assert_eq!(delivery["status"], "delivered");
    // The receiver failed the very first request it got, whichever event that was; every delivery ended delivered.
    assert!(deliveries["deliveries"].as_array().unwrap().iter().all(|d| d["status"] == "delivered"), "{deliveries}");
    assert!(deliveries["deliveries"].as_array().unwrap().iter().any(|d| d["attempts"] == 2), "{deliveries}");

    // Resume: offered again, and the old reports do not halt it again; new ones are judged afresh.
    ok_json(SERVER.cli(&["--json", "rollout", "resume", "--app", "demo", "--version", "2.0.0"], &admin(&server)));
    assert_eq!(offered(&http, &server, waiting[0]).as_deref(), Some("2.0.0"));
    let (status, _) = post(&http, &server, "demo", &json!({"events": [event("installed", waiting[1], "2.0.0")]}));
    assert_eq!(status, 202);
    assert_eq!(offered(&http, &server, waiting[0]).as_deref(), Some("2.0.0"));
    let health = ok_json(SERVER.cli(&["--json", "health", "--app", "demo", "--version", "2.0.0"], &admin(&server)));
    assert!(health["halted"].is_null(), "{health}");

    // Adoption from checks: every check above came from a 1.0.0 install; the counts are stored at the latest when
    // the server stops, and a restarted server shows them (the halt state and event counts survive too).
    server.stop();
    let server = start(tmp.path(), &[]);
    let health = ok_json(SERVER.cli(&["--json", "health", "--app", "demo", "--version", "2.0.0"], &admin(&server)));
    let adoption = health["adoption"].as_array().unwrap();
    assert_eq!(adoption.len(), 1, "{health}");
    assert_eq!(adoption[0]["version"], "1.0.0");
    assert!(adoption[0]["checks"].as_u64().unwrap() >= 80, "{health}");
    assert_eq!(health["totals"]["installed"], 41);
    server.stop();
}

/// One install of the example app: its own directory with the binary (`bin/updatable`) and the updater's state
/// directory, whose install id is set beforehand (as if the updater had generated it there).
struct Install {
    exe: PathBuf,
    state: PathBuf,
}

impl Install {
    fn new(root: &Path, install_id: &str, v1: &[u8]) -> Install {
        let dir = root.join(install_id);
        let exe = dir.join("bin").join("updatable");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        write_exe(&exe, v1);
        let state = dir.join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("install-id"), format!("{install_id}\n")).unwrap();
        Install { exe, state }
    }

    /// One start of the app as its user would start it: `updatable update … --report-events`.
    fn start(&self, endpoint: &str, pubkey: &str) -> Run {
        let output = millennium_testing::app::output(
            std::process::Command::new(&self.exe)
                .args(["update", "--endpoint", endpoint, "--pubkey", pubkey, "--report-events", "--state-dir"])
                .arg(&self.state)
                .env_remove("MILLENNIUM_UPDATER_STATE_DIR"),
        )
        .unwrap();
        Run::of(output)
    }
}

/// The first delivery of `event` the receiver got, waiting for it for at most 30 s.
pub(super) fn delivered(received: &Mutex<Vec<Received>>, event: &str) -> Received {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = received.lock().unwrap().clone();
        if let Some(hit) = got.iter().find(|r| r.event == event) {
            return hit.clone();
        }
        assert!(Instant::now() < deadline, "no {event} delivery; got {got:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A UUID-shaped install id (what the updater generates) numbered `n`.
fn install_id(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-{:012x}", u64::from(n).wrapping_mul(0x9e37_79b9))
}

/// The proof of the whole loop with the real server binary and the real example app: 2.0.0 of `updatable` is
/// published at 10 % with a halt rule (over 50 % of at least 5 installs), and is broken: it crashes on start. A
/// bounded loop starts installs with distinct install ids; the ones the rollout picks download, verify and install
/// 2.0.0, which crashes on each start until the updater restores 1.0.0 and reports `rolled_back` (sent, with the
/// earlier `installed`, by the restored 1.0.0; each event once, by its id, however often a crash cut its sending off).
/// At the fifth such install the server halts the rollout by itself,
/// a real webhook receiver gets `rollout.halted` with a valid signature, and installs the rollout had picked but that
/// had not updated yet start and are no longer offered 2.0.0.
#[test]
fn a_release_crashing_on_start_is_rolled_back_by_each_install_and_halted_by_the_server() {
    const SECRET: &str = "example-app-receiver-secret-42";
    const APP: &str = "updatable";
    let tmp = tempfile::tempdir().unwrap();
    // Every install reports from 127.0.0.1: raise the per-address limit as one would behind a proxy.
    let server = start(tmp.path(), &[("MILLENNIUM_EVENT_IP_BURST", "10000")]);
    let built = std::fs::read(updatable::binary()).unwrap();
    let v1 = updatable::stamp(&built, "1.0.0");
    let v2 = updatable::broken(&updatable::stamp(&built, "2.0.0"));

    let key = SecretKey::generate().unwrap();
    let public = key.public_key().to_text(Format::Minisign);
    ok_json(SERVER.cli(&["--json", "apps", "create", "--id", APP, "--public-key", &public], &admin(&server)));
    let file = write_signed(tmp.path(), "updatable-2.0.0", &v2, &key, "2.0.0", Format::Tauri);
    let artifact = format!("linux-{}={}", std::env::consts::ARCH, file.display());
    let publish = ["--json", "publish", "--app", APP, "--version", "2.0.0", "--rollout", "10", "--target", &artifact];
    ok_json(SERVER.cli(&publish, &admin(&server)));
    let (hook_url, received) = receiver(SECRET, 0);
    ok_json(
        SERVER
            .cli(&["--json", "webhooks", "add", "--app", APP, "--url", &hook_url, "--secret", SECRET], &admin(&server)),
    );
    let rule = ["--max-failure-percent", "50", "--min-installs", "5"];
    ok_json(SERVER.cli(
        &[&["--json", "halt-rule", "set", "--app", APP, "--version", "2.0.0"][..], &rule].concat(),
        &admin(&server),
    ));

    let endpoint = format!("{}/{APP}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", server.url);
    let pubkey = key.public_key().to_text(Format::Tauri);
    let health = || ok_json(SERVER.cli(&["--json", "health", "--app", APP, "--version", "2.0.0"], &admin(&server)));
    // Installs the rollout picks, three of them kept aside: they have not updated when the halt comes.
    let ids: Vec<String> = (0..600).map(install_id).collect();
    let picked = |id: &String| is_offered(Some(id), APP, "2.0.0", 10);
    let waiting: Vec<&String> = ids.iter().filter(|id| picked(id)).take(3).collect();
    assert_eq!(waiting.len(), 3);
    let installs = tmp.path().join("installs");

    let (mut updated, mut halted_after, mut stayed) = (0, None, 0);
    for id in ids.iter().filter(|id| !waiting.contains(id)) {
        let install = Install::new(&installs, id, &v1);
        let run = install.start(&endpoint, &pubkey);
        if !picked(id) {
            // Not in the 10 %: told it is up to date, and stays on 1.0.0.
            assert_eq!(run.lines(), ["updatable 1.0.0", "up to date"], "{id}: {}", run.stderr);
            stayed += 1;
            continue;
        }
        // Picked: installs 2.0.0 and execs it, which crashes (SIGABRT) before confirming.
        assert_eq!(
            run.lines(),
            ["updatable 1.0.0", "updating to 2.0.0", "installed 2.0.0; relaunching", "updatable 2.0.0"],
            "{id}: {}",
            run.stderr
        );
        assert_eq!(run.signal(), Some(6), "{id}: {}", run.stderr);
        assert!(std::fs::read(&install.exe).unwrap() == v2, "{id}: 2.0.0 is not installed");
        // Its user starts it again: it crashes until its allowed starts are used up, then 1.0.0 is restored and
        // relaunched, which is told nothing new (2.0.0 was rolled back here) and sends the events.
        let mut starts = 1;
        let back = loop {
            let run = install.start(&endpoint, &pubkey);
            starts += 1;
            if run.code() == Some(0) {
                break run;
            }
            assert_eq!(run.lines(), ["updatable 2.0.0"], "{id}: {}", run.stderr);
            assert!(starts < 6, "{id}: 2.0.0 was never rolled back");
        };
        assert_eq!(back.lines(), ["updatable 2.0.0", "updatable 1.0.0", "up to date"], "{id}: {}", back.stderr);
        assert!(back.stderr.contains("restored 1.0.0"), "{id}: {}", back.stderr);
        let log = || std::fs::read_to_string(&server.log).unwrap_or_default();
        assert!(!back.stderr.contains("not sent yet"), "{id}: {}\nserver log:\n{}", back.stderr, log());
        assert!(std::fs::read(&install.exe).unwrap() == v1, "{id}: 1.0.0 is not back");
        updated += 1;
        if !health()["halted"].is_null() {
            halted_after = Some(updated);
            break;
        }
        assert!(updated < 20, "not halted after {updated} rolled-back installs: {}", health());
    }
    // Halted as soon as the rule could judge: 5 of 5 installs rolled back.
    assert_eq!(halted_after, Some(5));
    assert!(stayed > 10, "the loop met only {stayed} installs outside the rollout");
    let health = health();
    assert_eq!(health["totals"]["installed"], 5, "{health}");
    assert_eq!(health["totals"]["rolled_back"], 5, "{health}");
    assert_eq!(health["totals"]["confirmed"], 0, "{health}");
    assert_eq!(health["channels"][0]["paused"], true, "{health}");
    // The fifth install's `installed` may reach the server before its rollback (sent by 2.0.0 before it crashed) or
    // with it (sent by the restored 1.0.0): the rule judged at 4 or 5 failures of 5 installs.
    let reason = health["halted"]["reason"].as_str().unwrap();
    assert!(reason.contains("4 of 5 installs") || reason.contains("5 of 5 installs"), "{reason}");
    assert_eq!(server.figure("millennium_rollout_halts_total{app=\"updatable\"}"), 1);

    // The installs the rollout had picked but that had not updated: no longer offered 2.0.0.
    for id in &waiting {
        let install = Install::new(&installs, id, &v1);
        let run = install.start(&endpoint, &pubkey);
        assert_eq!(run.lines(), ["updatable 1.0.0", "up to date"], "{id}: {}", run.stderr);
        assert!(std::fs::read(&install.exe).unwrap() == v1);
    }

    // The webhook receiver got `rollout.halted`, signed with the app's secret.
    let halted = delivered(&received, "rollout.halted");
    assert!(halted.signature_ok, "{halted:?}");
    assert_eq!(halted.body["app"], APP);
    assert_eq!(halted.body["version"], "2.0.0");
    assert_eq!(halted.body["data"]["installs"], 5);
    assert!(matches!(halted.body["data"]["failures"].as_u64(), Some(4 | 5)), "{:?}", halted.body);
    server.stop();
}

/// Abuse of the unauthenticated endpoint: an oversized body (413, unread), an unknown app (404), a version the app
/// never released (counted as rejected, nothing stored), junk (400), and 100,000 events from one address in 1,000
/// batches (a bounded loop on one connection): limited with `429` and `Retry-After` after the burst, the server stays
/// healthy and keeps answering checks, and the stored counts are exactly the events answered as accepted.
#[test]
fn the_event_endpoint_refuses_floods_and_junk_and_stays_healthy() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &[]);
    app_with_releases(&server, tmp.path(), None);
    let http = reqwest::blocking::Client::new();

    let huge = json!({"events": [event("installed", "a", "1.0.0")], "pad": "x".repeat(70 * 1024)});
    let (status, answer) = post(&http, &server, "demo", &huge);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"]["code"], "payload_too_large");
    assert_eq!(post(&http, &server, "nope", &json!({"events": [event("installed", "a", "1.0.0")]})).0, 404);
    let (status, answer) = post(&http, &server, "demo", &json!({"events": [event("installed", "a", "9.9.9")]}));
    assert_eq!((status, answer), (202, json!({"accepted": 0, "rejected": 1, "duplicates": 0})));
    let (status, answer) = post(&http, &server, "demo", &json!({"events": [event("exploded", "a", "1.0.0")]}));
    assert_eq!(status, 400, "{answer}");
    let (status, _) = post(&http, &server, "demo", &json!({"events": [event("installed", "a b\n", "1.0.0")]}));
    assert_eq!(status, 400);
    let raw = http.post(format!("{}/demo/events", server.url)).body(vec![0xff; 1000]).send().unwrap();
    assert_eq!(raw.status(), 400);
    let r = http.get(format!("{}/api/v1/apps/demo/releases/9.9.9/health", server.url)).bearer_auth(ADMIN_TOKEN);
    assert_eq!(r.send().unwrap().status(), 404, "an unknown version has no health, nothing was stored for it");

    // The flood: 1,000 batches of 100 events, each event from a fresh install id.
    let (mut accepted, mut limited, mut retry_after_seen) = (0u64, 0u32, false);
    let started = Instant::now();
    for batch in 0..1000 {
        let events: Vec<Value> = (0..100).map(|i| event("installed", &format!("flood-{batch}-{i}"), "1.0.0")).collect();
        let r = http.post(format!("{}/demo/events", server.url)).json(&json!({ "events": events })).send().unwrap();
        match r.status().as_u16() {
            202 => accepted += r.json::<Value>().unwrap()["accepted"].as_u64().unwrap(),
            429 => {
                limited += 1;
                retry_after_seen |= r.headers().get("retry-after").is_some();
                // A 429 answers in a few dozen bytes: no amplification.
                assert!(r.bytes().unwrap().len() < 200);
            }
            other => panic!("batch {batch}: {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(retry_after_seen);
    // The burst (60 requests, 5 of them spent above) plus one a second.
    let allowed = 60.0 + elapsed + 1.0;
    assert!(f64::from(1000 - limited) <= allowed, "{} batches got through in {elapsed:.1}s", 1000 - limited);
    assert!(limited >= 800, "only {limited} batches limited");

    // Healthy, checks still answered, and the stored counts are exactly what was accepted.
    assert_eq!(server.get("/healthz").status(), 200);
    assert_eq!(offered(&http, &server, "after-the-flood"), None);
    let health = ok_json(SERVER.cli(&["--json", "health", "--app", "demo", "--version", "1.0.0"], &admin(&server)));
    assert_eq!(health["totals"]["installed"].as_u64().unwrap(), accepted);
    assert!(accepted > 0);
    assert!(
        server.figure("millennium_client_events_total{app=\"_unknown\",kind=\"_batch\",result=\"rate_limited\"}")
            >= 800
    );
    server.stop();
}

/// The event endpoint answers from memory (its release index), yet follows every change of releases on this server
/// and, on PostgreSQL, on another replica (told by `NOTIFY`): events for an app are `404` until it is created; events
/// for a version are rejected until it is published (the "no such release" the index remembered is dropped then)
/// and counted from then on; after a promote they count under the channel the release was placed in last; a yank
/// keeps the release known (installs that took it before the yank report its rollbacks, which its halt rule needs).
/// Nothing deletes an app or a release, so no other change can make one unknown.
#[test]
fn the_event_endpoint_follows_every_change_of_releases() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &[]);
    let other = Backend::shared().then(|| {
        let shared = Backend::for_dir(&tmp.path().join("data"));
        let dir = tmp.path().join("other");
        SERVER.serve_with(&dir, free_loopback_port(), &tmp.path().join("other.log"), &shared, &[])
    });
    let replicas: Vec<&ServerProcess> = std::iter::once(&server).chain(other.as_ref()).collect();
    let http = reqwest::blocking::Client::new();
    let mut installs = 0u32;
    let mut report = |replica: &ServerProcess, to: &str| {
        installs += 1;
        post(&http, replica, "demo", &json!({"events": [event("installed", &format!("install-{installs}"), to)]}))
    };
    let accepted = json!({"accepted": 1, "rejected": 0, "duplicates": 0});
    let rejected = json!({"accepted": 0, "rejected": 1, "duplicates": 0});
    // The first replica answers from its own commit; another one once the notification arrived (milliseconds).
    let counted_by = |replica: &ServerProcess, report: &mut dyn FnMut(&ServerProcess) -> (u16, Value)| {
        let deadline = Instant::now() + Duration::from_secs(if std::ptr::eq(replica, &server) { 0 } else { 10 });
        loop {
            let answer = report(replica);
            if answer == (202, accepted.clone()) {
                return;
            }
            assert!(Instant::now() < deadline, "not counted: {answer:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    for replica in &replicas {
        assert_eq!(report(replica, "1.0.0").0, 404);
    }
    let key = app_with_releases(&server, tmp.path(), None);
    for replica in &replicas {
        counted_by(replica, &mut |r| report(r, "1.0.0"));
        assert_eq!(report(replica, "2.0.0"), (202, rejected.clone()), "2.0.0 is not published yet");
    }

    publish(&server, tmp.path(), &key, "2.0.0", 100, &[]);
    for replica in &replicas {
        counted_by(replica, &mut |r| report(r, "2.0.0"));
    }

    ok_json(SERVER.cli(&["--json", "promote", "--app", "demo", "--version", "2.0.0", "--to", "beta"], &admin(&server)));
    for replica in &replicas {
        // Wait until the replica serves the promote (its answers and the index are dropped on the same notification).
        let deadline = Instant::now() + Duration::from_secs(10);
        while replica.get("/demo/beta/latest.json").status() != 200 {
            assert!(Instant::now() < deadline, "the promote is not served");
            std::thread::sleep(Duration::from_millis(50));
        }
        counted_by(replica, &mut |r| report(r, "2.0.0"));
    }

    ok_json(SERVER.cli(&["--json", "yank", "--app", "demo", "--version", "2.0.0"], &admin(&server)));
    for replica in &replicas {
        assert_eq!(report(replica, "2.0.0"), (202, accepted.clone()), "a yanked release is still counted");
    }

    let n = replicas.len() as u64;
    let health = ok_json(SERVER.cli(&["--json", "health", "--app", "demo", "--version", "2.0.0"], &admin(&server)));
    assert_eq!(health["totals"]["installed"], 3 * n, "{health}");
    let in_channel = |channel: &str| -> u64 {
        let buckets = health["buckets"].as_array().unwrap();
        buckets.iter().filter(|b| b["channel"] == channel).map(|b| b["counts"]["installed"].as_u64().unwrap()).sum()
    };
    assert_eq!((in_channel("stable"), in_channel("beta")), (n, 2 * n), "{health}");
    drop(replicas);
    if let Some(other) = other {
        other.stop();
    }
    server.stop();
}
