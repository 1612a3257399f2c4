-- Seen's SQLite schema, version 12: each journey's progress per key (a customer, or a customer's ref), so
-- that `seen journeys report` reads one row per journey instead of every event. Derived from the events:
-- brought up to date before each read (events with seq > through_seq), rebuilt when a definition changes.
CREATE TABLE journey_keys (
    journey      TEXT NOT NULL,
    customer_seq INTEGER NOT NULL,
    ref          TEXT NOT NULL,     -- '' for a journey per customer
    last_at      INTEGER NOT NULL,  -- the key's latest event of the journey's types
    entered_at   INTEGER,           -- NULL: not entered
    reached      BLOB NOT NULL,     -- per step, nanoseconds (8 bytes, little-endian); i64::MIN: not reached
    PRIMARY KEY (journey, customer_seq, ref)
) WITHOUT ROWID;
CREATE TABLE journey_state (
    journey     TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,      -- the definition the rows were computed for
    through_seq INTEGER NOT NULL    -- every event with seq <= this is counted
);
-- Customers whose events were erased: their rows are recomputed from what is left before the next read.
CREATE TABLE journey_stale (
    journey      TEXT NOT NULL,
    customer_seq INTEGER NOT NULL,
    PRIMARY KEY (journey, customer_seq)
) WITHOUT ROWID;
-- A journey report's frustration facts without reading the big tables' rows: the unhappy answers (few) by
-- time, and the obligations kept late with their ref (the index gains `ref`, so it covers the query).
CREATE INDEX events_unhappy ON events (at, customer_seq, ref) WHERE type = 'survey.unhappy';
DROP INDEX obligations_late;
CREATE INDEX obligations_late ON obligations (closed_at, breach_at, customer_seq, ref) WHERE closed_at > breach_at;
