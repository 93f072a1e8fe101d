-- The publisher's signed yank list of each app with signed metadata (docs/protocol.md §7): the versions it withdrew,
-- signed offline by a release key, which freshness documents pin so that no one holding only the online key or an
-- admin token can offer a yanked release again. One row per app: each new list replaces the last. BIGINT, which
-- SQLite reads as INTEGER, keeps this one file for both backends.

CREATE TABLE yank_lists (
    app_id      TEXT PRIMARY KEY NOT NULL REFERENCES apps (id),
    -- The list's sequence number (grows with every list signed for the app).
    sequence    BIGINT NOT NULL,
    envelope    TEXT NOT NULL,
    -- BLAKE2b-256 of the envelope, what freshness documents pin.
    hash        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
