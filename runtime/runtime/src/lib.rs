//! The runtime interface of Millennium apps.
//!
//! A [`Runtime`] owns the platform event loop and creates windows that each hold one webview. The `millennium` crate
//! talks to the runtime only through this interface, so the default runtime (`millennium-runtime-webview`, the system
//! webview through `wry` + `tao`) can be swapped for another one and none of a webview library's types leak into the
//! app-facing API.
//!
//! The model:
//! - A window shows one webview that loads [`WindowConfig::url`]. Every request for the app's scheme
//!   ([`WindowConfig::protocol`], e.g. `millennium://localhost/index.html`) goes to the [`ProtocolHandler`], which
//!   answers from memory: no server and no TCP port.
//! - Messages the page posts with `window.ipc.postMessage(string)` reach the [`IpcHandler`] on the event-loop thread.
//! - Everything that must happen on the event loop (evaluate a script in a page, set a title, exit) is sent as a
//!   [`Message`] through a [`RuntimeProxy`], which any thread may hold.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Errors of the runtime interface and of its implementations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No graphical session to open windows on.
    #[error(
        "no display to open a window on: neither `DISPLAY` nor `WAYLAND_DISPLAY` is set\n\
         hint: run the app inside a desktop session, or headless under `xvfb-run -a <app>`"
    )]
    NoDisplay,
    /// The windowing system or the webview failed to initialise.
    #[error("the windowing system failed to start: {reason}")]
    Init {
        /// What the platform reported.
        reason: String,
    },
    /// A window could not be created.
    #[error("failed to create the window `{label}`: {reason}")]
    CreateWindow {
        /// The window's label.
        label: String,
        /// What the platform reported.
        reason: String,
    },
    /// The event loop has ended, so the message could not be delivered.
    #[error("the event loop has already closed")]
    EventLoopClosed,
}

/// Identifies one window of a running app. Assigned by the runtime in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowId(pub u32);

impl fmt::Display for WindowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "window#{}", self.0)
    }
}

/// A request the webview made to the app's custom protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolRequest {
    /// The HTTP-like method, upper case (`GET`, `HEAD`, ...).
    pub method: String,
    /// The full URI, e.g. `millennium://localhost/index.html`.
    pub uri: String,
}

/// The answer to a [`ProtocolRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Cow<'static, [u8]>,
}

impl ProtocolResponse {
    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Answers the custom-protocol requests of every webview. Called on a webview thread, hence `Send + Sync`.
pub type ProtocolHandler = Arc<dyn Fn(&ProtocolRequest) -> ProtocolResponse + Send + Sync>;

/// One message a page posted with `window.ipc.postMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcMessage {
    /// The URL of the document that posted it, as far as the platform says: the sending frame's on macOS
    /// (WKWebView), the top-level document's on Linux (WebKitGTK does not say which frame posted) and on Windows
    /// (WebView2 delivers only the top-level document's messages here).
    pub url: String,
    /// What the page posted.
    pub body: String,
}

/// Receives the messages pages post with `window.ipc.postMessage`. Called on the event-loop thread.
pub type IpcHandler = Box<dyn Fn(WindowId, IpcMessage)>;

/// What a window shows and how its webview talks to the app.
pub struct WindowConfig {
    /// A short name for logs and errors.
    pub label: String,
    /// The title bar text.
    pub title: String,
    /// Inner width in logical pixels.
    pub width: f64,
    /// Inner height in logical pixels.
    pub height: f64,
    /// Whether the user may resize the window.
    pub resizable: bool,
    /// The scheme served by `protocol` (e.g. `millennium`).
    pub scheme: String,
    /// Serves every request for `scheme`.
    pub protocol: ProtocolHandler,
    /// The first page, normally on `scheme` (e.g. `millennium://localhost/`). Navigation away from `scheme` is refused.
    pub url: String,
    /// Receives the page's IPC messages.
    pub ipc: IpcHandler,
    /// Whether the web inspector may be opened.
    pub devtools: bool,
    /// A script run in the top frame of every page the window loads, at document start, before the page's own
    /// scripts (and not subject to its CSP; on Windows WebView2 runs it in frames too). It is not part of any
    /// response, so a script of the page cannot fetch its text: how the IPC bridge and its secrets reach the page.
    pub init_script: Option<String>,
}

impl fmt::Debug for WindowConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowConfig")
            .field("label", &self.label)
            .field("title", &self.title)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("resizable", &self.resizable)
            .field("scheme", &self.scheme)
            .field("url", &self.url)
            .field("devtools", &self.devtools)
            .field("init_script", &self.init_script.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// Work for the event loop, sent through a [`RuntimeProxy`].
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Run `script` in the page of `window` (the reply path of the IPC bridge).
    EvaluateScript {
        /// The target window.
        window: WindowId,
        /// JavaScript source.
        script: String,
    },
    /// Evaluate `script` in the pages of every window (event broadcast).
    EvaluateScriptAll {
        /// JavaScript source.
        script: String,
    },
    /// Change the title of `window`.
    SetTitle {
        /// The target window.
        window: WindowId,
        /// The new title.
        title: String,
    },
    /// Close every window and end the event loop; the process exits with `code`.
    Exit {
        /// The process exit code.
        code: i32,
    },
}

/// What [`Runtime::run`] calls with the exit code after the last window is gone, just before the process exits.
pub type ExitHook = Box<dyn FnOnce(i32)>;

/// A handle to the event loop that any thread may hold and clone.
pub trait RuntimeProxy: Clone + Send + Sync + 'static {
    /// Queue `message` for the event loop.
    ///
    /// # Errors
    ///
    /// [`Error::EventLoopClosed`] when the loop has ended.
    fn send(&self, message: Message) -> Result<(), Error>;
}

/// A platform event loop with webview windows.
pub trait Runtime: Sized {
    /// The proxy type of this runtime.
    type Proxy: RuntimeProxy;

    /// Start the windowing system.
    ///
    /// # Errors
    ///
    /// [`Error::NoDisplay`] when there is no graphical session, [`Error::Init`] when the platform fails.
    fn new() -> Result<Self, Error>;

    /// A proxy for sending [`Message`]s to the event loop.
    fn proxy(&self) -> Self::Proxy;

    /// Create a window with its webview. Windows may be created before [`Runtime::run`].
    ///
    /// # Errors
    ///
    /// [`Error::CreateWindow`] when the platform refuses.
    fn create_window(&mut self, config: WindowConfig) -> Result<WindowId, Error>;

    /// Run the event loop on this (the main) thread until every window is closed or [`Message::Exit`] arrives, then
    /// call `on_exit` with the exit code (0 when the last window was closed) once every window is gone, still on this
    /// thread, and exit the process with that code. `on_exit` is where an app finishes up without keeping a window
    /// on screen (an update scheduled for exit is installed there).
    fn run(self, on_exit: ExitHook) -> !;
}

/// Whether a graphical session is reachable, checked before the windowing system starts (which on Linux would
/// otherwise panic inside GTK).
///
/// # Errors
///
/// [`Error::NoDisplay`] on Linux and the BSDs when neither `DISPLAY` nor `WAYLAND_DISPLAY` is set.
pub fn check_display() -> Result<(), Error> {
    #[cfg(any(
        target_os = "linux",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
            return Err(Error::NoDisplay);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_ignores_case() {
        let response = ProtocolResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: Cow::Borrowed(b""),
        };
        assert_eq!(response.header("content-type"), Some("text/html"));
        assert_eq!(response.header("content-security-policy"), None);
    }

    #[test]
    fn no_display_error_has_a_hint() {
        let message = Error::NoDisplay.to_string();
        assert!(message.contains("hint: "), "{message}");
        assert!(message.contains("xvfb-run"), "{message}");
    }
}
