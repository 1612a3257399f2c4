//! The front desk's job in `seen serve`: whenever the queue moves (a visit event stored on this node) and at
//! least every few seconds (other nodes, and visitors queued before a restart), queue "you're next" for the
//! visitors it is due to (`Service::notify_next`), and wake the sender.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;

use crate::service::Service;

/// The longest the job sleeps without a change on this node.
const TICK: Duration = Duration::from_secs(10);

pub async fn run(service: Service, actions: Arc<Notify>, stop: Arc<Notify>) {
    if !service.desk().visits.is_on() {
        return;
    }
    let mut changed = service.visits_changed();
    loop {
        match service.notify_next(Timestamp::now()).await {
            Ok(0) => {}
            Ok(queued) => {
                tracing::info!(queued, "front desk: \"you're next\" queued");
                actions.notify_one();
            }
            Err(err) => tracing::warn!(error = %err, "front desk: \"you're next\""),
        }
        tokio::select! {
            _ = changed.changed() => {}
            () = tokio::time::sleep(TICK) => {}
            () = stop.notified() => return,
        }
    }
}
