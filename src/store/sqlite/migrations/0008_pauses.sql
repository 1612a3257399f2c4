-- Seen's SQLite schema, version 8: an obligation's clock can stop while the business waits on the customer
-- (a policy's `pause` / `resume`). While paused, due_at and breach_at hold the far-future NEVER and
-- paused_left the policy's own time that was left (nanoseconds); paused_total sums the pauses that ended.
ALTER TABLE obligations ADD COLUMN paused_since INTEGER;
ALTER TABLE obligations ADD COLUMN paused_left INTEGER;
ALTER TABLE obligations ADD COLUMN paused_total INTEGER NOT NULL DEFAULT 0;
