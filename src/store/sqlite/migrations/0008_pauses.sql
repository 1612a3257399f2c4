-- Seen's SQLite schema, version 8: an obligation's clock can stop while the business waits on the customer
-- (a policy's `pause` / `resume`). While paused, due_at and breach_at hold the far-future NEVER and
-- paused_left the policy's own time that was left (nanoseconds); paused_total sums the pauses that ended.
ALTER TABLE obligations ADD COLUMN paused_since INTEGER;
ALTER TABLE obligations ADD COLUMN paused_left INTEGER;
ALTER TABLE obligations ADD COLUMN paused_total INTEGER NOT NULL DEFAULT 0;
-- The fast path loads only the unclosed obligations a batch's refs can touch (a customer may have very many).
CREATE INDEX obligations_open_by_ref ON obligations (customer_seq, ref) WHERE closed_at IS NULL;
