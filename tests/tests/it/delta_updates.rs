//! Delta updates end to end: real builds (Rust programs from `millennium-testing`'s `rust_builds`, v1 and v1 with one
//! asset changed) published into the real update server, whose real delta job makes the delta, checked for,
//! downloaded, applied, verified and installed by `millennium-updater` over HTTP. The path taken is read from the
//! server's `/metrics` (delta vs full downloads), and the installed file is compared byte for byte with the full
//! artifact. Both checks take part: the dynamic answer's list, and the secure check's deltas index beside the signed
//! metadata.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::{Path, PathBuf};

use millennium_sign::{Format, SecretKey};
use millennium_testing::rust_builds::{self, Builds};
use millennium_testing::server::{RegisteredApp, TestServer};
use millennium_update_admin::api::{PublishRequest, Scope};
use millennium_update_protocol::BundleType;
use millennium_updater::{Transfer, Updater, UpdaterBuilder};

const APP: &str = "demo";

/// A real server running its background jobs (the delta job among them), with the app registered (its token may
/// publish and set up signed metadata).
struct World {
    server: TestServer,
    app: RegisteredApp,
    builds: Builds,
}

impl World {
    async fn new() -> World {
        let builds = rust_builds::builds(Path::new(env!("CARGO_TARGET_TMPDIR")));
        let mut server = TestServer::start().await;
        server.start_jobs();
        let app = server.register(APP, Scope::Admin).await;
        World { server, app, builds }
    }

    async fn publish(&self, version: &str, target: &str, data: &[u8]) {
        let artifact = self.app.artifact(version, target, data, &self.app.key);
        self.app.publish(&PublishRequest::new(version), &[artifact]).await;
    }

    /// Publishes `v1` as 1.0.0 and `v2` as 2.0.0 for `target`, and waits for the delta between them.
    async fn publish_pair(&self, target: &str, v1: &[u8], v2: &[u8]) {
        self.publish("1.0.0", target, v1).await;
        self.publish("2.0.0", target, v2).await;
        self.wait_for_deltas(1).await;
    }

    async fn wait_for_deltas(&self, n: u64) {
        self.server.wait_for_deltas(APP, n).await;
    }

    async fn downloads(&self, kind: &str) -> u64 {
        self.server.downloads(APP, kind).await
    }

    /// Gives the app signed metadata with the CLI, as a release manager does: an online key on the server and root 1
    /// signed by one root key (threshold 1) and the release key. Releases published after it carry signed documents.
    async fn sign_metadata(&self) {
        let online = self.app.cli(&["online-key", "generate", "--app", APP]).await.unwrap();
        let online_file = self.server.dir.path().join("online.pub");
        std::fs::write(&online_file, online["public_key"].as_str().unwrap()).unwrap();
        let (root_file, root_public) =
            (self.server.dir.path().join("root.key"), self.server.dir.path().join("root.pub"));
        let root_key = SecretKey::generate().unwrap();
        millennium_testing::keys::write_key(&root_file, &root_key);
        std::fs::write(&root_public, root_key.public_key().to_text(Format::Minisign)).unwrap();
        let release_key = self.app.key_file.to_str().unwrap();
        let mut args = vec!["root", "sign", "--app", APP, "--release-key", release_key];
        args.extend(["--root-key", root_file.to_str().unwrap(), "--root-public-key", root_public.to_str().unwrap()]);
        args.extend(["--threshold", "1", "--online-key", online_file.to_str().unwrap()]);
        let root = self.app.cli(&args).await.unwrap();
        assert_eq!(root["uploaded"], true, "{root}");
    }

    /// Publishes with the CLI, which signs the release document with the release key.
    async fn publish_signed(&self, version: &str, target: &str, data: &[u8]) {
        let artifact = self.app.artifact(version, target, data, &self.app.key);
        let release_key = ["--release-key", self.app.key_file.to_str().unwrap()];
        self.app.cli_publish(version, &[artifact], &release_key).await.unwrap();
    }

    /// A world with signed metadata, v1 and v2 (one asset changed) published for this machine, and the delta between
    /// them stored; and v1 and v2.
    async fn signed_with_delta() -> (World, Vec<u8>, Vec<u8>) {
        let w = World::new().await;
        w.sign_metadata().await;
        let (v1, v2) = (std::fs::read(&w.builds.v1).unwrap(), std::fs::read(&w.builds.asset).unwrap());
        let target = format!("linux-{}", std::env::consts::ARCH);
        w.publish_signed("1.0.0", &target, &v1).await;
        w.publish_signed("2.0.0", &target, &v2).await;
        w.wait_for_deltas(1).await;
        (w, v1, v2)
    }

    /// An updater on the secure check, reading the server's signed metadata tree.
    fn secure_updater(&self, exe: &Path) -> Updater {
        let builder = self.installed(exe, None).metadata_url(format!("{}/metadata/{APP}", self.server.url));
        builder.pubkey(self.app.key.public_key().to_text(Format::Minisign)).build().unwrap()
    }

    fn endpoint(&self, bundle: bool) -> String {
        let tail = if bundle { "/{{bundle_type}}" } else { "" };
        format!("{}/{APP}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}{tail}", self.server.url)
    }

    fn updater(&self, exe: &Path, bundle: Option<BundleType>) -> Updater {
        let builder = self.installed(exe, bundle).endpoint(self.endpoint(bundle.is_some()));
        builder.pubkey(self.app.key.public_key().to_text(Format::Tauri)).build().unwrap()
    }

    /// What both checks share: version 1.0.0 of the app installed as `exe`, its state beside the server's data.
    fn installed(&self, exe: &Path, bundle: Option<BundleType>) -> UpdaterBuilder {
        Updater::builder()
            .current_version("1.0.0")
            .app_id(APP)
            .executable(exe)
            .bundle_type(bundle)
            .state_dir(self.server.dir.path().join("state"))
    }

    /// `data` installed as the app (executable).
    fn install(&self, data: &[u8]) -> PathBuf {
        let exe = self.server.dir.path().join("demo");
        millennium_testing::app::write_exe(&exe, data);
        exe
    }
}

/// An "AppImage": the ELF runtime (here the build itself) followed by a filesystem image, the same in both versions
/// apart from one file. Deterministic filler stands in for the squashfs image.
fn appimage(elf: &[u8], changed: bool) -> Vec<u8> {
    let mut out = elf.to_vec();
    let mut x: u32 = 0x1234_5678;
    for i in 0..(256 * 1024) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let byte = if changed && (100_000..100_064).contains(&i) { b'v' } else { x.to_le_bytes()[0] };
        out.push(byte);
    }
    out
}

/// Checks, downloads and installs; returns the update's delta size and the transfers the progress callback saw.
async fn update(updater: &Updater) -> (Option<u64>, Vec<Transfer>, u64) {
    let update = updater.check().await.unwrap().expect("2.0.0 is offered");
    assert_eq!(update.version().to_string(), "2.0.0");
    let delta_size = update.delta_size();
    assert_eq!(update.uses_delta(), delta_size.is_some());
    let mut transfers = Vec::new();
    let mut delta_bytes = 0;
    update
        .download_and_install(|p| {
            millennium_testing::push_change(&mut transfers, p.transfer);
            if p.transfer == Transfer::Delta {
                delta_bytes = p.downloaded;
            }
        })
        .await
        .unwrap();
    (delta_size, transfers, delta_bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_binary_updates_by_delta_to_exactly_the_full_artifact() {
    let w = World::new().await;
    let (v1, v2) = (std::fs::read(&w.builds.v1).unwrap(), std::fs::read(&w.builds.asset).unwrap());
    let target = format!("linux-{}", std::env::consts::ARCH);
    w.publish_pair(&target, &v1, &v2).await;

    // Without `X-Millennium-Installed` (every Tauri client) the answer lists no delta; with it, the delta from the
    // named artifact.
    let check_url = format!("{}/{APP}/linux/{}/1.0.0", w.server.url, std::env::consts::ARCH);
    let plain = reqwest::get(&check_url).await.unwrap().text().await.unwrap();
    assert!(!plain.contains("deltas"), "{plain}");
    let hash = millennium_update_protocol::metadata::blake2b_256_hex(&v1);
    let named = reqwest::Client::new()
        .get(&check_url)
        .header("X-Millennium-Installed", format!("blake2b-256:{hash}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(named.contains(&format!("\"from\":\"{hash}\"")), "{named}");
    let mut named: serde_json::Value = serde_json::from_str(&named).unwrap();
    named.as_object_mut().unwrap().remove("deltas");
    assert_eq!(named, serde_json::from_str::<serde_json::Value>(&plain).unwrap(), "the same answer otherwise");

    let exe = w.install(&v1);
    let (delta_size, transfers, delta_bytes) = update(&w.updater(&exe, None)).await;
    let delta_size = delta_size.expect("a delta is offered from the installed binary");
    assert!(delta_size * 10 < v2.len() as u64, "delta {delta_size} bytes for {} bytes", v2.len());
    assert_eq!(transfers, [Transfer::Delta], "only the delta was transferred");
    assert_eq!(delta_bytes, delta_size, "progress counts the bytes transferred");
    assert_eq!(std::fs::read(&exe).unwrap(), v2, "the result is the full artifact, byte for byte");
    assert_eq!((w.downloads("delta").await, w.downloads("full").await), (1, 0));
    let saved = w.server.figure(&format!("millennium_delta_bytes_saved_total{{app=\"{APP}\"}}")).await;
    assert_eq!(saved, v2.len() as u64 - delta_size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appimage_updates_by_delta_to_exactly_the_full_artifact() {
    let w = World::new().await;
    let elf = std::fs::read(&w.builds.v1).unwrap();
    let (v1, v2) = (appimage(&elf, false), appimage(&elf, true));
    let target = format!("linux-{}-appimage", std::env::consts::ARCH);
    w.publish_pair(&target, &v1, &v2).await;

    let exe = w.install(&v1);
    let (delta_size, transfers, _) = update(&w.updater(&exe, Some(BundleType::AppImage))).await;
    assert!(delta_size.expect("a delta is offered from the AppImage") * 10 < v2.len() as u64);
    assert_eq!(transfers, [Transfer::Delta]);
    assert_eq!(std::fs::read(&exe).unwrap(), v2);
    assert_eq!((w.downloads("delta").await, w.downloads("full").await), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_delta_blob_falls_back_to_the_full_download() {
    let w = World::new().await;
    let (v1, v2) = (std::fs::read(&w.builds.v1).unwrap(), std::fs::read(&w.builds.asset).unwrap());
    let target = format!("linux-{}", std::env::consts::ARCH);
    w.publish_pair(&target, &v1, &v2).await;
    // Damage the stored deltas (the first and the one in the newest forms): the blobs that are no artifact.
    let blobs = w.server.data_dir().join("blobs").join("sha256");
    let deltas: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && std::fs::read(p).is_ok_and(|data| data != v1 && data != v2))
        .collect();
    assert_eq!(deltas.len(), 2, "the delta blobs: {deltas:?}");
    for delta in deltas {
        let mut bytes = std::fs::read(&delta).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&delta, bytes).unwrap();
    }

    let exe = w.install(&v1);
    let (delta_size, transfers, _) = update(&w.updater(&exe, None)).await;
    assert!(delta_size.is_some());
    assert_eq!(transfers, [Transfer::Delta, Transfer::DeltaFailed, Transfer::Full]);
    assert_eq!(std::fs::read(&exe).unwrap(), v2);
    assert_eq!((w.downloads("delta").await, w.downloads("full").await), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_changed_after_the_check_falls_back_to_the_full_download() {
    let w = World::new().await;
    let (v1, v2) = (std::fs::read(&w.builds.v1).unwrap(), std::fs::read(&w.builds.asset).unwrap());
    let target = format!("linux-{}", std::env::consts::ARCH);
    w.publish_pair(&target, &v1, &v2).await;

    let exe = w.install(&v1);
    let update = w.updater(&exe, None).check().await.unwrap().unwrap();
    assert!(update.uses_delta());
    // The installed file is no longer the base the delta was offered for (replaced by hand, or damaged).
    let function = std::fs::read(&w.builds.function).unwrap();
    millennium_testing::app::write_exe(&exe, &function);
    let mut transfers = Vec::new();
    update.download_and_install(|p| millennium_testing::push_change(&mut transfers, p.transfer)).await.unwrap();
    assert_eq!(transfers, [Transfer::Delta, Transfer::DeltaFailed, Transfer::Full]);
    assert_eq!(std::fs::read(&exe).unwrap(), v2);
    assert_eq!((w.downloads("delta").await, w.downloads("full").await), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secure_check_updates_by_the_delta_its_deltas_index_lists() {
    let (w, v1, v2) = World::signed_with_delta().await;
    let target = format!("linux-{}", std::env::consts::ARCH);

    // The index beside the signed documents lists the delta from v1, with no URL: the file beside it, by its name.
    let index = w.server.get(&format!("/metadata/{APP}/deltas/2.0.0/{target}/index.json")).await;
    assert_eq!(index.status(), 200);
    let index: serde_json::Value = index.json().await.unwrap();
    let from = millennium_update_protocol::metadata::blake2b_256_hex(&v1);
    assert_eq!(index["deltas"][0]["from"], from.as_str(), "{index}");
    assert!(index["deltas"][0].get("url").is_none(), "{index}");
    let file = w.server.get(&format!("/metadata/{APP}/deltas/2.0.0/{target}/{from}")).await;
    assert_eq!(file.content_length(), index["deltas"][0]["size"].as_u64());
    assert_eq!(w.server.get(&format!("/metadata/{APP}/deltas/9.9.9/{target}/index.json")).await.status(), 404);

    let exe = w.install(&v1);
    let (delta_size, transfers, delta_bytes) = update(&w.secure_updater(&exe)).await;
    let delta_size = delta_size.expect("the deltas index offers the delta from the installed binary");
    assert!(delta_size * 10 < v2.len() as u64, "delta {delta_size} bytes for {} bytes", v2.len());
    assert_eq!(transfers, [Transfer::Delta], "only the delta was transferred");
    assert_eq!(delta_bytes, delta_size);
    assert_eq!(std::fs::read(&exe).unwrap(), v2, "the result is the signed artifact, byte for byte");
    // The index request above was no download; the secure update's was the one delta.
    assert_eq!((w.downloads("delta").await, w.downloads("full").await), (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secure_check_downloads_the_full_artifact_when_no_delta_fits_the_installed_binary() {
    let (w, _, v2) = World::signed_with_delta().await;

    // Installed: a build the server has no delta from (changed by hand, or never published).
    let exe = w.install(&std::fs::read(&w.builds.function).unwrap());
    let (delta_size, transfers, _) = update(&w.secure_updater(&exe)).await;
    assert_eq!(delta_size, None);
    assert_eq!(transfers, [Transfer::Full]);
    assert_eq!(std::fs::read(&exe).unwrap(), v2);
    assert_eq!((w.downloads("delta").await, w.downloads("full").await), (0, 1));
}

/// The dynamic answer for `installed` with the given request headers (`X-Millennium-Installed` naming `installed`).
async fn dynamic_deltas(w: &World, installed: &[u8], forms: Option<&str>) -> serde_json::Value {
    let check_url = format!("{}/{APP}/linux/{}/1.0.0", w.server.url, std::env::consts::ARCH);
    let hash = millennium_update_protocol::metadata::blake2b_256_hex(installed);
    let mut request =
        reqwest::Client::new().get(&check_url).header("X-Millennium-Installed", format!("blake2b-256:{hash}"));
    if let Some(forms) = forms {
        request = request.header("X-Millennium-Delta-Forms", forms);
    }
    let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    answer["deltas"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_every_delta_form_gets_the_newest_delta_and_one_that_does_not_gets_the_first() {
    let w = World::new().await;
    let (v1, v2) = (std::fs::read(&w.builds.v1).unwrap(), std::fs::read(&w.builds.function).unwrap());
    let target = format!("linux-{}", std::env::consts::ARCH);
    w.publish_pair(&target, &v1, &v2).await;

    // A client that does not name the forms (every Millennium updater before them) is offered the delta `make` writes
    // by default, which those updaters read; one that names the newest, the delta made with every form (interleaved
    // diff, container version 3, bounded window), smaller on this code change. One that names older forms only (as
    // the updaters of the previous release do) gets the first.
    let first = dynamic_deltas(&w, &v1, None).await;
    let unknown = dynamic_deltas(&w, &v1, Some("zstd-dict")).await;
    let older = dynamic_deltas(&w, &v1, Some("bsdiff-interleaved")).await;
    let previous = dynamic_deltas(&w, &v1, Some("bsdiff-interleaved, result-xxh3")).await;
    let newest = dynamic_deltas(&w, &v1, Some("bsdiff-interleaved, result-xxh3, bounded-window")).await;
    assert_eq!(unknown, first, "a form the server does not keep changes nothing");
    assert_eq!(older, first, "the newest delta uses every form");
    assert_eq!(previous, first, "the newest delta uses every form");
    assert!(first.get("alternatives").is_none(), "{first}");
    assert!(newest["url"].as_str().unwrap().ends_with(".bounded-window"), "{newest}");
    assert!(newest["size"].as_u64().unwrap() + 24 < first["size"].as_u64().unwrap(), "{newest} vs {first}");
    let download = |url: &serde_json::Value| {
        let url = url.as_str().unwrap().to_owned();
        async move { reqwest::get(url).await.unwrap().bytes().await.unwrap().to_vec() }
    };
    let dir = tempfile::tempdir().unwrap();
    let (base, new) = (dir.path().join("v1"), dir.path().join("v2"));
    std::fs::write(&base, &v1).unwrap();
    std::fs::write(&new, &v2).unwrap();
    let expected = dir.path().join("first");
    millennium_delta::make(&base, &new, &expected, &millennium_delta::MakeOptions::default()).unwrap();
    assert_eq!(download(&first["url"]).await, std::fs::read(&expected).unwrap(), "the first delta is the default one");
    let served = dir.path().join("served");
    std::fs::write(&served, download(&newest["url"]).await).unwrap();
    let every = millennium_delta::MakeOptions {
        encoders: vec![millennium_delta::inspect(&expected).unwrap().encoder],
        interleaved_diff: true,
        xxh3_result_check: true,
        bounded_window: true,
        ..millennium_delta::MakeOptions::default()
    };
    let expected = dir.path().join("every");
    millennium_delta::make(&base, &new, &expected, &every).unwrap();
    assert_eq!(std::fs::read(&served).unwrap(), std::fs::read(&expected).unwrap(), "made with every form");
    let applied = millennium_delta::apply(&base, &served, &dir.path().join("out"), v2.len() as u64).unwrap();
    assert_eq!(applied.header.result_check.version(), 3);
    assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), v2);

    // The updater names every form, so it downloads the newest delta and installs the full artifact's bytes.
    let exe = w.install(&v1);
    let (delta_size, transfers, delta_bytes) = update(&w.updater(&exe, None)).await;
    assert_eq!(delta_size, newest["size"].as_u64());
    assert_eq!((transfers, delta_bytes), (vec![Transfer::Delta], delta_size.unwrap()));
    assert_eq!(std::fs::read(&exe).unwrap(), v2, "the result is the full artifact, byte for byte");
    assert_eq!((w.downloads("delta").await, w.downloads("full").await), (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secure_check_reads_the_newest_alternative_its_deltas_index_lists() {
    let w = World::new().await;
    w.sign_metadata().await;
    let (v1, v2) = (std::fs::read(&w.builds.v1).unwrap(), std::fs::read(&w.builds.function).unwrap());
    let target = format!("linux-{}", std::env::consts::ARCH);
    w.publish_signed("1.0.0", &target, &v1).await;
    w.publish_signed("2.0.0", &target, &v2).await;
    w.wait_for_deltas(1).await;

    let index: serde_json::Value =
        w.server.get(&format!("/metadata/{APP}/deltas/2.0.0/{target}/index.json")).await.json().await.unwrap();
    let entry = &index["deltas"][0];
    let alternative = &entry["alternatives"][0];
    assert_eq!(alternative["form"], "bounded-window", "{index}");
    let from = millennium_update_protocol::metadata::blake2b_256_hex(&v1);
    let file = w.server.get(&format!("/metadata/{APP}/deltas/2.0.0/{target}/{from}.bounded-window")).await;
    assert_eq!(file.content_length(), alternative["size"].as_u64());
    let unknown = w.server.get(&format!("/metadata/{APP}/deltas/2.0.0/{target}/{from}.zstd-dict")).await;
    assert_eq!(unknown.status(), 404);

    let exe = w.install(&v1);
    let (delta_size, transfers, _) = update(&w.secure_updater(&exe)).await;
    assert_eq!(delta_size, alternative["size"].as_u64(), "the alternative, not the first delta ({entry})");
    assert_eq!(transfers, [Transfer::Delta]);
    assert_eq!(std::fs::read(&exe).unwrap(), v2, "the result is the signed artifact, byte for byte");
}
