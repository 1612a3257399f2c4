-- Seen's SQLite schema, version 2: actions. Times are nanoseconds since the Unix epoch (UTC).
-- Unclosed obligations whose actions the planner has not queued yet.
ALTER TABLE obligations ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX obligations_unplanned ON obligations (seq) WHERE closed_at IS NULL AND planned = 0;

CREATE TABLE outbox (
    seq            INTEGER PRIMARY KEY,
    key            TEXT NOT NULL UNIQUE,
    customer       TEXT NOT NULL,
    policy         TEXT NOT NULL,
    trigger_event  TEXT NOT NULL,
    ref            TEXT,
    action         TEXT NOT NULL,
    step           INTEGER NOT NULL,
    template       TEXT NOT NULL,
    channel        TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    recipient_name TEXT,
    role           TEXT NOT NULL,
    transactional  INTEGER NOT NULL,
    urgent         INTEGER NOT NULL,
    records        TEXT,
    due_at         INTEGER NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_at        INTEGER NOT NULL,
    detail         TEXT,
    sent_at        INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    survey         TEXT
);
-- The sender sleeps until min(next_at) of this index: it only holds work still to do.
CREATE INDEX outbox_due ON outbox (next_at) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_customer ON outbox (customer, due_at);
-- The daily cap counts a customer's recent sends.
CREATE INDEX outbox_sent ON outbox (customer, sent_at) WHERE status = 'sent';

CREATE TABLE suppressions (
    target TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    detail TEXT,
    at     INTEGER NOT NULL
);
