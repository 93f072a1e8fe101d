//! Hello, Millennium: a page with a button that calls the Rust command `greet`, and a `welcome` event sent from Rust
//! when the page says it is `ready`.
//!
//! With `MILLENNIUM_SELFTEST=1` the page also runs its self-test on load (see `dist/app.js`, and `dist/attacks.js` for
//! the attacks on the bridge): the app prints the page's report (`selftest {…}`), every event the page (or an attack)
//! managed to send on the broker `probe` (`probe {…}`), then `selftest-done`, and exits after
//! `MILLENNIUM_SELFTEST_HOLD_MS` (default 0), with code 0; the tests judge the printed results. It also prints
//! `first-ipc-ms N`: the time from start until the page, holding the reply to its first command (`config`), says
//! `ready` (what `runtime/bench/run.sh` measures).
//!
//! Exit codes: 0 success, 1 the app could not start (no display, or the system webview is missing or too old: then
//! the message names the package to install).

mod env;
mod log;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use millennium::{AppHandle, Builder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
struct Greet {
    name: String,
}

#[derive(Serialize, Clone)]
struct Config {
    selftest: bool,
    /// Whether messages are authenticated; without it the self-test also probes the raw channel.
    authenticated: bool,
    /// A command name from an earlier launch, for the self-test to try.
    stale_name: Option<String>,
}

fn main() {
    let started = Instant::now();
    log::init(env::log_level(), env::color());
    let selftest = env::selftest();
    let config = Config { selftest, authenticated: env::authenticate(), stale_name: env::stale_name() };
    let first_ready = AtomicBool::new(true);

    let app = Builder::new()
        .title("Hello, Millennium")
        .size(640.0, 420.0)
        .min_webview_version(&env::min_webview())
        .assets(millennium::include_assets!())
        .authenticate_messages(config.authenticated)
        .rerandomize_commands(true)
        .command("config", move |_app, (): ()| Ok::<_, String>(config.clone()))
        .command("greet", move |_app, args: Greet| {
            let name = args.name.trim();
            if name.is_empty() {
                return Err("please enter a name".to_owned());
            }
            Ok(format!("Hello, {name}! (from Rust)"))
        })
        .command("selftest_report", move |_app, report: Value| print_report(selftest, &report))
        .on_event("ready", move |app, _payload| {
            // The page says `ready` once it has the reply to its first command: one full round trip since launch.
            if selftest && first_ready.swap(false, Ordering::Relaxed) {
                println!("first-ipc-ms {}", started.elapsed().as_millis());
            }
            if let Err(error) = app.emit("welcome", serde_json::json!({ "message": "Welcome from Rust" })) {
                eprintln!("error: {}", millennium::Report::new(&error));
            }
        })
        .on_exit(move |code| {
            if selftest {
                println!("exit {code}");
            }
        })
        .setup(move |app| {
            if selftest {
                println!("pid {}", std::process::id());
                println!("session-name greet {}", app.session_command_name("greet").unwrap_or("?"));
            }
        });
    let app = match env::csp() {
        Some(policy) => app.csp(policy),
        None => app,
    };
    let app = if selftest {
        app.on_event("probe", |_app, payload| println!("probe {payload}"))
            .on_event("selftest_done", |app, _payload| exit_after_hold(app))
    } else {
        app
    };
    #[cfg(feature = "api-fs")]
    let app = app.fs_scope(env::fs_scope());
    #[cfg(feature = "api-updater")]
    let app = match env::updater() {
        Ok(Some((updater, checks))) => app.updater(updater).update_checks(checks),
        Ok(None) => app,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    #[cfg(feature = "localhost-server")]
    let app = match env::localhost_port() {
        Ok(Some(port)) => app.localhost_server(port),
        Ok(None) => app,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };

    let Err(error) = app.run();
    eprintln!("error: {}", millennium::Report::new(&error));
    std::process::exit(1);
}

fn print_report(selftest: bool, report: &Value) -> Result<(), String> {
    if !selftest {
        return Err("self-test mode is off".to_owned());
    }
    println!("selftest {report}");
    Ok(())
}

fn exit_after_hold(app: &AppHandle) {
    println!("selftest-done");
    let app = app.clone();
    let hold = env::hold();
    std::thread::spawn(move || {
        std::thread::sleep(hold);
        let _ = app.exit(0);
    });
}
