-- Seen's SQLite schema, version 6: what the mailbox connectors remember between runs (see
-- src/store/mailboxes.rs): each folder's UIDVALIDITY and last stored UID, each Message-ID's thread, and
-- connector leases (one node reads a mailbox).
CREATE TABLE mail_cursors (
    connector  TEXT NOT NULL,
    folder     TEXT NOT NULL,
    validity   INTEGER NOT NULL,
    last_uid   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connector, folder)
) WITHOUT ROWID;
CREATE TABLE mail_threads (
    message_id    TEXT NOT NULL,
    correspondent TEXT NOT NULL,
    thread        TEXT NOT NULL,
    subject_key   TEXT NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (message_id, correspondent)
) WITHOUT ROWID;
CREATE INDEX mail_threads_by_subject ON mail_threads (correspondent, subject_key, at);
CREATE TABLE connector_leases (
    connector TEXT PRIMARY KEY,
    holder    TEXT NOT NULL,
    until     INTEGER NOT NULL
) WITHOUT ROWID;
