//! PostgreSQL's hot statements, one place: the store runs these texts and the query-plan test explains them.

use std::sync::LazyLock;

use super::outbox::OUTBOX_COLUMNS;
use super::rows::{CUSTOMER_COLUMNS, EVENT_COLUMNS, OBLIGATION_COLUMNS};
use crate::store::hot::HotQuery;

/// Ingestion: lock the batch's customers in id order.
pub(super) const LOCK_CUSTOMERS: &str =
    "SELECT id, last_at, events FROM customers WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Ingestion's fast path: the unclosed obligations of the batch's customers.
pub(super) static UNCLOSED_OF_CUSTOMERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations WHERE customer = ANY($1) AND closed_at IS NULL ORDER BY seq"
    )
});

/// Ingestion's fast path for customers whose events all name a ref: only their unclosed obligations with one
/// of those refs ($1 customers, $2 refs, pairwise) or with none ($3), through the partial index by ref.
pub(super) static UNCLOSED_BY_REFS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations
          WHERE closed_at IS NULL AND (customer, ref) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
         UNION ALL
         SELECT {OBLIGATION_COLUMNS} FROM obligations
          WHERE closed_at IS NULL AND ref IS NULL AND customer = ANY($3)
         ORDER BY seq"
    )
});

/// How many obligations of these customers are unclosed (checked when a batch opened new ones).
pub(super) const OPEN_OF_CUSTOMERS: &str =
    "SELECT customer, count(*) FROM obligations WHERE customer = ANY($1) AND closed_at IS NULL GROUP BY customer";

/// Ingestion's late arrivals: the customers' events in fold order.
pub(super) static EVENTS_OF_CUSTOMERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS}, customer FROM events WHERE customer = ANY($1) ORDER BY customer, at, id"
    )
});

/// The sender and surveys: one event by id.
pub(super) static EVENT_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLUMNS}, customer FROM events WHERE id = $1"));

/// The breach scheduler: when to wake next.
pub(super) const NEXT_UNNOTICED_BREACH: &str =
    "SELECT min(breach_at) FROM obligations WHERE closed_at IS NULL AND noticed_at IS NULL";

/// The breach scheduler: each breach claimed by exactly one node (rows another node holds are skipped).
/// `= ANY(ARRAY(…))` rather than `IN (…)`: a generic plan guesses thousands of rows for the sub-select and
/// hashes the whole table; an array of keys is always probed through the primary key.
pub(super) static NOTICE_BREACHES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE obligations SET noticed_at = $1 WHERE seq = ANY(ARRAY(
             SELECT seq FROM obligations WHERE closed_at IS NULL AND noticed_at IS NULL AND breach_at < $1
             ORDER BY breach_at LIMIT 10000 FOR UPDATE SKIP LOCKED))
         RETURNING {OBLIGATION_COLUMNS}"
    )
});

/// The planner: unclosed obligations whose actions are not queued yet, newest first (a backlog never
/// holds back the actions of new events).
pub(super) static UNPLANNED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations WHERE closed_at IS NULL AND NOT planned
         ORDER BY seq DESC LIMIT $1"
    )
});

/// The sender: when the next row falls due.
pub(super) const NEXT_OUTBOX_AT: &str =
    "SELECT min(next_at) FROM outbox WHERE status IN ('pending', 'sending')";

/// The sender: claim the rows due now, in order, skipping rows another node holds. The `ANY(ARRAY(…))`
/// condition gives the update a primary-key probe whatever the planner guesses for `LIMIT $3`.
pub(super) static CLAIM_OUTBOX: LazyLock<String> = LazyLock::new(|| {
    let columns = OUTBOX_COLUMNS
        .split(',')
        .map(|c| format!("o.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH claimed AS (
             SELECT key, status AS was FROM outbox
             WHERE status IN ('pending', 'sending') AND next_at <= $1
             ORDER BY next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1, next_at = $2, updated_at = $1
         FROM claimed WHERE o.key = claimed.key AND o.key = ANY(ARRAY(SELECT key FROM claimed))
         RETURNING {columns}, claimed.was"
    )
});

/// The sender's daily cap: a customer's recent non-transactional messages.
pub(super) const SENT_TO_CUSTOMER_SINCE: &str =
    "SELECT count(*) FROM outbox WHERE customer = $1 AND status = 'sent' AND sent_at > $2
     AND role = 'customer' AND NOT transactional";

/// The queue: every unclosed obligation past its breach time.
pub(super) static UNCLOSED_BREACHED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations WHERE closed_at IS NULL AND breach_at < $1"
    )
});

/// Inbound webhooks: where a delivery's provider objects (an order, a booking) led.
pub(super) const LINKS_BY_KEYS: &str =
    "SELECT key, customer, ref FROM connector_links WHERE connector = $1 AND key = ANY($2)";

/// The dashboard's search: customers whose `key` is in [$1, $2) byte-wise, in the key's order, at most $4,
/// each with whether an unclosed promise to them is past its breach time at $3. `key` is the expression
/// of its index (migration 10; the primary key for ids), or PostgreSQL would not use it.
fn search_by(key: &str) -> String {
    format!(
        "SELECT {CUSTOMER_COLUMNS}, EXISTS (SELECT 1 FROM obligations o
             WHERE o.customer = c.id AND o.closed_at IS NULL AND o.breach_at < $3)
         FROM customers c
         WHERE {key} >= $1 AND {key} < $2 AND c.forgotten_at IS NULL ORDER BY {key} LIMIT $4"
    )
}

/// Search: ids starting with the text.
pub(super) static SEARCH_BY_ID: LazyLock<String> = LazyLock::new(|| search_by("c.id"));
/// Search: lower-cased emails starting with the text.
pub(super) static SEARCH_BY_EMAIL: LazyLock<String> =
    LazyLock::new(|| search_by("(lower(c.email) COLLATE \"C\")"));
/// Search: lower-cased names starting with the text.
pub(super) static SEARCH_BY_NAME: LazyLock<String> =
    LazyLock::new(|| search_by("(lower(c.name) COLLATE \"C\")"));
/// Search: phones whose digits start with the text's.
pub(super) static SEARCH_BY_PHONE: LazyLock<String> =
    LazyLock::new(|| search_by("(regexp_replace(c.phone, '[^0-9]', '', 'g') COLLATE \"C\")"));

/// Every hot statement with the index that must serve it.
/// Journeys: the events of some types up to a time (customer, ref, type, time), in one pass over the events
/// (not a hot path, so not in `hot_queries`: an index by type would slow every ingestion).
pub(super) const JOURNEY_EVENTS: &str =
    "SELECT customer, ref, type, at FROM events WHERE type = ANY($1) AND at <= $2";

/// The front desk: every `visit.*` event in a span, through their partial index.
pub(super) static VISIT_EVENTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {}, customer FROM events WHERE type LIKE 'visit.%' AND at >= $1 AND at < $2",
        super::rows::EVENT_COLUMNS
    )
});

/// Journeys: unclosed obligations whose breach time is in a span.
pub(super) const JOURNEY_BREACHED_OPEN: &str = "SELECT customer, ref, breach_at FROM obligations
     WHERE closed_at IS NULL AND breach_at >= $1 AND breach_at <= $2";

/// Journeys: obligations closed after their breach time (late), breach time in a span.
pub(super) const JOURNEY_BREACHED_LATE: &str = "SELECT customer, ref, breach_at FROM obligations
     WHERE closed_at > breach_at AND breach_at >= $1 AND breach_at <= $2";

/// Journeys: nudged obligations opened in a span.
pub(super) const JOURNEY_NUDGED: &str = "SELECT customer, ref, opened_at, nudges FROM obligations
     WHERE nudges > 0 AND opened_at >= $1 AND opened_at <= $2";

pub fn hot_queries() -> Vec<HotQuery> {
    vec![
        HotQuery::new(
            "the front desk: visit events",
            &VISIT_EVENTS,
            "events_visits",
        ),
        HotQuery::new(
            "journeys: unclosed breached obligations",
            JOURNEY_BREACHED_OPEN,
            "obligations_unclosed",
        ),
        HotQuery::new(
            "journeys: obligations kept late",
            JOURNEY_BREACHED_LATE,
            "obligations_late",
        ),
        HotQuery::new(
            "journeys: nudged obligations",
            JOURNEY_NUDGED,
            "obligations_nudged",
        ),
        HotQuery::new("ingest: lock customers", LOCK_CUSTOMERS, "customers_pkey"),
        // The partial index of unclosed obligations (by customer, then ref) is the smaller one: PostgreSQL
        // takes it for both.
        HotQuery::new(
            "ingest: unclosed obligations of customers",
            &UNCLOSED_OF_CUSTOMERS,
            "obligations_open_by_ref",
        ),
        HotQuery::new(
            "ingest: unclosed obligations of customers with these refs",
            &UNCLOSED_BY_REFS,
            "obligations_open_by_ref",
        ),
        HotQuery::new(
            "ingest: how many obligations of customers are unclosed",
            OPEN_OF_CUSTOMERS,
            "obligations_open_by_ref",
        ),
        HotQuery::new(
            "ingest: events of customers",
            &EVENTS_OF_CUSTOMERS,
            "events_by_customer",
        ),
        HotQuery::new("event by id", &EVENT_BY_ID, "events_pkey"),
        HotQuery::new(
            "scheduler: next breach",
            NEXT_UNNOTICED_BREACH,
            "obligations_unnoticed",
        ),
        HotQuery::new(
            "scheduler: notice breaches",
            &NOTICE_BREACHES,
            "obligations_unnoticed",
        )
        .ordered(),
        HotQuery::new(
            "planner: unplanned obligations",
            &UNPLANNED,
            "obligations_unplanned",
        )
        .ordered(),
        HotQuery::new("sender: next due", NEXT_OUTBOX_AT, "outbox_due"),
        HotQuery::new("sender: claim", &CLAIM_OUTBOX, "outbox_due").ordered(),
        HotQuery::new("sender: daily cap", SENT_TO_CUSTOMER_SINCE, "outbox_sent"),
        HotQuery::new(
            "queue: unclosed and breached",
            &UNCLOSED_BREACHED,
            "obligations_unclosed",
        ),
        HotQuery::new("search: customers by id", &SEARCH_BY_ID, "customers_pkey").ordered(),
        HotQuery::new(
            "search: customers by email",
            &SEARCH_BY_EMAIL,
            "customers_by_email",
        )
        .ordered(),
        HotQuery::new(
            "search: customers by name",
            &SEARCH_BY_NAME,
            "customers_by_name",
        )
        .ordered(),
        HotQuery::new(
            "search: customers by phone",
            &SEARCH_BY_PHONE,
            "customers_by_phone",
        )
        .ordered(),
        HotQuery::new(
            "hooks: connector links by keys",
            LINKS_BY_KEYS,
            "connector_links_pkey",
        ),
    ]
}
