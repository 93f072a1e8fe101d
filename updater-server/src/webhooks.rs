//! Webhooks: signed notifications of release changes, delivered by a background job with retries.
//!
//! Events: `release.published`, `rollout.changed`, `rollout.halted`, `release.yanked`
//! ([`millennium_update_admin::api::WEBHOOK_EVENTS`], one [`Event`] variant each, whose fields are the body's
//! `data`). The change an event announces and its deliveries are written in **one database transaction**: the
//! handler makes a [`Notice`] before the change, and the database method making the change enqueues one `pending`
//! delivery per subscribed webhook of the app inside its transaction (`crate::db`'s `webhooks` module). So the change
//! and its deliveries commit together or not at all: a request cancelled after its commit (a client that went away),
//! a `kill -9` or a power cut cannot leave a change the receivers never hear of, and a change refused inside its
//! transaction (a yank list that does not match, a duplicate version found under the lock) leaves no delivery
//! either. The delivery job, a singleton on the leader replica ([`crate::leader`]), sends what is due, including
//! what was enqueued before a restart. Each attempt is a `POST` of the JSON body with:
//!
//! | header | value |
//! |---|---|
//! | `X-Millennium-Event` | the event |
//! | `X-Millennium-Delivery` | the delivery id (the same on every retry: receivers can drop duplicates) |
//! | `X-Millennium-Timestamp` | Unix seconds of this attempt |
//! | `X-Millennium-Signature` | `sha256=` and the lowercase hex HMAC-SHA256, keyed with the webhook's secret, of `{timestamp}.{body}` |
//!
//! The timestamp is inside the MAC so a captured delivery cannot be replayed later: receivers refuse timestamps more
//! than a few minutes off (see `docs/webhooks.md`). A `2xx` answer delivers; anything else (or no answer within
//! [`WebhookConfig::timeout`]) is retried after `base_backoff × 2^(attempt−1)`, at most an hour, until
//! [`WebhookConfig::max_attempts`]; then the delivery is `failed`. Redirects are not followed (a `3xx` is a failure):
//! the operator chose the URL, and a redirect must not carry the signed body somewhere else.

use std::time::Duration;

use hmac::{Hmac, Mac};
use millennium_update_admin::api::HaltRule;
use millennium_update_admin::report::display_chain;
use serde::Serialize;
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::names::AppId;
use crate::server::AppState;

/// The name of the delivery job.
pub const JOB: &str = "webhooks";

/// Header names.
pub const EVENT_HEADER: &str = "x-millennium-event";
pub const DELIVERY_HEADER: &str = "x-millennium-delivery";
pub const TIMESTAMP_HEADER: &str = "x-millennium-timestamp";
pub const SIGNATURE_HEADER: &str = "x-millennium-signature";

/// Finished deliveries are kept this long in the log.
pub const LOG_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How deliveries are attempted.
#[derive(Debug, Clone, Copy)]
pub struct WebhookConfig {
    /// Wait before the first retry; doubled after each failure (at most an hour).
    pub base_backoff: Duration,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: u32,
    /// Whole-request timeout of one attempt (connecting included).
    pub timeout: Duration,
    /// How often the job looks for due deliveries.
    pub poll: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            base_backoff: Duration::from_secs(10),
            max_attempts: 10,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}` keyed with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a webhook URL: `http` or `https`, with a host, no credentials, at most 2048 bytes.
pub fn check_url(text: &str) -> Result<url::Url> {
    let bad = |why: &str| Error::bad_request(format!("invalid webhook URL: {why}"));
    if text.len() > 2048 {
        return Err(bad("longer than 2048 bytes"));
    }
    let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("expected `http://` or `https://`"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in the URL would be sent with every delivery: put a secret in the path instead"));
    }
    Ok(url)
}

/// A change announced to webhooks, with what its body's `data` holds (`docs/webhooks.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// `release.published`: where and at what percentage.
    Published { channel: String, rollout: u8 },
    /// `rollout.changed`: what was set in `channel` (`null`: unchanged).
    RolloutChanged { channel: String, percent: Option<u8>, paused: Option<bool> },
    /// `rollout.halted` by the server: why, the counts since the last resume, the rule, and the channels paused.
    RolloutHalted { reason: String, installs: u64, failures: u64, rule: HaltedBy, channels: Vec<String> },
    /// `release.yanked` (`data` is `{}`).
    Yanked {},
}

/// The halt rule that halted a rollout, and where it comes from (`release` or `app`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HaltedBy {
    pub max_failure_percent: u8,
    pub min_installs: u64,
    pub source: &'static str,
}

impl HaltedBy {
    pub fn new(rule: HaltRule, source: &'static str) -> Self {
        Self { max_failure_percent: rule.max_failure_percent, min_installs: rule.min_installs, source }
    }
}

/// A delivery body.
#[derive(Serialize)]
struct Body<'a> {
    event: &'static str,
    app: &'a str,
    version: &'a str,
    at: i64,
    data: &'a Event,
}

impl Event {
    /// The event's name, as in the `X-Millennium-Event` header and a webhook's subscriptions.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Published { .. } => "release.published",
            Self::RolloutChanged { .. } => "rollout.changed",
            Self::RolloutHalted { .. } => "rollout.halted",
            Self::Yanked {} => "release.yanked",
        }
    }

    /// The notice of this event about `version` of `app`, dated now, for the transaction of the change.
    pub fn notice(&self, app: &AppId, version: &str) -> Notice {
        let body = Body { event: self.name(), app: app.as_str(), version, at: crate::db::now(), data: self };
        Notice {
            app: app.clone(),
            event: self.name(),
            // Strings, integers, booleans and sequences of them: nothing that cannot be written as JSON.
            body: serde_json::to_string(&body).expect("a webhook body is always JSON"),
        }
    }
}

/// An event ready to be enqueued with the change it announces: its app, its name and the body every delivery sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub app: AppId,
    pub event: &'static str,
    pub body: String,
}

/// The HTTP client of deliveries: no redirects, no proxy from the environment, bounded time.
pub fn client(config: &WebhookConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("millennium-update-server/", env!("CARGO_PKG_VERSION"), " (webhook)"))
        .build()
        .map_err(|e| Error::Internal(format!("webhook HTTP client: {e}")))
}

/// The wait after failed attempt number `attempt` (1-based).
pub fn backoff(config: &WebhookConfig, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    config.base_backoff.saturating_mul(factor).min(Duration::from_secs(3600))
}

/// One run of the job: sends every due delivery (at most 50), then forgets finished ones past [`LOG_RETENTION`].
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> Result<()> {
    let config = state.config().webhooks;
    let now = crate::db::now();
    for (delivery, hook) in state.db().due_deliveries(now, 50).await? {
        let timestamp = crate::db::now();
        let signature = signature(&hook.secret, timestamp, delivery.body.as_bytes());
        let sent = http
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, &delivery.event)
            .header(DELIVERY_HEADER, &delivery.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(delivery.body.clone())
            .send()
            .await;
        let (code, error) = match sent {
            Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
            Ok(response) => (Some(response.status().as_u16()), Some(format!("answered {}", response.status()))),
            Err(e) => (None, Some(cut(&display_chain(&e).to_string(), 300))),
        };
        let attempt = delivery.attempts + 1;
        let (status, next) = match &error {
            None => ("delivered", None),
            Some(_) if attempt >= config.max_attempts => ("failed", None),
            Some(_) => {
                let wait = i64::try_from(backoff(&config, attempt).as_secs()).unwrap_or(3600).max(1);
                ("pending", Some(crate::db::now() + wait))
            }
        };
        state.metrics().webhook_delivery(&delivery.app_id, status);
        if let Some(error) = &error {
            tracing::warn!(webhook = %hook.id, delivery = %delivery.id, attempt, error, "webhook delivery failed");
        }
        state.db().record_attempt(&delivery.id, status, code, error.as_deref(), next).await?;
    }
    let retention = i64::try_from(LOG_RETENTION.as_secs()).unwrap_or(i64::MAX);
    state.db().prune_deliveries(now - retention).await?;
    Ok(())
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_of_timestamp_dot_body() {
        // RFC 4231 test case 2 is HMAC-SHA256("Jefe", "what do ya want for nothing?").
        assert_eq!(signature("Jefe", 0, b"what do ya want for nothing?").len(), "sha256=".len() + 64,);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(signature("k", 12, b"{}"), signature("k", 12, b"{}"));
        assert_ne!(signature("k", 12, b"{}"), signature("k", 13, b"{}"));
        assert_ne!(signature("k", 12, b"{}"), signature("j", 12, b"{}"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let config = WebhookConfig { base_backoff: Duration::from_secs(10), ..WebhookConfig::default() };
        assert_eq!(backoff(&config, 1), Duration::from_secs(10));
        assert_eq!(backoff(&config, 2), Duration::from_secs(20));
        assert_eq!(backoff(&config, 4), Duration::from_secs(80));
        assert_eq!(backoff(&config, 30), Duration::from_secs(3600));
    }

    #[test]
    fn bodies_have_the_documented_shape() {
        let app = AppId::parse("demo").unwrap();
        let body = |event: Event| -> serde_json::Value {
            let notice = event.notice(&app, "2.0.0");
            assert_eq!(notice.event, event.name());
            let mut body: serde_json::Value = serde_json::from_str(&notice.body).unwrap();
            assert!(body["at"].as_i64().unwrap() > 1_700_000_000);
            assert_eq!((body["app"].as_str(), body["version"].as_str()), (Some("demo"), Some("2.0.0")));
            assert_eq!(body["event"].as_str(), Some(event.name()));
            body["data"].take()
        };
        assert_eq!(
            body(Event::Published { channel: "beta".into(), rollout: 10 }),
            serde_json::json!({"channel": "beta", "rollout": 10})
        );
        assert_eq!(
            body(Event::RolloutChanged { channel: "stable".into(), percent: None, paused: Some(true) }),
            serde_json::json!({"channel": "stable", "percent": null, "paused": true})
        );
        let rule = HaltedBy::new(HaltRule { max_failure_percent: 20, min_installs: 10 }, "release");
        assert_eq!(
            body(Event::RolloutHalted {
                reason: "why".into(),
                installs: 10,
                failures: 8,
                rule,
                channels: vec!["stable".into()]
            }),
            serde_json::json!({"reason": "why", "installs": 10, "failures": 8, "channels": ["stable"],
                "rule": {"max_failure_percent": 20, "min_installs": 10, "source": "release"}})
        );
        assert_eq!(body(Event::Yanked {}), serde_json::json!({}));
    }

    #[test]
    fn webhook_urls_are_checked() {
        assert!(check_url("https://hooks.example/x").is_ok());
        for bad in ["ftp://x/y", "https://user:pw@x/", "not a url", "file:///etc/passwd"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
