-- What the mailbox connectors remember between runs (see src/store/mailboxes.rs): each folder's
-- UIDVALIDITY and last stored UID, each Message-ID's thread, and connector leases (one node reads a mailbox).
CREATE TABLE mail_cursors (
    connector  TEXT NOT NULL,
    folder     TEXT NOT NULL,
    validity   BIGINT NOT NULL,
    last_uid   BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (connector, folder)
);
CREATE TABLE mail_threads (
    message_id    TEXT NOT NULL,
    correspondent TEXT NOT NULL,
    thread        TEXT NOT NULL,
    subject_key   TEXT NOT NULL,
    at            BIGINT NOT NULL,
    PRIMARY KEY (message_id, correspondent)
);
CREATE INDEX mail_threads_by_subject ON mail_threads (correspondent, subject_key, at);
CREATE TABLE connector_leases (
    connector TEXT PRIMARY KEY,
    holder    TEXT NOT NULL,
    until     BIGINT NOT NULL
);
