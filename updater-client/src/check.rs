//! The update check: endpoint templates, the request, and how each kind of answer is treated.
//!
//! Tauri's contract (see `docs/protocol.md`): endpoints are tried in order; a network error, a non-2xx status or an
//! unusable document moves on to the next; `204 No Content` means "no update" and stops. Stricter than Tauri:
//!
//! - every endpoint has an overall deadline (Tauri has none by default), and the document is read up to the protocol's
//!   size limit and no further; every document of the secure check (roots, freshness, release) gets the same deadline
//!   and limit ([`fetch_document`]);
//! - an HTML answer (captive portal, login wall, error page) is reported as such instead of as a JSON syntax error;
//! - an equal or older version is "no update" *before* looking up the platform, so an up-to-date app never fails
//!   because a manifest lacks its platform;
//! - the signature's key id is compared with the pinned keys, and legacy signatures are refused, before anything is
//!   downloaded.

use futures_util::StreamExt;
use millennium_update_protocol::delta::{Blake2b256, DELTA_FORMS_HEADER, DeltaForms, DeltaOffer, INSTALLED_HEADER};
use millennium_update_protocol::limits::MAX_DOCUMENT_LEN;
use millennium_update_protocol::tauri::{Artifact, NO_UPDATE_STATUS, ReleaseInfo, TauriResponse, offers_update};
use millennium_update_protocol::webview::WebviewVersion;

use crate::error::{Error, Result};
use crate::updater::Inner;

/// The value of a template variable.
pub(crate) trait TemplateVars {
    fn value(&self, name: &str) -> Option<String>;
}

const VARIABLES: [&str; 5] = ["current_version", "target", "arch", "bundle_type", "channel"];

/// Replaces `{{name}}` and its URL-encoded form `%7B%7Bname%7D%7D` (either hex case) for every known variable.
pub(crate) fn expand_template(template: &str, vars: &dyn TemplateVars) -> String {
    let mut out = template.to_owned();
    for name in VARIABLES {
        let Some(value) = vars.value(name) else { continue };
        for pattern in [format!("{{{{{name}}}}}"), format!("%7B%7B{name}%7D%7D"), format!("%7b%7b{name}%7d%7d")] {
            out = out.replace(&pattern, &value);
        }
    }
    out
}

fn uses_variable(template: &str, name: &str) -> bool {
    let lower = template.to_ascii_lowercase();
    lower.contains(&format!("{{{{{name}}}}}")) || lower.contains(&format!("%7b%7b{name}%7d%7d"))
}

struct RequestVars<'a>(&'a Inner);

impl TemplateVars for RequestVars<'_> {
    fn value(&self, name: &str) -> Option<String> {
        let inner = self.0;
        Some(match name {
            "current_version" => inner.current.to_request_segment(),
            "target" => inner.target.os().as_str().to_owned(),
            "arch" => inner.target.arch().as_str().to_owned(),
            "bundle_type" => inner
                .target
                .bundle()
                .map_or(millennium_update_protocol::BundleType::UNKNOWN_REQUEST_VALUE, |b| b.as_str())
                .to_owned(),
            "channel" => encode_component(inner.channel.as_deref().unwrap_or("stable")),
            _ => return None,
        })
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The check URL for one endpoint template.
pub(crate) fn endpoint_url(inner: &Inner, template: &str) -> Result<url::Url> {
    let expanded = expand_template(template, &RequestVars(inner));
    let mut url = url::Url::parse(&expanded)
        .map_err(|e| Error::InvalidConfig { reason: format!("endpoint `{expanded}` is not a URL ({e})") })?;
    if let Some(channel) = &inner.channel
        && !uses_variable(template, "channel")
    {
        url.query_pairs_mut().append_pair("channel", channel);
    }
    Ok(url)
}

/// Runs the check. `Ok(None)`: no update. `installed` is named in `X-Millennium-Installed` so that a Millennium server
/// can offer a delta from it (see `src/delta.rs`).
pub(crate) async fn check(inner: &Inner, installed: Option<&Blake2b256>) -> Result<Option<Offer>> {
    let mut errors = Vec::new();
    for template in &inner.endpoints {
        let url = endpoint_url(inner, template)?;
        match within_deadline(inner, &url, ask(inner, &url, installed)).await {
            Ok(Answer::NoUpdate) => {
                tracing::debug!(%url, "no update (204)");
                return Ok(None);
            }
            Ok(Answer::Release(response)) => return decide(inner, &url, *response),
            Err(e) => {
                tracing::warn!(%url, error = %e, "update endpoint failed; trying the next one");
                errors.push(e);
            }
        }
    }
    Err(if errors.len() == 1 { errors.remove(0) } else { Error::AllEndpointsFailed { errors } })
}

enum Answer {
    NoUpdate,
    Release(Box<TauriResponse>),
}

async fn ask(inner: &Inner, url: &url::Url, installed: Option<&Blake2b256>) -> Result<Answer> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(hash) = installed
        && let Ok(value) = reqwest::header::HeaderValue::from_str(&hash.to_header())
    {
        headers.insert(INSTALLED_HEADER, value);
        // The delta forms this build reads beyond the first ones, so that the server may offer a cheaper delta.
        if let Some(forms) = DeltaForms::ALL.to_header()
            && let Ok(value) = reqwest::header::HeaderValue::from_str(&forms)
        {
            headers.insert(DELTA_FORMS_HEADER, value);
        }
    }
    let response = get_json_with(inner, url, headers).await?;
    if response.status().as_u16() == NO_UPDATE_STATUS {
        return Ok(Answer::NoUpdate);
    }
    let body = read_document(url.as_str(), response).await?;
    TauriResponse::parse(&body)
        .map(|r| Answer::Release(Box::new(r)))
        .map_err(|source| Error::InvalidResponse { url: url.to_string(), source: Box::new(source) })
}

/// GETs a JSON document: at most the protocol's size limit, from a 2xx answer that is not an HTML page, complete
/// within the check deadline.
pub(crate) async fn fetch_document(inner: &Inner, url: &url::Url) -> Result<Vec<u8>> {
    within_deadline(inner, url, async {
        let response = get_json(inner, url).await?;
        read_document(url.as_str(), response).await
    })
    .await
}

/// Runs `request` (one whole request: headers and body) within the check deadline. The read timeout alone never
/// fires against a server that sends one byte every few seconds; this does.
async fn within_deadline<T>(inner: &Inner, url: &url::Url, request: impl Future<Output = Result<T>>) -> Result<T> {
    let deadline = inner.limits.check_timeout;
    tokio::time::timeout(deadline, request).await.unwrap_or_else(|_| {
        Err(Error::Timeout { url: url.to_string(), what: format!("no complete answer within {deadline:?}") })
    })
}

async fn get_json(inner: &Inner, url: &url::Url) -> Result<reqwest::Response> {
    get_json_with(inner, url, reqwest::header::HeaderMap::new()).await
}

async fn get_json_with(
    inner: &Inner,
    url: &url::Url,
    mut headers: reqwest::header::HeaderMap,
) -> Result<reqwest::Response> {
    headers.insert(reqwest::header::ACCEPT, reqwest::header::HeaderValue::from_static("application/json"));
    crate::http::get(inner, url, url, headers).await
}

async fn read_document(shown: &str, response: reqwest::Response) -> Result<Vec<u8>> {
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(Error::HttpStatus { url: shown.to_owned(), status });
    }
    reject_html(shown, response.headers(), "a JSON update document")?;
    // Read at most the protocol's limit (+1 to detect "too large"), whatever Content-Length says.
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::network(shown, &e))?;
        if body.len() + chunk.len() > MAX_DOCUMENT_LEN {
            return Err(Error::InvalidResponse {
                url: shown.to_owned(),
                source: Box::new(millennium_update_protocol::Error::DocumentTooLarge {
                    len: body.len() + chunk.len(),
                    max: MAX_DOCUMENT_LEN,
                }),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Refuses an HTML answer: it is a portal, a login or an error page, never an update.
pub(crate) fn reject_html(url: &str, headers: &reqwest::header::HeaderMap, expected: &'static str) -> Result<()> {
    let Some(value) = headers.get(reqwest::header::CONTENT_TYPE) else { return Ok(()) };
    let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if matches!(essence.as_str(), "text/html" | "application/xhtml+xml") {
        return Err(Error::UnexpectedContentType { url: url.to_owned(), content_type: text, expected });
    }
    Ok(())
}

/// An offered release, its artifact for this target, its minimum webview version for this target's backend, the
/// endpoint URL that offered it (whose origin the app's headers go to), and the deltas it lists.
pub(crate) type Offer = (ReleaseInfo, Artifact, Option<WebviewVersion>, url::Url, Vec<DeltaOffer>);

fn decide(inner: &Inner, url: &url::Url, response: TauriResponse) -> Result<Option<Offer>> {
    if !offers_update(&inner.current, &response) {
        tracing::debug!(offered = %response.version(), current = %inner.current, "not newer: no update");
        return Ok(None);
    }
    if crate::rollback::is_rejected(inner, response.version()) {
        tracing::info!(offered = %response.version(), "this version was rolled back here before: not offered again");
        return Ok(None);
    }
    let artifact = response.artifact_for(&inner.target).map_err(|source| Error::NoArtifactForTarget {
        version: response.version().to_string(),
        target: inner.target,
        source: Box::new(source),
    })?;
    crate::verify::precheck(inner, artifact.signature().signature(), response.version())?;
    // Refused now rather than at download: nothing was fetched from it.
    crate::http::check_named_url(inner, url, artifact.url().as_url(), url.scheme() == "https")?;
    let min_webview = response.min_webview_version_for(&inner.target).cloned();
    let deltas = match &response {
        TauriResponse::Dynamic(dynamic) => dynamic.deltas().to_vec(),
        TauriResponse::Static(_) => Vec::new(),
    };
    Ok(Some((response.release().clone(), artifact.clone(), min_webview, url.clone(), deltas)))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars;
    impl TemplateVars for Vars {
        fn value(&self, name: &str) -> Option<String> {
            Some(match name {
                "current_version" => "1.0.0-beta.1%2Bbuild.5".into(),
                "target" => "linux".into(),
                "arch" => "x86_64".into(),
                "bundle_type" => "unknown".into(),
                _ => return None,
            })
        }
    }

    #[test]
    fn expands_raw_and_encoded_variables() {
        let t =
            "http://127.0.0.1/{{target}}/%7B%7Barch%7D%7D/%7b%7bcurrent_version%7d%7d?b={{bundle_type}}&c={{channel}}";
        assert_eq!(
            expand_template(t, &Vars),
            "http://127.0.0.1/linux/x86_64/1.0.0-beta.1%2Bbuild.5?b=unknown&c={{channel}}"
        );
    }

    #[test]
    fn detects_variable_use_in_either_form() {
        assert!(uses_variable("http://x/{{channel}}/latest.json", "channel"));
        assert!(uses_variable("http://x/%7B%7Bchannel%7D%7D/latest.json", "channel"));
        assert!(!uses_variable("http://x/latest.json", "channel"));
    }

    #[test]
    fn encodes_components() {
        assert_eq!(encode_component("beta/1 x"), "beta%2F1%20x");
    }
}
