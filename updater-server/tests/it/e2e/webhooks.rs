//! Webhook deliveries against the real server binary and a real receiver (which checks every signature): a change
//! and its deliveries are committed in one transaction, so deliveries of changes made while the receiver is down
//! survive a `kill -9` of the server right after the last change's answer and reach the receiver once both are back;
//! a `kill -9` at any point of a change leaves both or neither; and a change the server refuses inside its
//! transaction leaves no delivery behind.

use std::time::{Duration, Instant};

use millennium_sign::{Format, SecretKey};
use millennium_testing::keys::write_key;
use millennium_testing::server::{ADMIN_TOKEN, ServerProcess, free_loopback_port};
use millennium_update_admin::api::Yank;
use millennium_update_protocol::Version;
use serde_json::{Value, json};

use super::health::{Received, admin, app_with_releases, delivered, publish, receiver, receiver_on, start};
use super::{SERVER, ok_json};

const SECRET: &str = "webhook-e2e-secret-0123456789abcdef";

/// The app's delivery log, newest first, read with the CLI.
fn deliveries(server: &ServerProcess) -> Vec<Value> {
    let log = ok_json(SERVER.cli(&["--json", "webhooks", "deliveries", "--app", "demo"], &admin(server)));
    log["deliveries"].as_array().unwrap().clone()
}

/// `POST /api/v1/apps/demo/releases/{version}/{action}` with the admin token; the status and the JSON answer.
fn admin_post(server: &ServerProcess, version: &str, action: &str, body: &impl serde::Serialize) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/apps/demo/releases/{version}/{action}", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// The proof that the deliveries of a change are committed with it: with the receiver down, a publish, a yank and a
/// rollout change are made, and the server is killed with `kill -9` the moment the rollout change is answered. The
/// server restarted on the same data lists the three deliveries, still pending; once the receiver listens on the
/// webhook's port, each arrives once, with a valid signature and the change's data, and the log says delivered.
#[test]
fn deliveries_of_changes_made_while_the_receiver_is_down_survive_a_kill_9_and_arrive_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [("MILLENNIUM_WEBHOOK_RETRY", "1s")];
    let server = start(tmp.path(), &env);
    let key = app_with_releases(&server, tmp.path(), Some(10));
    // Nothing listens on the webhook's port until the end.
    let port = free_loopback_port();
    let hook_url = format!("http://127.0.0.1:{port}/hook");
    ok_json(
        SERVER.cli(
            &["--json", "webhooks", "add", "--app", "demo", "--url", &hook_url, "--secret", SECRET],
            &admin(&server),
        ),
    );
    assert_eq!(deliveries(&server), Vec::<Value>::new(), "the releases published before the webhook announce nothing");

    publish(&server, tmp.path(), &key, "3.0.0", 100, &[]);
    ok_json(SERVER.cli(&["--json", "yank", "--app", "demo", "--version", "1.0.0"], &admin(&server)));
    let (status, answer) = admin_post(&server, "2.0.0", "rollout", &json!({"percent": 50}));
    server.kill9();
    assert_eq!(status, 200, "{answer}");

    let server = start(tmp.path(), &env);
    let pending = deliveries(&server);
    let mut events: Vec<&str> = pending.iter().map(|d| d["event"].as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(events, ["release.published", "release.yanked", "rollout.changed"], "{pending:?}");
    assert!(pending.iter().all(|d| d["status"] == "pending"), "{pending:?}");

    let (_, received) = receiver_on(port, SECRET, 0);
    let check = |event: &str, version: &str, data: Value| {
        let got: Received = delivered(&received, event);
        assert!(got.signature_ok, "{got:?}");
        assert_eq!((got.body["app"].as_str(), got.body["version"].as_str()), (Some("demo"), Some(version)));
        assert_eq!(got.body["data"], data, "{got:?}");
        assert!(pending.iter().any(|d| d["id"] == got.delivery.as_str()), "{got:?} is not one of {pending:?}");
    };
    check("release.published", "3.0.0", json!({"channel": "stable", "rollout": 100}));
    check("release.yanked", "1.0.0", json!({}));
    check("rollout.changed", "2.0.0", json!({"channel": "stable", "percent": 50, "paused": null}));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(&server);
        if log.iter().all(|d| d["status"] == "delivered") {
            assert_eq!(log.len(), 3, "{log:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not all recorded as delivered: {log:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(received.lock().unwrap().len(), 3, "each delivery arrived once");
    server.stop();
}

/// `kill -9` at points spread over rollout changes (each setting a percentage no other trial sets, sent straight to
/// the API): after each restart, the change is either committed with its `rollout.changed` delivery in the log, or
/// neither is there. A server that enqueues the delivery after committing the change fails this whenever a kill lands
/// between the two: a few milliseconds of each change, which the spread of kills hits in most runs.
#[test]
fn a_kill_9_anywhere_in_a_change_leaves_the_change_and_its_delivery_or_neither() {
    const TRIALS: u8 = 50;
    let tmp = tempfile::tempdir().unwrap();
    let mut server = start(tmp.path(), &[]);
    app_with_releases(&server, tmp.path(), Some(10));
    let hook_url = format!("http://127.0.0.1:{}/hook", free_loopback_port());
    ok_json(
        SERVER.cli(
            &["--json", "webhooks", "add", "--app", "demo", "--url", &hook_url, "--secret", SECRET],
            &admin(&server),
        ),
    );
    let change = |url: String, percent: u8| {
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            http.post(url).bearer_auth(ADMIN_TOKEN).json(&json!({ "percent": percent })).send().map(|r| r.status())
        })
    };
    let rollout_url = |server: &ServerProcess| format!("{}/api/v1/apps/demo/releases/2.0.0/rollout", server.url);
    // How long a change takes here, sent as the trials send it and answered: the kills are spread over twice that.
    let took = (1..=3u8)
        .map(|percent| {
            let started = Instant::now();
            assert_eq!(change(rollout_url(&server), percent).join().unwrap().unwrap(), 200);
            started.elapsed()
        })
        .max()
        .unwrap();
    let mut committed = 0;
    for trial in 0..TRIALS {
        let percent = 11 + trial;
        let request = change(rollout_url(&server), percent);
        // From before the request arrives to after it is answered.
        std::thread::sleep(took.mul_f64(2.0 * f64::from(trial) / f64::from(TRIALS)));
        server.kill9();
        let answered = request.join().unwrap();
        server = start(tmp.path(), &[]);
        let release = server.releases("demo").into_iter().find(|r| r["version"] == "2.0.0").unwrap();
        let changed = release["channels"][0]["rollout"] == percent;
        let announced = deliveries(&server).iter().any(|d| {
            let body: Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
            d["event"] == "rollout.changed" && body["data"]["percent"] == percent
        });
        assert_eq!(
            changed, announced,
            "trial {trial} (answered: {answered:?}): changed {changed}, announced {announced}"
        );
        committed += usize::from(changed);
    }
    eprintln!(
        "kill -9 spread over twice {took:?}: {committed} of {TRIALS} rollout changes had committed before the kill"
    );
    assert!(committed > 0, "no trial committed: the kills all came too early to test anything");
    server.stop();
}

/// An app with signed yanks (a root with a root key): a yank whose signed list does not list what would be yanked is
/// refused by the check that runs inside the yank's transaction, after the release was marked and its delivery
/// written there; a rollout change in a channel the release is not in is refused too. Neither leaves a delivery in
/// the log or at the receiver, and the release is not yanked. The same yank with the list the CLI signs is then
/// delivered, once.
#[test]
fn a_change_refused_inside_its_transaction_leaves_no_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &[("MILLENNIUM_WEBHOOK_RETRY", "1s")]);
    let key = app_with_releases(&server, tmp.path(), None);

    // Root 1: the release key and one root key (so yanks must be signed), and the server's online key.
    let file = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let (key_file, root_file, root_pub, online_pub) =
        (file("release.key"), file("root.key"), file("root.pub"), file("online.pub"));
    write_key(std::path::Path::new(&key_file), &key);
    let root_key = SecretKey::generate().unwrap();
    write_key(std::path::Path::new(&root_file), &root_key);
    std::fs::write(&root_pub, root_key.public_key().to_text(Format::Minisign)).unwrap();
    let online = ok_json(SERVER.cli(&["--json", "online-key", "generate", "--app", "demo"], &admin(&server)));
    std::fs::write(&online_pub, online["public_key"].as_str().unwrap()).unwrap();
    let root = ok_json(SERVER.cli(
        &[
            "--json",
            "root",
            "sign",
            "--app",
            "demo",
            "--release-key",
            &key_file,
            "--root-key",
            &root_file,
            "--root-public-key",
            &root_pub,
            "--threshold",
            "1",
            "--online-key",
            &online_pub,
        ],
        &admin(&server),
    ));
    assert_eq!(root["uploaded"], true, "{root}");

    let (hook_url, received) = receiver(SECRET, 0);
    ok_json(
        SERVER.cli(
            &["--json", "webhooks", "add", "--app", "demo", "--url", &hook_url, "--secret", SECRET],
            &admin(&server),
        ),
    );

    // Signed by the release key, numbered right, but listing nothing, where 1.0.0 would be yanked.
    let v100 = Version::parse("1.0.0").unwrap();
    let wrong = millennium_update_admin::offline::yank_list("demo", 1, Vec::new(), &key).unwrap();
    let (status, answer) = admin_post(&server, "1.0.0", "yank", &Yank { yanked: true, yanks: Some(wrong) });
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("bad_metadata")), "{answer}");
    let (status, answer) = admin_post(&server, "1.0.0", "rollout", &json!({"channel": "beta", "percent": 5}));
    assert_eq!(status, 404, "{answer}");
    assert_eq!(deliveries(&server), Vec::<Value>::new());
    let v1 = server.releases("demo").into_iter().find(|r| r["version"] == "1.0.0").unwrap();
    assert_eq!(v1["yanked"], false, "{v1}");

    // The yank with the list the CLI signs goes through, and is the one delivery.
    let yank = ["--json", "yank", "--app", "demo", "--version", "1.0.0", "--release-key", &key_file];
    ok_json(SERVER.cli(&yank, &admin(&server)));
    let got = delivered(&received, "release.yanked");
    assert!(got.signature_ok, "{got:?}");
    assert_eq!(got.body["version"], v100.to_string());
    let log = deliveries(&server);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["id"], got.delivery.as_str());
    // Anything enqueued before it would have been due first; give a straggler a poll of the job to show up anyway.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(received.lock().unwrap().len(), 1, "{:?}", received.lock().unwrap());
    server.stop();
}
