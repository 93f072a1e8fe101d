//! The updater against local HTTP servers: the check contract, downloads (resume, restart), install, rollback, and
//! fault injection. In every failure test the app keeps its current version and the error says why.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support;
use crate::support::{CHECK, builder, dynamic_json, static_json};
use millennium_testing::app::{Fixture, run, script_app};
use millennium_testing::http::{MockServer, Reply, Request, TestCa, serve_file};
use millennium_testing::keys::Keys;
use millennium_testing::require_tool;
use millennium_updater::{Error, StartupStatus, Updater, UpdaterBuilder};

/// A server offering `v2` (signed by `keys`, with `version:`) at `/artifact`.
async fn offering(keys: &Keys, v2: Vec<u8>) -> MockServer {
    support::offering(keys, v2, support::release("2.0.0")).await
}

#[tokio::test]
async fn check_fills_the_template_and_sends_install_id_channel_and_headers() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = MockServer::start(|_| Reply::status(204)).await;
    let updater =
        builder(&fx, &keys, &[server.url("/update/%7B%7Btarget%7D%7D/{{arch}}/{{current_version}}/{{bundle_type}}")])
            .current_version("1.0.0-beta.1+build.5")
            .channel("beta")
            .header("Authorization", "Bearer t0ken")
            .build()
            .unwrap();
    assert!(updater.check().await.unwrap().is_none());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let arch = std::env::consts::ARCH;
    assert_eq!(reqs[0].path, format!("/update/linux/{arch}/1.0.0-beta.1%2Bbuild.5/unknown?channel=beta"));
    assert_eq!(reqs[0].header("Accept"), Some("application/json"));
    assert_eq!(reqs[0].header("Authorization"), Some("Bearer t0ken"));
    let id = reqs[0].header("Millennium-Install-Id").unwrap().to_owned();
    assert_eq!(id.len(), 36);
    // The install id is generated once and persisted.
    let again = builder(&fx, &keys, &[server.url("/x")]).build().unwrap();
    assert_eq!(again.install_id(), id);
    assert_eq!(std::fs::read_to_string(fx.state.join("install-id")).unwrap().trim(), id);
}

#[tokio::test]
async fn a_204_means_no_update_and_stops_at_that_endpoint() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let no = MockServer::start(|_| Reply::status(204)).await;
    let yes = offering(&keys, script_app("2.0.0", 100)).await;
    let updater = builder(&fx, &keys, &[no.url("/update"), yes.url(CHECK)]).build().unwrap();
    assert!(updater.check().await.unwrap().is_none());
    assert!(yes.requests().is_empty(), "a 204 must stop the check");
}

#[tokio::test]
async fn equal_or_older_version_is_no_update() {
    for offered in ["1.0.0", "0.9.9", "1.0.0-rc.1", "1.0.0+other"] {
        let fx = Fixture::new();
        let keys = Keys::generate();
        let v = script_app(offered, 100);
        let sig = keys.sign(&v, Some(offered));
        let json = dynamic_json(offered, "http://127.0.0.1:9/never", sig);
        let server = MockServer::start(move |_| Reply::json(json.clone())).await;
        let updater = builder(&fx, &keys, &[server.url(CHECK)]).build().unwrap();
        assert!(updater.check().await.unwrap().is_none(), "{offered} is not an update over 1.0.0");
        fx.assert_untouched();
    }
}

#[tokio::test]
async fn full_update_then_confirm() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 300_000);
    let server = offering(&keys, v2.clone()).await;
    let updater = builder(&fx, &keys, &[server.url(CHECK)]).build().unwrap();
    let update = updater.check().await.unwrap().expect("an update");
    assert_eq!(update.version().to_string(), "2.0.0");
    assert_eq!(update.notes(), Some("notes for the test"));
    let mut seen = Vec::new();
    let downloaded = update.download(|p| seen.push(p)).await.unwrap();
    assert_eq!(seen.last().unwrap().downloaded, v2.len() as u64);
    assert_eq!(seen.last().unwrap().total, Some(v2.len() as u64));
    fx.assert_untouched(); // downloading never touches the app
    downloaded.install().unwrap();
    assert_eq!(std::fs::read(&fx.app).unwrap(), v2);
    assert_eq!(run(&fx.app), "2.0.0");
    assert_eq!(std::fs::read(fx.dir.path().join("app.previous")).unwrap(), fx.v1);
    assert!(fx.downloads().is_empty(), "{:?}", fx.downloads());
    let art = server.requests_to("/artifact");
    assert_eq!(art[0].header("Accept"), Some("application/octet-stream"));
    assert_eq!(art[0].header("Millennium-Install-Id"), Some(updater.install_id()));

    // The new version starts, counts, confirms.
    let v2_updater = builder(&fx, &keys, &[server.url(CHECK)]).current_version("2.0.0").build().unwrap();
    assert_eq!(v2_updater.startup().unwrap(), StartupStatus::PendingConfirmation { start: 1, allowed: 3 });
    v2_updater.confirm_healthy().unwrap();
    assert_eq!(v2_updater.startup().unwrap(), StartupStatus::Normal);
    assert!(v2_updater.check().await.unwrap().is_none());
}

#[tokio::test]
async fn static_latest_json_is_understood() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 1000);
    let sig = keys.sign(&v2, Some("2.0.0"));
    let target = format!("linux-{}", std::env::consts::ARCH);
    let json = Arc::new(std::sync::OnceLock::<String>::new());
    let j2 = json.clone();
    let body = v2.clone();
    let server = MockServer::start(move |req| match req.path.as_str() {
        "/latest.json" => Reply::json(j2.get().unwrap().clone()),
        _ => Reply::bytes(body.clone()),
    })
    .await;
    json.set(static_json("2.0.0", &target, &server.url("/a"), sig)).unwrap();
    let updater = builder(&fx, &keys, &[server.url("/latest.json")]).build().unwrap();
    updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&fx.app), "2.0.0");
}

#[tokio::test]
async fn blocking_api_updates_too() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = offering(&keys, script_app("2.0.0", 5000)).await;
    let b = builder(&fx, &keys, &[server.url(CHECK)]);
    tokio::task::spawn_blocking(move || {
        let updater = b.build_blocking().unwrap();
        let update = updater.check().unwrap().unwrap();
        assert_eq!(update.version().to_string(), "2.0.0");
        update.download_and_install(|_| {}).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(run(&fx.app), "2.0.0");
}

// ----- resume -----

#[tokio::test]
async fn interrupted_download_resumes_with_range_and_if_range() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 200_000);
    let sig = keys.sign(&v2, Some("2.0.0"));
    let hits = Arc::new(AtomicUsize::new(0));
    let (h, body) = (hits.clone(), v2.clone());
    let server = MockServer::start(move |req| {
        if req.path != "/artifact" {
            return Reply::status(404);
        }
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            // First attempt: half the file, then a reset.
            Reply::ResetAfter {
                status: 200,
                headers: vec![("ETag".into(), "\"abc\"".into()), ("Content-Length".into(), body.len().to_string())],
                body: body[..100_000].to_vec(),
            }
        } else {
            serve_file(req, &body, "\"abc\"")
        }
    })
    .await;
    let json = dynamic_json("2.0.0", &server.url("/artifact"), sig);
    let check = MockServer::start(move |_| Reply::json(json.clone())).await;
    let updater = builder(&fx, &keys, &[check.url(CHECK)]).build().unwrap();
    let update = updater.check().await.unwrap().unwrap();
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(std::fs::read(&fx.app).unwrap(), v2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("Range"), None);
    let range = reqs[1].header("Range").unwrap();
    let start: u64 = range.strip_prefix("bytes=").unwrap().strip_suffix('-').unwrap().parse().unwrap();
    assert!(start > 0 && start <= 100_000, "{range}");
    assert_eq!(reqs[1].header("If-Range"), Some("\"abc\""));
}

#[tokio::test]
async fn a_partial_download_from_an_earlier_run_is_resumed_or_restarted_cleanly() {
    // Run 1 is cut off every time; run 2 (a new Updater, as after an app restart) resumes or restarts.
    for (name, changed_on_server) in [("resume", false), ("file changed", true)] {
        let fx = Fixture::new();
        let keys = Keys::generate();
        let v2 = script_app("2.0.0", 150_000);
        let sig = keys.sign(&v2, Some("2.0.0"));
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (b, body) = (broken.clone(), v2.clone());
        let server = MockServer::start(move |req| {
            if req.path.starts_with("/update/") {
                return Reply::status(500);
            }
            if b.load(Ordering::SeqCst) {
                let mut junk = body.clone();
                if changed_on_server {
                    junk[60_000] ^= 0xff; // what the server had before: a different file
                }
                Reply::CloseAfter {
                    status: 200,
                    headers: vec![
                        ("ETag".into(), if changed_on_server { "\"old\"" } else { "\"same\"" }.into()),
                        ("Content-Length".into(), body.len().to_string()),
                    ],
                    body: junk[..70_000].to_vec(),
                }
            } else {
                serve_file(req, &body, "\"same\"")
            }
        })
        .await;
        let json = dynamic_json("2.0.0", &server.url("/artifact"), sig);
        let check = MockServer::start(move |_| Reply::json(json.clone())).await;
        let updater = builder(&fx, &keys, &[check.url(CHECK)]).download_attempts(1).build().unwrap();
        let update = updater.check().await.unwrap().unwrap();
        let err = update.download(|_| {}).await.unwrap_err();
        assert!(matches!(err, Error::Truncated { received: 70_000, .. }), "{name}: {err}");
        assert!(err.to_string().contains("70000 of 150000"), "{err}");
        fx.assert_untouched();

        broken.store(false, Ordering::SeqCst);
        let updater = builder(&fx, &keys, &[check.url(CHECK)]).build().unwrap();
        updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
        assert_eq!(std::fs::read(&fx.app).unwrap(), v2, "{name}");
        let last = server.requests().pop().unwrap();
        assert_eq!(last.header("Range"), Some("bytes=70000-"), "{name}");
        assert_eq!(last.header("If-Range"), Some(if changed_on_server { "\"old\"" } else { "\"same\"" }), "{name}");
    }
}

#[tokio::test]
async fn a_server_that_ignores_range_restarts_from_zero() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 120_000);
    let sig = keys.sign(&v2, Some("2.0.0"));
    let hits = Arc::new(AtomicUsize::new(0));
    let (h, body) = (hits.clone(), v2.clone());
    let server = MockServer::start(move |_| {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::ResetAfter {
                status: 200,
                headers: vec![("ETag".into(), "\"e\"".into()), ("Content-Length".into(), body.len().to_string())],
                body: body[..50_000].to_vec(),
            }
        } else {
            // Ignores Range: the whole file with 200.
            Reply::Full { status: 200, headers: vec![("ETag".into(), "\"e\"".into())], body: body.clone() }
        }
    })
    .await;
    let json = dynamic_json("2.0.0", &server.url("/artifact"), sig);
    let check = MockServer::start(move |_| Reply::json(json.clone())).await;
    let updater = builder(&fx, &keys, &[check.url(CHECK)]).build().unwrap();
    updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    assert_eq!(std::fs::read(&fx.app).unwrap(), v2);
    assert!(server.requests()[1].header("Range").is_some());
}

// ----- fault injection -----

/// A check server offering `signed` as 2.0.0 (signed by `keys`), and an artifact server answering `artifact`.
async fn faulty(
    keys: &Keys,
    artifact: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    signed: &[u8],
) -> (MockServer, MockServer) {
    let server = MockServer::start(artifact).await;
    let json = dynamic_json("2.0.0", &server.url("/artifact"), keys.sign(signed, Some("2.0.0")));
    let check = MockServer::start(move |_| Reply::json(json.clone())).await;
    (check, server)
}

/// The shape of every download fault: the app's own key signs `signed` as 2.0.0, the artifact server answers
/// `artifact`, the updater (built by `configure`) checks, downloads and installs, and that fails. Returns the error
/// and the artifact server (for its request log), after checking that the app still holds v1 and runs.
async fn failed_install(
    fx: &Fixture,
    signed: &[u8],
    artifact: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    configure: impl FnOnce(UpdaterBuilder) -> UpdaterBuilder,
) -> (Error, MockServer) {
    let keys = Keys::generate();
    let (check, server) = faulty(&keys, artifact, signed).await;
    let updater = configure(builder(fx, &keys, &[check.url(CHECK)])).build().unwrap();
    let err = updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap_err();
    fx.assert_untouched();
    (err, server)
}

#[tokio::test]
async fn fault_connection_reset_mid_body() {
    let fx = Fixture::new();
    let v2 = script_app("2.0.0", 100_000);
    let body = v2.clone();
    let reset = move |_: &Request| Reply::ResetAfter {
        status: 200,
        headers: vec![("Content-Length".into(), body.len().to_string())],
        body: body[..30_000].to_vec(),
    };
    let (err, _) = failed_install(&fx, &v2, reset, |b| b.download_attempts(2)).await;
    assert!(matches!(err, Error::Truncated { expected: 100_000, .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn fault_truncated_body_with_correct_content_length() {
    let fx = Fixture::new();
    let v2 = script_app("2.0.0", 100_000);
    let body = v2.clone();
    let close = move |_: &Request| Reply::CloseAfter {
        status: 200,
        headers: vec![("Content-Length".into(), body.len().to_string())],
        body: body[..99_000].to_vec(),
    };
    let (err, srv) = failed_install(&fx, &v2, close, |b| b.download_attempts(2)).await;
    assert!(matches!(err, Error::Truncated { received: 99_000, expected: 100_000, .. }), "{err}");
    assert!(err.to_string().contains("resumed"), "{err}");
    // No ETag/Last-Modified: the second attempt could not resume safely and started over.
    assert_eq!(srv.requests()[1].header("Range"), None);
}

#[tokio::test]
async fn fault_slow_drip_download_is_cut_off() {
    let fx = Fixture::new();
    let v2 = script_app("2.0.0", 20_000);
    let body = v2.clone();
    let drip = move |_: &Request| Reply::Drip {
        status: 200,
        headers: vec![],
        body: body.clone(),
        chunk: 10,
        every: Duration::from_millis(20),
    };
    let started = std::time::Instant::now();
    let (err, _) =
        failed_install(&fx, &v2, drip, |b| b.download_attempts(1).min_download_speed(4096, Duration::from_millis(300)))
            .await;
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("below the minimum"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn fault_slow_drip_check_hits_the_check_timeout() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = MockServer::start(|_| Reply::Drip {
        status: 200,
        headers: vec![],
        body: vec![b' '; 10_000],
        chunk: 1,
        every: Duration::from_millis(50),
    })
    .await;
    let updater = builder(&fx, &keys, &[server.url(CHECK)]).check_timeout(Duration::from_millis(500)).build().unwrap();
    let err = updater.check().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    fx.assert_untouched();
}

#[tokio::test]
async fn fault_500_then_success_on_the_second_endpoint() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let down = MockServer::start(|_| Reply::status(500)).await;
    let good = offering(&keys, script_app("2.0.0", 1000)).await;
    let updater = builder(&fx, &keys, &[down.url("/update"), "http://127.0.0.1:9/refused".into(), good.url(CHECK)])
        .build()
        .unwrap();
    updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&fx.app), "2.0.0");
    assert_eq!(down.requests().len(), 1);

    // All endpoints down: one error listing each.
    let fx = Fixture::new();
    let updater = builder(&fx, &keys, &[down.url("/update"), "http://127.0.0.1:9/refused".into()]).build().unwrap();
    let err = updater.check().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::AllEndpointsFailed { .. }), "{text}");
    assert!(text.contains("HTTP 500") && text.contains("could not reach"), "{text}");
    fx.assert_untouched();
}

#[tokio::test]
async fn fault_endless_body_is_cut_off() {
    let fx = Fixture::new();
    let v2 = script_app("2.0.0", 1000);
    let endless = |_: &Request| Reply::Endless { status: 200, headers: vec![] };
    let (err, _) = failed_install(&fx, &v2, endless, |b| b.max_download_size(1 << 20)).await;
    assert!(matches!(err, Error::TooMuchData { limit: 1048576, .. }), "{err}");
    assert!(fx.downloads().iter().all(|f| !f.ends_with(".part")), "{:?}", fx.downloads());

    // An endless check document is cut off at the protocol's 1 MiB.
    let keys = Keys::generate();
    let endless = MockServer::start(|_| Reply::Endless { status: 200, headers: vec![] }).await;
    let err = builder(&fx, &keys, &[endless.url(CHECK)]).build().unwrap().check().await.unwrap_err();
    assert!(err.to_string().contains("more than the 1048576 allowed"), "{err}");
}

/// Disk reservation: a server announces 3 GiB (under the 4 GiB limit), which nothing vouches for, then sends a
/// trickle. The `.part` file's allocated blocks, watched during the transfer, follow what arrived: no gigabytes are
/// reserved for bytes that never come.
#[tokio::test]
async fn a_huge_announced_size_reserves_no_disk_space_before_the_bytes_arrive() {
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::AtomicU64;

    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 256 * 1024);
    let body = v2.clone();
    let announced: u64 = 3 << 30;
    let (check, _srv) = faulty(
        &keys,
        move |_| Reply::Drip {
            status: 200,
            headers: vec![("Content-Length".into(), announced.to_string())],
            body: body.clone(),
            chunk: 16 * 1024,
            every: Duration::from_millis(50),
        },
        &v2,
    )
    .await;
    let updater = builder(&fx, &keys, &[check.url(CHECK)]).download_attempts(1).build().unwrap();
    let update = updater.check().await.unwrap().unwrap();

    let most = Arc::new(AtomicU64::new(0));
    let (seen, downloads) = (most.clone(), fx.state.join("downloads"));
    let watcher = tokio::spawn(async move {
        loop {
            for entry in std::fs::read_dir(&downloads).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().ends_with(".part")
                    && let Ok(meta) = entry.metadata()
                {
                    seen.fetch_max(meta.blocks() * 512, Ordering::SeqCst);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let err = update.download(|_| {}).await.unwrap_err();
    watcher.abort();
    assert!(matches!(err, Error::Truncated { received: 262_144, expected: 3_221_225_472, .. }), "{err}");
    let most = most.load(Ordering::SeqCst);
    assert!(most >= 256 * 1024, "the watcher saw the .part file ({most} bytes allocated)");
    assert!(most <= 16 << 20, "{most} bytes reserved for a server that sent 256 KiB and announced {announced}");
    fx.assert_untouched();
}

#[tokio::test]
async fn fault_announced_size_larger_than_allowed() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 10_000);
    let body = v2.clone();
    let (check, _srv) = faulty(&keys, move |_| Reply::bytes(body.clone()), &v2).await;
    let updater = builder(&fx, &keys, &[check.url(CHECK)]).max_download_size(5_000).build().unwrap();
    let err = updater.check().await.unwrap().unwrap().download(|_| {}).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { size: 10_000, limit: 5_000, .. }), "{err}");
    fx.assert_untouched();
}

#[tokio::test]
async fn fault_wrong_content_type() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let html = || Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
        body: b"<html>Please log in to the hotel wifi</html>".to_vec(),
    };
    // On the check…
    let portal = MockServer::start(move |_| html()).await;
    let err = builder(&fx, &keys, &[portal.url(CHECK)]).build().unwrap().check().await.unwrap_err();
    assert!(matches!(err, Error::UnexpectedContentType { .. }), "{err}");
    assert!(err.to_string().contains("captive portal"), "{err}");
    // …and on the download.
    let (err, _) = failed_install(&fx, &script_app("2.0.0", 1000), move |_| html(), |b| b).await;
    assert!(matches!(err, Error::UnexpectedContentType { .. }), "{err}");
}

#[tokio::test]
async fn fault_bad_json_tries_the_next_endpoint() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let bad = MockServer::start(|_| Reply::json("{\"version\": \"2.0.0\", \"url\": ")).await;
    let err = builder(&fx, &keys, &[bad.url(CHECK)]).build().unwrap().check().await.unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err}");
    let good = offering(&keys, script_app("2.0.0", 100)).await;
    let found = builder(&fx, &keys, &[bad.url(CHECK), good.url(CHECK)]).build().unwrap().check().await.unwrap();
    assert!(found.is_some());
    fx.assert_untouched();
}

#[tokio::test]
async fn fault_signature_from_another_key_is_refused_before_downloading() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let attacker = Keys::generate();
    let v2 = script_app("2.0.0", 1000);
    let body = v2.clone();
    let (check, srv) = faulty(&attacker, move |_| Reply::bytes(body.clone()), &v2).await;
    let updater = builder(&fx, &keys, &[check.url(CHECK)]).build().unwrap();
    let err = updater.check().await.unwrap_err();
    assert!(matches!(err, Error::UntrustedKey { .. }), "{err}");
    assert!(err.to_string().contains("nothing was downloaded"), "{err}");
    assert!(srv.requests().is_empty());
    fx.assert_untouched();
}

#[tokio::test]
async fn a_second_pinned_key_is_accepted() {
    let fx = Fixture::new();
    let old = Keys::generate();
    let new = Keys::generate();
    let server = offering(&new, script_app("2.0.0", 100)).await;
    let updater = builder(&fx, &old, &[server.url(CHECK)]).pubkey(&new.public_text).build().unwrap();
    updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&fx.app), "2.0.0");
}

#[tokio::test]
async fn fault_tampered_artifact_fails_verification_and_is_deleted() {
    let fx = Fixture::new();
    let v2 = script_app("2.0.0", 50_000);
    let mut evil = v2.clone();
    evil[40_000] ^= 1;
    let (err, _) = failed_install(&fx, &v2, move |_| Reply::bytes(evil.clone()), |b| b).await;
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");
    assert!(err.to_string().contains("does not match the signature"), "{err}");
    assert!(fx.downloads().is_empty(), "unverified data must not be kept: {:?}", fx.downloads());
}

#[tokio::test]
async fn fault_artifact_swapped_for_another_targets_signed_artifact() {
    for (what, other) in
        [("aarch64 ELF", support::foreign_elf(4096)), ("Windows installer", b"MZ\x90\0rest".repeat(100))]
    {
        let fx = Fixture::new();
        let body = other.clone();
        // Correctly signed by the right key, for the offered version: only its platform is wrong.
        let (err, _) = failed_install(&fx, &other, move |_| Reply::bytes(body.clone()), |b| b).await;
        assert!(matches!(err, Error::WrongTarget { .. }), "{what}: {err}");
        assert!(err.to_string().contains("another platform"), "{err}");
        assert!(fx.downloads().is_empty());
    }
}

#[tokio::test]
async fn fault_signed_version_differs_from_offered_version() {
    // An old, validly signed artifact (signed as 1.5.0) announced as 2.0.0.
    let fx = Fixture::new();
    let keys = Keys::generate();
    let old = script_app("1.5.0", 1000);
    let sig = keys.sign(&old, Some("1.5.0"));
    // The protocol crate refuses to *build* such a document, so write it by hand.
    let sig_text = sig.to_text(millennium_sign::Format::Tauri);
    let body = old.clone();
    let srv = MockServer::start(move |_| Reply::bytes(body.clone())).await;
    let json = format!(r#"{{"version":"2.0.0","url":"{}","signature":"{}"}}"#, srv.url("/artifact"), sig_text);
    let check = MockServer::start(move |_| Reply::json(json.clone())).await;
    let err = builder(&fx, &keys, &[check.url(CHECK)]).build().unwrap().check().await.unwrap_err();
    assert!(err.to_string().contains("1.5.0"), "{err}");
    assert!(srv.requests().is_empty());

    // Unsigned version with `require_signed_version`: refused too, saying how to sign.
    let unsigned = keys.sign(&old, None);
    let json = dynamic_json("2.0.0", &srv.url("/artifact"), unsigned);
    let check = MockServer::start(move |_| Reply::json(json.clone())).await;
    let err = builder(&fx, &keys, &[check.url(CHECK)])
        .require_signed_version(true)
        .build()
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsignedVersion { .. }), "{err}");
    assert!(err.to_string().contains("millennium-sign sign --version 2.0.0"), "{err}");
    assert!(srv.requests().is_empty());
    fx.assert_untouched();
}

/// The library's default is Tauri's: a signature without `version:` is accepted (the artifact is still verified).
/// `millennium_defaults` (what a Millennium app gets) refuses it before downloading, unless the app opts out.
#[tokio::test]
async fn a_signature_without_its_version_is_refused_by_millennium_defaults() {
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 1000);
    let body = v2.clone();
    let (check, srv) = faulty(&keys, move |_| Reply::bytes(body.clone()), &v2).await;
    let unsigned = dynamic_json("2.0.0", &srv.url("/artifact"), keys.sign(&v2, None));
    let check_unsigned = MockServer::start(move |_| Reply::json(unsigned.clone())).await;
    drop(check);

    let fx = Fixture::new();
    let err = builder(&fx, &keys, &[check_unsigned.url(CHECK)])
        .millennium_defaults()
        .build()
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsignedVersion { .. }), "{err}");
    assert!(srv.requests().is_empty());
    fx.assert_untouched();

    for opted_out in [
        builder(&fx, &keys, &[check_unsigned.url(CHECK)]),
        builder(&fx, &keys, &[check_unsigned.url(CHECK)]).require_signed_version(false).millennium_defaults(),
    ] {
        let fx = Fixture::new();
        let updater = opted_out.executable(&fx.app).state_dir(&fx.state).build().unwrap();
        updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
        assert_eq!(run(&fx.app), "2.0.0");
    }
}

#[tokio::test]
async fn fault_no_artifact_for_this_platform() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 100);
    let json = static_json("2.0.0", "windows-x86_64", "http://127.0.0.1:9/a", keys.sign(&v2, Some("2.0.0")));
    let check = MockServer::start(move |_| Reply::json(json.clone())).await;
    let err = builder(&fx, &keys, &[check.url("/latest.json")]).build().unwrap().check().await.unwrap_err();
    assert!(matches!(err, Error::NoArtifactForTarget { .. }), "{err}");
    fx.assert_untouched();
}

// ----- rollback -----

#[tokio::test]
async fn an_update_that_never_confirms_is_rolled_back() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 5000);
    let server = offering(&keys, v2.clone()).await;
    let updater = builder(&fx, &keys, &[server.url(CHECK)]).rollback_after_starts(2).build().unwrap();
    updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&fx.app), "2.0.0");

    let v2_updater = builder(&fx, &keys, &[server.url(CHECK)]).current_version("2.0.0").build().unwrap();
    assert_eq!(v2_updater.startup().unwrap(), StartupStatus::PendingConfirmation { start: 1, allowed: 2 });
    assert_eq!(v2_updater.startup().unwrap(), StartupStatus::PendingConfirmation { start: 2, allowed: 2 });
    assert_eq!(v2_updater.startup().unwrap(), StartupStatus::RolledBack { from: "2.0.0".into(), to: "1.0.0".into() });
    fx.assert_untouched();
    // Back on 1.0.0: nothing pending any more, and the broken 2.0.0 is not offered again.
    let v1_updater = builder(&fx, &keys, &[server.url(CHECK)]).build().unwrap();
    assert_eq!(v1_updater.startup().unwrap(), StartupStatus::Normal);
    assert!(v1_updater.check().await.unwrap().is_none());
}

#[tokio::test]
async fn a_rollback_record_without_the_rename_is_dropped() {
    // The installer died between writing the record and renaming: the old version runs and must not be "rolled back".
    let fx = Fixture::new();
    let keys = Keys::generate();
    std::fs::create_dir_all(&fx.state).unwrap();
    std::fs::write(
        fx.state.join("pending-update.json"),
        format!(
            r#"{{"version":"2.0.0","previous_version":"1.0.0","executable":"{}","previous":"{}.previous","starts":0,"allowed_starts":3}}"#,
            fx.app.display(),
            fx.app.display()
        ),
    )
    .unwrap();
    let updater = builder(&fx, &keys, &["http://127.0.0.1:9/".into()]).build().unwrap();
    assert_eq!(updater.startup().unwrap(), StartupStatus::Normal);
    assert!(!fx.state.join("pending-update.json").exists());
    fx.assert_untouched();
}

#[tokio::test]
async fn manual_rollback_restores_the_previous_version() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = offering(&keys, script_app("2.0.0", 5000)).await;
    let updater = builder(&fx, &keys, &[server.url(CHECK)]).build().unwrap();
    updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
    let v2 = builder(&fx, &keys, &[server.url(CHECK)]).current_version("2.0.0").build().unwrap();
    millennium_updater::rollback::rollback_now(&v2).unwrap();
    fx.assert_untouched();
}

// ----- packages -----

#[tokio::test]
async fn a_failing_dpkg_install_reports_the_tools_output() {
    require_tool("dpkg", "dpkg");
    let fx = Fixture::new();
    // Looks like a .deb (so the platform check passes) but is not a valid archive.
    let mut deb = b"!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n2.0\n".to_vec();
    deb.extend_from_slice(b"garbage that is not a control archive");
    let body = deb.clone();
    let deb_bundle = |b: UpdaterBuilder| b.bundle_type(Some(millennium_updater::BundleType::Deb));
    let keys = Keys::generate();
    let updater = deb_bundle(builder(&fx, &keys, &["http://127.0.0.1:9/".into()])).build().unwrap();
    assert_eq!(updater.target().to_string(), format!("linux-{}-deb", std::env::consts::ARCH));
    let (err, _) = failed_install(&fx, &deb, move |_| Reply::bytes(body.clone()), deb_bundle).await;
    let text = err.to_string();
    assert!(matches!(err, Error::PackageManager { .. }), "{text}");
    assert!(text.contains("dpkg") && text.contains("-i"), "{text}");
}

// ----- verify-then-install race -----

/// A program of the app's user swaps the verified download (its bytes replaced in place) after the verification and
/// before the install, for every install strategy. The swapped bytes are never installed: the install checks what it
/// copies (and for a package, the tool's root side its own copy) once more, and deletes the changed download.
#[tokio::test]
async fn a_download_swapped_after_verification_is_never_installed() {
    use millennium_updater::BundleType;
    let deb = |text: &str| format!("!<arch>\ndebian-binary   {text}").repeat(500).into_bytes();
    let rpm = |text: &str| [&[0xed, 0xab, 0xee, 0xdb, 3, 0][..], text.repeat(500).as_bytes()].concat();
    let cases = [
        ("plain executable", None, script_app("2.0.0", 50_000), script_app("6.6.6", 50_000)),
        ("AppImage", Some(BundleType::AppImage), support::native_elf(50_000, b'a'), support::native_elf(50_000, b'e')),
        ("deb", Some(BundleType::Deb), deb("the verified package"), deb("the attacker's package")),
        ("rpm", Some(BundleType::Rpm), rpm("the verified package"), rpm("the attacker's package")),
    ];
    for (case, bundle, genuine, evil) in cases {
        let fx = Fixture::new();
        let keys = Keys::generate();
        let server = support::offering(&keys, genuine, support::release("2.0.0")).await;
        let updater =
            builder(&fx, &keys, &[server.url("/update/{{target}}/{{arch}}/{{current_version}}/{{bundle_type}}")])
                .bundle_type(bundle)
                .build()
                .unwrap();
        let downloaded = updater.check().await.unwrap().unwrap().download(|_| {}).await.unwrap();
        std::fs::write(downloaded.path(), &evil).unwrap();
        let err = downloaded.install().unwrap_err();
        assert!(matches!(err, Error::ChangedAfterVerification { .. }), "{case}: {err}");
        assert!(err.to_string().contains("changed after it was verified; nothing was installed"), "{err}");
        fx.assert_untouched();
        assert!(fx.downloads().is_empty(), "{case}: the changed download is kept: {:?}", fx.downloads());
    }
}

/// The same race on `verify_local_file`: the caller's file is verified, then changed before the install.
#[test]
fn a_local_file_changed_after_verification_is_never_installed() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 50_000);
    let file = fx.dir.path().join("update.bin");
    std::fs::write(&file, &v2).unwrap();
    let signature = keys.sign(&v2, Some("2.0.0")).to_text(millennium_sign::Format::Tauri);
    let updater = builder(&fx, &keys, &["http://127.0.0.1:9/".into()]).build().unwrap();
    let verified = updater.verify_local_file(&file, &signature, "2.0.0").unwrap();

    std::fs::write(&file, script_app("6.6.6", 50_000)).unwrap();
    let err = verified.install().unwrap_err();
    assert!(matches!(err, Error::ChangedAfterVerification { .. }), "{err}");
    fx.assert_untouched();
    assert!(file.exists(), "the caller's file is left where it is");

    std::fs::write(&file, &v2).unwrap();
    verified.install().unwrap();
    assert_eq!(run(&fx.app), "2.0.0");
}

// ----- install kinds -----

#[tokio::test]
async fn appimage_and_plain_executable_keep_their_mode() {
    use std::os::unix::fs::PermissionsExt;
    for (bundle, mode) in [(Some(millennium_updater::BundleType::AppImage), 0o750), (None, 0o711)] {
        let fx = Fixture::new();
        std::fs::set_permissions(&fx.app, std::fs::Permissions::from_mode(mode)).unwrap();
        let keys = Keys::generate();
        // An AppImage is an ELF for this machine: use a copy of a real one (this test binary).
        let new = if bundle.is_some() {
            std::fs::read(std::env::current_exe().unwrap()).unwrap()
        } else {
            script_app("2.0.0", 3000)
        };
        let server = offering(&keys, new.clone()).await;
        let updater =
            builder(&fx, &keys, &[server.url("/update/{{target}}/{{arch}}/{{current_version}}/{{bundle_type}}")])
                .bundle_type(bundle)
                .build()
                .unwrap();
        let expected_kind = match bundle {
            Some(_) => millennium_updater::InstallKind::AppImage { path: fx.app.clone() },
            None => millennium_updater::InstallKind::Executable { path: fx.app.clone() },
        };
        assert_eq!(updater.install_kind(), &expected_kind);
        updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
        assert_eq!(std::fs::read(&fx.app).unwrap(), new);
        let got = std::fs::metadata(&fx.app).unwrap().permissions().mode() & 0o7777;
        assert_eq!(got, mode, "{bundle:?}");
        let path = &server.requests()[0].path;
        let want = if bundle.is_some() { "/appimage" } else { "/unknown" };
        assert!(path.ends_with(want), "{path}");
    }
}

#[tokio::test]
async fn a_script_is_not_an_appimage() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = offering(&keys, script_app("2.0.0", 3000)).await;
    let updater = builder(&fx, &keys, &[server.url(CHECK)])
        .bundle_type(Some(millennium_updater::BundleType::AppImage))
        .build()
        .unwrap();
    let err = updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap_err();
    assert!(matches!(err, Error::WrongTarget { .. }), "{err}");
    fx.assert_untouched();
}

#[test]
fn configuration_errors_say_what_is_missing() {
    let err = Updater::builder().pubkey("x").current_version("1.0.0").build().unwrap_err();
    assert!(err.to_string().contains("no update endpoint"), "{err}");
    let err = Updater::builder().endpoint("http://127.0.0.1/").current_version("1.0.0").build().unwrap_err();
    assert!(err.to_string().contains("no public key"), "{err}");
    let err = Updater::builder().endpoint("ftp://127.0.0.1/").pubkey("x").current_version("1.0.0").build().unwrap_err();
    assert!(err.to_string().contains("not http(s)"), "{err}");
    let err = Updater::builder().endpoint("http://127.0.0.1/").pubkey("not a key").current_version("1.0.0").build();
    assert!(matches!(err, Err(Error::InvalidPublicKey { .. })));
    let fx = Fixture::new();
    let keys = Keys::generate();
    for origin in ["cdn.example.com", "https://cdn.example.com/downloads/", "ftp://cdn.example.com"] {
        let err = builder(&fx, &keys, &["http://127.0.0.1/".into()]).send_headers_to(origin).build().unwrap_err();
        assert!(err.to_string().contains("is not an origin such as `https://cdn.example.com`"), "{err}");
    }
    let err = builder(&fx, &keys, &["http://127.0.0.1/".into()]).add_root_certificate("not PEM").build().unwrap_err();
    assert!(err.to_string().contains("not a PEM certificate"), "{err}");
    let keys = Keys::generate();
    let err = Updater::builder().endpoint("http://127.0.0.1/").pubkey(&keys.public_text).current_version("1.0").build();
    assert!(err.unwrap_err().to_string().contains("not SemVer"));
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let keys = Keys::generate();
    let fx = Fixture::new();
    let err = builder(&fx, &keys, &["http://updates.example.invalid/{{target}}".into()]).build().unwrap_err();
    assert!(err.to_string().contains("plain http"), "{err}");
    builder(&fx, &keys, &["http://updates.example.invalid/{{target}}".into()])
        .allow_insecure_http(true)
        .build()
        .unwrap();
    builder(&fx, &keys, &["https://updates.example.invalid/{{target}}".into()]).build().unwrap();
    builder(&fx, &keys, &["http://localhost:1/".into(), "http://[::1]:1/".into()]).build().unwrap();
}

#[tokio::test]
async fn redirects_are_followed() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let good = offering(&keys, script_app("2.0.0", 100)).await;
    let target = good.url("/update/linux/x");
    let hop = MockServer::start(move |_| Reply::Full {
        status: 302,
        headers: vec![("Location".into(), target.clone())],
        body: vec![],
    })
    .await;
    let found = builder(&fx, &keys, &[hop.url("/")]).build().unwrap().check().await.unwrap();
    assert_eq!(found.unwrap().version().to_string(), "2.0.0");

    // A redirect to a server that does not answer: the error names that hop, and where the redirect came from.
    let dead_end = MockServer::start(|_| Reply::Full {
        status: 302,
        headers: vec![("Location".into(), "http://127.0.0.1:9/moved".into())],
        body: vec![],
    })
    .await;
    let err = builder(&fx, &keys, &[dead_end.url("/")]).build().unwrap().check().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("http://127.0.0.1:9/moved (redirected from {})", dead_end.url("/"))), "{text}");
}

// ----- where requests go, and with which headers -----

/// The headers an app configures for its update server, and those the updater adds for it.
const PRIVATE_HEADERS: [&str; 4] = ["Authorization", "X-Tenant", "Millennium-Install-Id", "X-Millennium-Webview"];

/// Which of [`PRIVATE_HEADERS`] a request carried.
fn private_headers(request: &Request) -> Vec<&'static str> {
    PRIVATE_HEADERS.into_iter().filter(|name| request.header(name).is_some()).collect()
}

/// A check over https whose answer points the download at plain http on a host that is not loopback, directly or
/// through an https redirect, is refused, and the plain-http server never hears from the updater. (`0.0.0.0` is not
/// loopback by the rule, yet reaches this machine: it stands in for a host on the network.)
#[tokio::test]
async fn an_https_check_never_downloads_over_plain_http() {
    let ca = TestCa::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 5000);
    let body = v2.clone();
    let plain = MockServer::start(move |req| serve_file(req, &body, "\"v2\"")).await;
    let elsewhere = format!("http://0.0.0.0:{}/artifact", plain.addr.port());
    let manifest = Arc::new(std::sync::Mutex::new(String::new()));
    let (served, redirect_to) = (manifest.clone(), elsewhere.clone());
    let check = MockServer::start_tls(&ca, move |req| match req.path.as_str() {
        "/artifact" => {
            Reply::Full { status: 302, headers: vec![("Location".into(), redirect_to.clone())], body: vec![] }
        }
        _ => Reply::json(served.lock().unwrap().clone()),
    })
    .await;
    let signature = keys.sign(&v2, Some("2.0.0"));

    // The manifest names the plain-http URL: refused at the check, before anything is downloaded.
    *manifest.lock().unwrap() = dynamic_json("2.0.0", &elsewhere, signature.clone());
    let fx = Fixture::new();
    let updater = builder(&fx, &keys, &[check.url(CHECK)]).add_root_certificate(ca.ca_pem.clone()).build().unwrap();
    let err = updater.check().await.unwrap_err();
    assert!(matches!(err, Error::HttpsDowngrade { .. }), "{err}");
    assert!(err.to_string().contains(&format!("points to plain-http `{elsewhere}`")), "{err}");

    // The manifest names an https URL that redirects there: refused at that hop.
    *manifest.lock().unwrap() = dynamic_json("2.0.0", &check.url("/artifact"), signature);
    let update = updater.check().await.unwrap().unwrap();
    let err = update.download_and_install(|_| {}).await.unwrap_err();
    assert!(matches!(err, Error::HttpsDowngrade { .. }), "{err}");
    assert_eq!(check.requests_to("/artifact").len(), 1, "the https hop was asked");
    assert!(plain.requests().is_empty(), "the plain-http server was reached: {:?}", plain.requests());
    fx.assert_untouched();
}

/// The app's headers (here an `Authorization` and a tenant) and the install id go to the check's origin only: a
/// manifest pointing the download at another origin, or a redirect to one, does not take them along, as the
/// header-capturing server there shows. `send_headers_to` lets them through to an origin the app names.
#[tokio::test]
async fn custom_headers_and_the_install_id_reach_only_the_checks_origin() {
    let ca = TestCa::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 5000);
    let body = v2.clone();
    let other = MockServer::start_tls(&ca, move |req| serve_file(req, &body, "\"v2\"")).await;
    let manifest = Arc::new(std::sync::Mutex::new(String::new()));
    let (served, redirect_to) = (manifest.clone(), other.url("/artifact"));
    let check = MockServer::start_tls(&ca, move |req| match req.path.as_str() {
        "/artifact" => {
            Reply::Full { status: 302, headers: vec![("Location".into(), redirect_to.clone())], body: vec![] }
        }
        _ => Reply::json(served.lock().unwrap().clone()),
    })
    .await;
    let signature = keys.sign(&v2, Some("2.0.0"));
    let other_origin = other.url("");

    for (case, artifact_url, extra_origin) in [
        ("the manifest points elsewhere", other.url("/artifact"), None),
        ("a redirect points elsewhere", check.url("/artifact"), None),
        ("the app allows the other origin", other.url("/artifact"), Some(other_origin.clone())),
    ] {
        *manifest.lock().unwrap() = dynamic_json("2.0.0", &artifact_url, signature.clone());
        let (checks_before, others_before) = (check.requests().len(), other.requests().len());
        let fx = Fixture::new();
        let mut b = builder(&fx, &keys, &[check.url(CHECK)])
            .add_root_certificate(ca.ca_pem.clone())
            .header("Authorization", "Bearer s3cret")
            .header("X-Tenant", "acme");
        if let Some(origin) = &extra_origin {
            b = b.send_headers_to(origin);
        }
        b.build().unwrap().check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap();
        assert_eq!(run(&fx.app), "2.0.0", "{case}");

        for request in &check.requests()[checks_before..] {
            assert_eq!(private_headers(request), PRIVATE_HEADERS, "{case}: {} at the check's origin", request.path);
        }
        let at_other = &other.requests()[others_before..];
        assert_eq!(at_other.len(), 1, "{case}");
        let expected: &[&str] = if extra_origin.is_some() { &PRIVATE_HEADERS } else { &[] };
        assert_eq!(private_headers(&at_other[0]), expected, "{case}: at the other origin");
    }
}

#[tokio::test]
async fn requests_go_through_the_configured_proxy() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let proxy = MockServer::start(|_| Reply::status(204)).await;
    let updater =
        builder(&fx, &keys, &["http://127.0.0.2:1/update/{{target}}".into()]).proxy(proxy.url("")).build().unwrap();
    assert!(updater.check().await.unwrap().is_none());
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 1);
    // A proxy gets the absolute URL.
    assert_eq!(reqs[0].path, "http://127.0.0.2:1/update/linux");
}
