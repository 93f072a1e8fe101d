//! Releases that declare `min_webview_version`, against this machine's real WebKitGTK (Debian's
//! `libwebkit2gtk-4.1-0`, version cross-checked with `pkg-config`): refused with a typed error and nothing changed
//! when the webview is older, installed when it meets the minimum (or declares minimums for other backends only),
//! provisioning run when the policy allows; and the webview reported on update checks.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")]

use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::support;
use crate::support::CHECK;
use millennium_testing::app::{Fixture, run, script_app};
use millennium_testing::http::{MockServer, Reply};
use millennium_testing::keys::Keys;
use millennium_testing::require_tool;
use millennium_update_protocol::Version;
use millennium_update_protocol::tauri::{Artifact, ArtifactUrl, ReleaseInfo, SignatureText, StaticManifest};
use millennium_update_protocol::webview::WebviewMinimums;
use millennium_updater::{Error, UpdaterBuilder, WEBVIEW_HEADER, WebviewPolicy};

/// The installed WebKitGTK version as its development files state it.
fn installed_webkitgtk() -> String {
    require_tool("pkg-config", "pkg-config");
    let output = Command::new("pkg-config").args(["--modversion", "webkit2gtk-4.1"]).output().unwrap();
    assert!(output.status.success(), "pkg-config: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// An updater of `fx` checking `server`.
fn builder(fx: &Fixture, keys: &Keys, server: &MockServer) -> UpdaterBuilder {
    support::builder(fx, keys, &[server.url(CHECK)])
}

/// A server offering version 2.0.0 at `/artifact`, declaring `min_webview` when given.
async fn offering(keys: &Keys, v2: Vec<u8>, min_webview: Option<&str>) -> MockServer {
    let mut release = ReleaseInfo::new(Version::parse("2.0.0").unwrap());
    if let Some(min) = min_webview {
        release = release.with_min_webview_version(min.parse().unwrap());
    }
    support::offering(keys, v2, release).await
}

#[tokio::test]
async fn update_checks_report_the_webview() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = MockServer::start(|_| Reply::status(204)).await;
    assert!(builder(&fx, &keys, &server).build().unwrap().check().await.unwrap().is_none());
    assert!(builder(&fx, &keys, &server).report_webview(false).build().unwrap().check().await.unwrap().is_none());
    let requests = server.requests();
    assert_eq!(requests[0].header(WEBVIEW_HEADER), Some(format!("webkitgtk/{}", installed_webkitgtk()).as_str()));
    assert_eq!(requests[1].header(WEBVIEW_HEADER), None);
}

#[tokio::test]
async fn a_release_needing_a_newer_webview_is_refused_and_nothing_changes() {
    let installed = installed_webkitgtk();
    let fx = Fixture::new();
    let keys = Keys::generate();
    let server = offering(&keys, script_app("2.0.0", 50_000), Some("99.0")).await;
    let updater = builder(&fx, &keys, &server).build().unwrap();
    let update = updater.check().await.unwrap().expect("an update");
    assert_eq!(update.min_webview_version().unwrap().to_string(), "99.0");
    assert!(!update.webview_verdict().is_ok());

    let error = update.download_and_install(|_| {}).await.unwrap_err();
    match &error {
        Error::WebviewTooOld { version, minimum, found, .. } => {
            assert_eq!((version.as_str(), minimum.as_str(), found.as_str()), ("2.0.0", "99.0", installed.as_str()));
        }
        other => panic!("expected WebviewTooOld, got {other:?}"),
    }
    let text = error.to_string();
    assert!(text.contains("the update was not installed"), "{text}");
    assert!(text.contains("\nhint: install or upgrade `libwebkit2gtk-4.1-0`"), "{text}");
    assert!(server.requests_to("/artifact").is_empty(), "nothing is downloaded for a release that cannot run");
    fx.assert_untouched();

    // Downloaded first, then installed: the install step checks too, and leaves the app as it was.
    let downloaded = update.download(|_| {}).await.unwrap();
    assert!(matches!(downloaded.install(), Err(Error::WebviewTooOld { .. })));
    fx.assert_untouched();
    assert!(!fx.dir.path().join("app.previous").exists());
}

#[tokio::test]
async fn a_static_manifest_binds_each_platform_to_its_own_entry_only() {
    let installed = installed_webkitgtk();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 50_000);
    let signature = keys.sign(&v2, Some("2.0.0"));
    let manifest = Arc::new(Mutex::new(String::new()));
    let served = manifest.clone();
    let body = v2.clone();
    let server = MockServer::start(move |req| {
        if req.path.starts_with("/update/") {
            Reply::json(served.lock().unwrap().clone())
        } else if req.path == "/artifact" {
            Reply::bytes(body.clone())
        } else {
            Reply::status(404)
        }
    })
    .await;
    let url = server.url("/artifact");
    let serve = |minimums: &str| {
        let artifact = || {
            Artifact::new(ArtifactUrl::parse(&url).unwrap(), SignatureText::from_signature(signature.clone()).unwrap())
        };
        let json = StaticManifest::builder(ReleaseInfo::new(Version::parse("2.0.0").unwrap()))
            .platform(format!("linux-{}", std::env::consts::ARCH).parse().unwrap(), artifact())
            .platform("windows-x86_64".parse().unwrap(), artifact())
            .min_webview_versions(minimums.parse::<WebviewMinimums>().unwrap())
            .build()
            .unwrap()
            .to_json();
        *manifest.lock().unwrap() = json;
    };

    // The Linux entry needs a WebKitGTK newer than this machine's (the Windows one a WebView2 any has): refused.
    let fx = Fixture::new();
    serve("webkitgtk=99.0,webview2=1.0");
    let update = builder(&fx, &keys, &server).build().unwrap().check().await.unwrap().expect("an update");
    assert_eq!(update.min_webview_version().map(ToString::to_string).as_deref(), Some("99.0"));
    let error = update.download_and_install(|_| {}).await.unwrap_err();
    match &error {
        Error::WebviewTooOld { minimum, found, .. } => {
            assert_eq!((minimum.as_str(), found.as_str()), ("99.0", installed.as_str()));
        }
        other => panic!("expected WebviewTooOld, got {other:?}"),
    }
    fx.assert_untouched();
    assert!(server.requests_to("/artifact").is_empty());

    // Only the Windows entry has a minimum, far above any WebView2: installed here all the same.
    serve("webview2=999.0");
    assert!(manifest.lock().unwrap().contains(r#""min_webview_version":"999.0""#));
    let update = builder(&fx, &keys, &server).build().unwrap().check().await.unwrap().expect("an update");
    assert_eq!(update.min_webview_version(), None);
    assert!(update.webview_verdict().is_ok());
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run(&fx.app), "2.0.0");
}

#[tokio::test]
async fn a_release_whose_minimum_is_met_is_installed() {
    let installed = installed_webkitgtk();
    let fx = Fixture::new();
    let keys = Keys::generate();
    let v2 = script_app("2.0.0", 50_000);
    // Exactly the installed version: the boundary is inclusive.
    let server = offering(&keys, v2.clone(), Some(&installed)).await;
    let updater = builder(&fx, &keys, &server).build().unwrap();
    let update = updater.check().await.unwrap().expect("an update");
    assert!(update.webview_verdict().is_ok());
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(std::fs::read(&fx.app).unwrap(), v2);
    assert_eq!(run(&fx.app), "2.0.0");
}

#[tokio::test]
async fn provisioning_runs_when_allowed_and_the_webview_is_checked_again() {
    let fx = Fixture::new();
    let keys = Keys::generate();
    let marker = fx.dir.path().join("provisioned");
    let provision = WebviewPolicy::ProvisionWith(vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("echo run >> {}", marker.display()),
    ]);

    // Met already: provisioning is not run.
    let server = offering(&keys, script_app("2.0.0", 50_000), Some("2.0")).await;
    let updater = builder(&fx, &keys, &server).webview_policy(provision.clone()).build().unwrap();
    let update = updater.check().await.unwrap().unwrap();
    let downloaded = update.download(|_| {}).await.unwrap();
    assert!(!marker.exists());
    drop(downloaded);

    // Too old: provisioning runs once; it cannot bring WebKitGTK 99, so the update is still refused.
    let server = offering(&keys, script_app("2.0.0", 50_000), Some("99")).await;
    let updater = builder(&fx, &keys, &server).webview_policy(provision).build().unwrap();
    let update = updater.check().await.unwrap().unwrap();
    let error = update.download_and_install(|_| {}).await.unwrap_err();
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "run\n");
    assert!(matches!(error, Error::WebviewTooOld { .. }), "{error:?}");
    assert!(error.to_string().contains("provisioning ran but the webview is still too old"), "{error}");
    fx.assert_untouched();

    // A failing provisioning command is its own error, and changes nothing either.
    let failing = WebviewPolicy::ProvisionWith(vec!["sh".to_owned(), "-c".to_owned(), "exit 3".to_owned()]);
    let updater = builder(&fx, &keys, &server).webview_policy(failing).build().unwrap();
    let error = updater.check().await.unwrap().unwrap().download_and_install(|_| {}).await.unwrap_err();
    assert!(matches!(error, Error::WebviewProvisioning { .. }), "{error:?}");
    assert!(error.to_string().contains("`sh -c exit 3` exited with exit status: 3"), "{error}");
    fx.assert_untouched();
}
