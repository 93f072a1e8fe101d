-- Sessions of the dashboard (`/ui/`), in the database so that every replica knows every session, and a cookie from
-- another server (another database) means nothing here. Only the SHA-256 of the session id is stored: whoever reads
-- the database (a backup, a replica's logs) cannot take over a session. BIGINT, which SQLite reads as INTEGER, keeps
-- this one file for both backends.

CREATE TABLE ui_sessions (
    -- SHA-256 of the session id (hex); the id itself is only in the browser's cookie.
    id_hash     TEXT PRIMARY KEY NOT NULL,
    -- Who signed in: `token:<id>` for a stored admin token (checked again on every request, so revoking the token
    -- ends the session), `env:<tag>` for the `MILLENNIUM_ADMIN_TOKEN` admin token (the tag changes with the token).
    principal   TEXT NOT NULL,
    -- The session's CSRF token, sent back in every form.
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX ui_sessions_expires_at ON ui_sessions (expires_at);
