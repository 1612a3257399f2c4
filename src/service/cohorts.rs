//! Retention: customers grouped by the month they joined (first purchase, first visit, or first event of
//! a chosen type), the share of each group active in each later month, and beside it the churn model's mean
//! P(alive) of the group. `RetentionQuery::parse` checks every door's input (CLI flags, API query, dashboard
//! form) the same way; `domain::cohort` does the arithmetic.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::cohort::{
    average_by_offset, cohorts, parse_bound, parse_types, Cohort, CohortError, Months, NOT_ACTIVITY,
};
use crate::service::Service;
use crate::store::{Activity, CohortScan, StoreError};

/// What retention needs from the configuration: the zone months are cut in (the dashboard's,
/// `[server] timezone`, else the office calendar's) and what a purchase is (`[churn] purchase_types`).
#[derive(Debug, Clone)]
pub struct CohortSettings {
    pub zone: TimeZone,
    pub purchase_types: Vec<String>,
}

impl Default for CohortSettings {
    /// UTC, and no purchase types: `App::build` always sets the configured ones.
    fn default() -> Self {
        CohortSettings {
            zone: TimeZone::UTC,
            purchase_types: Vec::new(),
        }
    }
}

/// What decides a customer's cohort.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JoinedBy {
    /// Their first purchase (`[churn] purchase_types`).
    Purchase,
    /// Their first `visit.arrived`.
    Visit,
    /// Their first event of this type.
    Type(String),
}

/// The event type of a visit.
pub const VISIT: &str = "visit.arrived";

impl JoinedBy {
    /// `purchase`, `visit`, or an event type.
    pub fn parse(text: &str) -> Result<JoinedBy, CohortError> {
        match text.trim() {
            "purchase" => Ok(JoinedBy::Purchase),
            "visit" => Ok(JoinedBy::Visit),
            other => crate::domain::event::event_type(other)
                .map(JoinedBy::Type)
                .map_err(|e| CohortError {
                    field: "by",
                    reason: format!("purchase, visit or an event type: {}", e.reason),
                }),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            JoinedBy::Purchase => "purchase",
            JoinedBy::Visit => "visit",
            JoinedBy::Type(kind) => kind,
        }
    }

    fn types(&self, settings: &CohortSettings) -> Vec<String> {
        match self {
            JoinedBy::Purchase => settings.purchase_types.clone(),
            JoinedBy::Visit => vec![VISIT.into()],
            JoinedBy::Type(kind) => vec![kind.clone()],
        }
    }
}

/// A checked retention question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetentionQuery {
    pub by: JoinedBy,
    /// Cohorts from the month containing it (default: eleven months before this one, so twelve cohorts).
    pub from: Timestamp,
    /// ...up to the months starting before it (`None`: now, so this month's cohort is the last).
    pub to: Option<Timestamp>,
    /// `None`: every event except `domain::cohort::NOT_ACTIVITY` counts as activity.
    pub active: Option<Vec<String>>,
}

impl RetentionQuery {
    /// Checks each input, naming the parameter at fault (`by`, `from`, `to`, `active`).
    pub fn parse(
        zone: &TimeZone,
        by: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        active: Option<&str>,
        now: Timestamp,
    ) -> Result<RetentionQuery, CohortError> {
        let by = by
            .map(JoinedBy::parse)
            .transpose()?
            .unwrap_or(JoinedBy::Purchase);
        let from = match from {
            Some(text) => parse_bound("from", text, zone)?,
            None => default_from(zone, now)?,
        };
        let to = to.map(|text| parse_bound("to", text, zone)).transpose()?;
        if to.is_some_and(|to| to <= from) {
            return Err(CohortError {
                field: "to",
                reason: "must be after from".into(),
            });
        }
        if from > now {
            return Err(CohortError {
                field: "from",
                reason: "is after now".into(),
            });
        }
        Months::through(from, now, zone)?;
        let active = active.map(|text| parse_types("active", text)).transpose()?;
        Ok(RetentionQuery {
            by,
            from,
            to,
            active,
        })
    }

    /// The default question: by purchase, the last twelve months, default activity.
    pub fn default_for(zone: &TimeZone, now: Timestamp) -> Result<RetentionQuery, CohortError> {
        RetentionQuery::parse(zone, None, None, None, None, now)
    }
}

/// The first instant of the month eleven months before the one containing `now`.
fn default_from(zone: &TimeZone, now: Timestamp) -> Result<Timestamp, CohortError> {
    let day = now.to_zoned(zone.clone()).date().first_of_month();
    day.checked_sub(11.months())
        .and_then(|d| d.to_zoned(zone.clone()))
        .map(|z| z.timestamp())
        .map_err(|e| CohortError {
            field: "from",
            reason: e.to_string(),
        })
}

/// Why a retention table could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The question: its parameter is named (an API answers 400).
    #[error(transparent)]
    Invalid(#[from] CohortError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The retention table: what `seen retention --format json`, `GET /v1/retention` and the dashboard show.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Retention {
    /// `purchase`, `visit` or the event type that decides a cohort.
    pub by: String,
    /// The event types whose first occurrence decides a customer's cohort.
    pub joined_by: Vec<String>,
    /// The only event types that count as activity (`null`: every type but `not_active`).
    pub active: Option<Vec<String>>,
    /// With `active` null: the event types that do not count as activity.
    pub not_active: Vec<String>,
    /// The IANA zone months are cut in.
    pub timezone: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    /// One row per month from `from`'s up to `to`, oldest first; months nobody joined in included.
    pub cohorts: Vec<Cohort>,
    /// Per month offset, the share active over every cohort that reached it, weighted by size.
    pub average: Vec<Option<f64>>,
    /// When the churn scores behind `p_alive` were computed (`null`: no fit yet).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub churn_fitted_at: Option<Timestamp>,
}

impl Service {
    /// The retention table for `query`, as of `now`.
    pub async fn retention(
        &self,
        settings: &CohortSettings,
        query: &RetentionQuery,
        now: Timestamp,
    ) -> Result<Retention, RetentionError> {
        let months = Months::through(query.from, now, &settings.zone)?;
        let joined_by = query.by.types(settings);
        let not_active: Vec<String> = NOT_ACTIVITY.iter().map(|t| t.to_string()).collect();
        let activity = match &query.active {
            Some(types) => Activity::Only(types.clone()),
            None => Activity::AllBut(not_active.clone()),
        };
        let members = self
            .store
            .cohort_members(CohortScan {
                joined_by: joined_by.clone(),
                active: activity,
                boundaries: months.boundaries().to_vec(),
                until: now,
            })
            .await?;
        let fitted_at = self.store.churn_model().await?.map(|m| m.fitted_at);
        let to = query.to.unwrap_or(now);
        let rows = cohorts(&months, to, now, members);
        Ok(Retention {
            by: query.by.name().to_string(),
            joined_by,
            active: query.active.clone(),
            not_active: if query.active.is_some() {
                Vec::new()
            } else {
                not_active
            },
            timezone: crate::words::zone_name(&settings.zone),
            from: months.start(0),
            to,
            as_of: now,
            average: average_by_offset(&rows),
            cohorts: rows,
            churn_fitted_at: fitted_at,
        })
    }
}
