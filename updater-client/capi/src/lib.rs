//! `millennium-updater-capi`: the C ABI of `millennium-updater`. `include/millennium_updater.h` declares exactly the
//! functions of [`ffi`]; a test compares it with the symbols the `cdylib` exports.
//!
//! # Design
//!
//! - **Handles are numbers, not pointers.** Every object C holds (builder, updater, offered update, downloaded
//!   update, cancel handle) is a `struct { uint64_t id; }` naming an entry of one process-wide table (`handles`).
//!   Ids are never reused, so a freed, never-created or wrong-kind handle is refused with
//!   `MILLENNIUM_UPDATER_ERR_INVALID_HANDLE` instead of being undefined behaviour: a double free or a use after free
//!   is an error code, not a crash. The one-member struct keeps C and C++ from mixing up handle kinds.
//! - **Errors** are a status code returned by every function, plus a thread-local last error (code and message with
//!   its causes and `hint:` lines, see `status`).
//! - **Blocking calls.** Each updater owns a current-thread Tokio runtime; `check` and `download` block the calling
//!   thread on it, so the progress callback runs on the thread that called `download`. No Tokio type crosses the ABI.
//!   A cancel handle (usable from any thread) makes the calls in progress, and later ones until it is reset, return
//!   `MILLENNIUM_UPDATER_ERR_CANCELLED`; a progress callback returning non-zero cancels its own download.
//! - **Panics** never unwind into C: each entry point catches them and returns `MILLENNIUM_UPDATER_ERR_PANIC`.
//!
//! What is still undefined behaviour is what C can always do to any library: a string pointer that is not
//! NUL-terminated or dangling, an out-pointer to too little memory, a callback with the wrong signature.

pub mod ffi;
mod handles;
mod status;

pub use status::Status;
