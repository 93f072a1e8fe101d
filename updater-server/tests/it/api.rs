//! In-process tests of every endpoint through `app(state) -> Router` and `tower::ServiceExt::oneshot`: the happy paths
//! and every kind of bad input, each checking that nothing was written when the request is refused.

// Helpers outside `#[test]` functions state their expectations with `unwrap()` too.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use millennium_sign::{Format, SecretKey, Signature, TrustedComment};
use millennium_testing::keys;
use millennium_testing::server::{ADMIN_TOKEN, Backend, metric};
use millennium_update_protocol::tauri::{DynamicResponse, StaticManifest};
use millennium_update_protocol::{Target, Version};
use millennium_update_server::adoption::Checks;
use millennium_update_server::{AppState, ServerConfig, app};
use serde_json::{Value, json};
use tower::ServiceExt;

const BOUNDARY: &str = "millenniumtestboundary";

struct Ctx {
    dir: tempfile::TempDir,
    backend: Backend,
    state: AppState,
    key: SecretKey,
    publish_token: String,
    admin_token: String,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn error_code(&self) -> String {
        let v = self.json();
        v["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {v}")).to_owned()
    }
}

impl Ctx {
    async fn new() -> Self {
        Self::with_limit(64 * 1024 * 1024).await
    }

    async fn with_limit(max_upload_size: u64) -> Self {
        Self::with_config(ServerConfig::new("http://127.0.0.1:9", max_upload_size).unwrap()).await
    }

    async fn with_config(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backend = Backend::for_dir(&dir.path().join("data"));
        let opened =
            AppState::open(&backend.storage(&dir.path().join("data")), config, Some(ADMIN_TOKEN)).await.unwrap();
        assert!(opened.admin_token_file.is_none());
        let key = SecretKey::generate().unwrap();
        let mut ctx =
            Ctx { dir, backend, state: opened.state, key, publish_token: String::new(), admin_token: String::new() };
        let pk = ctx.key.public_key().to_text(Format::Tauri);
        let r = ctx
            .call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), Some(json!({"id": "demo", "public_key": pk})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ctx.publish_token = ctx.token("demo", "publish").await;
        ctx.admin_token = ctx.token("demo", "admin").await;
        ctx
    }

    fn router(&self) -> Router {
        app(self.state.clone())
    }

    async fn send(&self, request: Request<Body>) -> Resp {
        let response = self.router().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Resp { status, headers, body }
    }

    async fn call(&self, method: Method, uri: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    async fn get(&self, uri: &str) -> Resp {
        self.call(Method::GET, uri, None, None).await
    }

    async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Resp {
        let mut builder = Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }

    async fn token(&self, app: &str, scope: &str) -> String {
        let r = self
            .call(Method::POST, "/api/v1/tokens", Some(ADMIN_TOKEN), Some(json!({"app": app, "scope": scope})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.json()["token"].as_str().unwrap().to_owned()
    }

    fn sign(&self, data: &[u8], file: &str, version: Option<&str>) -> String {
        sign_with(&self.key, data, file, version)
    }

    async fn publish(&self, token: &str, release: Value, parts: &[Part<'_>]) -> Resp {
        self.publish_to("demo", token, release, parts).await
    }

    async fn publish_to(&self, app: &str, token: &str, release: Value, parts: &[Part<'_>]) -> Resp {
        let body = multipart(&release, parts);
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/apps/{app}/releases"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Publishes a signed release with the given (target, file name, contents).
    async fn publish_ok(&self, version: &str, channel: &str, files: &[(&str, &str, &[u8])], rollout: u8) -> Value {
        let sigs: Vec<String> = files.iter().map(|(_, name, data)| self.sign(data, name, Some(version))).collect();
        let mut parts = Vec::new();
        for ((target, name, data), sig) in files.iter().zip(&sigs) {
            parts.push(Part::Signature(target, sig));
            parts.push(Part::Artifact(target, name, data));
        }
        let release =
            json!({"version": version, "channel": channel, "notes": format!("notes of {version}"), "rollout": rollout});
        let r = self.publish(&self.publish_token, release, &parts).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    async fn releases(&self) -> Vec<Value> {
        let r = self.call(Method::GET, "/api/v1/apps/demo/releases", Some(ADMIN_TOKEN), None).await;
        assert_eq!(r.status, StatusCode::OK);
        r.json()["releases"].as_array().unwrap().clone()
    }

    /// Every blob in the store and every temporary upload.
    async fn blob_files(&self) -> Vec<String> {
        self.backend.blob_files(&self.data_dir()).await
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Opens the state again on the same storage, with `config`.
    async fn reopen(self, config: ServerConfig) -> Self {
        self.state.db().close().await;
        let reopened =
            AppState::open(&self.backend.storage(&self.data_dir()), config, Some(ADMIN_TOKEN)).await.unwrap();
        Ctx { state: reopened.state, ..self }
    }
}

fn sign_with(key: &SecretKey, data: &[u8], file: &str, version: Option<&str>) -> String {
    keys::sign(key, file, version, data).to_text(Format::Minisign)
}

enum Part<'a> {
    Signature(&'a str, &'a str),
    Artifact(&'a str, &'a str, &'a [u8]),
    Raw(&'a str, &'a [u8]),
}

fn multipart(release: &Value, parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut field = |name: &str, file: Option<&str>, data: &[u8]| {
        out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(file) = file {
            out.extend_from_slice(
                format!("; filename=\"{file}\"\r\nContent-Type: application/octet-stream").as_bytes(),
            );
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    };
    field("release", None, release.to_string().as_bytes());
    for part in parts {
        match part {
            Part::Signature(target, sig) => field(&format!("signature:{target}"), None, sig.as_bytes()),
            Part::Artifact(target, name, data) => field(&format!("artifact:{target}"), Some(name), data),
            Part::Raw(name, data) => field(name, None, data),
        }
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

const APPIMAGE: &[u8] = b"appimage bytes for version one";
const DEB: &[u8] = b"deb bytes";

async fn with_release() -> Ctx {
    with_release_on(Ctx::new().await).await
}

/// `ctx` with the release of [`with_release`].
async fn with_release_on(ctx: Ctx) -> Ctx {
    ctx.publish_ok(
        "1.2.3",
        "stable",
        &[
            ("linux-x86_64-appimage", "demo_1.2.3_amd64.AppImage", APPIMAGE),
            ("linux-x86_64-deb", "demo_1.2.3_amd64.deb", DEB),
            ("darwin-aarch64-app", "demo_aarch64.app.tar.gz", b"mac app"),
            ("windows-x86_64-nsis", "demo_1.2.3_x64-setup.exe", b"nsis installer"),
            ("windows-x86_64-msi", "demo_1.2.3_x64_en-US.msi", b"msi installer"),
        ],
        100,
    )
    .await;
    ctx
}

// ----- basics -----

#[tokio::test]
async fn healthz() {
    let ctx = Ctx::new().await;
    let r = ctx.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let ctx = Ctx::new().await;
    let r = ctx.get("/no/such/route/at/all/here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    let r = ctx.call(Method::DELETE, "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
}

#[tokio::test]
async fn first_start_creates_an_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Backend::for_dir(dir.path()).storage(dir.path());
    let config = ServerConfig::new("http://127.0.0.1:9", 1024).unwrap();
    let opened = AppState::open(&storage, config.clone(), None).await.unwrap();
    let file = opened.admin_token_file.expect("a token on first start");
    assert_eq!(file, dir.path().join(millennium_update_server::server::ADMIN_TOKEN_FILE));
    let token = std::fs::read_to_string(&file).unwrap();
    let principal = opened.state.authenticate(&token).await.unwrap();
    assert!(principal.is_server_admin());
    opened.state.db().close().await;
    let again = AppState::open(&storage, config.clone(), None).await.unwrap();
    assert!(again.admin_token_file.is_none(), "the token is only made and written once");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), token, "the file is never rewritten");
    assert!(again.state.authenticate(&token).await.unwrap().is_server_admin());
    // The database holds only its hash.
    again.state.db().close().await;
    let secret = token.rsplit('_').next().unwrap();
    match &Backend::for_dir(dir.path()).database_url {
        None => {
            let db = std::fs::read(dir.path().join("millennium.db")).unwrap();
            let wal = std::fs::read(dir.path().join("millennium.db-wal")).unwrap_or_default();
            let secret = secret.as_bytes();
            assert!(!db.windows(secret.len()).any(|w| w == secret) && !wal.windows(secret.len()).any(|w| w == secret));
        }
        Some(url) => {
            let dump = millennium_testing::server::psql(
                url,
                "SELECT id || ' ' || encode(secret_hash, 'escape') || ' ' || description FROM tokens",
            );
            assert!(!dump.contains(secret), "{dump}");
        }
    }
    // A short env token is refused.
    assert!(AppState::open(&storage, config, Some("short")).await.is_err());
}

// ----- apps and tokens -----

#[tokio::test]
async fn creating_apps_needs_the_server_admin_token() {
    let ctx = Ctx::new().await;
    let pk = ctx.key.public_key().to_text(Format::Minisign);
    let body = || Some(json!({"id": "other", "public_key": pk}));
    let r = ctx.call(Method::POST, "/api/v1/apps", None, body()).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let r = ctx.call(Method::POST, "/api/v1/apps", Some("wrong-token"), body()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = ctx.call(Method::POST, "/api/v1/apps", Some(&ctx.admin_token), body()).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = ctx.call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), body()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["key_id"], ctx.key.public_key().key_id().to_string());
    let r = ctx.call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), body()).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::CONFLICT, "app_exists"));
}

#[tokio::test]
async fn bad_app_input_is_refused() {
    let ctx = Ctx::new().await;
    let pk = ctx.key.public_key().to_text(Format::Minisign);
    for id in ["../etc", "a/b", "..", "Demo", "api", "", "a b"] {
        let r =
            ctx.call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), Some(json!({"id": id, "public_key": pk}))).await;
        assert_eq!((r.status, r.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_name"), "{id}");
    }
    let r = ctx
        .call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), Some(json!({"id": "x", "public_key": "not a key"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = ctx.call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), Some(json!({"id": "x"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = ctx
        .call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), Some(json!({"id": "x", "public_key": pk, "extra": 1})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Oversized JSON body.
    let big = "x".repeat(300 * 1024);
    let r =
        ctx.call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), Some(json!({"id": "x", "public_key": big}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = ctx.call(Method::GET, "/api/v1/apps/demo", Some(&ctx.publish_token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ctx.call(Method::GET, "/api/v1/apps/nope", Some(ADMIN_TOKEN), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tokens_are_scoped_and_revocable() {
    let ctx = Ctx::new().await;
    // A publish token cannot make tokens; an app admin token can, for its app only.
    let r = ctx
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&ctx.publish_token),
            Some(json!({"app": "demo", "scope": "publish"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = ctx
        .call(Method::POST, "/api/v1/tokens", Some(&ctx.admin_token), Some(json!({"app": "demo", "scope": "publish"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let made = r.json();
    let new_token = made["token"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(new_token.starts_with("mlnm_"));
    let r = ctx
        .call(Method::POST, "/api/v1/tokens", Some(ADMIN_TOKEN), Some(json!({"app": "nope", "scope": "publish"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = ctx
        .call(Method::POST, "/api/v1/tokens", Some(ADMIN_TOKEN), Some(json!({"app": "demo", "scope": "root"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Works, then revoked: 401.
    let r = ctx.call(Method::GET, "/api/v1/apps/demo/releases", Some(&new_token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ctx.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&ctx.publish_token), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a publish token cannot revoke");
    let r = ctx.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&ctx.admin_token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ctx.call(Method::GET, "/api/v1/apps/demo/releases", Some(&new_token), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = ctx.publish(&new_token, json!({"version": "1.0.0"}), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = ctx.call(Method::DELETE, "/api/v1/tokens/../../x", Some(ADMIN_TOKEN), None).await;
    assert!(r.status.is_client_error());
    let r = ctx.call(Method::DELETE, "/api/v1/tokens/zzzzzzzzzzzzzzzz", Some(ADMIN_TOKEN), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = ctx.call(Method::DELETE, "/api/v1/tokens/0000000000000000", Some(ADMIN_TOKEN), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A token whose secret is wrong for its id.
    let forged = format!("{}{}", &new_token[..new_token.len() - 4], "0000");
    let r = ctx.call(Method::GET, "/api/v1/apps/demo/releases", Some(&forged), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

// ----- publishing -----

#[tokio::test]
async fn publish_stores_and_lists_a_release() {
    let ctx = with_release().await;
    let releases = ctx.releases().await;
    assert_eq!(releases.len(), 1);
    let release = &releases[0];
    assert_eq!(release["version"], "1.2.3");
    assert_eq!(release["notes"], "notes of 1.2.3");
    assert_eq!(release["channels"][0]["channel"], "stable");
    assert_eq!(release["channels"][0]["rollout"], 100);
    assert_eq!(release["artifacts"].as_array().unwrap().len(), 5);
    // Content-addressed, nothing temporary left.
    assert_eq!(ctx.blob_files().await.len(), 5);
    assert!(ctx.blob_files().await.iter().all(|n| n.len() == 64));
    let r = ctx.call(Method::GET, "/api/v1/apps/demo/releases/1.2.3", Some(&ctx.publish_token), None).await;
    assert_eq!(r.json()["version"], "1.2.3");
    let r = ctx.call(Method::GET, "/api/v1/apps/demo/releases?channel=beta", Some(ADMIN_TOKEN), None).await;
    assert_eq!(r.json()["releases"].as_array().unwrap().len(), 0);
}

/// Every refused publish leaves the releases and the blob store exactly as they were.
async fn assert_refused(ctx: &Ctx, r: Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code(), code, "{}", String::from_utf8_lossy(&r.body));
    let releases = ctx.releases().await;
    assert_eq!(releases.len(), 1, "a refused publish wrote a release");
    assert_eq!(ctx.blob_files().await.len(), 5, "a refused publish left a file: {:?}", ctx.blob_files().await);
}

#[tokio::test]
async fn publish_refuses_bad_signatures() {
    let ctx = with_release().await;
    let t = "linux-x86_64-appimage";
    let data: &[u8] = b"version two";
    let release = || json!({"version": "2.0.0"});

    // Unsigned.
    let r = ctx.publish(&ctx.publish_token, release(), &[Part::Artifact(t, "a.AppImage", data)]).await;
    assert_refused(&ctx, r, StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;

    // Signature of other bytes.
    let sig = ctx.sign(b"other bytes", "a.AppImage", Some("2.0.0"));
    let r = ctx
        .publish(&ctx.publish_token, release(), &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)])
        .await;
    assert_refused(&ctx, r, StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;

    // Signed by another key.
    let other = SecretKey::generate().unwrap();
    let sig = sign_with(&other, data, "a.AppImage", Some("2.0.0"));
    let r = ctx
        .publish(&ctx.publish_token, release(), &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)])
        .await;
    assert_refused(&ctx, r, StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;

    // Signed for another version.
    let sig = ctx.sign(data, "a.AppImage", Some("1.9.0"));
    let r = ctx
        .publish(&ctx.publish_token, release(), &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)])
        .await;
    assert_refused(&ctx, r, StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;

    // Garbage signature.
    let r = ctx
        .publish(&ctx.publish_token, release(), &[Part::Signature(t, "garbage"), Part::Artifact(t, "a.AppImage", data)])
        .await;
    assert_refused(&ctx, r, StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;

    // One good, one bad: nothing is published.
    let good = ctx.sign(data, "a.AppImage", Some("2.0.0"));
    let bad = ctx.sign(b"x", "a.deb", Some("2.0.0"));
    let r = ctx
        .publish(
            &ctx.publish_token,
            release(),
            &[
                Part::Signature(t, &good),
                Part::Artifact(t, "a.AppImage", data),
                Part::Signature("linux-x86_64-deb", &bad),
                Part::Artifact("linux-x86_64-deb", "a.deb", b"deb two"),
            ],
        )
        .await;
    assert_refused(&ctx, r, StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;

    // A signature without a version field fits any version: a new app (`require-signed-version` by default) refuses
    // it, naming the signer's flag.
    let comment = TrustedComment::tauri(1, "a.AppImage", None).unwrap();
    let sig = Signature::sign(&ctx.key, data, &comment).unwrap().to_text(Format::Tauri);
    let r = ctx
        .publish(&ctx.publish_token, release(), &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code(), "unversioned_signature");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("millennium-sign sign --version 2.0.0"), "{message}");
    // An app admin cannot opt out; the server admin can, for signers that write no version (as Tauri's did before
    // `--app-version`), and then it is accepted, in Tauri's form too.
    let opt_out = json!({"require_signed_version": false});
    let r = ctx.call(Method::PATCH, "/api/v1/apps/demo", Some(&ctx.admin_token), Some(opt_out.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = ctx.call(Method::PATCH, "/api/v1/apps/demo", Some(ADMIN_TOKEN), Some(opt_out)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = ctx
        .publish(&ctx.publish_token, release(), &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
}

/// Rotating the release key: only an admin of the app replaces it, bad keys change nothing, and from then on publishes
/// are checked against the new key while the releases already published are served as they were.
#[tokio::test]
async fn the_release_key_can_be_replaced_by_an_admin_only() {
    let ctx = with_release().await;
    let new_key = SecretKey::generate().unwrap();
    let body = json!({"public_key": new_key.public_key().to_text(Format::Minisign)});
    async fn replace(ctx: &Ctx, token: Option<&str>, body: Value) -> Resp {
        ctx.call(Method::PATCH, "/api/v1/apps/demo", token, Some(body)).await
    }

    assert_eq!(replace(&ctx, None, body.clone()).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replace(&ctx, Some(&ctx.publish_token), body.clone()).await.status, StatusCode::FORBIDDEN);
    let other_app = ctx
        .call(
            Method::POST,
            "/api/v1/apps",
            Some(ADMIN_TOKEN),
            Some(json!({"id": "other", "public_key": new_key.public_key().to_text(Format::Tauri)})),
        )
        .await;
    assert_eq!(other_app.status, StatusCode::CREATED);
    let other_admin = ctx.token("other", "admin").await;
    assert_eq!(replace(&ctx, Some(&other_admin), body.clone()).await.status, StatusCode::FORBIDDEN);
    for bad in [json!({"public_key": "garbage"}), json!({}), json!({"public_key": "RW", "id": "x"})] {
        assert_eq!(replace(&ctx, Some(&ctx.admin_token), bad).await.status, StatusCode::BAD_REQUEST);
    }
    let r = ctx.call(Method::PATCH, "/api/v1/apps/nope", Some(ADMIN_TOKEN), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let old_key_id = ctx.key.public_key().key_id().to_string();
    assert_eq!(ctx.call(Method::GET, "/api/v1/apps/demo", Some(ADMIN_TOKEN), None).await.json()["key_id"], old_key_id);

    let r = replace(&ctx, Some(&ctx.admin_token), body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let new_key_id = new_key.public_key().key_id().to_string();
    assert_eq!(r.json()["key_id"], new_key_id);
    assert_eq!(r.json()["tauri_pubkey"], new_key.public_key().to_text(Format::Tauri));
    assert_eq!(ctx.call(Method::GET, "/api/v1/apps/demo", Some(ADMIN_TOKEN), None).await.json()["key_id"], new_key_id);

    // The old key no longer publishes; the new one does; 1.2.3 is still offered with its old signature until then.
    assert_eq!(dynamic(&ctx.get("/demo/linux/x86_64/0.9.0").await).release().version().to_string(), "1.2.3");
    async fn publish_signed_by(ctx: &Ctx, key: &SecretKey) -> Resp {
        let (t, data) = ("linux-x86_64-appimage", b"version two".as_slice());
        let sig = sign_with(key, data, "a.AppImage", Some("2.0.0"));
        let parts = [Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)];
        ctx.publish(&ctx.publish_token, json!({"version": "2.0.0"}), &parts).await
    }
    let r = publish_signed_by(&ctx, &ctx.key).await;
    assert_refused(&ctx, r, StatusCode::UNPROCESSABLE_ENTITY, "bad_signature").await;
    let r = publish_signed_by(&ctx, &new_key).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(dynamic(&ctx.get("/demo/linux/x86_64/0.9.0").await).release().version().to_string(), "2.0.0");
}

#[tokio::test]
async fn publish_refuses_bad_versions_and_duplicates() {
    let ctx = with_release().await;
    let t = "linux-x86_64-appimage";
    let publish = |version: &'static str, force: bool| {
        let ctx = &ctx;
        async move {
            let data = format!("data of {version}").into_bytes();
            let sig = ctx.sign(&data, "a.AppImage", Some(version));
            ctx.publish(
                &ctx.publish_token,
                json!({"version": version, "force": force}),
                &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", &data)],
            )
            .await
        }
    };
    let r = publish("1.2.3", false).await;
    assert_refused(&ctx, r, StatusCode::CONFLICT, "duplicate_version").await;
    let r = publish("1.2.3", true).await;
    assert_refused(&ctx, r, StatusCode::CONFLICT, "duplicate_version").await;
    let r = publish("1.2.0", false).await;
    assert_refused(&ctx, r, StatusCode::CONFLICT, "version_not_newer").await;
    // Build metadata does not make a version newer.
    let r = publish("1.2.3+rebuild", false).await;
    assert_refused(&ctx, r, StatusCode::CONFLICT, "version_not_newer").await;
    for bad in ["1.2", "latest", "1.2.3.4", "v", "01.2.3"] {
        let r = publish(bad, false).await;
        assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    // Forced older version, and in another channel an older version is fine.
    let r = publish("1.2.0", true).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn publish_refuses_bad_requests() {
    let ctx = with_release().await;
    let data: &[u8] = b"v2";
    let sig = ctx.sign(data, "a.AppImage", Some("2.0.0"));
    let rel = || json!({"version": "2.0.0"});

    for target in ["linux-amd64", "freebsd-x86_64", "windows-x86_64-deb", "../../etc", "linux-x86_64-unknown"] {
        let r = ctx
            .publish(
                &ctx.publish_token,
                rel(),
                &[Part::Signature(target, &sig), Part::Artifact(target, "a.AppImage", data)],
            )
            .await;
        assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let t = "linux-x86_64-appimage";
    for name in ["../a.AppImage", "a/b", ".hidden", " a.AppImage", "a\tb"] {
        let r =
            ctx.publish(&ctx.publish_token, rel(), &[Part::Signature(t, &sig), Part::Artifact(t, name, data)]).await;
        assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "invalid_name").await;
    }
    // Channel traversal.
    let r = ctx
        .publish(
            &ctx.publish_token,
            json!({"version": "2.0.0", "channel": "../x"}),
            &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)],
        )
        .await;
    assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "invalid_name").await;
    // No artifacts; unknown part; missing release part; bad rollout; empty artifact.
    let r = ctx.publish(&ctx.publish_token, rel(), &[]).await;
    assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = ctx.publish(&ctx.publish_token, rel(), &[Part::Raw("surprise", b"x")]).await;
    assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = ctx.publish(&ctx.publish_token, json!({"version": "2.0.0", "rollout": 101}), &[]).await;
    assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r = ctx.publish(&ctx.publish_token, json!({"version": "2.0.0", "what": 1}), &[]).await;
    assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "bad_request").await;
    let r =
        ctx.publish(&ctx.publish_token, rel(), &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", b"")]).await;
    assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "bad_request").await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/apps/demo/releases")
        .header(header::AUTHORIZATION, format!("Bearer {}", ctx.publish_token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let r = ctx.send(request).await;
    assert_refused(&ctx, r, StatusCode::BAD_REQUEST, "bad_request").await;

    // Tokens: wrong, another app's, none, unknown app.
    let pk = ctx.key.public_key().to_text(Format::Minisign);
    ctx.call(Method::POST, "/api/v1/apps", Some(ADMIN_TOKEN), Some(json!({"id": "other", "public_key": pk}))).await;
    let other_token = ctx.token("other", "admin").await;
    let parts = [Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)];
    let r = ctx.publish(&other_token, rel(), &parts).await;
    assert_refused(&ctx, r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = ctx
        .publish(
            "mlnm_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
            rel(),
            &parts,
        )
        .await;
    assert_refused(&ctx, r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = ctx.publish_to("nope", ADMIN_TOKEN, rel(), &parts).await;
    assert_refused(&ctx, r, StatusCode::NOT_FOUND, "not_found").await;
    let r = ctx.publish_to("..", ADMIN_TOKEN, rel(), &parts).await;
    assert!(r.status.is_client_error());
}

#[tokio::test]
async fn oversized_uploads_are_refused() {
    let ctx = Ctx::with_limit(1000).await;
    let t = "linux-x86_64-appimage";
    let small = vec![1u8; 600];
    let sig = ctx.sign(&small, "a.AppImage", Some("1.0.0"));
    let sig2 = ctx.sign(&small, "a.deb", Some("1.0.0"));
    // Two artifacts of 600 bytes: over the 1000-byte budget.
    let r = ctx
        .publish(
            &ctx.publish_token,
            json!({"version": "1.0.0"}),
            &[
                Part::Signature(t, &sig),
                Part::Artifact(t, "a.AppImage", &small),
                Part::Signature("linux-x86_64-deb", &sig2),
                Part::Artifact("linux-x86_64-deb", "a.deb", &small),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "payload_too_large");
    // Far over the limit: the body limit answers too.
    let big = vec![1u8; 2 * 1024 * 1024];
    let sig = ctx.sign(&big, "a.AppImage", Some("1.0.0"));
    let r = ctx
        .publish(
            &ctx.publish_token,
            json!({"version": "1.0.0"}),
            &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", &big)],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(ctx.releases().await.is_empty());
    assert!(ctx.blob_files().await.is_empty(), "{:?}", ctx.blob_files().await);
    // One that fits.
    let r = ctx
        .publish(
            &ctx.publish_token,
            json!({"version": "1.0.0"}),
            &[Part::Signature(t, &sig2), Part::Artifact(t, "a.deb", &small)],
        )
        .await;
    // (signed for another file name: names are not bound, bytes are)
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
}

// ----- update checks -----

fn dynamic(r: &Resp) -> DynamicResponse {
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    DynamicResponse::parse(&r.body).unwrap()
}

#[tokio::test]
async fn dynamic_endpoint_offers_the_right_artifact() {
    let ctx = with_release().await;
    let r = ctx.get("/demo/linux/x86_64/1.0.0").await;
    let d = dynamic(&r);
    assert_eq!(d.release().version().to_string(), "1.2.3");
    assert_eq!(d.release().notes(), Some("notes of 1.2.3"));
    assert!(d.release().pub_date().is_some());
    let url = d.artifact().url().as_str().to_owned();
    assert!(url.starts_with("http://127.0.0.1:9/download/demo/1.2.3/linux-x86_64-appimage/"), "{url}");
    assert_eq!(d.artifact().format().map(|f| f.as_str()), Some("appimage"));
    // The signature verifies against the app's key over the artifact's bytes.
    d.artifact().signature().signature().verify(&ctx.key.public_key(), APPIMAGE).unwrap();
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");

    // Bundle types.
    let url_of = |r: &Resp| dynamic(r).artifact().url().as_str().to_owned();
    assert!(url_of(&ctx.get("/demo/linux/x86_64/1.0.0/deb").await).contains("/linux-x86_64-deb/demo_1.2.3_amd64.deb"));
    assert!(url_of(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await).contains("linux-x86_64-appimage"));
    assert!(url_of(&ctx.get("/demo/linux/x86_64/1.0.0/unknown").await).contains("linux-x86_64-appimage"));
    assert!(url_of(&ctx.get("/demo/windows/x86_64/1.0.0/msi").await).ends_with(".msi"));
    assert!(url_of(&ctx.get("/demo/windows/x86_64/1.0.0/nsis").await).ends_with("-setup.exe"));
    assert!(url_of(&ctx.get("/demo/windows/x86_64/1.0.0").await).ends_with("-setup.exe"));
    assert!(url_of(&ctx.get("/demo/darwin/aarch64/1.0.0/app").await).ends_with(".app.tar.gz"));
    // cargo-packager-updater says `macos`.
    let d = dynamic(&ctx.get("/demo/macos/aarch64/1.0.0").await);
    assert_eq!(d.artifact().format().map(|f| f.as_str()), Some("app"));
    let d = dynamic(&ctx.get("/demo/windows/x86_64/1.0.0/msi").await);
    assert_eq!(d.artifact().format().map(|f| f.as_str()), Some("wix"));

    // An rpm install has no rpm and gets the plain key's artifact, as Tauri's lookup does.
    assert!(url_of(&ctx.get("/demo/linux/x86_64/1.0.0/rpm").await).contains("appimage"));
    // No artifact for the platform at all: no update.
    assert_eq!(ctx.get("/demo/linux/aarch64/1.0.0").await.status, StatusCode::NO_CONTENT);
    assert_eq!(ctx.get("/demo/darwin/x86_64/1.0.0/app").await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn dynamic_endpoint_compares_versions_by_precedence() {
    let ctx = with_release().await;
    for (current, expected) in [
        ("1.2.3", StatusCode::NO_CONTENT),
        ("1.2.4", StatusCode::NO_CONTENT),
        ("2.0.0", StatusCode::NO_CONTENT),
        ("1.2.3%2Bbuild.5", StatusCode::NO_CONTENT),
        ("1.2.3+build.5", StatusCode::NO_CONTENT),
        ("1.2.3-rc.1", StatusCode::OK),
        ("1.2.3-rc.1%2Bb", StatusCode::OK),
        ("v1.0.0", StatusCode::OK),
        ("0.0.1", StatusCode::OK),
    ] {
        let r = ctx.get(&format!("/demo/linux/x86_64/{current}/appimage")).await;
        assert_eq!(r.status, expected, "{current}");
        if expected == StatusCode::NO_CONTENT {
            assert!(r.body.is_empty());
        }
    }
}

#[tokio::test]
async fn dynamic_endpoint_refuses_bad_input() {
    let ctx = with_release().await;
    for (uri, status, code) in [
        ("/demo/linux/x86_64/1.0", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/linux/x86_64/latest", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/linux/x86_64/1.0.0%ZZ", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/linux/x86_64/1.0.0%252B", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/freebsd/x86_64/1.0.0", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/linux/amd64/1.0.0", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/linux/x86_64/1.0.0/snap", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/windows/x86_64/1.0.0/deb", StatusCode::BAD_REQUEST, "invalid_input"),
        ("/demo/linux/x86_64/1.0.0?channel=../../etc", StatusCode::BAD_REQUEST, "invalid_name"),
        ("/demo/linux/x86_64/1.0.0?channel=Beta", StatusCode::BAD_REQUEST, "invalid_name"),
        ("/demo/linux/x86_64/1.0.0?install_id=", StatusCode::BAD_REQUEST, "bad_request"),
        ("/..%2F..%2Fetc/linux/x86_64/1.0.0", StatusCode::BAD_REQUEST, "invalid_name"),
        ("/%2e%2e/linux/x86_64/1.0.0", StatusCode::BAD_REQUEST, "invalid_name"),
        ("/../linux/x86_64/1.0.0", StatusCode::BAD_REQUEST, "invalid_name"),
        ("/nope/linux/x86_64/1.0.0", StatusCode::NOT_FOUND, "not_found"),
        ("/demo/..%2F..%2Fetc/latest.json", StatusCode::BAD_REQUEST, "invalid_name"),
        ("/../stable/latest.json", StatusCode::BAD_REQUEST, "invalid_name"),
        ("/nope/stable/latest.json", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let r = ctx.get(uri).await;
        assert_eq!(r.status, status, "{uri}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.error_code(), code, "{uri}");
    }
    // Install id header limits.
    let long = "x".repeat(200);
    let r = ctx.get_with("/demo/linux/x86_64/1.0.0", &[("Millennium-Install-Id", &long)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn request_limits() {
    let ctx = Ctx::new().await;
    let long_uri = format!("/demo/linux/x86_64/{}", "1".repeat(5000));
    assert_eq!(ctx.get(&long_uri).await.status, StatusCode::URI_TOO_LONG);
    let long_query = format!("/healthz?pad={}", "1".repeat(5000));
    assert_eq!(ctx.get(&long_query).await.status, StatusCode::URI_TOO_LONG);
    let long_authority = format!("http://{}.example/healthz", "a".repeat(5000));
    assert_eq!(ctx.get(&long_authority).await.status, StatusCode::URI_TOO_LONG);
    let big = "x".repeat(17 * 1024);
    let r = ctx.get_with("/healthz", &[("x-big", &big)]).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(r.error_code(), "headers_too_large");
    let names: Vec<String> = (0..70).map(|i| format!("x-h{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    assert_eq!(ctx.get_with("/healthz", &headers).await.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
}

#[tokio::test]
async fn static_manifest_serves_every_key() {
    let ctx = with_release().await;
    let r = ctx.get("/demo/stable/latest.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let manifest = StaticManifest::parse(&r.body).unwrap();
    assert_eq!(manifest.release().version().to_string(), "1.2.3");
    let keys: Vec<&str> = manifest.platforms().map(|(k, _)| k).collect();
    for key in [
        "linux-x86_64",
        "linux-x86_64-appimage",
        "linux-x86_64-deb",
        "darwin-aarch64",
        "darwin-aarch64-app",
        "macos-aarch64",
        "windows-x86_64",
        "windows-x86_64-nsis",
        "windows-x86_64-msi",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    // A Tauri client on each platform finds what the dynamic endpoint would give it.
    for (target, bundle_file) in [
        ("linux-x86_64-deb", ".deb"),
        ("linux-x86_64", ".AppImage"),
        ("linux-x86_64-appimage", ".AppImage"),
        ("windows-x86_64", "-setup.exe"),
        ("windows-x86_64-msi", ".msi"),
        ("darwin-aarch64-app", ".app.tar.gz"),
    ] {
        let t: Target = target.parse().unwrap();
        let (_, entry) = manifest.select(&t).unwrap();
        assert!(entry.artifact().url().as_str().ends_with(bundle_file), "{target}");
    }
    assert!(manifest.get("macos-aarch64").unwrap().artifact().format().is_some());
    // No releases in a channel: 204.
    assert_eq!(ctx.get("/demo/beta/latest.json").await.status, StatusCode::NO_CONTENT);
}

// ----- downloads -----

#[tokio::test]
async fn downloads_support_ranges_and_validators() {
    let ctx = with_release().await;
    let d = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    let path = d.artifact().url().as_url().path().to_owned();

    let r = ctx.get(&path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], APPIMAGE);
    assert_eq!(r.headers[header::CONTENT_LENGTH], APPIMAGE.len().to_string());
    assert_eq!(r.headers[header::ACCEPT_RANGES], "bytes");
    let etag = r.headers[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag.len(), 66);
    let last_modified = r.headers[header::LAST_MODIFIED].to_str().unwrap().to_owned();
    assert!(httpdate::parse_http_date(&last_modified).is_ok());

    let r = ctx.get_with(&path, &[("range", "bytes=0-9")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &APPIMAGE[..10]);
    assert_eq!(r.headers[header::CONTENT_RANGE], format!("bytes 0-9/{}", APPIMAGE.len()));
    assert_eq!(r.headers[header::CONTENT_LENGTH], "10");

    let r = ctx.get_with(&path, &[("range", "bytes=-5")]).await;
    assert_eq!(&r.body[..], &APPIMAGE[APPIMAGE.len() - 5..]);
    let r = ctx.get_with(&path, &[("range", "bytes=10-")]).await;
    assert_eq!(&r.body[..], &APPIMAGE[10..]);

    let r = ctx.get_with(&path, &[("range", "bytes=1000-")]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers[header::CONTENT_RANGE], format!("bytes */{}", APPIMAGE.len()));

    let r = ctx.get_with(&path, &[("range", "bytes=0-1,4-5")]).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, APPIMAGE.len()));

    let r = ctx.get_with(&path, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = ctx.get_with(&path, &[("range", "bytes=0-1"), ("if-range", "\"other\"")]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ctx.get_with(&path, &[("range", "bytes=0-1"), ("if-range", &etag)]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);

    let head = ctx.send(Request::builder().method(Method::HEAD).uri(&path).body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[header::CONTENT_LENGTH], APPIMAGE.len().to_string());
    assert!(head.body.is_empty());

    for (uri, status) in [
        ("/download/demo/1.2.3/linux-x86_64-appimage/other.AppImage", StatusCode::NOT_FOUND),
        ("/download/demo/9.9.9/linux-x86_64-appimage/demo_1.2.3_amd64.AppImage", StatusCode::NOT_FOUND),
        ("/download/demo/1.2.3/linux-x86_64-appimage/..%2F..%2Fmillennium.db", StatusCode::BAD_REQUEST),
        ("/download/demo/1.2.3/..%2F..%2F/x", StatusCode::BAD_REQUEST),
        ("/download/..%2Fdemo/1.2.3/linux-x86_64-appimage/x", StatusCode::BAD_REQUEST),
        ("/download/demo/1.2/linux-x86_64-appimage/x", StatusCode::BAD_REQUEST),
    ] {
        let r = ctx.get(uri).await;
        assert_eq!(r.status, status, "{uri}");
        r.error_code();
    }
}

// ----- rollouts, pause, yank, promote -----

async fn two_releases(rollout: u8) -> Ctx {
    let ctx = with_release().await;
    ctx.publish_ok("2.0.0", "stable", &[("linux-x86_64-appimage", "demo_2.0.0_amd64.AppImage", b"two")], rollout).await;
    ctx
}

async fn offered_version(ctx: &Ctx, install: Option<&str>) -> Option<String> {
    let uri = "/demo/linux/x86_64/1.0.0";
    let r = match install {
        Some(id) => ctx.get_with(uri, &[("millennium-install-id", id)]).await,
        None => ctx.get(uri).await,
    };
    match r.status {
        StatusCode::NO_CONTENT => None,
        _ => Some(dynamic(&r).release().version().to_string()),
    }
}

#[tokio::test]
async fn staged_rollout_offers_a_deterministic_share() {
    let ctx = two_releases(30).await;
    // Without an install id the partial release is not offered; the previous full one is.
    assert_eq!(offered_version(&ctx, None).await.as_deref(), Some("1.2.3"));
    let ids: Vec<String> = (0..400).map(|i| format!("install-{i}")).collect();
    let mut in_rollout = Vec::new();
    for id in &ids {
        if offered_version(&ctx, Some(id)).await.as_deref() == Some("2.0.0") {
            in_rollout.push(id.clone());
        }
    }
    let share = in_rollout.len() as f64 / ids.len() as f64;
    assert!((0.2..0.4).contains(&share), "share {share}");
    // Same answer on a second check, by header or query.
    for id in in_rollout.iter().take(20) {
        let r = ctx.get(&format!("/demo/linux/x86_64/1.0.0?install_id={id}")).await;
        assert_eq!(dynamic(&r).release().version().to_string(), "2.0.0");
    }
    // Raising the rollout keeps everyone who had it.
    let r = ctx
        .call(
            Method::POST,
            "/api/v1/apps/demo/releases/2.0.0/rollout",
            Some(&ctx.admin_token),
            Some(json!({"percent": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for id in &in_rollout {
        assert_eq!(offered_version(&ctx, Some(id)).await.as_deref(), Some("2.0.0"));
    }
    // Pause: nobody gets it; resume: back.
    let rollout = |body: Value| {
        ctx.call(Method::POST, "/api/v1/apps/demo/releases/2.0.0/rollout", Some(&ctx.admin_token), Some(body))
    };
    assert_eq!(rollout(json!({"paused": true})).await.status, StatusCode::OK);
    assert_eq!(offered_version(&ctx, Some(&in_rollout[0])).await.as_deref(), Some("1.2.3"));
    assert_eq!(rollout(json!({"paused": false, "percent": 100})).await.status, StatusCode::OK);
    assert_eq!(offered_version(&ctx, None).await.as_deref(), Some("2.0.0"));
    // Bad rollout requests.
    assert_eq!(rollout(json!({"percent": 101})).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(rollout(json!({})).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(rollout(json!({"percent": 5, "channel": "beta"})).await.status, StatusCode::NOT_FOUND);
    let r = ctx
        .call(
            Method::POST,
            "/api/v1/apps/demo/releases/2.0.0/rollout",
            Some(&ctx.publish_token),
            Some(json!({"percent": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The static manifest follows the same rule.
    let r = ctx.get("/demo/stable/latest.json").await;
    assert_eq!(StaticManifest::parse(&r.body).unwrap().release().version().to_string(), "2.0.0");
}

#[tokio::test]
async fn yanked_releases_are_neither_offered_nor_served() {
    let ctx = two_releases(100).await;
    assert_eq!(offered_version(&ctx, None).await.as_deref(), Some("2.0.0"));
    let download = "/download/demo/2.0.0/linux-x86_64-appimage/demo_2.0.0_amd64.AppImage";
    assert_eq!(ctx.get(download).await.status, StatusCode::OK);
    let r = ctx
        .call(Method::POST, "/api/v1/apps/demo/releases/2.0.0/yank", Some(&ctx.publish_token), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r =
        ctx.call(Method::POST, "/api/v1/apps/demo/releases/2.0.0/yank", Some(&ctx.admin_token), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["yanked"], true);
    assert_eq!(offered_version(&ctx, None).await.as_deref(), Some("1.2.3"));
    let r = ctx.get(download).await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::GONE, "yanked"));
    let r = ctx.get("/demo/stable/latest.json").await;
    assert_eq!(StaticManifest::parse(&r.body).unwrap().release().version().to_string(), "1.2.3");
    // Still counts for "newer than the channel's latest": 1.5.0 would be a downgrade for 2.0.0 installs.
    let data: &[u8] = b"one and a half";
    let sig = ctx.sign(data, "a.AppImage", Some("1.5.0"));
    let t = "linux-x86_64-appimage";
    let r = ctx
        .publish(
            &ctx.publish_token,
            json!({"version": "1.5.0"}),
            &[Part::Signature(t, &sig), Part::Artifact(t, "a.AppImage", data)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Un-yank.
    let r = ctx
        .call(
            Method::POST,
            "/api/v1/apps/demo/releases/2.0.0/yank",
            Some(&ctx.admin_token),
            Some(json!({"yanked": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(offered_version(&ctx, None).await.as_deref(), Some("2.0.0"));
    let r = ctx.call(Method::POST, "/api/v1/apps/demo/releases/9.0.0/yank", Some(ADMIN_TOKEN), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn promote_offers_a_release_in_another_channel() {
    let ctx = with_release().await;
    ctx.publish_ok(
        "2.0.0-beta.1",
        "beta",
        &[("linux-x86_64-appimage", "demo_2.0.0-beta.1_amd64.AppImage", b"beta")],
        100,
    )
    .await;
    assert_eq!(offered_version(&ctx, None).await.as_deref(), Some("1.2.3"));
    let r = ctx.get("/demo/linux/x86_64/1.0.0?channel=beta").await;
    assert_eq!(dynamic(&r).release().version().to_string(), "2.0.0-beta.1");
    let promote = |token: String, body: Value| {
        let ctx = &ctx;
        async move {
            ctx.call(Method::POST, "/api/v1/apps/demo/releases/2.0.0-beta.1/promote", Some(&token), Some(body)).await
        }
    };
    assert_eq!(promote(ctx.publish_token.clone(), json!({"to": "stable"})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(promote(ctx.admin_token.clone(), json!({"to": "../stable"})).await.status, StatusCode::BAD_REQUEST);
    let r = promote(ctx.admin_token.clone(), json!({"to": "stable"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["channels"].as_array().unwrap().len(), 2);
    assert_eq!(offered_version(&ctx, None).await.as_deref(), Some("2.0.0-beta.1"));
    let r = promote(ctx.admin_token.clone(), json!({"to": "stable"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Promoting an older release needs force.
    let r = ctx
        .call(Method::POST, "/api/v1/apps/demo/releases/1.2.3/promote", Some(ADMIN_TOKEN), Some(json!({"to": "beta"})))
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (StatusCode::CONFLICT, "version_not_newer"));
    let r = ctx
        .call(
            Method::POST,
            "/api/v1/apps/demo/releases/1.2.3/promote",
            Some(ADMIN_TOKEN),
            Some(json!({"to": "beta", "force": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ctx
        .call(Method::POST, "/api/v1/apps/demo/releases/1.2/promote", Some(ADMIN_TOKEN), Some(json!({"to": "beta"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // `+` in a version path segment, encoded.
    ctx.publish_ok("3.0.0+build.7", "stable", &[("linux-x86_64-appimage", "demo_3.0.0_amd64.AppImage", b"three")], 100)
        .await;
    let v = Version::parse("3.0.0+build.7").unwrap();
    let r = ctx
        .call(Method::GET, &format!("/api/v1/apps/demo/releases/{}", v.to_request_segment()), Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let d = dynamic(&ctx.get("/demo/linux/x86_64/2.0.0").await);
    assert!(d.artifact().url().as_str().contains("/3.0.0%2Bbuild.7/"), "{}", d.artifact().url());
    let r = ctx.get(d.artifact().url().as_url().path()).await;
    assert_eq!(&r.body[..], b"three");
}

#[tokio::test]
async fn rollout_over_ten_thousand_installs_is_deterministic_and_monotonic() {
    let ctx = Ctx::new().await;
    ctx.publish_ok("2.0.0", "stable", &[("linux-x86_64-appimage", "demo_2.0.0_amd64.AppImage", b"two")], 20).await;
    let ids: Vec<String> = (0..10_000).map(|i| format!("synthetic-install-{i:05}")).collect();
    let offered = |percent: u8| {
        let ctx = &ctx;
        let ids = &ids;
        async move {
            let r = ctx
                .call(
                    Method::POST,
                    "/api/v1/apps/demo/releases/2.0.0/rollout",
                    Some(ADMIN_TOKEN),
                    Some(json!({"percent": percent})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
            let mut set = std::collections::HashSet::new();
            for id in ids {
                if offered_version(ctx, Some(id)).await.is_some() {
                    set.insert(id.clone());
                }
            }
            set
        }
    };
    let at_20 = offered(20).await;
    let share = at_20.len() as f64 / 100.0;
    assert!((share - 20.0).abs() <= 2.0, "20% rollout reached {share}%");
    assert_eq!(offered(20).await, at_20, "the same installs get the same answer");
    let at_50 = offered(50).await;
    let share = at_50.len() as f64 / 100.0;
    assert!((share - 50.0).abs() <= 2.0, "50% rollout reached {share}%");
    assert!(at_20.is_subset(&at_50), "raising the rollout removed installs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_half_published_release() {
    let ctx = with_release().await;
    let big = vec![7u8; 8 * 1024 * 1024];
    let files: Vec<(&str, &str, Vec<u8>)> = vec![
        ("linux-x86_64-appimage", "demo_2.0.0_amd64.AppImage", big),
        ("linux-x86_64-deb", "demo_2.0.0_amd64.deb", b"deb two".to_vec()),
        ("windows-x86_64-nsis", "demo_2.0.0_x64-setup.exe", b"nsis two".to_vec()),
    ];
    let sigs: Vec<String> = files.iter().map(|(_, name, data)| ctx.sign(data, name, Some("2.0.0"))).collect();
    let mut parts = Vec::new();
    for ((target, name, data), sig) in files.iter().zip(&sigs) {
        parts.push(Part::Signature(target, sig));
        parts.push(Part::Artifact(target, name, data));
    }
    let body = multipart(&json!({"version": "2.0.0"}), &parts);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/apps/demo/releases")
        .header(header::AUTHORIZATION, format!("Bearer {}", ctx.publish_token))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(Body::from(body))
        .unwrap();
    let router = ctx.router();
    let publish = tokio::spawn(async move { router.oneshot(request).await.unwrap().status() });

    let mut seen_new = 0;
    let mut seen_old = 0;
    while !publish.is_finished() || seen_new == 0 {
        let r = ctx.get("/demo/stable/latest.json").await;
        let manifest = StaticManifest::parse(&r.body).unwrap();
        match manifest.release().version().to_string().as_str() {
            "1.2.3" => seen_old += 1,
            "2.0.0" => {
                seen_new += 1;
                // Complete: every platform of the new release is listed and downloadable in full.
                for (target, _, data) in &files {
                    let (_, entry) = manifest.select(&target.parse::<Target>().unwrap()).unwrap();
                    let d = ctx.get(entry.artifact().url().as_url().path()).await;
                    assert_eq!(d.status, StatusCode::OK);
                    assert_eq!(d.body.len(), data.len());
                }
            }
            other => panic!("unexpected version {other}"),
        }
        let r = ctx.get("/demo/linux/x86_64/1.0.0/deb").await;
        let offer = dynamic(&r);
        let d = ctx.get(offer.artifact().url().as_url().path()).await;
        assert_eq!(d.status, StatusCode::OK, "an offered artifact must be downloadable");
        offer.artifact().signature().signature().verify(&ctx.key.public_key(), &d.body[..]).unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(publish.await.unwrap(), StatusCode::CREATED);
    assert!(seen_new > 0);
    eprintln!("reads during the publish: {seen_old} old, then {seen_new} new");
}

#[tokio::test]
async fn restart_removes_what_an_interrupted_publish_left() {
    let ctx = with_release().await;
    // What a crash can leave: a temporary upload, and a stored blob whose transaction never committed.
    let staging = ctx.backend.staging_dir(&ctx.data_dir());
    std::fs::write(staging.join(".tmp-crashed"), b"partial").unwrap();
    let mut orphan = ctx.state.blobs().writer().unwrap();
    orphan.write(b"orphan").await.unwrap();
    let orphan = ctx.state.blobs().persist(orphan.finish().await.unwrap()).await.unwrap();
    assert_eq!(ctx.blob_files().await.len(), 7, "{:?}", ctx.blob_files().await);
    let config = ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap();
    let ctx = ctx.reopen(config).await;
    if ctx.state.blobs().is_object_store() {
        // A shared store is collected by the leader replica, sparing recent uploads (a publish may be running on
        // another replica): the staged leftover went at start, the orphan goes once past the grace period.
        assert_eq!(ctx.blob_files().await.len(), 6, "{:?}", ctx.blob_files().await);
        let db = ctx.state.db().clone();
        let grace = std::time::Duration::from_secs(3600);
        assert_eq!(ctx.state.blobs().collect_garbage(|| db.referenced_blobs(), grace).await.unwrap(), 0);
        let removed = ctx.state.blobs().collect_garbage(|| db.referenced_blobs(), std::time::Duration::ZERO);
        assert_eq!(removed.await.unwrap(), 1);
    }
    assert_eq!(ctx.blob_files().await.len(), 5, "{:?}", ctx.blob_files().await);
    assert!(ctx.blob_files().await.iter().all(|n| n.len() == 64 && n != &orphan));
    // The published release is intact.
    let d = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    let r = ctx.get(d.artifact().url().as_url().path()).await;
    assert_eq!(&r.body[..], APPIMAGE);
}

// ----- metrics and OpenAPI -----

#[tokio::test]
async fn metrics_count_requests_checks_bytes_and_events() {
    let ctx = with_release().await;
    for _ in 0..3 {
        assert_eq!(ctx.get("/demo/linux/x86_64/1.0.0/deb").await.status, StatusCode::OK);
    }
    assert_eq!(ctx.get("/demo/linux/x86_64/1.2.3").await.status, StatusCode::NO_CONTENT);
    assert_eq!(ctx.get("/demo/stable/latest.json").await.status, StatusCode::OK);
    assert_eq!(ctx.get("/nope/linux/x86_64/1.0.0").await.status, StatusCode::NOT_FOUND);
    let offer = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    let d = ctx.get(offer.artifact().url().as_url().path()).await;
    assert_eq!(&d.body[..], APPIMAGE);
    let r = ctx
        .call(Method::POST, "/api/v1/apps/demo/releases/1.2.3/rollout", Some(ADMIN_TOKEN), Some(json!({"percent": 40})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = ctx.publish(&ctx.publish_token, json!({"version": "1.2.3"}), &[]).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Lists app ids: never for anonymous callers or app tokens.
    assert_eq!(ctx.get("/metrics").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(ctx.call(Method::GET, "/metrics", Some(&ctx.admin_token), None).await.status, StatusCode::FORBIDDEN);
    let r = ctx.call(Method::GET, "/metrics", Some(ADMIN_TOKEN), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let checks = "millennium_update_checks_total{app=\"demo\",channel=\"stable\"";
    assert_eq!(
        metric(&text, &format!("{checks},version=\"1.0.0\",target=\"linux-x86_64-deb\",result=\"update\"}}")),
        Some(3),
        "{text}"
    );
    assert_eq!(
        metric(&text, &format!("{checks},version=\"1.2.3\",target=\"linux-x86_64\",result=\"no_update\"}}")),
        Some(1)
    );
    assert_eq!(metric(&text, &format!("{checks},version=\"\",target=\"latest.json\",result=\"update\"}}")), Some(1));
    assert!(!text.contains("app=\"nope\""), "unknown apps are not counted");
    let route = "millennium_http_requests_total{route=\"/{app}/{target}/{arch}/{current_version}/{bundle_type}\"";
    assert_eq!(metric(&text, &format!("{route},method=\"GET\",status=\"200\"}}")), Some(4));
    assert_eq!(
        metric(
            &text,
            "millennium_http_requests_total{route=\"/{app}/{target}/{arch}/{current_version}\",method=\"GET\",status=\"404\"}"
        ),
        Some(1)
    );
    assert_eq!(
        metric(&text, "millennium_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"401\"}"),
        Some(1)
    );
    assert_eq!(metric(&text, "millennium_download_bytes_total{app=\"demo\"}"), Some(APPIMAGE.len() as u64));
    assert_eq!(metric(&text, "millennium_release_events_total{app=\"demo\",event=\"published\"}"), Some(1));
    assert_eq!(metric(&text, "millennium_release_events_total{app=\"demo\",event=\"rollout\"}"), Some(1));
    assert_eq!(metric(&text, "millennium_release_events_total{app=\"demo\",event=\"publish_refused\"}"), Some(1));
    for family in ["http_requests", "update_checks", "download_bytes", "release_events"] {
        assert!(text.contains(&format!("# TYPE millennium_{family}_total counter\n")), "{family}");
    }

    // A dedicated scrape token, when configured.
    let scrape = "scrape-token-0123456789";
    let config = ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap().with_metrics_token(scrape).unwrap();
    assert!(ServerConfig::new("http://127.0.0.1:9", 1).unwrap().with_metrics_token("short").is_err());
    let ctx = ctx.reopen(config).await;
    assert_eq!(ctx.call(Method::GET, "/metrics", Some(scrape), None).await.status, StatusCode::OK);
    assert_eq!(
        ctx.call(Method::GET, "/metrics", Some("scrape-token-wrong-56789"), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let ctx = with_release().await;
    let r = ctx.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();

    // Every route of the router (read from its source, where each one is a `.route("…"` line) is documented.
    let source = include_str!("../../src/server/mod.rs");
    let routed: Vec<&str> = source
        .split(".route(")
        .skip(1)
        .map(|rest| rest.trim_start().strip_prefix('"').unwrap().split('"').next().unwrap())
        .collect();
    assert!(routed.len() >= 15, "{routed:?}");
    for route in &routed {
        assert!(paths.contains_key(*route), "route `{route}` is missing from openapi.json");
    }
    // Every documented operation is routed: a request to it reaches a handler (no 405, no "route not found").
    let sample = |name: &str| match name {
        "app" => "demo",
        "target" => "linux",
        "arch" => "x86_64",
        "current_version" => "1.0.0",
        "bundle_type" => "deb",
        "channel" => "stable",
        "version" => "1.2.3",
        "file" => "demo_1.2.3_amd64.deb",
        _ => "x",
    };
    let mut operations = 0;
    for (path, item) in paths {
        assert!(routed.contains(&path.as_str()), "documented path `{path}` is not routed");
        let mut uri = path.clone();
        for name in ["app", "target", "arch", "current_version", "bundle_type", "channel", "version", "file", "id"] {
            uri = uri.replace(&format!("{{{name}}}"), sample(name));
        }
        if path.starts_with("/download/") {
            uri = uri.replace("/linux/", "/linux-x86_64-deb/");
        }
        for (method, operation) in item.as_object().unwrap() {
            assert!(operation["operationId"].is_string() && operation["responses"].is_object(), "{method} {path}");
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let r = ctx.call(method.clone(), &uri, None, None).await;
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            if r.status == StatusCode::NOT_FOUND {
                assert!(!String::from_utf8_lossy(&r.body).contains("route"), "{method} {uri} is not routed");
            }
            operations += 1;
        }
    }
    assert_eq!(operations, 39);
}

#[tokio::test]
async fn static_manifest_for_cargo_packager_leaves_out_deb_and_rpm() {
    let ctx = with_release().await;
    let r = ctx.get("/demo/stable/latest.json?client=cargo-packager").await;
    assert_eq!(r.status, StatusCode::OK);
    let platforms = r.json()["platforms"].as_object().unwrap().clone();
    assert!(!platforms.contains_key("linux-x86_64-deb"));
    // Every entry has a format, as cargo-packager-updater requires; its `macos-*` and `{os}-{arch}` keys are there.
    assert!(platforms.values().all(|p| p["format"].is_string()), "{platforms:?}");
    for key in ["linux-x86_64", "macos-aarch64", "windows-x86_64"] {
        assert!(platforms.contains_key(key), "{key}");
    }
    // The default (Tauri) manifest keeps the deb.
    assert!(ctx.get("/demo/stable/latest.json").await.json()["platforms"]["linux-x86_64-deb"].is_object());
    assert_eq!(ctx.get("/demo/stable/latest.json?client=other").await.status, StatusCode::BAD_REQUEST);
    // Only a deb: nothing cargo-packager can install.
    ctx.publish_ok("2.0.0", "debs", &[("linux-x86_64-deb", "d_2.0.0_amd64.deb", b"deb only")], 100).await;
    assert_eq!(ctx.get("/demo/debs/latest.json?client=cargo-packager").await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn cached_answers_follow_every_change() {
    let ctx = with_release().await;
    let offered =
        |r: Resp| if r.status == StatusCode::OK { Some(dynamic(&r).release().version().to_string()) } else { None };
    // Warm the cache, then change things: each change is visible on the very next check.
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb").await).as_deref(), Some("1.2.3"));
    ctx.publish_ok("1.3.0", "stable", &[("linux-x86_64-deb", "demo_1.3.0_amd64.deb", b"deb 1.3")], 100).await;
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb").await).as_deref(), Some("1.3.0"));
    let admin = |path: &'static str, body: Value| ctx.call(Method::POST, path, Some(ADMIN_TOKEN), Some(body));
    assert_eq!(admin("/api/v1/apps/demo/releases/1.3.0/yank", json!({})).await.status, StatusCode::OK);
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb").await).as_deref(), Some("1.2.3"));
    assert_eq!(admin("/api/v1/apps/demo/releases/1.3.0/yank", json!({"yanked": false})).await.status, StatusCode::OK);
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb").await).as_deref(), Some("1.3.0"));
    assert_eq!(admin("/api/v1/apps/demo/releases/1.3.0/rollout", json!({"paused": true})).await.status, StatusCode::OK);
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb").await).as_deref(), Some("1.2.3"));
    assert_eq!(
        admin("/api/v1/apps/demo/releases/1.3.0/rollout", json!({"paused": false, "percent": 0})).await.status,
        StatusCode::OK
    );
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb").await).as_deref(), Some("1.2.3"));
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb?channel=beta").await), None);
    assert_eq!(admin("/api/v1/apps/demo/releases/1.3.0/promote", json!({"to": "beta"})).await.status, StatusCode::OK);
    assert_eq!(offered(ctx.get("/demo/linux/x86_64/1.0.0/deb?channel=beta").await).as_deref(), Some("1.3.0"));
}

// ----- CDN and object-store downloads -----

#[tokio::test]
async fn a_cdn_url_is_put_in_manifests() {
    assert!(ServerConfig::new("http://127.0.0.1:9", 1).unwrap().with_cdn_url("ftp://cdn.example.com").is_err());
    let config =
        ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap().with_cdn_url("https://cdn.example.com/").unwrap();
    let ctx = Ctx::with_config(config).await;
    ctx.publish_ok("1.2.3", "stable", &[("linux-x86_64-appimage", "demo_1.2.3_amd64.AppImage", APPIMAGE)], 100).await;
    let offer = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    let url = offer.artifact().url().as_str().to_owned();
    assert_eq!(url, "https://cdn.example.com/download/demo/1.2.3/linux-x86_64-appimage/demo_1.2.3_amd64.AppImage");
    let manifest = StaticManifest::parse(&ctx.get("/demo/stable/latest.json").await.body).unwrap();
    let (_, entry) = manifest.select(&"linux-x86_64-appimage".parse::<Target>().unwrap()).unwrap();
    assert_eq!(entry.artifact().url().as_str(), url);
    // The CDN's origin is the server: the same path downloads from it, cacheable for a year.
    let r = ctx.get(offer.artifact().url().as_url().path()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], APPIMAGE);
    assert_eq!(r.headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
}

/// `--s3-downloads redirect`: with an object store, a download answers 302 to a presigned URL that serves the bytes
/// (and ranges) itself; `HEAD` and `304` stay on the server. With files there is nothing to presign: the server streams.
#[tokio::test]
async fn redirect_downloads_to_presigned_urls() {
    let mut config = ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap();
    config.downloads = millennium_update_server::DownloadMode::Redirect(std::time::Duration::from_secs(60));
    let ctx = Ctx::with_config(config).await;
    let json = ctx.publish_ok("1.2.3", "stable", &[("linux-x86_64-appimage", "demo.AppImage", APPIMAGE)], 100).await;
    let sha = json["artifacts"][0]["sha256"].as_str().unwrap().to_owned();
    let path = "/download/demo/1.2.3/linux-x86_64-appimage/demo.AppImage";
    let r = ctx.get(path).await;
    if ctx.state.blobs().is_object_store() {
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
        let location = r.headers[header::LOCATION].to_str().unwrap().to_owned();
        assert!(location.contains("X-Amz-Signature=") && location.contains(&sha), "{location}");
        let http = reqwest::Client::new();
        let body = http.get(&location).send().await.unwrap();
        assert_eq!(body.status(), 200);
        assert_eq!(&body.bytes().await.unwrap()[..], APPIMAGE);
        let part = http.get(&location).header("range", "bytes=2-5").send().await.unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(&part.bytes().await.unwrap()[..], &APPIMAGE[2..6]);
    } else {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body[..], APPIMAGE);
    }
    let head = ctx.send(Request::builder().method(Method::HEAD).uri(path).body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[header::CONTENT_LENGTH], APPIMAGE.len().to_string());
    let cached = ctx.get_with(path, &[("if-none-match", &format!("\"{sha}\""))]).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
}

/// Streaming from the store honours ranges on either backend.
#[tokio::test]
async fn ranged_downloads_stream_from_either_store() {
    let ctx = Ctx::new().await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ctx.publish_ok("1.2.3", "stable", &[("linux-x86_64-appimage", "big.AppImage", &data)], 100).await;
    let path = "/download/demo/1.2.3/linux-x86_64-appimage/big.AppImage";
    let r = ctx.get_with(path, &[("range", "bytes=150000-")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&r.body[..], &data[150_000..]);
    let r = ctx.get_with(path, &[("range", "bytes=-10")]).await;
    assert_eq!(&r.body[..], &data[data.len() - 10..]);
    assert_eq!(&ctx.get(path).await.body[..], &data[..]);
}

// ----- the system webview -----

/// Publishes 1.2.3 (AppImage, deb, NSIS) declaring `min_webview_version` (text form).
async fn with_webview_release(min: &str) -> Ctx {
    let ctx = Ctx::new().await;
    let files: [(&str, &str, &[u8]); 3] = [
        ("linux-x86_64-appimage", "demo_1.2.3_amd64.AppImage", APPIMAGE),
        ("linux-x86_64-deb", "demo_1.2.3_amd64.deb", DEB),
        ("windows-x86_64-nsis", "demo_1.2.3_x64-setup.exe", b"nsis installer"),
    ];
    let sigs: Vec<String> = files.iter().map(|(_, name, data)| ctx.sign(data, name, Some("1.2.3"))).collect();
    let mut parts = Vec::new();
    for ((target, name, data), sig) in files.iter().zip(&sigs) {
        parts.push(Part::Signature(target, sig));
        parts.push(Part::Artifact(target, name, data));
    }
    let r = ctx.publish(&ctx.publish_token, json!({"version": "1.2.3", "min_webview_version": min}), &parts).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    ctx
}

impl Ctx {
    /// Runs SQL on the server's database directly, whichever backend it is.
    async fn raw_sql(&self, sql: &str) {
        match &self.backend.database_url {
            Some(url) => {
                millennium_testing::server::psql(url, sql);
            }
            None => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(self.data_dir().join("millennium.db"));
                let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }
}

#[tokio::test]
async fn min_webview_versions_are_published_stored_and_served_per_backend() {
    let ctx = with_webview_release("webview2=124.0,webkitgtk=2.44").await;
    let both = json!({"webkitgtk": "2.44", "webview2": "124.0"});
    assert_eq!(ctx.releases().await[0]["min_webview_version"], both);

    // A dynamic answer is for one target: the scalar of that target's backend.
    let min = |text: &str| Some(text.parse().unwrap());
    let offer = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    assert_eq!(offer.release().min_webview_version(), min("2.44").as_ref());
    let offer = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/deb").await);
    assert_eq!(offer.release().min_webview_version(), min("2.44").as_ref());
    let offer = dynamic(&ctx.get("/demo/windows/x86_64/1.0.0").await);
    assert_eq!(offer.release().min_webview_version(), min("124.0").as_ref());

    // `latest.json` serves many backends: each platform entry carries its own, nothing at the top level.
    let r = ctx.get("/demo/stable/latest.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let manifest = StaticManifest::parse(&r.body).unwrap();
    assert_eq!(manifest.release().min_webview_version(), None);
    for (key, want) in [
        ("linux-x86_64", "2.44"),
        ("linux-x86_64-appimage", "2.44"),
        ("linux-x86_64-deb", "2.44"),
        ("windows-x86_64", "124.0"),
        ("windows-x86_64-nsis", "124.0"),
    ] {
        let entry = manifest.get(key).unwrap_or_else(|| panic!("{key}"));
        assert_eq!(entry.min_webview_version().map(ToString::to_string).as_deref(), Some(want), "{key}");
    }
    let raw: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(raw.get("min_webview_version").is_none(), "{raw}");
    assert_eq!(raw["platforms"]["windows-x86_64-nsis"]["min_webview_version"], "124.0");

    // Refused before any artifact is read, saying what to write; nothing is stored.
    for (bad, says) in [
        (json!("2.44"), "write `webkitgtk=2.44` for WebKitGTK"),
        (json!("webkitgtk=2.x"), "`2.x` is not a version for `webkitgtk`"),
        (json!("gecko=120"), "unknown webview backend `gecko`"),
        (json!("webkitgtk=2.44,webkitgtk=2.46"), "given twice"),
        (json!("webkitgtk=2.44,"), "an entry is empty"),
        (json!(" webkitgtk=2.44"), "unknown webview backend"),
        (json!(""), "it is empty"),
        (json!(2.44), ""),
        (json!({"webkitgtk": "2.44"}), ""),
    ] {
        let release = json!({"version": "1.3.0", "min_webview_version": bad});
        let r = ctx.publish(&ctx.publish_token, release, &[Part::Artifact("linux-x86_64", "a", b"x")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", String::from_utf8_lossy(&r.body));
        let text = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(text.contains(says), "{bad}: {text}");
    }
    assert_eq!(ctx.releases().await.len(), 1);

    // Stored: served the same after a restart; a release without one serves none.
    let ctx = ctx.reopen(ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap()).await;
    let offer = dynamic(&ctx.get("/demo/windows/x86_64/1.0.0").await);
    assert_eq!(offer.release().min_webview_version(), min("124.0").as_ref());
    ctx.publish_ok("1.3.0", "stable", &[("linux-x86_64-appimage", "demo_1.3.0_amd64.AppImage", APPIMAGE)], 100).await;
    let offer = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    assert_eq!(offer.release().min_webview_version(), None);
    assert!(!String::from_utf8_lossy(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await.body).contains("webview"));
    assert!(!String::from_utf8_lossy(&ctx.get("/demo/stable/latest.json").await.body).contains("webview"));
    assert_eq!(ctx.releases().await.iter().filter(|r| r["min_webview_version"].is_null()).count(), 1);
}

/// A minimum for one backend binds only that backend: a Linux target gets none from a WebView2-only release.
#[tokio::test]
async fn a_minimum_for_another_backend_is_not_served_to_a_target() {
    let ctx = with_webview_release("webview2=124.0").await;
    let offer = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    assert_eq!(offer.release().min_webview_version(), None);
    let offer = dynamic(&ctx.get("/demo/windows/x86_64/1.0.0").await);
    assert_eq!(offer.release().min_webview_version().map(ToString::to_string).as_deref(), Some("124.0"));
    let manifest = StaticManifest::parse(&ctx.get("/demo/stable/latest.json").await.body).unwrap();
    assert_eq!(manifest.get("linux-x86_64").unwrap().min_webview_version(), None);
}

/// A database written before minimums were per backend holds bare versions (only Linux bundles produced them):
/// migration 0004 makes them the WebKitGTK minimum.
#[tokio::test]
async fn a_legacy_minimum_in_the_database_becomes_the_webkitgtk_one() {
    let ctx = with_webview_release("webkitgtk=2.44").await;
    // Back to the state of a database at migration 0003: a bare version, and 0004 not applied.
    ctx.raw_sql("UPDATE releases SET min_webview_version = '2.40'").await;
    ctx.raw_sql("DELETE FROM _sqlx_migrations WHERE version = 4").await;
    let ctx = ctx.reopen(ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap()).await;
    assert_eq!(ctx.releases().await[0]["min_webview_version"], json!({"webkitgtk": "2.40"}));
    let offer = dynamic(&ctx.get("/demo/linux/x86_64/1.0.0/appimage").await);
    assert_eq!(offer.release().min_webview_version().map(ToString::to_string).as_deref(), Some("2.40"));
    let offer = dynamic(&ctx.get("/demo/windows/x86_64/1.0.0").await);
    assert_eq!(offer.release().min_webview_version(), None, "a WebKitGTK number says nothing about WebView2");
    // Applying it again changes nothing: rows already in the new form are left alone.
    ctx.raw_sql("DELETE FROM _sqlx_migrations WHERE version = 4").await;
    let ctx = ctx.reopen(ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap()).await;
    assert_eq!(ctx.releases().await[0]["min_webview_version"], json!({"webkitgtk": "2.40"}));
}

#[tokio::test]
async fn update_checks_count_webviews_older_than_the_offered_minimum_of_their_backend() {
    let ctx = with_webview_release("webkitgtk=2.44,webview2=124.0").await;
    let check = |uri: &'static str, value: &'static [u8]| {
        let ctx = &ctx;
        async move {
            let mut request = Request::builder().uri(uri);
            if !value.is_empty() {
                request = request.header("X-Millennium-Webview", axum::http::HeaderValue::from_bytes(value).unwrap());
            }
            ctx.send(request.body(Body::empty()).unwrap()).await.status
        }
    };
    let offer = "/demo/linux/x86_64/1.0.0/appimage";
    for _ in 0..2 {
        assert_eq!(check(offer, b"webkitgtk/2.42.5").await, StatusCode::OK);
    }
    assert_eq!(check(offer, b"webkitgtk/2.44").await, StatusCode::OK);
    assert_eq!(check(offer, b"webkitgtk/2.50.6").await, StatusCode::OK);
    assert_eq!(check(offer, b"missing").await, StatusCode::OK);
    // Malformed reports are counted as unknown and answered as usual, never refused.
    for garbage in [&b"webkitgtk/2.x"[..], b"<script>alert(1)</script>", b"gecko/120", b"\xff\xfe", b"WEBKITGTK/2.44"] {
        assert_eq!(check(offer, garbage).await, StatusCode::OK, "{}", String::from_utf8_lossy(garbage));
    }
    assert_eq!(check(offer, b"").await, StatusCode::OK, "no header: not counted");
    // Up to date: nothing is offered, so no minimum applies.
    assert_eq!(check("/demo/linux/x86_64/1.2.3/appimage", b"webkitgtk/2.40").await, StatusCode::NO_CONTENT);
    assert_eq!(check("/demo/windows/x86_64/1.0.0", b"missing").await, StatusCode::OK);
    // 109 is "above 2.44" but below WebView2's own minimum: too old, compared like with like.
    assert_eq!(check("/demo/windows/x86_64/1.0.0", b"webview2/109.0.1518.78").await, StatusCode::OK);
    assert_eq!(check("/demo/windows/x86_64/1.0.0", b"webview2/124.0.2478.80").await, StatusCode::OK);
    // The release has no macOS minimum: any WKWebView is fine.
    assert_eq!(check("/demo/stable/latest.json", b"wkwebview/10.15").await, StatusCode::OK);
    assert_eq!(check("/demo/stable/latest.json", b"webkitgtk/2.40").await, StatusCode::OK);
    assert_eq!(check("/demo/stable/latest.json", b"webview2/100.0").await, StatusCode::OK);
    assert_eq!(check("/demo/stable/latest.json", b"missing").await, StatusCode::OK);

    let r = ctx.call(Method::GET, "/metrics", Some(ADMIN_TOKEN), None).await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let series = |backend: &str, webview: &str| {
        metric(
            &text,
            &format!(
                "millennium_update_check_webviews_total{{app=\"demo\",channel=\"stable\",backend=\"{backend}\",webview=\"{webview}\"}}"
            ),
        )
    };
    assert_eq!(series("webkitgtk", "too_old"), Some(3), "{text}");
    assert_eq!(series("webkitgtk", "ok"), Some(3), "{text}");
    assert_eq!(series("webkitgtk", "missing"), Some(1), "{text}");
    assert_eq!(series("unknown", "unknown"), Some(5), "{text}");
    assert_eq!(series("webview2", "missing"), Some(1), "{text}");
    assert_eq!(series("webview2", "too_old"), Some(2), "{text}");
    assert_eq!(series("webview2", "ok"), Some(1), "{text}");
    assert_eq!(series("wkwebview", "ok"), Some(1), "{text}");
    assert_eq!(series("unknown", "missing"), Some(1), "{text}");
    let family: Vec<&str> = text.lines().filter(|l| l.starts_with("millennium_update_check_webviews_total")).collect();
    assert_eq!(family.len(), 9, "{family:?}");
    assert_eq!(family.iter().map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum::<u64>(), 18);
    for leaked in ["2.42.5", "script", "gecko", "WEBKITGTK"] {
        assert!(!family.iter().any(|l| l.contains(leaked)), "a header value became a label: {family:?}");
    }
    assert!(text.contains("# TYPE millennium_update_check_webviews_total counter\n"));
}

/// Issue 20 item 11, the unauthenticated side: a request for the freshness document of an app the server has none for
/// (a made-up app, or one without roots) must not leave a signing slot behind, or a stream of made-up names would grow
/// the server's memory without bound.
#[tokio::test]
async fn freshness_requests_for_apps_without_metadata_leave_nothing_behind() {
    let ctx = Ctx::new().await;
    for i in 0..2000 {
        let r = ctx.call(Method::GET, &format!("/metadata/made-up-{i}/freshness.json"), None, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    // `demo` is registered but has no roots.
    let r = ctx.call(Method::GET, "/metadata/demo/freshness.json", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(ctx.state.signings().apps(), 0);
}

// ----- release health and webhooks -----

/// The app's default halt rule applies to a release without its own; the release's own wins; rules are checked
/// (percent over 100, zero installs); a publish token may read health but not set rules.
#[tokio::test]
async fn halt_rules_come_from_the_release_else_the_app_and_are_checked() {
    let ctx = with_release().await;
    let health = |token: String| {
        let ctx = &ctx;
        async move { ctx.call(Method::GET, "/api/v1/apps/demo/releases/1.2.3/health", Some(&token), None).await }
    };
    let r = health(ctx.publish_token.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.json()["rule"].is_null() && r.json()["failure_percent"].is_null());

    let set = |uri: &'static str, token: String, body: Value| {
        let ctx = &ctx;
        async move { ctx.call(Method::PUT, uri, Some(&token), Some(body)).await }
    };
    let app_rule = "/api/v1/apps/demo/halt-rule";
    let release_rule = "/api/v1/apps/demo/releases/1.2.3/halt-rule";
    let rule = json!({"rule": {"max_failure_percent": 5, "min_installs": 100}});
    assert_eq!(set(app_rule, ctx.publish_token.clone(), rule.clone()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(set(app_rule, ctx.admin_token.clone(), rule.clone()).await.status, StatusCode::OK);
    let r = health(ctx.admin_token.clone()).await.json();
    assert_eq!((r["rule"].clone(), r["rule_source"].clone()), (rule["rule"].clone(), json!("app")));
    let own = json!({"rule": {"max_failure_percent": 50, "min_installs": 3}});
    let r = set(release_rule, ctx.admin_token.clone(), own.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.json()["rule"].clone(), r.json()["rule_source"].clone()), (own["rule"].clone(), json!("release")));
    for bad in [
        json!({"rule": {"max_failure_percent": 101, "min_installs": 3}}),
        json!({"rule": {"max_failure_percent": 5, "min_installs": 0}}),
        json!({"rule": {"max_failure_percent": 5}}),
        json!({}),
    ] {
        assert_eq!(
            set(release_rule, ctx.admin_token.clone(), bad.clone()).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    // Removing the release's rule falls back to the app's.
    set(release_rule, ctx.admin_token.clone(), json!({"rule": null})).await;
    assert_eq!(health(ctx.admin_token.clone()).await.json()["rule_source"], "app");
}

/// `POST /demo/events` with `events`; the status and the answer.
async fn post_events(ctx: &Ctx, events: Vec<Value>) -> (StatusCode, Value) {
    let r = ctx.call(Method::POST, "/demo/events", None, Some(json!({ "events": events }))).await;
    let body = if r.status == StatusCode::ACCEPTED { r.json() } else { Value::Null };
    (r.status, body)
}

/// An event about 1.2.3 of `demo` from `install`, with an `id` and an `at` when given.
fn health_event(kind: &str, install: &str, id: Option<&str>, at: Option<i64>) -> Value {
    let mut event =
        json!({"kind": kind, "install_id": install, "from": "1.0.0", "to": "1.2.3", "target": "linux-x86_64-deb"});
    if let Some(id) = id {
        event["id"] = json!(id);
    }
    if let Some(at) = at {
        event["at"] = json!(at);
    }
    event
}

async fn health_of(ctx: &Ctx) -> Value {
    let r = ctx.call(Method::GET, "/api/v1/apps/demo/releases/1.2.3/health", Some(&ctx.admin_token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.json()
}

/// A batch sent again (its answer was lost) is counted once: events with ids the server counted are answered as
/// duplicates and add nothing, also one by one inside a batch mixing old and new ids; events without an id (older
/// clients) count every time. Once the window's ids are forgotten, an id counts again.
#[tokio::test]
async fn events_sent_again_with_their_ids_are_counted_once() {
    let ctx = with_release().await;
    let first = "0123456789abcdef0123456789abcdef";
    let second = "fedcba9876543210fedcba9876543210";
    let batch = || {
        vec![health_event("installed", "a", Some(first), None), health_event("rolled_back", "a", Some(second), None)]
    };
    assert_eq!(
        post_events(&ctx, batch()).await,
        (StatusCode::ACCEPTED, json!({"accepted": 2, "rejected": 0, "duplicates": 0}))
    );
    assert_eq!(
        post_events(&ctx, batch()).await,
        (StatusCode::ACCEPTED, json!({"accepted": 0, "rejected": 0, "duplicates": 2}))
    );
    let mixed = vec![
        health_event("installed", "b", Some(first), None),
        health_event("installed", "b", Some("new-id-0000000000000001"), None),
        health_event("installed", "b", Some("new-id-0000000000000001"), None),
    ];
    assert_eq!(
        post_events(&ctx, mixed).await,
        (StatusCode::ACCEPTED, json!({"accepted": 1, "rejected": 0, "duplicates": 2}))
    );
    for _ in 0..2 {
        let answer = post_events(&ctx, vec![health_event("installed", "c", None, None)]).await;
        assert_eq!(answer, (StatusCode::ACCEPTED, json!({"accepted": 1, "rejected": 0, "duplicates": 0})));
    }
    let totals = health_of(&ctx).await["totals"].clone();
    assert_eq!((totals["installed"].clone(), totals["rolled_back"].clone()), (json!(4), json!(1)));
    let metrics =
        String::from_utf8(ctx.call(Method::GET, "/metrics", Some(ADMIN_TOKEN), None).await.body.to_vec()).unwrap();
    let duplicate = "millennium_client_events_total{app=\"demo\",kind=\"installed\",result=\"duplicate\"} 3";
    assert!(metrics.lines().any(|l| l == duplicate), "{metrics}");

    // The health job forgets ids older than its window: here all of them.
    let now = millennium_update_server::db::now();
    ctx.state.db().compact_health(now - 86_400, now + 1).await.unwrap();
    let answer = post_events(&ctx, vec![health_event("installed", "a", Some(first), None)]).await;
    assert_eq!(answer, (StatusCode::ACCEPTED, json!({"accepted": 1, "rejected": 0, "duplicates": 0})));
}

/// Requests that arrive together are counted in one batch, and an event id sent by two of them at once counts once
/// (one answer says duplicate); every request is answered only after its events are committed, so the totals read
/// right after the answers include all of them.
#[tokio::test]
async fn events_of_requests_sent_together_are_counted_once_each() {
    let ctx = with_release().await;
    let shared = "shared-id-00000000000000000001";
    let requests = (0..8).map(|i| {
        let install = format!("install-{i}");
        let mut events = vec![health_event("installed", &install, Some(&format!("own-id-{i:020}")), None)];
        if i < 2 {
            events.push(health_event("rolled_back", &install, Some(shared), None));
        }
        post_events(&ctx, events)
    });
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::ACCEPTED), "{answers:?}");
    let sum = |field: &str| answers.iter().map(|(_, body)| body[field].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("accepted"), sum("duplicates"), sum("rejected")), (9, 1, 0), "{answers:?}");
    let totals = health_of(&ctx).await["totals"].clone();
    assert_eq!((totals["installed"].clone(), totals["rolled_back"].clone()), (json!(8), json!(1)));
}

/// When more events wait to be counted than the queue holds, a request is answered `503` with `Retry-After` (the
/// client keeps its events and retries) and none of its events is counted; a request that fits is counted.
#[tokio::test]
async fn a_full_event_queue_answers_503_with_retry_after_and_counts_nothing() {
    let mut config = ServerConfig::new("http://127.0.0.1:9", 64 * 1024 * 1024).unwrap();
    config.events.max_queued = 1;
    let ctx = with_release_on(Ctx::with_config(config).await).await;
    let events = vec![
        health_event("installed", "a", Some("queued-id-000000000000001"), None),
        health_event("installed", "b", Some("queued-id-000000000000002"), None),
    ];
    let r = ctx.call(Method::POST, "/demo/events", None, Some(json!({ "events": events }))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert!(r.headers[header::RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(r.error_code(), "unavailable");
    assert_eq!(health_of(&ctx).await["totals"]["installed"], 0);
    // The same events one at a time fit, and count (their ids were not kept by the refused request).
    for event in events {
        let answer = post_events(&ctx, vec![event]).await;
        assert_eq!(answer, (StatusCode::ACCEPTED, json!({"accepted": 1, "rejected": 0, "duplicates": 0})));
    }
    assert_eq!(health_of(&ctx).await["totals"]["installed"], 2);
}

/// The health job compacts the hourly counters of days older than its age into daily ones, on whichever backend the
/// environment names: the totals, the per-bucket counts (now per day, `seconds` 86400) and adoption stay the same, a
/// second run changes nothing, recent hours stay hourly, and an event that arrives later for a compacted hour is added
/// to its day by the next run.
#[tokio::test]
async fn old_hours_are_compacted_into_days_and_every_reader_adds_both_up() {
    let ctx = with_release().await;
    let now = millennium_update_server::db::now();
    let day = (now - 3 * 86_400).div_euclid(86_400) * 86_400;
    let events = vec![
        health_event("installed", "a", None, Some(day + 3600)),
        health_event("installed", "b", None, Some(day + 3600 + 59)),
        health_event("installed", "c", None, Some(day + 5 * 3600)),
        health_event("rolled_back", "c", None, Some(day + 5 * 3600 + 1)),
        health_event("installed", "d", None, None),
    ];
    assert_eq!(post_events(&ctx, events).await.1["accepted"], 5);
    let checks = |count| Checks { app: "demo".into(), version: "1.0.0".into(), count };
    ctx.state.db().add_adoption(day + 3600, &[checks(5)]).await.unwrap();
    ctx.state.db().add_adoption(day + 7200, &[checks(7)]).await.unwrap();
    let before = health_of(&ctx).await;
    assert_eq!(before["buckets"].as_array().unwrap().len(), 3, "{before}");

    // The job with the default age (7 days) leaves a 3-day-old day alone.
    millennium_update_server::server::replicas::compact_health(&ctx.state).await.unwrap();
    assert_eq!(health_of(&ctx).await["buckets"], before["buckets"]);

    // Compacting everything older than a day, twice.
    for _ in 0..2 {
        ctx.state.db().compact_health(now - 86_400, now - 7 * 86_400).await.unwrap();
        let after = health_of(&ctx).await;
        assert_eq!(after["totals"], before["totals"]);
        let buckets = after["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 2, "{after}");
        assert_eq!((buckets[0]["start"].as_i64(), buckets[0]["seconds"].as_i64()), (Some(day), Some(86_400)));
        assert_eq!(buckets[0]["counts"]["installed"], 3);
        assert_eq!(buckets[0]["counts"]["rolled_back"], 1);
        assert_eq!(buckets[1]["seconds"], 3600);
        assert_eq!(buckets[1]["counts"]["installed"], 1);
        assert_eq!(after["adoption"], json!([{"start": day, "seconds": 86_400, "version": "1.0.0", "checks": 12}]));
    }

    // A late report for an hour of the compacted day: hourly until the next run adds it to the day.
    assert_eq!(
        post_events(&ctx, vec![health_event("installed", "e", None, Some(day + 7 * 3600))]).await.1["accepted"],
        1
    );
    let late = health_of(&ctx).await;
    assert_eq!(late["totals"]["installed"], 5);
    assert_eq!(late["buckets"].as_array().unwrap().len(), 3, "{late}");
    ctx.state.db().compact_health(now - 86_400, now - 7 * 86_400).await.unwrap();
    let compacted = health_of(&ctx).await;
    assert_eq!(compacted["buckets"][0]["counts"]["installed"], 4, "{compacted}");
    assert_eq!(compacted["buckets"].as_array().unwrap().len(), 2);
    assert_eq!(compacted["totals"]["installed"], 5);
}

/// Webhook URLs and events are checked, the secret is answered once and never listed, and deleting removes it.
#[tokio::test]
async fn webhooks_are_checked_and_their_secret_is_shown_once() {
    let ctx = Ctx::new().await;
    let admin = Some(ctx.admin_token.as_str());
    let hooks = "/api/v1/apps/demo/webhooks";
    for bad in [
        json!({"url": "ftp://example.com/x"}),
        json!({"url": "https://user:pw@example.com/x"}),
        json!({"url": "https://example.com/x", "events": ["release.exploded"]}),
        json!({"url": "https://example.com/x", "events": []}),
        json!({"url": "https://example.com/x", "secret": "short"}),
        json!({"url": "https://example.com/x", "extra": 1}),
    ] {
        let r = ctx.call(Method::POST, hooks, admin, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
    let r =
        ctx.call(Method::POST, hooks, Some(&ctx.publish_token), Some(json!({"url": "https://example.com/x"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = ctx.call(Method::POST, hooks, admin, Some(json!({"url": "https://example.com/x"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let created = r.json();
    assert_eq!(created["secret"].as_str().unwrap().len(), 64);
    assert_eq!(created["webhook"]["events"].as_array().unwrap().len(), 4);
    let listed = ctx.call(Method::GET, hooks, admin, None).await;
    assert!(!String::from_utf8_lossy(&listed.body).contains(created["secret"].as_str().unwrap()));
    assert_eq!(listed.json()["webhooks"].as_array().unwrap().len(), 1);
    let id = created["webhook"]["id"].as_str().unwrap();
    let r = ctx.call(Method::DELETE, &format!("{hooks}/{id}"), admin, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["webhooks"], json!([]));
    assert_eq!(ctx.call(Method::DELETE, &format!("{hooks}/{id}"), admin, None).await.status, StatusCode::NOT_FOUND);
}
