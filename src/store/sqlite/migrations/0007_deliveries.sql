-- Seen's SQLite schema, version 7: inbound webhook deliveries kept as received ([connectors] keep_raw) so that a
-- mapping fix can be replayed, and the links connectors remember from a provider's object (an order, a booking)
-- to the customer and ref its events carry.
CREATE TABLE deliveries (
    connector   TEXT NOT NULL,
    id          TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    customer    TEXT,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL,
    PRIMARY KEY (connector, id)
);
CREATE INDEX deliveries_by_connector ON deliveries (connector, received_at, id);
CREATE INDEX deliveries_received ON deliveries (received_at);
CREATE INDEX deliveries_by_customer ON deliveries (customer) WHERE customer IS NOT NULL;
CREATE TABLE connector_links (
    connector TEXT NOT NULL,
    key       TEXT NOT NULL,
    customer  TEXT NOT NULL,
    ref       TEXT,
    at        INTEGER NOT NULL,
    PRIMARY KEY (connector, key)
);
CREATE INDEX connector_links_at ON connector_links (at);
CREATE INDEX connector_links_by_customer ON connector_links (customer);
