-- Release health (docs/protocol.md §9): what installs report, compacted into hourly counters so storage grows with
-- releases and hours, never with installs; adoption from update checks the same way; and the automatic rollout halt.
-- BIGINT, which SQLite reads as INTEGER, keeps this one file for both backends; no boolean columns (their types
-- differ), a halt is "halted_at IS NOT NULL".

CREATE TABLE release_health (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    -- An event kind: installed, confirmed, rolled_back, install_failed, download_failed, webview_too_old.
    kind        TEXT NOT NULL,
    -- Start of the hour (Unix seconds).
    bucket      BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (app_id, version, channel, kind, bucket)
);

CREATE TABLE release_adoption (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    -- The version the checking installs ran.
    version     TEXT NOT NULL,
    bucket      BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (app_id, version, bucket)
);

-- The app's default halt rule; a release's own wins. NULL: none.
ALTER TABLE apps ADD COLUMN halt_max_failure_percent BIGINT;
ALTER TABLE apps ADD COLUMN halt_min_installs BIGINT;
ALTER TABLE releases ADD COLUMN halt_max_failure_percent BIGINT;
ALTER TABLE releases ADD COLUMN halt_min_installs BIGINT;
-- Set when the server halted the rollout (every placement paused); cleared on resume.
ALTER TABLE releases ADD COLUMN halted_at BIGINT;
ALTER TABLE releases ADD COLUMN halted_reason TEXT;
-- The counts at the last resume: the rule then judges only what was reported since, so a resumed rollout is not
-- halted again at once by the reports that halted it.
ALTER TABLE releases ADD COLUMN halt_base_installs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE releases ADD COLUMN halt_base_failures BIGINT NOT NULL DEFAULT 0;
