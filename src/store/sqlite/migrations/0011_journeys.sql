-- Seen's SQLite schema, version 11: journeys (`seen journeys report`) read the events of a few types over
-- the whole history, and the obligations that were nudged. The events index covers what a journey needs
-- (type, time, customer, ref), so a report reads only the index range of its own types; nudged obligations
-- are few, so their partial index is small.
CREATE INDEX events_by_type ON events (type, at, customer_seq, ref);
CREATE INDEX obligations_nudged ON obligations (opened_at) WHERE nudges > 0;
