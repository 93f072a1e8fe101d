//! The C ABI of Millennium: `include/millennium.h` declares exactly the functions defined here.
//!
//! The app is configured through an opaque `MillenniumApp` (a boxed [`millennium::Builder`]), then run. Commands are
//! C function pointers with a `user_data` pointer; they are called on the event-loop thread (the one that called
//! `millennium_app_run`), get the arguments as JSON text and return the reply as JSON text, which is copied at once.
//! Nothing from C crosses threads, which is what makes the `Send`/`Sync` wrappers below sound.

// The workspace denies `unsafe`; this module is the FFI boundary, where every function takes raw pointers from C. Each
// `unsafe` block still needs a `// SAFETY:` comment (workspace lint `clippy::undocumented_unsafe_blocks`).
#![allow(unsafe_code, reason = "the C ABI: raw pointers and callbacks from C")]

use std::ffi::{CStr, c_char, c_int, c_void};

use millennium::{AppHandle, Asset, Assets, Builder, Encoding};
use serde_json::Value;

/// An app being configured.
#[derive(Debug)]
pub struct MillenniumApp {
    builder: Option<Builder>,
    assets: Vec<Asset>,
}

/// The running app, as seen by a command callback.
#[derive(Debug)]
pub struct MillenniumHandle {
    app: AppHandle,
}

/// A command implemented in C.
pub type MillenniumCommandFn =
    Option<unsafe extern "C" fn(*mut c_void, *const MillenniumHandle, *const c_char) -> *const c_char>;

struct CCommand {
    callback: unsafe extern "C" fn(*mut c_void, *const MillenniumHandle, *const c_char) -> *const c_char,
    user_data: *mut c_void,
}

// SAFETY: the callback and its `user_data` are only used on the event-loop thread, the thread that called
// `millennium_app_run` (command handlers run there), as the header documents; they never move to another thread.
unsafe impl Send for CCommand {}
// SAFETY: as above: all calls happen on that one thread, so there is no concurrent access.
unsafe impl Sync for CCommand {}

impl CCommand {
    fn call(&self, app: &AppHandle, args: &Value) -> Result<Value, String> {
        let args = std::ffi::CString::new(args.to_string()).map_err(|_| "arguments contain NUL".to_owned())?;
        let handle = MillenniumHandle { app: app.clone() };
        // SAFETY: the function pointer came from C with the documented signature; both pointers are valid for the
        // duration of the call.
        let reply = unsafe { (self.callback)(self.user_data, &handle, args.as_ptr()) };
        if reply.is_null() {
            return Err("the command refused the call".to_owned());
        }
        // SAFETY: the callback returns a NUL-terminated string that stays valid at least until it is called again.
        let reply = unsafe { CStr::from_ptr(reply) };
        let reply = reply.to_str().map_err(|_| "the command's reply is not UTF-8".to_owned())?;
        serde_json::from_str(reply).map_err(|e| format!("the command's reply is not JSON: {e}"))
    }
}

/// Borrow a C string as `&str`; `None` for NULL or invalid UTF-8.
///
/// # Safety
///
/// `text` is NULL or points to a NUL-terminated string valid for `'a`.
unsafe fn text<'a>(text: *const c_char) -> Option<&'a str> {
    if text.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    unsafe { CStr::from_ptr(text) }.to_str().ok()
}

/// Apply `f` to the builder of `app`; 0 on success, -1 on a NULL app.
///
/// # Safety
///
/// `app` is NULL or a pointer from `millennium_app_new` not yet consumed.
unsafe fn with_builder(app: *mut MillenniumApp, f: impl FnOnce(Builder) -> Builder) -> c_int {
    // SAFETY: per this function's contract.
    let Some(app) = (unsafe { app.as_mut() }) else { return -1 };
    match app.builder.take() {
        Some(builder) => {
            app.builder = Some(f(builder));
            0
        }
        None => -1,
    }
}

/// See `millennium.h`.
///
/// # Safety
///
/// `title` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_app_new(title: *const c_char) -> *mut MillenniumApp {
    // SAFETY: per this function's contract.
    let Some(title) = (unsafe { text(title) }) else { return std::ptr::null_mut() };
    Box::into_raw(Box::new(MillenniumApp { builder: Some(Builder::new().title(title)), assets: Vec::new() }))
}

/// See `millennium.h`.
///
/// # Safety
///
/// `app` comes from `millennium_app_new`; `html` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_app_set_html(app: *mut MillenniumApp, html: *const c_char) -> c_int {
    // SAFETY: per this function's contract.
    let Some(html) = (unsafe { text(html) }) else { return -1 };
    // SAFETY: per this function's contract.
    unsafe { add_asset(app, "/index.html", "text/html; charset=utf-8", html.as_bytes()) }
}

/// See `millennium.h`.
///
/// # Safety
///
/// `app` comes from `millennium_app_new`; `path` and `mime` are NULL or NUL-terminated strings; `data` points to
/// `len` readable bytes (or is NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_app_add_asset(
    app: *mut MillenniumApp,
    path: *const c_char,
    mime: *const c_char,
    data: *const u8,
    len: usize,
) -> c_int {
    // SAFETY: per this function's contract.
    let (Some(path), Some(mime)) = (unsafe { text(path) }, unsafe { text(mime) }) else { return -1 };
    let data: &[u8] = if len == 0 {
        &[]
    } else if data.is_null() {
        return -1;
    } else {
        // SAFETY: `data` points to `len` readable bytes per this function's contract.
        unsafe { std::slice::from_raw_parts(data, len) }
    };
    // SAFETY: per this function's contract.
    unsafe { add_asset(app, path, mime, data) }
}

/// # Safety
///
/// `app` is NULL or a pointer from `millennium_app_new` not yet consumed.
unsafe fn add_asset(app: *mut MillenniumApp, path: &str, mime: &str, data: &[u8]) -> c_int {
    // SAFETY: per this function's contract.
    let Some(app) = (unsafe { app.as_mut() }) else { return -1 };
    if !path.starts_with('/') {
        return -1;
    }
    // Assets live as long as the app, which runs until the process exits.
    let asset = Asset {
        path: Box::leak(path.to_owned().into_boxed_str()),
        mime: Box::leak(mime.to_owned().into_boxed_str()),
        len: data.len(),
        data: Box::leak(data.to_vec().into_boxed_slice()),
        encoding: Encoding::STORED,
    };
    app.assets.retain(|a| a.path != asset.path);
    app.assets.push(asset);
    0
}

/// See `millennium.h`.
///
/// # Safety
///
/// `app` comes from `millennium_app_new`; `name` is NULL or a NUL-terminated string; `callback` follows the
/// documented contract and `user_data` stays valid while the app runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_app_command(
    app: *mut MillenniumApp,
    name: *const c_char,
    callback: MillenniumCommandFn,
    user_data: *mut c_void,
) -> c_int {
    // SAFETY: per this function's contract.
    let (Some(name), Some(callback)) = (unsafe { text(name) }, callback) else { return -1 };
    let command = CCommand { callback, user_data };
    // SAFETY: per this function's contract.
    unsafe { with_builder(app, |b| b.command(name, move |app, args: Value| command.call(app, &args))) }
}

/// See `millennium.h`.
///
/// # Safety
///
/// `app` is NULL or comes from `millennium_app_new` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_app_run(app: *mut MillenniumApp) -> c_int {
    if app.is_null() {
        return 1;
    }
    // SAFETY: non-null and from `Box::into_raw` in `millennium_app_new`, per this function's contract.
    let mut app = unsafe { Box::from_raw(app) };
    let Some(builder) = app.builder.take() else { return 1 };
    app.assets.sort_by(|a, b| a.path.cmp(b.path));
    let assets: &'static [Asset] = Box::leak(std::mem::take(&mut app.assets).into_boxed_slice());
    let builder = builder.assets(Assets::new(assets));
    let Err(error) = builder.run();
    eprintln!("error: {}", millennium::Report::new(&error));
    1
}

/// See `millennium.h`.
///
/// # Safety
///
/// `app` is NULL or comes from `millennium_app_new` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_app_free(app: *mut MillenniumApp) {
    if !app.is_null() {
        // SAFETY: from `Box::into_raw`, per this function's contract.
        drop(unsafe { Box::from_raw(app) });
    }
}

/// See `millennium.h`.
///
/// # Safety
///
/// `handle` is the pointer given to a running callback; the strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_emit(
    handle: *const MillenniumHandle,
    broker: *const c_char,
    payload_json: *const c_char,
) -> c_int {
    // SAFETY: per this function's contract.
    let (Some(handle), Some(broker), Some(payload)) =
        (unsafe { handle.as_ref() }, unsafe { text(broker) }, unsafe { text(payload_json) })
    else {
        return -1;
    };
    let Ok(payload) = serde_json::from_str::<Value>(payload) else { return -1 };
    if handle.app.emit(broker, payload).is_ok() { 0 } else { -1 }
}

/// See `millennium.h`.
///
/// # Safety
///
/// `handle` is the pointer given to a running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn millennium_exit(handle: *const MillenniumHandle, code: c_int) -> c_int {
    // SAFETY: per this function's contract.
    let Some(handle) = (unsafe { handle.as_ref() }) else { return -1 };
    if handle.app.exit(code).is_ok() { 0 } else { -1 }
}
