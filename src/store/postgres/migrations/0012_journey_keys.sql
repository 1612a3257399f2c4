-- Seen's PostgreSQL schema, version 12: nothing changes here. SQLite keeps each journey's progress per key
-- (its migration 12), caught up from the events after the last seq it counted; on PostgreSQL several nodes
-- insert at once and a lower seq can commit after a higher one, so "every event after seq N" is no safe
-- watermark: a journey report here reads the journey's events (one pass) as before.
SELECT 1;
