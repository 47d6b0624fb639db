-- The hub's own records: interactions (with their change history), consents and
-- contact preferences. Times are UTC (TIMESTAMPTZ); ids are UUIDv7, so they sort by
-- creation time and keep the primary-key index append-mostly.

CREATE TABLE interactions (
    id              UUID PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    channel         TEXT NOT NULL,
    type            TEXT NOT NULL,
    direction       TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    staff_id        TEXT NOT NULL,
    branch_id       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    notes           TEXT,
    outcome         TEXT,
    satisfaction    INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
    follow_up_at    TIMESTAMPTZ,
    -- JSON array of product codes.
    products        TEXT NOT NULL DEFAULT '[]',
    updated_at      TIMESTAMPTZ NOT NULL,
    revision        INTEGER NOT NULL DEFAULT 0,
    -- A client's retry key and the SHA-256 of the request it came with.
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT
);

-- A customer's timeline, newest first (scanned backwards), keyset-paged on (time, id).
CREATE INDEX interactions_timeline ON interactions (customer_id, occurred_at, id);
-- A branch's or a staff member's contacts over a period.
CREATE INDEX interactions_branch ON interactions (branch_id, occurred_at, id);
CREATE INDEX interactions_staff ON interactions (staff_id, occurred_at, id);
-- Everything in a period (stats, cross-customer lists).
CREATE INDEX interactions_period ON interactions (occurred_at, id);
-- Follow-ups due: only rows that have one.
CREATE INDEX interactions_follow_ups ON interactions (follow_up_at) WHERE follow_up_at IS NOT NULL;

-- Who changed what on an interaction: one row per changed field per update.
CREATE TABLE interaction_changes (
    id             UUID PRIMARY KEY,
    interaction_id UUID NOT NULL REFERENCES interactions (id),
    revision       INTEGER NOT NULL,
    field          TEXT NOT NULL,
    old_value      TEXT,
    new_value      TEXT,
    changed_at     TIMESTAMPTZ NOT NULL,
    changed_by     TEXT NOT NULL
);
CREATE INDEX interaction_changes_by_interaction ON interaction_changes (interaction_id, revision);

-- Consent records, append-only: the latest per (customer, purpose, channel) wins.
CREATE TABLE consents (
    id              UUID PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    granted         BOOLEAN NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    source          TEXT NOT NULL,
    evidence        TEXT,
    staff_id        TEXT,
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT
);
CREATE INDEX consents_by_customer ON consents (customer_id, recorded_at, id);

-- Contact preferences, append-only: the latest per customer wins.
CREATE TABLE contact_preferences (
    id                UUID PRIMARY KEY,
    customer_id       TEXT NOT NULL,
    preferred_channel TEXT,
    -- Local (Beijing) wall-clock times, HH:MM.
    quiet_start       TEXT,
    quiet_end         TEXT,
    do_not_contact    BOOLEAN NOT NULL,
    recorded_at       TIMESTAMPTZ NOT NULL,
    source            TEXT NOT NULL,
    staff_id          TEXT,
    idempotency_key   TEXT UNIQUE,
    fingerprint       TEXT
);
CREATE INDEX contact_preferences_by_customer ON contact_preferences (customer_id, recorded_at, id);

-- History is never rewritten: interactions are not deleted, change rows, consents and
-- preferences are neither changed nor deleted.
CREATE FUNCTION c360_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'c360: % on % is not allowed (history is append-only)', TG_OP, TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER interactions_no_delete BEFORE DELETE ON interactions
    FOR EACH ROW EXECUTE FUNCTION c360_refuse_rewrite();
CREATE TRIGGER interaction_changes_append_only BEFORE UPDATE OR DELETE ON interaction_changes
    FOR EACH ROW EXECUTE FUNCTION c360_refuse_rewrite();
CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION c360_refuse_rewrite();
CREATE TRIGGER contact_preferences_append_only BEFORE UPDATE OR DELETE ON contact_preferences
    FOR EACH ROW EXECUTE FUNCTION c360_refuse_rewrite();
