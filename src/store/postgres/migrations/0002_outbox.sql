-- Actions: the outbox and suppressions. Times are nanoseconds since the Unix epoch (UTC).
ALTER TABLE obligations ADD COLUMN planned BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX obligations_unplanned ON obligations (seq) WHERE closed_at IS NULL AND NOT planned;
CREATE INDEX obligations_by_trigger ON obligations (customer, trigger_event);

CREATE TABLE outbox (
    key            TEXT COLLATE "C" PRIMARY KEY,
    customer       TEXT COLLATE "C" NOT NULL,
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
    transactional  BOOLEAN NOT NULL,
    urgent         BOOLEAN NOT NULL,
    records        TEXT,
    due_at         BIGINT NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    next_at        BIGINT NOT NULL,
    detail         TEXT,
    sent_at        BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    survey         TEXT
);
-- Senders on every node sleep until min(next_at) here, and claim with FOR UPDATE SKIP LOCKED.
CREATE INDEX outbox_due ON outbox (next_at) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_customer ON outbox (customer, due_at);
CREATE INDEX outbox_sent ON outbox (customer, sent_at) WHERE status = 'sent';

CREATE TABLE suppressions (
    target TEXT COLLATE "C" PRIMARY KEY,
    reason TEXT NOT NULL,
    detail TEXT,
    at     BIGINT NOT NULL
);
