//! The dashboard (`/ui/`) of the real server binary: driven by a real headless Chromium through `chromedriver`
//! (WebDriver, with `fantoccini`), and attacked over raw HTTP. The attacks are in `docs/protocol.md` §7.6.
//!
//! One Chromium session plays the whole flow (a browser start costs seconds); its screenshots are kept in
//! `$CARGO_TARGET_TMPDIR/ui-screenshots/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use millennium_sign::{Format, SecretKey};
use millennium_testing::keys::write_signed;
use millennium_testing::require_tool;
use millennium_testing::server::{ADMIN_TOKEN, Backend, ServerProcess, free_loopback_port};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;

use super::{SERVER, ok_json};

/// Text that runs script if a page puts it in HTML unescaped: in element content and in an attribute.
const XSS: &str = "<script>window.pwned = 'notes'</script>\"><img src=x onerror=\"window.pwned = 'attribute'\">";

/// The real server binary on a fresh data directory under `tmp`.
fn start(tmp: &Path, env: &[(&str, &str)]) -> ServerProcess {
    let data_dir = tmp.join("data");
    std::fs::create_dir_all(tmp).unwrap();
    SERVER.serve_with(&data_dir, free_loopback_port(), &tmp.join("server.log"), &Backend::for_dir(&data_dir), env)
}

/// What a test needs on a server: app `demo`, its admin and publish tokens, and releases 1.0.0 (100 %) and 1.1.0
/// (10 %) in `stable`, published with the CLI, both with `notes` as release notes.
struct Demo {
    admin_token: String,
    publish_token: String,
}

fn set_up_demo(server: &ServerProcess, tmp: &Path, notes: &str) -> Demo {
    let key = SecretKey::generate().unwrap();
    let remote = [("MILLENNIUM_SERVER", server.url.as_str()), ("MILLENNIUM_TOKEN", ADMIN_TOKEN)];
    let public = key.public_key().to_text(Format::Minisign);
    ok_json(SERVER.cli(&["--json", "apps", "create", "--id", "demo", "--public-key", &public], &remote));
    let token = |scope: &str, description: &str| {
        let args = ["--json", "tokens", "create", "--app", "demo", "--scope", scope, "--description", description];
        ok_json(SERVER.cli(&args, &remote))["token"].as_str().unwrap().to_owned()
    };
    let admin_token = token("admin", "dashboard test");
    // A description is free text shown on the dashboard: one more place for markup to be escaped.
    let publish_token = token("publish", XSS);
    let notes_file = tmp.join("NOTES.md");
    std::fs::write(&notes_file, notes).unwrap();
    let dist = tmp.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (version, rollout) in [("1.0.0", "100"), ("1.1.0", "10")] {
        let bytes = format!("demo {version}").into_bytes();
        let artifact =
            write_signed(&dist, &format!("demo_{version}_amd64.AppImage"), &bytes, &key, version, Format::Minisign);
        ok_json(SERVER.cli(
            &[
                "--json",
                "publish",
                "--app",
                "demo",
                "--version",
                version,
                "--rollout",
                rollout,
                "--notes-file",
                notes_file.to_str().unwrap(),
                artifact.to_str().unwrap(),
            ],
            &[("MILLENNIUM_SERVER", server.url.as_str()), ("MILLENNIUM_TOKEN", &publish_token)],
        ));
    }
    Demo { admin_token, publish_token }
}

/// Release `version` of `demo` as the admin API shows it.
async fn release(server: &ServerProcess, version: &str) -> Value {
    let url = format!("{}/api/v1/apps/demo/releases/{version}", server.url);
    let response = reqwest::Client::new().get(url).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn stable(release: &Value) -> &Value {
    release["channels"].as_array().unwrap().iter().find(|p| p["channel"] == "stable").unwrap()
}

// ----- raw HTTP -----

/// A client that shows redirects instead of following them, and keeps no cookies: each request says which it sends.
fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of cookie `name` set by an answer, and the whole `Set-Cookie` line.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    headers.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).find_map(|line| {
        let value = line.strip_prefix(&format!("{name}="))?.split(';').next()?.to_owned();
        Some((value, line))
    })
}

/// The `value` of the first hidden `csrf` field of a page.
fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[start..start + 64].to_owned()
}

/// A dashboard session over raw HTTP: its cookie and a CSRF token of its pages.
struct HttpSession {
    cookie: String,
    csrf: String,
}

/// Signs in to `server` with `token` over raw HTTP; `Err` with the status and page when refused.
async fn sign_in(server: &str, token: &str) -> Result<HttpSession, (StatusCode, String)> {
    let http = http();
    let form = http.get(format!("{server}/ui/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let (login_cookie, _) = set_cookie(form.headers(), "mlnm_login").expect("the sign-in form's cookie");
    let form_token = csrf_of(&form.text().await.unwrap());
    let answer = http
        .post(format!("{server}/ui/login"))
        .header("cookie", format!("mlnm_login={login_cookie}"))
        .form(&[("csrf", form_token.as_str()), ("token", token)])
        .send()
        .await
        .unwrap();
    if answer.status() != StatusCode::SEE_OTHER {
        assert!(set_cookie(answer.headers(), "mlnm_session").is_none(), "a refused sign-in set a session cookie");
        return Err((answer.status(), answer.text().await.unwrap()));
    }
    let (cookie, _) = set_cookie(answer.headers(), "mlnm_session").expect("a session cookie");
    let page = http.get(format!("{server}/ui/")).header("cookie", format!("mlnm_session={cookie}")).send().await;
    let page = page.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    Ok(HttpSession { csrf: csrf_of(&page.text().await.unwrap()), cookie })
}

/// `POST path` on `server` with a session cookie and a form.
async fn post(server: &str, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{server}{path}"))
        .header("cookie", format!("mlnm_session={cookie}"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The attacks of issue 24 on the dashboard, over raw HTTP against the real binary: sign-in with a wrong or a publish
/// token, forms without or with another session's CSRF token, a session cookie from another server, a sign-in form
/// posted without its cookie; plus the headers and cookie attributes every answer must carry.
#[test]
fn dashboard_attacks_over_http_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(&tmp.path().join("one"), &[]);
    let demo = set_up_demo(&server, tmp.path(), "fixes");
    // Another server, on another database, reached over https as far as it knows.
    let other = start(&tmp.path().join("two"), &[("MILLENNIUM_PUBLIC_URL", "https://updates.example")]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let url = server.url.as_str();
        let http = http();

        // Every answer: no script, no framing, no sniffing, no referrer, never cached.
        for path in ["/ui/login", "/ui/", "/ui/style.css", "/ui/apps/demo", "/ui/no/such/page"] {
            let answer = http.get(format!("{url}{path}")).send().await.unwrap();
            let headers = answer.headers();
            let csp = headers["content-security-policy"].to_str().unwrap();
            for directive in ["default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'"]
            {
                assert!(csp.contains(directive), "{path}: {csp}");
            }
            assert!(!csp.contains("script-src"), "{path}: {csp}");
            assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
            assert_eq!(headers["cache-control"], "no-store", "{path}");
        }
        // Not signed in: pages send to the sign-in page, actions are refused.
        let answer = http.get(format!("{url}/ui/apps/demo")).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(answer.headers()[LOCATION], "/ui/login");

        // A wrong token and a publish token cannot sign in.
        let wrong = format!("mlnm_{}_{}", "0".repeat(16), "1".repeat(64));
        for (token, status, says) in [
            (wrong.as_str(), StatusCode::UNAUTHORIZED, "unknown, malformed or revoked token"),
            ("not even a token", StatusCode::UNAUTHORIZED, "unknown, malformed or revoked token"),
            (demo.publish_token.as_str(), StatusCode::FORBIDDEN, "this is a publish token"),
        ] {
            let (refused, page) = sign_in(url, token).await.err().expect("refused");
            assert_eq!(refused, status, "{token}");
            assert!(page.contains(says), "{page}");
        }
        // The sign-in form posted without the cookie it came with (from another site): refused.
        let form = http.get(format!("{url}/ui/login")).send().await.unwrap();
        let form_token = csrf_of(&form.text().await.unwrap());
        let answer = http
            .post(format!("{url}/ui/login"))
            .form(&[("csrf", form_token.as_str()), ("token", demo.admin_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie(answer.headers(), "mlnm_session").is_none());

        // The session cookie: HttpOnly, SameSite=Strict, Path=/ui, and not Secure over plain http.
        let form = http.get(format!("{url}/ui/login")).send().await.unwrap();
        let (login_cookie, _) = set_cookie(form.headers(), "mlnm_login").unwrap();
        let form_token = csrf_of(&form.text().await.unwrap());
        let answer = http
            .post(format!("{url}/ui/login"))
            .header("cookie", format!("mlnm_login={login_cookie}"))
            .form(&[("csrf", form_token.as_str()), ("token", demo.admin_token.as_str())])
            .send()
            .await
            .unwrap();
        let (_, line) = set_cookie(answer.headers(), "mlnm_session").unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
            assert!(line.contains(attribute), "{line}");
        }
        assert!(!line.contains("Secure"), "{line}");

        let a = sign_in(url, &demo.admin_token).await.unwrap();
        let b = sign_in(url, ADMIN_TOKEN).await.unwrap();
        let pause = "/ui/apps/demo/releases/1.1.0/rollout";
        // No CSRF token, an empty one, and session B's token with session A's cookie: 403, nothing changed.
        for form in [
            &[("channel", "stable"), ("paused", "true")][..],
            &[("channel", "stable"), ("paused", "true"), ("csrf", "")],
            &[("channel", "stable"), ("paused", "true"), ("csrf", b.csrf.as_str())],
        ] {
            let answer = post(url, pause, &a.cookie, form).await;
            assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{form:?}");
        }
        assert_eq!(stable(&release(&server, "1.1.0").await)["paused"], false);
        // The same form with the session's own token goes through (so the refusals above were the CSRF check's).
        let answer = post(url, pause, &a.cookie, &[("channel", "stable"), ("paused", "true"), ("csrf", &a.csrf)]).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(answer.headers()[LOCATION], "/ui/apps/demo?done=paused");
        assert_eq!(stable(&release(&server, "1.1.0").await)["paused"], true);

        // A session of the other server (another database), with its own CSRF token: means nothing here.
        let demo_two = set_up_demo(&other, &tmp.path().join("two"), "other");
        let foreign = sign_in(&other.url, &demo_two.admin_token).await.unwrap();
        let answer = http
            .get(format!("{url}/ui/apps/demo"))
            .header("cookie", format!("mlnm_session={}", foreign.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(answer.headers()[LOCATION], "/ui/login");
        let form = [("channel", "stable"), ("paused", "false"), ("csrf", foreign.csrf.as_str())];
        assert_eq!(post(url, pause, &foreign.cookie, &form).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(stable(&release(&server, "1.1.0").await)["paused"], true);
        // The other server's public URL is https: its cookie is `Secure`.
        let form = http.get(format!("{}/ui/login", other.url)).send().await.unwrap();
        let (_, line) = set_cookie(form.headers(), "mlnm_login").unwrap();
        assert!(line.contains("; Secure"), "{line}");

        // Revoking the token behind a session ends the session.
        let id = demo.admin_token.split('_').nth(1).unwrap();
        let revoke = format!("/ui/apps/demo/tokens/{id}/revoke");
        assert_eq!(post(url, &revoke, &b.cookie, &[("csrf", &b.csrf)]).await.status(), StatusCode::SEE_OTHER);
        let answer =
            http.get(format!("{url}/ui/")).header("cookie", format!("mlnm_session={}", a.cookie)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);

        // Signing out ends the session in the database: the old cookie no longer opens anything.
        assert_eq!(post(url, "/ui/logout", &b.cookie, &[("csrf", &b.csrf)]).await.status(), StatusCode::SEE_OTHER);
        let answer =
            http.get(format!("{url}/ui/")).header("cookie", format!("mlnm_session={}", b.cookie)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        // Only hashes of session ids are stored.
        let db = std::fs::read(server.data_dir.join("millennium.db")).unwrap_or_default();
        let wal = std::fs::read(server.data_dir.join("millennium.db-wal")).unwrap_or_default();
        for bytes in [&db, &wal] {
            assert!(!bytes.windows(64).any(|w| w == a.cookie.as_bytes() || w == b.cookie.as_bytes()));
        }
    });
    other.stop();
    server.stop();
}

/// Adoption and sessions across a restart: installs of 1.0.0 check for updates; the server is stopped (SIGTERM
/// flushes the adoption counters) and started again on the same data; the session made before the restart still
/// opens the dashboard (sessions are rows of the database, not the process's memory), and the release page draws the
/// adoption chart with a line for 1.0.0.
#[test]
fn sessions_outlive_a_restart_and_the_release_page_draws_adoption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    let server = start(&dir, &[]);
    let demo = set_up_demo(&server, tmp.path(), "fixes");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let session = runtime.block_on(async {
        let session = sign_in(&server.url, &demo.admin_token).await.unwrap();
        for install in 0..5 {
            let check = format!("{}/demo/linux/x86_64/1.0.0/appimage?install_id=i{install}", server.url);
            assert!(http().get(check).send().await.unwrap().status().is_success());
        }
        session
    });
    server.stop();
    let server = start(&dir, &[]);
    runtime.block_on(async {
        let page = http()
            .get(format!("{}/ui/apps/demo/releases/1.0.0", server.url))
            .header("cookie", format!("mlnm_session={}", session.cookie))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let page = page.text().await.unwrap();
        assert!(page.contains("id=\"adoption-chart\""), "{page}");
        assert!(page.contains("data-version=\"1.0.0\""), "{page}");
    });
    server.stop();
}

// ----- headless Chromium -----

/// `chromedriver` on a loopback port; killed when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChromeDriver {
    fn start(log: &Path) -> ChromeDriver {
        let port = free_loopback_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = ChromeDriver { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A headless Chromium session with a fresh profile in `profile`.
    async fn session(&self, profile: &Path) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": chromium(), "args": args }));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

/// Debian's Chromium binary.
fn chromium() -> String {
    ["/usr/bin/chromium", "/usr/lib/chromium/chromium"]
        .iter()
        .find(|p| Path::new(p).is_file())
        .map_or_else(|| "chromium".into(), |p| (*p).to_owned())
}

/// Where screenshots go: kept after the test for a person (and CI's artifacts) to look at.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// `typeof window.pwned` in the page: `"undefined"` unless injected markup ran.
async fn pwned(browser: &Client) -> String {
    browser.execute("return typeof window.pwned;", vec![]).await.unwrap().as_str().unwrap().to_owned()
}

/// How long a page gets to load after a click.
const PAGE_LOAD: Duration = Duration::from_secs(15);

/// Retries `step` until it succeeds or [`PAGE_LOAD`] passed: a form's submission may still be loading the next page
/// when WebDriver returns from the click, and the element found may belong to the page going away.
async fn retry<T, F: Future<Output = Result<T, fantoccini::error::CmdError>>>(what: &str, step: impl Fn() -> F) -> T {
    let deadline = Instant::now() + PAGE_LOAD;
    loop {
        match step().await {
            Ok(value) => return value,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The text of the element `css` matches.
async fn text(browser: &Client, css: &str) -> String {
    retry(css, || async { browser.find(Locator::Css(css)).await?.text().await }).await
}

async fn click(browser: &Client, css: &str) {
    retry(css, || async { browser.find(Locator::Css(css)).await?.click().await }).await;
}

/// Waits until the page is `path` (a form's answer, or where it redirected to).
async fn wait_path(browser: &Client, path: &str) {
    let deadline = Instant::now() + PAGE_LOAD;
    loop {
        let now = browser.current_url().await.unwrap();
        if now.path() == path {
            return;
        }
        assert!(Instant::now() < deadline, "still on {now}, not {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `#done` says `starts` (the answer of an action on the app page).
async fn wait_done(browser: &Client, starts: &str) {
    let deadline = Instant::now() + PAGE_LOAD;
    loop {
        let done = browser.find(Locator::Id("done")).await;
        if let Ok(done) = done
            && let Ok(text) = done.text().await
            && text.starts_with(starts)
        {
            return;
        }
        assert!(Instant::now() < deadline, "no `{starts}` on the page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in_with(browser: &Client, token: &str) {
    retry("#token", || async { browser.find(Locator::Id("token")).await?.send_keys(token).await }).await;
    click(browser, "#sign-in").await;
}

/// The dashboard in a real headless Chromium against the real server: signing in (a wrong and a publish token first),
/// seeing the release with its rollout and notes, pausing and resuming its rollout, setting its percentage,
/// its release health (numbers and chart), a halt by the server lifted with Resume, the webhook deliveries,
/// promoting a release to another channel, yanking one, making and revoking a token, signing out; markup in release notes, in a token description and in a URL is
/// shown as text and never runs. Screenshots of each step are kept.
#[test]
fn the_dashboard_runs_a_rollout_in_headless_chromium() {
    require_tool("chromium", "chromium");
    require_tool("chromedriver", "chromium-driver");
    let tmp = tempfile::tempdir().unwrap();
    let server = start(&tmp.path().join("server"), &[]);
    let demo = set_up_demo(&server, tmp.path(), XSS);
    let driver = ChromeDriver::start(&tmp.path().join("chromedriver.log"));
    // This run's screenshots only.
    let _ = std::fs::remove_dir_all(screenshot_dir());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let browser = driver.session(&tmp.path().join("profile")).await;
        let url = server.url.as_str();

        // Signed out: the sign-in page. A wrong token, then a publish token, are refused on the page.
        browser.goto(&format!("{url}/ui/apps/demo")).await.unwrap();
        assert_eq!(browser.current_url().await.unwrap().path(), "/ui/login");
        screenshot(&browser, "01-sign-in").await;
        sign_in_with(&browser, "mlnm_0000000000000000_nope").await;
        assert_eq!(text(&browser, "#refused").await, "unknown, malformed or revoked token");
        sign_in_with(&browser, &demo.publish_token).await;
        retry("publish token refused", || async {
            let refused = browser.find(Locator::Id("refused")).await?.text().await?;
            if refused.contains("publish token") { Ok(()) } else { Err(fantoccini::error::CmdError::NotJson(refused)) }
        })
        .await;
        screenshot(&browser, "02-publish-token-refused").await;
        sign_in_with(&browser, &demo.admin_token).await;

        // The apps; the app's releases per channel, with rollout and notes shown as text.
        wait_path(&browser, "/ui/").await;
        assert_eq!(text(&browser, "#apps tbody tr td a").await, "demo");
        screenshot(&browser, "03-apps").await;
        click(&browser, "#apps a").await;
        wait_path(&browser, "/ui/apps/demo").await;
        let row = r#"section[data-channel="stable"] tr[data-version="1.1.0"]"#;
        assert_eq!(text(&browser, &format!("{row} td.rollout")).await, "10 %");
        assert_eq!(text(&browser, &format!("{row} td.state")).await, "live");
        assert_eq!(text(&browser, &format!("{row} td.notes")).await, XSS);
        let admin_id = demo.admin_token.split('_').nth(1).unwrap();
        assert_eq!(text(&browser, &format!(r#"tr[data-token="{admin_id}"] td.description"#)).await, "dashboard test");
        let publish_id = demo.publish_token.split('_').nth(1).unwrap();
        assert_eq!(text(&browser, &format!(r#"tr[data-token="{publish_id}"] td.description"#)).await, XSS);
        assert!(browser.source().await.unwrap().contains("&lt;script&gt;"));
        let injected =
            browser.execute("return document.querySelectorAll('main script, main img').length;", vec![]).await.unwrap();
        assert_eq!(injected, 0);
        assert_eq!(pwned(&browser).await, "undefined");
        screenshot(&browser, "04-app").await;

        // Release health: installs report 10 installs and 3 rollbacks of 1.1.0; a webhook (to a closed port) logs
        // deliveries.
        let api = reqwest::Client::new();
        let events: Vec<Value> = (0..13)
            .map(|i| {
                let kind = if i < 10 { "installed" } else { "rolled_back" };
                let install = format!("install-{}", i % 10);
                serde_json::json!({"kind": kind, "install_id": install, "from": "1.0.0", "to": "1.1.0",
                    "target": "linux-x86_64-appimage"})
            })
            .collect();
        let answer = api.post(format!("{url}/demo/events")).json(&serde_json::json!({ "events": events })).send();
        let answer: Value = answer.await.unwrap().json().await.unwrap();
        assert_eq!(answer["accepted"], 13, "{answer}");
        let closed = format!("http://127.0.0.1:{}/hook", free_loopback_port());
        let hook = api.post(format!("{url}/api/v1/apps/demo/webhooks")).bearer_auth(ADMIN_TOKEN);
        let hook = hook.json(&serde_json::json!({ "url": closed })).send().await.unwrap();
        assert_eq!(hook.status(), StatusCode::CREATED);
        browser.refresh().await.unwrap();
        let health = r#"#releases tr[data-version="1.1.0"] td.health"#;
        assert_eq!(text(&browser, health).await, "10 installs, 3 failed (30.0 %)");
        click(&browser, r#"#releases tr[data-version="1.1.0"] td a"#).await;
        wait_path(&browser, "/ui/apps/demo/releases/1.1.0").await;
        assert_eq!(text(&browser, "#totals td.installed").await, "10");
        assert_eq!(text(&browser, "#totals td.failure-percent").await, "30.0 %");
        let bars = browser.find_all(Locator::Css("#health-chart rect.installs")).await.unwrap();
        assert!(!bars.is_empty());
        assert_eq!(browser.find_all(Locator::Css("#health-chart rect.failures")).await.unwrap().len(), bars.len());
        screenshot(&browser, "05-release-health").await;

        // A halt rule the release is already over: the server halts the rollout; the page says why, and Resume
        // (the API's own resume) lifts the halt.
        let rule = serde_json::json!({"rule": {"max_failure_percent": 20, "min_installs": 5}});
        let set = api.put(format!("{url}/api/v1/apps/demo/releases/1.1.0/halt-rule")).bearer_auth(ADMIN_TOKEN);
        assert_eq!(set.json(&rule).send().await.unwrap().status(), StatusCode::OK);
        assert!(release(&server, "1.1.0").await["halted"].is_object());
        browser.refresh().await.unwrap();
        assert!(text(&browser, "#halted").await.starts_with("Rollout halted by the server"));
        browser.goto(&format!("{url}/ui/apps/demo")).await.unwrap();
        assert_eq!(text(&browser, &format!("{row} td.state")).await, "halted paused");
        screenshot(&browser, "06-halted").await;
        click(&browser, &format!("{row} button.resume")).await;
        wait_done(&browser, "Rollout resumed.").await;
        let resumed = release(&server, "1.1.0").await;
        assert!(resumed["halted"].is_null() && stable(&resumed)["paused"] == false, "{resumed}");

        // Pause, then resume the 10 % rollout.
        click(&browser, &format!("{row} button.pause")).await;
        wait_done(&browser, "Rollout paused").await;
        assert_eq!(text(&browser, &format!("{row} td.state")).await, "paused");
        assert_eq!(stable(&release(&server, "1.1.0").await)["paused"], true);
        screenshot(&browser, "07-paused").await;
        click(&browser, &format!("{row} button.resume")).await;
        wait_done(&browser, "Rollout resumed.").await;
        assert_eq!(stable(&release(&server, "1.1.0").await)["paused"], false);

        // The webhook's deliveries of those changes.
        click(&browser, "#webhooks-link").await;
        wait_path(&browser, "/ui/apps/demo/webhooks").await;
        assert!(text(&browser, "#hooks td.url").await.starts_with("http://127.0.0.1:"));
        let changed = browser.find_all(Locator::Css(r#"tr.delivery[data-event="rollout.changed"]"#)).await.unwrap();
        assert!(changed.len() >= 2, "{} rollout.changed deliveries", changed.len());
        assert!(browser.find(Locator::Css(r#"tr.delivery[data-event="rollout.halted"]"#)).await.is_ok());
        screenshot(&browser, "08-webhook-deliveries").await;
        browser.goto(&format!("{url}/ui/apps/demo")).await.unwrap();

        // A new percentage.
        let percent = browser.find(Locator::Css(&format!("{row} input.percent"))).await.unwrap();
        percent.clear().await.unwrap();
        percent.send_keys("50").await.unwrap();
        click(&browser, &format!("{row} form.set-rollout button")).await;
        wait_done(&browser, "Rollout changed.").await;
        assert_eq!(text(&browser, &format!("{row} td.rollout")).await, "50 %");
        assert_eq!(stable(&release(&server, "1.1.0").await)["rollout"], 50);

        // Promote 1.0.0 to `beta` at 20 %.
        let promote = r#"#releases tr[data-version="1.0.0"] form.promote"#;
        let channel = browser.find(Locator::Css(&format!("{promote} input.channel"))).await.unwrap();
        channel.send_keys("beta").await.unwrap();
        let percent = browser.find(Locator::Css(&format!("{promote} input.percent"))).await.unwrap();
        percent.clear().await.unwrap();
        percent.send_keys("20").await.unwrap();
        click(&browser, &format!("{promote} button")).await;
        wait_done(&browser, "Promoted.").await;
        assert_eq!(text(&browser, r#"section[data-channel="beta"] tr[data-version="1.0.0"] td.rollout"#).await, "20 %");
        let promoted = release(&server, "1.0.0").await;
        let beta = promoted["channels"].as_array().unwrap().iter().find(|p| p["channel"] == "beta").unwrap();
        assert_eq!(beta["rollout"], 20);

        // Yank it.
        click(&browser, r#"#releases tr[data-version="1.1.0"] button.yank"#).await;
        wait_done(&browser, "Release yanked").await;
        assert!(text(&browser, &format!("{row} td.state")).await.contains("yanked"));
        assert_eq!(release(&server, "1.1.0").await["yanked"], true);
        screenshot(&browser, "09-yanked").await;

        // A token, shown once, that works; then revoked from the page.
        browser.find(Locator::Id("description")).await.unwrap().send_keys(XSS).await.unwrap();
        click(&browser, "#create-token button").await;
        let token = text(&browser, "#new-token").await;
        assert!(token.starts_with("mlnm_"), "{token}");
        assert_eq!(pwned(&browser).await, "undefined");
        screenshot(&browser, "10-token-created").await;
        let check = |token: String| async move {
            let answer =
                reqwest::Client::new().get(format!("{url}/api/v1/apps/demo")).bearer_auth(token).send().await.unwrap();
            answer.status()
        };
        assert_eq!(check(token.clone()).await, StatusCode::OK);
        browser.goto(&format!("{url}/ui/apps/demo")).await.unwrap();
        let id = token.split('_').nth(1).unwrap().to_owned();
        assert_eq!(text(&browser, &format!(r#"tr[data-token="{id}"] td.description"#)).await, XSS);
        assert_eq!(pwned(&browser).await, "undefined");
        click(&browser, &format!(r#"tr[data-token="{id}"] button.revoke"#)).await;
        wait_done(&browser, "Token revoked.").await;
        assert_eq!(check(token).await, StatusCode::UNAUTHORIZED);

        // Markup in a URL (an app name) is quoted as text in the error page.
        let name = "\"><img src=x onerror=\"window.pwned='name'\"><script>window.pwned='name'</script>";
        let mut target = url::Url::parse(url).unwrap();
        target.path_segments_mut().unwrap().extend(["ui", "apps", name]);
        browser.goto(target.as_str()).await.unwrap();
        assert!(text(&browser, "#message").await.contains("invalid app id"));
        assert!(text(&browser, "#message").await.contains("<img src=x"));
        assert_eq!(pwned(&browser).await, "undefined");
        screenshot(&browser, "11-markup-in-a-name").await;

        // Sign out: back to the sign-in page, and the pages are closed again.
        browser.goto(&format!("{url}/ui/")).await.unwrap();
        click(&browser, "#sign-out").await;
        wait_path(&browser, "/ui/login").await;
        browser.goto(&format!("{url}/ui/apps/demo")).await.unwrap();
        wait_path(&browser, "/ui/login").await;
        screenshot(&browser, "12-signed-out").await;
        browser.close().await.unwrap();
    });
    drop(driver);
    server.stop();
}
