-- Change events from the bank's broker that a hub has taken on (src/feed): one row per
-- event, keyed by its system and its own id, so that a redelivered or duplicated event
-- is applied once, also by hubs that share this database and compete for one queue.
-- A row without applied_at is a claim in progress; claimed_at lets another hub take it
-- over once the claim has lapsed (its hub died mid-way).
CREATE TABLE feed_events (
    event_key  TEXT PRIMARY KEY,
    system     TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    applied_at TIMESTAMPTZ
);

-- Forgetting ids past the retention window.
CREATE INDEX feed_events_claimed ON feed_events (claimed_at);
