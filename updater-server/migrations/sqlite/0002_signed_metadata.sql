-- Millennium's signed metadata (docs/protocol.md §7): the root history, the offline-signed release documents, the
-- server's online keys and the current freshness document of each app. Envelopes are stored as the JSON text served.

CREATE TABLE roots (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    -- 1, 2, … with no gap: each one chains from the previous.
    version     INTEGER NOT NULL,
    envelope    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, version)
);

CREATE TABLE release_documents (
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    app_id      TEXT NOT NULL REFERENCES apps (id),
    channel     TEXT NOT NULL,
    -- Canonical SemVer text, as in `releases`.
    version     TEXT NOT NULL,
    -- The document's per-channel sequence number (grows with every release of the channel).
    sequence    INTEGER NOT NULL,
    envelope    TEXT NOT NULL,
    -- BLAKE2b-256 of the envelope, what freshness documents pin.
    hash        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
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
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, key_id)
);

CREATE TABLE freshness (
    app_id      TEXT PRIMARY KEY NOT NULL REFERENCES apps (id),
    sequence    INTEGER NOT NULL,
    envelope    TEXT NOT NULL,
    -- Unix seconds.
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
