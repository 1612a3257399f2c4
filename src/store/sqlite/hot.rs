//! SQLite's hot statements, one place: the store runs these texts and the query-plan test explains them.

use std::sync::LazyLock;

use super::outbox::OUTBOX_COLUMNS;
use super::rows::{CUSTOMER_COLUMNS, EVENT_COLUMNS, OBLIGATION_COLUMNS};
use crate::store::hot::HotQuery;

/// Ingestion: the customer's row, once per customer of a batch.
pub(super) const CUSTOMER_BY_ID: &str = "SELECT seq, last_at, events FROM customers WHERE id = ?1";

/// Ingestion's fast path: the customer's unclosed obligations.
pub(super) static UNCLOSED_OF_CUSTOMER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations o JOIN customers c ON c.seq = o.customer_seq
         WHERE o.customer_seq = ?1 AND o.closed_at IS NULL"
    )
});

/// Ingestion's fast path when every event names a ref: only the unclosed obligations with one of those refs
/// (a JSON array) or with none, through the partial index of unclosed obligations by ref.
pub(super) static UNCLOSED_OF_CUSTOMER_BY_REFS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations o INDEXED BY obligations_open_by_ref
           JOIN customers c ON c.seq = o.customer_seq
         WHERE o.customer_seq = ?1 AND o.closed_at IS NULL AND o.ref IN (SELECT value FROM json_each(?2))
         UNION ALL
         SELECT {OBLIGATION_COLUMNS} FROM obligations o INDEXED BY obligations_open_by_ref
           JOIN customers c ON c.seq = o.customer_seq
         WHERE o.customer_seq = ?1 AND o.closed_at IS NULL AND o.ref IS NULL"
    )
});

/// How many obligations of a customer are unclosed (checked when a batch opened new ones).
pub(super) const OPEN_OF_CUSTOMER: &str =
    "SELECT count(*) FROM obligations WHERE customer_seq = ?1 AND closed_at IS NULL";

/// Ingestion's late arrivals (and replays): one customer's events in fold order.
pub(super) static EVENTS_OF_CUSTOMER: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {EVENT_COLUMNS} FROM events WHERE customer_seq = ?1 ORDER BY at, id")
});

/// The sender and surveys: one event by id.
pub(super) static EVENT_BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, c.id FROM events e JOIN customers c ON c.seq = e.customer_seq WHERE e.id = ?1",
        super::rows::prefixed(EVENT_COLUMNS, "e")
    )
});

/// The breach scheduler: when to wake next.
pub(super) const NEXT_UNNOTICED_BREACH: &str =
    "SELECT min(breach_at) FROM obligations INDEXED BY obligations_unnoticed
     WHERE closed_at IS NULL AND noticed_at IS NULL";

/// The breach scheduler: mark what fell due.
pub(super) const NOTICE_BREACHES: &str =
    "UPDATE obligations INDEXED BY obligations_unnoticed SET noticed_at = ?1
     WHERE closed_at IS NULL AND noticed_at IS NULL AND breach_at < ?1 RETURNING seq";

/// The planner: unclosed obligations whose actions are not queued yet, newest first (a backlog never
/// holds back the actions of new events).
pub(super) static UNPLANNED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OBLIGATION_COLUMNS} FROM obligations o INDEXED BY obligations_unplanned
         JOIN customers c ON c.seq = o.customer_seq
         WHERE o.closed_at IS NULL AND o.planned = 0 ORDER BY o.seq DESC LIMIT ?1"
    )
});

/// The sender: when the next row falls due. `INDEXED BY`: the dashboard's `(status, due_at)` index
/// matches the status test too, and SQLite (without statistics) prefers it, walking every pending row.
pub(super) const NEXT_OUTBOX_AT: &str = "SELECT min(next_at) FROM outbox INDEXED BY outbox_due
     WHERE status IN ('pending', 'sending')";

/// The sender: the rows due now, in order.
pub(super) static CLAIM_OUTBOX: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox INDEXED BY outbox_due
         WHERE status IN ('pending', 'sending') AND next_at <= ?1 ORDER BY next_at LIMIT ?2"
    )
});

/// The sender's daily cap: a customer's recent non-transactional messages.
pub(super) const SENT_TO_CUSTOMER_SINCE: &str =
    "SELECT count(*) FROM outbox INDEXED BY outbox_sent WHERE customer = ?1 AND status = 'sent' AND sent_at > ?2
     AND role = 'customer' AND NOT transactional";

/// The queue: every unclosed obligation past its breach time.
pub(super) const UNCLOSED_BREACHED: &str =
    "SELECT o.seq, c.id, o.policy, o.ref, o.opened_at, o.due_at, o.breach_at, NULL, NULL, NULL,
            o.trigger_event, o.nudges, o.last_nudge_at, NULL, NULL, 0
     FROM obligations o INDEXED BY obligations_unclosed JOIN customers c ON c.seq = o.customer_seq
     WHERE o.closed_at IS NULL AND o.breach_at < ?1";

/// Inbound webhooks: where a provider's object (an order, a booking) led, on every delivery that names one.
pub(super) const LINK_BY_KEY: &str =
    "SELECT key, customer, ref FROM connector_links WHERE connector = ?1 AND key = ?2";

/// The phone's digits, as `customers_by_phone` (migration 10) holds them: the same expression, or SQLite
/// would not use the index.
const PHONE_DIGITS: &str = "replace(replace(replace(replace(replace(replace(phone, ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '+', '')";

/// The dashboard's search: customers whose `key` is in [?1, ?2), in the key's order, at most ?4, each with
/// whether an unclosed promise to them is past its breach time at ?3.
fn search_by(key: &str, index: &str) -> String {
    format!(
        "SELECT {CUSTOMER_COLUMNS}, EXISTS (SELECT 1 FROM obligations o
             WHERE o.customer_seq = c.seq AND o.closed_at IS NULL AND o.breach_at < ?3)
         FROM customers c INDEXED BY {index}
         WHERE {key} >= ?1 AND {key} < ?2 AND c.forgotten_at IS NULL ORDER BY {key} LIMIT ?4"
    )
}

/// Search: ids starting with the text.
pub(super) static SEARCH_BY_ID: LazyLock<String> =
    LazyLock::new(|| search_by("id", "sqlite_autoindex_customers_1"));
/// Search: lower-cased emails starting with the text.
pub(super) static SEARCH_BY_EMAIL: LazyLock<String> =
    LazyLock::new(|| search_by("lower(email)", "customers_by_email"));
/// Search: lower-cased names starting with the text.
pub(super) static SEARCH_BY_NAME: LazyLock<String> =
    LazyLock::new(|| search_by("lower(name)", "customers_by_name"));
/// Search: phones whose digits start with the text's.
pub(super) static SEARCH_BY_PHONE: LazyLock<String> =
    LazyLock::new(|| search_by(PHONE_DIGITS, "customers_by_phone"));

/// Every hot statement with the index that must serve it.
/// Journeys: the events of some types (a JSON list) up to a time (customer, ref, type, time), in one pass
/// over the events (not a hot path, so not in `hot_queries`: an index by type would slow every ingestion).
pub(super) const JOURNEY_EVENTS: &str = "SELECT c.id, e.ref, e.type, e.at FROM events e
       JOIN customers c ON c.seq = e.customer_seq
     WHERE e.type IN (SELECT value FROM json_each(?1)) AND e.at <= ?2";

/// The front desk: every `visit.*` event in a span, through their partial index.
pub(super) static VISIT_EVENTS: LazyLock<String> = LazyLock::new(|| {
    let columns = super::rows::prefixed(EVENT_COLUMNS, "e");
    format!(
        "SELECT {columns}, c.id FROM events e INDEXED BY events_visits
           JOIN customers c ON c.seq = e.customer_seq
         WHERE e.type GLOB 'visit.*' AND e.at >= ?1 AND e.at < ?2"
    )
});

/// Journeys kept per key: a journey's entered keys with their customer's id.
pub(super) const KEPT_JOURNEY: &str =
    "SELECT k.customer_seq, c.id, k.ref, k.reached FROM journey_keys k
       JOIN customers c ON c.seq = k.customer_seq
     WHERE k.journey = ?1 AND k.entered_at <= ?2";

/// Journeys kept per key: the unhappy answers up to a time (their partial index covers the query).
pub(super) const KEPT_UNHAPPY: &str =
    "SELECT customer_seq, ref, at FROM events INDEXED BY events_unhappy
     WHERE type = 'survey.unhappy' AND at <= ?1";

/// Journeys kept per key: unclosed obligations breached by a time (covered by their index).
pub(super) const KEPT_BREACHED_OPEN: &str =
    "SELECT customer_seq, ref, breach_at FROM obligations INDEXED BY obligations_unclosed
     WHERE closed_at IS NULL AND breach_at <= ?1";

/// Journeys kept per key: obligations kept late, breached by a time (covered by their index).
pub(super) const KEPT_BREACHED_LATE: &str =
    "SELECT customer_seq, ref, breach_at FROM obligations INDEXED BY obligations_late
     WHERE closed_at > breach_at AND breach_at <= ?1";

/// Journeys kept per key: nudged obligations opened by a time.
pub(super) const KEPT_NUDGED: &str =
    "SELECT customer_seq, ref, opened_at, nudges FROM obligations INDEXED BY obligations_nudged
     WHERE nudges > 0 AND opened_at <= ?1";

/// Journeys: unclosed obligations whose breach time is in a span.
pub(super) const JOURNEY_BREACHED_OPEN: &str =
    "SELECT c.id, o.ref, o.breach_at FROM obligations o INDEXED BY obligations_unclosed
       JOIN customers c ON c.seq = o.customer_seq
     WHERE o.closed_at IS NULL AND o.breach_at >= ?1 AND o.breach_at <= ?2";

/// Journeys: obligations closed after their breach time (late), breach time in a span.
pub(super) const JOURNEY_BREACHED_LATE: &str =
    "SELECT c.id, o.ref, o.breach_at FROM obligations o INDEXED BY obligations_late
       JOIN customers c ON c.seq = o.customer_seq
     WHERE o.closed_at > o.breach_at AND o.breach_at >= ?1 AND o.breach_at <= ?2";

/// Journeys: nudged obligations opened in a span.
pub(super) const JOURNEY_NUDGED: &str =
    "SELECT c.id, o.ref, o.opened_at, o.nudges FROM obligations o INDEXED BY obligations_nudged
       JOIN customers c ON c.seq = o.customer_seq
     WHERE o.nudges > 0 AND o.opened_at >= ?1 AND o.opened_at <= ?2";

pub fn hot_queries() -> Vec<HotQuery> {
    vec![
        HotQuery::new(
            "the front desk: visit events",
            &VISIT_EVENTS,
            "events_visits",
        ),
        HotQuery::new(
            "journeys kept: unhappy answers",
            KEPT_UNHAPPY,
            "events_unhappy",
        ),
        HotQuery::new(
            "journeys kept: unclosed breached obligations",
            KEPT_BREACHED_OPEN,
            "obligations_unclosed",
        ),
        HotQuery::new(
            "journeys kept: obligations kept late",
            KEPT_BREACHED_LATE,
            "obligations_late",
        ),
        HotQuery::new(
            "journeys kept: nudged obligations",
            KEPT_NUDGED,
            "obligations_nudged",
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
        HotQuery::new(
            "ingest: customer by id",
            CUSTOMER_BY_ID,
            "sqlite_autoindex_customers_1",
        ),
        HotQuery::new(
            "ingest: unclosed obligations of a customer",
            &UNCLOSED_OF_CUSTOMER,
            "obligations_by_customer",
        ),
        HotQuery::new(
            "ingest: unclosed obligations of a customer with these refs",
            &UNCLOSED_OF_CUSTOMER_BY_REFS,
            "obligations_open_by_ref",
        ),
        HotQuery::new(
            "ingest: how many obligations of a customer are unclosed",
            OPEN_OF_CUSTOMER,
            "obligations_by_customer",
        ),
        HotQuery::new(
            "ingest: events of a customer",
            &EVENTS_OF_CUSTOMER,
            "events_by_customer",
        ),
        HotQuery::new("event by id", &EVENT_BY_ID, "events_by_id"),
        HotQuery::new(
            "scheduler: next breach",
            NEXT_UNNOTICED_BREACH,
            "obligations_unnoticed",
        ),
        HotQuery::new(
            "scheduler: notice breaches",
            NOTICE_BREACHES,
            "obligations_unnoticed",
        ),
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
            UNCLOSED_BREACHED,
            "obligations_unclosed",
        ),
        HotQuery::new(
            "search: customers by id",
            &SEARCH_BY_ID,
            "sqlite_autoindex_customers_1",
        )
        .ordered(),
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
            "hooks: connector link by key",
            LINK_BY_KEY,
            "sqlite_autoindex_connector_links_1",
        ),
    ]
}
