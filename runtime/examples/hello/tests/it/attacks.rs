//! Attacks on the IPC bridge by a script in the page and by frames, performed in a real WebKitGTK window under Xvfb
//! (`dist/attacks.js`, `dist/frame.html`): what the page reports it could do, and which events Rust accepted. The
//! runtime README's security model lists each attack with its defence and the test here that performs it.
//!
//! The app runs with a policy that lets frames load (`frame-src 'self' data:`, `frame-ancestors 'self'`) and run the
//! app's scripts from an opaque origin too (`script-src millennium:`, for the sandboxed frame), so that the frames'
//! attacks reach the bridge instead of stopping at the CSP.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use serde_json::{Value, json};

use crate::app::Launch;

/// The framework's default policy, except that the app's pages (and `data:` documents) may be framed, and a sandboxed
/// copy of a page may run the app's scripts.
const FRAMES_ALLOWED: &str = "default-src 'self'; script-src 'self' millennium:; img-src 'self' data:; \
                              frame-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; \
                              frame-ancestors 'self'";

/// What one self-test run with every attack left behind.
struct Outcome {
    report: Value,
    /// `payload.via` of every `probe` event Rust accepted, in order.
    probes: Vec<String>,
    session_name: String,
    stderr: String,
}

fn run_attacks(authenticate: bool) -> Outcome {
    let auth = if authenticate { "1" } else { "0" };
    let mut launch = Launch::start(&[("MILLENNIUM_HELLO_AUTH", auth), ("MILLENNIUM_HELLO_CSP", FRAMES_ALLOWED)], 0);
    launch.wait_for_report();
    let report = launch.report();
    let session_name = launch.line_value("session-name greet");
    let (stdout, stderr) = launch.finish();
    Outcome { report, probes: accepted_probes(&stdout), session_name, stderr }
}

/// `payload.via` of every `probe` event the app printed, i.e. that Rust accepted, in order.
pub(crate) fn accepted_probes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("probe "))
        .map(|payload| serde_json::from_str::<Value>(payload).unwrap()["via"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// (a) The app's pages, fetched by a script in the page, hold no key, no command name (`session_name` is the real
/// name of `greet` this session) and no bridge code.
pub(crate) fn assert_no_secret_served(report: &Value, session_name: &str) {
    let scrape = &report["attack_scrape"];
    assert_eq!((scrape["keys"].as_u64(), scrape["names"].as_u64()), (Some(0), Some(0)), "{scrape}");
    let bodies = scrape["bodies"].as_array().unwrap();
    assert_eq!(bodies.len(), 2, "{scrape}");
    for body in bodies {
        let body = body.as_str().unwrap();
        assert!(body.contains("<h1>Hello, Millennium</h1>"), "not the page: {body}");
        for secret in [session_name, "postMessage", "Millennium.", "crypto.subtle"] {
            assert!(!body.contains(secret), "`{secret}` is in the served page: {body}");
        }
    }
}

/// (c), (d) Rust accepted only events sent through the API: the page's own (last), and perhaps a same-origin frame's
/// through its parent's API (whether the frame loads depends on the policy). Nothing posted straight on the channel.
pub(crate) fn assert_only_api_events(stdout: &str) {
    let probes = accepted_probes(stdout);
    assert_eq!(probes.last().map(String::as_str), Some("api"), "{probes:?}");
    assert!(probes.iter().all(|via| via == "api" || via == "same-parent-api"), "{probes:?}");
}

/// The checks that hold with and without message authentication.
fn assert_common(outcome: &Outcome) {
    let Outcome { report, probes, session_name, .. } = outcome;
    assert_no_secret_served(report, session_name);

    // (c) Frames get no bridge of their own and nothing to forge messages with. A same-origin frame (an app page, or
    // about:blank) can still reach the parent's `Millennium` (the browser's same-origin rule; see the README).
    let frames = &report["frames"];
    for name in ["same", "sandboxed", "blank"] {
        let frame = &frames[name];
        assert_eq!(frame["own_api"], "undefined", "{name}: {frame}");
        assert_eq!(frame["ipc"], "undefined", "{name}: {frame}");
    }
    for name in ["same", "sandboxed"] {
        let frame = &frames[name];
        assert_eq!(frame["scraped_keys"], json!([]), "{name}: {frame}");
        assert_eq!(frame["scraped_names"], 0, "{name}: {frame}");
    }
    assert_eq!(frames["same"]["origin"], "millennium://localhost", "{frames}");
    assert_eq!(frames["same"]["parent_api"], "object", "{frames}");
    assert_eq!(frames["sandboxed"]["origin"], "null", "{frames}");
    assert_eq!(frames["sandboxed"]["parent_api"], "blocked", "{frames}");
    // A `data:` document is another origin: the webview refuses to navigate a frame there.
    assert_eq!(frames["data"], Value::Null, "{frames}");

    // (c), (d) Rust accepted only the events sent through the API: the page's own, and the same-origin frame's
    // through its parent's API. Nothing posted straight on the IPC channel, from the page or from any frame, with or
    // without a scraped or guessed key and event token.
    assert_eq!(probes, &["same-parent-api", "api"], "events Rust accepted");
}

#[test]
fn page_scripts_and_frames_cannot_read_or_forge_authenticated_messages() {
    let outcome = run_attacks(true);
    assert_common(&outcome);
    let Outcome { report, stderr, .. } = &outcome;

    // (b) A reply and an event forged through the functions on `window`, with a guessed key (there is none to
    // scrape): the page's bridge drops both; the call settles with the genuine reply, held back until after them.
    let forge = &report["attack_forge"];
    assert_eq!(forge["key_source"], "guessed", "{forge}");
    assert_eq!(forge["reply"], json!({"ok": true, "value": "Hello, Real! (from Rust)"}), "{forge}");
    assert_eq!(forge["forged_events"], 0, "{forge}");

    // (e) Built-ins replaced after start-up (Promise.prototype.then, crypto.subtle.*, TextEncoder, JSON, Array and
    // Function methods, `toJSON` and index setters on prototypes) see no key, no command name and not the page's
    // listener, and make the bridge accept no forged event: it took its built-ins before any script of the page ran.
    let hooks = &report["attack_hooks"];
    assert_eq!(hooks["call"], json!({"ok": true, "value": "Hello, Hooked! (from Rust)"}), "{hooks}");
    assert_eq!(hooks["crypto_keys_seen"], 0, "{hooks}");
    assert_eq!(hooks["listener_seen"], false, "{hooks}");
    assert_eq!(hooks["names_seen"], 0, "{hooks}");
    assert_eq!(hooks["forged_events"], 0, "{hooks}");

    // (c), (d) Rust said why: unsigned, and signed with a key that is not the session's.
    assert!(stderr.contains("IPC message rejected: message has no valid MAC"), "{stderr}");
    assert!(stderr.contains("IPC message rejected: MAC mismatch"), "{stderr}");
}

#[test]
fn page_scripts_and_frames_cannot_emit_without_the_sessions_token() {
    let outcome = run_attacks(false);
    assert_common(&outcome);
    // (d) Without authentication an event needs the session's event token, which only the bridge holds.
    assert!(
        outcome.stderr.contains("IPC message rejected: an event without this session's token"),
        "{}",
        outcome.stderr
    );
}
