//! The Python package `millennium-updater` (`import millennium_updater`): the Millennium updater for Python apps,
//! over the same Rust library Rust apps use (`millennium-updater`), not over the C ABI.
//!
//! ```python
//! import millennium_updater as mu
//!
//! updater = mu.Updater(endpoint="https://updates.example.com/app/{{target}}/{{arch}}/{{current_version}}",
//!                      pubkey="RWQ...", current_version="1.2.3")
//! if updater.startup().status == "rolled_back":
//!     updater.relaunch()
//! update = updater.check()                      # None when up to date
//! if update is not None:
//!     print(update.version, update.notes, update.size)
//!     update.download(progress=lambda done, total: ...).install()
//!     updater.relaunch()                        # does not return
//! updater.confirm_healthy()
//! ```
//!
//! Blocking calls (`check`, `download`, `install`, `apply_pending_on_exit`) release the GIL while they run; the
//! progress callback is called with the GIL held, on the thread that called `download`. Each updater drives the
//! library's async API on its own current-thread Tokio runtime, exactly as `millennium_updater::blocking` does, plus a
//! cancellation token: an exception raised by the progress callback (or `Updater.cancel()` from another thread) stops
//! the download at once, and that exception is what `download` raises.
//!
//! Errors are `UpdaterError` subclasses (`ConfigError`, `NetworkError`, `VerificationError`, `IoError`,
//! `InstallError`, `CancelledError`) carrying `code` (the C ABI's status number: 12 for verification…), `kind`
//! (`"verification"`…), `message` and `hint`; `str(error)` is the whole report with its causes and `hint:` lines.

use std::sync::{Arc, Mutex};

use millennium_updater::{BundleType, DownloadedUpdate, Error, ErrorKind, InstallScope, InstallerUi, Report};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio_util::sync::CancellationToken;

create_exception!(millennium_updater, UpdaterError, PyException, "Any error of the updater.");
create_exception!(millennium_updater, ConfigError, UpdaterError, "Unusable configuration.");
create_exception!(millennium_updater, NetworkError, UpdaterError, "The server is unreachable or misbehaving.");
create_exception!(millennium_updater, VerificationError, UpdaterError, "The update was refused; nothing installed.");
create_exception!(millennium_updater, IoError, UpdaterError, "Local file system error.");
create_exception!(millennium_updater, InstallError, UpdaterError, "Installing, relaunching or rolling back failed.");
create_exception!(millennium_updater, CancelledError, UpdaterError, "Cancelled by `Updater.cancel()`.");

/// The C ABI's numbers for what only the bindings raise.
const CODE_INVALID_ARGUMENT: i32 = 2;
const CODE_CONSUMED: i32 = 4;
const CODE_CANCELLED: i32 = 5;

/// A Python exception of the class for `kind`, with `code`, `kind`, `message` and `hint` set.
fn raise(py: Python<'_>, code: i32, kind: &str, report: &Report) -> PyErr {
    let text = report.to_string();
    let error = match kind {
        "config" | "invalid_argument" => ConfigError::new_err(text),
        "network" => NetworkError::new_err(text),
        "verification" => VerificationError::new_err(text),
        "io" => IoError::new_err(text),
        "install" => InstallError::new_err(text),
        "cancelled" => CancelledError::new_err(text),
        _ => UpdaterError::new_err(text),
    };
    let value = error.value(py);
    // Setting attributes on a fresh exception object cannot fail short of memory exhaustion.
    let _ = value.setattr("code", code);
    let _ = value.setattr("kind", kind);
    let _ = value.setattr("message", report.message());
    let _ = value.setattr("hint", report.hint());
    error
}

/// An updater error as a Python exception.
fn error(py: Python<'_>, e: &Error) -> PyErr {
    let kind = e.kind();
    raise(py, kind.code(), kind.name(), &Report::new(e))
}

fn invalid(py: Python<'_>, message: String) -> PyErr {
    raise(py, CODE_INVALID_ARGUMENT, "invalid_argument", &Report::from_parts(message, None::<String>))
}

/// One string or a list of strings.
fn strings(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(v) if v.is_none() => Ok(Vec::new()),
        Some(v) => match v.extract::<String>() {
            Ok(one) => Ok(vec![one]),
            Err(_) => v.extract::<Vec<String>>(),
        },
    }
}

/// Shared by an updater and everything made from it.
struct Shared {
    updater: millennium_updater::Updater,
    runtime: tokio::runtime::Runtime,
    /// Replaced by a fresh one by `reset_cancel`.
    cancel: Mutex<CancellationToken>,
}

impl Shared {
    fn token(&self) -> CancellationToken {
        self.cancel.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `future` to its end (or a cancel) on this updater's runtime, without the GIL.
    /// The future is made by `start` once the GIL is released (a download's future is not `Send`).
    fn block<T: Send, F: Future<Output = millennium_updater::Result<T>>>(
        &self,
        py: Python<'_>,
        local: &CancellationToken,
        start: impl FnOnce() -> F + Send,
    ) -> Result<millennium_updater::Result<T>, Cancelled> {
        let token = self.token();
        py.detach(|| {
            let future = start();
            self.runtime.block_on(async {
                tokio::select! {
                    biased;
                    () = token.cancelled() => Err(Cancelled),
                    () = local.cancelled() => Err(Cancelled),
                    result = future => Ok(result),
                }
            })
        })
    }
}

/// A blocking call was cancelled.
struct Cancelled;

fn cancelled(py: Python<'_>) -> PyErr {
    let report = Report::from_parts("cancelled", ["call `reset_cancel()` before the next call"]);
    raise(py, CODE_CANCELLED, "cancelled", &report)
}

/// The updater, configured with keyword arguments.
#[pyclass(module = "millennium_updater", frozen)]
struct Updater {
    shared: Arc<Shared>,
}

#[pymethods]
impl Updater {
    /// `endpoint` (a Tauri URL template, or a list of them) or `metadata_url`; `pubkey` (or a list); the running
    /// `current_version` (required); `executable`: the file an update replaces (default: the running script,
    /// `sys.argv[0]`); `bundle_type`: `"none"` (a plain file, the default with the default executable), `"appimage"`,
    /// `"deb"`, …; `headers`: a dict sent to the server; the rest as in the Rust builder.
    #[new]
    #[pyo3(signature = (*, endpoint=None, metadata_url=None, pubkey=None, current_version, channel=None, app_id=None,
        state_dir=None, install_id=None, executable=None, bundle_type=None, headers=None, rollback_after_starts=None,
        require_signed_version=None, windows_installer_ui=None, windows_installer_scope=None))]
    #[allow(clippy::too_many_arguments, reason = "Python keyword arguments")]
    fn new(
        py: Python<'_>,
        endpoint: Option<&Bound<'_, PyAny>>,
        metadata_url: Option<String>,
        pubkey: Option<&Bound<'_, PyAny>>,
        current_version: String,
        channel: Option<String>,
        app_id: Option<String>,
        state_dir: Option<std::path::PathBuf>,
        install_id: Option<String>,
        executable: Option<std::path::PathBuf>,
        bundle_type: Option<String>,
        headers: Option<&Bound<'_, PyDict>>,
        rollback_after_starts: Option<u32>,
        require_signed_version: Option<bool>,
        windows_installer_ui: Option<String>,
        windows_installer_scope: Option<String>,
    ) -> PyResult<Updater> {
        let mut builder = millennium_updater::Updater::builder().current_version(current_version);
        for url in strings(endpoint)? {
            builder = builder.endpoint(url);
        }
        if let Some(url) = metadata_url {
            builder = builder.metadata_url(url);
        }
        for key in strings(pubkey)? {
            builder = builder.pubkey(key);
        }
        if let Some(channel) = channel {
            builder = builder.channel(channel);
        }
        if let Some(id) = app_id {
            builder = builder.app_id(id);
        }
        if let Some(dir) = state_dir {
            builder = builder.state_dir(dir);
        }
        if let Some(id) = install_id {
            builder = builder.install_id(id);
        }
        // A Python app's "executable" is its script or zipapp, not the interpreter (`current_exe`, which an update
        // must never replace).
        let defaulted = executable.is_none();
        let executable = match executable {
            Some(path) => path,
            None => {
                let argv0: String = py.import("sys")?.getattr("argv")?.get_item(0)?.extract()?;
                std::path::absolute(&argv0).map_err(|e| invalid(py, format!("no script path in sys.argv: {e}")))?
            }
        };
        builder = builder.executable(executable);
        match bundle_type.as_deref() {
            Some("none") => builder = builder.bundle_type(None),
            Some(other) => {
                let bundle = other
                    .parse::<BundleType>()
                    .map_err(|e| invalid(py, format!("`{other}` is not a bundle type ({e}) nor `none`")))?;
                builder = builder.bundle_type(Some(bundle));
            }
            None if defaulted => builder = builder.bundle_type(None),
            None => {}
        }
        if let Some(headers) = headers {
            for (name, value) in headers.iter() {
                builder = builder.header(name.extract::<String>()?, value.extract::<String>()?);
            }
        }
        if let Some(starts) = rollback_after_starts {
            builder = builder.rollback_after_starts(starts);
        }
        if let Some(required) = require_signed_version {
            builder = builder.require_signed_version(required);
        }
        if windows_installer_ui.is_some() || windows_installer_scope.is_some() {
            let ui = match windows_installer_ui.as_deref().unwrap_or("passive") {
                "quiet" => InstallerUi::Quiet,
                "passive" => InstallerUi::Passive,
                "full" => InstallerUi::Full,
                other => return Err(invalid(py, format!("`{other}` is not an installer UI: quiet, passive or full"))),
            };
            let scope = match windows_installer_scope.as_deref().unwrap_or("user") {
                "user" => InstallScope::PerUser,
                "machine" => InstallScope::PerMachine,
                other => return Err(invalid(py, format!("`{other}` is not an install scope: user or machine"))),
            };
            builder = builder.windows_installer(ui, scope);
        }
        let updater = builder.build().map_err(|e| error(py, &e))?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
            raise(
                py,
                ErrorKind::Io.code(),
                "io",
                &Report::from_parts(format!("could not start a runtime: {e}"), None::<String>),
            )
        })?;
        Ok(Updater { shared: Arc::new(Shared { updater, runtime, cancel: Mutex::new(CancellationToken::new()) }) })
    }

    /// Rollback bookkeeping: call first thing at every start.
    fn startup(&self, py: Python<'_>) -> PyResult<Startup> {
        use millennium_updater::StartupStatus;
        Ok(match self.shared.updater.startup().map_err(|e| error(py, &e))? {
            StartupStatus::Normal => Startup { status: "normal", start: 0, allowed: 0, from: None, to: None },
            StartupStatus::PendingConfirmation { start, allowed } => {
                Startup { status: "pending", start, allowed, from: None, to: None }
            }
            StartupStatus::RolledBack { from, to } => {
                Startup { status: "rolled_back", start: 0, allowed: 0, from: Some(from), to: Some(to) }
            }
            other => return Err(raise(py, 99, "other", &Report::from_parts(format!("{other:?}"), None::<String>))),
        })
    }

    /// The offered update, or None when up to date. Blocks (without the GIL).
    fn check(&self, py: Python<'_>) -> PyResult<Option<Update>> {
        let found = self
            .shared
            .block(py, &CancellationToken::new(), || self.shared.updater.check())
            .map_err(|Cancelled| cancelled(py))?
            .map_err(|e| error(py, &e))?;
        Ok(found.map(|update| Update { shared: self.shared.clone(), update }))
    }

    /// This version works: it will not be rolled back.
    fn confirm_healthy(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.updater.confirm_healthy().map_err(|e| error(py, &e))
    }

    /// Restarts the app: replaces this process with `sys.executable` running `sys.argv` again (the updated script),
    /// after flushing `sys.stdout` and `sys.stderr`. Returns only by raising.
    fn relaunch(&self, py: Python<'_>) -> PyResult<()> {
        let sys = py.import("sys")?;
        for stream in ["stdout", "stderr"] {
            let stream = sys.getattr(stream)?;
            if !stream.is_none() {
                stream.call_method0("flush")?;
            }
        }
        let interpreter: std::path::PathBuf = sys.getattr("executable")?.extract()?;
        let argv: Vec<String> = sys.getattr("argv")?.extract()?;
        let mut command = std::process::Command::new(&interpreter);
        command.args(&argv);
        #[cfg(unix)]
        let failure = std::os::unix::process::CommandExt::exec(&mut command);
        #[cfg(not(unix))]
        let failure = match command.spawn() {
            Ok(_) => std::process::exit(0),
            Err(e) => e,
        };
        let e = Error::Relaunch { path: interpreter, source: failure };
        Err(error(py, &e))
    }

    /// From the app's quit path: installs the update scheduled with `Download.install_on_exit()`; whether there was
    /// one.
    fn apply_pending_on_exit(&self, py: Python<'_>) -> PyResult<bool> {
        let updater = &self.shared.updater;
        let applied = py.detach(|| updater.apply_pending_on_exit()).map_err(|e| error(py, &e))?;
        Ok(applied.is_some())
    }

    /// Cancels this updater's blocking calls in progress (from any thread), and every later one until
    /// `reset_cancel()`.
    fn cancel(&self) {
        self.shared.token().cancel();
    }

    /// Lets calls run again after `cancel()`.
    fn reset_cancel(&self) {
        *self.shared.cancel.lock().unwrap_or_else(|p| p.into_inner()) = CancellationToken::new();
    }

    /// The running version.
    #[getter]
    fn current_version(&self) -> String {
        self.shared.updater.current_version().to_string()
    }
}

/// What `Updater.startup()` found: `status` is `"normal"`, `"pending"` (this new version's start `start` of
/// `allowed`: confirm it works) or `"rolled_back"` (from `rolled_back_from` to `rolled_back_to`: relaunch now).
#[pyclass(module = "millennium_updater", frozen, get_all)]
struct Startup {
    status: &'static str,
    start: u32,
    allowed: u32,
    #[pyo3(name = "rolled_back_from")]
    from: Option<String>,
    #[pyo3(name = "rolled_back_to")]
    to: Option<String>,
}

#[pymethods]
impl Startup {
    fn __repr__(&self) -> String {
        format!("Startup(status={:?}, start={}, allowed={})", self.status, self.start, self.allowed)
    }
}

/// An offered update.
#[pyclass(module = "millennium_updater", frozen)]
struct Update {
    shared: Arc<Shared>,
    update: millennium_updater::Update,
}

#[pymethods]
impl Update {
    #[getter]
    fn version(&self) -> String {
        self.update.version().to_string()
    }

    /// The release notes, or None.
    #[getter]
    fn notes(&self) -> Option<String> {
        self.update.notes().map(str::to_owned)
    }

    /// The artifact's size in bytes when announced before the download (signed metadata), else None.
    #[getter]
    fn size(&self) -> Option<u64> {
        self.update.size()
    }

    /// Whether `download()` will first try a delta from the installed artifact (the server offers one); a delta that
    /// fails in any way falls back to the full download.
    #[getter]
    fn uses_delta(&self) -> bool {
        self.update.uses_delta()
    }

    /// The size in bytes of that delta, else None.
    #[getter]
    fn delta_size(&self) -> Option<u64> {
        self.update.delta_size()
    }

    /// Downloads (resuming an earlier partial download) and verifies it; `progress(downloaded, total)` is called
    /// after every chunk (`total` None when unknown), counting the bytes of what is transferred: a delta, or the full
    /// artifact. `on_transfer(kind)` is called when that changes, before its first progress: `"delta"`, then
    /// `"full"` for a full download, or `"delta_failed"` (nothing downloaded) then `"full"` when the delta could not
    /// be used. Blocks (without the GIL between calls of the callbacks).
    #[pyo3(signature = (progress=None, on_transfer=None))]
    fn download(
        &self,
        py: Python<'_>,
        progress: Option<Py<PyAny>>,
        on_transfer: Option<Py<PyAny>>,
    ) -> PyResult<Download> {
        let local = CancellationToken::new();
        let stop = local.clone();
        let raised: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let keep = raised.clone();
        let mut last: Option<millennium_updater::Transfer> = None;
        let report = move |p: millennium_updater::Progress| {
            if stop.is_cancelled() {
                return;
            }
            let changed = last.replace(p.transfer) != Some(p.transfer);
            Python::attach(|py| {
                let mut outcome = Ok(());
                if let Some(callback) = on_transfer.as_ref().filter(|_| changed) {
                    outcome = callback.bind(py).call1((transfer_name(p.transfer),)).map(drop);
                }
                if let Some(callback) =
                    progress.as_ref().filter(|_| p.transfer != millennium_updater::Transfer::DeltaFailed)
                    && outcome.is_ok()
                {
                    outcome = callback.bind(py).call1((p.downloaded, p.total)).map(drop);
                }
                if let Err(e) = outcome {
                    *keep.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    stop.cancel();
                }
            });
        };
        let outcome = self.shared.block(py, &local, || self.update.download(report));
        if let Some(e) = raised.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        let downloaded = outcome.map_err(|Cancelled| cancelled(py))?.map_err(|e| error(py, &e))?;
        Ok(Download { downloaded: Mutex::new(Some(downloaded)) })
    }

    fn __repr__(&self) -> String {
        format!("Update(version={:?})", self.update.version().to_string())
    }
}

/// What `on_transfer` is told.
fn transfer_name(transfer: millennium_updater::Transfer) -> &'static str {
    match transfer {
        millennium_updater::Transfer::Delta => "delta",
        millennium_updater::Transfer::DeltaFailed => "delta_failed",
        // `Transfer` may gain kinds: anything else is bytes of the full artifact.
        _ => "full",
    }
}

/// A downloaded, verified update.
#[pyclass(module = "millennium_updater", frozen)]
struct Download {
    /// None once installed or scheduled.
    downloaded: Mutex<Option<DownloadedUpdate>>,
}

fn consumed(py: Python<'_>) -> PyErr {
    let report = Report::from_parts(
        "this downloaded update was installed or scheduled already",
        ["check for an update again for a newer one"],
    );
    raise(py, CODE_CONSUMED, "consumed", &report)
}

#[pymethods]
impl Download {
    /// Installs it (atomically; the previous version is kept for a rollback). Once only.
    fn install(&self, py: Python<'_>) -> PyResult<()> {
        let mut slot = self.downloaded.lock().unwrap_or_else(|p| p.into_inner());
        let downloaded = slot.as_ref().ok_or_else(|| consumed(py))?;
        py.detach(|| downloaded.install()).map_err(|e| error(py, &e))?;
        *slot = None;
        Ok(())
    }

    /// Installs it when the app quits (`Updater.apply_pending_on_exit()`) instead.
    fn install_on_exit(&self, py: Python<'_>) -> PyResult<()> {
        let downloaded =
            self.downloaded.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or_else(|| consumed(py))?;
        downloaded.install_on_exit();
        Ok(())
    }
}

#[pymodule(name = "millennium_updater")]
fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Updater>()?;
    m.add_class::<Startup>()?;
    m.add_class::<Update>()?;
    m.add_class::<Download>()?;
    m.add("UpdaterError", py.get_type::<UpdaterError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("NetworkError", py.get_type::<NetworkError>())?;
    m.add("VerificationError", py.get_type::<VerificationError>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("InstallError", py.get_type::<InstallError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    Ok(())
}
