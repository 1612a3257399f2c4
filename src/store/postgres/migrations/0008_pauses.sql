-- Seen's PostgreSQL schema, version 8: an obligation's clock can stop while the business waits on the customer
-- (a policy's `pause` / `resume`). While paused, due_at and breach_at hold the far-future NEVER and
-- paused_left the policy's own time that was left (nanoseconds); paused_total sums the pauses that ended.
ALTER TABLE obligations
    ADD COLUMN paused_since BIGINT,
    ADD COLUMN paused_left BIGINT,
    ADD COLUMN paused_total BIGINT NOT NULL DEFAULT 0;
