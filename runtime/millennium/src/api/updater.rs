//! `Millennium.updater` (feature `api-updater`): the app updates itself through `millennium-updater`.
//!
//! ```js
//! const update = await Millennium.updater.check();   // null, or { version, notes, date, size }
//! if (update && confirm(`Install ${update.version}?\n\n${update.notes ?? ""}`)) {
//!   await Millennium.updater.install((p) => bar.value = p.total ? p.downloaded / p.total : 0);
//!   await Millennium.updater.relaunch();              // the new version starts in place of this one
//! }
//! ```
//!
//! The updater is configured in Rust with `Builder::updater` (endpoint, pinned key, current version…): the page can
//! only ask whether there is an update and install what the updater verified, never point it elsewhere. Options the
//! app leaves unset get a Millennium app's defaults, stricter than Tauri's: a signature must carry the release's
//! version (`UpdaterBuilder::millennium_defaults`), so a server cannot relabel an old build as a new one. At start the
//! framework runs the updater's rollback bookkeeping, and the first authentic message from the page confirms that this
//! version works (a version whose page never talks is rolled back after the configured number of starts). Check and
//! install run on background threads; progress goes to the page on the broker [`PROGRESS_BROKER`].
//!
//! The runtime also checks by itself, on a thread of its own ([`UpdateChecks`], on by default: the page hears of a
//! found update on [`AVAILABLE_BROKER`]), and installs an update scheduled for exit once the app's windows are gone:
//! scheduled by the page (`Millennium.updater.installOnExit()`, which downloads and verifies it now) or by the
//! background checks with [`UpdateChecks::install_on_exit`]. Which install strategy runs follows the install's bundle
//! type (see `millennium-updater`'s `install` module and the runtime README).
//!
//! ```js
//! Millennium.listen("millennium:updater.available", async (update) => {
//!   await Millennium.updater.installOnExit();          // downloaded and verified now, installed when the app quits
//!   banner.textContent = `Version ${update.version} is installed when you quit.`;
//! });
//! ```

mod checks;
mod conditions;

pub use checks::{AVAILABLE_BROKER, HELD_RETRY, LAST_CHECK_FILE, READY_BROKER, UpdateChecks};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use millennium_updater::blocking::{Update, Updater};

use crate::bridge::{CommandFn, FirstMessageFn, Handler};
use crate::{AppHandle, Report};

pub(crate) const CHECK: &str = "millennium:updater.check";
pub(crate) const INSTALL: &str = "millennium:updater.install";
pub(crate) const RELAUNCH: &str = "millennium:updater.relaunch";
pub(crate) const INSTALL_ON_EXIT: &str = "millennium:updater.installOnExit";
/// The broker install progress is published on: `{ downloaded, total }` (bytes; `total` may be null).
pub const PROGRESS_BROKER: &str = "millennium:updater.progress";

pub(crate) const BINDING: &str = "api.updater = Object.freeze({ \
    check: function () { return invoke(\"millennium:updater.check\"); }, \
    install: function (onProgress) { \
      var stop = typeof onProgress === \"function\" ? listen(\"millennium:updater.progress\", onProgress) : null; \
      var done = function () { if (stop) { stop(); } }; \
      return invoke(\"millennium:updater.install\").then(function (v) { done(); return v; }, \
        function (e) { done(); throw e; }); }, \
    installOnExit: function () { return invoke(\"millennium:updater.installOnExit\"); }, \
    relaunch: function () { return invoke(\"millennium:updater.relaunch\"); } });\n";

/// What the page learns of an update.
#[derive(Debug, Serialize)]
struct Offered {
    version: String,
    notes: Option<String>,
    date: Option<String>,
    size: Option<u64>,
}

impl Offered {
    fn of(update: &millennium_updater::Update) -> Self {
        Self {
            version: update.version().to_string(),
            notes: update.notes().map(str::to_owned),
            date: update.date().and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok()),
            size: update.size(),
        }
    }
}

/// The configured updater and the update the page was last told about.
#[derive(Debug)]
pub(crate) struct UpdaterApi {
    updater: Updater,
    offered: Mutex<Option<Update>>,
    /// The version this process scheduled for exit (so a later check does not download it again).
    scheduled: checks::Scheduled,
}

impl UpdaterApi {
    /// Builds the updater with a Millennium app's defaults and runs its startup bookkeeping (a pending update that
    /// never confirmed is rolled back).
    pub(crate) fn start(builder: millennium_updater::UpdaterBuilder) -> Result<Arc<Self>, millennium_updater::Error> {
        let updater = builder.millennium_defaults().build_blocking()?;
        let status = updater.startup()?;
        tracing::info!(?status, "updater started");
        Ok(Arc::new(Self { updater, offered: Mutex::new(None), scheduled: Mutex::new(None) }))
    }

    /// Confirms, on the page's first authentic message, that this version works.
    pub(crate) fn confirm_on_first_message(self: &Arc<Self>) -> FirstMessageFn {
        let api = self.clone();
        Box::new(move |_app| {
            if let Err(error) = api.updater.confirm_healthy() {
                tracing::warn!(error = %Report::new(&error), "could not confirm that this version works");
            }
        })
    }

    /// Starts the background checks ([`UpdateChecks`]); they stop when `stop`'s sender is dropped.
    pub(crate) fn start_checks(
        self: &Arc<Self>,
        checks: UpdateChecks,
        app: &AppHandle,
        stop: std::sync::mpsc::Receiver<()>,
    ) {
        checks::spawn(self.clone(), checks, app.clone(), stop);
    }

    /// Installs the update scheduled for exit, if any: called by the runtime once the windows are gone. Failures are
    /// logged (there is no window left to show them in); the app keeps its version and the next check offers the
    /// update again.
    pub(crate) fn install_scheduled_on_exit(&self) {
        match self.updater.as_async().apply_pending_on_exit() {
            Ok(Some(version)) => tracing::info!(%version, "update installed at exit"),
            Ok(None) => {}
            Err(error) => tracing::error!(error = %Report::new(&error), "could not install the update at exit"),
        }
    }

    pub(crate) fn commands(self: &Arc<Self>) -> Vec<(String, Handler)> {
        let (check, install, relaunch) = (self.clone(), self.clone(), self.clone());
        let on_exit = self.clone();
        let check: CommandFn = Arc::new(move |_app, _window, _args| millennium_api_updater_check(&check));
        let install: CommandFn = Arc::new(move |app, _window, _args| millennium_api_updater_install(&install, app));
        let on_exit: CommandFn = Arc::new(move |_app, _window, _args| millennium_api_updater_install_on_exit(&on_exit));
        let relaunch: CommandFn = Arc::new(move |_app, _window, _args| match relaunch.updater.relaunch() {
            Err(error) => Err(Report::new(&error).to_string()),
        });
        vec![
            (CHECK.to_owned(), Handler::Background(check)),
            (INSTALL.to_owned(), Handler::Background(install)),
            (INSTALL_ON_EXIT.to_owned(), Handler::Background(on_exit)),
            (RELAUNCH.to_owned(), Handler::Inline(relaunch)),
        ]
    }
}

/// Asks the update server; remembers what it offered for `install`.
#[inline(never)]
pub(crate) fn millennium_api_updater_check(api: &UpdaterApi) -> Result<Value, String> {
    let found = api.updater.check().map_err(|e| Report::new(&e).to_string())?;
    let offered = found.as_ref().map(|update| Offered::of(update));
    *lock(&api.offered) = found;
    serde_json::to_value(offered).map_err(|e| e.to_string())
}

/// Downloads, verifies and installs the update the last check offered, publishing progress.
#[inline(never)]
pub(crate) fn millennium_api_updater_install(api: &UpdaterApi, app: &AppHandle) -> Result<Value, String> {
    let update = lock(&api.offered).clone().ok_or("no update to install: call `Millennium.updater.check()` first")?;
    let mut last = Instant::now() - Duration::from_secs(1);
    update
        .download_and_install(|progress| {
            // At most ~10 events a second, plus the last one.
            let finished = progress.total == Some(progress.downloaded);
            if finished || last.elapsed() >= Duration::from_millis(100) {
                last = Instant::now();
                let payload = serde_json::json!({ "downloaded": progress.downloaded, "total": progress.total });
                if let Err(error) = app.emit(PROGRESS_BROKER, payload) {
                    tracing::debug!(%error, "could not publish update progress");
                }
            }
        })
        .map_err(|e| Report::new(&e).to_string())?;
    *lock(&api.offered) = None;
    Ok(serde_json::json!({ "version": update.version().to_string() }))
}

/// Downloads and verifies the update the last check offered and schedules it for the app's exit.
#[inline(never)]
pub(crate) fn millennium_api_updater_install_on_exit(api: &UpdaterApi) -> Result<Value, String> {
    let update = lock(&api.offered).clone().ok_or("no update to install: call `Millennium.updater.check()` first")?;
    let version = update.version().to_string();
    if lock(&api.scheduled).as_deref() != Some(version.as_str()) {
        update.download(|_| {}).map_err(|e| Report::new(&e).to_string())?.install_on_exit();
        *lock(&api.scheduled) = Some(version.clone());
    }
    Ok(serde_json::json!({ "version": version }))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use millennium_runtime::Message;
    use millennium_sign::{Format, SecretKey, Signature, TrustedComment};
    use millennium_testing::http::{MockServer, Reply};
    use millennium_update_admin::api::{PublishRequest, Scope};
    use millennium_update_admin::client::{Client, UploadArtifact};
    use millennium_update_server::{AppState, ServerConfig, StorageConfig, server::serve_on};

    use super::*;

    const ADMIN: &str = "admin-token-for-the-updater-api-test";

    fn script(version: &str) -> Vec<u8> {
        let mut body = format!("#!/bin/sh\necho {version}\n").into_bytes();
        body.extend(b"# padding\n".repeat(20_000));
        body
    }

    /// A real update server on loopback (on a runtime of its own) offering `demo` 2.0.0 signed by `key`.
    fn serve_v2(key: &SecretKey, dir: &std::path::Path) -> (String, tokio::runtime::Runtime) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let url = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let config = ServerConfig::new(&url, 64 << 20).unwrap();
            let state =
                AppState::open(&StorageConfig::local(&dir.join("data")), config, Some(ADMIN)).await.unwrap().state;
            tokio::spawn(serve_on(listener, state, std::future::pending()));
            let admin = Client::new(&url, ADMIN).unwrap();
            admin.create_app("demo", &key.public_key().to_text(Format::Minisign)).await.unwrap();
            let token = admin.create_token("demo", Scope::Publish, "ci").await.unwrap();
            let publisher = Client::new(&url, &token.token).unwrap();
            let file = dir.join("demo-2.0.0");
            std::fs::write(&file, script("2.0.0")).unwrap();
            let comment = TrustedComment::tauri(1_795_000_000, "demo", Some("2.0.0")).unwrap();
            let signature = Signature::sign(key, std::fs::File::open(&file).unwrap(), &comment).unwrap();
            let release = PublishRequest { notes: Some("Faster and safer.".into()), ..PublishRequest::new("2.0.0") };
            let target = format!("linux-{}", std::env::consts::ARCH).parse().unwrap();
            let artifact = UploadArtifact { target, path: file, signature: signature.to_text(Format::Tauri) };
            publisher.publish("demo", &release, &[artifact], Arc::new(|_| {})).await.unwrap();
            url
        });
        (url, runtime)
    }

    /// A hostile update server on loopback (on a runtime of its own): answers every check with `manifest`, given the
    /// server's URL, and serves `artifact` at `/artifact`.
    fn hostile_server(
        manifest: impl Fn(&str) -> String + Send + Sync + 'static,
        artifact: Vec<u8>,
    ) -> (MockServer, tokio::runtime::Runtime) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let base = Arc::new(std::sync::OnceLock::<String>::new());
        let known = base.clone();
        let server = runtime.block_on(MockServer::start(move |req| match req.path.as_str() {
            "/artifact" => Reply::bytes(artifact.clone()),
            _ => Reply::json(manifest(known.get().unwrap())),
        }));
        base.set(server.url("")).unwrap();
        (server, runtime)
    }

    /// Downgrade by relabelling: a (compromised) server offers an old build as 2.0.0. Its signature by the pinned key
    /// is valid but names no version, as `tauri signer` writes them. The updater of a Millennium app refuses it
    /// before downloading anything; only an explicit `require_signed_version(false)` accepts it.
    #[test]
    fn a_millennium_apps_updater_refuses_a_signature_without_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let old = script("1.5.0");
        let comment = TrustedComment::tauri(1_700_000_000, "demo", None).unwrap();
        let signature = Signature::sign(&key, &old[..], &comment).unwrap().to_text(Format::Tauri);
        let manifest = move |base: &str| {
            serde_json::json!({ "version": "2.0.0", "url": format!("{base}/artifact"), "signature": signature })
                .to_string()
        };
        let (server, _runtime) = hostile_server(manifest, old);
        let url = server.url("");
        let exe = dir.path().join("demo");
        std::fs::write(&exe, script("1.0.0")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let builder = || {
            millennium_updater::Updater::builder()
                .endpoint(format!("{url}/demo/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}"))
                .pubkey(key.public_key().to_text(Format::Tauri))
                .current_version("1.0.0")
                .app_id("demo")
                .executable(&exe)
                .bundle_type(None)
                .state_dir(dir.path().join("state"))
        };

        let api = UpdaterApi::start(builder()).unwrap();
        let err = millennium_api_updater_check(&api).unwrap_err();
        assert!(err.contains("does not name its version"), "{err}");
        assert!(err.contains("millennium-sign sign --version 2.0.0"), "{err}");
        let (app, _sent) = AppHandle::recording();
        assert!(millennium_api_updater_install(&api, &app).is_err(), "nothing was offered");
        assert!(server.requests_to("/artifact").is_empty(), "the old build was downloaded");
        let run = std::process::Command::new(&exe).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "1.0.0");

        let opted_out = UpdaterApi::start(builder().require_signed_version(false)).unwrap();
        assert_eq!(millennium_api_updater_check(&opted_out).unwrap()["version"], "2.0.0");
    }

    #[test]
    fn the_page_checks_installs_and_sees_progress_through_the_real_updater() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let (url, _server) = serve_v2(&key, dir.path());
        let exe = dir.path().join("demo");
        std::fs::write(&exe, script("1.0.0")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();

        let builder = |version: &str| {
            millennium_updater::Updater::builder()
                .endpoint(format!("{url}/demo/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}"))
                .pubkey(key.public_key().to_text(Format::Tauri))
                .current_version(version)
                .app_id("demo")
                .executable(&exe)
                .bundle_type(None)
                .state_dir(dir.path().join("state"))
        };
        let api = UpdaterApi::start(builder("1.0.0")).unwrap();
        let (app, sent) = AppHandle::recording();

        let err = millennium_api_updater_install(&api, &app).unwrap_err();
        assert!(err.contains("call `Millennium.updater.check()` first"), "{err}");
        let offered = millennium_api_updater_check(&api).unwrap();
        assert_eq!(offered["version"], "2.0.0");
        assert_eq!(offered["notes"], "Faster and safer.");
        assert_eq!(millennium_api_updater_install(&api, &app).unwrap(), serde_json::json!({"version": "2.0.0"}));
        let run = std::process::Command::new(&exe).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "2.0.0");

        // Progress reached the page on its broker, ending at the full size.
        let events: Vec<String> = sent
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                Message::EvaluateScriptAll { script } if script.contains(PROGRESS_BROKER) => Some(script.clone()),
                _ => None,
            })
            .collect();
        let size = script("2.0.0").len();
        assert!(!events.is_empty());
        assert!(events.last().unwrap().contains(&format!("\\\"downloaded\\\":{size}")), "{events:?}");

        // Relaunched, 2.0.0 starts; its page's first authentic message confirms it: nothing is left for rollback.
        let pending = dir.path().join("state").join("pending-update.json");
        assert!(pending.exists());
        let relaunched = UpdaterApi::start(builder("2.0.0")).unwrap();
        assert!(pending.exists(), "started, not yet confirmed");
        relaunched.confirm_on_first_message()(&app);
        assert!(!pending.exists());
    }
}
