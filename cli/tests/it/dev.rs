//! `millennium dev` under Xvfb: the page is served from disk; after `dist/index.html` is edited the page reloads and
//! reports its new content (the app's self-test mode) within 2 s of the write, with the production CSP.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use millennium_testing::require_tool;

use crate::common::millennium;
use crate::e2e::new_app;

#[test]
fn an_edited_page_reloads_and_reports_its_new_content_within_two_seconds() {
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
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send((Instant::now(), line));
        }
    });
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
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
    stop();
    let status = child.wait().unwrap();
    let stderr = log.join().unwrap();
    let reported = reported.unwrap_or_else(|| panic!("no report of the edited page ({status}); stderr:\n{stderr}"));
    let elapsed = reported.duration_since(written);
    eprintln!("reload: {} ms from the write to the page's report", elapsed.as_millis());
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}; stderr:\n{stderr}");
    assert!(stderr.contains("changed: reloading"), "{stderr}");
}
