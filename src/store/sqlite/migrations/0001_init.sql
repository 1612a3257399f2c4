-- Seen's SQLite schema, version 1. Times are nanoseconds since the Unix epoch (UTC).
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE customers (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    email       TEXT, email_at    INTEGER,
    name        TEXT, name_at     INTEGER,
    phone       TEXT, phone_at    INTEGER,
    timezone    TEXT, timezone_at INTEGER,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    events      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL,
    customer_seq INTEGER NOT NULL,
    type         TEXT NOT NULL,
    at           INTEGER NOT NULL,
    channel      TEXT,
    ref          TEXT,
    properties   TEXT,
    profile      TEXT,
    received_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_by_id ON events (id);
CREATE INDEX events_by_customer ON events (customer_seq, at);

CREATE TABLE obligations (
    seq           INTEGER PRIMARY KEY,
    customer_seq  INTEGER NOT NULL,
    policy        TEXT NOT NULL,
    ref           TEXT,
    opened_at     INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    breach_at     INTEGER NOT NULL,
    closed_at     INTEGER,
    close_kind    TEXT,
    closed_by     TEXT,
    trigger_event TEXT NOT NULL,
    nudges        INTEGER NOT NULL DEFAULT 0,
    last_nudge_at INTEGER,
    noticed_at    INTEGER
);
-- (customer, closed_at): the ingest fast path reads only the unclosed obligations of a customer.
CREATE INDEX obligations_by_customer ON obligations (customer_seq, closed_at);
-- Covers the "who is invisible" query: only unclosed rows, so it stays small however long the history.
CREATE INDEX obligations_unclosed ON obligations
    (breach_at, customer_seq, policy, ref, opened_at, due_at, trigger_event, nudges, last_nudge_at)
    WHERE closed_at IS NULL;
CREATE INDEX obligations_unnoticed ON obligations (breach_at) WHERE closed_at IS NULL AND noticed_at IS NULL;

CREATE TABLE api_keys (
    name         TEXT PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
