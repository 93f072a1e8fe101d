//! The exported functions; `include/millennium_updater.h` documents each one (ownership, threads, errors).
//!
//! Every function returns a status code and records it (with a message) as this thread's last error, except the two
//! that read the last error and `millennium_updater_version`. Pointer arguments are checked for NULL before anything
//! else happens, so a NULL out-pointer never costs a download.

// The workspace denies `unsafe`; this module is the FFI boundary, where every function takes raw pointers from C. Each
// `unsafe` block still needs a `// SAFETY:` comment (workspace lint `clippy::undocumented_unsafe_blocks`).
#![allow(unsafe_code, reason = "the C ABI: raw pointers and callbacks from C")]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use millennium_updater::{
    BundleType, DownloadedUpdate, InstallScope, InstallerUi, Progress, StartupStatus, Transfer, Update, Updater,
    UpdaterBuilder,
};
use tokio_util::sync::CancellationToken;

use crate::handles;
use crate::status::{self, Failure, Status};

/// An updater being configured.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MillenniumUpdaterBuilder {
    pub id: u64,
}

/// A configured updater.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MillenniumUpdater {
    pub id: u64,
}

/// An update the server offers (nothing downloaded yet).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MillenniumUpdate {
    pub id: u64,
}

/// A downloaded and verified update, ready to install.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MillenniumDownload {
    pub id: u64,
}

/// Cancels an updater's blocking calls, from any thread.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MillenniumCancel {
    pub id: u64,
}

/// What `millennium_updater_startup` found.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MillenniumStartup {
    /// `MILLENNIUM_STARTUP_NORMAL` (0), `_PENDING` (1) or `_ROLLED_BACK` (2).
    pub status: c_int,
    /// For `_PENDING`: this is start number `start` of `allowed` before a rollback.
    pub start: u32,
    pub allowed: u32,
}

/// The progress callback: `(user_data, downloaded, total, total_known)`; non-zero cancels the download.
pub type MillenniumProgressFn = Option<unsafe extern "C" fn(*mut c_void, u64, u64, c_int) -> c_int>;

/// One progress report of `millennium_updater_update_download_ex`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MillenniumProgress {
    /// Bytes on disk so far, of the delta or of the full artifact (see `transfer`).
    pub downloaded: u64,
    /// The total, when `total_known` is non-zero.
    pub total: u64,
    pub total_known: c_int,
    /// `MILLENNIUM_TRANSFER_FULL` (0), `_DELTA` (1) or `_DELTA_FAILED` (2, once, nothing downloaded: the full artifact
    /// follows).
    pub transfer: c_int,
}

/// The progress callback of `millennium_updater_update_download_ex`; non-zero cancels the download.
pub type MillenniumProgressExFn = Option<unsafe extern "C" fn(*mut c_void, *const MillenniumProgress) -> c_int>;

fn transfer_code(transfer: Transfer) -> c_int {
    match transfer {
        Transfer::Delta => 1,
        Transfer::DeltaFailed => 2,
        // `Transfer` may gain kinds: anything else is bytes of the full artifact.
        _ => 0,
    }
}

struct BuilderObj(Mutex<UpdaterBuilder>);

struct CancelObj(Mutex<CancellationToken>);

impl CancelObj {
    fn current(&self) -> CancellationToken {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What a cancel handle's table entry holds: the updater's cancel state, shared.
struct CancelRef(Arc<CancelObj>);

struct UpdaterObj {
    updater: Updater,
    /// Drives `check` and `download` on the calling thread: a current-thread runtime never runs C's callbacks
    /// elsewhere.
    runtime: tokio::runtime::Runtime,
    cancel: Arc<CancelObj>,
}

struct UpdateObj {
    update: Update,
    updater: Arc<UpdaterObj>,
    version: CString,
    notes: Option<CString>,
}

/// `None` once installed.
struct DownloadObj(Mutex<Option<DownloadedUpdate>>);

/// Runs `f`, turning a panic into `MILLENNIUM_UPDATER_ERR_PANIC`, and records the outcome as the last error.
fn call(f: impl FnOnce() -> Result<(), Failure>) -> c_int {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Failure::new(Status::Panic, format!("internal error (a bug in millennium-updater): {what}")))
    });
    status::record(outcome)
}

/// Borrows a C string as UTF-8.
///
/// # Safety
///
/// `text` is NULL or points to a NUL-terminated string that outlives `'a`.
unsafe fn text<'a>(text: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if text.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map_err(|_| Failure::new(Status::InvalidArgument, format!("`{name}` is not UTF-8")))
}

/// Checks an out-pointer before any work is done.
fn out<T>(ptr: *mut T, name: &str) -> Result<*mut T, Failure> {
    if ptr.is_null() { Err(Failure::null(name)) } else { Ok(ptr) }
}

/// Writes `value` through a checked out-pointer.
///
/// # Safety
///
/// `ptr` is non-null, aligned and writable for a `T` (the caller's contract with C).
unsafe fn put<T>(ptr: *mut T, value: T) {
    // SAFETY: per this function's contract; `write` does not read or drop the (possibly uninitialised) old value.
    unsafe { ptr.write(value) }
}

fn cancelled() -> Failure {
    Failure::new(Status::Cancelled, "cancelled\nhint: reset the cancel handle before the next call")
}

/// Blocks on `future` on the updater's runtime until it ends or the updater's cancel handle (or `local`) fires.
fn block<T>(
    updater: &UpdaterObj,
    local: &CancellationToken,
    future: impl Future<Output = millennium_updater::Result<T>>,
) -> Result<T, Failure> {
    let token = updater.cancel.current();
    if token.is_cancelled() {
        return Err(cancelled());
    }
    updater.runtime.block_on(async {
        tokio::select! {
            biased;
            () = token.cancelled() => Err(cancelled()),
            () = local.cancelled() => Err(cancelled()),
            result = future => result.map_err(Failure::from),
        }
    })
}

/// The library's version, e.g. `"0.1.0"`: a static string.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The status code of the last call on this thread (0 after a success).
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_last_error_code() -> c_int {
    status::last_code()
}

/// The message of the last call on this thread ("" after a success); valid until the next call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_last_error_message() -> *const c_char {
    status::last_message()
}

// ----- builder -----

/// See the header.
///
/// # Safety
///
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_builder_new(out_builder: *mut MillenniumUpdaterBuilder) -> c_int {
    call(|| {
        let ptr = out(out_builder, "out_builder")?;
        let id = handles::insert(BuilderObj(Mutex::new(Updater::builder())));
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { put(ptr, MillenniumUpdaterBuilder { id }) };
        Ok(())
    })
}

/// Applies `f` with the string `value` to the builder.
///
/// # Safety
///
/// `value` is NULL or a NUL-terminated string.
unsafe fn set(
    builder: MillenniumUpdaterBuilder,
    value: *const c_char,
    name: &str,
    f: impl FnOnce(UpdaterBuilder, &str) -> Result<UpdaterBuilder, Failure>,
) -> c_int {
    call(|| {
        // SAFETY: per this function's contract.
        let value = unsafe { text(value, name) }?;
        let object = handles::get::<BuilderObj>(builder.id, "builder")?;
        let mut slot = object.0.lock().unwrap_or_else(|p| p.into_inner());
        // On a refused value the builder keeps its configuration.
        let next = f(slot.clone(), value)?;
        *slot = next;
        Ok(())
    })
}

macro_rules! string_setter {
    ($(#[$doc:meta])* $name:ident, $arg:ident, $method:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// The string is NULL or NUL-terminated.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(builder: MillenniumUpdaterBuilder, $arg: *const c_char) -> c_int {
            // SAFETY: per this function's contract.
            unsafe { set(builder, $arg, stringify!($arg), |b, v| Ok(b.$method(v))) }
        }
    };
}

string_setter!(
    /// Adds a Tauri endpoint template.
    millennium_updater_builder_endpoint, url, endpoint
);
string_setter!(
    /// Checks through the signed metadata under this base URL.
    millennium_updater_builder_metadata_url, url, metadata_url
);
string_setter!(
    /// Pins a public key.
    millennium_updater_builder_pubkey, key, pubkey
);
string_setter!(
    /// The running version.
    millennium_updater_builder_current_version, version, current_version
);
string_setter!(
    /// The release channel.
    millennium_updater_builder_channel, channel, channel
);
string_setter!(
    /// The app id.
    millennium_updater_builder_app_id, app_id, app_id
);
string_setter!(
    /// The state directory.
    millennium_updater_builder_state_dir, dir, state_dir
);
string_setter!(
    /// The install id.
    millennium_updater_builder_install_id, install_id, install_id
);
string_setter!(
    /// The executable an update replaces.
    millennium_updater_builder_executable, path, executable
);

/// How the app is installed: `"none"` (a plain executable), `"appimage"`, `"deb"`, `"rpm"`, ….
///
/// # Safety
///
/// `bundle` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_builder_bundle_type(
    builder: MillenniumUpdaterBuilder,
    bundle: *const c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    unsafe {
        set(builder, bundle, "bundle", |b, v| {
            if v == "none" {
                return Ok(b.bundle_type(None));
            }
            let bundle = v.parse::<BundleType>().map_err(|e| {
                Failure::new(Status::InvalidArgument, format!("`{v}` is not a bundle type ({e}) nor `none`"))
            })?;
            Ok(b.bundle_type(Some(bundle)))
        })
    }
}

/// The install mode of an NSIS or MSI install: `ui` `"quiet"`, `"passive"` or `"full"`; `scope` `"user"` or
/// `"machine"`.
///
/// # Safety
///
/// The strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_builder_windows_installer(
    builder: MillenniumUpdaterBuilder,
    ui: *const c_char,
    scope: *const c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let ui = match unsafe { text(ui, "ui") } {
        Ok("quiet") => InstallerUi::Quiet,
        Ok("passive") => InstallerUi::Passive,
        Ok("full") => InstallerUi::Full,
        Ok(other) => {
            let message = format!("`{other}` is not an installer UI: `quiet`, `passive` or `full`");
            return status::record(Err(Failure::new(Status::InvalidArgument, message)));
        }
        Err(failure) => return status::record(Err(failure)),
    };
    // SAFETY: per this function's contract.
    unsafe {
        set(builder, scope, "scope", |b, v| {
            let scope = match v {
                "user" => InstallScope::PerUser,
                "machine" => InstallScope::PerMachine,
                other => {
                    let message = format!("`{other}` is not an install scope: `user` or `machine`");
                    return Err(Failure::new(Status::InvalidArgument, message));
                }
            };
            Ok(b.windows_installer(ui, scope))
        })
    }
}

/// Adds a header sent to the update server.
///
/// # Safety
///
/// The strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_builder_header(
    builder: MillenniumUpdaterBuilder,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let name = match unsafe { text(name, "name") } {
        Ok(name) => name,
        Err(failure) => return status::record(Err(failure)),
    };
    // SAFETY: per this function's contract.
    unsafe { set(builder, value, "value", |b, v| Ok(b.header(name, v))) }
}

/// Applies `f` to the builder.
fn set_plain(builder: MillenniumUpdaterBuilder, f: impl FnOnce(UpdaterBuilder) -> UpdaterBuilder) -> c_int {
    call(|| {
        let object = handles::get::<BuilderObj>(builder.id, "builder")?;
        let mut slot = object.0.lock().unwrap_or_else(|p| p.into_inner());
        let current = std::mem::take(&mut *slot);
        *slot = f(current);
        Ok(())
    })
}

/// How many starts a new version gets to confirm before it is rolled back.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_builder_rollback_after_starts(
    builder: MillenniumUpdaterBuilder,
    starts: u32,
) -> c_int {
    set_plain(builder, |b| b.rollback_after_starts(starts))
}

/// Whether signatures must name the version (non-zero: required).
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_builder_require_signed_version(
    builder: MillenniumUpdaterBuilder,
    required: c_int,
) -> c_int {
    set_plain(builder, |b| b.require_signed_version(required != 0))
}

/// Whether release-health events are reported to the update server (non-zero: yes; default off).
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_builder_report_events(builder: MillenniumUpdaterBuilder, report: c_int) -> c_int {
    set_plain(builder, |b| b.report_events(report != 0))
}

/// Builds an updater (the builder stays usable).
///
/// # Safety
///
/// `out_updater` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_builder_build(
    builder: MillenniumUpdaterBuilder,
    out_updater: *mut MillenniumUpdater,
) -> c_int {
    call(|| {
        let ptr = out(out_updater, "out_updater")?;
        let object = handles::get::<BuilderObj>(builder.id, "builder")?;
        let configured = object.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let updater = configured.build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(Status::Io, format!("could not start the updater's runtime: {e}")))?;
        let cancel = Arc::new(CancelObj(Mutex::new(CancellationToken::new())));
        let id = handles::insert(Arc::new(UpdaterObj { updater, runtime, cancel }));
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { put(ptr, MillenniumUpdater { id }) };
        Ok(())
    })
}

/// Frees a builder; `{0}` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_builder_free(builder: MillenniumUpdaterBuilder) -> c_int {
    call(|| if builder.id == 0 { Ok(()) } else { handles::remove::<BuilderObj>(builder.id, "builder") })
}

// ----- updater -----

fn updater(handle: MillenniumUpdater) -> Result<Arc<UpdaterObj>, Failure> {
    handles::get::<Arc<UpdaterObj>>(handle.id, "updater").map(|object| (*object).clone())
}

/// Rollback bookkeeping; call first thing at every start.
///
/// # Safety
///
/// `out_startup` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_startup(
    handle: MillenniumUpdater,
    out_startup: *mut MillenniumStartup,
) -> c_int {
    call(|| {
        let ptr = out(out_startup, "out_startup")?;
        let startup = match updater(handle)?.updater.startup()? {
            StartupStatus::Normal => MillenniumStartup { status: 0, start: 0, allowed: 0 },
            StartupStatus::PendingConfirmation { start, allowed } => MillenniumStartup { status: 1, start, allowed },
            StartupStatus::RolledBack { .. } => MillenniumStartup { status: 2, start: 0, allowed: 0 },
            other => return Err(Failure::new(Status::Other, format!("unknown startup status {other:?}"))),
        };
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { put(ptr, startup) };
        Ok(())
    })
}

/// Asks the server for an update.
///
/// # Safety
///
/// `out_update` and `out_available` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_check(
    handle: MillenniumUpdater,
    out_update: *mut MillenniumUpdate,
    out_available: *mut c_int,
) -> c_int {
    call(|| {
        let (update_ptr, available_ptr) = (out(out_update, "out_update")?, out(out_available, "out_available")?);
        let object = updater(handle)?;
        let found = block(&object, &CancellationToken::new(), object.updater.check())?;
        let (update, available) = match found {
            None => (MillenniumUpdate { id: 0 }, 0),
            Some(update) => {
                let version = CString::new(update.version().to_string())
                    .map_err(|_| Failure::new(Status::Other, "the version contains NUL"))?;
                // Notes with a NUL (which C could not read whole) are cut there.
                let notes = update.notes().map(|n| CString::new(n.split('\0').next().unwrap_or_default()));
                let notes = notes.transpose().map_err(|_| Failure::new(Status::Other, "the notes contain NUL"))?;
                let id = handles::insert(Arc::new(UpdateObj { update, updater: object.clone(), version, notes }));
                (MillenniumUpdate { id }, 1)
            }
        };
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe {
            put(update_ptr, update);
            put(available_ptr, available);
        }
        Ok(())
    })
}

/// Confirms that this (new) version works.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_confirm_healthy(handle: MillenniumUpdater) -> c_int {
    call(|| Ok(updater(handle)?.updater.confirm_healthy()?))
}

/// Replaces the process with the installed app; returns only on failure.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_relaunch(handle: MillenniumUpdater) -> c_int {
    call(|| match updater(handle)?.updater.relaunch() {
        Err(error) => Err(error.into()),
    })
}

/// Installs the update scheduled with `millennium_updater_download_install_on_exit`, if any.
///
/// # Safety
///
/// `out_applied` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_apply_pending_on_exit(
    handle: MillenniumUpdater,
    out_applied: *mut c_int,
) -> c_int {
    call(|| {
        let ptr = out(out_applied, "out_applied")?;
        let applied = updater(handle)?.updater.apply_pending_on_exit()?;
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { put(ptr, c_int::from(applied.is_some())) };
        Ok(())
    })
}

/// A cancel handle for the updater's blocking calls.
///
/// # Safety
///
/// `out_cancel` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_cancel_handle(
    handle: MillenniumUpdater,
    out_cancel: *mut MillenniumCancel,
) -> c_int {
    call(|| {
        let ptr = out(out_cancel, "out_cancel")?;
        let object = updater(handle)?;
        let id = handles::insert(CancelRef(object.cancel.clone()));
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { put(ptr, MillenniumCancel { id }) };
        Ok(())
    })
}

/// Frees an updater; `{0}` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_free(handle: MillenniumUpdater) -> c_int {
    call(|| if handle.id == 0 { Ok(()) } else { handles::remove::<Arc<UpdaterObj>>(handle.id, "updater") })
}

// ----- cancel -----

/// Cancels the calls in progress and every later one until reset. Any thread.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_cancel(cancel: MillenniumCancel) -> c_int {
    call(|| {
        handles::get::<CancelRef>(cancel.id, "cancel")?.0.current().cancel();
        Ok(())
    })
}

/// Lets calls run again after a cancel.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_cancel_reset(cancel: MillenniumCancel) -> c_int {
    call(|| {
        let object = handles::get::<CancelRef>(cancel.id, "cancel")?;
        let mut token = object.0.0.lock().unwrap_or_else(|p| p.into_inner());
        if token.is_cancelled() {
            *token = CancellationToken::new();
        }
        Ok(())
    })
}

/// Frees a cancel handle; `{0}` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_cancel_free(cancel: MillenniumCancel) -> c_int {
    call(|| if cancel.id == 0 { Ok(()) } else { handles::remove::<CancelRef>(cancel.id, "cancel") })
}

// ----- offered update -----

fn update(handle: MillenniumUpdate) -> Result<Arc<UpdateObj>, Failure> {
    handles::get::<Arc<UpdateObj>>(handle.id, "update").map(|object| (*object).clone())
}

/// The offered version; the string lives as long as the update handle.
///
/// # Safety
///
/// `out_version` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_update_version(
    handle: MillenniumUpdate,
    out_version: *mut *const c_char,
) -> c_int {
    call(|| {
        let ptr = out(out_version, "out_version")?;
        let object = update(handle)?;
        // SAFETY: checked non-null; writable per this function's contract. The string is owned by the table's entry.
        unsafe { put(ptr, object.version.as_ptr()) };
        Ok(())
    })
}

/// The release notes, or NULL when there are none; the string lives as long as the update handle.
///
/// # Safety
///
/// `out_notes` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_update_notes(
    handle: MillenniumUpdate,
    out_notes: *mut *const c_char,
) -> c_int {
    call(|| {
        let ptr = out(out_notes, "out_notes")?;
        let object = update(handle)?;
        let notes = object.notes.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { put(ptr, notes) };
        Ok(())
    })
}

/// The artifact's size when known before downloading (signed metadata); `*out_known` is 0 otherwise.
///
/// # Safety
///
/// The out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_update_size(
    handle: MillenniumUpdate,
    out_known: *mut c_int,
    out_size: *mut u64,
) -> c_int {
    call(|| {
        let (known_ptr, size_ptr) = (out(out_known, "out_known")?, out(out_size, "out_size")?);
        let size = update(handle)?.update.size();
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe {
            put(known_ptr, c_int::from(size.is_some()));
            put(size_ptr, size.unwrap_or(0));
        }
        Ok(())
    })
}

/// Whether the download will first try a delta from the installed artifact, and its size.
///
/// # Safety
///
/// The out-pointers are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_update_delta(
    handle: MillenniumUpdate,
    out_uses_delta: *mut c_int,
    out_delta_size: *mut u64,
) -> c_int {
    call(|| {
        let (uses_ptr, size_ptr) = (out(out_uses_delta, "out_uses_delta")?, out(out_delta_size, "out_delta_size")?);
        let size = update(handle)?.update.delta_size();
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe {
            put(uses_ptr, c_int::from(size.is_some()));
            put(size_ptr, size.unwrap_or(0));
        }
        Ok(())
    })
}

/// C's progress callback (either signature) and its `user_data`.
struct CProgress {
    callback: CCallback,
    user_data: *mut c_void,
}

#[derive(Clone, Copy)]
enum CCallback {
    Plain(unsafe extern "C" fn(*mut c_void, u64, u64, c_int) -> c_int),
    Ex(unsafe extern "C" fn(*mut c_void, *const MillenniumProgress) -> c_int),
}

// SAFETY: the download runs on the updater's current-thread runtime inside `block_on` on the thread that called
// `millennium_updater_update_download`, and the progress closure is called from that future (not from a spawned
// blocking task), so the callback and `user_data` are only ever used on C's calling thread, as the header promises.
unsafe impl Send for CProgress {}

/// Downloads and verifies the update.
///
/// # Safety
///
/// `progress` is NULL or a function of the documented signature; `out_download` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_update_download(
    handle: MillenniumUpdate,
    progress: MillenniumProgressFn,
    user_data: *mut c_void,
    out_download: *mut MillenniumDownload,
) -> c_int {
    download(
        handle,
        progress.map(|callback| CProgress { callback: CCallback::Plain(callback), user_data }),
        out_download,
    )
}

/// Downloads and verifies the update, reporting what each byte belongs to (a delta or the full artifact).
///
/// # Safety
///
/// `progress` is NULL or a function of the documented signature; `out_download` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_updater_update_download_ex(
    handle: MillenniumUpdate,
    progress: MillenniumProgressExFn,
    user_data: *mut c_void,
    out_download: *mut MillenniumDownload,
) -> c_int {
    download(handle, progress.map(|callback| CProgress { callback: CCallback::Ex(callback), user_data }), out_download)
}

fn download(handle: MillenniumUpdate, callback: Option<CProgress>, out_download: *mut MillenniumDownload) -> c_int {
    call(|| {
        let ptr = out(out_download, "out_download")?;
        let object = update(handle)?;
        let local = CancellationToken::new();
        let stop = local.clone();
        let report = move |p: Progress| {
            // The download stops at its next await; until then, C is not called again after asking to stop.
            if let Some(c) = callback.as_ref().filter(|_| !stop.is_cancelled()) {
                let (total, known) = (p.total.unwrap_or(0), c_int::from(p.total.is_some()));
                // SAFETY: C functions of the documented signatures, called on C's calling thread (see `CProgress`);
                // the report outlives the call.
                let answer = unsafe {
                    match c.callback {
                        CCallback::Plain(f) => f(c.user_data, p.downloaded, total, known),
                        CCallback::Ex(f) => {
                            let report = MillenniumProgress {
                                downloaded: p.downloaded,
                                total,
                                total_known: known,
                                transfer: transfer_code(p.transfer),
                            };
                            f(c.user_data, &report)
                        }
                    }
                };
                if answer != 0 {
                    stop.cancel();
                }
            }
        };
        let downloaded = block(&object.updater, &local, object.update.download(report))?;
        let id = handles::insert(DownloadObj(Mutex::new(Some(downloaded))));
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { put(ptr, MillenniumDownload { id }) };
        Ok(())
    })
}

/// Frees an update; `{0}` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_update_free(handle: MillenniumUpdate) -> c_int {
    call(|| if handle.id == 0 { Ok(()) } else { handles::remove::<Arc<UpdateObj>>(handle.id, "update") })
}

// ----- downloaded update -----

/// Installs the downloaded update; afterwards the handle is consumed (free it).
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_download_install(handle: MillenniumDownload) -> c_int {
    call(|| {
        let object = handles::get::<DownloadObj>(handle.id, "download")?;
        let mut slot = object.0.lock().unwrap_or_else(|p| p.into_inner());
        let downloaded = slot.as_ref().ok_or_else(|| {
            Failure::new(
                Status::Consumed,
                "this downloaded update was installed or scheduled already\nhint: check for an update again for a newer one",
            )
        })?;
        downloaded.install()?;
        *slot = None;
        Ok(())
    })
}

/// Schedules the downloaded update for `millennium_updater_apply_pending_on_exit`; afterwards the handle is consumed.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_download_install_on_exit(handle: MillenniumDownload) -> c_int {
    call(|| {
        let object = handles::get::<DownloadObj>(handle.id, "download")?;
        let downloaded = object.0.lock().unwrap_or_else(|p| p.into_inner()).take().ok_or_else(|| {
            Failure::new(Status::Consumed, "this downloaded update was installed or scheduled already")
        })?;
        downloaded.install_on_exit();
        Ok(())
    })
}

/// Frees a downloaded update; `{0}` is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn millennium_updater_download_free(handle: MillenniumDownload) -> c_int {
    call(|| if handle.id == 0 { Ok(()) } else { handles::remove::<DownloadObj>(handle.id, "download") })
}
