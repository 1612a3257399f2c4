//! Reading stored obligations (a customer's, a filtered page, the breached ones, one by its trigger) and the
//! breach scheduler's claims on them.

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::domain::Obligation;

#[derive(Debug, Clone, Default)]
pub struct ObligationFilter {
    pub policy: Option<String>,
    pub customer: Option<String>,
    /// Resume after this position (from a previous page); `None` starts at the beginning.
    pub after: Option<i64>,
    pub limit: Option<usize>,
}

#[async_trait]
pub trait Obligations: Send + Sync {
    async fn customer_obligations(&self, id: &str) -> Result<Vec<Obligation>, StoreError>;
    /// Stored obligations, in a stable order, with the position to resume after.
    async fn obligations(
        &self,
        filter: ObligationFilter,
    ) -> Result<Vec<(i64, Obligation)>, StoreError>;
    /// Obligations not closed whose breach time is before `before`: the invisible customers' reasons.
    async fn unclosed_breached(&self, before: Timestamp) -> Result<Vec<Obligation>, StoreError>;

    /// The earliest breach time of an unclosed obligation the scheduler has not yet noticed.
    async fn next_unnoticed_breach(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Marks every unclosed obligation that breached before `now` as noticed, returning them.
    async fn notice_breaches(&self, now: Timestamp) -> Result<Vec<Obligation>, StoreError>;
}
