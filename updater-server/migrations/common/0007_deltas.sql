-- Delta updates (docs/protocol.md §9): one row per (new release, target, base release) the delta job looked at,
-- whatever came of it, so that a pair is computed once. `stored` rows name the delta blob (content-addressed by
-- SHA-256, like artifacts) and what clients are told about it; `not_worth_it` (larger than 60 % of the full artifact)
-- and `failed` rows only stop the job from trying again. BIGINT, which SQLite reads as INTEGER, keeps this one file
-- for both backends.

CREATE TABLE deltas (
    -- The release the delta produces (its artifact for `target`).
    to_release_id   BIGINT NOT NULL REFERENCES releases (id),
    target          TEXT NOT NULL,
    -- The release whose artifact for `target` is the base.
    from_release_id BIGINT NOT NULL REFERENCES releases (id),
    status          TEXT NOT NULL CHECK (status IN ('stored', 'not_worth_it', 'failed')),
    -- BLAKE2b-256 of the base artifact: what `X-Millennium-Installed` names. Set when stored.
    from_blake2b    TEXT,
    -- The delta blob (SHA-256, the blob store's key), its size, its BLAKE2b-256 and its encoder. Set when stored.
    sha256          TEXT,
    size            BIGINT,
    blake2b_256     TEXT,
    encoder         TEXT,
    -- Why it is not stored (a `millennium-delta` error code or the sizes), for operators.
    detail          TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (to_release_id, target, from_release_id)
);
