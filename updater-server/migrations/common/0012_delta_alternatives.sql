-- Delta forms (docs/protocol.md §9, "Delta forms"): beside the delta every Millennium client reads, a stored pair may
-- keep one alternative delta in a newer form (`millennium-delta`'s interleaved bsdiff diff), offered only to clients
-- whose `X-Millennium-Delta-Forms` names it. Set together, on `stored` rows only; NULL when the form gives nothing
-- smaller than the first delta (the first then serves every client).

ALTER TABLE deltas ADD COLUMN alt_form TEXT;
ALTER TABLE deltas ADD COLUMN alt_sha256 TEXT;
ALTER TABLE deltas ADD COLUMN alt_size BIGINT;
ALTER TABLE deltas ADD COLUMN alt_blake2b_256 TEXT;
