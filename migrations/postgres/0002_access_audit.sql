-- The access audit: one row per customer read by a member of staff (who, as what,
-- where, which customer, which data classes shown unmasked, why, through which
-- application). Append-only; kept at least six months (Cybersecurity Law Art. 21),
-- three years by default.

CREATE TABLE access_audit (
    id              UUID PRIMARY KEY,
    -- When the customer was read (not when the row was written).
    at              TIMESTAMPTZ NOT NULL,
    -- The token subject, its role and branch.
    actor           TEXT NOT NULL,
    role            TEXT NOT NULL,
    branch          TEXT,
    customer_id     TEXT NOT NULL,
    -- The GraphQL operation name, when the client gave one.
    operation       TEXT,
    -- Data classes shown unmasked, as a JSON array of names: jsonb so that an auditor
    -- can ask who revealed what (`fields_revealed ? 'ID_NUMBER'`).
    fields_revealed JSONB NOT NULL DEFAULT '[]',
    purpose         TEXT,
    client          TEXT,
    trace_id        TEXT NOT NULL,
    -- SHA-256 (hex) of the row's canonical fields, computed by the hub when it writes
    -- the row: an edit made in the database without recomputing it shows.
    hash            TEXT NOT NULL
);

-- One customer's readers, newest first (scanned backwards), keyset-paged on (at, id).
CREATE INDEX access_audit_by_customer ON access_audit (customer_id, at, id);
-- What one member of staff read.
CREATE INDEX access_audit_by_actor ON access_audit (actor, at, id);
-- Everything in a period.
CREATE INDEX access_audit_period ON access_audit (at, id);

CREATE TRIGGER access_audit_append_only BEFORE UPDATE OR DELETE ON access_audit
    FOR EACH ROW EXECUTE FUNCTION c360_refuse_rewrite();
-- TRUNCATE skips row triggers.
CREATE TRIGGER access_audit_no_truncate BEFORE TRUNCATE ON access_audit
    FOR EACH STATEMENT EXECUTE FUNCTION c360_refuse_rewrite();
