//! Retention: personal details older than `[retention]` allows are cleared, daily inside `seen serve` and on
//! demand by `seen retention run`. Rows stay (counts do not change); only their payloads go.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::store::{RetentionCutoffs, RetentionReport, Store, StoreError};

/// `[retention]` in `seen.toml`: how long each kind of personal detail is kept ("0s": forever).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Raw payloads received by connectors (webhook bodies kept for replay): when shorter than
    /// `[connectors] keep_raw`, it wins.
    pub raw_payloads: String,
    /// Finished outbox rows: recipient address and name, delivery detail, reference. Seen renders message
    /// bodies at send time and never stores them.
    pub sent_messages: String,
    /// Events older than this lose `properties` and `profile`; the event rows (type, time, channel) stay.
    pub events_properties: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            raw_payloads: "0s".into(),
            sent_messages: "0s".into(),
            events_properties: "0s".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("[retention] {field}: {reason}")]
    Setting { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `[retention]` parsed: `None` keeps forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionSettings {
    pub raw_payloads: Option<SignedDuration>,
    pub sent_messages: Option<SignedDuration>,
    pub events_properties: Option<SignedDuration>,
    /// How long kept webhook deliveries stay: `[connectors] keep_raw`, or `raw_payloads` when shorter
    /// (`None`: none are kept, so there is nothing to prune).
    pub kept_deliveries: Option<SignedDuration>,
}

/// Connectors' links (an order to its customer) stay this long after they were last used: a delivery
/// weeks after the order (its delivery event) still finds its customer.
pub const LINKS_KEPT: SignedDuration = SignedDuration::from_hours(180 * 24);

impl RetentionSettings {
    pub fn parse(config: &RetentionConfig) -> Result<RetentionSettings, RetentionError> {
        let span = |field: &'static str, text: &str| {
            let span =
                crate::domain::span::parse_span(text).map_err(|e| RetentionError::Setting {
                    field,
                    reason: e.to_string(),
                })?;
            if span.is_negative() {
                return Err(RetentionError::Setting {
                    field,
                    reason: "must not be negative".into(),
                });
            }
            Ok((span > SignedDuration::ZERO).then_some(span))
        };
        Ok(RetentionSettings {
            raw_payloads: span("raw_payloads", &config.raw_payloads)?,
            sent_messages: span("sent_messages", &config.sent_messages)?,
            events_properties: span("events_properties", &config.events_properties)?,
            kept_deliveries: None,
        })
    }

    /// `[retention]` and `[connectors] keep_raw` of a loaded configuration.
    pub fn for_config(
        file: &crate::config::ConfigFile,
    ) -> Result<RetentionSettings, RetentionError> {
        let keep_raw = file
            .connectors
            .keep_raw()
            .map_err(|reason| RetentionError::Setting {
                field: "keep_raw ([connectors])",
                reason,
            })?;
        Ok(RetentionSettings::parse(&file.retention)?.with_keep_raw(keep_raw))
    }

    /// With `[connectors] keep_raw`: kept webhook deliveries are pruned after it, or after `raw_payloads`
    /// when that is shorter.
    pub fn with_keep_raw(mut self, keep_raw: Option<SignedDuration>) -> RetentionSettings {
        self.kept_deliveries = match (keep_raw, self.raw_payloads) {
            (Some(keep), Some(cap)) => Some(keep.min(cap)),
            (keep, _) => keep,
        };
        self
    }

    pub fn is_off(&self) -> bool {
        *self == RetentionSettings::default()
    }

    /// The cut-off times as of `now`.
    pub fn cutoffs(&self, now: Timestamp) -> RetentionCutoffs {
        let before = |span: Option<SignedDuration>| span.and_then(|s| now.checked_sub(s).ok());
        RetentionCutoffs {
            events_properties: before(self.events_properties),
            sent_messages: before(self.sent_messages),
        }
    }
}

/// One retention pass as of `now`.
pub async fn run_once(
    store: &dyn Store,
    settings: &RetentionSettings,
    now: Timestamp,
) -> Result<RetentionReport, RetentionError> {
    let cutoffs = settings.cutoffs(now);
    let mut report = RetentionReport::default();
    if cutoffs != RetentionCutoffs::default() {
        report = store.apply_retention(cutoffs).await?;
    }
    if let Some(keep) = settings.kept_deliveries {
        let before = now.checked_sub(keep).unwrap_or(Timestamp::MIN);
        let links_before = now
            .checked_sub(LINKS_KEPT.max(keep))
            .unwrap_or(Timestamp::MIN);
        report.deliveries_pruned = store.prune_deliveries(before, links_before).await?;
    }
    Ok(report)
}

/// How long after start `seen serve` runs its first pass (start-up work goes first).
const FIRST_PASS_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// `seen serve`'s daily pass (the first shortly after start).
pub async fn run(store: Arc<dyn Store>, settings: RetentionSettings, shutdown: Arc<Notify>) {
    if settings.is_off() {
        return;
    }
    let mut delay = FIRST_PASS_AFTER;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.notified() => return,
        }
        match run_once(store.as_ref(), &settings, Timestamp::now()).await {
            Ok(report) => tracing::info!(
                events_cleared = report.events_cleared,
                messages_cleared = report.messages_cleared,
                deliveries_pruned = report.deliveries_pruned,
                "retention applied"
            ),
            Err(e) => tracing::warn!("retention failed (retried tomorrow): {e}"),
        }
        delay = std::time::Duration::from_secs(24 * 3600);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_cut_off() {
        let config = RetentionConfig {
            events_properties: "400d".into(),
            sent_messages: "0s".into(),
            raw_payloads: "30d".into(),
        };
        let settings = RetentionSettings::parse(&config).unwrap();
        assert_eq!(settings.sent_messages, None);
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let cut = settings.cutoffs(now);
        assert_eq!(
            cut.events_properties,
            Some("2024-11-27T00:00:00Z".parse().unwrap())
        );
        assert_eq!(cut.sent_messages, None);
        let bad = RetentionConfig {
            events_properties: "soon".into(),
            ..RetentionConfig::default()
        };
        let err = RetentionSettings::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("events_properties"), "{err}");
        assert!(RetentionSettings::parse(&RetentionConfig::default())
            .unwrap()
            .is_off());
    }
}
