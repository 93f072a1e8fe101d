//! The HTTP client of a running update server's `/api/v1`, typed with [`crate::api`].
//!
//! Every call returns the server's answer as its [`crate::api`] type, or [`Error::Server`] with the server's
//! `error.code` and `message`. Uploads stream each artifact from disk (constant memory) and report progress through a
//! callback.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use millennium_update_protocol::metadata::Envelope;
use millennium_update_protocol::{Target, Version};
use serde::de::DeserializeOwned;

use crate::api::{
    ARTIFACT_PART_PREFIX, App, CreateApp, CreateToken, CreateWebhook, CreatedToken, CreatedWebhook, DryRun, ErrorBody,
    HaltRule, MetadataStatus, OnlineKey, Promote, PublishRequest, RELEASE_DOCUMENT_PART, RELEASE_PART, Release,
    ReleaseHealth, Releases, RevokedToken, Rollout, SIGNATURE_PART_PREFIX, Scope, SetHaltRule, StoredRoot,
    TOKEN_PREFIX, UpdateApp, WebhookDeliveries, Webhooks, Yank,
};
use crate::error::{Error, Result};

/// An artifact to upload.
#[derive(Debug, Clone)]
pub struct UploadArtifact {
    /// Its target key.
    pub target: Target,
    /// The file.
    pub path: PathBuf,
    /// The signature text (contents of the `.sig` file).
    pub signature: String,
}

/// Progress callback: bytes just sent.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// An artifact of a [`Client::publish_streamed`] upload, in memory.
#[derive(Debug, Clone)]
pub struct StreamedArtifact {
    /// Its target key.
    pub target: Target,
    /// Its file name (what downloads are named).
    pub file_name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
    /// The signature text (contents of the `.sig` file).
    pub signature: String,
}

/// What the producer of a [`Client::publish_streamed`] upload sends.
#[derive(Debug)]
pub enum StreamedPart {
    /// The next artifact, sent at once.
    Artifact(StreamedArtifact),
    /// Every artifact is sent: end the upload, so that the server commits the release.
    Complete,
}

/// A client of one server with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// Makes a client for `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str, token: &str) -> Result<Self> {
        let url = url::Url::parse(server).map_err(|e| {
            Error::usage(format!("invalid server URL `{server}`: {e}\nhint: e.g. `--server http://127.0.0.1:8080`"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::usage(format!("invalid server URL `{server}`: expected `http://` or `https://`")));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("millennium-update-admin/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base: url.as_str().trim_end_matches('/').to_owned(), token: token.to_owned() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T> {
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| Error::internal(format!("the server's answer is not what this client expects: {e}")));
        }
        let error = serde_json::from_slice::<ErrorBody>(&bytes).ok().map(|body| body.error);
        Err(Error::Server {
            status: status.as_u16(),
            code: error.as_ref().map_or_else(|| "http".to_owned(), |e| e.code.clone()),
            message: error
                .map_or_else(|| status.canonical_reason().unwrap_or("unexpected answer").to_owned(), |e| e.message),
        })
    }

    /// `POST /api/v1/apps`, with the server's default policy.
    pub async fn create_app(&self, id: &str, public_key: &str) -> Result<App> {
        self.create_app_with(&CreateApp {
            id: id.to_owned(),
            public_key: public_key.to_owned(),
            require_signed_version: None,
        })
        .await
    }

    /// `POST /api/v1/apps`.
    pub async fn create_app_with(&self, body: &CreateApp) -> Result<App> {
        self.send(self.http.post(self.url("/apps")).json(body)).await
    }

    /// `PATCH /api/v1/apps/{app}`: replaces the release public key.
    pub async fn set_app_key(&self, app: &str, public_key: &str) -> Result<App> {
        self.update_app(app, &UpdateApp { public_key: Some(public_key.to_owned()), ..UpdateApp::default() }).await
    }

    /// `PATCH /api/v1/apps/{app}`.
    pub async fn update_app(&self, app: &str, body: &UpdateApp) -> Result<App> {
        self.send(self.http.patch(self.url(&format!("/apps/{app}"))).json(body)).await
    }

    /// `GET /api/v1/apps/{app}`.
    pub async fn app(&self, app: &str) -> Result<App> {
        self.send(self.http.get(self.url(&format!("/apps/{app}")))).await
    }

    /// `POST /api/v1/tokens`.
    pub async fn create_token(&self, app: &str, scope: Scope, description: &str) -> Result<CreatedToken> {
        let body = CreateToken { app: app.to_owned(), scope, description: description.to_owned() };
        self.send(self.http.post(self.url("/tokens")).json(&body)).await
    }

    /// `DELETE /api/v1/tokens/{id}`; accepts a token id or a whole token.
    pub async fn revoke_token(&self, id_or_token: &str) -> Result<RevokedToken> {
        let id = token_id(id_or_token);
        self.send(self.http.delete(self.url(&format!("/tokens/{id}")))).await
    }

    /// `GET /api/v1/apps/{app}/releases`.
    pub async fn list_releases(&self, app: &str, channel: Option<&str>) -> Result<Releases> {
        let mut request = self.http.get(self.url(&format!("/apps/{app}/releases")));
        if let Some(channel) = channel {
            request = request.query(&[("channel", channel)]);
        }
        self.send(request).await
    }

    fn release_url(&self, app: &str, version: &Version, action: &str) -> String {
        self.url(&format!("/apps/{app}/releases/{}/{action}", version.to_request_segment()))
    }

    /// `POST …/promote`.
    pub async fn promote(&self, app: &str, version: &Version, body: &Promote) -> Result<Release> {
        self.send(self.http.post(self.release_url(app, version, "promote")).json(body)).await
    }

    /// `GET …/releases/{version}/health`.
    pub async fn release_health(&self, app: &str, version: &Version) -> Result<ReleaseHealth> {
        self.send(self.http.get(self.release_url(app, version, "health"))).await
    }

    /// `PUT …/releases/{version}/halt-rule`; `None` removes the release's own rule.
    pub async fn set_release_halt_rule(
        &self,
        app: &str,
        version: &Version,
        rule: Option<HaltRule>,
    ) -> Result<ReleaseHealth> {
        self.send(self.http.put(self.release_url(app, version, "halt-rule")).json(&SetHaltRule { rule })).await
    }

    /// `PUT /api/v1/apps/{app}/halt-rule`: the app's default rule; `None` removes it.
    pub async fn set_app_halt_rule(&self, app: &str, rule: Option<HaltRule>) -> Result<SetHaltRule> {
        self.send(self.http.put(self.url(&format!("/apps/{app}/halt-rule"))).json(&SetHaltRule { rule })).await
    }

    /// `POST /api/v1/apps/{app}/webhooks`.
    pub async fn create_webhook(&self, app: &str, body: &CreateWebhook) -> Result<CreatedWebhook> {
        self.send(self.http.post(self.url(&format!("/apps/{app}/webhooks"))).json(body)).await
    }

    /// `GET /api/v1/apps/{app}/webhooks`.
    pub async fn webhooks(&self, app: &str) -> Result<Webhooks> {
        self.send(self.http.get(self.url(&format!("/apps/{app}/webhooks")))).await
    }

    /// `DELETE /api/v1/apps/{app}/webhooks/{id}`: answers the remaining webhooks.
    pub async fn delete_webhook(&self, app: &str, id: &str) -> Result<Webhooks> {
        self.send(self.http.delete(self.url(&format!("/apps/{app}/webhooks/{id}")))).await
    }

    /// `GET /api/v1/apps/{app}/webhooks/deliveries`.
    pub async fn webhook_deliveries(&self, app: &str) -> Result<WebhookDeliveries> {
        self.send(self.http.get(self.url(&format!("/apps/{app}/webhooks/deliveries")))).await
    }

    /// `POST …/rollout`.
    pub async fn rollout(&self, app: &str, version: &Version, body: &Rollout) -> Result<Release> {
        self.send(self.http.post(self.release_url(app, version, "rollout")).json(body)).await
    }

    /// `POST …/yank`, with the app's next yank list signed offline when it has signed yanks.
    pub async fn yank(&self, app: &str, version: &Version, yanked: bool, yanks: Option<&Envelope>) -> Result<Release> {
        let body = Yank { yanked, yanks: yanks.cloned() };
        self.send(self.http.post(self.release_url(app, version, "yank")).json(&body)).await
    }

    /// `POST /api/v1/apps/{app}/releases` with `dry_run`: checks everything but the artifacts.
    pub async fn publish_check(&self, app: &str, release: &PublishRequest) -> Result<DryRun> {
        let release = PublishRequest { dry_run: true, ..release.clone() };
        let release = serde_json::to_string(&release).map_err(|e| Error::internal(format!("release JSON: {e}")))?;
        let form = reqwest::multipart::Form::new().text(RELEASE_PART, release);
        self.send(self.http.post(self.url(&format!("/apps/{app}/releases"))).multipart(form)).await
    }

    /// `POST /api/v1/apps/{app}/releases`: streams every artifact from disk.
    pub async fn publish(
        &self,
        app: &str,
        release: &PublishRequest,
        artifacts: &[UploadArtifact],
        progress: Progress,
    ) -> Result<Release> {
        self.publish_signed(app, release, None, artifacts, progress).await
    }

    /// [`Client::publish`] with the signed release document an app with signed metadata needs.
    pub async fn publish_signed(
        &self,
        app: &str,
        release: &PublishRequest,
        document: Option<&Envelope>,
        artifacts: &[UploadArtifact],
        progress: Progress,
    ) -> Result<Release> {
        let release_json = serde_json::to_string(release).map_err(|e| Error::internal(format!("release JSON: {e}")))?;
        let mut form = reqwest::multipart::Form::new().text(RELEASE_PART, release_json);
        if let Some(document) = document {
            form = form.text(RELEASE_DOCUMENT_PART, document.to_json());
        }
        for artifact in artifacts {
            let key = artifact.target.to_string();
            form = form.text(format!("{SIGNATURE_PART_PREFIX}{key}"), artifact.signature.clone());
            let file = tokio::fs::File::open(&artifact.path)
                .await
                .map_err(|e| Error::io("could not open", &artifact.path, e))?;
            let len = file.metadata().await.map_err(|e| Error::io("could not stat", &artifact.path, e))?.len();
            let progress = Arc::clone(&progress);
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    progress(chunk.len() as u64);
                }
            });
            let file_name = artifact
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::usage(format!("`{}` has no usable file name", artifact.path.display())))?
                .to_owned();
            let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
                .file_name(file_name)
                .mime_str("application/octet-stream")?;
            form = form.part(format!("{ARTIFACT_PART_PREFIX}{key}"), part);
        }
        self.send(self.http.post(self.url(&format!("/apps/{app}/releases"))).multipart(form)).await
    }

    /// `POST /api/v1/apps/{app}/releases` with the artifacts sent as `parts` brings them, while they are still being
    /// produced: the request starts with the `release` part, and each artifact (its `signature:` part, then its
    /// `artifact:` part) goes out the moment it arrives. The upload ends, and the server commits the release, only
    /// on [`StreamedPart::Complete`]; when `parts` closes without it (the producer failed, or was dropped) the body
    /// fails mid-stream, the request is aborted before its closing boundary, and the server, which commits a release
    /// only from a complete upload, keeps nothing. Apps with signed metadata need [`Client::publish_signed`]: their
    /// release document lists every artifact, so it can only be made once all of them exist.
    pub async fn publish_streamed(
        &self,
        app: &str,
        release: &PublishRequest,
        parts: tokio::sync::mpsc::UnboundedReceiver<StreamedPart>,
        progress: Progress,
    ) -> Result<Release> {
        let release_json = serde_json::to_string(release).map_err(|e| Error::internal(format!("release JSON: {e}")))?;
        let body = StreamedBody::new(&release_json, parts, progress);
        let content_type = format!("multipart/form-data; boundary={}", body.boundary);
        let request = self
            .http
            .post(self.url(&format!("/apps/{app}/releases")))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(reqwest::Body::wrap_stream(body));
        self.send(request).await
    }

    /// `GET /api/v1/apps/{app}/metadata`: root version, online keys, last sequence of each channel.
    pub async fn metadata_status(&self, app: &str) -> Result<MetadataStatus> {
        self.send(self.http.get(self.url(&format!("/apps/{app}/metadata")))).await
    }

    /// `POST /api/v1/apps/{app}/online-keys`: the server generates an online key and answers its public key.
    pub async fn generate_online_key(&self, app: &str) -> Result<OnlineKey> {
        self.send(self.http.post(self.url(&format!("/apps/{app}/online-keys")))).await
    }

    /// `POST /api/v1/apps/{app}/roots`.
    pub async fn upload_root(&self, app: &str, root: &Envelope) -> Result<StoredRoot> {
        let request = self
            .http
            .post(self.url(&format!("/apps/{app}/roots")))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(root.to_json());
        self.send(request).await
    }

    /// `GET /metadata/{app}/{path}` (public): the document's text, `None` when the server has none.
    pub async fn metadata_document(&self, app: &str, path: &str) -> Result<Option<String>> {
        let response = self.http.get(format!("{}/metadata/{app}/{path}", self.base)).send().await?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let text = response.text().await?;
        if !status.is_success() {
            return Err(Error::Server { status: status.as_u16(), code: "http".into(), message: text });
        }
        Ok(Some(text))
    }

    /// `GET /api/v1/apps/{app}/releases/{version}`; `None` when it does not exist.
    pub async fn release(&self, app: &str, version: &Version) -> Result<Option<Release>> {
        let url = self.url(&format!("/apps/{app}/releases/{}", version.to_request_segment()));
        match self.send(self.http.get(url)).await {
            Ok(release) => Ok(Some(release)),
            Err(Error::Server { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The `multipart/form-data` body of [`Client::publish_streamed`], encoded as `reqwest`'s forms are.
struct StreamedBody {
    /// `None` once the upload is complete or abandoned.
    parts: Option<tokio::sync::mpsc::UnboundedReceiver<StreamedPart>>,
    /// Chunks to send, each with the artifact bytes it holds (for the progress callback).
    pending: std::collections::VecDeque<(Vec<u8>, u64)>,
    boundary: String,
    progress: Progress,
}

impl StreamedBody {
    fn new(release_json: &str, parts: tokio::sync::mpsc::UnboundedReceiver<StreamedPart>, progress: Progress) -> Self {
        use std::hash::{BuildHasher, Hasher};
        // 128 random bits (the keys of std's hasher are random), as reqwest's boundaries have.
        let random = || std::collections::hash_map::RandomState::new().build_hasher().finish();
        let mut body = Self {
            parts: Some(parts),
            pending: std::collections::VecDeque::new(),
            boundary: format!("{:016x}-{:016x}", random(), random()),
            progress,
        };
        let mut first = body.head(RELEASE_PART, None, true);
        first.extend_from_slice(release_json.as_bytes());
        body.pending.push_back((first, 0));
        body
    }

    /// The delimiter and headers of a part; the CRLF before a delimiter belongs to it, so the first part has none.
    fn head(&self, name: &str, file_name: Option<&str>, first: bool) -> Vec<u8> {
        let mut head = if first { String::new() } else { "\r\n".to_owned() };
        head += &format!("--{}\r\nContent-Disposition: form-data; name=\"{name}\"", self.boundary);
        if let Some(file_name) = file_name {
            // Escaped as reqwest escapes it.
            let escaped =
                file_name.replace('\\', "\\\\").replace('"', "\\\"").replace('\r', "\\\r").replace('\n', "\\\n");
            head += &format!("; filename=\"{escaped}\"\r\nContent-Type: application/octet-stream");
        }
        head += "\r\n\r\n";
        head.into_bytes()
    }
}

impl futures_util::Stream for StreamedBody {
    type Item = std::io::Result<Vec<u8>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        loop {
            if let Some((chunk, artifact_bytes)) = self.pending.pop_front() {
                if artifact_bytes > 0 {
                    (self.progress)(artifact_bytes);
                }
                return Poll::Ready(Some(Ok(chunk)));
            }
            let Some(parts) = self.parts.as_mut() else {
                return Poll::Ready(None);
            };
            match std::task::ready!(parts.poll_recv(cx)) {
                Some(StreamedPart::Artifact(artifact)) => {
                    let key = artifact.target.to_string();
                    let mut chunk = self.head(&format!("{SIGNATURE_PART_PREFIX}{key}"), None, false);
                    chunk.extend_from_slice(artifact.signature.as_bytes());
                    chunk.extend(self.head(&format!("{ARTIFACT_PART_PREFIX}{key}"), Some(&artifact.file_name), false));
                    let size = artifact.bytes.len() as u64;
                    self.pending.push_back((chunk, 0));
                    self.pending.push_back((artifact.bytes, size));
                }
                Some(StreamedPart::Complete) => {
                    let end = format!("\r\n--{}--\r\n", self.boundary).into_bytes();
                    self.pending.push_back((end, 0));
                    self.parts = None;
                }
                None => {
                    self.parts = None;
                    // An error, not an end: the request is aborted, and the server never sees a complete upload.
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        "the release was abandoned before all of its artifacts were produced",
                    ))));
                }
            }
        }
    }
}

/// The id of a token given whole (`mlnm_<id>_<secret>`); anything else is taken as the id itself.
fn token_id(id_or_token: &str) -> &str {
    let id = id_or_token.strip_prefix(TOKEN_PREFIX).and_then(|rest| rest.split_once('_')).map(|(id, _)| id);
    id.filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).unwrap_or(id_or_token)
}

/// `GET {base}/healthz` (no token), failing unless it answers 2xx within `timeout`: the container `HEALTHCHECK`.
pub async fn healthcheck(base: &str, timeout: Duration) -> Result<Healthy> {
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(timeout).build()?;
    let response = client.get(&url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Server {
            status: status.as_u16(),
            code: "unhealthy".into(),
            message: format!("`{url}` answered {status}"),
        });
    }
    Ok(Healthy { status: "ok".into(), url })
}

/// A server that answered its health check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Healthy {
    /// `ok`.
    pub status: String,
    /// The URL that answered.
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_revoked_by_their_id() {
        let id = "0123456789abcdef";
        assert_eq!(token_id(&format!("mlnm_{id}_{}", "0".repeat(64))), id);
        assert_eq!(token_id(id), id);
        assert_eq!(token_id("mlnm_short_x"), "mlnm_short_x");
    }
}
