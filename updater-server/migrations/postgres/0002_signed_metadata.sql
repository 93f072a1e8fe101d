-- The PostgreSQL form of `../sqlite/0002_signed_metadata.sql`: the same tables, columns and constraints, with
-- BIGINT for every integer.

CREATE TABLE roots (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    -- 1, 2, … with no gap: each one chains from the previous.
    version     BIGINT NOT NULL,
    envelope    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE release_documents (
    release_id  BIGINT NOT NULL REFERENCES releases (id),
    app_id      TEXT NOT NULL REFERENCES apps (id),
    channel     TEXT NOT NULL,
    -- Canonical SemVer text, as in `releases`.
    version     TEXT NOT NULL,
    -- The document's per-channel sequence number (grows with every release of the channel).
    sequence    BIGINT NOT NULL,
    envelope    TEXT NOT NULL,
    -- BLAKE2b-256 of the envelope, what freshness documents pin.
    hash        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, channel, version),
    UNIQUE (app_id, channel, sequence),
    UNIQUE (release_id, channel)
);

CREATE TABLE online_keys (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    -- 16 hex digits.
    key_id      TEXT NOT NULL,
    -- minisign text forms; the secret key is the server's own (it signs freshness documents only).
    public_key  TEXT NOT NULL,
    secret_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, key_id)
);

CREATE TABLE freshness (
    app_id      TEXT PRIMARY KEY NOT NULL REFERENCES apps (id),
    sequence    BIGINT NOT NULL,
    envelope    TEXT NOT NULL,
    -- Unix seconds.
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
