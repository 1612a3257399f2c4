-- Seen's SQLite schema, version 11: journeys (`seen journeys report`) read the obligations that were
-- nudged; they are few, so their partial index is small. (The events of a journey's types are read in one
-- pass over the events: an index by type cost every ingestion ~40 %.)
CREATE INDEX obligations_nudged ON obligations (opened_at) WHERE nudges > 0;
