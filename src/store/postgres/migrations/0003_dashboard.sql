-- Dashboard users, sessions and the work log.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    csrf       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE work_log (
    seq           BIGSERIAL PRIMARY KEY,
    customer      TEXT COLLATE "C" NOT NULL,
    policy        TEXT NOT NULL,
    trigger_event TEXT NOT NULL,
    kind          TEXT NOT NULL,
    by_user       TEXT NOT NULL,
    assignee      TEXT,
    note          TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX work_log_by_customer ON work_log (customer, seq);
