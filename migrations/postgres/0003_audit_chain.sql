-- The access audit becomes a keyed hash chain (docs/operations.md#the-audit-chain).
--
-- Each row written from now on takes the next position (`seq`), names the key it was
-- sealed with (`key_id`) and the seal of the row before it (`prev_hash`); `hash` is
-- then HMAC-SHA256 under that key of the row and its predecessor's seal, so a row
-- cannot be edited, removed or slipped in without the key-holder's hub noticing.
--
-- Rows written before this migration keep their plain SHA-256 and no position: the
-- chain starts after them (they cannot be re-sealed in place, the table refuses
-- UPDATE). Their count is kept in the head, so `c360 audit verify` notices an
-- unpositioned row added later.

ALTER TABLE access_audit ADD COLUMN seq BIGINT;
ALTER TABLE access_audit ADD COLUMN key_id TEXT;
ALTER TABLE access_audit ADD COLUMN prev_hash TEXT;

-- Not unique: a row an intruder adds at a taken position must not stop the hub from
-- auditing reads; `c360 audit verify` reports it instead.
CREATE INDEX access_audit_chain ON access_audit (seq);

-- The end of the chain: one row, locked by every batch's transaction (so that hub
-- instances sharing the database append in one order) and moved on in that same
-- transaction.
CREATE TABLE access_audit_head (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    legacy_rows BIGINT NOT NULL
);

INSERT INTO access_audit_head (id, seq, hash, legacy_rows)
SELECT 1, 0, repeat('0', 64), COUNT(*) FROM access_audit;
