//! The default Millennium runtime: the system webview (WebKitGTK on Linux, WebView2 on Windows, WKWebView on macOS)
//! through `wry`, in windows made by `tao`.
//!
//! It implements [`millennium_runtime::Runtime`]; nothing from `wry` or `tao` appears in its public API. The event
//! loop carries [`Message`]s as user events: a [`WebviewProxy`] posts them from any thread and the loop applies them
//! to the webviews it owns (evaluate a script, set a title, exit). The only platform-specific step is attaching the
//! webview to its window, in the private `attach`: into the window's GTK box on Linux and the BSDs, through raw-window-handle
//! elsewhere.

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};

use millennium_runtime::{
    Error, ExitHook, IpcMessage, Message, ProtocolRequest, Runtime, RuntimeProxy, WindowConfig, WindowId,
};
use tao::dpi::LogicalSize;
use tao::event::{Event, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoop, EventLoopBuilder, EventLoopProxy};
use tao::window::{Window, WindowBuilder};
use wry::http;
use wry::{NewWindowResponse, WebView, WebViewBuilder};

/// The runtime over `wry` + `tao`.
pub struct WebviewRuntime {
    event_loop: EventLoop<Message>,
    windows: HashMap<WindowId, Entry>,
    next_id: u32,
}

impl std::fmt::Debug for WebviewRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebviewRuntime").field("windows", &self.windows.len()).finish_non_exhaustive()
    }
}

struct Entry {
    // Field order matters: the webview is dropped before its window.
    webview: WebView,
    window: Window,
}

/// Posts [`Message`]s to a [`WebviewRuntime`]'s event loop from any thread.
#[derive(Clone)]
pub struct WebviewProxy(EventLoopProxy<Message>);

impl std::fmt::Debug for WebviewProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebviewProxy")
    }
}

impl RuntimeProxy for WebviewProxy {
    fn send(&self, message: Message) -> Result<(), Error> {
        self.0.send_event(message).map_err(|_| Error::EventLoopClosed)
    }
}

impl Runtime for WebviewRuntime {
    type Proxy = WebviewProxy;

    fn new() -> Result<Self, Error> {
        millennium_runtime::check_display()?;
        // GTK panics when the display named by `DISPLAY` cannot be opened: turn that into an error, without the
        // panic message on stderr.
        let previous_hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let built = panic::catch_unwind(AssertUnwindSafe(|| EventLoopBuilder::<Message>::with_user_event().build()));
        panic::set_hook(previous_hook);
        let event_loop = built.map_err(|payload| Error::Init { reason: panic_reason(payload.as_ref()) })?;
        Ok(Self { event_loop, windows: HashMap::new(), next_id: 0 })
    }

    fn proxy(&self) -> WebviewProxy {
        WebviewProxy(self.event_loop.create_proxy())
    }

    fn create_window(&mut self, config: WindowConfig) -> Result<WindowId, Error> {
        let id = WindowId(self.next_id);
        let label = config.label.clone();
        let fail = |reason: String| Error::CreateWindow { label: label.clone(), reason };
        let window = WindowBuilder::new()
            .with_title(&config.title)
            .with_inner_size(LogicalSize::new(config.width, config.height))
            .with_resizable(config.resizable)
            .build(&self.event_loop)
            .map_err(|e| fail(e.to_string()))?;

        let protocol = config.protocol;
        let ipc = config.ipc;
        // The app's scheme, and the origin of its first page (the localhost server's, when the app uses one).
        let allowed_prefixes = [format!("{}://", config.scheme), origin_prefix(&config.url)];
        let mut builder = WebViewBuilder::new();
        if let Some(script) = config.init_script {
            builder = builder.with_initialization_script_for_main_only(script, true);
        }
        let builder = builder
            .with_custom_protocol(config.scheme.clone(), move |_webview, request| {
                let request =
                    ProtocolRequest { method: request.method().as_str().to_owned(), uri: request.uri().to_string() };
                to_http(protocol(&request))
            })
            .with_ipc_handler(move |request: http::Request<String>| {
                let url = request.uri().to_string();
                ipc(id, IpcMessage { url, body: request.into_body() });
            })
            .with_navigation_handler(move |url| {
                let allowed = allowed_prefixes.iter().any(|prefix| url.starts_with(prefix.as_str()));
                if !allowed {
                    tracing::warn!(%url, "navigation away from the app's scheme refused");
                }
                allowed
            })
            .with_new_window_req_handler(|url, _features| {
                tracing::warn!(%url, "window.open refused");
                NewWindowResponse::Deny
            })
            .with_devtools(config.devtools)
            .with_url(config.url);
        let webview = attach(builder, &window).map_err(fail)?;
        self.windows.insert(id, Entry { webview, window });
        self.next_id += 1;
        Ok(id)
    }

    fn run(self, on_exit: ExitHook) -> ! {
        let Self { event_loop, mut windows, .. } = self;
        let mut on_exit = Some(on_exit);
        event_loop.run(move |event, _target, control_flow| {
            // tao sends `LoopDestroyed` once, after the loop was asked to exit and before it exits the process; the
            // windows are gone by then (closed by the user, or cleared on `Message::Exit`).
            if let Event::LoopDestroyed = event {
                windows.clear();
                let code = match *control_flow {
                    ControlFlow::ExitWithCode(code) => code,
                    _ => 0,
                };
                if let Some(hook) = on_exit.take() {
                    hook(code);
                }
                return;
            }
            if matches!(control_flow, ControlFlow::ExitWithCode(_)) {
                return;
            }
            *control_flow = ControlFlow::Wait;
            match event {
                Event::UserEvent(message) => {
                    if let Some(code) = apply(&mut windows, message) {
                        windows.clear();
                        *control_flow = ControlFlow::ExitWithCode(code);
                    }
                }
                Event::WindowEvent { window_id, event: WindowEvent::CloseRequested, .. } => {
                    windows.retain(|_, entry| entry.window.id() != window_id);
                    if windows.is_empty() {
                        *control_flow = ControlFlow::ExitWithCode(0);
                    }
                }
                _ => {}
            }
        })
    }
}

/// Apply one message; `Some(code)` asks the loop to exit.
fn apply(windows: &mut HashMap<WindowId, Entry>, message: Message) -> Option<i32> {
    match message {
        Message::EvaluateScript { window, script } => match windows.get(&window) {
            Some(entry) => {
                if let Err(error) = entry.webview.evaluate_script(&script) {
                    tracing::warn!(%window, %error, "evaluating a script failed");
                }
            }
            None => tracing::debug!(%window, "script for a closed window dropped"),
        },
        Message::EvaluateScriptAll { script } => {
            for (window, entry) in windows.iter() {
                if let Err(error) = entry.webview.evaluate_script(&script) {
                    tracing::warn!(%window, %error, "evaluating a script failed");
                }
            }
        }
        Message::SetTitle { window, title } => {
            if let Some(entry) = windows.get(&window) {
                entry.window.set_title(&title);
            }
        }
        Message::Exit { code } => return Some(code),
    }
    None
}

fn to_http(response: millennium_runtime::ProtocolResponse) -> http::Response<Cow<'static, [u8]>> {
    let mut builder = http::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(response.body).unwrap_or_else(|error| {
        tracing::error!(%error, "invalid protocol response");
        let mut fallback = http::Response::new(Cow::Borrowed(&b""[..]));
        *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

fn panic_reason(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown failure".to_owned())
}

/// Put the webview into its window.
#[cfg(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
fn attach(builder: WebViewBuilder<'_>, window: &Window) -> Result<WebView, String> {
    use tao::platform::unix::WindowExtUnix;
    use wry::WebViewBuilderExtUnix;
    let vbox = window.default_vbox().ok_or("the window has no GTK box to hold the webview")?;
    builder.build_gtk(vbox).map_err(|e| e.to_string())
}

/// Put the webview into its window.
#[cfg(not(any(
    target_os = "linux",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
fn attach(builder: WebViewBuilder<'_>, window: &Window) -> Result<WebView, String> {
    builder.build(window).map_err(|e| e.to_string())
}

/// `scheme://authority/` of `url`: the prefix of every URL of the same origin.
fn origin_prefix(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return format!("{url}/") };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{authority}/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use millennium_runtime::ProtocolResponse;

    #[test]
    fn protocol_responses_keep_status_headers_and_body() {
        let response = to_http(ProtocolResponse {
            status: 404,
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Content-Security-Policy".into(), "default-src 'self'".into()),
            ],
            body: Cow::Borrowed(b"not found"),
        });
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-security-policy"], "default-src 'self'");
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(&response.body()[..], b"not found");
    }

    #[test]
    fn an_invalid_header_becomes_a_500_instead_of_a_panic() {
        let response = to_http(ProtocolResponse {
            status: 200,
            headers: vec![("Bad Header\n".into(), "x".into())],
            body: Cow::Borrowed(b"secret"),
        });
        assert_eq!(response.status(), 500);
        assert!(response.body().is_empty());
    }

    #[test]
    fn origin_prefixes_end_at_the_authority() {
        assert_eq!(origin_prefix("millennium://localhost/"), "millennium://localhost/");
        assert_eq!(origin_prefix("http://127.0.0.1:41234/"), "http://127.0.0.1:41234/");
        // A look-alike host is another origin.
        assert!(!"http://127.0.0.1:41234.evil.example/".starts_with(&origin_prefix("http://127.0.0.1:41234/x?y")));
    }
}
