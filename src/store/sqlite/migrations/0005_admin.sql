-- Seen's SQLite schema, version 5: the audit log of admin actions, and customers who were forgotten
-- (their row stays under an opaque id so that past counts do not change; see ARCHITECTURE.md, "Erasure").
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT,
    detail  TEXT
);
ALTER TABLE customers ADD COLUMN forgotten_at INTEGER;
