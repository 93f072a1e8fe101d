//! The native half of the Node package `millennium-updater` (a napi-rs addon): the Millennium updater for Node and
//! Electron apps, over the same Rust library Rust apps use (`millennium-updater`), not over the C ABI.
//!
//! `npm/index.js` is the package's API: it loads this addon and wraps it (options normalised, errors turned into
//! `UpdaterError`s with `code`, `kind` and `hint`). Here: the blocking work (check, download, install) runs as napi
//! `AsyncTask`s on libuv's thread pool, each driving the library's async API on the updater's current-thread Tokio
//! runtime (what `millennium_updater::blocking` does), so every such method returns a Promise and Node's event loop
//! never blocks. Download progress reaches JavaScript through a thread-safe function, called on the main thread.
//!
//! Errors cross as a napi error whose message is `MILLENNIUM\x01<code>\x01<kind>\x01<hint>\x01<report>`, which
//! `index.js` decodes; the codes are the C ABI's numbers ([`millennium_updater::ErrorKind::code`]).

#![allow(missing_debug_implementations, reason = "JavaScript classes and napi tasks: Debug would show nothing useful")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use millennium_updater::{BundleType, DownloadedUpdate, Error, Report};
use napi::bindgen_prelude::AsyncTask;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, Task};
use napi_derive::napi;
use tokio_util::sync::CancellationToken;

/// The C ABI's numbers for what only the bindings report.
const CODE_INVALID_ARGUMENT: i32 = 2;
const CODE_CONSUMED: i32 = 4;
const CODE_CANCELLED: i32 = 5;

/// An error as `index.js` decodes it.
fn failure(code: i32, kind: &str, report: &Report) -> napi::Error {
    let hint = report.hint().unwrap_or_default();
    napi::Error::new(Status::GenericFailure, format!("MILLENNIUM\x01{code}\x01{kind}\x01{hint}\x01{report}"))
}

fn error(e: &Error) -> napi::Error {
    let kind = e.kind();
    failure(kind.code(), kind.name(), &Report::new(e))
}

fn invalid(message: String) -> napi::Error {
    failure(CODE_INVALID_ARGUMENT, "invalid_argument", &Report::from_parts(message, None::<String>))
}

fn cancelled() -> napi::Error {
    failure(
        CODE_CANCELLED,
        "cancelled",
        &Report::from_parts("cancelled", ["call `resetCancel()` before the next call"]),
    )
}

/// Shared by an updater and everything made from it.
struct Shared {
    updater: millennium_updater::Updater,
    runtime: tokio::runtime::Runtime,
    /// Replaced by a fresh one by `resetCancel`.
    cancel: Mutex<CancellationToken>,
}

impl Shared {
    fn token(&self) -> CancellationToken {
        self.cancel.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `future` to its end, or to a cancel, on this updater's runtime (on the calling thread: a libuv worker).
    fn block<T>(&self, future: impl Future<Output = millennium_updater::Result<T>>) -> napi::Result<T> {
        let token = self.token();
        self.runtime.block_on(async {
            tokio::select! {
                biased;
                () = token.cancelled() => Err(cancelled()),
                result = future => result.map_err(|e| error(&e)),
            }
        })
    }
}

/// The updater's configuration (`index.js` accepts a string or an array for `endpoint` and `pubkey`).
#[napi(object)]
pub struct UpdaterOptions {
    pub endpoint: Option<Vec<String>>,
    pub metadata_url: Option<String>,
    pub pubkey: Option<Vec<String>>,
    pub current_version: String,
    pub channel: Option<String>,
    pub app_id: Option<String>,
    pub state_dir: Option<String>,
    pub install_id: Option<String>,
    /// The file an update replaces (default: the running executable; a Node app passes its own).
    pub executable: Option<String>,
    /// `"none"` (a plain executable), `"appimage"`, `"deb"`, `"rpm"`, … (default: detected).
    pub bundle_type: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    pub rollback_after_starts: Option<u32>,
    pub require_signed_version: Option<bool>,
}

/// What `startup()` found: `status` `"normal"`, `"pending"` (start `start` of `allowed`: confirm) or
/// `"rolled_back"` (relaunch now).
#[napi(object)]
pub struct Startup {
    pub status: String,
    pub start: u32,
    pub allowed: u32,
    pub rolled_back_from: Option<String>,
    pub rolled_back_to: Option<String>,
}

#[napi]
pub struct NativeUpdater {
    shared: Arc<Shared>,
}

#[napi]
impl NativeUpdater {
    #[napi(constructor)]
    pub fn new(options: UpdaterOptions) -> napi::Result<Self> {
        let mut builder = millennium_updater::Updater::builder().current_version(options.current_version);
        for url in options.endpoint.unwrap_or_default() {
            builder = builder.endpoint(url);
        }
        if let Some(url) = options.metadata_url {
            builder = builder.metadata_url(url);
        }
        for key in options.pubkey.unwrap_or_default() {
            builder = builder.pubkey(key);
        }
        if let Some(channel) = options.channel {
            builder = builder.channel(channel);
        }
        if let Some(id) = options.app_id {
            builder = builder.app_id(id);
        }
        if let Some(dir) = options.state_dir {
            builder = builder.state_dir(dir);
        }
        if let Some(id) = options.install_id {
            builder = builder.install_id(id);
        }
        if let Some(path) = options.executable {
            builder = builder.executable(path);
        }
        match options.bundle_type.as_deref() {
            None => {}
            Some("none") => builder = builder.bundle_type(None),
            Some(other) => {
                let bundle = other
                    .parse::<BundleType>()
                    .map_err(|e| invalid(format!("`{other}` is not a bundle type ({e}) nor `none`")))?;
                builder = builder.bundle_type(Some(bundle));
            }
        }
        for (name, value) in options.headers.unwrap_or_default() {
            builder = builder.header(name, value);
        }
        if let Some(starts) = options.rollback_after_starts {
            builder = builder.rollback_after_starts(starts);
        }
        if let Some(required) = options.require_signed_version {
            builder = builder.require_signed_version(required);
        }
        let updater = builder.build().map_err(|e| error(&e))?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
            failure(13, "io", &Report::from_parts(format!("could not start a runtime: {e}"), None::<String>))
        })?;
        Ok(NativeUpdater {
            shared: Arc::new(Shared { updater, runtime, cancel: Mutex::new(CancellationToken::new()) }),
        })
    }

    /// Rollback bookkeeping: call first thing at every start (quick file work: synchronous).
    #[napi]
    pub fn startup(&self) -> napi::Result<Startup> {
        use millennium_updater::StartupStatus;
        let (status, start, allowed, from, to) = match self.shared.updater.startup().map_err(|e| error(&e))? {
            StartupStatus::Normal => ("normal", 0, 0, None, None),
            StartupStatus::PendingConfirmation { start, allowed } => ("pending", start, allowed, None, None),
            StartupStatus::RolledBack { from, to } => ("rolled_back", 0, 0, Some(from), Some(to)),
            other => return Err(failure(99, "other", &Report::from_parts(format!("{other:?}"), None::<String>))),
        };
        Ok(Startup { status: status.into(), start, allowed, rolled_back_from: from, rolled_back_to: to })
    }

    /// Resolves to the offered update, or null when up to date.
    #[napi(ts_return_type = "Promise<NativeUpdate | null>")]
    pub fn check(&self) -> AsyncTask<CheckTask> {
        AsyncTask::new(CheckTask { shared: self.shared.clone() })
    }

    /// This version works: it will not be rolled back.
    #[napi]
    pub fn confirm_healthy(&self) -> napi::Result<()> {
        self.shared.updater.confirm_healthy().map_err(|e| error(&e))
    }

    /// Replaces this process with the updater's executable (the file an update replaced), with `args`. Returns only
    /// by throwing. (A Node process's own arguments start with the script: the app passes the ones its executable
    /// takes; `index.js` defaults them to `process.argv.slice(2)`.)
    #[napi]
    pub fn relaunch(&self, args: Vec<String>) -> napi::Result<()> {
        let kind = self.shared.updater.install_kind();
        let path = match kind.replaced_path() {
            Some(path) => path.to_owned(),
            None => std::env::current_exe().map_err(|e| invalid(format!("no executable to relaunch: {e}")))?,
        };
        let mut command = std::process::Command::new(&path);
        command.args(args);
        #[cfg(unix)]
        let failure = {
            // Node (libuv) marks its stdin, stdout and stderr close-on-exec: handing the relaunched app duplicates
            // makes `exec` put them back in place as 0, 1 and 2 without that flag, or the app would start without
            // them.
            use std::os::fd::AsFd;
            let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(std::process::Stdio::from);
            match (dup(std::io::stdin().as_fd()), dup(std::io::stdout().as_fd()), dup(std::io::stderr().as_fd())) {
                (Ok(stdin), Ok(stdout), Ok(stderr)) => {
                    std::os::unix::process::CommandExt::exec(command.stdin(stdin).stdout(stdout).stderr(stderr))
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => e,
            }
        };
        #[cfg(not(unix))]
        let failure = match command.spawn() {
            Ok(_) => std::process::exit(0),
            Err(e) => e,
        };
        Err(error(&Error::Relaunch { path, source: failure }))
    }

    /// From the app's quit path: resolves to whether an update scheduled with `installOnExit()` was installed.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn apply_pending_on_exit(&self) -> AsyncTask<ApplyTask> {
        AsyncTask::new(ApplyTask { shared: self.shared.clone() })
    }

    /// Cancels this updater's calls in progress (check, download), and every later one until `resetCancel()`.
    #[napi]
    pub fn cancel(&self) {
        self.shared.token().cancel();
    }

    #[napi]
    pub fn reset_cancel(&self) {
        *self.shared.cancel.lock().unwrap_or_else(|p| p.into_inner()) = CancellationToken::new();
    }

    #[napi(getter)]
    pub fn current_version(&self) -> String {
        self.shared.updater.current_version().to_string()
    }
}

pub struct CheckTask {
    shared: Arc<Shared>,
}

impl Task for CheckTask {
    type Output = Option<millennium_updater::Update>;
    type JsValue = Option<NativeUpdate>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        self.shared.block(self.shared.updater.check())
    }

    fn resolve(&mut self, _env: Env, found: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(found.map(|update| NativeUpdate { shared: self.shared.clone(), update }))
    }
}

pub struct ApplyTask {
    shared: Arc<Shared>,
}

impl Task for ApplyTask {
    type Output = bool;
    type JsValue = bool;

    fn compute(&mut self) -> napi::Result<bool> {
        Ok(self.shared.updater.apply_pending_on_exit().map_err(|e| error(&e))?.is_some())
    }

    fn resolve(&mut self, _env: Env, applied: bool) -> napi::Result<bool> {
        Ok(applied)
    }
}

/// One progress report: bytes downloaded, the total (None when unknown), and what the bytes are (`"full"`, `"delta"`
/// or `"delta_failed"`: see `transfer_name`).
type Report3 = (f64, Option<f64>, &'static str);

/// `(downloaded, total, transfer)`, called on the main thread; `total` null when unknown.
type ProgressFn = ThreadsafeFunction<Report3, (), Report3, Status, false>;

/// What the bytes of a progress report belong to, as JavaScript is told.
fn transfer_name(transfer: millennium_updater::Transfer) -> &'static str {
    match transfer {
        millennium_updater::Transfer::Delta => "delta",
        millennium_updater::Transfer::DeltaFailed => "delta_failed",
        // `Transfer` may gain kinds: anything else is bytes of the full artifact.
        _ => "full",
    }
}

#[napi]
pub struct NativeUpdate {
    shared: Arc<Shared>,
    update: millennium_updater::Update,
}

#[napi]
impl NativeUpdate {
    #[napi(getter)]
    pub fn version(&self) -> String {
        self.update.version().to_string()
    }

    #[napi(getter)]
    pub fn notes(&self) -> Option<String> {
        self.update.notes().map(str::to_owned)
    }

    /// Bytes, when announced before the download (signed metadata). A number: exact below 2^53 (8 PiB).
    #[napi(getter)]
    pub fn size(&self) -> Option<f64> {
        self.update.size().map(|s| s as f64)
    }

    /// Whether `download()` will first try a delta from the installed artifact (the server offers one).
    #[napi(getter)]
    pub fn uses_delta(&self) -> bool {
        self.update.uses_delta()
    }

    /// The size of that delta in bytes, else null.
    #[napi(getter)]
    pub fn delta_size(&self) -> Option<f64> {
        self.update.delta_size().map(|s| s as f64)
    }

    /// Downloads (resuming an earlier partial download) and verifies; resolves to the downloaded update.
    #[napi(
        ts_args_type = "progress?: (downloaded: number, total: number | null, transfer: 'full' | 'delta' | 'delta_failed') => void",
        ts_return_type = "Promise<NativeDownload>"
    )]
    pub fn download(&self, progress: Option<ProgressFn>) -> AsyncTask<DownloadTask> {
        AsyncTask::new(DownloadTask { shared: self.shared.clone(), update: self.update.clone(), progress })
    }
}

pub struct DownloadTask {
    shared: Arc<Shared>,
    update: millennium_updater::Update,
    progress: Option<ProgressFn>,
}

impl Task for DownloadTask {
    type Output = (DownloadedUpdate, Option<Report3>);
    type JsValue = NativeDownload;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let progress = self.progress.as_ref();
        let last = Mutex::new(None);
        let report = |p: millennium_updater::Progress| {
            let now = (p.downloaded as f64, p.total.map(|t| t as f64), transfer_name(p.transfer));
            *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
            if let Some(callback) = progress {
                // Queued for the main thread; the download does not wait for JavaScript.
                callback.call(now, ThreadsafeFunctionCallMode::NonBlocking);
            }
        };
        let downloaded = self.shared.block(self.update.download(report))?;
        Ok((downloaded, last.into_inner().unwrap_or_else(|p| p.into_inner())))
    }

    fn resolve(&mut self, _env: Env, (downloaded, last): Self::Output) -> napi::Result<NativeDownload> {
        Ok(NativeDownload { downloaded: Arc::new(Mutex::new(Some(downloaded))), last })
    }
}

fn consumed() -> napi::Error {
    let report = Report::from_parts(
        "this downloaded update was installed or scheduled already",
        ["check for an update again for a newer one"],
    );
    failure(CODE_CONSUMED, "consumed", &report)
}

#[napi]
pub struct NativeDownload {
    /// None once installed or scheduled.
    downloaded: Arc<Mutex<Option<DownloadedUpdate>>>,
    /// The last progress: the callbacks queued for the main thread may arrive after the download's Promise settles,
    /// so `index.js` drops those and reports this one itself.
    last: Option<Report3>,
}

#[napi]
impl NativeDownload {
    /// Installs it (atomically; the previous version is kept for a rollback). Once only.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn install(&self) -> AsyncTask<InstallTask> {
        AsyncTask::new(InstallTask { downloaded: self.downloaded.clone() })
    }

    /// The bytes downloaded (the delta's or the artifact's size), as last reported to the progress callback.
    #[napi(getter)]
    pub fn downloaded(&self) -> Option<f64> {
        self.last.map(|(downloaded, _, _)| downloaded)
    }

    /// The total the server announced, as last reported to the progress callback.
    #[napi(getter)]
    pub fn total(&self) -> Option<f64> {
        self.last.and_then(|(_, total, _)| total)
    }

    /// What those bytes were (`"full"` or `"delta"`), as last reported to the progress callback.
    #[napi(getter)]
    pub fn transfer(&self) -> Option<&'static str> {
        self.last.map(|(_, _, transfer)| transfer)
    }

    /// Installs it when the app quits (`applyPendingOnExit()`) instead.
    #[napi]
    pub fn install_on_exit(&self) -> napi::Result<()> {
        let downloaded = self.downloaded.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or_else(consumed)?;
        downloaded.install_on_exit();
        Ok(())
    }
}

pub struct InstallTask {
    downloaded: Arc<Mutex<Option<DownloadedUpdate>>>,
}

impl Task for InstallTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        let mut slot = self.downloaded.lock().unwrap_or_else(|p| p.into_inner());
        let downloaded = slot.as_ref().ok_or_else(consumed)?;
        downloaded.install().map_err(|e| error(&e))?;
        *slot = None;
        Ok(())
    }

    fn resolve(&mut self, _env: Env, (): ()) -> napi::Result<()> {
        Ok(())
    }
}

/// The addon's version: the crate's (the npm package's `version` is checked against it).
#[napi]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
