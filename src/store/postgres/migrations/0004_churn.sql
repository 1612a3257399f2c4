-- Churn model and scores (replaced by every fit).
CREATE TABLE churn_model (
    id        INT PRIMARY KEY CHECK (id = 1),
    fitted_at BIGINT NOT NULL,
    model     TEXT NOT NULL
);

CREATE TABLE churn_scores (
    customer           TEXT COLLATE "C" PRIMARY KEY,
    p_alive            DOUBLE PRECISION NOT NULL,
    expected_purchases DOUBLE PRECISION NOT NULL,
    average_value      DOUBLE PRECISION,
    value_if_active    DOUBLE PRECISION,
    value_at_risk      DOUBLE PRECISION,
    frequency          DOUBLE PRECISION NOT NULL,
    recency            DOUBLE PRECISION NOT NULL,
    age                DOUBLE PRECISION NOT NULL,
    last_purchase_at   BIGINT NOT NULL,
    gone_quiet         BOOLEAN NOT NULL
);
CREATE INDEX churn_by_risk ON churn_scores (value_at_risk DESC NULLS LAST);
CREATE INDEX churn_gone_quiet ON churn_scores (value_at_risk DESC NULLS LAST) WHERE gone_quiet;
