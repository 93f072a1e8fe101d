-- Per-app policy `require-signed-version`: a publish is refused unless every artifact's signature states the version
-- it was signed for (`version:` in its trusted comment), so an old build's signature cannot be published as a new
-- version. Apps registered before this migration keep what they had (FALSE); the server creates new apps with TRUE
-- unless told otherwise.

ALTER TABLE apps ADD COLUMN require_signed_version BOOLEAN NOT NULL DEFAULT FALSE;
