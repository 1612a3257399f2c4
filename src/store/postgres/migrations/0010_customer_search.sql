-- Seen's PostgreSQL schema, version 10: the dashboard's customer search finds customers by the prefix of
-- their email or name (lower-cased) or of their phone's digits (the same expressions as
-- `store::postgres::hot`'s `SEARCH_*`), each an index range scan however many customers there are. Byte-wise
-- order (COLLATE "C") so that a prefix is one range, as for ids (the primary key).
CREATE INDEX customers_by_email ON customers ((lower(email) COLLATE "C"));
CREATE INDEX customers_by_name ON customers ((lower(name) COLLATE "C"));
CREATE INDEX customers_by_phone ON customers ((regexp_replace(phone, '[^0-9]', '', 'g') COLLATE "C"));
