-- The hub's own records: interactions (with their change history), consents and
-- contact preferences. The same tables as migrations/postgres, in SQLite's types: ids
-- are 16-byte UUIDv7 blobs, times RFC 3339 text in UTC (which sorts in time order).

CREATE TABLE interactions (
    id              BLOB PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    channel         TEXT NOT NULL,
    type            TEXT NOT NULL,
    direction       TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    staff_id        TEXT NOT NULL,
    branch_id       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    notes           TEXT,
    outcome         TEXT,
    satisfaction    INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
    follow_up_at    TEXT,
    products        TEXT NOT NULL DEFAULT '[]',
    updated_at      TEXT NOT NULL,
    revision        INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT
);

CREATE INDEX interactions_timeline ON interactions (customer_id, occurred_at, id);
CREATE INDEX interactions_branch ON interactions (branch_id, occurred_at, id);
CREATE INDEX interactions_staff ON interactions (staff_id, occurred_at, id);
CREATE INDEX interactions_period ON interactions (occurred_at, id);
CREATE INDEX interactions_follow_ups ON interactions (follow_up_at) WHERE follow_up_at IS NOT NULL;

CREATE TABLE interaction_changes (
    id             BLOB PRIMARY KEY,
    interaction_id BLOB NOT NULL REFERENCES interactions (id),
    revision       INTEGER NOT NULL,
    field          TEXT NOT NULL,
    old_value      TEXT,
    new_value      TEXT,
    changed_at     TEXT NOT NULL,
    changed_by     TEXT NOT NULL
);
CREATE INDEX interaction_changes_by_interaction ON interaction_changes (interaction_id, revision);

CREATE TABLE consents (
    id              BLOB PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    granted         BOOLEAN NOT NULL,
    recorded_at     TEXT NOT NULL,
    source          TEXT NOT NULL,
    evidence        TEXT,
    staff_id        TEXT,
    idempotency_key TEXT UNIQUE,
    fingerprint     TEXT
);
CREATE INDEX consents_by_customer ON consents (customer_id, recorded_at, id);

CREATE TABLE contact_preferences (
    id                BLOB PRIMARY KEY,
    customer_id       TEXT NOT NULL,
    preferred_channel TEXT,
    quiet_start       TEXT,
    quiet_end         TEXT,
    do_not_contact    BOOLEAN NOT NULL,
    recorded_at       TEXT NOT NULL,
    source            TEXT NOT NULL,
    staff_id          TEXT,
    idempotency_key   TEXT UNIQUE,
    fingerprint       TEXT
);
CREATE INDEX contact_preferences_by_customer ON contact_preferences (customer_id, recorded_at, id);

CREATE TRIGGER interactions_no_delete BEFORE DELETE ON interactions
BEGIN SELECT RAISE(ABORT, 'c360: DELETE on interactions is not allowed (history is append-only)'); END;
CREATE TRIGGER interaction_changes_no_update BEFORE UPDATE ON interaction_changes
BEGIN SELECT RAISE(ABORT, 'c360: UPDATE on interaction_changes is not allowed (history is append-only)'); END;
CREATE TRIGGER interaction_changes_no_delete BEFORE DELETE ON interaction_changes
BEGIN SELECT RAISE(ABORT, 'c360: DELETE on interaction_changes is not allowed (history is append-only)'); END;
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN SELECT RAISE(ABORT, 'c360: UPDATE on consents is not allowed (history is append-only)'); END;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN SELECT RAISE(ABORT, 'c360: DELETE on consents is not allowed (history is append-only)'); END;
CREATE TRIGGER contact_preferences_no_update BEFORE UPDATE ON contact_preferences
BEGIN SELECT RAISE(ABORT, 'c360: UPDATE on contact_preferences is not allowed (history is append-only)'); END;
CREATE TRIGGER contact_preferences_no_delete BEFORE DELETE ON contact_preferences
BEGIN SELECT RAISE(ABORT, 'c360: DELETE on contact_preferences is not allowed (history is append-only)'); END;
