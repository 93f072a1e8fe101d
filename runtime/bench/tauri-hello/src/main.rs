//! Hello, Tauri: `runtime/examples/hello`'s page (the very same files) and commands on Tauri v2, for the benchmark.
//!
//! The page talks to `Millennium.invoke/listen/emit`; `shim.js` maps those onto Tauri's IPC before the page's scripts
//! run. With `MILLENNIUM_SELFTEST=1` the app prints `first-ipc-ms N` when the page has received the reply to its first
//! command (`config`) and said `ready`, as `hello` does, and exits.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tauri::{AppHandle, Emitter, WebviewUrl, WebviewWindowBuilder};

static STARTED: OnceLock<Instant> = OnceLock::new();
static FIRST_READY: AtomicBool = AtomicBool::new(true);

#[derive(serde::Serialize)]
struct Config {
    selftest: bool,
    authenticated: bool,
    stale_name: Option<String>,
}

#[tauri::command]
fn config() -> Config {
    // The page's self-test exercises Millennium's own bridge; here it takes its normal path (`ready`).
    Config { selftest: false, authenticated: false, stale_name: None }
}

#[tauri::command]
fn greet(name: String) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("please enter a name".to_owned());
    }
    Ok(format!("Hello, {name}! (from Rust)"))
}

#[tauri::command]
fn ready(app: AppHandle) {
    if let Err(error) = app.emit("welcome", serde_json::json!({ "message": "Welcome from Rust" })) {
        eprintln!("error: {error}");
    }
    if selftest() && FIRST_READY.swap(false, Ordering::Relaxed) {
        let started = STARTED.get().copied().unwrap_or_else(Instant::now);
        println!("first-ipc-ms {}", started.elapsed().as_millis());
        app.exit(0);
    }
}

fn selftest() -> bool {
    std::env::var("MILLENNIUM_SELFTEST").is_ok_and(|v| v == "1")
}

fn main() {
    STARTED.get_or_init(Instant::now);
    let result = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![config, greet, ready])
        .setup(|app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                .title("Hello, Tauri")
                .inner_size(640.0, 420.0)
                .initialization_script(include_str!("shim.js"))
                .build()?;
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
