-- Seen's PostgreSQL schema. Times are nanoseconds since the Unix epoch (UTC), as in SQLite.
-- Hot tables carry the customer id, so a distributed PostgreSQL (Citus) can shard them by it.
-- Identifiers compare byte-wise (COLLATE "C"): faster B-trees than a linguistic collation, and the same
-- order as Seen's own sort, which is the order customers are locked in.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE customers (
    id          TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGSERIAL NOT NULL UNIQUE,   -- a stable order for paging replays
    email       TEXT, email_at    BIGINT,
    name        TEXT, name_at     BIGINT,
    phone       TEXT, phone_at    BIGINT,
    timezone    TEXT, timezone_at BIGINT,
    first_at    BIGINT NOT NULL,
    last_at     BIGINT NOT NULL,
    events      BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE events (
    id          TEXT COLLATE "C" PRIMARY KEY, -- duplicates by id are no-ops, across nodes too
    customer    TEXT COLLATE "C" NOT NULL,
    type        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    channel     TEXT,
    ref         TEXT,
    properties  TEXT,
    profile     TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX events_by_customer ON events (customer, at);

CREATE TABLE obligations (
    seq           BIGSERIAL PRIMARY KEY,
    customer      TEXT COLLATE "C" NOT NULL,
    policy        TEXT NOT NULL,
    ref           TEXT,
    opened_at     BIGINT NOT NULL,
    due_at        BIGINT NOT NULL,
    breach_at     BIGINT NOT NULL,
    closed_at     BIGINT,
    close_kind    TEXT,
    closed_by     TEXT,
    trigger_event TEXT NOT NULL,
    nudges        INTEGER NOT NULL DEFAULT 0,
    last_nudge_at BIGINT,
    noticed_at    BIGINT
);
CREATE INDEX obligations_by_customer ON obligations (customer, closed_at);
CREATE INDEX obligations_unclosed ON obligations (breach_at)
    INCLUDE (customer, policy, ref, opened_at, due_at, trigger_event, nudges, last_nudge_at)
    WHERE closed_at IS NULL;
CREATE INDEX obligations_unnoticed ON obligations (breach_at) WHERE closed_at IS NULL AND noticed_at IS NULL;

CREATE TABLE api_keys (
    name       TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
