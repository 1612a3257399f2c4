//! Reading customers: profiles and activity, their whole histories page by page for replays, and the
//! dashboard's search (by id, email, phone digits or name prefix; each field one index range on both backends).

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::domain::Event;

/// A customer's profile and activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerRecord {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_seen: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen: Option<Timestamp>,
    pub events: u64,
}

/// One page of histories for a replay: customers with their events (sorted), in a stable order.
pub struct HistoryPage {
    pub histories: Vec<(CustomerRecord, Vec<Event>)>,
    /// Pass as `after` for the next page; `None` when this was the last.
    pub next: Option<i64>,
}

#[async_trait]
pub trait Customers: Send + Sync {
    async fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError>;
    async fn customers(&self, ids: Vec<String>) -> Result<Vec<CustomerRecord>, StoreError>;
    /// Histories for replays as of an earlier time.
    async fn histories(&self, after: Option<i64>, limit: usize) -> Result<HistoryPage, StoreError>;
    /// Customers (not forgotten ones) whose id, email, phone digits or name start with what was searched:
    /// at most `limit`, exact matches first, and whether there were more. `invisible`: as of `now`.
    async fn search_customers(
        &self,
        search: &CustomerSearch,
        now: Timestamp,
        limit: usize,
    ) -> Result<CustomerSearchResult, StoreError>;
}

/// What a search looks for, derived once from the text typed. Ids match as typed (they are case-sensitive),
/// emails and names lower-cased, phones by their digits only (when the text is a phone number: digits and
/// `+ - ( ) . /` and spaces, at least three digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSearch {
    pub text: String,
    pub lower: String,
    pub digits: Option<String>,
}

/// One customer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerHit {
    pub customer: CustomerRecord,
    /// An unclosed promise to them is past its breach time.
    pub invisible: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerSearchResult {
    pub hits: Vec<CustomerHit>,
    /// More customers matched than `limit`.
    pub more: bool,
}

/// Fewest digits a phone search needs (fewer would match nearly every number).
const MIN_PHONE_DIGITS: usize = 3;

impl CustomerSearch {
    /// `None` for an empty (or all-space) text.
    pub fn new(text: &str) -> Option<CustomerSearch> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let phone_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')' | '.' | '/' | ' '));
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        Some(CustomerSearch {
            text: text.to_string(),
            lower: text.to_lowercase(),
            digits: (phone_like && digits.len() >= MIN_PHONE_DIGITS).then_some(digits),
        })
    }

    /// The exclusive upper end of the range of texts starting with `prefix` (byte-wise order): no valid
    /// character sorts after U+10FFFF.
    pub fn upper(prefix: &str) -> String {
        format!("{prefix}\u{10FFFF}")
    }

    /// The phone's digits, as the phone indexes hold them.
    pub fn phone_digits(phone: &str) -> String {
        phone.chars().filter(char::is_ascii_digit).collect()
    }

    /// Whether a field equals the search rather than only starting with it.
    fn exact(&self, c: &CustomerRecord) -> bool {
        let lower = |v: &Option<String>| v.as_deref().map(str::to_lowercase);
        c.id == self.text
            || lower(&c.email).as_deref() == Some(self.lower.as_str())
            || lower(&c.name).as_deref() == Some(self.lower.as_str())
            || (self.digits.is_some() && c.phone.as_deref().map(Self::phone_digits) == self.digits)
    }

    /// The hits of each field's range (each at most `limit + 1`) merged: one per customer, exact matches
    /// first, then by name (customers without one last) and id; at most `limit`.
    pub fn merge(&self, lists: Vec<Vec<CustomerHit>>, limit: usize) -> CustomerSearchResult {
        let mut by_id: std::collections::BTreeMap<String, CustomerHit> = Default::default();
        for hit in lists.into_iter().flatten() {
            by_id.entry(hit.customer.id.clone()).or_insert(hit);
        }
        let mut hits: Vec<CustomerHit> = by_id.into_values().collect();
        hits.sort_by_cached_key(|h| {
            let name = h.customer.name.as_deref().map(str::to_lowercase);
            (
                !self.exact(&h.customer),
                name.is_none(),
                name,
                h.customer.id.clone(),
            )
        });
        let more = hits.len() > limit;
        hits.truncate(limit);
        CustomerSearchResult { hits, more }
    }
}
