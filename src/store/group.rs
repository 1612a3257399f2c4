//! Group commit: concurrent ingests share one transaction. The first caller to find no leader starts one;
//! the leader takes everything queued meanwhile (up to a size), commits it as one batch, and answers each
//! caller with its own results, only after the commit. Both backends use it.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use super::{Ingested, StoreError};
use crate::domain::Event;

/// Most events one group transaction takes (a single larger batch still goes alone).
const MAX_GROUP_EVENTS: usize = 50_000;

type Reply = oneshot::Sender<Result<Vec<Ingested>, StoreError>>;

#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<(Vec<Event>, Reply)>,
    leader: bool,
}

/// One group: the events of several callers, in order, and whom to answer with how many results.
pub(crate) struct Group {
    pub events: Vec<Event>,
    replies: Vec<(Reply, usize)>,
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // A panic while holding this lock leaves the queue consistent (every change is a single step).
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GroupCommit {
    /// Queues a batch. Returns the receiver of its answer, and whether the caller must start a leader
    /// (which then calls `next_group` until it returns `None`).
    pub fn enqueue(
        &self,
        events: Vec<Event>,
    ) -> (oneshot::Receiver<Result<Vec<Ingested>, StoreError>>, bool) {
        let (reply, answer) = oneshot::channel();
        let mut queue = lock(&self.queue);
        queue.pending.push((events, reply));
        let lead = !std::mem::replace(&mut queue.leader, true);
        (answer, lead)
    }

    /// The next group for the leader, or `None` when the queue is empty: the leader flag is then cleared
    /// under the same lock that saw the queue empty, so a batch queued in between cannot be stranded.
    pub fn next_group(&self) -> Option<Group> {
        let mut queue = lock(&self.queue);
        if queue.pending.is_empty() {
            queue.leader = false;
            return None;
        }
        let mut size = 0;
        let take = queue
            .pending
            .iter()
            .take_while(|(events, _)| {
                size += events.len();
                size <= MAX_GROUP_EVENTS
            })
            .count()
            .max(1);
        let mut group = Group {
            events: Vec::with_capacity(size.min(MAX_GROUP_EVENTS)),
            replies: Vec::with_capacity(take),
        };
        for (mut events, reply) in queue.pending.drain(..take) {
            group.replies.push((reply, events.len()));
            group.events.append(&mut events);
        }
        Some(group)
    }

    /// Resets the leader flag when a leader dies (panics) so the next caller starts a new one.
    pub fn leader_died(&self) {
        lock(&self.queue).leader = false;
    }
}

impl Group {
    /// Answers every caller of the group with its own slice of the results (or the shared error).
    pub fn answer(self, result: Result<Vec<Ingested>, StoreError>) {
        match result {
            Ok(results) => {
                let mut rest = results.as_slice();
                for (reply, size) in self.replies {
                    let (mine, others) = rest.split_at(size.min(rest.len()));
                    rest = others;
                    // A caller that went away (client disconnected) no longer needs its answer.
                    let _ = reply.send(Ok(mine.to_vec()));
                }
            }
            Err(err) => {
                for (reply, _) in self.replies {
                    let _ = reply.send(Err(err.duplicate()));
                }
            }
        }
    }
}

/// Resets the leader flag if the leader panics.
pub(crate) struct LeaderGuard<'a>(pub &'a GroupCommit);

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.leader_died();
        }
    }
}

/// Waits for an answer from the leader.
pub(crate) async fn await_answer(
    answer: oneshot::Receiver<Result<Vec<Ingested>, StoreError>>,
) -> Result<Vec<Ingested>, StoreError> {
    answer
        .await
        .map_err(|_| StoreError::Task("the database writer stopped before answering".into()))?
}
