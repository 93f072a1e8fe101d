-- Apps, their tokens, releases, the artifacts of each release, and which channels offer which release.
-- Timestamps are Unix seconds. Written in the SQL subset SQLite and PostgreSQL share, apart from AUTOINCREMENT.

CREATE TABLE apps (
    id          TEXT PRIMARY KEY NOT NULL,
    -- The release public key, minisign text form.
    public_key  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 of the secret part of the token.
    secret_hash BLOB NOT NULL,
    -- NULL: the server admin token, valid for every app.
    app_id      TEXT REFERENCES apps (id),
    scope       TEXT NOT NULL CHECK (scope IN ('publish', 'admin')),
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE releases (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      TEXT NOT NULL REFERENCES apps (id),
    -- Canonical SemVer text (no leading `v`).
    version     TEXT NOT NULL,
    notes       TEXT,
    -- RFC 3339.
    pub_date    TEXT NOT NULL,
    yanked      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    UNIQUE (app_id, version)
);

CREATE TABLE artifacts (
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    -- Canonical target key, e.g. `linux-x86_64-appimage`.
    target      TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    -- Tauri form: base64 of the minisign signature text.
    signature   TEXT NOT NULL,
    PRIMARY KEY (release_id, target)
);

CREATE TABLE channel_releases (
    release_id  INTEGER NOT NULL REFERENCES releases (id),
    channel     TEXT NOT NULL,
    rollout     INTEGER NOT NULL DEFAULT 100 CHECK (rollout BETWEEN 0 AND 100),
    paused      INTEGER NOT NULL DEFAULT 0,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (release_id, channel)
);

CREATE INDEX channel_releases_by_channel ON channel_releases (channel);
