-- Seen's SQLite schema, version 13: the front desk (`[[visit_types]]`) reads the visit events of the last hours
-- (the board, check-in estimates) and of a period (figures) by time: a partial index holds only `visit.*` events,
-- so ingestion of every other event pays nothing for it.
CREATE INDEX events_visits ON events (at) WHERE type GLOB 'visit.*';
