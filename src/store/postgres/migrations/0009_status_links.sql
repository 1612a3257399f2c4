-- Seen's PostgreSQL schema, version 9: the customer's status page (/c/{token}). Its links are signed with a key
-- named in the link (kid), so keys can be rotated: the newest live key signs, every live key verifies, a
-- retired key verifies nothing. A customer's links issued at or before their link_revocations.revoked_at verify nothing.
CREATE TABLE link_keys (
    kid BIGINT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE TABLE link_revocations (
    customer TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
-- "Nobody got back to me" taps, counted in every survey figure (as a "yes, I felt invisible"): read by time
-- without scanning the events.
CREATE INDEX events_feels_ignored ON events (at) WHERE type = 'customer.feels_ignored';
