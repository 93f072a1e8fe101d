//! The whole distribution path with every real piece: a release signed with `millennium-sign`, published through the
//! update server's HTTP API into a real `millennium-update-server` (SQLite + files, serving on loopback), found,
//! downloaded, verified and installed by `millennium-updater` over both the dynamic and the static (`latest.json`)
//! endpoints, with staged rollouts and yanks deciding who is offered what.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use millennium_sign::{Format, SecretKey, Signature, TrustedComment};
use millennium_update_admin::api::{PublishRequest, Rollout, Scope};
use millennium_update_admin::client::{Client, UploadArtifact};
use millennium_update_protocol::Version;
use millennium_update_server::{AppState, ServerConfig, StorageConfig, app};
use millennium_updater::Updater;

const ADMIN: &str = "admin-token-for-end-to-end-tests";
const APP: &str = "demo";

/// A running server on an ephemeral loopback port, stopped when dropped.
struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    async fn start(data_dir: &Path) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = ServerConfig::new(&url, 64 * 1024 * 1024).unwrap();
        let state = AppState::open(&StorageConfig::local(data_dir), config, Some(ADMIN)).await.unwrap().state;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(millennium_update_server::server::serve_on(listener, app(state), async {
            let _ = stopped.await;
        }));
        Server { url, stop: Some(stop) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An "app": a script that prints its version (the updater accepts scripts as plain executables).
fn app_build(version: &str) -> Vec<u8> {
    let mut script = format!("#!/bin/sh\necho {version}\n").into_bytes();
    // Padding makes the download span many chunks.
    script.extend(format!("# {}\n", "x".repeat(200)).repeat(5000).into_bytes());
    script
}

fn run(exe: &Path) -> String {
    let out = std::process::Command::new(exe).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn publish(server: &Server, key: &SecretKey, dir: &Path, version: &str, rollout: Option<u8>) {
    publish_with(server, key, dir, version, rollout, None).await;
}

async fn publish_with(
    server: &Server,
    key: &SecretKey,
    dir: &Path,
    version: &str,
    rollout: Option<u8>,
    min_webview: Option<&str>,
) {
    let file = dir.join(format!("demo_{version}_amd64"));
    std::fs::write(&file, app_build(version)).unwrap();
    let comment = TrustedComment::tauri(1_795_000_000, "demo", Some(version)).unwrap();
    let signature = Signature::sign(key, std::fs::File::open(&file).unwrap(), &comment).unwrap();
    let publisher = Client::new(&server.url, &publish_token(server).await).unwrap();
    let release = PublishRequest {
        notes: Some(format!("release {version}")),
        min_webview_version: min_webview.map(str::to_owned),
        rollout,
        ..PublishRequest::new(version)
    };
    let artifact = UploadArtifact {
        target: "linux-x86_64".parse().unwrap(),
        path: file,
        signature: signature.to_text(Format::Tauri),
    };
    publisher.publish(APP, &release, &[artifact], Arc::new(|_| {})).await.unwrap();
}

async fn publish_token(server: &Server) -> String {
    let admin = Client::new(&server.url, ADMIN).unwrap();
    let token = admin.create_token(APP, Scope::Publish, "ci").await.unwrap();
    token.token
}

/// The server's `/metrics` text.
async fn fetch_metrics(server: &Server) -> String {
    let response = reqwest::Client::new().get(format!("{}/metrics", server.url)).bearer_auth(ADMIN).send().await;
    response.unwrap().text().await.unwrap()
}

fn make_updater(endpoint: &str, key: &SecretKey, exe: &Path, state: &Path, version: &str, install_id: &str) -> Updater {
    Updater::builder()
        .endpoint(endpoint)
        .pubkey(key.public_key().to_text(Format::Tauri))
        .current_version(version)
        .app_id(APP)
        .executable(exe)
        .bundle_type(None)
        .state_dir(state)
        .install_id(install_id)
        .build()
        .unwrap()
}

/// A server with the app registered under a fresh release key, and its admin client.
struct World {
    tmp: tempfile::TempDir,
    server: Server,
    key: SecretKey,
    admin: Client,
}

impl World {
    async fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let server = Server::start(&tmp.path().join("data")).await;
        let key = SecretKey::generate().unwrap();
        let admin = Client::new(&server.url, ADMIN).unwrap();
        admin.create_app(APP, &key.public_key().to_text(Format::Minisign)).await.unwrap();
        World { tmp, server, key, admin }
    }
}

impl Server {
    /// The Tauri-style endpoint template an app is configured with.
    fn dynamic_endpoint(&self) -> String {
        format!("{}/{APP}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", self.url)
    }
}

fn installed_app(dir: &Path, version: &str) -> PathBuf {
    let exe = dir.join("demo");
    std::fs::write(&exe, app_build(version)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_updates_itself_from_a_real_server() {
    let World { tmp, server, key, .. } = World::new().await;
    publish(&server, &key, tmp.path(), "1.1.0", None).await;

    let dynamic = server.dynamic_endpoint();
    let exe = installed_app(tmp.path(), "1.0.0");
    assert_eq!(run(&exe), "1.0.0");
    let updater = make_updater(&dynamic, &key, &exe, &tmp.path().join("state"), "1.0.0", "install-1");
    let update = updater.check().await.unwrap().expect("1.1.0 is offered");
    assert_eq!(update.version().to_string(), "1.1.0");
    assert_eq!(update.notes(), Some("release 1.1.0"));
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&exe), "1.1.0");

    // Once up to date, the server answers 204 and the updater reports no update.
    let updater = make_updater(&dynamic, &key, &exe, &tmp.path().join("state"), "1.1.0", "install-1");
    assert!(updater.check().await.unwrap().is_none());

    // The static manifest works the same way.
    publish(&server, &key, tmp.path(), "1.2.0", None).await;
    let latest = format!("{}/{APP}/stable/latest.json", server.url);
    let updater = make_updater(&latest, &key, &exe, &tmp.path().join("state"), "1.1.0", "install-1");
    updater.check().await.unwrap().expect("1.2.0 is offered").download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&exe), "1.2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_and_yanks_decide_who_is_offered_what() {
    let World { tmp, server, key, admin } = World::new().await;
    publish(&server, &key, tmp.path(), "2.0.0", Some(0)).await;
    let dynamic = server.dynamic_endpoint();
    let exe = installed_app(tmp.path(), "1.0.0");
    let check = |id: &str| {
        let updater = make_updater(&dynamic, &key, &exe, &tmp.path().join(format!("state-{id}")), "1.0.0", id);
        async move { updater.check().await.unwrap().map(|u| u.version().to_string()) }
    };
    // At 0 % nobody gets it; at 100 % everybody does.
    assert_eq!(check("a").await, None);
    let version = Version::parse("2.0.0").unwrap();
    let rollout = |percent| Rollout { channel: None, percent: Some(percent), paused: None };
    admin.rollout(APP, &version, &rollout(100)).await.unwrap();
    assert_eq!(check("a").await.as_deref(), Some("2.0.0"));
    // A paused rollout, then a yanked release, are offered to no one.
    admin.rollout(APP, &version, &Rollout { channel: None, percent: None, paused: Some(true) }).await.unwrap();
    assert_eq!(check("b").await, None);
    admin.rollout(APP, &version, &Rollout { channel: None, percent: None, paused: Some(false) }).await.unwrap();
    assert_eq!(check("b").await.as_deref(), Some("2.0.0"));
    admin.yank(APP, &version, true, None).await.unwrap();
    assert_eq!(check("c").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_signed_by_another_key_is_never_installed() {
    let World { tmp, server, key, .. } = World::new().await;
    publish(&server, &key, tmp.path(), "1.1.0", None).await;
    // The app pins another key (e.g. the server's app key was replaced by an attacker with admin access).
    let pinned = SecretKey::generate().unwrap();
    let dynamic = server.dynamic_endpoint();
    let exe = installed_app(tmp.path(), "1.0.0");
    let updater = make_updater(&dynamic, &pinned, &exe, &tmp.path().join("state"), "1.0.0", "install-1");
    let err = match updater.check().await {
        Ok(Some(update)) => update.download_and_install(|_| {}).await.unwrap_err(),
        Ok(None) => panic!("no update offered at all"),
        Err(err) => err,
    };
    assert!(err.to_string().contains("key"), "{err}");
    assert_eq!(run(&exe), "1.0.0");
}

/// A release that needs a newer system webview than this machine has is refused by the real updater, which reports
/// the machine's real WebKitGTK (`libwebkit2gtk-4.1-0`) in `X-Millennium-Webview`, before anything is downloaded; and
/// the server's `/metrics` counts the check as one from an install whose webview is too old for the offered release.
/// Minimums are per backend: the WebView2 one of the refused release (met by any WebView2) changes nothing here, and
/// a later release needing only a WebView2 no machine has installs on Linux and counts as `ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_needing_a_newer_webview_is_refused_and_counted() {
    let World { tmp, server, key, .. } = World::new().await;
    publish_with(&server, &key, tmp.path(), "1.1.0", None, Some("webkitgtk=99.0,webview2=1.0")).await;
    let exe = installed_app(tmp.path(), "1.0.0");
    let updater = make_updater(&server.dynamic_endpoint(), &key, &exe, &tmp.path().join("state"), "1.0.0", "install-1");
    let update = updater.check().await.unwrap().expect("1.1.0 is offered: the server does not decide for the client");
    assert_eq!(update.min_webview_version().map(ToString::to_string).as_deref(), Some("99.0"));
    let error = update.download_and_install(|_| {}).await.unwrap_err();
    let refused = match &error {
        millennium_updater::Error::WebviewTooOld { version, minimum, .. } => (version.as_str(), minimum.as_str()),
        other => panic!("expected WebviewTooOld, got {other:?}"),
    };
    assert_eq!(refused, ("1.1.0", "99.0"));
    assert_eq!(run(&exe), "1.0.0", "the app is left as it was");

    let metrics = fetch_metrics(&server).await;
    let too_old = "millennium_update_check_webviews_total{app=\"demo\",channel=\"stable\",backend=\"webkitgtk\",webview=\"too_old\"} 1";
    assert!(metrics.lines().any(|line| line == too_old), "{metrics}");

    publish_with(&server, &key, tmp.path(), "1.2.0", None, Some("webview2=999.0")).await;
    let update = updater.check().await.unwrap().expect("1.2.0 is offered");
    assert_eq!(update.version().to_string(), "1.2.0");
    assert_eq!(update.min_webview_version(), None, "a WebView2 minimum does not bind WebKitGTK");
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&exe), "1.2.0");
    let metrics = fetch_metrics(&server).await;
    let ok = "millennium_update_check_webviews_total{app=\"demo\",channel=\"stable\",backend=\"webkitgtk\",webview=\"ok\"} 1";
    assert!(metrics.lines().any(|line| line == ok), "{metrics}");
    assert!(metrics.lines().any(|line| line == too_old), "{metrics}");
}
