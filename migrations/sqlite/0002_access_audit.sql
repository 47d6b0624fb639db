-- The access audit: one row per customer read by a member of staff (who, as what,
-- where, which customer, which data classes shown unmasked, why, through which
-- application). The same table as migrations/postgres, in SQLite's types: the id is a
-- 16-byte UUIDv7 blob, `at` RFC 3339 text in UTC (which sorts in time order) and
-- `fields_revealed` a JSON array of class names.
--
-- `hash` is the SHA-256 (hex) of the row's canonical fields, computed by the hub when
-- it writes the row: an edit made in the database without recomputing it shows.

CREATE TABLE access_audit (
    id              BLOB PRIMARY KEY,
    at              TEXT NOT NULL,
    actor           TEXT NOT NULL,
    role            TEXT NOT NULL,
    branch          TEXT,
    customer_id     TEXT NOT NULL,
    operation       TEXT,
    fields_revealed TEXT NOT NULL DEFAULT '[]',
    purpose         TEXT,
    client          TEXT,
    trace_id        TEXT NOT NULL,
    hash            TEXT NOT NULL
);

CREATE INDEX access_audit_by_customer ON access_audit (customer_id, at, id);
CREATE INDEX access_audit_by_actor ON access_audit (actor, at, id);
CREATE INDEX access_audit_period ON access_audit (at, id);

CREATE TRIGGER access_audit_no_update BEFORE UPDATE ON access_audit
BEGIN SELECT RAISE(ABORT, 'c360: UPDATE on access_audit is not allowed (the audit is append-only)'); END;
CREATE TRIGGER access_audit_no_delete BEFORE DELETE ON access_audit
BEGIN SELECT RAISE(ABORT, 'c360: DELETE on access_audit is not allowed (the audit is append-only)'); END;
