//! The dashboard under `/ui/`: server-rendered HTML pages and forms for what the admin API does (apps, releases per
//! channel, promote, rollout, pause/resume, yank/unyank, tokens; release health with a chart, halts, webhook
//! deliveries), for people holding an admin token.
//!
//! # Nothing of its own to trust
//!
//! Every action calls the admin API's own handler ([`super::api`]) with the signed-in principal, so authorisation,
//! validation, cache invalidation, metadata refreshes (and whatever else an action triggers) are the API's, never a
//! second copy; the health and webhook pages read the API handlers' answers, the other pages the same database
//! functions and [`super::api::release_view`].
//!
//! # Sessions
//!
//! Signing in takes an admin token, checked by [`AppState::authenticate`] exactly as the API checks a bearer token;
//! a publish token is refused. The browser then gets a random session id in a cookie (`HttpOnly`, `SameSite=Strict`,
//! `Path=/ui`, `Secure` when the public URL is `https://`), and the database keeps only its SHA-256, with an expiry
//! ([`SESSION_LIFETIME`]) and who signed in. Sessions live in the database so every replica knows them, and a cookie
//! made by another server (another database) matches nothing here. The token behind a session is checked again on
//! every request: revoking it ends its sessions at once.
//!
//! # Forms
//!
//! Every state-changing request is a `POST` whose form carries the session's CSRF token, compared in constant time
//! before the form is even parsed: the [`Post`] extractor does it, and it is the only way a handler here gets a form.
//! The sign-in form, which has no session yet, carries a token that must equal a cookie set with the form (double
//! submit), so another site cannot sign a browser in under its own token.
//!
//! Every answer carries a strict `Content-Security-Policy` (no script at all, styles only from `/ui/style.css`, forms
//! only to this origin, no framing), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
//! `Cache-Control: no-store`; all text is escaped by the templates ([`maud`]).

mod pages;

use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, body::Bytes};
use millennium_update_admin::api::{
    CreateToken, CreatedToken, HealthCounts, Promote, ReleaseHealth, Rollout, WebhookDeliveries, Webhooks, Yank,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{AppState, Auth, api};
use crate::db::{SessionRow, now};
use crate::error::{Error, Result};
use crate::names::AppId;
use crate::tokens::{self, Principal, Scope};

/// The session cookie.
pub const SESSION_COOKIE: &str = "mlnm_session";

/// The cookie the sign-in form's token must match.
pub const LOGIN_COOKIE: &str = "mlnm_login";

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long the sign-in form may stay open.
const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(3600);

/// Largest form body.
const MAX_FORM_BODY: usize = 16 * 1024;

/// The `Content-Security-Policy` of every answer: no script, no plugin, no framing; styles and images from here only;
/// forms only to here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The routes of the dashboard, with its security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { redirect("/ui/") }))
        .route("/ui/", get(apps_page))
        .route("/ui/style.css", get(style))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/apps/{app}", get(app_page))
        .route("/ui/apps/{app}/releases/{version}", get(release_page))
        .route("/ui/apps/{app}/webhooks", get(webhooks_page))
        .route("/ui/apps/{app}/releases/{version}/promote", post(promote))
        .route("/ui/apps/{app}/releases/{version}/rollout", post(rollout))
        .route("/ui/apps/{app}/releases/{version}/yank", post(yank))
        .route("/ui/apps/{app}/tokens", post(create_token))
        .route("/ui/apps/{app}/tokens/{id}/revoke", post(revoke_token))
        // Anything else under `/ui/` is an HTML 404 with the same headers (the server's fallback answers JSON).
        .route("/ui/{*rest}", get(|| async { UiError(Error::not_found("page")) }))
        .layer(axum::middleware::from_fn(security_headers))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages show tokens (once), release state and CSRF tokens: never kept by a browser or a proxy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], pages::STYLE).into_response()
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn html(status: StatusCode, markup: maud::Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

/// An error answered as a page: the API's message (opaque for internal errors, as [`Error::body`] makes it) with its
/// status.
#[derive(Debug)]
pub struct UiError(Error);

impl From<Error> for UiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if self.0.is_internal() {
            tracing::error!(error = %millennium_update_admin::report::display_chain(&self.0), "dashboard request failed");
        }
        html(status, pages::error(status, &self.0.body().error.message))
    }
}

type UiResult<T = Response> = std::result::Result<T, UiError>;

/// A random value of 32 bytes, hex.
fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("random generator failed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// What the database stores for a session id.
fn session_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The value of cookie `name`, if the request has it.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// A `Set-Cookie` value scoped to the dashboard.
fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Duration) -> Result<HeaderValue> {
    // `Secure` whenever the server is reached over https (its public URL, which is what browsers are sent to).
    let secure = if state.config().public_url.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    ))
    .map_err(|e| Error::Internal(format!("cookie: {e}")))
}

/// Constant-time equality of two texts (their lengths are not secret).
fn same(a: &str, b: &str) -> bool {
    tokens::hashes_equal(a.as_bytes(), b.as_bytes())
}

/// The tag a session of the `MILLENNIUM_ADMIN_TOKEN` token is stored under: changes when that token changes, so its
/// sessions end with it.
fn env_tag(env_admin_hash: &[u8; 32]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"millennium dashboard session\0");
    hasher.update(env_admin_hash);
    hex::encode(&hasher.finalize()[..16])
}

/// How a principal is stored in a session row.
fn stored_principal(state: &AppState, principal: &Principal) -> Result<String> {
    match (&principal.token_id, &state.0.env_admin_hash) {
        (Some(id), _) => Ok(format!("token:{id}")),
        (None, Some(hash)) => Ok(format!("env:{}", env_tag(hash))),
        (None, None) => Err(Error::Internal("a principal without a token".into())),
    }
}

/// The principal of a stored session, checked again now: the token must still exist, be unrevoked and be an admin
/// token (the `MILLENNIUM_ADMIN_TOKEN` one must still be the same).
async fn current_principal(state: &AppState, stored: &str) -> Result<Option<Principal>> {
    if let Some(id) = stored.strip_prefix("token:") {
        let Some(row) = state.db().token(id).await? else { return Ok(None) };
        if row.revoked_at.is_some() || row.scope != Scope::Admin {
            return Ok(None);
        }
        let app = row.app_id.as_deref().map(AppId::parse).transpose()?;
        return Ok(Some(Principal { token_id: Some(row.id), app, scope: row.scope }));
    }
    if let Some(tag) = stored.strip_prefix("env:")
        && let Some(hash) = &state.0.env_admin_hash
        && same(tag, &env_tag(hash))
    {
        return Ok(Some(Principal { token_id: None, app: None, scope: Scope::Admin }));
    }
    Ok(None)
}

/// A signed-in person: their session and the principal it stands for. Without one, a `GET` is sent to the sign-in
/// page and anything else refused (`403`).
#[derive(Debug)]
pub struct Session {
    id_hash: String,
    row: SessionRow,
    principal: Principal,
}

impl Session {
    /// Who is signed in, for the page header.
    fn who(&self) -> String {
        match (&self.principal.token_id, &self.principal.app) {
            (Some(id), Some(app)) => format!("admin token {id} of {app}"),
            (Some(id), None) => format!("server admin token {id}"),
            (None, _) => "server admin (MILLENNIUM_ADMIN_TOKEN)".into(),
        }
    }

    fn layout(&self) -> pages::Layout<'_> {
        pages::Layout { who: Some(self.who()), csrf: Some(&self.row.csrf_token) }
    }

    /// Fails unless the session may manage `app` (what every page and action of an app needs).
    fn require(&self, app: &AppId) -> Result<()> {
        self.principal.require(app, Scope::Admin, "manage the app")
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> std::result::Result<Self, Response> {
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                redirect("/ui/login")
            } else {
                html(StatusCode::FORBIDDEN, pages::error(StatusCode::FORBIDDEN, "not signed in (or the session ended)"))
            }
        };
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else { return Err(refuse(parts)) };
        let id_hash = session_hash(id);
        let found = async {
            let Some(row) = state.db().session(&id_hash).await? else { return Ok(None) };
            Ok::<_, Error>(current_principal(state, &row.principal).await?.map(|principal| (row, principal)))
        };
        match found.await {
            Ok(Some((row, principal))) => Ok(Session { id_hash, row, principal }),
            Ok(None) => Err(refuse(parts)),
            Err(e) => Err(UiError(e).into_response()),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Option<Self>, std::convert::Infallible> {
        Ok(<Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await.ok())
    }
}

/// The CSRF token of a form.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A `POST` of the dashboard: a signed-in session, and its form, only once the form's CSRF token matched the
/// session's (constant time). A missing or foreign token is `403`, before the form is parsed.
#[derive(Debug)]
pub struct Post<T> {
    session: Session,
    form: T,
}

fn forbidden(message: &str) -> Response {
    html(StatusCode::FORBIDDEN, pages::error(StatusCode::FORBIDDEN, message))
}

async fn form_body(request: Request) -> std::result::Result<Bytes, Response> {
    axum::body::to_bytes(request.into_body(), MAX_FORM_BODY)
        .await
        .map_err(|_| html(StatusCode::PAYLOAD_TOO_LARGE, pages::error(StatusCode::PAYLOAD_TOO_LARGE, "form too large")))
}

fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_urlencoded::from_bytes(body).map_err(|e| Error::bad_request(format!("invalid form: {e}")))
}

impl<T: DeserializeOwned> FromRequest<AppState> for Post<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> std::result::Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let body = form_body(Request::from_parts(parts, body)).await?;
        let csrf: CsrfField = serde_urlencoded::from_bytes(&body).map_err(|_| forbidden("missing CSRF token"))?;
        if !same(&csrf.csrf, &session.row.csrf_token) {
            tracing::warn!("dashboard form with a wrong CSRF token refused");
            return Err(forbidden("this form's CSRF token is not this session's: reload the page and try again"));
        }
        let form = parse_form(&body).map_err(|e| UiError(e).into_response())?;
        Ok(Post { session, form })
    }
}

// ----- sign in, sign out -----

async fn login_page(State(state): State<AppState>, session: Option<Session>) -> UiResult {
    if session.is_some() {
        return Ok(redirect("/ui/"));
    }
    let token = random_hex()?;
    let mut response = html(StatusCode::OK, pages::login(&token, None));
    response.headers_mut().insert(header::SET_COOKIE, set_cookie(&state, LOGIN_COOKIE, &token, LOGIN_FORM_LIFETIME)?);
    Ok(response)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /ui/login`: the admin token, checked as the API checks it, becomes a session.
async fn login(State(state): State<AppState>, request: Request) -> UiResult {
    let headers = request.headers().clone();
    let body = match form_body(request).await {
        Ok(body) => body,
        Err(response) => return Ok(response),
    };
    let csrf: CsrfField = serde_urlencoded::from_bytes(&body).map_err(|_| Error::bad_request("invalid form"))?;
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|expected| !csrf.csrf.is_empty() && same(&csrf.csrf, expected)) {
        return Ok(forbidden("the sign-in form expired: reload the page and try again"));
    }
    let form: LoginForm = parse_form(&body)?;
    let refused = |status: StatusCode, message: &str| -> UiResult {
        // The same form token: it still matches the sign-in cookie, so the person can try again on this page.
        Ok(html(status, pages::login(&csrf.csrf, Some(message))))
    };
    let principal = match state.authenticate(form.token.trim()).await {
        Ok(principal) => principal,
        Err(Error::Unauthorized) => {
            tracing::warn!("dashboard sign-in with an unknown token refused");
            return refused(StatusCode::UNAUTHORIZED, "unknown, malformed or revoked token");
        }
        Err(e) => return Err(e.into()),
    };
    if principal.scope != Scope::Admin {
        tracing::warn!(
            token_id = principal.token_id.as_deref().unwrap_or("-"),
            "dashboard sign-in with a publish token refused"
        );
        return refused(StatusCode::FORBIDDEN, "this is a publish token: the dashboard needs an admin token");
    }
    // A new id on every sign-in; the session this browser had (if any) ends.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        state.db().delete_session(&session_hash(old)).await?;
    }
    let id = random_hex()?;
    let created_at = now();
    let row = SessionRow {
        principal: stored_principal(&state, &principal)?,
        csrf_token: random_hex()?,
        created_at,
        expires_at: created_at + i64::try_from(SESSION_LIFETIME.as_secs()).unwrap_or(i64::MAX),
    };
    state.db().insert_session(&session_hash(&id), &row).await?;
    tracing::info!(token_id = principal.token_id.as_deref().unwrap_or("-"), "dashboard sign-in");
    let mut response = redirect("/ui/");
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, &id, SESSION_LIFETIME)?);
    headers.append(header::SET_COOKIE, set_cookie(&state, LOGIN_COOKIE, "", Duration::ZERO)?);
    Ok(response)
}

#[derive(Deserialize)]
struct Empty {}

/// `POST /ui/logout`: ends the session (in the database: the cookie alone means nothing afterwards).
async fn logout(State(state): State<AppState>, post: Post<Empty>) -> UiResult {
    state.db().delete_session(&post.session.id_hash).await?;
    let mut response = redirect("/ui/login");
    response.headers_mut().insert(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Duration::ZERO)?);
    Ok(response)
}

// ----- pages -----

/// `GET /ui/`: the apps this session may manage.
async fn apps_page(State(state): State<AppState>, session: Session) -> UiResult {
    let apps = match &session.principal.app {
        None => state.db().apps().await?,
        Some(app) => state.db().app(app).await?.into_iter().collect(),
    };
    Ok(html(StatusCode::OK, pages::apps(&session.layout(), &apps)))
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

/// `GET /ui/apps/{app}`: the app's releases per channel, its releases and its tokens, with their actions.
async fn app_page(
    State(state): State<AppState>,
    session: Session,
    Path(app): Path<String>,
    Query(done): Query<Done>,
) -> UiResult {
    let app = AppId::parse(&app)?;
    session.require(&app)?;
    let row = state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    let mut releases = Vec::new();
    for release in state.db().releases(&app).await? {
        let version = millennium_update_protocol::Version::parse(&release.version)
            .map_err(|e| Error::Internal(format!("stored version: {e}")))?;
        releases.push((version, api::release_view(&state, &release).await?));
    }
    releases.sort_by(|a, b| b.0.cmp_precedence(&a.0));
    let releases: Vec<_> = releases.into_iter().map(|(_, release)| release).collect();
    let mut health: Vec<HealthCounts> = Vec::with_capacity(releases.len());
    for release in &releases {
        health.push(state.db().health_totals(&app, &release.version).await?);
    }
    let mut channels = state.db().app_channels(&app).await?;
    // `stable` first, then the others by name.
    channels.sort_by_key(|c| (c != crate::names::DEFAULT_CHANNEL, c.clone()));
    let tokens = state.db().app_tokens(&app).await?;
    let page = pages::AppPage {
        app: &row,
        channels: &channels,
        releases: &releases,
        health: &health,
        tokens: &tokens,
        done: done.done.as_deref().and_then(pages::done_message),
    };
    Ok(html(StatusCode::OK, pages::app(&session.layout(), &page)))
}

/// The JSON answer of an admin API handler, read back into its type.
async fn answer<T: DeserializeOwned>(response: Response) -> Result<T> {
    let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| Error::Internal(format!("API answer: {e}")))?;
    serde_json::from_slice(&body).map_err(|e| Error::Internal(format!("API answer: {e}")))
}

/// `GET /ui/apps/{app}/releases/{version}`: a release's health (what installs reported, per hour, with a chart), its
/// halt rule and halt, from the API's `…/health` handler.
async fn release_page(
    State(state): State<AppState>,
    session: Session,
    Path((app, version)): Path<(String, String)>,
) -> UiResult {
    let app_id = checked_app(&session, &app)?;
    let health: ReleaseHealth =
        answer(api::health(State(state), Auth(session.principal.clone()), Path((app, version))).await?).await?;
    Ok(html(StatusCode::OK, pages::release(&session.layout(), &app_id, &health)))
}

/// `GET /ui/apps/{app}/webhooks`: the app's webhooks and their newest deliveries, from the API's handlers.
async fn webhooks_page(State(state): State<AppState>, session: Session, Path(app): Path<String>) -> UiResult {
    let app_id = checked_app(&session, &app)?;
    let auth = || Auth(session.principal.clone());
    let hooks: Webhooks = answer(api::list_webhooks(State(state.clone()), auth(), Path(app.clone())).await?).await?;
    let deliveries: WebhookDeliveries = answer(api::webhook_deliveries(State(state), auth(), Path(app)).await?).await?;
    Ok(html(StatusCode::OK, pages::webhooks(&session.layout(), &app_id, &hooks, &deliveries)))
}

// ----- actions: each calls the admin API's handler -----

/// Where an action on `app` sends the browser afterwards.
fn back_to(app: &AppId, done: &str) -> Response {
    // App ids never need escaping in a URL (see `names`); `done` is one of ours.
    redirect(&format!("/ui/apps/{app}?done={done}"))
}

fn checked_app(session: &Session, app: &str) -> Result<AppId> {
    let app = AppId::parse(app)?;
    session.require(&app)?;
    Ok(app)
}

#[derive(Deserialize)]
struct PromoteForm {
    to: String,
    rollout: u8,
    #[serde(default)]
    force: Option<String>,
}

/// `POST /ui/apps/{app}/releases/{version}/promote`.
async fn promote(
    State(state): State<AppState>,
    Path((app, version)): Path<(String, String)>,
    post: Post<PromoteForm>,
) -> UiResult {
    let app_id = checked_app(&post.session, &app)?;
    let request = Promote {
        to: post.form.to.trim().to_owned(),
        rollout: Some(post.form.rollout),
        force: post.form.force.is_some(),
        release_document: None,
    };
    api::promote(State(state), Auth(post.session.principal), Path((app, version)), Ok(Json(request))).await?;
    Ok(back_to(&app_id, "promoted"))
}

#[derive(Deserialize)]
struct RolloutForm {
    channel: String,
    #[serde(default)]
    percent: Option<u8>,
    #[serde(default)]
    paused: Option<bool>,
}

/// `POST /ui/apps/{app}/releases/{version}/rollout`: a new percentage, or pause / resume.
async fn rollout(
    State(state): State<AppState>,
    Path((app, version)): Path<(String, String)>,
    post: Post<RolloutForm>,
) -> UiResult {
    let app_id = checked_app(&post.session, &app)?;
    let done = match post.form.paused {
        Some(true) => "paused",
        Some(false) => "resumed",
        None => "rollout",
    };
    let request = Rollout { channel: Some(post.form.channel), percent: post.form.percent, paused: post.form.paused };
    api::rollout(State(state), Auth(post.session.principal), Path((app, version)), Ok(Json(request))).await?;
    Ok(back_to(&app_id, done))
}

#[derive(Deserialize)]
struct YankForm {
    yanked: bool,
}

/// `POST /ui/apps/{app}/releases/{version}/yank`: yank or un-yank (an app with signed yanks needs the CLI, which
/// signs the yank list with a release key; the API's refusal says so).
async fn yank(
    State(state): State<AppState>,
    Path((app, version)): Path<(String, String)>,
    post: Post<YankForm>,
) -> UiResult {
    let app_id = checked_app(&post.session, &app)?;
    let yanked = post.form.yanked;
    let request = Yank { yanked, yanks: None };
    api::yank(State(state), Auth(post.session.principal), Path((app, version)), Ok(Json(request))).await?;
    Ok(back_to(&app_id, if yanked { "yanked" } else { "unyanked" }))
}

#[derive(Deserialize)]
struct TokenForm {
    scope: String,
    #[serde(default)]
    description: String,
}

/// `POST /ui/apps/{app}/tokens`: a new token, whose secret this answer shows once (no redirect: it is not kept).
async fn create_token(State(state): State<AppState>, Path(app): Path<String>, post: Post<TokenForm>) -> UiResult {
    let app_id = checked_app(&post.session, &app)?;
    let scope = Scope::parse(&post.form.scope).map_err(|e| Error::bad_request(e.to_string()))?;
    let request = CreateToken { app: app_id.to_string(), scope, description: post.form.description };
    let layout = post.session.layout();
    let created: CreatedToken =
        answer(api::create_token(State(state), Auth(post.session.principal.clone()), Ok(Json(request))).await?).await?;
    Ok(html(StatusCode::CREATED, pages::token_created(&layout, &app_id, &created)))
}

/// `POST /ui/apps/{app}/tokens/{id}/revoke`.
async fn revoke_token(
    State(state): State<AppState>,
    Path((app, id)): Path<(String, String)>,
    post: Post<Empty>,
) -> UiResult {
    let app_id = checked_app(&post.session, &app)?;
    // Only the app's own tokens from this page (the API would let a server admin revoke any).
    let row = state.db().token(&id).await?;
    if row.as_ref().and_then(|r| r.app_id.as_deref()) != Some(app_id.as_str()) {
        return Err(Error::not_found(format!("token `{}` of app `{app_id}`", crate::names::snippet(&id))).into());
    }
    api::revoke_token(State(state), Auth(post.session.principal), Path(id)).await?;
    Ok(back_to(&app_id, "revoked"))
}

#[cfg(test)]
mod tests {
    use millennium_update_admin::api::{AdoptionBucket, HealthBucket, HealthCounts};

    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("x_mlnm_session=evil; mlnm_login=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("mlnm_session=good"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("good"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn only_known_action_codes_put_text_on_the_page() {
        assert!(pages::done_message("paused").is_some());
        assert_eq!(pages::done_message("<script>"), None);
    }

    #[test]
    fn the_health_chart_draws_a_bar_per_reported_hour_and_nothing_without_reports() {
        assert!(pages::health_chart(&[]).is_none());
        let bucket = |start, installed, rolled_back| HealthBucket {
            start,
            seconds: 3600,
            channel: "stable".into(),
            counts: HealthCounts { installed, rolled_back, ..HealthCounts::default() },
        };
        let svg = pages::health_chart(&[bucket(7200, 10, 0), bucket(7200 * 3, 4, 2)]).unwrap().into_string();
        assert_eq!(svg.matches("class=\"installs\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"failures\"").count(), 1, "{svg}");
        assert!(!svg.contains("style="), "inline styles are refused by the CSP: {svg}");
    }

    #[test]
    fn the_adoption_chart_draws_a_line_per_version_and_adds_up_the_rest() {
        assert!(pages::adoption_chart(&[]).is_none());
        let versions = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "0.9.0", "<b>0.8.0</b>"];
        let buckets: Vec<AdoptionBucket> = (0u64..)
            .zip(versions)
            .map(|(i, version)| AdoptionBucket {
                start: 3600 * 100,
                seconds: 3600,
                version: version.into(),
                checks: 100 - i,
            })
            .collect();
        let svg = pages::adoption_chart(&buckets).unwrap().into_string();
        assert_eq!(svg.matches("<polyline").count(), 7, "six versions and `other`: {svg}");
        assert!(svg.contains("data-version=\"other\""), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(!svg.contains("style="), "{svg}");
    }
}
