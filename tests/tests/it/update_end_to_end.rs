//! The whole distribution path with every real piece: a release signed with `millennium-sign`, published through the
//! update server's HTTP API into a real `millennium-update-server` (SQLite + files, serving on loopback), found,
//! downloaded, verified and installed by `millennium-updater` over both the dynamic and the static (`latest.json`)
//! endpoints, with staged rollouts and yanks deciding who is offered what.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::{Path, PathBuf};

use millennium_sign::{Format, SecretKey};
use millennium_testing::app::{run, script_app, write_exe};
use millennium_testing::server::{RegisteredApp, TestServer};
use millennium_update_admin::api::{PublishRequest, Rollout, Scope};
use millennium_update_protocol::Version;
use millennium_updater::Updater;

const APP: &str = "demo";

/// A real server with the app registered under a fresh release key, with a publish token for it.
struct World {
    server: TestServer,
    app: RegisteredApp,
}

impl World {
    async fn new() -> World {
        let server = TestServer::start().await;
        let app = server.register(APP, Scope::Publish).await;
        World { server, app }
    }

    /// Publishes `version` of the app for `linux-x86_64` through the HTTP API, as CI does.
    async fn publish(&self, version: &str, rollout: Option<u8>, min_webview: Option<&str>) {
        // Padding makes the download span many chunks.
        let artifact = self.app.artifact(version, "linux-x86_64", &script_app(version, 1 << 20), &self.app.key);
        let release = PublishRequest {
            notes: Some(format!("release {version}")),
            min_webview_version: min_webview.map(str::to_owned),
            rollout,
            ..PublishRequest::new(version)
        };
        self.app.publish(&release, &[artifact]).await;
    }

    /// The Tauri-style endpoint template an app is configured with.
    fn dynamic_endpoint(&self) -> String {
        format!("{}/{APP}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", self.server.url)
    }

    /// The app, version `version`, installed in the temp dir.
    fn installed_app(&self, version: &str) -> PathBuf {
        let exe = self.dir().join("demo");
        write_exe(&exe, &script_app(version, 4096));
        exe
    }

    fn dir(&self) -> &Path {
        self.server.dir.path()
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_updates_itself_from_a_real_server() {
    let w = World::new().await;
    let key = &w.app.key;
    w.publish("1.1.0", None, None).await;

    let dynamic = w.dynamic_endpoint();
    let exe = w.installed_app("1.0.0");
    assert_eq!(run(&exe), "1.0.0");
    let updater = make_updater(&dynamic, key, &exe, &w.dir().join("state"), "1.0.0", "install-1");
    let update = updater.check().await.unwrap().expect("1.1.0 is offered");
    assert_eq!(update.version().to_string(), "1.1.0");
    assert_eq!(update.notes(), Some("release 1.1.0"));
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&exe), "1.1.0");

    // Once up to date, the server answers 204 and the updater reports no update.
    let updater = make_updater(&dynamic, key, &exe, &w.dir().join("state"), "1.1.0", "install-1");
    assert!(updater.check().await.unwrap().is_none());

    // The static manifest works the same way.
    w.publish("1.2.0", None, None).await;
    let latest = format!("{}/{APP}/stable/latest.json", w.server.url);
    let updater = make_updater(&latest, key, &exe, &w.dir().join("state"), "1.1.0", "install-1");
    updater.check().await.unwrap().expect("1.2.0 is offered").download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&exe), "1.2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollouts_and_yanks_decide_who_is_offered_what() {
    let w = World::new().await;
    let key = &w.app.key;
    w.publish("2.0.0", Some(0), None).await;
    let dynamic = w.dynamic_endpoint();
    let exe = w.installed_app("1.0.0");
    let check = |id: &str| {
        let updater = make_updater(&dynamic, key, &exe, &w.dir().join(format!("state-{id}")), "1.0.0", id);
        async move { updater.check().await.unwrap().map(|u| u.version().to_string()) }
    };
    // At 0 % nobody gets it; at 100 % everybody does.
    assert_eq!(check("a").await, None);
    let version = Version::parse("2.0.0").unwrap();
    let rollout = |percent| Rollout { channel: None, percent: Some(percent), paused: None };
    w.server.admin.rollout(APP, &version, &rollout(100)).await.unwrap();
    assert_eq!(check("a").await.as_deref(), Some("2.0.0"));
    // A paused rollout, then a yanked release, are offered to no one.
    w.server.admin.rollout(APP, &version, &Rollout { channel: None, percent: None, paused: Some(true) }).await.unwrap();
    assert_eq!(check("b").await, None);
    w.server
        .admin
        .rollout(APP, &version, &Rollout { channel: None, percent: None, paused: Some(false) })
        .await
        .unwrap();
    assert_eq!(check("b").await.as_deref(), Some("2.0.0"));
    w.server.admin.yank(APP, &version, true, None).await.unwrap();
    assert_eq!(check("c").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_signed_by_another_key_is_never_installed() {
    let w = World::new().await;
    w.publish("1.1.0", None, None).await;
    // The app pins another key (e.g. the server's app key was replaced by an attacker with admin access).
    let pinned = SecretKey::generate().unwrap();
    let dynamic = w.dynamic_endpoint();
    let exe = w.installed_app("1.0.0");
    let updater = make_updater(&dynamic, &pinned, &exe, &w.dir().join("state"), "1.0.0", "install-1");
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
    let w = World::new().await;
    let key = &w.app.key;
    w.publish("1.1.0", None, Some("webkitgtk=99.0,webview2=1.0")).await;
    let exe = w.installed_app("1.0.0");
    let updater = make_updater(&w.dynamic_endpoint(), key, &exe, &w.dir().join("state"), "1.0.0", "install-1");
    let update = updater.check().await.unwrap().expect("1.1.0 is offered: the server does not decide for the client");
    assert_eq!(update.min_webview_version().map(ToString::to_string).as_deref(), Some("99.0"));
    let error = update.download_and_install(|_| {}).await.unwrap_err();
    let refused = match &error {
        millennium_updater::Error::WebviewTooOld { version, minimum, .. } => (version.as_str(), minimum.as_str()),
        other => panic!("expected WebviewTooOld, got {other:?}"),
    };
    assert_eq!(refused, ("1.1.0", "99.0"));
    assert_eq!(run(&exe), "1.0.0", "the app is left as it was");

    let metrics = w.server.metrics().await;
    let too_old = "millennium_update_check_webviews_total{app=\"demo\",channel=\"stable\",backend=\"webkitgtk\",webview=\"too_old\"} 1";
    assert!(metrics.lines().any(|line| line == too_old), "{metrics}");

    w.publish("1.2.0", None, Some("webview2=999.0")).await;
    let update = updater.check().await.unwrap().expect("1.2.0 is offered");
    assert_eq!(update.version().to_string(), "1.2.0");
    assert_eq!(update.min_webview_version(), None, "a WebView2 minimum does not bind WebKitGTK");
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&exe), "1.2.0");
    let metrics = w.server.metrics().await;
    let ok = "millennium_update_check_webviews_total{app=\"demo\",channel=\"stable\",backend=\"webkitgtk\",webview=\"ok\"} 1";
    assert!(metrics.lines().any(|line| line == ok), "{metrics}");
    assert!(metrics.lines().any(|line| line == too_old), "{metrics}");
}
