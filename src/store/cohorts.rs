//! What retention cohorts need from the events: each customer's first event of the types that decide a
//! cohort, the months (of the report) they were active in, and their stored churn score's P(alive). The
//! arithmetic over them is `domain::cohort`'s; each backend buckets instants by `domain::cohort::month_index`.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::domain::cohort::Member;

/// Which events make a customer active in a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activity {
    /// Only events of these types.
    Only(Vec<String>),
    /// Every event except these types.
    AllBut(Vec<String>),
}

impl Activity {
    /// Whether an event of type `kind` counts.
    pub fn counts(&self, kind: &str) -> bool {
        match self {
            Activity::Only(types) => types.iter().any(|t| t == kind),
            Activity::AllBut(types) => !types.iter().any(|t| t == kind),
        }
    }

    /// The types named, and whether they are the only ones that count (`false`: every other one counts).
    pub fn parts(&self) -> (&[String], bool) {
        match self {
            Activity::Only(types) => (types, true),
            Activity::AllBut(types) => (types, false),
        }
    }
}

/// One retention scan.
#[derive(Debug, Clone)]
pub struct CohortScan {
    /// A customer's first event (ever, up to `until`) of one of these types decides their cohort.
    pub joined_by: Vec<String>,
    pub active: Activity,
    /// `domain::cohort::Months::boundaries`: the report's month starts, then the last month's end.
    pub boundaries: Vec<Timestamp>,
    /// Events after it are not read ("now").
    pub until: Timestamp,
}

#[async_trait]
pub trait Cohorts {
    /// Every customer whose first `joined_by` event falls within the boundaries, with the months they had
    /// an active event in (at or before `until`) and their P(alive) from the stored churn scores. In no
    /// particular order.
    async fn cohort_members(&self, scan: CohortScan) -> Result<Vec<Member>, StoreError>;
}
