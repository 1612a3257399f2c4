//! Background work inside `seen serve`.

pub mod actions;
pub mod churn;
pub mod retention;
pub mod scheduler;

use std::sync::Arc;

use tokio::sync::Notify;

/// Ingestion wakes every background sleeper: each has its own `Notify`, so a wake-up that arrives while
/// one is busy is kept as a permit and none is lost.
#[derive(Debug, Default, Clone)]
pub struct Wake {
    pub scheduler: Arc<Notify>,
    pub actions: Arc<Notify>,
}

impl Wake {
    pub fn ingested(&self) {
        self.scheduler.notify_one();
        self.actions.notify_one();
    }
}
