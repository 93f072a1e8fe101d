//! The delta job and the delta route (docs/protocol.md §9), on the backend the environment names: pairs of real builds
//! (`millennium-testing`'s `rust_builds`) published in a row, the job's decisions read from `/metrics`, the answers
//! and the delta downloads read over HTTP, and the deltas applied with `millennium-delta` to the published bytes.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::Path;
use std::time::Duration;

use millennium_testing::server::{Backend, RegisteredApp, TestServer};
use millennium_update_admin::api::{PublishRequest, Scope};
use millennium_update_protocol::metadata::blake2b_256_hex;

const APP: &str = "demo";

struct World {
    server: TestServer,
    app: RegisteredApp,
    target: String,
}

impl World {
    async fn new() -> World {
        let mut server = TestServer::start_with(Backend::for_dir, |config| config).await;
        server.start_jobs();
        let app = server.register(APP, Scope::Publish).await;
        World { server, app, target: format!("linux-{}", std::env::consts::ARCH) }
    }

    async fn publish(&self, version: &str, data: &[u8]) {
        let artifact = self.app.artifact(version, &self.target, data, &self.app.key);
        self.app.publish(&PublishRequest::new(version), &[artifact]).await;
    }

    async fn jobs(&self, result: &str) -> u64 {
        self.server.delta_jobs(APP, result).await
    }

    async fn wait_for(&self, result: &str, n: u64) {
        self.server.wait_for_delta_jobs(APP, result, n).await;
    }

    /// The dynamic answer for an install of `current` that names the artifact `installed`.
    async fn answer(&self, current: &str, installed: Option<&[u8]>) -> serde_json::Value {
        let url = format!("{}/{APP}/linux/{}/{current}", self.server.url, std::env::consts::ARCH);
        let mut request = reqwest::Client::new().get(url);
        if let Some(data) = installed {
            request = request.header("X-Millennium-Installed", format!("blake2b-256:{}", blake2b_256_hex(data)));
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_job_makes_deltas_from_the_last_releases_once_and_they_are_served_with_ranges() {
    let w = World::new().await;
    let builds = millennium_testing::rust_builds::builds(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let read = |p: &Path| std::fs::read(p).unwrap();
    let (v1, v2, v3) = (read(&builds.v1), read(&builds.asset), read(&builds.function));
    w.publish("1.0.0", &v1).await;
    w.publish("2.0.0", &v2).await;
    w.wait_for("stored", 1).await;
    // To the newest release from each of the (up to 3) before it: 2.0.0 → 3.0.0 and 1.0.0 → 3.0.0.
    w.publish("3.0.0", &v3).await;
    w.wait_for("stored", 3).await;

    let answer = w.answer("1.0.0", Some(&v1)).await;
    assert_eq!(answer["version"], "3.0.0");
    let deltas = answer["deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), 1, "only the delta from the named artifact: {answer}");
    assert_eq!(deltas[0]["from"], blake2b_256_hex(&v1));
    assert!(w.answer("1.0.0", None).await.get("deltas").is_none(), "no header, no deltas");
    assert!(w.answer("1.0.0", Some(b"another artifact")).await.get("deltas").is_none());

    // The delta, downloaded, rebuilds 3.0.0 from 1.0.0 exactly.
    let url = deltas[0]["url"].as_str().unwrap();
    let client = reqwest::Client::new();
    let delta = client.get(url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(delta.len() as u64, deltas[0]["size"].as_u64().unwrap());
    assert_eq!(blake2b_256_hex(&delta), deltas[0]["blake2b_256"]);
    let dir = tempfile::tempdir().unwrap();
    let (base, file, out) = (dir.path().join("base"), dir.path().join("delta"), dir.path().join("out"));
    std::fs::write(&base, &v1).unwrap();
    std::fs::write(&file, &delta).unwrap();
    millennium_delta::apply(&base, &file, &out, v3.len() as u64).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), v3);
    // Ranges and HEAD as for artifacts; an unknown base is a 404.
    let part = client.get(url).header("Range", "bytes=10-19").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), delta[10..20]);
    let head = client.head(url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], delta.len().to_string().as_str());
    let unknown = url.rsplit_once('/').unwrap().0.to_owned() + "/" + &"ab".repeat(32);
    assert_eq!(client.get(unknown).send().await.unwrap().status(), 404);
    assert_eq!(w.server.downloads(APP, "delta").await, 1);

    // Unrelated content: no delta is worth it, and none is offered; the publish went through all the same.
    // Incompressible enough that no encoder gets under 60 %.
    let noise: Vec<u8> =
        millennium_testing::xorshift64(0x9e37_79b9_7f4a_7c15).take(200_000).map(|x| x.to_le_bytes()[3]).collect();
    w.publish("4.0.0", &noise).await;
    w.wait_for("not_worth_it", 3).await;
    let answer = w.answer("3.0.0", Some(&v3)).await;
    assert_eq!(answer["version"], "4.0.0");
    assert!(answer.get("deltas").is_none(), "{answer}");
    // Each pair was decided once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((w.jobs("stored").await, w.jobs("not_worth_it").await, w.jobs("failed").await), (3, 3, 0));
}

/// `migrate` copies the delta job's rows (stored and not worth it) and the delta blobs: a server on the copy offers
/// and serves the same deltas, and its job does not make them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_the_deltas_and_their_blobs() {
    use futures_util::TryStreamExt;

    let mut w = World::new().await;
    let builds = millennium_testing::rust_builds::builds(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let (v1, v2) = (std::fs::read(&builds.v1).unwrap(), std::fs::read(&builds.asset).unwrap());
    w.publish("1.0.0", &v1).await;
    w.publish("2.0.0", &v2).await;
    w.wait_for("stored", 1).await;
    let offered = w.answer("1.0.0", Some(&v1)).await["deltas"][0].clone();
    let path = offered["url"].as_str().unwrap().strip_prefix(&w.server.url).unwrap().to_owned();
    let served = reqwest::get(offered["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    // The same pair in the newest delta forms, for current updaters: a second blob.
    let newest = format!("{path}.bounded-window");
    let served_newest = reqwest::get(format!("{}{newest}", w.server.url)).await.unwrap();
    assert_eq!(served_newest.status(), 200);
    let served_newest = served_newest.bytes().await.unwrap();
    assert_ne!(served_newest, served);
    w.server.stop_jobs();

    let data = w.server.data_dir();
    let from = Backend::for_dir(&data).storage(&data);
    let target_dir = w.server.dir.path().join("target");
    let target = Backend {
        database_url: Some(format!("sqlite://{}/millennium.db", target_dir.display())),
        storage_url: Some(url::Url::from_directory_path(target_dir.join("blobs")).unwrap().to_string()),
    };
    let to = target.storage(&target_dir);
    let report = millennium_update_server::migrate::migrate(&from, &to).await.unwrap();
    assert_eq!(report.rows.deltas, 1, "{report:?}");
    assert_eq!(report.blobs.referenced, 4, "two artifacts, the delta and its alternative: {report:?}");
    if !report.blobs.same_store {
        assert_eq!(report.blobs.copied, 4, "{report:?}");
    }

    // A server on the copy offers the same delta, serves the same bytes, and has nothing left to make.
    let mut copy = TestServer::start_with(move |_| target, |config| config).await;
    copy.start_jobs();
    let url = format!("{}/{APP}/linux/{}/1.0.0", copy.url, std::env::consts::ARCH);
    let answer: serde_json::Value = reqwest::Client::new()
        .get(url)
        .header("X-Millennium-Installed", format!("blake2b-256:{}", blake2b_256_hex(&v1)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut copied = answer["deltas"][0].clone();
    assert_eq!(copied["url"].as_str().unwrap().strip_prefix(&copy.url), Some(path.as_str()), "{answer}");
    copied["url"] = offered["url"].clone();
    assert_eq!(copied, offered);
    let bytes = reqwest::get(format!("{}{path}", copy.url)).await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes, served);
    let bytes = reqwest::get(format!("{}{newest}", copy.url)).await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes, served_newest);
    let (db, blobs) = to.open().await.unwrap();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&served));
    let stored: Vec<bytes::Bytes> =
        blobs.read(&sha256, 0, served.len() as u64).await.unwrap().try_collect().await.unwrap();
    assert_eq!(stored.concat(), served);
    // Both delta blobs are referenced: garbage collection removes neither.
    assert_eq!(blobs.collect_garbage(|| db.referenced_blobs(), Duration::ZERO).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = copy.metrics().await;
    let made = format!("millennium_delta_jobs_total{{app=\"{APP}\",result=\"stored\"}}");
    assert!(!text.lines().any(|l| l.starts_with(&made)), "the copy's job made a delta again:\n{text}");
    db.close().await;
}
