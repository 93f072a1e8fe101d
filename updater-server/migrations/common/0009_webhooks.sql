-- Webhooks: per app a URL and the secret deliveries are signed with (HMAC-SHA256, docs/webhooks.md), and the
-- delivery log that the background job works through (retries with exponential backoff). Ids are random text, so
-- the SQL is the same on both backends.

CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY NOT NULL,
    app_id      TEXT NOT NULL REFERENCES apps (id),
    url         TEXT NOT NULL,
    -- Needed in clear to compute each MAC.
    secret      TEXT NOT NULL,
    -- Comma-separated event names.
    events      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id                  TEXT PRIMARY KEY NOT NULL,
    webhook_id          TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    app_id              TEXT NOT NULL,
    event               TEXT NOT NULL,
    body                TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts            BIGINT NOT NULL DEFAULT 0,
    last_status_code    BIGINT,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    next_attempt_at     BIGINT,
    delivered_at        BIGINT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_app ON webhook_deliveries (app_id, created_at);
