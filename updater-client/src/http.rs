//! Every request the updater sends: where it may go, and which headers go with it.
//!
//! An update answer names URLs the app never configured: the artifact URL of a Tauri answer, and every redirect. Two
//! rules keep them from leaking what the app configured for its own server:
//!
//! - **No plain http after https.** A URL named by an https answer (or reached through an https redirect) must be
//!   https, else anyone on the network path could read and rewrite the download. Loopback hosts are exempt, as they
//!   are for endpoints; elsewhere plain http is accepted only with `allow_insecure_http` and only when nothing before it
//!   was https.
//! - **Headers stay with their origin.** The app's custom headers (typically authentication), the install id and the
//!   webview report go only to the origin of the request they belong to (the endpoint that is checked, the metadata
//!   URL, or for a download the check that offered it), and to the origins the app lists with
//!   `UpdaterBuilder::send_headers_to`. A manifest pointing the download at another host, or a redirect to one, gets
//!   none of them.
//!
//! reqwest's redirect handling keeps custom headers across hosts, so redirects are followed here, hop by hop, each hop
//! checked by the same rules.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};

use crate::error::{Error, Result};
use crate::updater::Inner;

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Whether `url` names this machine, where plain http cannot be read or changed on the network.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks a URL that `from` named (an artifact URL in its answer, or a redirect). `after_https`: `from` or a request
/// before it was https.
pub(crate) fn check_named_url(inner: &Inner, from: &url::Url, url: &url::Url, after_https: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" if after_https => Err(Error::HttpsDowngrade { url: url.to_string(), from: from.to_string() }),
        "http" if inner.allow_insecure_http => Ok(()),
        "http" => Err(Error::InsecureHttp { url: url.to_string(), from: from.to_string() }),
        other => Err(Error::ServerMisbehaved {
            url: from.to_string(),
            what: format!("it points to `{url}`, a `{other}` URL, where only http(s) is possible"),
        }),
    }
}

/// GETs `url` with `headers`, following redirects by the module's rules. `owner` is the URL whose origin the app's
/// headers belong to: `url` itself for a check, the check that offered it for a download.
pub(crate) async fn get(
    inner: &Inner,
    url: &url::Url,
    owner: &url::Url,
    headers: HeaderMap,
) -> Result<reqwest::Response> {
    let mut hop = url.clone();
    let mut after_https = owner.scheme() == "https" || url.scheme() == "https";
    for _ in 0..=MAX_REDIRECTS {
        let mut request = inner.client.get(hop.clone()).headers(headers.clone());
        if sends_headers_to(inner, owner, &hop) {
            request = request.headers(inner.headers.clone());
        }
        let response = request.send().await.map_err(|e| {
            // Name the hop that failed: the configured URL alone would send the user looking at the wrong server.
            let failed = if hop == *url { url.to_string() } else { format!("{hop} (redirected from {url})") };
            Error::network(&failed, &e)
        })?;
        let Some(next) = redirect_target(&hop, &response) else { return Ok(response) };
        check_named_url(inner, &hop, &next, after_https)?;
        tracing::debug!(from = %hop, to = %next, "following a redirect");
        after_https |= next.scheme() == "https";
        hop = next;
    }
    Err(Error::ServerMisbehaved { url: url.to_string(), what: format!("more than {MAX_REDIRECTS} redirects") })
}

/// Whether the app's headers go with a request to `url` on behalf of `owner`.
fn sends_headers_to(inner: &Inner, owner: &url::Url, url: &url::Url) -> bool {
    let origin = url.origin();
    origin == owner.origin() || inner.header_origins.contains(&origin)
}

/// Where a redirect answer points, resolved against the URL that gave it.
fn redirect_target(from: &url::Url, response: &reqwest::Response) -> Option<url::Url> {
    let redirect = matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    if redirect { from.join(location).ok() } else { None }
}
