//! The customer's own status page (`/c/{token}`): which links are genuine (signing keys, expiry, the
//! customer's revocations) and what the page shows — that customer's promises in their own words and zone,
//! each request's timeline of frontstage events. Nothing backstage (staff work, internal signals, policies
//! without `customer_text`) and nothing of any other customer.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use super::Service;
use crate::config::customer_page::CustomerPage;
use crate::domain::{Event, Obligation};
use crate::secrets::{StatusLink, StatusLinkError};
use crate::store::{CustomerRecord, LinkKey, StoreError};
use crate::words::{self, PromiseState};

/// The event a customer records by tapping "Nobody got back to me" (survey figures count it too).
pub use crate::domain::survey::FEELS_IGNORED;
/// Most promises listed on one page (open ones first).
const MAX_ITEMS: usize = 50;
/// Most timeline entries per request (the latest).
const MAX_TIMELINE: usize = 8;

/// What the customer's page shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusPage {
    pub first_name: Option<String>,
    /// The IANA zone every time on the page is in.
    pub zone: String,
    pub items: Vec<StatusItem>,
    /// The last "Nobody got back to me", if any.
    pub feels_ignored: Option<FeelsIgnored>,
}

/// One promise, as its policy's `customer_text` words it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusItem {
    pub state: PromiseState,
    pub sentence: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelineEntry {
    /// RFC 3339 (for `<time datetime>`).
    pub at: String,
    /// In the customer's zone.
    pub when: String,
    pub words: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FeelsIgnored {
    pub at: Timestamp,
    /// "today at 10:02".
    pub when: String,
}

impl Service {
    /// Verifies a status link: form, key (a live one), signature, expiry, then the customer's revocations.
    pub async fn check_status_link(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Result<StatusLink, StatusLinkError>, StoreError> {
        let keys = self.store.link_keys().await?;
        let link =
            match crate::secrets::verify_status_link(token, now, |kid| live_secret(&keys, kid)) {
                Ok(link) => link,
                Err(err) => return Ok(Err(err)),
            };
        Ok(match self.link_falls(&link.customer, link.issued).await? {
            Some(err) => Err(err),
            None => Ok(link),
        })
    }

    /// Why a genuine link of `customer` issued at `issued` no longer opens anything: their links were revoked
    /// since, or Seen no longer knows them (erased: nothing to show, nothing to record). `None`: it stands.
    async fn link_falls(
        &self,
        customer: &str,
        issued: Timestamp,
    ) -> Result<Option<StatusLinkError>, StoreError> {
        if let Some(revoked) = self.store.links_revoked_at(customer).await? {
            if issued <= revoked {
                return Ok(Some(StatusLinkError::Revoked));
            }
        }
        if self.store.customer(customer).await?.is_none() {
            return Ok(Some(StatusLinkError::Invalid));
        }
        Ok(None)
    }

    /// A visit link (`/v/{token}`) for one visit, signed with the current status-link key.
    pub async fn mint_visit_token(
        &self,
        customer: &str,
        reference: &str,
        expires: SignedDuration,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let key = self.signing_link_key().await?;
        let link = crate::secrets::VisitLink {
            customer: customer.to_string(),
            reference: reference.to_string(),
            kid: key.kid,
            issued: now,
            expires: now.saturating_add(expires).unwrap_or(Timestamp::MAX),
        };
        Ok(crate::secrets::visit_link_token(&key.secret, &link))
    }

    /// A visit link that verifies now, as a status link does (a live key, not expired, issued after the
    /// customer's last revocation, for a customer Seen knows). `None` otherwise: the page shows the same for
    /// every failure.
    pub async fn check_visit_link(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<crate::secrets::VisitLink>, StoreError> {
        let keys = self.store.link_keys().await?;
        let Some(link) =
            crate::secrets::verify_visit_link(token, now, |kid| live_secret(&keys, kid))
        else {
            return Ok(None);
        };
        Ok(match self.link_falls(&link.customer, link.issued).await? {
            Some(_) => None,
            None => Some(link),
        })
    }

    /// What `link`'s customer's page shows now; `None` when the customer is not (or no longer) known.
    pub async fn status_page(
        &self,
        link: &StatusLink,
        page: &CustomerPage,
        fallback_zone: &str,
        now: Timestamp,
    ) -> Result<Option<(CustomerRecord, StatusPage)>, StoreError> {
        let Some(customer) = self.store.customer(&link.customer).await? else {
            return Ok(None);
        };
        let obligations = self.store.customer_obligations(&link.customer).await?;
        let events = self.store.customer_events(&link.customer).await?;
        let shown = build(&customer, &obligations, &events, page, fallback_zone, now);
        Ok(Some((customer, shown)))
    }

    /// The customer's latest "Nobody got back to me", if any (the page's rate limit reads it).
    pub async fn last_feels_ignored(&self, customer: &str) -> Result<Option<Event>, StoreError> {
        let events = self.store.customer_events(customer).await?;
        Ok(events.into_iter().rev().find(|e| e.kind == FEELS_IGNORED))
    }

    /// The status-link signing key to use now: the newest live one (the first is made on first use).
    pub async fn signing_link_key(&self) -> Result<LinkKey, StoreError> {
        signing_link_key(self.store.as_ref()).await
    }

    /// A fresh status-link token for `customer`, signed with the current key, working for `expires`.
    pub async fn mint_status_token(
        &self,
        customer: &str,
        expires: SignedDuration,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let key = self.signing_link_key().await?;
        let link = StatusLink {
            customer: customer.to_string(),
            kid: key.kid,
            issued: now,
            expires: now.saturating_add(expires).unwrap_or(Timestamp::MAX),
        };
        Ok(crate::secrets::status_link_token(&key.secret, &link))
    }

    pub async fn link_keys(&self) -> Result<Vec<LinkKey>, StoreError> {
        self.store.link_keys().await
    }

    pub async fn rotate_link_key(&self) -> Result<LinkKey, StoreError> {
        self.store.rotate_link_key().await
    }

    pub async fn retire_link_key(&self, kid: i64) -> Result<bool, StoreError> {
        self.store.retire_link_key(kid).await
    }

    /// Every status link of `customer` issued until now stops working (new messages carry new ones).
    pub async fn revoke_status_links(
        &self,
        customer: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.store.revoke_customer_links(customer, at).await
    }
}

/// The newest live status-link key; makes the first one if there is none (`jobs::actions` signs with it).
/// The secret of link key `kid` if it is live (not retired).
fn live_secret(keys: &[LinkKey], kid: i64) -> Option<String> {
    keys.iter()
        .find(|k| k.kid == kid && k.retired_at.is_none())
        .map(|k| k.secret.clone())
}

pub async fn signing_link_key(store: &dyn crate::store::Store) -> Result<LinkKey, StoreError> {
    let live = |keys: Vec<LinkKey>| keys.into_iter().rev().find(|k| k.retired_at.is_none());
    match live(store.link_keys().await?) {
        Some(key) => Ok(key),
        None => match store.rotate_link_key().await {
            Ok(key) => Ok(key),
            // Another node made it meanwhile.
            Err(StoreError::Conflict(_)) => live(store.link_keys().await?)
                .ok_or_else(|| StoreError::Conflict("no live status-link key".into())),
            Err(err) => Err(err),
        },
    }
}

/// The page, from what is stored (pure).
pub fn build(
    customer: &CustomerRecord,
    obligations: &[Obligation],
    events: &[Event],
    page: &CustomerPage,
    fallback_zone: &str,
    now: Timestamp,
) -> StatusPage {
    let zone = words::zone(customer.timezone.as_deref(), fallback_zone);
    let by_id: HashMap<&str, &Event> = events.iter().map(|e| (e.id.as_str(), e)).collect();
    let recent_from = now.checked_sub(page.recent).unwrap_or(Timestamp::MIN);
    let mut items: Vec<(PromiseState, Timestamp, StatusItem)> = Vec::new();
    for o in obligations {
        let Some(texts) = page.texts(&o.policy) else {
            continue;
        };
        let Some(state) = PromiseState::of(o, now) else {
            continue;
        };
        if state == PromiseState::Kept && o.closed_at.is_none_or(|at| at < recent_from) {
            continue;
        }
        if o.opened_at > now {
            continue;
        }
        let trigger = by_id.get(o.trigger_event.as_str()).copied();
        let sentence = words::promise_sentence(texts, state, o, trigger, now, &zone);
        let timeline = timeline(o, events, &by_id, page, now, &zone);
        let order = match state {
            PromiseState::Kept => o.closed_at.unwrap_or(o.opened_at),
            _ => o.due_at,
        };
        items.push((
            state,
            order,
            StatusItem {
                state,
                sentence,
                reference: o.reference.clone(),
                timeline,
            },
        ));
    }
    // Late first, then what is open or waiting by its due time, then what was kept, latest first.
    let rank = |s: PromiseState| match s {
        PromiseState::Late => 0,
        PromiseState::Open | PromiseState::Waiting => 1,
        PromiseState::Kept => 2,
    };
    items.sort_by(|a, b| {
        rank(a.0).cmp(&rank(b.0)).then_with(|| {
            if a.0 == PromiseState::Kept {
                b.1.cmp(&a.1)
            } else {
                a.1.cmp(&b.1)
            }
        })
    });
    items.truncate(MAX_ITEMS);
    let feels_ignored = events
        .iter()
        .rev()
        .find(|e| e.kind == FEELS_IGNORED && e.at <= now)
        .map(|e| FeelsIgnored {
            at: e.at,
            when: words::when(e.at, now, &zone),
        });
    StatusPage {
        first_name: customer
            .name
            .as_deref()
            .and_then(|n| n.split_whitespace().next())
            .map(str::to_string),
        zone: words::zone_name(&zone),
        items: items.into_iter().map(|(_, _, item)| item).collect(),
        feels_ignored,
    }
}

/// A promise's frontstage events: those of its ref (or, without a ref, its trigger and what closed it) whose
/// type `[customer_page.timeline]` words, up to now, the latest `MAX_TIMELINE`.
fn timeline(
    o: &Obligation,
    events: &[Event],
    by_id: &HashMap<&str, &Event>,
    page: &CustomerPage,
    now: Timestamp,
    zone: &jiff::tz::TimeZone,
) -> Vec<TimelineEntry> {
    let mine: Vec<&Event> = match &o.reference {
        Some(reference) => events
            .iter()
            .filter(|e| e.reference.as_deref() == Some(reference.as_str()))
            .collect(),
        None => [Some(o.trigger_event.as_str()), o.closed_by.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|id| by_id.get(id).copied())
            .collect(),
    };
    let mut entries: Vec<TimelineEntry> = mine
        .into_iter()
        .filter(|e| e.at <= now)
        .filter_map(|e| {
            page.timeline.get(&e.kind).map(|words| TimelineEntry {
                at: e.at.to_string(),
                when: words::when(e.at, now, zone),
                words: words.clone(),
            })
        })
        .collect();
    let skip = entries.len().saturating_sub(MAX_TIMELINE);
    entries.drain(..skip);
    entries
}

/// Whether a "Nobody got back to me" at `now` is a new one, given the customer's last (`every` apart).
pub fn feels_ignored_is_new(
    last: Option<Timestamp>,
    now: Timestamp,
    every: SignedDuration,
) -> bool {
    last.is_none_or(|at| now.duration_since(at) >= every)
}
