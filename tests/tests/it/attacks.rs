//! The attacks of `docs/protocol.md` §7.2, played end to end: a real `millennium-update-server` (in-process, with
//! SQLite and files, on loopback) administered and published to with its CLI, a **malicious mirror** between it and
//! the real `millennium-updater` that forwards requests and rewrites the answers, and an app that must be left as it
//! is after every attack. Prints the table `attack | outcome | error` (run with `--nocapture` to see it);
//! `docs/protocol.md` §7.4 reproduces it.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]
#![cfg(target_os = "linux")] // the updater installs on Linux only so far

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use millennium_sign::{Format, PublicKey, SecretKey, SecretKeyBox};
use millennium_testing::app::{Fixture, run, script_app};
use millennium_testing::http::{MockServer, Reply, Request};
use millennium_testing::keys::write_key;
use millennium_testing::server::{Backend, RegisteredApp, TestServer};
use millennium_update_admin::api::Scope;
use millennium_update_protocol::Error as ProtocolError;
use millennium_update_protocol::metadata::{Envelope, Freshness, Kind, Root, TrustState, freshness_sequence_at};
use millennium_update_server::names::AppId;
use millennium_updater::{Error, Updater};

fn target() -> String {
    format!("linux-{}", std::env::consts::ARCH)
}

/// The real server (SQLite + files) on a loopback port, signing freshness documents valid for `freshness_lifetime`.
async fn start_world(freshness_lifetime: Duration) -> TestServer {
    TestServer::start_with(
        |_| Backend::local(),
        |mut config| {
            config.freshness_lifetime = freshness_lifetime;
            config
        },
    )
    .await
}

/// An answer of the real server, as the mirror received it.
#[derive(Clone)]
struct Upstream {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Upstream {
    fn reply(self) -> Reply {
        Reply::Full { status: self.status, headers: self.headers, body: self.body }
    }

    fn with_body(self, body: Vec<u8>) -> Reply {
        let headers = self.headers.into_iter().filter(|(n, _)| !n.eq_ignore_ascii_case("content-range")).collect();
        Reply::Full { status: 200, headers, body }
    }
}

/// GETs `url` from the real server (from the mirror's synchronous handler), passing on the range headers.
fn fetch(url: &str, request: Option<&Request>) -> Upstream {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let mut builder = reqwest::Client::new().get(url);
            for name in ["Range", "If-Range", "If-None-Match"] {
                if let Some(value) = request.and_then(|r| r.header(name)) {
                    builder = builder.header(name, value);
                }
            }
            let response = builder.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = ["content-type", "etag", "content-range", "accept-ranges", "last-modified"]
                .iter()
                .filter_map(|name| {
                    let value = response.headers().get(*name)?.to_str().ok()?.to_owned();
                    Some(((*name).to_owned(), value))
                })
                .collect();
            Upstream { status, headers, body: response.bytes().await.unwrap().to_vec() }
        })
    })
}

/// How the mirror answers: the request (path under the app's metadata base) and the real server's answer to it.
type Rewrite = Arc<dyn Fn(&str, &Request, Upstream) -> Reply + Send + Sync>;

/// One app on the real server, with its release key, root keys a, b and c (2 of 3 sign roots), a mirror in front,
/// and an install of version 1.0.0.
struct Scenario<'w> {
    world: &'w TestServer,
    app: RegisteredApp,
    /// Root keys a, b, c: the key and its file (the public key beside it, `.pub`).
    root_keys: Vec<(SecretKey, PathBuf)>,
    fixture: Fixture,
    mirror: MockServer,
    rewrite: Arc<Mutex<Rewrite>>,
}

fn honest() -> Rewrite {
    Arc::new(|_, _, upstream| upstream.reply())
}

impl<'w> Scenario<'w> {
    /// Registers `app` with a new release key, generates the server's online key and uploads root 1 (the recommended
    /// setup: root keys a, b and c, 2 of them needed, apart from the release key), all with the CLI, and puts an
    /// honest mirror in front.
    async fn new(world: &'w TestServer, app: &str) -> Scenario<'w> {
        let registered = world.register(app, Scope::Admin).await;
        let root_keys: Vec<(SecretKey, PathBuf)> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let root_key = SecretKey::generate().unwrap();
                let file = world.dir.path().join(format!("{app}-root-{name}.key"));
                write_key(&file, &root_key);
                std::fs::write(file.with_extension("pub"), root_key.public_key().to_text(Format::Minisign)).unwrap();
                (root_key, file)
            })
            .collect();
        let rewrite = Arc::new(Mutex::new(honest()));
        let base = format!("/metadata/{app}/");
        let (upstream, current) = (world.url.clone(), rewrite.clone());
        let mirror = MockServer::start(move |request| {
            let Some(path) = request.path.strip_prefix(&base) else { return Reply::status(404) };
            let answer = fetch(&format!("{upstream}{}", request.path), Some(request));
            let rewrite = current.lock().unwrap().clone();
            rewrite(path, request, answer)
        })
        .await;
        let scenario = Scenario { world, app: registered, root_keys, fixture: Fixture::new(), mirror, rewrite };
        let online = scenario.online_key().await;
        let mut args = vec!["root", "sign", "--app", app, "--release-key", scenario.app.key_file.to_str().unwrap()];
        args.extend(["--root-key", scenario.root_key(0), "--root-key", scenario.root_key(1), "--threshold", "2"]);
        let public: Vec<String> =
            (0..3).map(|i| scenario.root_keys[i].1.with_extension("pub").display().to_string()).collect();
        for file in &public {
            args.extend(["--root-public-key", file]);
        }
        args.extend(["--online-key", &online]);
        scenario.cli(&args).await;
        scenario
    }

    /// Root key `i` (0 = a): its file.
    fn root_key(&self, i: usize) -> &str {
        self.root_keys[i].1.to_str().unwrap()
    }

    /// Generates an online key with the CLI; a file holding its public key.
    async fn online_key(&self) -> String {
        let key = self.cli(&["online-key", "generate", "--app", &self.app.id]).await;
        let name = format!("{}-online-{}.pub", self.app.id, key["key_id"].as_str().unwrap());
        let file = self.world.dir.path().join(name);
        std::fs::write(&file, key["public_key"].as_str().unwrap()).unwrap();
        file.display().to_string()
    }

    /// Root-key holders a and b revoke the online key `key_id` with the CLI: root 2 lists it as revoked and names a
    /// new online key, whose public key file is returned.
    async fn revoke_online_key(&self, key_id: &str) -> String {
        let replacement = self.online_key().await;
        let (a, b) = (self.root_key(0), self.root_key(1));
        let args = ["root", "sign", "--app", &self.app.id, "--root-key", a, "--root-key", b, "--revoke", key_id];
        self.cli(&[&args[..], &["--online-key", &replacement]].concat()).await;
        replacement
    }

    /// Runs the CLI (in-process) with the app's admin token.
    async fn cli(&self, args: &[&str]) -> serde_json::Value {
        self.app.cli(args).await.unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// The online key the real server signs freshness with now, as whoever reads its database gets it.
    async fn steal_online_key(&self) -> (SecretKey, String) {
        let app_id = AppId::parse(&self.app.id).unwrap();
        let stolen = self.world.state.db().online_keys(&app_id).await.unwrap().remove(0);
        (SecretKeyBox::from_text(&stolen.secret_key).unwrap().open(None).unwrap(), stolen.key_id)
    }

    /// Publishes `version` with the CLI: this machine's artifact plus `others` (target, bytes), each signed with the
    /// release key in `key_file`, which also signs the release document.
    async fn publish_with(&self, version: &str, key_file: &Path, others: &[(&str, Vec<u8>)]) {
        let key = SecretKeyBox::from_text(&std::fs::read_to_string(key_file).unwrap()).unwrap().open(None).unwrap();
        let mut artifacts = vec![self.app.artifact(version, &target(), &script_app(version, 8192), &key)];
        artifacts.extend(others.iter().map(|(target, data)| self.app.artifact(version, target, data, &key)));
        let release_key = ["--release-key", key_file.to_str().unwrap()];
        self.app
            .cli_publish(version, &artifacts, &release_key)
            .await
            .unwrap_or_else(|e| panic!("publish {version}: {e}"));
    }

    async fn publish(&self, version: &str) {
        self.publish_with(version, &self.app.key_file, &[]).await;
    }

    /// `root upload` with the CLI: the server's answer to a root signed elsewhere.
    async fn upload_root(&self, root: &Envelope) -> Result<serde_json::Value, millennium_update_admin::Error> {
        let file = self.world.dir.path().join(format!("{}-root-{}.json", self.app.id, &root.hash()[..16]));
        std::fs::write(&file, root.to_json()).unwrap();
        self.app.cli(&["root", "upload", "--app", &self.app.id, file.to_str().unwrap()]).await
    }

    fn set(&self, rewrite: Rewrite) {
        *self.rewrite.lock().unwrap() = rewrite;
    }

    /// A document as the real server serves it now.
    fn upstream(&self, path: &str) -> Vec<u8> {
        let url = format!("{}/metadata/{}/{path}", self.world.url, self.app.id);
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(async { reqwest::get(&url).await.unwrap().bytes().await.unwrap().to_vec() })
        })
    }

    fn updater(&self) -> Updater {
        Updater::builder()
            .metadata_url(self.mirror.url(&format!("/metadata/{}", self.app.id)))
            .pubkey(self.app.key.public_key().to_text(Format::Minisign))
            .current_version("1.0.0")
            .app_id(&self.app.id)
            .executable(&self.fixture.app)
            .bundle_type(None)
            .state_dir(&self.fixture.state)
            .install_id("install-1")
            .build()
            .unwrap()
    }

    /// Check, download, install: the installed version, or the error of the first step that failed.
    async fn update(&self) -> Result<Option<String>, Error> {
        let Some(update) = self.updater().check().await? else { return Ok(None) };
        update.download_and_install(|_| {}).await?;
        Ok(Some(update.version().to_string()))
    }

    fn trust(&self) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.fixture.state.join("trust.json")).ok()?;
        let state: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        Some(serde_json::json!([state["channels"], state["root_version"]]))
    }

    /// Plays an attack: the update must fail with an error `expected` accepts, leaving the app's file, what it
    /// runs, its downloads and the releases its trust state records as they were.
    async fn refused(&self, attack: &'static str, expected: impl Fn(&Error) -> bool) -> Row {
        let trust = self.trust();
        let result = self.update().await;
        let error = match &result {
            Ok(outcome) => return Row::failed(attack, format!("not refused: {outcome:?}"), String::new()),
            Err(e) => e,
        };
        let untouched = std::fs::read(&self.fixture.app).unwrap() == self.fixture.v1
            && run(&self.fixture.app) == "1.0.0"
            && self.fixture.downloads().iter().all(|f| !f.ends_with(".verified"))
            && (trust.is_none() || self.trust() == trust);
        let ok = expected(error) && untouched;
        let outcome = if !untouched {
            "refused, but the app or its trust state changed".to_owned()
        } else {
            "refused, app unchanged".to_owned()
        };
        Row { attack, outcome, error: describe(error), ok }
    }

    /// [`Self::refused`] for the usual case: refused by the protocol's trust checks with an error `expected` accepts.
    async fn refused_untrusted(&self, attack: &'static str, expected: fn(&ProtocolError) -> bool) -> Row {
        self.refused(attack, move |e| untrusted(e, expected)).await
    }

    /// An attack the server itself refuses (`refusal`: the error code it answered, or `None` if it did not): the app,
    /// updating afterwards, must be offered nothing and be left as it was.
    async fn server_refused(&self, attack: &'static str, refusal: Option<String>, expected: &str) -> Row {
        let trust = self.trust();
        let Some(code) = refusal else {
            let outcome = format!("not refused by the server; the app then: {:?}", self.update().await);
            return Row::failed(attack, outcome, String::new());
        };
        let result = self.update().await;
        let untouched = std::fs::read(&self.fixture.app).unwrap() == self.fixture.v1
            && run(&self.fixture.app) == "1.0.0"
            && self.trust() == trust;
        let ok = code == expected && matches!(result, Ok(None)) && untouched;
        let outcome = if ok { "refused by the server, app unchanged".to_owned() } else { format!("{result:?}") };
        Row { attack, outcome, error: code, ok }
    }

    /// The honest path: the update installs `version`.
    async fn installs(&self, attack: &'static str, version: &str) -> Row {
        match self.update().await {
            Ok(Some(installed)) if installed == version && run(&self.fixture.app) == version => {
                Row { attack, outcome: format!("accepted, {version} installed"), error: "-".into(), ok: true }
            }
            other => Row::failed(attack, format!("{other:?}"), String::new()),
        }
    }
}

/// The error's kind (and the protocol error inside it): what the table shows.
fn describe(error: &Error) -> String {
    let variant = |debug: String| debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned();
    match error {
        Error::Untrusted { source } => format!("Untrusted({})", variant(format!("{source:?}"))),
        other => variant(format!("{other:?}")),
    }
}

fn untrusted(error: &Error, expected: fn(&ProtocolError) -> bool) -> bool {
    matches!(error, Error::Untrusted { source } if expected(source))
}

struct Row {
    attack: &'static str,
    outcome: String,
    error: String,
    ok: bool,
}

impl Row {
    fn failed(attack: &'static str, outcome: String, error: String) -> Row {
        Row { attack, outcome: format!("UNEXPECTED: {outcome}"), error, ok: false }
    }
}

/// Re-signs the freshness document `body` (as served) with `key`, `sequence_bump` higher.
/// A mirror that re-signs every freshness document it passes on with `key` (and a higher sequence, so it would win).
fn freshness_signed_by(key: SecretKey) -> Rewrite {
    Arc::new(move |path, _, upstream| {
        if path == "freshness.json" {
            let body = resign_freshness(&upstream.body, &key, 10);
            upstream.with_body(body)
        } else {
            upstream.reply()
        }
    })
}

fn resign_freshness(body: &[u8], key: &SecretKey, sequence_bump: u64) -> Vec<u8> {
    edit_freshness(body, key, |document| document.sequence += sequence_bump)
}

/// The freshness document `body` (as served), changed by `edit` and signed with `key`.
fn edit_freshness(body: &[u8], key: &SecretKey, edit: impl FnOnce(&mut Freshness)) -> Vec<u8> {
    let envelope = Envelope::parse(body).unwrap();
    let mut document: Freshness = serde_json::from_str(&envelope.payload).unwrap();
    edit(&mut document);
    Envelope::sign(&document, Kind::Freshness, &[key]).unwrap().to_json().into_bytes()
}

/// A mirror that passes every freshness document on changed by `edit` and signed with `key`.
fn freshness_edited_by(key: SecretKey, edit: impl Fn(&mut Freshness) + Send + Sync + 'static) -> Rewrite {
    Arc::new(move |path, _, upstream| {
        if path == "freshness.json" {
            let body = edit_freshness(&upstream.body, &key, &edit);
            upstream.with_body(body)
        } else {
            upstream.reply()
        }
    })
}

/// A mirror that appends `root` to the served roots and signs every freshness document with `key`.
fn forged_root(root: Envelope, key: SecretKey) -> Rewrite {
    Arc::new(move |path, _, upstream| match path {
        "roots.json" => {
            let mut roots: Vec<serde_json::Value> = serde_json::from_slice(&upstream.body).unwrap();
            roots.push(serde_json::from_str(&root.to_json()).unwrap());
            let body = serde_json::to_vec(&roots).unwrap();
            upstream.with_body(body)
        }
        "freshness.json" => {
            let body = resign_freshness(&upstream.body, &key, 10);
            upstream.with_body(body)
        }
        _ => upstream.reply(),
    })
}

fn is_file(path: &str) -> bool {
    path.starts_with("files/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_attack_through_a_malicious_mirror_is_refused() {
    let world = start_world(Duration::from_secs(24 * 3600)).await;
    let mut rows = Vec::new();

    // The honest path.
    let s = Scenario::new(&world, "honest").await;
    s.publish("2.0.0").await;
    rows.push(s.installs("none (honest mirror)", "2.0.0").await);

    // Rollback: after 3.0.0 was installed, the server (holding the online key) offers the older, validly signed
    // 2.0.0 again; here by yanking 3.0.0, which makes the real server sign a newer freshness document offering 2.0.0.
    let s = Scenario::new(&world, "rollback").await;
    s.publish("2.0.0").await;
    s.publish("3.0.0").await;
    assert_eq!(s.update().await.unwrap().as_deref(), Some("3.0.0"));
    s.fixture.reinstall_v1();
    s.cli(&["yank", "--app", "rollback", "--version", "3.0.0", "--release-key", s.app.key_file.to_str().unwrap()])
        .await;
    rows.push(
        s.refused_untrusted("rollback to an older signed release", |p| matches!(p, ProtocolError::Rollback { .. }))
            .await,
    );

    // Replay: the mirror serves the freshness document it saw before a newer one reached the app.
    let s = Scenario::new(&world, "replay").await;
    s.publish("2.0.0").await;
    let old = s.upstream("freshness.json");
    s.cli(&["rollout", "set", "--app", "replay", "--version", "2.0.0", "100"]).await;
    assert!(s.updater().check().await.unwrap().is_some(), "the newer freshness document is seen");
    s.set(Arc::new(
        move |path, _, upstream| {
            if path == "freshness.json" { upstream.with_body(old.clone()) } else { upstream.reply() }
        },
    ));
    rows.push(
        s.refused_untrusted("replay of an old freshness file", |p| matches!(p, ProtocolError::Replay { .. })).await,
    );

    // Mix and match: the release document of 2.0.0 is served where 3.0.0's is asked for.
    let s = Scenario::new(&world, "mix").await;
    s.publish("2.0.0").await;
    s.publish("3.0.0").await;
    let other = s.upstream("channels/stable/releases/2.0.0.json");
    s.set(Arc::new(move |path, _, upstream| {
        if path.ends_with("releases/3.0.0.json") { upstream.with_body(other.clone()) } else { upstream.reply() }
    }));
    rows.push(
        s.refused_untrusted("mix-and-match (another release's document)", |p| {
            matches!(p, ProtocolError::MixAndMatch { .. })
        })
        .await,
    );

    // Endless data: the artifact never ends.
    let s = Scenario::new(&world, "endless").await;
    s.publish("2.0.0").await;
    s.set(Arc::new(|path, _, upstream| {
        if is_file(path) { Reply::Endless { status: 200, headers: upstream.headers } } else { upstream.reply() }
    }));
    // Without a length the download is cut off at the signed size.
    rows.push(s.refused("endless data (no length, never ends)", |e| matches!(e, Error::TooMuchData { .. })).await);
    s.set(Arc::new(|path, _, upstream| {
        if is_file(path) {
            let mut body = upstream.body.clone();
            body.extend(std::iter::repeat_n(b'#', 1 << 20));
            upstream.with_body(body)
        } else {
            upstream.reply()
        }
    }));
    rows.push(
        s.refused_untrusted("endless data (longer than signed)", |p| matches!(p, ProtocolError::EndlessData { .. }))
            .await,
    );

    // Wrong target: the mirror serves the Windows installer of the same release (same size) for this platform.
    let s = Scenario::new(&world, "target").await;
    let windows = script_app("2.0.0-windows", 8192);
    s.publish_with("2.0.0", &s.app.key_file, &[("windows-x86_64-nsis", windows)]).await;
    let other = s.upstream("files/2.0.0/windows-x86_64-nsis/target-2.0.0-windows-x86_64-nsis");
    s.set(Arc::new(move |path, _, upstream| {
        if path.starts_with(&format!("files/2.0.0/{}/", target())) {
            upstream.with_body(other.clone())
        } else {
            upstream.reply()
        }
    }));
    rows.push(
        s.refused_untrusted("wrong target (another platform's artifact)", |p| {
            matches!(p, ProtocolError::TamperedArtifact { .. })
        })
        .await,
    );

    // Tampered artifact: one bit flipped, same size.
    let s = Scenario::new(&world, "tamper").await;
    s.publish("2.0.0").await;
    s.set(Arc::new(|path, _, upstream| {
        if is_file(path) {
            let mut body = upstream.body.clone();
            body[100] ^= 1;
            upstream.with_body(body)
        } else {
            upstream.reply()
        }
    }));
    rows.push(s.refused_untrusted("tampered artifact", |p| matches!(p, ProtocolError::TamperedArtifact { .. })).await);

    // Unknown key: the mirror signs its own freshness document (newer, so it would win) with a key of its own.
    let s = Scenario::new(&world, "unknown").await;
    s.publish("2.0.0").await;
    let stranger = SecretKey::generate().unwrap();
    s.set(freshness_signed_by(stranger));
    rows.push(
        s.refused_untrusted("signature by an unknown key", |p| matches!(p, ProtocolError::MetadataSignature { .. }))
            .await,
    );

    // Revoked key: the online key leaks (read here from the server's database); root-key holders a and b revoke it
    // with the CLI (new online key, root 2 listing the old one as revoked). The thief's freshness is refused.
    let s = Scenario::new(&world, "revoked").await;
    s.publish("2.0.0").await;
    let (stolen_key, stolen_id) = s.steal_online_key().await;
    s.revoke_online_key(&stolen_id).await;
    s.set(freshness_signed_by(stolen_key));
    rows.push(
        s.refused_untrusted("signature by a revoked (leaked) online key", |p| {
            matches!(p, ProtocolError::MetadataSignature { .. })
        })
        .await,
    );

    // Malformed metadata: a truncated freshness document, and a truncated release document.
    let s = Scenario::new(&world, "truncated").await;
    s.publish("2.0.0").await;
    s.set(Arc::new(|path, _, upstream| {
        if path == "freshness.json" {
            let half = upstream.body[..upstream.body.len() / 2].to_vec();
            upstream.with_body(half)
        } else {
            upstream.reply()
        }
    }));
    rows.push(
        s.refused_untrusted("malformed metadata (truncated freshness)", |p| {
            matches!(p, ProtocolError::InvalidJson { .. })
        })
        .await,
    );
    s.set(Arc::new(|path, _, upstream| {
        if path.contains("/releases/") {
            let cut = upstream.body[..upstream.body.len() - 40].to_vec();
            upstream.with_body(cut)
        } else {
            upstream.reply()
        }
    }));
    rows.push(
        s.refused_untrusted("malformed metadata (truncated release document)", |p| {
            matches!(p, ProtocolError::InvalidJson { .. })
        })
        .await,
    );

    // Key rotation through a valid chain: root 2 (CLI, signed by root keys a and b) names a new release key, then
    // 3.0.0 is signed with the new key only; the app, which pins the old key, follows the chain and installs it.
    let s = Scenario::new(&world, "rotation").await;
    let new_key_file = world.dir.path().join("rotation-new.key");
    let new_key = SecretKey::generate().unwrap();
    write_key(&new_key_file, &new_key);
    s.cli(&[
        "root",
        "sign",
        "--app",
        "rotation",
        "--root-key",
        s.root_key(0),
        "--root-key",
        s.root_key(1),
        "--new-release-key",
        new_key_file.to_str().unwrap(),
    ])
    .await;
    s.publish_with("3.0.0", &new_key_file, &[]).await;
    rows.push(s.installs("key rotation through a valid chain", "3.0.0").await);
    // An app built after the rotation pins the new key, which signed root 2: it starts trusting from there.
    let roots = String::from_utf8(s.upstream("roots.json")).unwrap();
    let roots = millennium_update_admin::offline::parse_roots(&roots).unwrap();
    let fresh_install = TrustState::bootstrap("rotation", &new_key.public_key(), &roots).unwrap();
    assert_eq!(fresh_install.root_version, 2);

    // Key rotation through a broken chain: the mirror appends a root 2 signed only by its own key (naming itself
    // release and online key) and serves a freshness document signed with it.
    let s = Scenario::new(&world, "hijack").await;
    s.publish("2.0.0").await;
    let thief = SecretKey::generate().unwrap();
    let root2 = Root::new("hijack", 2, &[thief.public_key()], &[thief.public_key()]);
    s.set(forged_root(Envelope::sign(&root2, Kind::Root, &[&thief]).unwrap(), thief));
    rows.push(
        s.refused_untrusted("key rotation through a broken chain", |p| matches!(p, ProtocolError::RootChain { .. }))
            .await,
    );

    // Freeze: the mirror keeps serving a freshness document past its expiry (the server re-signs; the mirror
    // does not pass it on). A server with a 2-second freshness lifetime stands in for a day passing.
    let short = start_world(Duration::from_secs(2)).await;
    let s = Scenario::new(&short, "freeze").await;
    s.publish("2.0.0").await;
    let frozen = s.upstream("freshness.json");
    s.set(Arc::new(
        move |path, _, upstream| {
            if path == "freshness.json" { upstream.with_body(frozen.clone()) } else { upstream.reply() }
        },
    ));
    tokio::time::sleep(Duration::from_millis(2200)).await;
    rows.push(
        s.refused_untrusted("freeze (expired freshness served forever)", |p| {
            matches!(p, ProtocolError::Expired { .. })
        })
        .await,
    );

    // Freshness fast-forward: the thief of the online key numbers its freshness document 2^64 - 2 and offers nothing,
    // so that every honest document after it would be a replay (a freeze that outlives the key).
    let s = Scenario::new(&world, "fastforward").await;
    s.publish("2.0.0").await;
    let (stolen, _) = s.steal_online_key().await;
    s.set(freshness_edited_by(stolen, |document| {
        document.sequence = u64::MAX - 1;
        document.channels.clear();
    }));
    rows.push(
        s.refused_untrusted("freshness fast-forward to 2^64 - 2 (stolen online key)", |p| {
            matches!(p, ProtocolError::FastForward { .. })
        })
        .await,
    );

    // Recovery: the thief numbers it as far ahead as clients allow (their clock + 9 minutes); the app accepts it and
    // then refuses every honest document as a replay, until root 2 (root keys a and b) revokes the stolen key.
    let s = Scenario::new(&world, "recovery").await;
    let (stolen, stolen_id) = s.steal_online_key().await;
    let ahead = freshness_sequence_at(time::OffsetDateTime::now_utc() + time::Duration::minutes(9));
    s.set(freshness_edited_by(stolen, move |document| {
        document.sequence = ahead;
        document.channels.clear();
    }));
    assert!(s.updater().check().await.unwrap().is_none(), "the fast-forward within the bound is accepted");
    s.set(honest());
    s.publish("2.0.0").await;
    let stuck = s.update().await;
    assert!(untrusted(stuck.as_ref().unwrap_err(), |p| matches!(p, ProtocolError::Replay { .. })), "{stuck:?}");
    s.revoke_online_key(&stolen_id).await;
    rows.push(s.installs("fast-forward within the bound, then a root revoking the stolen key", "2.0.0").await);

    // A root signed by 1 of the 2 root keys needed: the thief holds root key a (and keys of its own for the rest).
    // The server refuses it at upload; served by the mirror, the app refuses it.
    let s = Scenario::new(&world, "onekey").await;
    s.publish("2.0.0").await;
    let (thief_root, thief_online) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
    let root2 = Root::new("onekey", 2, &[s.app.key.public_key()], &[thief_online.public_key()])
        .with_root_keys(&[s.root_keys[0].0.public_key(), thief_root.public_key()], 1);
    let root2 = Envelope::sign(&root2, Kind::Root, &[&s.root_keys[0].0, &thief_root]).unwrap();
    let refused = s.upload_root(&root2).await.unwrap_err();
    assert!(refused.code() == "bad_metadata" && refused.to_string().contains("1 of the 2"), "{refused}");
    s.set(forged_root(root2, thief_online));
    rows.push(
        s.refused_untrusted("root signed by 1 of the 2 root keys needed", |p| {
            matches!(p, ProtocolError::RootChain { .. })
        })
        .await,
    );

    // The release key (CI's) alone replaces the root: root 2 names the thief's key as the only root key.
    let s = Scenario::new(&world, "cikey").await;
    s.publish("2.0.0").await;
    let (thief_root, thief_online) = (SecretKey::generate().unwrap(), SecretKey::generate().unwrap());
    let root2 = Root::new("cikey", 2, &[s.app.key.public_key()], &[thief_online.public_key()])
        .with_root_keys(&[thief_root.public_key()], 1);
    let root2 = Envelope::sign(&root2, Kind::Root, &[&s.app.key, &thief_root]).unwrap();
    let refused = s.upload_root(&root2).await.unwrap_err();
    assert_eq!(refused.code(), "bad_metadata", "{refused}");
    s.set(forged_root(root2, thief_online));
    rows.push(
        s.refused_untrusted("root replaced with the release key alone", |p| {
            matches!(p, ProtocolError::RootChain { .. })
        })
        .await,
    );

    // A revoked online key that a later, carelessly signed root lists again (made by hand: the CLI keeps revoked
    // keys out) stays revoked.
    let s = Scenario::new(&world, "relisted").await;
    s.publish("2.0.0").await;
    let (stolen, stolen_id) = s.steal_online_key().await;
    let replacement = s.revoke_online_key(&stolen_id).await;
    let replacement = PublicKey::from_text(&std::fs::read_to_string(&replacement).unwrap()).unwrap();
    let root_public: Vec<PublicKey> = s.root_keys.iter().map(|(k, _)| k.public_key()).collect();
    let root3 = Root::new("relisted", 3, &[s.app.key.public_key()], &[stolen.public_key(), replacement])
        .with_root_keys(&root_public, 2);
    s.upload_root(&Envelope::sign(&root3, Kind::Root, &[&s.root_keys[0].0, &s.root_keys[1].0]).unwrap()).await.unwrap();
    s.set(freshness_signed_by(stolen));
    rows.push(
        s.refused_untrusted("signature by a revoked online key a later root lists again", |p| {
            matches!(p, ProtocolError::MetadataSignature { .. })
        })
        .await,
    );

    // A yanked release offered again by the thief of the online key: the publisher yanked 2.0.0 (the CLI signs the
    // yank list with the release key), the app saw the list; the mirror serves the freshness document with 2.0.0
    // back in (pinning the list, or none), and the release document and artifact it kept (the server answers 410).
    let s = Scenario::new(&world, "yank").await;
    s.publish("2.0.0").await;
    let before = Envelope::parse(&s.upstream("freshness.json")).unwrap();
    let head = serde_json::from_str::<Freshness>(&before.payload).unwrap().channels["stable"][0].clone();
    let kept: Vec<(String, Vec<u8>)> =
        ["channels/stable/releases/2.0.0.json".to_owned(), format!("files/2.0.0/{}/yank-2.0.0-{}", target(), target())]
            .into_iter()
            .map(|path| {
                let body = s.upstream(&path);
                (path, body)
            })
            .collect();
    s.cli(&["yank", "--app", "yank", "--version", "2.0.0", "--release-key", s.app.key_file.to_str().unwrap()]).await;
    assert!(s.updater().check().await.unwrap().is_none(), "the app sees the yank list; nothing is offered");
    let (stolen, _) = s.steal_online_key().await;
    let offer = |withhold: bool| {
        let (key, head, kept) = (stolen.clone(), head.clone(), kept.clone());
        let rewrite: Rewrite = Arc::new(move |path, _, upstream| {
            if path == "freshness.json" {
                let body = edit_freshness(&upstream.body, &key, |document| {
                    document.sequence += 1;
                    document.channels.insert("stable".into(), vec![head.clone()]);
                    if withhold {
                        document.yanks = None;
                    }
                });
                upstream.with_body(body)
            } else if let Some((_, body)) = kept.iter().find(|(kept, _)| kept == path) {
                upstream.with_body(body.clone())
            } else {
                upstream.reply()
            }
        });
        rewrite
    };
    s.set(offer(false));
    rows.push(
        s.refused_untrusted("yanked release offered again with the online key", |p| {
            matches!(p, ProtocolError::Yanked { .. })
        })
        .await,
    );
    s.set(offer(true));
    rows.push(
        s.refused_untrusted("yanked release offered again, yank list withheld", |p| {
            matches!(p, ProtocolError::YanksRollback { .. })
        })
        .await,
    );

    // An app admin token (no release key) un-yanks through the server's API: without a yank list, and with the
    // stored list sent again.
    let s = Scenario::new(&world, "unyank").await;
    s.publish("2.0.0").await;
    s.cli(&["yank", "--app", "unyank", "--version", "2.0.0", "--release-key", s.app.key_file.to_str().unwrap()]).await;
    assert!(s.updater().check().await.unwrap().is_none());
    let token = s.app.client();
    let version = millennium_update_protocol::Version::parse("2.0.0").unwrap();
    let replayed = Envelope::parse(&s.upstream("yanks.json")).unwrap();
    let replay = token.yank("unyank", &version, false, Some(&replayed)).await;
    assert!(matches!(&replay, Err(e) if e.code() == "sequence_not_newer"), "{replay:?}");
    let refusal = token.yank("unyank", &version, false, None).await.err().map(|e| e.code().to_owned());
    rows.push(
        s.server_refused("yanked release un-yanked with an app admin token", refusal, "yank_list_required").await,
    );

    let width = rows.iter().map(|r| r.attack.len()).max().unwrap_or(0);
    let outcome_width = rows.iter().map(|r| r.outcome.len()).max().unwrap_or(0);
    println!("\n| {:width$} | {:outcome_width$} | error |", "attack", "outcome");
    println!("|{}|{}|---|", "-".repeat(width + 2), "-".repeat(outcome_width + 2));
    for row in &rows {
        println!("| {:width$} | {:outcome_width$} | {} |", row.attack, row.outcome, row.error);
    }
    let failed: Vec<&str> = rows.iter().filter(|r| !r.ok).map(|r| r.attack).collect();
    assert!(failed.is_empty(), "attacks not refused as expected: {failed:?}");
    assert_eq!(rows.len(), 23);
    // `docs/protocol.md` §7.4 shows this table: keep it true.
    let docs = include_str!("../../../docs/protocol.md");
    for row in &rows {
        let line = format!("| {} | {} | {} |", row.attack, row.outcome, row.error);
        assert!(docs.contains(&line), "docs/protocol.md §7.4 lacks `{line}`");
    }
}
