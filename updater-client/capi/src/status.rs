//! Status codes (the `MILLENNIUM_UPDATER_*` constants of the header) and the thread-local last error.

use std::cell::RefCell;
use std::ffi::{CString, c_int};

use millennium_updater::{Error, ErrorKind, Report};

/// A status code; `Ok` is 0. The values are part of the ABI: never renumber, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    /// A required pointer argument is NULL.
    NullArgument = 1,
    /// A string is not UTF-8, or a value is not one the function accepts.
    InvalidArgument = 2,
    /// The handle was never created, was freed already, or is of another kind.
    InvalidHandle = 3,
    /// The handle was used up: a downloaded update that was installed (or scheduled for exit) already.
    Consumed = 4,
    /// The call was cancelled through a cancel handle or the progress callback.
    Cancelled = 5,
    /// A bug in the library (a Rust panic, caught at the boundary).
    Panic = 6,
    /// The updater's configuration is unusable (no endpoint, bad key, bad version…).
    Config = 10,
    /// The update server could not be reached or answered something unusable; trying again later may help.
    Network = 11,
    /// The update was refused: signature, pinned key, signed metadata, platform, or a file changed after
    /// verification. Nothing was installed.
    Verification = 12,
    /// A local file system error (disk full, permission denied, corrupt state file).
    Io = 13,
    /// Installing, relaunching or rolling back failed (package tool, unsupported install kind, webview too old).
    Install = 14,
    /// Any other error of the updater.
    Other = 99,
}

impl Status {
    /// The code C sees.
    pub fn code(self) -> c_int {
        self as c_int
    }

    /// The status of an updater error: its [`ErrorKind`], whose numbers are these codes (one classification for
    /// every binding).
    pub fn of(error: &Error) -> Status {
        match error.kind() {
            ErrorKind::Config => Status::Config,
            ErrorKind::Network => Status::Network,
            ErrorKind::Verification => Status::Verification,
            ErrorKind::Io => Status::Io,
            ErrorKind::Install => Status::Install,
            _ => Status::Other,
        }
    }
}

/// An error to hand to C: its status and message.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: Status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into() }
    }

    pub(crate) fn null(argument: &str) -> Failure {
        Failure::new(Status::NullArgument, format!("`{argument}` is NULL"))
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        // The whole chain and the hints: what `Report` shows a Rust app's user.
        Failure { status: Status::of(&error), message: Report::new(&error).to_string() }
    }
}

thread_local! {
    /// The last error of a call on this thread: its code and message (NUL-terminated for C).
    static LAST: RefCell<(c_int, CString)> = RefCell::new((0, CString::default()));
}

/// Records the outcome of a call on this thread and returns its code.
pub(crate) fn record(outcome: Result<(), Failure>) -> c_int {
    let (code, message) = match outcome {
        Ok(()) => (0, String::new()),
        Err(Failure { status, message }) => (status.code(), message),
    };
    // A message never contains NUL in practice; if one did, cut it there rather than lose the message.
    let message = CString::new(message).unwrap_or_else(|e| {
        let end = e.nul_position();
        CString::new(e.into_vec()[..end].to_vec()).unwrap_or_default()
    });
    LAST.with(|last| *last.borrow_mut() = (code, message));
    code
}

/// The code of the last call on this thread.
pub(crate) fn last_code() -> c_int {
    LAST.with(|last| last.borrow().0)
}

/// The message of the last call on this thread; valid until the next call that records an outcome on this thread.
pub(crate) fn last_message() -> *const std::ffi::c_char {
    LAST.with(|last| last.borrow().1.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_kind_has_the_status_code_of_the_same_number() {
        for kind in [
            ErrorKind::Config,
            ErrorKind::Network,
            ErrorKind::Verification,
            ErrorKind::Io,
            ErrorKind::Install,
            ErrorKind::Other,
        ] {
            let status = match kind {
                ErrorKind::Config => Status::Config,
                ErrorKind::Network => Status::Network,
                ErrorKind::Verification => Status::Verification,
                ErrorKind::Io => Status::Io,
                ErrorKind::Install => Status::Install,
                _ => Status::Other,
            };
            assert_eq!(kind.code(), status.code(), "{kind:?}");
        }
    }
}
