//! `millennium dev` under Xvfb: the page is served from disk; after `dist/index.html` is edited the page reloads and
//! reports its new content (the app's self-test mode) within 2 s of the write, with the production CSP. An edit of the
//! app's Rust code rebuilds and restarts it (the new build's command answers the page); a build that fails leaves the
//! app stopped, says so, and the next good edit starts it again.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use millennium_testing::require_tool;

use crate::common::millennium;
use crate::e2e::new_app;

#[test]
fn an_edited_page_reloads_within_two_seconds_and_edited_rust_code_is_rebuilt_and_restarted() {
    require_tool("xvfb-run", "xvfb");
    let dir = tempfile::tempdir().unwrap();
    let root = new_app(dir.path(), "devdemo");
    let cli = millennium();
    let mut command = Command::new("xvfb-run");
    command
        .args(["-a", "--server-args=-screen 0 1024x768x24"])
        .arg(cli.get_program())
        .args(["dev"])
        .envs(cli.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env("MILLENNIUM_SELFTEST", "1")
        .env("MILLENNIUM_WEBVIEW_PROMPT", "never")
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().unwrap();
    let group = child.id();
    let (lines, received) = mpsc::channel();
    let err_lines = lines.clone();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send((Instant::now(), line));
        }
    });
    // stderr is watched too (what `dev` says of rebuilds), and kept for the failure messages.
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = err_lines.send((Instant::now(), line));
        }
        all
    });
    let stop = || {
        // The process group we started: xvfb-run, Xvfb, `millennium dev` and the app.
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{group}")]).status();
    };
    let wait_for = |text: &str, timeout: Duration| -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while let Ok((at, line)) = received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains(text) {
                return Some(at);
            }
        }
        None
    };

    // The first build compiles the framework with its `dev` feature: allow for a cold, busy machine.
    let first = wait_for(r#""heading":"Welcome to Devdemo""#, Duration::from_secs(900));
    if first.is_none() {
        stop();
        let _ = child.wait();
        panic!("the app never reported its page; stderr:\n{}", log.join().unwrap());
    }
    let index = root.join("dist/index.html");
    let page = std::fs::read_to_string(&index).unwrap().replace("Welcome to Devdemo", "Edited while running");
    let written = Instant::now();
    std::fs::write(&index, page).unwrap();
    let reported = wait_for(r#""heading":"Edited while running""#, Duration::from_secs(30));
    let reload = reported.map(|at| at.duration_since(written));

    // Rust edits: the rebuilt app answers `greet` with the new text; a broken edit stops it until the next good one.
    // Only the app's own crate is rebuilt, but allow for a busy machine.
    let main_rs = root.join("src/main.rs");
    let source = std::fs::read_to_string(&main_rs).unwrap();
    let edit = |text: &str| std::fs::write(&main_rs, source.replace("(from Rust)", text)).unwrap();
    edit("(rebuilt)");
    let rebuilt = wait_for(r#""greeting":"Hello, self-test! (rebuilt)""#, Duration::from_secs(600));
    std::fs::write(&main_rs, format!("{source}\nfn broken() -> u32 {{ \"not a number\" }}\n")).unwrap();
    let failed = wait_for("dev: waiting for the next change", Duration::from_secs(600));
    edit("(fixed)");
    let fixed = wait_for(r#""greeting":"Hello, self-test! (fixed)""#, Duration::from_secs(600));

    stop();
    let status = child.wait().unwrap();
    let stderr = log.join().unwrap();
    let reload = reload.unwrap_or_else(|| panic!("no report of the edited page ({status}); stderr:\n{stderr}"));
    eprintln!("reload: {} ms from the write to the page's report", reload.as_millis());
    assert!(reload < Duration::from_secs(2), "{reload:?}; stderr:\n{stderr}");
    assert!(stderr.contains("changed: reloading"), "{stderr}");
    assert!(rebuilt.is_some(), "the edited Rust code never answered ({status}); stderr:\n{stderr}");
    assert!(stderr.contains("main.rs` changed: rebuilding"), "{stderr}");
    assert!(failed.is_some(), "a failing build was not reported; stderr:\n{stderr}");
    assert!(stderr.contains("mismatched types"), "the compiler's error is shown: {stderr}");
    assert!(fixed.is_some(), "the app did not start again after the fix ({status}); stderr:\n{stderr}");
}
