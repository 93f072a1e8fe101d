//! Webhooks and their delivery log.
//!
//! An event is enqueued as one `pending` delivery per subscribed webhook by [`enqueue_deliveries`], inside the
//! transaction of the change it announces (publish, rollout change, yank, halt), so both commit or neither does. The
//! delivery job ([`crate::webhooks`]) runs on the leader replica only, so no two replicas send the same delivery; it
//! records each attempt here (status, attempts, last error, when to try again).

use super::backend::{Row, Tx};
use super::{Db, now};
use crate::error::Result;
use crate::names::AppId;
use crate::webhooks::Notice;

/// A webhook.
#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: String,
    pub app_id: String,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub created_at: i64,
}

/// A delivery, with what it needs to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub app_id: String,
    pub event: String,
    pub body: String,
    pub status: String,
    pub attempts: u32,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

fn webhook_from_row(row: Row<'_>) -> Result<WebhookRow> {
    let events: String = row.get("events")?;
    Ok(WebhookRow {
        id: row.get("id")?,
        app_id: row.get("app_id")?,
        url: row.get("url")?,
        secret: row.get("secret")?,
        events: events.split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect(),
        created_at: row.get("created_at")?,
    })
}

pub(super) const DELIVERY_COLUMNS: &str = "id, webhook_id, app_id, event, body, status, attempts, last_status_code, last_error, \
                                created_at, next_attempt_at, delivered_at";

pub(super) fn delivery_from_row(row: Row<'_>) -> Result<DeliveryRow> {
    let attempts: i64 = row.get("attempts")?;
    let code: Option<i64> = row.get("last_status_code")?;
    Ok(DeliveryRow {
        id: row.get("id")?,
        webhook_id: row.get("webhook_id")?,
        app_id: row.get("app_id")?,
        event: row.get("event")?,
        body: row.get("body")?,
        status: row.get("status")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_status_code: code.and_then(|c| u16::try_from(c).ok()),
        last_error: row.get("last_error")?,
        created_at: row.get("created_at")?,
        next_attempt_at: row.get("next_attempt_at")?,
        delivered_at: row.get("delivered_at")?,
    })
}

/// A random id: 16 hex digits.
pub fn random_id() -> Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| crate::error::Error::Internal(format!("random id: {e}")))?;
    Ok(hex::encode(bytes))
}

/// In `tx`, the transaction of the change `notice` announces: one `pending` delivery of it per webhook of its app
/// subscribed to its event, due at once. Called right after the change's own statements and before the checks that
/// may still refuse it in the same transaction, so a refused change rolls its deliveries back with it.
pub(super) async fn enqueue_deliveries(tx: &mut Tx, notice: &Notice) -> Result<()> {
    let hooks: Vec<String> = tx
        .query("SELECT id, events FROM webhooks WHERE app_id = $1 ORDER BY created_at, id")
        .bind(notice.app.as_str())
        .fetch_all(|row| Ok((row.get::<String>("id")?, row.get::<String>("events")?)))
        .await?
        .into_iter()
        .filter(|(_, events)| events.split(',').any(|e| e == notice.event))
        .map(|(id, _)| id)
        .collect();
    let created_at = now();
    for hook in &hooks {
        tx.query(
            "INSERT INTO webhook_deliveries (id, webhook_id, app_id, event, body, status, attempts, created_at,
             next_attempt_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
        )
        .bind(random_id()?)
        .bind(hook.as_str())
        .bind(notice.app.as_str())
        .bind(notice.event)
        .bind(notice.body.as_str())
        .bind(created_at)
        .execute()
        .await?;
    }
    if !hooks.is_empty() {
        tracing::debug!(app = %notice.app, event = notice.event, deliveries = hooks.len(), "webhook deliveries enqueued");
    }
    Ok(())
}

impl Db {
    /// Adds a webhook.
    pub async fn insert_webhook(&self, app: &AppId, url: &str, secret: &str, events: &[String]) -> Result<WebhookRow> {
        let row = WebhookRow {
            id: random_id()?,
            app_id: app.to_string(),
            url: url.to_owned(),
            secret: secret.to_owned(),
            events: events.to_vec(),
            created_at: now(),
        };
        self.query(
            "INSERT INTO webhooks (id, app_id, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.id.as_str())
        .bind(app.as_str())
        .bind(url)
        .bind(secret)
        .bind(events.join(","))
        .bind(row.created_at)
        .execute()
        .await?;
        Ok(row)
    }

    /// An app's webhooks, oldest first.
    pub async fn webhooks(&self, app: &AppId) -> Result<Vec<WebhookRow>> {
        self.query(
            "SELECT id, app_id, url, secret, events, created_at FROM webhooks WHERE app_id = $1 ORDER BY created_at, id",
        )
        .bind(app.as_str())
        .fetch_all(webhook_from_row)
        .await
    }

    /// Removes a webhook and its delivery log; `false` when the app has no such webhook.
    pub async fn delete_webhook(&self, app: &AppId, id: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        tx.query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND app_id = $2")
            .bind(id)
            .bind(app.as_str())
            .execute()
            .await?;
        let removed = tx
            .query("DELETE FROM webhooks WHERE id = $1 AND app_id = $2")
            .bind(id)
            .bind(app.as_str())
            .execute()
            .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// Pending deliveries due by `at`, oldest first, at most `limit`, with their webhook.
    pub async fn due_deliveries(&self, at: i64, limit: i64) -> Result<Vec<(DeliveryRow, WebhookRow)>> {
        let deliveries = self
            .query(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at, created_at LIMIT $2"
            ))
            .bind(at)
            .bind(limit)
            .fetch_all(delivery_from_row)
            .await?;
        let mut out = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let hook = self
                .query("SELECT id, app_id, url, secret, events, created_at FROM webhooks WHERE id = $1")
                .bind(delivery.webhook_id.as_str())
                .fetch_optional(webhook_from_row)
                .await?;
            if let Some(hook) = hook {
                out.push((delivery, hook));
            }
        }
        Ok(out)
    }

    /// Records an attempt: `status` is `delivered`, `pending` (try again at `next_attempt_at`) or `failed`.
    pub async fn record_attempt(
        &self,
        id: &str,
        status: &str,
        status_code: Option<u16>,
        error: Option<&str>,
        next_attempt_at: Option<i64>,
    ) -> Result<()> {
        let delivered_at = (status == "delivered").then(now);
        self.query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status_code = $2,
             last_error = $3, next_attempt_at = $4, delivered_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(status_code.map(i64::from))
        .bind(error)
        .bind(next_attempt_at)
        .bind(delivered_at)
        .bind(id)
        .execute()
        .await?;
        Ok(())
    }

    /// An app's deliveries, newest first, at most `limit`.
    pub async fn deliveries(&self, app: &AppId, limit: i64) -> Result<Vec<DeliveryRow>> {
        self.query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE app_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(app.as_str())
        .bind(limit)
        .fetch_all(delivery_from_row)
        .await
    }

    /// Forgets finished deliveries older than `before` (Unix seconds): the log stays bounded.
    pub async fn prune_deliveries(&self, before: i64) -> Result<u64> {
        self.query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1")
            .bind(before)
            .execute()
            .await
    }
}
