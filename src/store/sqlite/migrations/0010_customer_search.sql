-- Seen's SQLite schema, version 10: the dashboard's customer search finds customers by the prefix of their
-- email or name (lower-cased) or of their phone's digits (the same expression as `store::sqlite::hot`'s
-- `SEARCH_*`), each an index range scan however many customers there are. Ids are found through their own
-- unique index.
CREATE INDEX customers_by_email ON customers (lower(email));
CREATE INDEX customers_by_name ON customers (lower(name));
CREATE INDEX customers_by_phone ON customers
    (replace(replace(replace(replace(replace(replace(phone, ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '+', ''));
