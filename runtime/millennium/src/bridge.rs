//! The IPC bridge between the page and Rust.
//!
//! **The bootstrap.** The page side of the bridge (`bootstrap.js`) holds the session's secrets: the command names, the
//! event token and, with authentication, the message keys. It reaches the page only as the webview's initialization
//! script (`Bridge::init_script`, crate-private): run in the app's top-level page at document start, before any script
//! of the page, and never part of a response, so a script of the page (or a frame of the same origin) cannot `fetch`
//! it. It keeps the secrets in its closure and takes every built-in it uses before the page's scripts run (see the
//! script's header).
//!
//! **Functional ASLR.** Every command gets a random session name (`c` + 24 hex digits) at launch. The page only ever
//! learns the mapping from the bootstrap, and the wire carries only the random names, so a call by a guessed name or
//! by a name from an earlier launch matches nothing and is rejected and logged. Optionally
//! ([`crate::Builder::rerandomize_commands`]) a command gets a new name after every call, sent back with its reply;
//! the page's bridge then makes calls of one command one at a time.
//!
//! **Kamikaze callbacks.** Each call registers a one-shot reply function on `window` under a fresh random handle
//! (`_` + 32 hex digits). The reply script calls it once; the function deletes itself before resolving. Rust also
//! refuses a handle it has seen before, so a handle cannot be reused for a second reply.
//!
//! **Events.** Named brokers: the page calls `Millennium.listen(broker, fn)` / `Millennium.emit(broker, payload)`,
//! Rust calls `AppHandle::emit` / `Builder::on_event`. Rust reaches the page's listeners through a dispatcher stored on
//! `window` under a random, non-writable name. An event from the page carries the session's event token (`e` + 24 hex
//! digits, known only to the bootstrap), so that, like a call, it needs a secret of the session even without message
//! authentication: an event without it is rejected and logged.
//!
//! **Origin.** Messages whose URL (as the platform reports it, see [`IpcMessage::url`]) is not of the app's origin are
//! rejected and logged.
//!
//! **Background commands.** A command registered with [`crate::Builder::background_command`] (and the built-in APIs
//! that touch the network or the disk) runs on a thread of its own and replies when done, so the window stays
//! responsive; at most [`MAX_BACKGROUND_CALLS`] run at once, further calls are refused.
//!
//! Wire format (page → Rust): `{"page", "seq", "body", "mac"}` (see [`crate::auth`]) whose `body` is
//! `{"t":"invoke","cmd","cb","args"}` or `{"t":"emit","token","broker","payload"}`.
//!
//! Rust → page: a reply calls `window[cb](ok, text, next, mac)` and an event calls
//! `window[dispatch](broker, text, seq, mac)`, `text` being the JSON of the value. With message authentication on,
//! `mac` is the HMAC of `rust\nreply\n<cb>\n<1|0>\n<next>\n<text>` or `rust\nevent\n<seq>\n<broker>\n<text>` with the
//! session's Rust → page key (the page → Rust key is another one; the page can only verify with the first and only
//! sign with the second), and the page drops anything whose MAC fails (a script in the page forging a reply or event
//! through the handles it can see on `window`) and events whose `seq` does not grow (replayed or reordered).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;

use millennium_runtime::{IpcMessage, Message, WindowId};

use crate::auth::{Authenticator, hex, outgoing_mac};
use crate::{AppHandle, Error};

/// A command as registered: gets the app, the calling window and the JSON arguments.
pub(crate) type CommandFn = Arc<dyn Fn(&AppHandle, WindowId, Value) -> Result<Value, String> + Send + Sync>;
/// How a command runs.
#[derive(Clone)]
pub(crate) enum Handler {
    /// On the event-loop thread, replying at once.
    Inline(CommandFn),
    /// On a thread of its own, replying when done.
    Background(CommandFn),
}

/// Most background commands running at once.
pub const MAX_BACKGROUND_CALLS: usize = 32;

/// Hook run once, on the first message a page sends that passes every check.
pub(crate) type FirstMessageFn = Box<dyn FnOnce(&AppHandle) + Send>;

/// An event listener on the Rust side.
pub(crate) type EventFn = Arc<dyn Fn(&AppHandle, WindowId, Value) + Send + Sync>;

const BOOTSTRAP_TEMPLATE: &str = include_str!("bootstrap.js");

pub(crate) struct Bridge {
    /// Session name → (real name, handler).
    commands: Mutex<HashMap<String, (String, Handler)>>,
    /// Give a command a new session name after each call.
    rerandomize: bool,
    /// Real name → session name, as given to the page.
    session_names: BTreeMap<String, String>,
    events: HashMap<String, Vec<EventFn>>,
    outgoing: Arc<Outgoing>,
    api_bindings: String,
    /// The token every event from the page must carry.
    event_token: String,
    /// The origin of the app's pages (`millennium://localhost`, `http://127.0.0.1:<port>`): messages from elsewhere
    /// are refused.
    origin: String,
    auth: Option<Mutex<Authenticator>>,
    used_handles: Mutex<HashSet<String>>,
    /// Background commands running.
    in_flight: Arc<AtomicUsize>,
    first_message: Mutex<Option<FirstMessageFn>>,
}

/// What Rust sends to pages, signed when messages are authenticated (see the module docs).
pub(crate) struct Outgoing {
    dispatch: String,
    key: Option<[u8; 32]>,
    event_seq: AtomicU64,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing").field("dispatch", &self.dispatch).field("signed", &self.key.is_some()).finish()
    }
}

impl Outgoing {
    pub(crate) fn new(dispatch: String, key: Option<[u8; 32]>) -> Self {
        Self { dispatch, key, event_seq: AtomicU64::new(0) }
    }

    fn mac(&self, text: &str) -> String {
        self.key.as_ref().map_or_else(|| "null".to_owned(), |key| format!("\"{}\"", outgoing_mac(key, text)))
    }

    /// The script that answers callback `cb`.
    pub(crate) fn reply_script(&self, cb: &str, result: &Result<Value, String>, next: Option<&str>) -> String {
        let (ok, value) = match result {
            Ok(value) => (true, serde_json::to_string(value)),
            Err(message) => (false, serde_json::to_string(message)),
        };
        let text = value.unwrap_or_else(|_| "null".to_owned());
        let mac = self.mac(&format!("reply\n{cb}\n{}\n{}\n{text}", u8::from(ok), next.unwrap_or("")));
        let text = js_string(&text);
        let next = next.map_or_else(|| "null".to_owned(), |n| format!("\"{n}\""));
        format!("(function(){{var f=window[\"{cb}\"];if(typeof f===\"function\")f({ok},{text},{next},{mac});}})();")
    }

    /// The script that publishes `payload` to the page's listeners of `broker`.
    pub(crate) fn event_script(&self, broker: &str, payload: &Value) -> String {
        let seq = self.event_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let text = serde_json::to_string(payload).unwrap_or_else(|_| "null".to_owned());
        let mac = self.mac(&format!("event\n{seq}\n{broker}\n{text}"));
        let (dispatch, broker, text) = (&self.dispatch, js_string(broker), js_string(&text));
        format!(
            "(function(){{var d=window[\"{dispatch}\"];if(typeof d===\"function\")d({broker},{text},{seq},{mac});}})();"
        )
    }
}

/// `text` as a JavaScript string literal (JSON string syntax is a subset of it).
fn js_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").field("session_names", &self.session_names).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope {
    page: String,
    seq: u64,
    body: String,
    mac: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Body {
    Invoke {
        cmd: String,
        cb: String,
        args: Value,
    },
    Emit {
        broker: String,
        payload: Value,
        #[serde(default)]
        token: Option<String>,
    },
}

/// A fresh random command name: `c` + 24 hex digits (96 bits).
fn session_name() -> Result<String, Error> {
    Ok(format!("c{}", random_hex(12)?))
}

/// A random lower-case hex string of `bytes` random bytes.
pub(crate) fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| Error::Random { reason: e.to_string() })?;
    Ok(hex(&buffer))
}

impl Bridge {
    /// A bridge for pages of `origin` (scheme and authority, no trailing `/`).
    pub(crate) fn new(
        commands: Vec<(String, Handler)>,
        events: HashMap<String, Vec<EventFn>>,
        api_bindings: String,
        authenticate: bool,
        rerandomize: bool,
        origin: String,
    ) -> Result<Self, Error> {
        let mut by_session = HashMap::new();
        let mut session_names = BTreeMap::new();
        for (name, handler) in commands {
            let session = session_name()?;
            session_names.insert(name.clone(), session.clone());
            by_session.insert(session, (name, handler));
        }
        // One key for each direction, so that the page holds the Rust → page key only as a verify-only CryptoKey.
        let (page_key, rust_key) = if authenticate { (Some(random_key()?), Some(random_key()?)) } else { (None, None) };
        Ok(Self {
            commands: Mutex::new(by_session),
            rerandomize,
            session_names,
            events,
            outgoing: Arc::new(Outgoing::new(format!("_{}", random_hex(16)?), rust_key)),
            api_bindings,
            event_token: format!("e{}", random_hex(12)?),
            origin,
            auth: page_key.map(|key| Mutex::new(Authenticator::new(key))),
            used_handles: Mutex::new(HashSet::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            first_message: Mutex::new(None),
        })
    }

    /// What this session sends to pages.
    pub(crate) fn outgoing(&self) -> Arc<Outgoing> {
        self.outgoing.clone()
    }

    /// Runs `hook` once, on the first message a page sends that passes every check (the app demonstrably works).
    pub(crate) fn on_first_message(&self, hook: FirstMessageFn) {
        *lock(&self.first_message) = Some(hook);
    }

    /// This session's command names: real name → random name.
    pub(crate) fn session_names(&self) -> &BTreeMap<String, String> {
        &self.session_names
    }

    /// The webview's initialization script for this session: the bootstrap, run only in a top-level page of the app's
    /// origin (the webview runs it at the start of every document; WebView2 in frames too).
    pub(crate) fn init_script(&self) -> String {
        let names = serde_json::to_string(&self.session_names).unwrap_or_else(|_| "{}".to_owned());
        let keys = match (&self.auth, &self.outgoing.key) {
            (Some(auth), Some(rust_key)) => {
                format!("{{\"page\": \"{}\", \"rust\": \"{}\"}}", lock(auth).key_hex(), hex(rust_key))
            }
            _ => "null".to_owned(),
        };
        let bootstrap = BOOTSTRAP_TEMPLATE
            .replace("__NAMES__", &names)
            .replace("__KEYS__", &keys)
            .replace("__DISPATCH__", &js_string(&self.outgoing.dispatch))
            .replace("__TOKEN__", &js_string(&self.event_token))
            .replace("__APIS__", &self.api_bindings)
            .replace("__ROTATE__", if self.rerandomize { "true" } else { "false" });
        let origin = js_string(&self.origin);
        format!("if (window === window.top && window.location.origin === {origin}) {{\n{bootstrap}}}\n")
    }

    /// Handle one raw message from `window`; returns the reply script to evaluate in that window, if any.
    pub(crate) fn handle(&self, app: &AppHandle, window: WindowId, raw: &str) -> Result<Option<String>, Error> {
        let envelope: Envelope =
            serde_json::from_str(raw).map_err(|e| Error::Rejected { reason: format!("malformed envelope: {e}") })?;
        if let Some(auth) = &self.auth {
            let verified = match envelope.mac.as_deref() {
                Some(mac) => lock(auth).verify(window, &envelope.page, envelope.seq, &envelope.body, mac),
                None => Err(crate::auth::AuthError::MissingMac),
            };
            verified.map_err(|e| Error::Rejected { reason: e.to_string() })?;
        }
        let body: Body = serde_json::from_str(&envelope.body)
            .map_err(|e| Error::Rejected { reason: format!("malformed message: {e}") })?;
        if let Body::Emit { token, .. } = &body
            && token.as_deref() != Some(self.event_token.as_str())
        {
            return Err(Error::Rejected { reason: "an event without this session's token".to_owned() });
        }
        let first_message = lock(&self.first_message).take();
        if let Some(hook) = first_message {
            hook(app);
        }
        match body {
            Body::Invoke { cmd, cb, args } => {
                if !is_handle(&cb) {
                    return Err(Error::Rejected { reason: "malformed callback handle".to_owned() });
                }
                if !lock(&self.used_handles).insert(cb.clone()) {
                    return Err(Error::Rejected { reason: format!("callback handle `{cb}` already used") });
                }
                let found = {
                    let mut commands = lock(&self.commands);
                    match commands.remove(&cmd) {
                        Some(entry) if self.rerandomize => {
                            let next = session_name()?;
                            let handler = entry.1.clone();
                            let name = entry.0.clone();
                            commands.insert(next.clone(), entry);
                            Some((name, handler, Some(next)))
                        }
                        Some(entry) => {
                            let found = (entry.0.clone(), entry.1.clone(), None);
                            commands.insert(cmd.clone(), entry);
                            Some(found)
                        }
                        None => None,
                    }
                };
                let Some((name, handler, next)) = found else {
                    tracing::warn!(
                        session_name = %cmd,
                        %window,
                        "rejected a call by an unknown command name (stale or guessed)"
                    );
                    let result = Err(format!("unknown command `{cmd}`"));
                    return Ok(Some(self.outgoing.reply_script(&cb, &result, None)));
                };
                tracing::debug!(command = %name, %window, "invoke");
                match handler {
                    Handler::Inline(handler) => {
                        Ok(Some(self.outgoing.reply_script(&cb, &handler(app, window, args), next.as_deref())))
                    }
                    Handler::Background(handler) => {
                        match self.spawn(app, window, handler, args, cb.clone(), next.clone()) {
                            Ok(()) => Ok(None),
                            Err(reason) => Ok(Some(self.outgoing.reply_script(&cb, &Err(reason), next.as_deref()))),
                        }
                    }
                }
            }
            Body::Emit { broker, payload, .. } => {
                match self.events.get(&broker) {
                    Some(listeners) => {
                        for listener in listeners {
                            listener(app, window, payload.clone());
                        }
                    }
                    None => tracing::debug!(%broker, "event without a listener"),
                }
                Ok(None)
            }
        }
    }

    /// Runs a background command on a thread of its own; its reply is sent when it returns.
    fn spawn(
        &self,
        app: &AppHandle,
        window: WindowId,
        handler: CommandFn,
        args: Value,
        cb: String,
        next: Option<String>,
    ) -> Result<(), String> {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_BACKGROUND_CALLS {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(format!("too many calls in progress (at most {MAX_BACKGROUND_CALLS}); try again"));
        }
        let (app, outgoing, in_flight) = (app.clone(), self.outgoing.clone(), self.in_flight.clone());
        std::thread::Builder::new()
            .name("millennium-command".to_owned())
            .spawn(move || {
                let result = handler(&app, window, args);
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let script = outgoing.reply_script(&cb, &result, next.as_deref());
                if let Err(error) = app.send(Message::EvaluateScript { window, script }) {
                    tracing::warn!(%error, "could not deliver a reply");
                }
            })
            .map(drop)
            .map_err(|e| {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                format!("could not start the command: {e}")
            })
    }

    /// Handle one message from `window`: refuse it when it does not come from the app's origin, log a rejection,
    /// post the reply through `app`.
    pub(crate) fn receive(&self, app: &AppHandle, window: WindowId, message: &IpcMessage) {
        let result = if same_origin(&message.url, &self.origin) {
            self.handle(app, window, &message.body)
        } else {
            Err(Error::Rejected {
                reason: format!("message from `{}`, outside the app's origin `{}`", message.url, self.origin),
            })
        };
        match result {
            Ok(Some(script)) => {
                if let Err(error) = app.send(Message::EvaluateScript { window, script }) {
                    tracing::warn!(%error, "could not deliver a reply");
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%window, "{error}"),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `url` is of `origin` (`scheme://authority`, which must be followed by a path, query, fragment or nothing).
fn same_origin(url: &str, origin: &str) -> bool {
    url.strip_prefix(origin).is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

fn random_key() -> Result<[u8; 32], Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Random { reason: e.to_string() })?;
    Ok(key)
}

fn is_handle(cb: &str) -> bool {
    cb.len() == 33 && cb.starts_with('_') && cb[1..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AppHandle;

    const ORIGIN: &str = "millennium://localhost";

    fn bridge(authenticate: bool) -> Bridge {
        let greet: CommandFn = Arc::new(|_, _, args| Ok(Value::String(format!("hi {}", args["name"]))));
        let commands = vec![("greet".to_owned(), Handler::Inline(greet))];
        Bridge::new(commands, HashMap::new(), String::new(), authenticate, false, ORIGIN.to_owned()).unwrap()
    }

    fn envelope(body: &Value, seq: u64) -> String {
        serde_json::json!({"page": "p", "seq": seq, "body": body.to_string(), "mac": null}).to_string()
    }

    fn handle(n: u8) -> String {
        format!("_{}", format!("{n:02x}").repeat(16))
    }

    #[test]
    fn names_are_random_per_session() {
        let a = bridge(false);
        let b = bridge(false);
        let name_a = &a.session_names()["greet"];
        assert_eq!(name_a.len(), 25);
        assert_ne!(name_a, &b.session_names()["greet"]);
        assert_ne!(name_a, "greet");
        assert_ne!(a.outgoing.dispatch, b.outgoing.dispatch);
        assert!(a.init_script().contains(name_a.as_str()));
        assert!(!b.init_script().contains(name_a.as_str()));
        assert_ne!(a.event_token, b.event_token);
    }

    #[test]
    fn a_call_by_session_name_is_answered_through_its_callback() {
        let (app, _sent) = AppHandle::recording();
        let b = bridge(false);
        let cmd = b.session_names()["greet"].clone();
        let body = serde_json::json!({"t": "invoke", "cmd": cmd, "cb": handle(1), "args": {"name": "Ann"}});
        let reply = b.handle(&app, WindowId(0), &envelope(&body, 1)).unwrap().unwrap();
        assert_eq!(
            reply,
            format!(
                "(function(){{var f=window[\"{}\"];if(typeof f===\"function\")f(true,\"\\\"hi \\\\\\\"Ann\\\\\\\"\\\"\",null,null);}})();",
                handle(1)
            )
        );
    }

    #[test]
    fn stale_or_guessed_names_are_rejected() {
        let (app, _sent) = AppHandle::recording();
        let old = bridge(false);
        let new = bridge(false);
        for (i, name) in ["greet".to_owned(), old.session_names()["greet"].clone()].into_iter().enumerate() {
            let body = serde_json::json!({"t": "invoke", "cmd": name, "cb": handle(i as u8), "args": null});
            let reply = new.handle(&app, WindowId(0), &envelope(&body, 1)).unwrap().unwrap();
            assert!(reply.contains("f(false,\"\\\"unknown command"), "{reply}");
        }
    }

    #[test]
    fn a_callback_handle_works_once() {
        let (app, _sent) = AppHandle::recording();
        let b = bridge(false);
        let body = serde_json::json!({"t": "invoke", "cmd": b.session_names()["greet"], "cb": handle(9), "args": {}});
        assert!(b.handle(&app, WindowId(0), &envelope(&body, 1)).unwrap().is_some());
        let again = b.handle(&app, WindowId(0), &envelope(&body, 2)).unwrap_err();
        assert!(again.to_string().contains("already used"), "{again}");
    }

    #[test]
    fn callback_handles_must_be_random_handles() {
        let (app, _sent) = AppHandle::recording();
        let b = bridge(false);
        for cb in ["alert", "_123", "_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "\"];alert(1);//"] {
            let body = serde_json::json!({"t": "invoke", "cmd": b.session_names()["greet"], "cb": cb, "args": {}});
            assert!(b.handle(&app, WindowId(0), &envelope(&body, 1)).is_err(), "{cb}");
        }
    }

    #[test]
    fn authenticated_bridge_rejects_unsigned_forged_and_replayed_messages() {
        let (app, _sent) = AppHandle::recording();
        let b = bridge(true);
        let body = serde_json::json!({"t": "invoke", "cmd": b.session_names()["greet"], "cb": handle(3), "args": {}})
            .to_string();
        assert!(b.handle(&app, WindowId(0), &envelope(&serde_json::from_str(&body).unwrap(), 1)).is_err());
        let mac = lock(b.auth.as_ref().unwrap()).sign("p", 1, &body);
        let signed = serde_json::json!({"page": "p", "seq": 1, "body": body, "mac": mac}).to_string();
        let forged = signed.replace("\\\"args\\\":{}", "\\\"args\\\":{\\\"x\\\":1}");
        assert_ne!(forged, signed);
        assert!(b.handle(&app, WindowId(0), &forged).unwrap_err().to_string().contains("MAC mismatch"));
        assert!(b.handle(&app, WindowId(0), &signed).unwrap().is_some());
        assert!(b.handle(&app, WindowId(0), &signed).unwrap_err().to_string().contains("replayed"));
    }

    #[test]
    fn events_reach_rust_listeners() {
        let (app, _sent) = AppHandle::recording();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let listener: EventFn = Arc::new(move |_, _, payload| sink.lock().unwrap().push(payload));
        let events = HashMap::from([("clicks".to_owned(), vec![listener])]);
        let b = Bridge::new(Vec::new(), events, String::new(), false, false, ORIGIN.to_owned()).unwrap();
        let body = serde_json::json!({"t": "emit", "broker": "clicks", "payload": 3, "token": b.event_token});
        assert!(b.handle(&app, WindowId(0), &envelope(&body, 1)).unwrap().is_none());
        assert_eq!(*got.lock().unwrap(), vec![Value::from(3)]);
        // Without the session's token (missing, guessed, another session's), an event is refused.
        let other = Bridge::new(Vec::new(), HashMap::new(), String::new(), false, false, ORIGIN.to_owned()).unwrap();
        for token in [Value::Null, Value::from("e000000000000000000000000"), Value::from(other.event_token)] {
            let body = serde_json::json!({"t": "emit", "broker": "clicks", "payload": 4, "token": token});
            let error = b.handle(&app, WindowId(0), &envelope(&body, 1)).unwrap_err();
            assert!(error.to_string().contains("an event without this session's token"), "{error}");
        }
        assert_eq!(*got.lock().unwrap(), vec![Value::from(3)]);
    }

    #[test]
    fn rerandomised_names_change_after_each_call() {
        let (app, _sent) = AppHandle::recording();
        let greet: CommandFn = Arc::new(|_, _, _| Ok(Value::Null));
        let commands = vec![("greet".to_owned(), Handler::Inline(greet))];
        let b = Bridge::new(commands, HashMap::new(), String::new(), false, true, ORIGIN.to_owned()).unwrap();
        assert!(b.init_script().contains("var rotating = true;"));
        let first = b.session_names()["greet"].clone();
        let call = |cmd: &str, n: u8| {
            let body = serde_json::json!({"t": "invoke", "cmd": cmd, "cb": handle(n), "args": null});
            b.handle(&app, WindowId(0), &envelope(&body, 1)).unwrap().unwrap()
        };
        let reply = call(&first, 1);
        let next = reply.split("f(true,\"null\",\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert!(next.len() == 25 && next != first, "{reply}");
        // The old name is dead; the new one works once more and rotates again.
        assert!(call(&first, 2).contains("f(false,\"\\\"unknown command"));
        let reply = call(&next, 3);
        assert!(reply.contains("f(true,\"null\",\"c") && !reply.contains(&next), "{reply}");
    }

    #[test]
    fn event_script_quotes_its_inputs_and_counts() {
        let outgoing = Outgoing::new("_d".to_owned(), None);
        let script = outgoing.event_script("a\"b", &serde_json::json!({"k": "</script>"}));
        assert_eq!(
            script,
            r#"(function(){var d=window["_d"];if(typeof d==="function")d("a\"b","{\"k\":\"</script>\"}",1,null);})();"#
        );
        assert!(outgoing.event_script("b", &Value::Null).contains(",2,null)"));
    }

    #[test]
    fn authenticated_replies_and_events_carry_a_mac_over_everything_they_say() {
        let key = [7u8; 32];
        let outgoing = Outgoing::new("_d".to_owned(), Some(key));
        let reply = outgoing.reply_script(&handle(1), &Ok(Value::from("hi")), Some("cnext"));
        let expected = outgoing_mac(&key, &format!("reply\n{}\n1\ncnext\n\"hi\"", handle(1)));
        assert!(reply.ends_with(&format!("f(true,\"\\\"hi\\\"\",\"cnext\",\"{expected}\");}})();")), "{reply}");
        // Another value, outcome, handle or next name gives another MAC.
        let other = outgoing.reply_script(&handle(1), &Err("hi".to_owned()), Some("cnext"));
        assert!(!other.contains(&expected));
        let event = outgoing.event_script("tick", &Value::from(5));
        assert!(
            event.ends_with(&format!("d(\"tick\",\"5\",1,\"{}\");}})();", outgoing_mac(&key, "event\n1\ntick\n5")))
        );
    }

    #[test]
    fn background_commands_reply_later_from_another_thread() {
        let (app, sent) = AppHandle::recording();
        let slow: CommandFn = Arc::new(|_, _, _| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(Value::from(std::thread::current().name().unwrap_or("?")))
        });
        let b = Bridge::new(
            vec![("slow".to_owned(), Handler::Background(slow))],
            HashMap::new(),
            String::new(),
            false,
            false,
            ORIGIN.to_owned(),
        )
        .unwrap();
        let body = serde_json::json!({"t": "invoke", "cmd": b.session_names()["slow"], "cb": handle(4), "args": null});
        assert!(b.handle(&app, WindowId(0), &envelope(&body, 1)).unwrap().is_none(), "no reply at once");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while sent.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no reply from the background command");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let Message::EvaluateScript { window, script } = &sent.lock().unwrap()[0] else { panic!("not a reply") };
        assert_eq!(*window, WindowId(0));
        assert!(script.contains("f(true,\"\\\"millennium-command\\\"\",null,null)"), "{script}");
    }

    #[test]
    fn the_first_message_hook_runs_once_after_the_checks() {
        let (app, _sent) = AppHandle::recording();
        let b = bridge(false);
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        b.on_first_message(Box::new(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(b.handle(&app, WindowId(0), "not json").is_err());
        assert_eq!(runs.load(Ordering::SeqCst), 0, "a malformed message does not count");
        let body = serde_json::json!({"t": "emit", "broker": "x", "payload": 0});
        assert!(b.handle(&app, WindowId(0), &envelope(&body, 1)).is_err());
        assert_eq!(runs.load(Ordering::SeqCst), 0, "an event without the session's token does not count");
        for n in 1..=3 {
            let body = serde_json::json!({"t": "emit", "broker": "x", "payload": n, "token": b.event_token});
            b.handle(&app, WindowId(0), &envelope(&body, n)).unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_init_script_holds_the_secrets_and_runs_only_in_a_top_level_page_of_the_origin() {
        let b = bridge(true);
        let script = b.init_script();
        assert!(
            script
                .starts_with("if (window === window.top && window.location.origin === \"millennium://localhost\") {\n"),
            "{script}"
        );
        assert!(script.ends_with("})();\n}\n"), "{script}");
        let page_key = lock(b.auth.as_ref().unwrap()).key_hex();
        let rust_key = hex(b.outgoing.key.as_ref().unwrap());
        assert_ne!(page_key, rust_key, "one key for each direction");
        for secret in [&b.session_names["greet"], &b.event_token, &b.outgoing.dispatch, &page_key, &rust_key] {
            assert!(script.contains(secret.as_str()), "{secret}");
        }
        assert!(!script.contains("__"), "a placeholder is left: {script}");
        assert!(bridge(false).init_script().contains("var keys = null;"));
        let localhost =
            Bridge::new(Vec::new(), HashMap::new(), String::new(), false, false, "http://127.0.0.1:4321".into());
        assert!(localhost.unwrap().init_script().contains("window.location.origin === \"http://127.0.0.1:4321\")"));
    }

    #[test]
    fn messages_from_outside_the_apps_origin_are_refused() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let count: CommandFn = Arc::new(move |_, _, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Value::Null)
        });
        let commands = vec![("count".to_owned(), Handler::Inline(count))];
        let b = Bridge::new(commands, HashMap::new(), String::new(), false, false, ORIGIN.to_owned()).unwrap();
        let (app, sent) = AppHandle::recording();
        let mut n = 0;
        let mut post = |url: &str| {
            n += 1;
            let body =
                serde_json::json!({"t": "invoke", "cmd": b.session_names["count"], "cb": handle(n), "args": null});
            b.receive(&app, WindowId(0), &IpcMessage { url: url.to_owned(), body: envelope(&body, n.into()) });
            calls.load(Ordering::SeqCst)
        };
        for url in [
            "data:text/html,x",
            "about:blank",
            "millennium://localhost.evil.example/",
            "millennium://localhostx/",
            "http://millennium://localhost/",
            "http://127.0.0.1:4321/",
            "",
        ] {
            assert_eq!(post(url), 0, "{url}");
        }
        assert!(sent.lock().unwrap().is_empty(), "no reply to a refused message");
        for (i, url) in
            ["millennium://localhost/", "millennium://localhost/sub/page.html?x#y", ORIGIN].into_iter().enumerate()
        {
            assert_eq!(post(url), i + 1, "{url}");
        }
    }
}
