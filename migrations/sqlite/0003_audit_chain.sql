-- The access audit becomes a keyed hash chain; the same change as migrations/postgres
-- (see there): rows from now on carry their position, their key id and their
-- predecessor's seal, and `hash` is an HMAC-SHA256 over both. Earlier rows keep
-- their plain SHA-256 and no position; the chain starts after them, and the head
-- keeps their count.

ALTER TABLE access_audit ADD COLUMN seq INTEGER;
ALTER TABLE access_audit ADD COLUMN key_id TEXT;
ALTER TABLE access_audit ADD COLUMN prev_hash TEXT;

CREATE INDEX access_audit_chain ON access_audit (seq);

CREATE TABLE access_audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    legacy_rows INTEGER NOT NULL
);

INSERT INTO access_audit_head (id, seq, hash, legacy_rows)
SELECT 1, 0, '0000000000000000000000000000000000000000000000000000000000000000', COUNT(*)
FROM access_audit;
