-- Release-health storage bounded over time (docs/protocol.md §10): hourly counters older than the compaction age are
-- added into daily ones by the leader's health job, and the ids of counted events are kept for a window so that an
-- event sent again (its answer was lost) is not counted twice. BIGINT, which SQLite reads as INTEGER, keeps this one
-- file for both backends.

CREATE TABLE release_health_daily (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    version     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- Start of the day (Unix seconds, UTC midnight).
    bucket      BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (app_id, version, channel, kind, bucket)
);

CREATE TABLE release_adoption_daily (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    version     TEXT NOT NULL,
    bucket      BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (app_id, version, bucket)
);

-- The hourly rows the compaction looks for.
CREATE INDEX release_health_bucket ON release_health (bucket);
CREATE INDEX release_adoption_bucket ON release_adoption (bucket);

-- Ids of counted events (the client's random `id`), for the deduplication window.
CREATE TABLE release_event_ids (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    event_id    TEXT NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (app_id, event_id)
);

CREATE INDEX release_event_ids_seen_at ON release_event_ids (seen_at);
