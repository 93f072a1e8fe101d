//! Millennium: desktop apps with a web UI, security first.
//!
//! ```no_run
//! # fn main() {
//! let assets = millennium::Assets::empty(); // normally `millennium::include_assets!()`
//! let Err(error) = millennium::Builder::new()
//!     .title("Hello")
//!     .assets(assets)
//!     .command("greet", |_app, name: String| Ok::<_, String>(format!("Hello, {name}!")))
//!     .run();
//! eprintln!("error: {}", millennium::Report::new(&error));
//! std::process::exit(1);
//! # }
//! ```
//!
//! What the app gets:
//! - **No server.** The assets embedded by `millennium-build` are served from memory through a custom protocol
//!   (`millennium://localhost/`), with their MIME types; no TCP port is opened ([`protocol`]).
//! - **CSP everywhere.** The policy ([`Builder::csp`], strict by default) goes out as a header on every response and as
//!   a meta tag in every HTML document, as configured: the framework needs no inline script, so never
//!   `'unsafe-inline'` nor a hash ([`csp`]).
//! - **A randomised IPC bridge.** `Millennium.invoke(name, args)` in the page calls a [`Builder::command`]; names on
//!   the wire are random per launch, replies go through one-shot callbacks, events through named brokers, and
//!   messages both ways can carry a MAC ([`Builder::authenticate_messages`]); the bridge's secrets reach the page only
//!   through the webview's initialization script, never in a response; see [`bridge`] and [`auth`].
//! - **A compile-time API allow-list.** Built-in APIs are Cargo features (`api-fs`, `api-window`, `api-updater`), off
//!   by default.
//!
//! In the page:
//! ```js
//! const reply = await Millennium.invoke("greet", "Ann");
//! Millennium.listen("tick", (n) => console.log(n));
//! Millennium.emit("clicked", { x: 1 });
//! ```

pub mod api;
mod assets;
pub mod auth;
pub mod bridge;
pub mod csp;
#[cfg(feature = "dev")]
pub mod dev;
#[cfg(feature = "localhost-server")]
mod localhost;
pub mod protocol;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Display;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use assets::{Asset, Assets, Encoding};
/// Shows an [`Error`] with its causes and hints: `eprintln!("error: {}", Report::new(&error))`.
pub use millennium_report::Report;
use millennium_runtime::{Message, RuntimeProxy, WindowConfig};
pub use millennium_runtime::{Runtime, WindowId};
pub use millennium_runtime_webview::WebviewRuntime;
/// The updater library behind `Builder::updater`, for apps that configure it without depending on it themselves.
#[cfg(feature = "api-updater")]
pub use millennium_updater as updater;

use bridge::{Bridge, CommandFn, EventFn, Handler};
use millennium_webview_probe::guard::{self, Interaction};
use millennium_webview_probe::{Backend, Probe, WebviewMinimums, WebviewVersion};

/// Set to `never` so that a missing or too old webview is only reported on stderr, with no dialog and no offer to
/// install it (services, CI).
pub const WEBVIEW_PROMPT_ENV: &str = "MILLENNIUM_WEBVIEW_PROMPT";

/// The URL scheme the app's pages are served on.
pub const SCHEME: &str = "millennium";

/// The first page the window loads.
#[cfg(not(windows))]
pub const START_URL: &str = "millennium://localhost/";
/// The first page the window loads (WebView2 maps custom schemes to `http://<scheme>.localhost/`).
#[cfg(windows)]
pub const START_URL: &str = "http://millennium.localhost/";

/// The origin of the app's pages on the custom protocol: [`START_URL`] without its final `/`.
fn app_origin() -> &'static str {
    START_URL.strip_suffix('/').unwrap_or(START_URL)
}

/// Errors of the Millennium framework.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The runtime (windowing system or webview) failed.
    #[error(transparent)]
    Runtime(#[from] millennium_runtime::Error),
    /// An embedded asset does not inflate.
    #[error("embedded asset `{path}` is corrupt\nhint: rebuild the app")]
    CorruptAsset {
        /// The asset's URL path.
        path: String,
        /// The decompression error.
        #[source]
        source: std::io::Error,
    },
    /// The app has no `/index.html` to show.
    #[error("the app's assets have no `/index.html`\nhint: pass `millennium::include_assets!()` to `Builder::assets`")]
    NoIndex,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {reason}")]
    Random {
        /// What it reported.
        reason: String,
    },
    /// A command could not be registered.
    #[error("command `{name}` cannot be registered: {reason}")]
    InvalidCommand {
        /// The command name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// An IPC message from a page was refused (malformed, unauthenticated, replayed, reused callback).
    #[error("IPC message rejected: {reason}")]
    Rejected {
        /// Why.
        reason: String,
    },
    /// The localhost server (`Builder::localhost_server`) could not listen.
    #[cfg(feature = "localhost-server")]
    #[error("could not start the localhost server\nhint: choose another port, or 0 for any free one")]
    Localhost {
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// The updater (`Builder::updater`) could not be set up.
    #[cfg(feature = "api-updater")]
    #[error(transparent)]
    Updater(#[from] millennium_updater::Error),
    /// The system webview is missing or older than [`Builder::min_webview_version`]; the user has been told how to
    /// install it (terminal, and a dialog when possible). The app should exit non-zero.
    #[error(transparent)]
    Webview(Box<millennium_webview_probe::guard::Refusal>),
    /// [`Builder::min_webview_version`] was given something that is neither a version nor minimums per backend.
    #[error("invalid minimum webview version: {0}")]
    InvalidWebviewVersion(millennium_webview_probe::Error),
    /// An event payload could not be serialised to JSON.
    #[error("event payload for broker `{broker}` is not serialisable")]
    Payload {
        /// The broker name.
        broker: String,
        /// The serialisation error.
        #[source]
        source: serde_json::Error,
    },
}

type SendFn = dyn Fn(Message) -> Result<(), millennium_runtime::Error> + Send + Sync;

/// A handle to the running app, for commands, event listeners and other threads. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct AppHandle {
    send: Arc<SendFn>,
    outgoing: Arc<bridge::Outgoing>,
    session_names: Arc<BTreeMap<String, String>>,
}

impl std::fmt::Debug for AppHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppHandle").finish_non_exhaustive()
    }
}

impl AppHandle {
    /// Publish `payload` to the listeners of `broker` in every window.
    ///
    /// # Errors
    ///
    /// When the payload does not serialise or the event loop has ended.
    pub fn emit(&self, broker: &str, payload: impl Serialize) -> Result<(), Error> {
        let payload = to_value(broker, payload)?;
        self.send(Message::EvaluateScriptAll { script: self.outgoing.event_script(broker, &payload) })
    }

    /// Publish `payload` to the listeners of `broker` in one window.
    ///
    /// # Errors
    ///
    /// When the payload does not serialise or the event loop has ended.
    pub fn emit_to(&self, window: WindowId, broker: &str, payload: impl Serialize) -> Result<(), Error> {
        let payload = to_value(broker, payload)?;
        self.send(Message::EvaluateScript { window, script: self.outgoing.event_script(broker, &payload) })
    }

    /// Close every window and exit the process with `code`.
    ///
    /// # Errors
    ///
    /// When the event loop has already ended.
    pub fn exit(&self, code: i32) -> Result<(), Error> {
        self.send(Message::Exit { code })
    }

    /// The random name this session gives command `name` on the wire (for diagnostics and tests; pages learn it
    /// only from the bridge's initialization script).
    pub fn session_command_name(&self, name: &str) -> Option<&str> {
        self.session_names.get(name).map(String::as_str)
    }

    pub(crate) fn send(&self, message: Message) -> Result<(), Error> {
        (self.send)(message).map_err(Error::from)
    }

    /// A handle whose messages are recorded instead of sent (for tests).
    #[cfg(test)]
    pub(crate) fn recording() -> (Self, Arc<std::sync::Mutex<Vec<Message>>>) {
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = sent.clone();
        let send: Arc<SendFn> = Arc::new(move |m| {
            sink.lock().unwrap().push(m);
            Ok(())
        });
        let outgoing = Arc::new(bridge::Outgoing::new("_d".to_owned(), None));
        (Self { send, outgoing, session_names: Arc::default() }, sent)
    }
}

fn to_value(broker: &str, payload: impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(payload).map_err(|source| Error::Payload { broker: broker.to_owned(), source })
}

type SetupFn = Box<dyn FnOnce(&AppHandle)>;
type ExitFn = Box<dyn FnOnce(i32)>;

/// Configures and starts an app: one window showing the embedded `index.html`.
pub struct Builder {
    title: String,
    width: f64,
    height: f64,
    resizable: bool,
    devtools: bool,
    assets: Assets,
    policy: String,
    commands: Vec<(String, Handler)>,
    events: HashMap<String, Vec<EventFn>>,
    authenticate: bool,
    rerandomize: bool,
    setup: Vec<SetupFn>,
    on_exit: Vec<ExitFn>,
    apis: api::ApiConfig,
    min_webview: Option<WebviewVersion>,
    invalid: Option<Error>,
    #[cfg(feature = "localhost-server")]
    localhost_port: Option<u16>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("title", &self.title)
            .field("policy", &self.policy)
            .field("commands", &self.commands.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// An app titled "Millennium", 800×600, with the default CSP ([`csp::DEFAULT_POLICY`]) and no commands.
    pub fn new() -> Self {
        Self {
            title: "Millennium".to_owned(),
            width: 800.0,
            height: 600.0,
            resizable: true,
            devtools: false,
            assets: Assets::empty(),
            policy: csp::DEFAULT_POLICY.to_owned(),
            commands: Vec::new(),
            events: HashMap::new(),
            authenticate: false,
            rerandomize: false,
            setup: Vec::new(),
            on_exit: Vec::new(),
            apis: api::ApiConfig::default(),
            min_webview: None,
            invalid: None,
            #[cfg(feature = "localhost-server")]
            localhost_port: None,
        }
    }

    /// The oldest system webview the app works with. Either a bare version for the platform it runs on (WebKitGTK
    /// version on Linux, e.g. `"2.44"`; WebView2 Runtime version on Windows; macOS version on macOS), or minimums per
    /// backend, `"webkitgtk=2.44,webview2=124.0,wkwebview=13.0"` (the text form of `min-webview-version` in
    /// `Millennium.toml`), of which the running platform's entry counts: one string serves every platform, and a
    /// platform without an entry only needs the webview to be there. Without it, only the webview's presence is
    /// checked.
    ///
    /// [`Builder::run`] checks it before any window or toolkit exists: when the webview is missing or too old it
    /// tells the user which package to install (and offers to install it), and returns [`Error::Webview`].
    pub fn min_webview_version(mut self, version: &str) -> Self {
        match WebviewMinimums::parse_for(version, Backend::current()) {
            Ok(minimum) => self.min_webview = minimum,
            Err(error) => self.invalid = Some(Error::InvalidWebviewVersion(error.into())),
        }
        self
    }

    /// The window title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The window's inner size in logical pixels.
    pub fn size(mut self, width: f64, height: f64) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Whether the user may resize the window (default: yes).
    pub fn resizable(mut self, resizable: bool) -> Self {
        self.resizable = resizable;
        self
    }

    /// Allow the web inspector (default: no).
    pub fn devtools(mut self, devtools: bool) -> Self {
        self.devtools = devtools;
        self
    }

    /// The embedded assets: `millennium::include_assets!()`.
    pub fn assets(mut self, assets: Assets) -> Self {
        self.assets = assets;
        self
    }

    /// The Content-Security-Policy for every page and response, sent as given (the framework adds nothing to it).
    pub fn csp(mut self, policy: impl Into<String>) -> Self {
        self.policy = policy.into();
        self
    }

    /// Sign every message both ways with per-session keys (HMAC-SHA256, counters): tampered, forged, replayed and
    /// reordered messages are refused, by Rust and by the page's bridge. Needs `crypto.subtle` in the webview.
    pub fn authenticate_messages(mut self, on: bool) -> Self {
        self.authenticate = on;
        self
    }

    /// Give each command a new random wire name after every call (the page's bridge follows; calls of one command are
    /// then made one at a time).
    pub fn rerandomize_commands(mut self, on: bool) -> Self {
        self.rerandomize = on;
        self
    }

    /// Make `handler` callable from the page as `Millennium.invoke(name, args)`. `args` is deserialised into `A`
    /// (`null` when the page passes none); `Ok` resolves the page's promise with the serialised value, `Err` rejects
    /// it with the error's text. Handlers run on the event-loop thread, so they must be quick: long work (network,
    /// disk, computation) belongs in a [`Builder::background_command`].
    pub fn command<A, R, E, F>(self, name: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
        E: Display,
        F: Fn(&AppHandle, A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.register(name.into(), Handler::Inline, handler)
    }

    /// Like [`Builder::command`], but each call runs on a thread of its own and the page's promise settles when the
    /// handler returns; the window stays responsive meanwhile. At most [`bridge::MAX_BACKGROUND_CALLS`] run at once.
    pub fn background_command<A, R, E, F>(self, name: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
        E: Display,
        F: Fn(&AppHandle, A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.register(name.into(), Handler::Background, handler)
    }

    fn register<A, R, E, F>(mut self, name: String, kind: fn(CommandFn) -> Handler, handler: F) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
        E: Display,
        F: Fn(&AppHandle, A) -> Result<R, E> + Send + Sync + 'static,
    {
        let reason = if name.is_empty() {
            Some("the name is empty")
        } else if name.starts_with("millennium:") {
            Some("the `millennium:` prefix is reserved for built-in APIs")
        } else if self.commands.iter().any(|(n, _)| *n == name) {
            Some("a command with this name is already registered")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.invalid.get_or_insert(Error::InvalidCommand { name, reason });
            return self;
        }
        let handler: CommandFn = Arc::new(move |app, _window, args| {
            let args: A = serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
            let value = handler(app, args).map_err(|e| e.to_string())?;
            serde_json::to_value(value).map_err(|e| format!("unserialisable reply: {e}"))
        });
        self.commands.push((name, kind(handler)));
        self
    }

    /// Call `listener` with the payload of every `Millennium.emit(broker, payload)` from a page.
    pub fn on_event<F>(mut self, broker: impl Into<String>, listener: F) -> Self
    where
        F: Fn(&AppHandle, Value) + Send + Sync + 'static,
    {
        let listener: EventFn = Arc::new(move |app, _window, payload| listener(app, payload));
        self.events.entry(broker.into()).or_default().push(listener);
        self
    }

    /// Run `setup` once the window exists, just before the event loop starts (e.g. to start a thread that emits).
    pub fn setup<F>(mut self, setup: F) -> Self
    where
        F: FnOnce(&AppHandle) + 'static,
    {
        self.setup.push(Box::new(setup));
        self
    }

    /// Run `hook` with the exit code when the app quits (the last window closed, or [`AppHandle::exit`]): after the
    /// windows are gone, on the main thread, just before the process exits. Hooks run in the order given, before the
    /// framework's own (an update scheduled for exit is installed last).
    pub fn on_exit<F>(mut self, hook: F) -> Self
    where
        F: FnOnce(i32) + 'static,
    {
        self.on_exit.push(Box::new(hook));
        self
    }

    /// The directory `Millennium.fs.readTextFile` may read from (nothing without one).
    #[cfg(feature = "api-fs")]
    pub fn fs_scope(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.apis.fs_scope = Some(dir.into());
        self
    }

    /// Serve the page over `http://127.0.0.1:<port>/` (`0`: any free port) instead of the custom protocol, for pages
    /// that need a real `http:` origin. Same assets, CSP and bridge; the listener is loopback-only and refuses other
    /// `Host`s (DNS rebinding); commands stay on the webview's IPC channel.
    #[cfg(feature = "localhost-server")]
    pub fn localhost_server(mut self, port: u16) -> Self {
        self.localhost_port = Some(port);
        self
    }

    /// The updater behind `Millennium.updater` (see [`api::updater`]). It gets a Millennium app's stricter defaults
    /// for whatever `updater` leaves unset ([`UpdaterBuilder::millennium_defaults`]): a release's signature must
    /// carry its version (`millennium-sign sign --version`), so a server cannot offer an old build as a new one;
    /// `require_signed_version(false)` opts out.
    ///
    /// [`UpdaterBuilder::millennium_defaults`]: millennium_updater::UpdaterBuilder::millennium_defaults
    #[cfg(feature = "api-updater")]
    pub fn updater(mut self, updater: millennium_updater::UpdaterBuilder) -> Self {
        self.apis.updater = Some(updater);
        self
    }

    /// When the runtime checks for updates by itself, on a thread of its own (see [`api::updater::UpdateChecks`]):
    /// on by default once there is an [`Builder::updater`], `UpdateChecks::off()` turns them off.
    #[cfg(feature = "api-updater")]
    pub fn update_checks(mut self, checks: api::updater::UpdateChecks) -> Self {
        self.apis.update_checks = checks;
        self
    }

    /// Open the window and run the app on the default runtime (the system webview). Returns only on failure.
    ///
    /// First, before any toolkit is initialised, the system webview is probed: missing or older than
    /// [`Builder::min_webview_version`] is reported to the user (see [`Error::Webview`]) instead of a toolkit panic.
    /// A binary linked against WebKitGTK cannot even be loaded without it: start such apps through
    /// `millennium-webview-probe launch` (or a package that depends on WebKitGTK) for that case.
    ///
    /// # Errors
    ///
    /// When the webview is missing or too old, there is no display, the webview fails to start, or the
    /// configuration is invalid.
    pub fn run(self) -> Result<Infallible, Error> {
        if let Some(error) = self.invalid {
            return Err(error);
        }
        let interaction = match std::env::var(WEBVIEW_PROMPT_ENV) {
            Ok(value) if value == "never" => Interaction::Never,
            _ => Interaction::Ask,
        };
        guard::enforce(&self.title, self.min_webview.as_ref(), Probe::detect(), interaction).map_err(Error::Webview)?;
        self.run_on::<WebviewRuntime>()
    }

    /// Like [`Builder::run`], on another [`Runtime`].
    ///
    /// # Errors
    ///
    /// As [`Builder::run`].
    pub fn run_on<R: Runtime>(self) -> Result<Infallible, Error> {
        if let Some(error) = self.invalid {
            return Err(error);
        }
        if self.assets.get("/index.html").is_none() {
            return Err(Error::NoIndex);
        }
        let mut runtime = R::new()?;
        let api::Builtins { mut commands, bindings, on_first_message, setup: api_setup, on_exit: api_exit } =
            api::builtins(&self.apis)?;
        commands.extend(self.commands);
        let site = Arc::new(protocol::Site::new(self.assets, &self.policy));
        #[cfg(feature = "localhost-server")]
        let localhost = match self.localhost_port {
            Some(port) => Some(localhost::start(site.clone(), port).map_err(|source| Error::Localhost { source })?),
            None => None,
        };
        #[cfg(feature = "localhost-server")]
        let origin = localhost.as_ref().map_or_else(|| app_origin().to_owned(), |l| l.origin.clone());
        #[cfg(not(feature = "localhost-server"))]
        let origin = app_origin().to_owned();
        let url = format!("{origin}/");
        let bridge =
            Arc::new(Bridge::new(commands, self.events, bindings, self.authenticate, self.rerandomize, origin)?);
        if let Some(hook) = on_first_message {
            bridge.on_first_message(hook);
        }

        let proxy = runtime.proxy();
        let app = AppHandle {
            send: Arc::new(move |message| proxy.send(message)),
            outgoing: bridge.outgoing(),
            session_names: Arc::new(bridge.session_names().clone()),
        };
        let ipc_app = app.clone();
        let ipc_bridge = bridge.clone();
        #[cfg(feature = "dev")]
        let protocol = dev::protocol(site);
        #[cfg(not(feature = "dev"))]
        let protocol: millennium_runtime::ProtocolHandler = Arc::new(move |request| site.serve(request));
        runtime.create_window(WindowConfig {
            label: "main".to_owned(),
            title: self.title,
            width: self.width,
            height: self.height,
            resizable: self.resizable,
            scheme: SCHEME.to_owned(),
            protocol,
            url,
            ipc: Box::new(move |window, message| ipc_bridge.receive(&ipc_app, window, &message)),
            devtools: self.devtools,
            // The bridge and its secrets reach the page only this way, never in a response.
            init_script: Some(bridge.init_script()),
        })?;
        for setup in self.setup.into_iter().chain(api_setup) {
            setup(&app);
        }
        #[cfg(feature = "dev")]
        dev::reload_on_request(&app);
        let hooks: Vec<ExitFn> = self.on_exit.into_iter().chain(api_exit).collect();
        runtime.run(Box::new(move |code| {
            for hook in hooks {
                hook(code);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_duplicate_and_empty_command_names_are_refused() {
        let ok = |_: &AppHandle, (): ()| Ok::<_, String>(());
        for builder in [
            Builder::new().command("millennium:fs.readTextFile", ok),
            Builder::new().command("a", ok).command("a", ok),
            Builder::new().command("", ok),
        ] {
            assert!(matches!(builder.run(), Err(Error::InvalidCommand { .. })));
        }
    }

    #[test]
    fn the_minimum_webview_is_the_running_platforms_entry() {
        let min = |text: &str| Builder::new().min_webview_version(text).min_webview.map(|v| v.to_string());
        assert_eq!(min("2.44").as_deref(), Some("2.44"));
        let here = match Backend::current() {
            Backend::Webkitgtk => "2.44",
            Backend::Webview2 => "124.0",
            Backend::Wkwebview => "13.0",
        };
        assert_eq!(min("webkitgtk=2.44,webview2=124.0,wkwebview=13.0").as_deref(), Some(here));
        // No entry for this platform: only the webview's presence is checked.
        let elsewhere = Backend::ALL.into_iter().find(|b| *b != Backend::current()).unwrap();
        assert_eq!(min(&format!("{}=999.0", elsewhere.id())), None);
        for bad in ["2.x", "webkitgtk=2.x", "gecko=1", "webkitgtk=2.44,webkitgtk=2.46", "2.44,"] {
            let builder = Builder::new().min_webview_version(bad);
            assert!(matches!(builder.invalid, Some(Error::InvalidWebviewVersion(_))), "{bad}");
        }
    }

    #[test]
    fn an_app_without_index_html_is_refused_before_opening_a_window() {
        assert!(matches!(Builder::new().run(), Err(Error::NoIndex)));
    }

    #[test]
    fn emit_posts_an_event_script() {
        let (app, sent) = AppHandle::recording();
        app.emit("tick", 5).unwrap();
        assert_eq!(
            *sent.lock().unwrap(),
            vec![Message::EvaluateScriptAll {
                script: bridge::Outgoing::new("_d".to_owned(), None).event_script("tick", &Value::from(5))
            }]
        );
    }

    #[test]
    fn only_enabled_apis_are_compiled_in() {
        let api::Builtins { commands, bindings, .. } = api::builtins(&api::ApiConfig::default()).unwrap();
        let names: Vec<_> = commands.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.contains(&"millennium:fs.readTextFile"), cfg!(feature = "api-fs"));
        assert_eq!(bindings.contains("api.fs"), cfg!(feature = "api-fs"));
        assert_eq!(names.contains(&"millennium:window.setTitle"), cfg!(feature = "api-window"));
        assert_eq!(bindings.contains("api.window"), cfg!(feature = "api-window"));
        assert_eq!(names.contains(&"millennium:updater.check"), cfg!(feature = "api-updater"));
        assert_eq!(bindings.contains("api.updater"), cfg!(feature = "api-updater"));
    }
}
