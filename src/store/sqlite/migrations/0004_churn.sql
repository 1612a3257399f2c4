-- Seen's SQLite schema, version 4: churn model and scores (replaced by every fit).
CREATE TABLE churn_model (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    fitted_at INTEGER NOT NULL,
    model     TEXT NOT NULL
);

CREATE TABLE churn_scores (
    customer           TEXT PRIMARY KEY,
    p_alive            REAL NOT NULL,
    expected_purchases REAL NOT NULL,
    average_value      REAL,
    value_if_active    REAL,
    value_at_risk      REAL,
    frequency          REAL NOT NULL,
    recency            REAL NOT NULL,
    age                REAL NOT NULL,
    last_purchase_at   INTEGER NOT NULL,
    gone_quiet         INTEGER NOT NULL
);
CREATE INDEX churn_by_risk ON churn_scores (value_at_risk DESC);
CREATE INDEX churn_gone_quiet ON churn_scores (value_at_risk DESC) WHERE gone_quiet = 1;
