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
