//! The attacks of issue 20 on the server, each performed against the real binary over TCP (raw HTTP, reqwest or its
//! own CLI), with what the server must do instead (`updater-server/README.md`, "Attacks on the server"). The
//! first-start admin token attack is `e2e::first_start_writes_the_admin_token_to_a_private_file_never_to_stderr`.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use millennium_sign::{Format, SecretKey, Signature, TrustedComment};
use millennium_testing::keys::{write_key, write_signed};
use millennium_testing::server::{ADMIN_TOKEN, Backend, ServerProcess, free_loopback_port};
use serde_json::Value;

use super::{SERVER, artifact_bytes, json_out, ok_json};

/// The real server binary on a fresh data directory under `tmp`, with `env` on top of the usual test settings.
fn start(tmp: &Path, env: &[(&str, &str)]) -> ServerProcess {
    let data_dir = tmp.join("data");
    SERVER.serve_with(&data_dir, free_loopback_port(), &tmp.join("server.log"), &Backend::for_dir(&data_dir), env)
}

/// `apps create` with the CLI (plus `extra` flags), and a token of the app with `scope`.
fn create_app(server: &ServerProcess, key: &SecretKey, extra: &[&str], scope: &str) -> String {
    let public = key.public_key().to_text(Format::Minisign);
    let remote = [("MILLENNIUM_SERVER", server.url.as_str()), ("MILLENNIUM_TOKEN", ADMIN_TOKEN)];
    let mut args = vec!["--json", "apps", "create", "--id", "demo", "--public-key", &public];
    args.extend(extra);
    ok_json(SERVER.cli(&args, &remote));
    let token = ok_json(SERVER.cli(&["--json", "tokens", "create", "--app", "demo", "--scope", scope], &remote));
    token["token"].as_str().unwrap().to_owned()
}

/// A server under `tmp` with the app `demo` and its signed 1.2.0 AppImage (content from `seed`) published on `stable`.
fn published_demo(tmp: &Path, seed: u8) -> ServerProcess {
    let server = start(tmp, &[]);
    let key = SecretKey::generate().unwrap();
    let publish_token = create_app(&server, &key, &[], "publish");
    let file =
        write_signed(tmp, "demo_1.2.0_amd64.AppImage", &artifact_bytes(seed, 10_000), &key, "1.2.0", Format::Tauri);
    ok_json(SERVER.cli(
        &["--json", "publish", "--server", &server.url, "--app", "demo", "--version", "1.2.0", file.to_str().unwrap()],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    ));
    server
}

/// Signed metadata for `demo` with the CLI: an online key, and root 1 signed with `key` (the key the app was
/// registered with) and one root key of its own (threshold 1), the keys written to `dir`.
fn sign_root(server: &ServerProcess, key: &SecretKey, admin_token: &str, dir: &Path) {
    let key_file = dir.join("release.key");
    write_key(&key_file, key);
    let root_key = SecretKey::generate().unwrap();
    let (root_key_file, root_public_file) = (dir.join("root.key"), dir.join("root.pub"));
    write_key(&root_key_file, &root_key);
    std::fs::write(&root_public_file, root_key.public_key().to_text(Format::Minisign)).unwrap();
    let remote = [("MILLENNIUM_SERVER", server.url.as_str()), ("MILLENNIUM_TOKEN", admin_token)];
    let online = ok_json(SERVER.cli(&["--json", "online-key", "generate", "--app", "demo"], &remote));
    let online_file = dir.join("online.pub");
    std::fs::write(&online_file, online["public_key"].as_str().unwrap()).unwrap();
    let [key, root, root_public, online] =
        [&key_file, &root_key_file, &root_public_file, &online_file].map(|p| p.to_str().unwrap());
    let sign = ["--json", "root", "sign", "--app", "demo", "--release-key", key, "--root-key", root];
    let keys = ["--root-public-key", root_public, "--threshold", "1", "--online-key", online];
    ok_json(SERVER.cli(&[&sign[..], &keys[..]].concat(), &remote));
}

/// Item 2 (downgrade by relabelling, the Tauri path): a build whose signature carries no `version:` (an old one, from
/// a signer that wrote none) is published as a new version by whoever holds a publish token, over raw HTTP (no CLI
/// check in the way). A new app refuses it with a hint naming `millennium-sign sign --version`; an app admin token
/// cannot turn the policy off; only after the server admin opts out is it accepted, which is what the policy stops.
#[test]
fn a_relabelled_old_build_is_refused_for_a_new_app_and_accepted_only_after_an_opt_out() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &[]);
    let key = SecretKey::generate().unwrap();
    let publish_token = create_app(&server, &key, &[], "publish");
    let admin_token = ok_json(SERVER.cli(
        &["--json", "tokens", "create", "--app", "demo", "--scope", "admin", "--server", &server.url],
        &[("MILLENNIUM_TOKEN", ADMIN_TOKEN)],
    ))["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // 1.0.0, signed with its version, is what installs run.
    let current =
        write_signed(tmp.path(), "demo_1.0.0_amd64.AppImage", &artifact_bytes(1, 20_000), &key, "1.0.0", Format::Tauri);
    let out = SERVER.cli(
        &[
            "--json",
            "publish",
            "--server",
            &server.url,
            "--app",
            "demo",
            "--version",
            "1.0.0",
            current.to_str().unwrap(),
        ],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    );
    ok_json(out);

    // The old, vulnerable 0.9.0 build, signed without a version: its `.sig` fits any version.
    let old = artifact_bytes(9, 20_000);
    let comment = TrustedComment::tauri(1_600_000_000, "demo_0.9.0_amd64.AppImage", None).unwrap();
    let old_sig = Signature::sign(&key, &old[..], &comment).unwrap().to_text(Format::Tauri);
    let relabel = || {
        let form = reqwest::blocking::multipart::Form::new()
            .text("release", r#"{"version":"2.0.0"}"#)
            .text("signature:linux-x86_64", old_sig.clone())
            .part(
                "artifact:linux-x86_64",
                reqwest::blocking::multipart::Part::bytes(old.clone()).file_name("demo_2.0.0_amd64.AppImage"),
            );
        reqwest::blocking::Client::new()
            .post(format!("{}/api/v1/apps/demo/releases", server.url))
            .bearer_auth(&publish_token)
            .multipart(form)
            .send()
            .unwrap()
    };
    let refused = relabel();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "unversioned_signature", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("millennium-sign sign --version 2.0.0"), "{message}");
    assert!(message.contains("tauri signer sign --app-version 2.0.0"), "{message}");
    // Nothing was published: a 1.0.0 install is still up to date.
    assert_eq!(server.get("/demo/linux/x86_64/1.0.0").status(), 204);

    // The CLI refuses it before uploading, with the same code and hint.
    let relabelled = tmp.path().join("demo_2.0.0_amd64.AppImage");
    std::fs::write(&relabelled, &old).unwrap();
    std::fs::write(tmp.path().join("demo_2.0.0_amd64.AppImage.sig"), &old_sig).unwrap();
    let out = SERVER.cli(
        &[
            "--json",
            "publish",
            "--server",
            &server.url,
            "--app",
            "demo",
            "--version",
            "2.0.0",
            relabelled.to_str().unwrap(),
        ],
        &[("MILLENNIUM_PUBLISH_TOKEN", &publish_token)],
    );
    assert_eq!(out.status.code(), Some(1));
    let error = &json_out(&out)["error"];
    assert_eq!(error["code"], "unversioned_signature", "{error}");
    assert!(error["hint"].as_str().unwrap().contains("millennium-sign sign --version 2.0.0"), "{error}");

    // An app admin token (automation holds those too) cannot turn the policy off; the server admin can.
    let opt_out =
        ["--json", "apps", "set-policy", "--server", &server.url, "--id", "demo", "--require-signed-version", "false"];
    let out = SERVER.cli(&opt_out, &[("MILLENNIUM_TOKEN", &admin_token)]);
    assert_eq!(json_out(&out)["error"]["code"], "forbidden", "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(relabel().status(), 422);
    let app = ok_json(SERVER.cli(&opt_out, &[("MILLENNIUM_TOKEN", ADMIN_TOKEN)]));
    assert_eq!(app["require_signed_version"], false);

    // Opted out, the relabelled build goes through and 1.0.0 installs are offered the old build as "2.0.0".
    assert_eq!(relabel().status(), 201);
    let offer: Value = server.get("/demo/linux/x86_64/1.0.0").json().unwrap();
    assert_eq!(offer["version"], "2.0.0");
    // And back on (an app admin may do that).
    let on =
        ["--json", "apps", "set-policy", "--server", &server.url, "--id", "demo", "--require-signed-version", "true"];
    assert_eq!(ok_json(SERVER.cli(&on, &[("MILLENNIUM_TOKEN", &admin_token)]))["require_signed_version"], true);
    server.stop();
}

/// Item 13: an app admin token (or even the server admin) replacing the release key of an app with signed metadata
/// would cut its roots off from the key they are pinned to, and the server could no longer sign or serve its
/// freshness. `set-key` is refused for such apps, whoever asks, and the metadata keeps verifying.
#[test]
fn the_release_key_of_an_app_with_roots_cannot_be_replaced() {
    use millennium_update_protocol::metadata::{Envelope, TrustState};

    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), &[]);
    let key = SecretKey::generate().unwrap();
    let admin_token = create_app(&server, &key, &[], "admin");
    sign_root(&server, &key, &admin_token, tmp.path());

    let thief = SecretKey::generate().unwrap().public_key().to_text(Format::Minisign);
    let set_key = ["--json", "apps", "set-key", "--id", "demo", "--public-key", &thief];
    for token in [admin_token.as_str(), ADMIN_TOKEN] {
        let out = SERVER.cli(&set_key, &[("MILLENNIUM_SERVER", server.url.as_str()), ("MILLENNIUM_TOKEN", token)]);
        assert_eq!(out.status.code(), Some(1));
        let error = &json_out(&out)["error"];
        assert_eq!(error["code"], "app_has_roots", "{error}");
        assert!(error["hint"].as_str().unwrap().contains("--new-release-key"), "{error}");
    }

    // The key is the registered one, and the metadata still verifies from it.
    let app: Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/apps/demo", server.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(app["key_id"], key.public_key().key_id().to_string());
    let roots = server.get("/metadata/demo/roots.json");
    assert_eq!(roots.status(), 200);
    let roots = millennium_update_admin::offline::parse_roots(&roots.text().unwrap()).unwrap();
    let mut trust = TrustState::bootstrap("demo", &key.public_key(), &roots).unwrap();
    let freshness = server.get("/metadata/demo/freshness.json");
    assert_eq!(freshness.status(), 200);
    let envelope = Envelope::parse(&freshness.bytes().unwrap()).unwrap();
    trust.check_freshness(&envelope, time::OffsetDateTime::now_utc()).unwrap();
    server.stop();
}

/// Item 10: a flood of checks with made-up `?channel=` values (more than the answer cache holds) must not evict the
/// cached answers of the channels installs use: `/metrics` shows the stable answer was read from the database once,
/// before and after the flood, and the cache never overflowed.
#[test]
fn random_channels_do_not_evict_cached_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let server = published_demo(tmp.path(), 2);
    let http = reqwest::blocking::Client::new();
    let check = |channel: &str| {
        http.get(format!("{}/demo/linux/x86_64/1.0.0?channel={channel}", server.url)).send().unwrap().status().as_u16()
    };
    assert_eq!(check("stable"), 200);
    assert_eq!(check("stable"), 200);
    let loads = server.figure("millennium_answer_cache_loads_total");
    assert_eq!(loads, 1, "one database read for stable");

    // More made-up channels than the cache holds (4096), on one keep-alive connection.
    let started = Instant::now();
    for i in 0..5000 {
        assert_eq!(check(&format!("x{i:x}-{}", i * 7919)), 204);
    }
    let flood = started.elapsed();
    assert_eq!(check("stable"), 200);
    assert_eq!(server.figure("millennium_answer_cache_loads_total"), loads, "stable was evicted by the flood");
    assert_eq!(server.figure("millennium_answer_cache_overflows_total"), 0);
    assert_eq!(server.figure("millennium_answer_cache_entries"), 1);
    // Nor do the made-up names take series of their own in `/metrics`.
    let unknown = "millennium_update_checks_total{app=\"demo\",channel=\"_unknown\",version=\"1.0.0\",target=\"linux-x86_64\",result=\"no_update\"}";
    assert_eq!(server.figure(unknown), 5000);
    eprintln!("5000 made-up channels answered in {flood:?}; stable still cached");
    server.stop();
}

/// A crowd of checks on a cold answer cache (after a restart or a publish every install misses at once) reads the
/// database once: the checks that miss while the first one loads wait for it. Each asks with its own current version,
/// so that no check is answered from a URL answered before.
#[test]
fn a_crowd_of_checks_on_a_cold_cache_reads_the_database_once() {
    let tmp = tempfile::tempdir().unwrap();
    let server = published_demo(tmp.path(), 3);
    let loads = server.figure("millennium_answer_cache_loads_total");

    let requests = 64;
    let barrier = Arc::new(Barrier::new(requests));
    let threads: Vec<_> = (0..requests)
        .map(|i| {
            let (barrier, url) = (barrier.clone(), format!("{}/demo/linux/x86_64/1.0.{i}", server.url));
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                barrier.wait();
                let response = http.get(&url).send().unwrap();
                (response.status().as_u16(), response.text().unwrap())
            })
        })
        .collect();
    for (status, body) in threads.into_iter().map(|t| t.join().unwrap()) {
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"version\":\"1.2.0\""), "{body}");
    }
    assert_eq!(server.figure("millennium_answer_cache_loads_total") - loads, 1, "one read for {requests} checks");
    server.stop();
}

/// Item 11: unauthenticated requests for a freshness document that has expired make the server sign one, which opens
/// the online key (an scrypt derivation when `MILLENNIUM_ONLINE_KEY_PASSWORD` encrypts it). 64 concurrent requests
/// for it start exactly one signing (`millennium_freshness_signings_total`); each of the others gets the new
/// document or `503` with `Retry-After`, and the server keeps answering meanwhile.
#[test]
fn concurrent_requests_for_an_expired_freshness_document_sign_it_once() {
    use millennium_update_protocol::metadata::{Envelope, TrustState};

    let tmp = tempfile::tempdir().unwrap();
    // Default lifetime (1 day): the re-signing job runs every 15 minutes, so only the requests sign here.
    let server = start(tmp.path(), &[("MILLENNIUM_ONLINE_KEY_PASSWORD", "attack-online-key-password-0123")]);
    let key = SecretKey::generate().unwrap();
    let admin_token = create_app(&server, &key, &[], "admin");
    sign_root(&server, &key, &admin_token, tmp.path());
    assert_eq!(server.get("/metadata/demo/freshness.json").status(), 200);

    // The stored document expires (as after an outage longer than its lifetime).
    let expire = "UPDATE freshness SET expires_at = 1, issued_at = 0";
    match &server.backend.database_url {
        Some(url) => {
            millennium_testing::server::psql(url, expire);
        }
        None => tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            let url = format!("sqlite://{}", server.data_dir.join("millennium.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(expire).execute(&pool).await.unwrap();
            pool.close().await;
        }),
    }
    let signed = "millennium_freshness_signings_total{app=\"demo\",result=\"signed\"}";
    let before = server.figure(signed);

    let requests = 64;
    let barrier = Arc::new(Barrier::new(requests));
    let url = format!("{}/metadata/demo/freshness.json", server.url);
    let threads: Vec<_> = (0..requests)
        .map(|_| {
            let (barrier, url) = (barrier.clone(), url.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                barrier.wait();
                let response = http.get(&url).send().unwrap();
                let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                (response.status().as_u16(), retry_after, response.bytes().unwrap())
            })
        })
        .collect();
    // Responsive meanwhile.
    let started = Instant::now();
    assert_eq!(server.get("/healthz").status(), 200);
    let health = started.elapsed();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    assert_eq!(server.figure(signed) - before, 1, "exactly one signing for {requests} requests");
    let roots = millennium_update_admin::offline::parse_roots(&server.get("/metadata/demo/roots.json").text().unwrap())
        .unwrap();
    let mut ok = 0;
    for (status, retry_after, body) in &answers {
        match status {
            200 => {
                let mut trust = TrustState::bootstrap("demo", &key.public_key(), &roots).unwrap();
                trust.check_freshness(&Envelope::parse(body).unwrap(), time::OffsetDateTime::now_utc()).unwrap();
                ok += 1;
            }
            503 => assert_eq!(retry_after.as_deref(), Some("1"), "{}", String::from_utf8_lossy(body)),
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(body)),
        }
    }
    assert!(ok >= 1, "the request that signed gets the document");
    assert!(health < Duration::from_secs(5), "healthz took {health:?}");
    // Afterwards everybody gets the new document, without another signing.
    assert_eq!(server.get("/metadata/demo/freshness.json").status(), 200);
    assert_eq!(server.figure(signed) - before, 1);
    eprintln!(
        "{requests} concurrent requests: {ok} got the new document, {} a 503; healthz in {health:?}",
        requests - ok
    );
    server.stop();
}
