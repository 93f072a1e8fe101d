//! The real `millennium-update-server` binary as a child process: started on a loopback port with a data directory,
//! waited on until healthy, stopped with SIGTERM (and a clean exit checked), or killed with `kill -9`.
//!
//! Cargo tells only the server package's own tests where it built the binary (`CARGO_BIN_EXE_…`), so those tests
//! hand the path to [`ServerBinary::new`]; other crates' tests take the one built beside them
//! ([`ServerBinary::beside_tests`]).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::{ADMIN_TOKEN, Backend, RegisteredApp};

/// A loopback port free a moment ago (a server started on it a moment later almost always gets it).
pub fn free_loopback_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The server's binary, at the path Cargo built it.
#[derive(Debug, Clone)]
pub struct ServerBinary(Cow<'static, str>);

impl ServerBinary {
    /// `path` is `env!("CARGO_BIN_EXE_millennium-update-server")` in the server's tests.
    pub const fn new(path: &'static str) -> Self {
        ServerBinary(Cow::Borrowed(path))
    }

    /// The binary in the profile directory of the test calling this (`target/debug/`, beside `deps/`), where a
    /// workspace test run builds it. Panics, saying how to build it, when it is missing or older than the server
    /// library this test was linked with (a run of only another crate's tests does not rebuild it).
    ///
    /// That library is one of the server's `.rlib`s in `deps/` written before this test was linked: builds of other
    /// feature sets write theirs there too, even while the tests run (`updatable::binary` runs `cargo build`), and
    /// clippy and rustdoc write `.rmeta`s, so neither a later file nor a metadata-only one says this binary is stale.
    pub fn beside_tests() -> Self {
        let test = std::env::current_exe().unwrap();
        let linked = std::fs::metadata(&test).and_then(|m| m.modified()).unwrap();
        let deps = test.parent().unwrap();
        let binary = deps.parent().unwrap().join("millennium-update-server");
        let hint =
            "hint: `cargo build -p millennium-update-server` (a workspace test run, `./scripts/test`, builds it)";
        let built = std::fs::metadata(&binary)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("the server binary `{}`: {e}\n{hint}", binary.display()));
        let library = std::fs::read_dir(deps)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libmillennium_update_server-") && name.ends_with(".rlib")
            })
            .filter_map(|entry| entry.metadata().and_then(|m| m.modified()).ok())
            .filter(|written| *written <= linked)
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        assert!(
            built >= library,
            "the server binary `{}` is older than the server library this test uses: it is stale\n{hint}",
            binary.display()
        );
        ServerBinary(Cow::Owned(binary.to_str().expect("a UTF-8 target directory").to_owned()))
    }

    /// A command running the binary with no inherited `MILLENNIUM_*` settings.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&*self.0);
        for (key, _) in std::env::vars() {
            if key.starts_with("MILLENNIUM_") {
                command.env_remove(key);
            }
        }
        command
    }

    /// Runs the CLI with `args` and `env`, stdin closed.
    pub fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command().args(args).envs(env.iter().copied()).stdin(Stdio::null()).output().unwrap()
    }

    /// `serve` on `port` with `data_dir`, on the backend the environment names, logging to `log`; returns once
    /// healthy.
    pub fn serve(&self, data_dir: &Path, port: u16, log: &Path) -> ServerProcess {
        self.serve_with(data_dir, port, log, &Backend::for_dir(data_dir), &[])
    }

    /// [`ServerBinary::serve`] with the database and artifact store of `backend` (replicas share one) and more
    /// environment.
    pub fn serve_with(
        &self,
        data_dir: &Path,
        port: u16,
        log: &Path,
        backend: &Backend,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = self
            .command()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--max-upload-size", "50000000"])
            .env("MILLENNIUM_DATA_DIR", data_dir)
            .env("MILLENNIUM_ADMIN_TOKEN", ADMIN_TOKEN)
            .envs(backend.env())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        ServerProcess::attach(child, port, data_dir, log, backend.clone())
    }
}

/// A running server process; killed when dropped (a test that passes stops it with [`ServerProcess::stop`]).
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub backend: Backend,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Only reached on a failed test; `stop` and `kill9` consumed the child otherwise.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// A `serve` process a test started itself, listening on `port` with `data_dir` and logging to `log`; returns once
    /// healthy.
    pub fn attach(child: Child, port: u16, data_dir: &Path, log: &Path, backend: Backend) -> ServerProcess {
        let server = ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            data_dir: data_dir.into(),
            log: log.into(),
            backend,
        };
        server.wait_healthy();
        server
    }

    /// Registers `app` under a new release key written into `dir`, and makes a token of `scope` for it (as the
    /// server admin, through the HTTP API).
    pub async fn register(&self, dir: &Path, app: &str, scope: millennium_update_admin::api::Scope) -> RegisteredApp {
        let admin = millennium_update_admin::client::Client::new(&self.url, ADMIN_TOKEN).unwrap();
        RegisteredApp::register(&self.url, &admin, dir, app, scope).await
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            if client.get(format!("{}/healthz", self.url)).send().is_ok_and(|r| r.status().is_success()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy; log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(self) {
        self.terminate();
        self.wait_exit();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for a clean exit after [`ServerProcess::terminate`].
    pub fn wait_exit(mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "server exited with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// `GET path` without a token.
    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::Client::new().get(format!("{}{path}", self.url)).send().unwrap()
    }

    /// The `/metrics` text, read with the admin token.
    pub fn metrics(&self) -> String {
        let response =
            reqwest::blocking::Client::new().get(format!("{}/metrics", self.url)).bearer_auth(ADMIN_TOKEN).send();
        response.unwrap().text().unwrap()
    }

    /// The value of the `/metrics` series `series` (`name{labels}`, exactly), 0 when absent.
    pub fn figure(&self, series: &str) -> u64 {
        super::metric(&self.metrics(), series).unwrap_or(0)
    }

    /// The releases of `app` the admin API lists, newest first.
    pub fn releases(&self, app: &str) -> Vec<Value> {
        let r = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/apps/{app}/releases", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().unwrap();
        body["releases"].as_array().unwrap().clone()
    }

    /// The stored blobs and temporary uploads.
    pub fn blob_files(&self) -> Vec<String> {
        self.backend.blob_files_blocking(&self.data_dir)
    }
}
