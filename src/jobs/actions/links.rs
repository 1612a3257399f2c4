//! The links a message carries and the ids it shares: unsubscribe tokens (a customer id signed with the
//! link secret, by `secrets`) and the id of a survey send (its answer links and its reminder share it).

use crate::store::{short_hash, OutboxItem};

/// The send a survey message belongs to: its answer links and its reminder share it.
pub fn survey_send_id(policy: &str, customer: &str, trigger_event: &str, survey: &str) -> String {
    format!(
        "survey-{}",
        short_hash(&format!("{policy}\n{customer}\n{trigger_event}\n{survey}"))
    )
}

/// The survey send of a survey message (the survey or its reminder); `None` for other messages.
pub(super) fn survey_send_of(item: &OutboxItem) -> Option<String> {
    let name = item.survey.as_deref()?;
    Some(survey_send_id(
        &item.policy,
        &item.customer,
        &item.trigger_event,
        name,
    ))
}

// Unsubscribe links are signed and checked by `secrets` (the one place for keys, signatures and hashes).
pub use crate::secrets::{unsubscribe_token, verify_unsubscribe_token};
