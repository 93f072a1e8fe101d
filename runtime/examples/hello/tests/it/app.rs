//! Runs the example for real: under `xvfb-run` with WebKitGTK, through a full IPC round trip, a screenshot, the
//! security checks the page reports, and a look at the binary for the compile-time API allow-list.
//!
//! Needs `xvfb-run` (packages `xvfb`, `xauth`), ImageMagick (`import`, `identify`), `nm` (binutils) and WebKitGTK 4.1;
//! with the feature `localhost-server` (`cargo test -p millennium-example-hello --features localhost-server --test it
//! -- app::localhost app::disabled_apis`), also `curl`.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hello");

/// One launch of the app in self-test mode under its own Xvfb.
pub(crate) struct Launch {
    dir: tempfile::TempDir,
    child: Child,
}

impl Launch {
    pub(crate) fn start(extra_env: &[(&str, &str)], hold_ms: u64) -> Self {
        Self::start_binary(Path::new(BIN), extra_env, hold_ms)
    }

    /// Like [`Launch::start`], running `binary` (a copy of the example the updater may replace).
    pub(crate) fn start_binary(binary: &Path, extra_env: &[(&str, &str)], hold_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("note.txt"), "a note from the scope").unwrap();
        let stdout = std::fs::File::create(dir.path().join("stdout")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut command = Command::new("xvfb-run");
        command
            .args(["-a", "-s", "-screen 0 1024x768x24", "sh", "-c"])
            // The app's own exit status goes to a file: `xvfb-run` exits with its own status when its clean-up
            // fails (5, "problem while cleaning up temporary directory"), which says nothing about the app.
            .arg(concat!(
                r#"printf '%s\n%s\n' "$DISPLAY" "$XAUTHORITY" > "$0/display.tmp" && mv "$0/display.tmp" "$0/display" "#,
                r#"|| exit 99; "$1"; status=$?; echo "$status" > "$0/app-exit"; exit "$status""#
            ))
            .arg(dir.path())
            .arg(binary)
            .current_dir(dir.path())
            .env("MILLENNIUM_SELFTEST", "1")
            .env("MILLENNIUM_SELFTEST_HOLD_MS", hold_ms.to_string())
            .env("MILLENNIUM_HELLO_FS_SCOPE", dir.path())
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run `xvfb-run`: {e}\nhint: install the packages `xvfb xauth imagemagick libwebkit2gtk-4.1-dev`"
            )
        });
        Self { dir, child }
    }

    pub(crate) fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Wait until the page has finished its self-test: its report, then the attacks judged by what Rust accepts.
    pub(crate) fn wait_for_report(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !self.stdout().lines().any(|l| l == "selftest-done") {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the app exited early ({status})\nstdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "no self-test report in 90 s\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for the app to exit on its own and for `xvfb-run` to stop its display; the app must exit 0.
    pub(crate) fn finish(mut self) -> (String, String) {
        let code = self.exit_code();
        assert_eq!(code, 0, "the app exited {code}\nstderr:\n{}", self.stderr());
        (self.stdout(), self.stderr())
    }

    /// The app's own exit code (128 + the signal's number if a signal ended it), once `xvfb-run` has exited.
    pub(crate) fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let wrapper = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the app did not exit\nstderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let recorded = std::fs::read_to_string(self.dir.path().join("app-exit"));
        let recorded = recorded.unwrap_or_else(|_| panic!("the app never ran: xvfb-run {wrapper}\n{}", self.stderr()));
        recorded.trim().parse().unwrap()
    }

    pub(crate) fn line_value(&self, key: &str) -> String {
        let prefix = format!("{key} ");
        let stdout = self.stdout();
        stdout.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_owned).unwrap_or_else(|| panic!("no `{key}`"))
    }

    pub(crate) fn report(&self) -> Value {
        serde_json::from_str(&self.line_value("selftest")).unwrap()
    }

    /// `(DISPLAY, XAUTHORITY)` of this launch's Xvfb.
    fn display(&self) -> (String, String) {
        let text = std::fs::read_to_string(self.dir.path().join("display")).unwrap();
        let mut lines = text.lines();
        (lines.next().unwrap().to_owned(), lines.next().unwrap_or("").to_owned())
    }
}

/// The pid and all descendants (WebKit's web and network processes).
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while let Some(&current) = all.get(i) {
        for task in std::fs::read_dir(format!("/proc/{current}/task")).into_iter().flatten().flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
        i += 1;
    }
    all
}

/// TCP sockets in LISTEN state owned by any of `pids`, as `(pid, local address)`.
fn listening_tcp(pids: &[u32]) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for &pid in pids {
        let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter_map(|target| {
                let target = target.to_string_lossy().into_owned();
                target.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_owned)
            })
            .collect();
        for table in ["tcp", "tcp6"] {
            let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                    found.push((pid, fields[1].to_owned()));
                }
            }
        }
    }
    found
}

fn screenshot(display: &(String, String), path: &Path) {
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(path)
        .env("DISPLAY", &display.0)
        .env("XAUTHORITY", &display.1)
        .status()
        .expect("cannot run ImageMagick `import`\nhint: install the package `imagemagick`");
    assert!(status.success(), "import failed");
}

fn unique_colours(path: &Path) -> u64 {
    let output = Command::new("identify").args(["-format", "%k"]).arg(path).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().parse().unwrap()
}

#[test]
fn selftest_round_trip_under_xvfb_with_screenshot_and_no_tcp_port() {
    let mut launch = Launch::start(&[], 3000);
    launch.wait_for_report();

    // While the app is up: nothing of it listens on TCP, and the window shows something.
    let pid: u32 = launch.line_value("pid").parse().unwrap();
    let tree = process_tree(pid);
    assert!(tree.len() >= 2, "expected WebKit child processes, got {tree:?}");
    assert_eq!(listening_tcp(&tree), Vec::<(u32, String)>::new());
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hello-screenshot.png");
    screenshot(&launch.display(), &shot);
    let colours = unique_colours(&shot);
    assert!(colours > 50, "the screenshot looks blank: {colours} colours ({})", shot.display());

    let report = launch.report();
    let first_ipc_ms: u64 = launch.line_value("first-ipc-ms").parse().unwrap();
    let session_name = launch.line_value("session-name greet");
    let (stdout, stderr) = launch.finish();

    // The round trip and the event from Rust.
    assert_eq!(report["greet"], serde_json::json!({"ok": true, "value": "Hello, Selftest! (from Rust)"}));
    // A second call of `greet` reaches it under its re-randomised name (the app turns re-randomisation on).
    assert_eq!(report["empty_name"], serde_json::json!({"ok": false, "error": "please enter a name"}));
    assert_eq!(report["event"], serde_json::json!({"ok": true, "value": "Welcome from Rust"}));
    assert!(first_ipc_ms < 60_000);
    // Kamikaze callbacks: none is left on `window` after its reply.
    assert_eq!(report["callbacks_left"], 0);
    // The page knows only the app's command names; its bridge object is frozen and its bootstrap element gone.
    assert_eq!(report["commands"], serde_json::json!(["config", "greet", "selftest_report"]));
    assert_eq!(report["bridge_frozen"], true);
    assert_eq!(report["bootstrap_removed"], true);
    assert_eq!(report["unknown_command"]["ok"], false);
    // CSP: the meta tag and the header carry the framework's default policy as it is: no hash (the bridge comes
    // through the webview, not as an inline script) and no 'unsafe-inline'; the page's inline script is blocked; a
    // missing file is a 404 that still carries the header.
    let meta = report["meta_csp"].as_str().unwrap();
    assert_eq!(
        meta,
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    assert!(!meta.contains("'sha256-") && !meta.contains("unsafe-inline"), "{meta}");
    assert_eq!(report["inline_script_blocked"], true);
    assert_eq!(report["fetch_missing"]["value"]["status"], 404);
    assert_eq!(report["fetch_missing"]["value"]["csp"], meta);
    // Authentication is on: replies and events forged by a script in the page were dropped by the page's bridge...
    assert_eq!(report["forged_reply"], serde_json::json!({"ok": true, "value": "Hello, Real! (from Rust)"}));
    assert_eq!(report["forged_events"], 0);
    // ...and the page's unsigned raw message was refused by Rust.
    assert!(stderr.contains("IPC message rejected: message has no valid MAC"), "{stderr}");
    // The attacks of `dist/attacks.js` under the default policy (`attacks.rs` tries them with frames allowed): the
    // served pages hold no secret, and Rust accepted only the events sent through the API.
    crate::attacks::assert_no_secret_served(&report, &session_name);
    crate::attacks::assert_only_api_events(&stdout);
    // The built-in APIs follow the compile-time allow-list.
    if cfg!(feature = "api-fs") {
        assert_eq!(report["fs_binding"], "object");
        assert_eq!(report["fs_read"], serde_json::json!({"ok": true, "value": "a note from the scope"}));
        assert_eq!(report["fs_escape"]["ok"], false);
    } else {
        assert_eq!(report["fs_binding"], "undefined");
        assert_eq!(report["fs_read"]["ok"], false);
    }
    if cfg!(feature = "api-window") {
        assert_eq!(report["window_binding"], "object");
        assert_eq!(report["window_set_title"]["ok"], true);
    } else {
        assert_eq!(report["window_binding"], "undefined");
        assert_eq!(report["window_set_title"]["error"], "unknown command: millennium:window.setTitle");
    }
}

#[test]
fn command_names_are_fresh_each_launch_and_stale_or_guessed_names_are_refused() {
    let mut first = Launch::start(&[("MILLENNIUM_HELLO_AUTH", "0")], 0);
    first.wait_for_report();
    let first_name = first.line_value("session-name greet");
    first.finish();

    let mut second =
        Launch::start(&[("MILLENNIUM_HELLO_AUTH", "0"), ("MILLENNIUM_SELFTEST_STALE_NAME", &first_name)], 0);
    second.wait_for_report();
    let second_name = second.line_value("session-name greet");
    let report = second.report();
    let (_stdout, stderr) = second.finish();

    assert_ne!(first_name, second_name);
    for name in [&first_name, &second_name] {
        assert!(name.len() == 25 && name.starts_with('c'), "{name}");
    }
    assert_eq!(report["greet"]["ok"], true);
    assert_eq!(report["guessed_name"], serde_json::json!({"ok": false, "value": "unknown command `greet`"}));
    assert_eq!(
        report["stale_name"],
        serde_json::json!({"ok": false, "value": format!("unknown command `{first_name}`")})
    );
    assert!(
        stderr.contains(&format!(
            "rejected a call by an unknown command name (stale or guessed) session_name={first_name}"
        )),
        "{stderr}"
    );
}

#[test]
fn without_a_display_the_app_prints_a_clean_error() {
    let output = Command::new(BIN).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: no display to open a window on"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn with_a_display_that_cannot_be_opened_the_app_prints_a_clean_error() {
    let output = Command::new(BIN).env("DISPLAY", ":4242").env_remove("WAYLAND_DISPLAY").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: the windowing system failed to start"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The compile-time allow-list: an API whose feature is off has neither its Rust code (symbols) nor its JavaScript
/// binding (strings) in the binary; one whose feature is on has both, which shows the check can see them. Nor is code
/// the app does not need there: an HTTP server, an inflater.
#[test]
fn disabled_apis_are_absent_from_the_binary() {
    let binary = std::fs::read(BIN).unwrap();
    let contains = |needle: &str| binary.windows(needle.len()).any(|w| w == needle.as_bytes());
    let nm = Command::new("nm").arg("-C").arg(BIN).output().expect("cannot run `nm`\nhint: install `binutils`");
    assert!(nm.status.success());
    let symbols = String::from_utf8_lossy(&nm.stdout);

    for (enabled, command, binding, symbol) in [
        (cfg!(feature = "api-fs"), "millennium:fs.readTextFile", "api.fs = ", "millennium_api_fs_read_text_file"),
        (
            cfg!(feature = "api-window"),
            "millennium:window.setTitle",
            "api.window = ",
            "millennium_api_window_set_title",
        ),
        (cfg!(feature = "api-updater"), "millennium:updater.check", "api.updater = ", "millennium_api_updater_check"),
    ] {
        assert_eq!(contains(command), enabled, "command name `{command}`: feature on = {enabled}");
        assert_eq!(contains(binding), enabled, "JS binding `{binding}`: feature on = {enabled}");
        assert_eq!(symbols.contains(symbol), enabled, "symbol `{symbol}`: feature on = {enabled}");
    }
    // No HTTP server code unless the app asks for the localhost server.
    let server = cfg!(feature = "localhost-server");
    assert_eq!(symbols.contains("tiny_http::"), server, "HTTP server symbols: feature on = {server}");
    // The page is small, so its assets are embedded as they are and no inflater is linked (the updater, when on,
    // brings one for `.app.tar.gz` archives).
    if !cfg!(feature = "api-updater") {
        assert!(!symbols.contains("flate2::"), "inflater symbols in an app whose assets are stored as they are");
    }
}

/// A webview older than the app's minimum: the clear message naming the package, exit 1, no toolkit started (no
/// display is given), no panic.
#[test]
fn too_old_webview_is_refused_with_the_package_to_install() {
    let output = Command::new(BIN)
        .env("MILLENNIUM_HELLO_MIN_WEBVIEW", "99.0")
        .env("MILLENNIUM_WEBVIEW_PROMPT", "never")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Hello, Millennium cannot start: WebKitGTK 4.1 2."), "{stderr}");
    assert!(stderr.contains("is installed, but this app needs version 99.0 or newer"), "{stderr}");
    assert!(stderr.contains("libwebkit2gtk-4.1-0"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let invalid = Command::new(BIN).env("MILLENNIUM_HELLO_MIN_WEBVIEW", "2.x").stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert_eq!(invalid.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("invalid minimum webview version"), "{stderr}");
}

/// `curl -i` against the app's localhost server: `(status, lower-cased head, body)`.
#[cfg(feature = "localhost-server")]
fn curl(url: &str, host: Option<&str>) -> (u16, String, String) {
    let mut command = Command::new("curl");
    command.args(["--silent", "--show-error", "--include", "--max-time", "10"]);
    if let Some(host) = host {
        command.arg("--header").arg(format!("Host: {host}"));
    }
    let output = command.arg(url).output().expect("cannot run `curl`\nhint: install the package `curl`");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "curl {url}: {}", String::from_utf8_lossy(&output.stderr));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[cfg(feature = "localhost-server")]
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}

/// The page served over `http://127.0.0.1:<port>/` to a real WebKitGTK window: the IPC round trip and the event work
/// from that origin with the bridge injected by the webview rather than served, its CSP holds (header from a real HTTP
/// client, meta tag, inline script blocked), the listener is the app's own and loopback-only, and a request naming
/// another `Host` gets 421.
#[cfg(feature = "localhost-server")]
#[test]
fn localhost_server_in_a_real_window_round_trip_csp_and_foreign_host_refused() {
    let mut launch = Launch::start(&[("MILLENNIUM_HELLO_LOCALHOST_PORT", "0")], 2000);
    launch.wait_for_report();

    // One listener, the app's own, on 127.0.0.1 (0100007F in /proc/net/tcp).
    let pid: u32 = launch.line_value("pid").parse().unwrap();
    let listening = listening_tcp(&process_tree(pid));
    assert_eq!(listening.len(), 1, "{listening:?}");
    let (owner, address) = &listening[0];
    assert_eq!(*owner, pid);
    let (ip, port) = address.split_once(':').unwrap();
    assert_eq!(ip, "0100007F", "listens beyond the loopback: {address}");
    let port = u16::from_str_radix(port, 16).unwrap();
    let origin = format!("http://127.0.0.1:{port}");

    let (status, head, body) = curl(&format!("{origin}/"), None);
    assert_eq!(status, 200, "{head}");
    assert!(header(&head, "content-type").unwrap().starts_with("text/html"), "{head}");
    let policy = header(&head, "content-security-policy").unwrap_or_else(|| panic!("no CSP header: {head}")).to_owned();
    assert!(body.contains("<meta http-equiv=\"Content-Security-Policy\""), "{body}");
    // Any local process can fetch this: the bridge bootstrap (command names, message key) must not be in it.
    assert!(!body.contains("ipc.postMessage") && !body.contains("\"Millennium\""), "bootstrap served over TCP: {body}");
    let (status, head, _) = curl(&format!("{origin}/app.js"), None);
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-security-policy"), Some(policy.as_str()));
    for path in ["/missing.txt", "/../Cargo.toml"] {
        let (status, head, _) = curl(&format!("{origin}{path}"), None);
        assert_eq!(status, 404, "{path}");
        assert_eq!(header(&head, "content-security-policy"), Some(policy.as_str()), "{path}");
    }
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 sends its own Host.
    let (status, head, body) = curl(&format!("{origin}/"), Some("attacker.example"));
    assert_eq!((status, body.as_str()), (421, "misdirected request"), "{head}");
    let (status, _, _) = curl(&format!("{origin}/"), Some(&format!("localhost:{port}")));
    assert_eq!(status, 421);

    let report = launch.report();
    let session_name = launch.line_value("session-name greet");
    let (stdout, stderr) = launch.finish();
    assert_eq!(report["origin"], origin.as_str());
    // As with the custom protocol: nothing a script of the page can fetch holds a secret of the bridge, and Rust
    // accepted only the events sent through the API.
    crate::attacks::assert_no_secret_served(&report, &session_name);
    crate::attacks::assert_only_api_events(&stdout);
    assert_eq!(report["greet"], serde_json::json!({"ok": true, "value": "Hello, Selftest! (from Rust)"}));
    assert_eq!(report["event"], serde_json::json!({"ok": true, "value": "Welcome from Rust"}));
    assert_eq!(report["forged_reply"], serde_json::json!({"ok": true, "value": "Hello, Real! (from Rust)"}));
    assert_eq!(report["callbacks_left"], 0);
    // The policy the page got (meta tag, and the header on a fetched 404) is the one curl saw.
    let meta = report["meta_csp"].as_str().unwrap();
    assert_eq!(meta.to_ascii_lowercase(), policy);
    // No inline script at all: the bootstrap came through the webview, so not even its hash is allowed.
    assert!(!meta.contains("'sha256-") && !meta.contains("unsafe-inline"), "{meta}");
    assert_eq!(report["inline_script_blocked"], true);
    assert_eq!(report["fetch_missing"]["value"]["status"], 404);
    assert_eq!(report["fetch_missing"]["value"]["csp"], meta);
    assert!(stderr.contains("refused a localhost request for another host"), "{stderr}");
}

/// A port that is taken, or a value that is no port: a clean error and exit 1.
#[cfg(feature = "localhost-server")]
#[test]
fn localhost_server_port_taken_or_invalid_is_a_clean_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut launch = Launch::start(&[("MILLENNIUM_HELLO_LOCALHOST_PORT", &port)], 0);
    assert_eq!(launch.exit_code(), 1, "{}", launch.stderr());
    assert!(launch.stderr().contains("error: could not start the localhost server: "), "{}", launch.stderr());
    assert!(launch.stderr().contains("hint: choose another port"), "{}", launch.stderr());
    drop(taken);

    let output =
        Command::new(BIN).env("MILLENNIUM_HELLO_LOCALHOST_PORT", "http").env_remove("DISPLAY").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: MILLENNIUM_HELLO_LOCALHOST_PORT=\"http\" is not a port number"), "{stderr}");
}
