//! The dashboard's customer search: by id, email, phone digits or name prefix (`store::CustomerSearch`),
//! each field one index range, so it answers as fast with 200 000 customers as with 20.

use jiff::Timestamp;

use crate::service::Service;
use crate::store::{CustomerSearch, CustomerSearchResult, StoreError};

impl Service {
    /// At most `limit` customers matching `text` (nothing for an empty text), with whether more matched.
    pub async fn search_customers(
        &self,
        text: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<CustomerSearchResult, StoreError> {
        match CustomerSearch::new(text) {
            Some(search) => self.store.search_customers(&search, now, limit).await,
            None => Ok(CustomerSearchResult::default()),
        }
    }
}
