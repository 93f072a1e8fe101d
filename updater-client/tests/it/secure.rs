//! The secure check (`metadata_url`): the updater reads Millennium's signed root, freshness and release documents
//! from a mirror and refuses what they do not vouch for. Each test serves documents made with the protocol crate (as
//! the update server makes them) from a scriptable mirror, and checks that an attack leaves the app as it was.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use millennium_sign::{Format, SecretKey};
use millennium_testing::app::{Fixture, run, script_app};
use millennium_testing::http::{MockServer, Reply, serve_file};
use millennium_testing::metadata::{Published, Publisher};
use millennium_update_protocol::Error as ProtocolError;
use millennium_update_protocol::metadata::{Envelope, Kind, Root};
use millennium_updater::{Error, Transfer, Updater, UpdaterBuilder};
use time::{Duration, OffsetDateTime};

const APP: &str = "demo";

fn target() -> String {
    format!("linux-{}", std::env::consts::ARCH)
}

/// Where the mirror serves the artifact of `version` for this machine.
fn artifact_path(version: &str) -> String {
    format!("files/{version}/{}/{APP}-{version}-{}", target(), target())
}

/// What the mirror serves, by path under `/metadata/demo`; tests change it between checks. A hostile answer for a
/// path replaces the file.
#[derive(Default)]
struct Files(BTreeMap<String, Vec<u8>>, BTreeMap<String, Reply>);

/// The mirror, serving what the publisher signed (documents and artifacts by path under `/metadata/demo`), or what a
/// test makes it answer instead; tests change it between checks.
struct Setup {
    server: MockServer,
    files: Arc<Mutex<Files>>,
    publisher: Publisher,
    fixture: Fixture,
}

impl Setup {
    async fn new() -> Setup {
        let files = Arc::new(Mutex::new(Files::default()));
        let served = files.clone();
        let server = MockServer::start(move |req| {
            let Some(path) = req.path.strip_prefix("/metadata/demo/") else { return Reply::status(404) };
            let files = served.lock().unwrap();
            if let Some(hostile) = files.1.get(path) {
                return hostile.clone();
            }
            match files.0.get(path) {
                Some(body) if path.ends_with(".json") => Reply::json(body.clone()),
                Some(body) => serve_file(req, body, "\"artifact\""),
                None => Reply::status(404),
            }
        })
        .await;
        let setup = Setup { server, files, publisher: Publisher::new(APP), fixture: Fixture::new() };
        setup.put_roots();
        setup
    }

    fn put(&self, path: &str, body: Vec<u8>) {
        self.files.lock().unwrap().0.insert(path.to_owned(), body);
    }

    /// Serves `reply` at `path` instead of the file.
    fn hostile(&self, path: &str, reply: Reply) {
        self.files.lock().unwrap().1.insert(path.to_owned(), reply);
    }

    fn put_roots(&self) {
        self.put("roots.json", self.publisher.roots_json());
    }

    /// Signs and serves release `version` on `stable` with `artifact` for this machine's target, declaring the
    /// oldest webview it works with when given.
    fn publish(&self, version: &str, sequence: u64, artifact: &[u8], min_webview: Option<&str>) -> Published {
        let published = self.publisher.publish("stable", version, sequence, &[(&target(), artifact)], min_webview);
        self.serve_release(&published);
        self.put(&artifact_path(version), artifact.to_vec());
        published
    }

    fn serve_release(&self, published: &Published) {
        let path = format!("channels/stable/releases/{}.json", published.document.version);
        self.put(&path, published.envelope.to_json().into_bytes());
    }

    /// Signs and serves a freshness document offering `heads` (release, rollout %), issued at `issued`.
    fn freshness(&mut self, heads: &[(&Published, u8)], issued: OffsetDateTime, ttl: Duration) -> Envelope {
        let envelope = self.publisher.freshness(heads, issued, ttl);
        self.put("freshness.json", envelope.to_json().into_bytes());
        envelope
    }

    /// [`Setup::freshness`], valid now.
    fn fresh(&mut self, heads: &[(&Published, u8)]) -> Envelope {
        let envelope = self.publisher.fresh(heads);
        self.put("freshness.json", envelope.to_json().into_bytes());
        envelope
    }

    fn updater(&self, install_id: &str) -> Updater {
        self.builder(install_id).build().unwrap()
    }

    fn builder(&self, install_id: &str) -> UpdaterBuilder {
        Updater::builder()
            .metadata_url(self.server.url("/metadata/demo"))
            .pubkey(self.publisher.release_key.public_key().to_text(Format::Minisign))
            .current_version("1.0.0")
            .app_id(APP)
            .executable(&self.fixture.app)
            .bundle_type(None)
            .state_dir(&self.fixture.state)
            .install_id(install_id)
    }

    /// Check, download, install; the error of the first step that fails.
    async fn update(&self) -> Result<Option<String>, Error> {
        let Some(update) = self.updater("install-1").check().await? else { return Ok(None) };
        update.download_and_install(|_| {}).await?;
        Ok(Some(update.version().to_string()))
    }

    /// What the trust state says was installed, and which root it trusts.
    fn trusted(&self) -> Option<(serde_json::Value, serde_json::Value)> {
        let bytes = std::fs::read(self.fixture.state.join("trust.json")).ok()?;
        let state: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        Some((state["channels"].clone(), state["root_version"].clone()))
    }

    /// Refused by the metadata with `expected`, leaving the app and what its trust state records as they were. (A
    /// valid newer freshness document may still advance the freshness sequence: that only ever helps.)
    async fn assert_refused(&self, expected: fn(&ProtocolError) -> bool) {
        let trusted = self.trusted();
        let err = self.update().await.unwrap_err();
        match &err {
            Error::Untrusted { source } if expected(source) => {}
            other => panic!("unexpected error: {other}"),
        }
        assert!(err.to_string().contains("keeps its current version"), "{err}");
        self.fixture.assert_untouched();
        assert!(self.fixture.downloads().iter().all(|f| !f.ends_with(".verified")), "{:?}", self.fixture.downloads());
        if trusted.is_some() {
            assert_eq!(self.trusted(), trusted, "the trust state moved");
        }
    }
}

#[tokio::test]
async fn an_update_the_metadata_vouches_for_is_installed_and_recorded() {
    let mut s = Setup::new().await;
    let v2 = script_app("2.0.0", 300_000);
    let release = s.publish("2.0.0", 1, &v2, None);
    s.fresh(&[(&release, 100)]);

    let update = s.updater("install-1").check().await.unwrap().unwrap();
    assert_eq!(update.version().to_string(), "2.0.0");
    assert_eq!(update.size(), Some(v2.len() as u64), "the signed size is known before downloading");
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&s.fixture.app), "2.0.0");
    let trust: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.fixture.state.join("trust.json")).unwrap()).unwrap();
    assert_eq!(trust["channels"]["stable"]["sequence"], 1);
    assert_eq!(trust["freshness_sequence"], 1);
    // Only metadata and the one artifact were fetched, from the mirror.
    let paths: Vec<String> = s.server.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p.ends_with(&artifact_path("2.0.0"))), "{paths:?}");
    drop(s.files);
}

#[tokio::test]
async fn a_mirror_offering_a_delta_to_its_own_program_gains_nothing_but_a_full_download() {
    let mut s = Setup::new().await;
    let v2 = script_app("2.0.0", 300_000);
    let release = s.publish("2.0.0", 1, &v2, None);
    s.fresh(&[(&release, 100)]);
    // The mirror's deltas index (unsigned) lists a well-formed delta from the installed app to a program of its own,
    // of the signed size.
    let dir = tempfile::tempdir().unwrap();
    let (evil, delta) = (dir.path().join("evil"), dir.path().join("delta"));
    std::fs::write(&evil, script_app("6.6.6", 300_000)).unwrap();
    let made = millennium_delta::make(&s.fixture.app, &evil, &delta, &millennium_delta::MakeOptions::default());
    assert!(made.unwrap().kept().is_some());
    let delta = std::fs::read(&delta).unwrap();
    let hash = millennium_update_protocol::metadata::blake2b_256_hex;
    let from = hash(&s.fixture.v1);
    let entry =
        format!(r#"{{"from":"{from}","size":{},"blake2b_256":"{}","encoder":"zstd"}}"#, delta.len(), hash(&delta));
    s.put(&format!("deltas/2.0.0/{}/index.json", target()), format!(r#"{{"deltas":[{entry}]}}"#).into_bytes());
    s.put(&format!("deltas/2.0.0/{}/{from}", target()), delta);

    let update = s.updater("install-1").check().await.unwrap().unwrap();
    assert!(update.uses_delta(), "the index was read");
    let mut transfers = Vec::new();
    update.download_and_install(|p| millennium_testing::push_change(&mut transfers, p.transfer)).await.unwrap();
    assert_eq!(
        transfers,
        [Transfer::Delta, Transfer::DeltaFailed, Transfer::Full],
        "the result failed the signed checks"
    );
    assert_eq!(run(&s.fixture.app), "2.0.0", "the signed release is installed, never the mirror's program");
    drop(s.files);
}

#[tokio::test]
async fn freeze_with_expired_freshness_is_refused() {
    let mut s = Setup::new().await;
    let release = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    s.freshness(&[(&release, 100)], OffsetDateTime::now_utc() - Duration::days(3), Duration::days(1));
    s.assert_refused(|e| matches!(e, ProtocolError::Expired { .. })).await;
}

#[tokio::test]
async fn replay_of_an_older_freshness_document_is_refused() {
    let mut s = Setup::new().await;
    let release = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    let old = s.fresh(&[]);
    s.fresh(&[]);
    assert_eq!(s.update().await.unwrap(), None, "nothing offered yet");
    // The mirror replays the first freshness document (it offers nothing newer, but is older than one seen).
    s.put("freshness.json", old.to_json().into_bytes());
    s.assert_refused(|e| matches!(e, ProtocolError::Replay { .. })).await;
    drop(release);
}

#[tokio::test]
async fn endless_data_is_cut_off_at_the_signed_size() {
    let mut s = Setup::new().await;
    let v2 = script_app("2.0.0", 8192);
    let release = s.publish("2.0.0", 1, &v2, None);
    s.fresh(&[(&release, 100)]);
    // The mirror appends to the signed artifact.
    let mut longer = v2.clone();
    longer.extend(std::iter::repeat_n(b'#', 100_000));
    s.put(&artifact_path("2.0.0"), longer);
    s.assert_refused(|e| matches!(e, ProtocolError::EndlessData { .. })).await;
}

#[tokio::test]
async fn a_tampered_artifact_of_the_signed_size_is_refused() {
    let mut s = Setup::new().await;
    let v2 = script_app("2.0.0", 8192);
    let release = s.publish("2.0.0", 1, &v2, None);
    s.fresh(&[(&release, 100)]);
    let mut tampered = v2.clone();
    tampered[20] ^= 1;
    s.put(&artifact_path("2.0.0"), tampered);
    s.assert_refused(|e| matches!(e, ProtocolError::TamperedArtifact { .. })).await;
}

/// Verify-then-install race on the secure path: the download the metadata vouched for is swapped before the install.
/// The install checks it against the release document again: refused, and not recorded as installed.
#[tokio::test]
async fn a_download_swapped_after_verification_is_refused_and_not_recorded() {
    let mut s = Setup::new().await;
    let release = s.publish("2.0.0", 1, &script_app("2.0.0", 8192), None);
    s.fresh(&[(&release, 100)]);
    let downloaded = s.updater("install-1").check().await.unwrap().unwrap().download(|_| {}).await.unwrap();
    let trusted = s.trusted();
    std::fs::write(downloaded.path(), script_app("6.6.6", 8192)).unwrap();
    let err = downloaded.install().unwrap_err();
    match &err {
        Error::ChangedAfterVerification { source: Some(source), .. } => {
            assert!(matches!(**source, Error::Untrusted { .. }), "{source}")
        }
        other => panic!("unexpected error: {other}"),
    }
    s.fixture.assert_untouched();
    assert_eq!(s.trusted(), trusted, "a refused install is recorded");
}

#[tokio::test]
async fn a_release_document_the_freshness_does_not_pin_is_refused() {
    let mut s = Setup::new().await;
    let pinned = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    s.fresh(&[(&pinned, 100)]);
    // Another validly signed document for the same version (another build) replaces the pinned one.
    s.publish("2.0.0", 1, &script_app("2.0.0", 5000), None);
    s.assert_refused(|e| matches!(e, ProtocolError::MixAndMatch { .. })).await;
}

#[tokio::test]
async fn an_older_release_than_one_installed_is_refused() {
    let mut s = Setup::new().await;
    let v3 = s.publish("3.0.0", 3, &script_app("3.0.0", 4096), None);
    s.fresh(&[(&v3, 100)]);
    assert_eq!(s.update().await.unwrap().as_deref(), Some("3.0.0"));
    // The app is rolled back to 1.0.0 by hand (the binary only); a compromised online key then offers the old,
    // validly signed 2.0.0 with an older sequence: newer than the binary, older than what this install has seen.
    s.fixture.reinstall_v1();
    let v2 = s.publish("2.0.0", 2, &script_app("2.0.0", 4096), None);
    s.fresh(&[(&v2, 100)]);
    s.assert_refused(|e| matches!(e, ProtocolError::Rollback { .. })).await;
}

/// Slow retrieval: a mirror that drips a metadata document one byte a second never trips the read timeout, so each
/// document has the check's deadline; one that sends without end is cut off at the protocol's size limit.
#[tokio::test]
async fn a_mirror_dripping_or_streaming_metadata_without_end_is_cut_off() {
    let deadline = std::time::Duration::from_secs(1);
    for document in ["roots.json", "freshness.json", "channels/stable/releases/2.0.0.json"] {
        let mut s = Setup::new().await;
        let release = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
        s.fresh(&[(&release, 100)]);
        let body = s.files.lock().unwrap().0[document].clone();
        let every = std::time::Duration::from_secs(1);
        s.hostile(document, Reply::Drip { status: 200, headers: vec![], body, chunk: 1, every });
        let updater = s.builder("install-1").check_timeout(deadline).build().unwrap();
        let started = std::time::Instant::now();
        let checked = tokio::time::timeout(std::time::Duration::from_secs(20), updater.check()).await;
        let err = checked.unwrap_or_else(|_| panic!("{document}: the check was still waiting after 20 s")).unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{document}: {err}");
        assert!(err.to_string().contains(&format!("no complete answer within {deadline:?}")), "{err}");
        assert!(started.elapsed() < deadline * 3, "{document}: {:?}", started.elapsed());
        s.fixture.assert_untouched();

        s.hostile(document, Reply::Endless { status: 200, headers: vec![] });
        let err = s.updater("install-1").check().await.unwrap_err();
        assert!(err.to_string().contains("more than the 1048576 allowed"), "{document}: {err}");
        s.fixture.assert_untouched();
    }
}

#[tokio::test]
async fn an_artifact_for_another_target_only_is_not_installed() {
    let mut s = Setup::new().await;
    let release = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    s.fresh(&[(&release, 100)]);
    let mut doc = release.document.clone();
    doc.artifacts[0].target = "windows-x86_64-nsis".parse().unwrap();
    let other = Published::from_envelope(Envelope::sign(&doc, Kind::Release, &[&s.publisher.release_key]).unwrap());
    s.serve_release(&other);
    s.fresh(&[(&other, 100)]);
    let err = s.update().await.unwrap_err();
    assert!(matches!(err, Error::NoArtifactForTarget { .. }), "{err}");
    s.fixture.assert_untouched();
}

#[tokio::test]
async fn metadata_signed_by_an_unknown_key_is_refused() {
    let mut s = Setup::new().await;
    let release = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    // A mirror that holds no key of the root signs its own freshness document.
    s.publisher.online_key = SecretKey::generate().unwrap();
    s.fresh(&[(&release, 100)]);
    s.assert_refused(|e| matches!(e, ProtocolError::MetadataSignature { .. })).await;
}

#[tokio::test]
async fn malformed_metadata_is_refused() {
    let mut s = Setup::new().await;
    let release = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    let good = s.fresh(&[(&release, 100)]).to_json();
    s.put("freshness.json", good.as_bytes()[..good.len() / 2].to_vec());
    s.assert_refused(|e| matches!(e, ProtocolError::InvalidJson { .. })).await;
}

#[tokio::test]
async fn a_key_rotation_through_a_valid_chain_is_followed_and_a_broken_one_refused() {
    let mut s = Setup::new().await;
    let first = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    s.fresh(&[(&first, 100)]);
    assert_eq!(s.update().await.unwrap().as_deref(), Some("2.0.0"));

    // Root 2 moves to a new release key, signed by the old and the new one.
    s.publisher.rotate_release_key();
    s.put_roots();
    let next = s.publish("3.0.0", 2, &script_app("3.0.0", 4096), None);
    s.fresh(&[(&next, 100)]);
    s.fixture.reinstall_v1();
    assert_eq!(s.update().await.unwrap().as_deref(), Some("3.0.0"), "signed by the new key through the chain");

    // Root 3 signed only by a key the chain never vouched for.
    let stranger = SecretKey::generate().unwrap();
    let root = Root::new(APP, 3, &[stranger.public_key()], &[s.publisher.online_key.public_key()]);
    s.publisher.roots.push(Envelope::sign(&root, Kind::Root, &[&stranger]).unwrap());
    s.put_roots();
    s.fixture.reinstall_v1();
    s.assert_refused(|e| matches!(e, ProtocolError::RootChain { .. })).await;
}

#[tokio::test]
async fn a_staged_rollout_reaches_only_its_share_of_installs() {
    let mut s = Setup::new().await;
    let release = s.publish("2.0.0", 1, &script_app("2.0.0", 4096), None);
    s.fresh(&[(&release, 50)]);
    let mut offered = 0;
    for i in 0..40 {
        let state = s.fixture.dir.path().join(format!("state-{i}"));
        let updater = Updater::builder()
            .metadata_url(s.server.url("/metadata/demo"))
            .pubkey(s.publisher.release_key.public_key().to_text(Format::Minisign))
            .current_version("1.0.0")
            .app_id(APP)
            .executable(&s.fixture.app)
            .bundle_type(None)
            .state_dir(state)
            .install_id(format!("install-{i}"))
            .build()
            .unwrap();
        if updater.check().await.unwrap().is_some() {
            offered += 1;
        }
    }
    assert!((8..=32).contains(&offered), "{offered} of 40 installs offered a 50 % rollout");
}

/// The signed release's `min_webview_version` gets the same policy as the Tauri answer's: a release needing a webview
/// newer than this machine's (real WebKitGTK, from `libwebkit2gtk-4.1-0`) is refused before anything is downloaded,
/// and is not recorded as installed; one whose minimum is met installs.
#[tokio::test]
async fn a_signed_release_needing_a_newer_webview_is_refused() {
    let mut s = Setup::new().await;
    let v2 = script_app("2.0.0", 50_000);
    let release = s.publish("2.0.0", 1, &v2, Some("webkitgtk=99.0,webview2=1.0"));
    s.fresh(&[(&release, 100)]);

    let update = s.updater("install-1").check().await.unwrap().unwrap();
    assert_eq!(update.min_webview_version().map(ToString::to_string).as_deref(), Some("99.0"));
    let trusted = s.trusted();
    let err = update.download_and_install(|_| {}).await.unwrap_err();
    match &err {
        Error::WebviewTooOld { version, minimum, .. } => {
            assert_eq!((version.as_str(), minimum.as_str()), ("2.0.0", "99.0"))
        }
        other => panic!("expected WebviewTooOld, got {other:?}"),
    }
    s.fixture.assert_untouched();
    assert!(s.fixture.downloads().is_empty(), "nothing is downloaded: {:?}", s.fixture.downloads());
    assert_eq!(s.trusted(), trusted, "a refused release is not recorded as installed");

    let v3 = script_app("3.0.0", 50_000);
    let release = s.publish("3.0.0", 2, &v3, Some("webkitgtk=2.0"));
    s.fresh(&[(&release, 100)]);
    assert_eq!(s.update().await.unwrap().as_deref(), Some("3.0.0"));
    assert_eq!(run(&s.fixture.app), "3.0.0");
}

/// Minimums for other backends do not bind this machine: a release that needs WebView2 999 and macOS 99 (and says
/// nothing about WebKitGTK) installs on Linux whatever its WebKitGTK.
#[tokio::test]
async fn a_signed_release_with_minimums_for_other_backends_only_installs_here() {
    let mut s = Setup::new().await;
    let v2 = script_app("2.0.0", 50_000);
    let release = s.publish("2.0.0", 1, &v2, Some("webview2=999.0,wkwebview=99.0"));
    s.fresh(&[(&release, 100)]);
    let update = s.updater("install-1").check().await.unwrap().unwrap();
    assert_eq!(update.min_webview_version(), None);
    assert_eq!(update.min_webview_versions().to_string(), "webview2=999.0,wkwebview=99.0");
    assert!(update.webview_verdict().is_ok());
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&s.fixture.app), "2.0.0");
}
