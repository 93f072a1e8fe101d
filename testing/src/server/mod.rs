//! The real update server, for tests that need one: [`TestServer`] runs it in this process on a loopback port (what
//! `serve` runs, minus the process), [`ServerProcess`] runs its binary. Both keep their data in a temp dir, on SQLite +
//! files or on the [`Backend`] the environment names. [`RegisteredApp`] is an app registered on a `TestServer` with its
//! release key and a token, publishing through the HTTP client or the CLI as a release manager does.

mod backend;
mod process;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use millennium_sign::{Format, SecretKey};
use millennium_update_admin::api::{PublishRequest, Release, Scope};
use millennium_update_admin::client::{Client, UploadArtifact};
use millennium_update_server::{AppState, ServerConfig, cli};
use serde_json::Value;

pub use backend::{Backend, psql};
pub use process::{ServerBinary, ServerProcess, free_loopback_port};

/// The server admin token every test server starts with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// The upload limit of a [`TestServer`]: room for a debug build of an example app.
const MAX_UPLOAD_SIZE: u64 = 256 * 1024 * 1024;

/// The value of the exposition line `series value` in a `/metrics` text (`series` exactly: name and labels in the order
/// the server writes them), if there is one.
pub fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The update server in this process, on an ephemeral loopback port, with its data in a temp dir; stops when
/// dropped.
#[derive(Debug)]
pub struct TestServer {
    /// Holds `data/` (the server's) and whatever the test writes beside it.
    pub dir: tempfile::TempDir,
    pub url: String,
    pub state: AppState,
    /// A client with the server admin token.
    pub admin: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The background jobs `serve` runs beside the HTTP server, once [`TestServer::start_jobs`] started them.
    jobs: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_jobs();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestServer {
    /// A server on SQLite + files with the default settings.
    pub async fn start() -> TestServer {
        Self::start_with(|_| Backend::local(), |config| config).await
    }

    /// A server on the backend `backend` picks for its data directory ([`Backend::for_dir`] follows the
    /// environment), with its settings changed by `configure`.
    pub async fn start_with(
        backend: impl FnOnce(&Path) -> Backend,
        configure: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = configure(ServerConfig::new(&url, MAX_UPLOAD_SIZE).unwrap());
        let state = AppState::open(&backend(&data).storage(&data), config, Some(ADMIN_TOKEN)).await.unwrap().state;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(millennium_update_server::server::serve_on(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let admin = Client::new(&url, ADMIN_TOKEN).unwrap();
        TestServer { dir, url, state, admin, stop: Some(stop), jobs: Vec::new() }
    }

    /// Starts what `serve` runs beside the HTTP server (the delta job among them; this process leads on SQLite);
    /// they stop with the server.
    pub fn start_jobs(&mut self) {
        self.jobs = millennium_update_server::server::replicas::start(&self.state);
    }

    /// Stops what [`TestServer::start_jobs`] started (the HTTP server goes on).
    pub fn stop_jobs(&mut self) {
        for job in self.jobs.drain(..) {
            job.abort();
        }
    }

    /// The `/metrics` text, read with the admin token.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.url);
        let response = reqwest::Client::new().get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// The value of the `/metrics` series `series` (`name{labels}`), 0 when absent.
    pub async fn figure(&self, series: &str) -> u64 {
        metric(&self.metrics().await, series).unwrap_or(0)
    }

    /// How many downloads of `app`'s files of `kind` (`delta` or `full`) the server counted.
    pub async fn downloads(&self, app: &str, kind: &str) -> u64 {
        self.figure(&format!("millennium_update_downloads_total{{app=\"{app}\",kind=\"{kind}\"}}")).await
    }

    /// How many delta jobs for `app` ended in `result` (`stored`, `not_worth_it`, …).
    pub async fn delta_jobs(&self, app: &str, result: &str) -> u64 {
        self.figure(&format!("millennium_delta_jobs_total{{app=\"{app}\",result=\"{result}\"}}")).await
    }

    /// Waits (up to 3 minutes: the job is slow on a loaded machine) until [`TestServer::start_jobs`]'s delta job has
    /// ended `n` jobs for `app` in `result`.
    pub async fn wait_for_delta_jobs(&self, app: &str, result: &str, n: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
        while self.delta_jobs(app, result).await < n {
            if std::time::Instant::now() > deadline {
                panic!(
                    "the delta job did not end {n} jobs for {app} in `{result}` in time; /metrics:\n{}",
                    self.metrics().await
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Waits until the delta job has stored `n` deltas for `app` ([`TestServer::wait_for_delta_jobs`]).
    pub async fn wait_for_deltas(&self, app: &str, n: u64) {
        self.wait_for_delta_jobs(app, "stored", n).await;
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `GET path` (`/metadata/…`, `/metrics`, …) without a token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.url)).await.unwrap()
    }

    /// Registers `app` under a new release key, and makes a token of `scope` for it.
    pub async fn register(&self, app: &str, scope: Scope) -> RegisteredApp {
        RegisteredApp::register(&self.url, &self.admin, self.dir.path(), app, scope).await
    }
}

/// An app registered on a server: its release key (also in `key_file`, as `--release-key` reads it) and a token.
#[derive(Debug)]
pub struct RegisteredApp {
    pub id: String,
    /// The server's URL.
    pub server: String,
    pub key: SecretKey,
    pub key_file: PathBuf,
    pub token: String,
    /// Where its artifact files are written.
    dir: PathBuf,
}

impl RegisteredApp {
    /// Registers `app` on the server at `url` with `admin`, under a new release key written into `dir`, and makes a
    /// token of `scope` for it.
    async fn register(url: &str, admin: &Client, dir: &Path, app: &str, scope: Scope) -> RegisteredApp {
        let key = SecretKey::generate().unwrap();
        let key_file = dir.join(format!("{app}.key"));
        crate::keys::write_key(&key_file, &key);
        admin.create_app(app, &key.public_key().to_text(Format::Minisign)).await.unwrap();
        let token = admin.create_token(app, scope, "release manager").await.unwrap().token;
        RegisteredApp { id: app.into(), server: url.into(), key, key_file, token, dir: dir.join("artifacts").join(app) }
    }

    /// A client with the app's token.
    pub fn client(&self) -> Client {
        Client::new(&self.server, &self.token).unwrap()
    }

    /// `data` as the artifact of `version` for `target`, signed by `key`: the file
    /// `artifacts/{app}/{version}/{app}-{version}-{target}` and its `.sig` (Tauri form), ready to upload.
    pub fn artifact(&self, version: &str, target: &str, data: &[u8], key: &SecretKey) -> UploadArtifact {
        let dir = self.dir.join(version);
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("{}-{version}-{target}", self.id);
        let path = crate::keys::write_signed(&dir, &name, data, key, version, Format::Tauri);
        let signature = std::fs::read_to_string(dir.join(format!("{name}.sig"))).unwrap();
        UploadArtifact { target: target.parse().unwrap(), path, signature }
    }

    /// Publishes `release` with `artifacts` through the HTTP API, as CI does with the client library.
    pub async fn publish(&self, release: &PublishRequest, artifacts: &[UploadArtifact]) -> Release {
        self.client().publish(&self.id, release, artifacts, Arc::new(|_| {})).await.unwrap()
    }

    /// Runs an admin subcommand of the server's CLI in this process, as `--json`, against the server with the app's
    /// token; the output as the JSON it prints.
    pub async fn cli(&self, args: &[&str]) -> Result<Value, millennium_update_admin::Error> {
        let mut argv = vec!["millennium-update-server", "--json"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--server", &self.server, "--token", &self.token]);
        let parsed = <cli::Cli as clap::Parser>::try_parse_from(&argv).unwrap();
        let cli::Command::Admin(command) = parsed.command else { panic!("not an admin command: {args:?}") };
        let output = millennium_update_admin::cli::run(command, true).await?;
        Ok(serde_json::to_value(output).unwrap())
    }

    /// `publish` with the CLI: `version` with `artifacts` (their `.sig` files beside them), then `extra` arguments
    /// (`--release-key` signs the release document of an app with signed metadata).
    pub async fn cli_publish(
        &self,
        version: &str,
        artifacts: &[UploadArtifact],
        extra: &[&str],
    ) -> Result<Value, millennium_update_admin::Error> {
        let targets: Vec<String> = artifacts.iter().map(|a| format!("{}={}", a.target, a.path.display())).collect();
        let mut args = vec!["publish", "--app", &self.id, "--version", version];
        for target in &targets {
            args.extend_from_slice(&["--target", target]);
        }
        args.extend_from_slice(extra);
        self.cli(&args).await
    }
}

/// A [`TestServer`] offering one update, as the language bindings' self-update tests need: `v2` published as version
/// 2.0.0 of the app `app` for Linux on this machine's architecture (`linux-<arch>`), signed (with its version) by the app's release
/// key, with the notes `"<app> 2.0.0"`.
#[derive(Debug)]
pub struct Offered {
    pub server: TestServer,
    /// The Tauri endpoint template for the app.
    pub endpoint: String,
    /// The app's public key, in Tauri's format.
    pub pubkey: String,
}

impl Offered {
    pub async fn new(app: &str, v2: &[u8]) -> Offered {
        Self::publish(app, None, v2).await
    }

    /// As [`Offered::new`], with `v1` published as 1.0.0 before 2.0.0, and the server's delta job (what `serve` runs
    /// beside the HTTP server) run until it has stored the delta from `v1` to `v2`: an install of `v1` is offered
    /// 2.0.0 with that delta (its use is counted on `/metrics`: [`TestServer::downloads`]).
    pub async fn with_delta(app: &str, v1: &[u8], v2: &[u8]) -> Offered {
        let mut offered = Self::publish(app, Some(v1), v2).await;
        offered.server.start_jobs();
        offered.server.wait_for_deltas(app, 1).await;
        offered
    }

    /// v1 and v2 of an app for [`Offered::with_delta`]: a script with 1 MiB of payload, v2 with a few bytes of it
    /// changed, so that the delta is a small fraction of v2.
    pub fn script_releases() -> (Vec<u8>, Vec<u8>) {
        let release = |version: &str| {
            let mut data = format!("#!/bin/sh\necho {version}\nexit 0\n#").into_bytes();
            data.extend((0..1u32 << 20).map(|i| b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26));
            data
        };
        (release("1.0.0"), release("2.0.0"))
    }

    async fn publish(app: &str, v1: Option<&[u8]>, v2: &[u8]) -> Offered {
        let server = TestServer::start().await;
        let registered = server.register(app, Scope::Publish).await;
        let target = format!("linux-{}", std::env::consts::ARCH);
        for (version, data) in v1.map(|v1| ("1.0.0", v1)).into_iter().chain([("2.0.0", v2)]) {
            let artifact = registered.artifact(version, &target, data, &registered.key);
            registered
                .publish(
                    &PublishRequest { notes: Some(format!("{app} {version}")), ..PublishRequest::new(version) },
                    &[artifact],
                )
                .await;
        }
        let endpoint = format!("{}/{app}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}", server.url);
        let pubkey = registered.key.public_key().to_text(Format::Tauri);
        Offered { server, endpoint, pubkey }
    }

    /// The artifact files the server stores (content-addressed blobs; SQLite + files backend).
    pub fn blobs(&self) -> Vec<PathBuf> {
        let dir = self.server.data_dir().join("blobs/sha256");
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect()
    }

    /// Flips one bit in the middle of every stored artifact, as whoever can write to the server's storage (or a CDN
    /// in front of it) could.
    pub fn tamper(&self) {
        let blobs = self.blobs();
        assert!(!blobs.is_empty(), "the server stores no artifact");
        for blob in blobs {
            let mut bytes = std::fs::read(&blob).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 1;
            std::fs::write(&blob, bytes).unwrap();
        }
    }
}
