-- Seen's SQLite schema, version 3: dashboard users, sessions and the work log.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    csrf       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE work_log (
    seq           INTEGER PRIMARY KEY,
    customer      TEXT NOT NULL,
    policy        TEXT NOT NULL,
    trigger_event TEXT NOT NULL,
    kind          TEXT NOT NULL,
    by_user       TEXT NOT NULL,
    assignee      TEXT,
    note          TEXT,
    at            INTEGER NOT NULL
);
CREATE INDEX work_log_by_customer ON work_log (customer, seq);

-- Dashboard trends: promises falling due in a period, per policy (index-only).
CREATE INDEX obligations_by_policy_due ON obligations
    (policy, breach_at, customer_seq, closed_at, close_kind, opened_at);
-- Spans of invisibility that ended: only promises kept or cancelled after their breach.
CREATE INDEX obligations_late ON obligations (closed_at, breach_at, customer_seq) WHERE closed_at > breach_at;
-- Survey events for the dashboard's trends (a few among millions of events).
CREATE INDEX events_surveys ON events (at) WHERE type GLOB 'survey.*';
-- The outbox page: counts and lists by status.
CREATE INDEX outbox_by_status ON outbox (status, due_at);
