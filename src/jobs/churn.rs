//! Noticing silence: the churn refit. Purchase events → per-customer RFM → a buy-till-you-die model
//! (`crate::churn`) → stored scores → a `customer.gone_quiet` event for every buyer who has probably left
//! while still worth winning back. That event opens the `gone-quiet` policy's obligation, so the buyer is
//! invisible, with that reason, until someone reaches out or they buy again.

use std::sync::Arc;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tokio::sync::Notify;

use crate::churn::{
    predict, rfm_summary_of, ChurnError, CustomerRfm, FittedModel, GammaGamma, ModelKind, Period,
    Purchases, RfmOptions,
};
use crate::config::ChurnConfig;
use crate::domain::{Event, ProfileUpdate};
use crate::service::Service;
use crate::store::{ChurnScore, StoreError};

/// The event type a refit records for a buyer who went quiet.
pub const GONE_QUIET: &str = "customer.gone_quiet";

#[derive(Debug, thiserror::Error)]
pub enum ChurnJobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Model(#[from] ChurnError),
    #[error("[churn] {field}: {reason}")]
    Setting { field: &'static str, reason: String },
}

/// `[churn]`, validated.
#[derive(Debug, Clone)]
pub struct ChurnSettings {
    pub kind: ModelKind,
    pub period: Period,
    pub purchase_types: Vec<String>,
    pub horizon: f64,
    pub gone_quiet_below: f64,
    pub value_above: f64,
    /// `None`: `seen serve` never refits by itself.
    pub refit_every: Option<SignedDuration>,
    pub flag_gone_quiet: bool,
}

fn setting(field: &'static str, reason: impl Into<String>) -> ChurnJobError {
    ChurnJobError::Setting {
        field,
        reason: reason.into(),
    }
}

/// `[churn] model` / `--model`, by the model's own parser (`ModelKind: FromStr`).
pub fn parse_kind(text: &str) -> Result<ModelKind, ChurnJobError> {
    text.parse()
        .map_err(|e: ChurnError| setting("model", e.to_string()))
}

/// `[churn] unit` / `--unit`, by the period's own parser (`Period: FromStr`).
pub fn parse_period(text: &str) -> Result<Period, ChurnJobError> {
    text.parse()
        .map_err(|e: ChurnError| setting("unit", e.to_string()))
}

impl ChurnSettings {
    pub fn parse(config: &ChurnConfig) -> Result<ChurnSettings, ChurnJobError> {
        if config.purchase_types.is_empty() {
            return Err(setting("purchase_types", "name at least one event type"));
        }
        if !(config.horizon.is_finite() && config.horizon > 0.0) {
            return Err(setting("horizon", "must be a positive number of periods"));
        }
        if !(0.0..=1.0).contains(&config.gone_quiet_below) {
            return Err(setting("gone_quiet_below", "must be a probability, 0 to 1"));
        }
        if !config.value_above.is_finite() {
            return Err(setting("value_above", "must be a number"));
        }
        let every = crate::domain::span::parse_span(&config.refit_every)
            .map_err(|e| setting("refit_every", e.to_string()))?;
        Ok(ChurnSettings {
            kind: parse_kind(&config.model)?,
            period: parse_period(&config.unit)?,
            purchase_types: config.purchase_types.clone(),
            horizon: config.horizon,
            gone_quiet_below: config.gone_quiet_below,
            value_above: config.value_above,
            refit_every: (every > SignedDuration::ZERO).then_some(every),
            flag_gone_quiet: config.flag_gone_quiet,
        })
    }
}

/// What one refit did.
#[derive(Debug, Clone, Serialize)]
pub struct RefitOutcome {
    pub fitted_at: Timestamp,
    /// The stored model: `{ "model": …, "spend": …, "settings": … }`.
    pub model: serde_json::Value,
    pub purchases: usize,
    pub customers: usize,
    pub gone_quiet: usize,
    /// Whether this fit may flag anyone (`false`: it did not converge, or the data ended long ago).
    pub usable: bool,
    /// Why not, when `usable` is false.
    pub unusable_because: Vec<String>,
    /// `customer.gone_quiet` events recorded now (a buyer already flagged for the same last purchase is
    /// not flagged twice).
    pub newly_flagged: usize,
    pub fit_seconds: f64,
    pub total_seconds: f64,
}

/// The id of the gone-quiet event of a buyer whose last purchase was at `last`: stable, so a refit that
/// reaches the same verdict records nothing new.
pub fn gone_quiet_id(customer: &str, last: Timestamp) -> String {
    format!("gone-quiet:{customer}:{}", last.as_second())
}

/// Fits the model on every purchase up to `now`, stores the scores, and flags the buyers who went quiet.
pub async fn refit(
    service: &Service,
    settings: &ChurnSettings,
    now: Timestamp,
) -> Result<RefitOutcome, ChurnJobError> {
    let started = Instant::now();
    let bought = service
        .store()
        .purchases(settings.purchase_types.clone(), now)
        .await?;
    let purchases = bought.len();
    let settings_owned = settings.clone();
    // The fit is CPU work: keep it off the async workers.
    let (model, spend, scores, customers, fit_seconds, check) =
        tokio::task::spawn_blocking(move || score(&settings_owned, &bought, now))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
    let usable = check.unusable_because.is_empty();
    if !usable {
        tracing::warn!(
            model = %model.kind,
            converged = model.converged,
            "churn fit as of {now:.0} not used: nobody is flagged as gone quiet, because {}",
            check.unusable_because.join("; ")
        );
    }
    let stored = stored_model(settings, &model, spend.as_ref(), purchases, &check);
    let gone_quiet = scores.iter().filter(|s| s.gone_quiet).count();
    let quiet = if settings.flag_gone_quiet {
        unrecorded_gone_quiet(service, &scores, &model, now).await?
    } else {
        Vec::new()
    };
    service
        .store()
        .save_churn(now, stored.clone(), scores)
        .await?;
    let newly_flagged = flag(service, &quiet).await?;
    Ok(RefitOutcome {
        fitted_at: now,
        model: stored,
        purchases,
        customers,
        gone_quiet,
        usable,
        unusable_because: check.unusable_because,
        newly_flagged,
        fit_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The stored model: `{ "model": …, "spend": …, "settings": … }` and the fit's check.
fn stored_model(
    settings: &ChurnSettings,
    model: &FittedModel,
    spend: Option<&GammaGamma>,
    purchases: usize,
    check: &FitCheck,
) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "spend": spend,
        "settings": {
            "model": model.kind,
            "unit": model.period,
            "purchase_types": settings.purchase_types,
            "horizon": settings.horizon,
            "gone_quiet_below": settings.gone_quiet_below,
            "value_above": settings.value_above,
        },
        "purchases": purchases,
        "usable": check.unusable_because.is_empty(),
        "unusable_because": check.unusable_because,
        "data_ends": check.data_ends,
        "typical_gap_days": check.typical_gap_days,
    })
}

/// The gone-quiet events of the buyers flagged now that are not recorded yet (a buyer already flagged for
/// the same last purchase has one, with the same id: ingesting it again would be a duplicate).
async fn unrecorded_gone_quiet(
    service: &Service,
    scores: &[ChurnScore],
    model: &FittedModel,
    now: Timestamp,
) -> Result<Vec<Event>, StoreError> {
    let quiet: Vec<&ChurnScore> = scores.iter().filter(|s| s.gone_quiet).collect();
    if quiet.is_empty() {
        return Ok(Vec::new());
    }
    let ids = quiet
        .iter()
        .map(|s| gone_quiet_id(&s.customer, s.last_purchase_at))
        .collect();
    let stored = service.store().stored_event_ids(ids).await?;
    Ok(quiet
        .into_iter()
        .zip(stored)
        .filter(|(_, stored)| !stored)
        .map(|(s, _)| gone_quiet_event(s, model, now))
        .collect())
}

/// Records the gone-quiet events; returns how many were new (a buyer already flagged for the same last
/// purchase is a duplicate).
async fn flag(service: &Service, quiet: &[Event]) -> Result<usize, StoreError> {
    let mut newly_flagged = 0;
    for chunk in quiet.chunks(5_000) {
        newly_flagged += service
            .ingest(chunk.to_vec())
            .await?
            .iter()
            .filter(|i| matches!(i, crate::store::Ingested::Accepted))
            .count();
    }
    Ok(newly_flagged)
}

/// The fit, the spend model, the buyers' scores (none when the fit is not usable), the number of buyers, the
/// fit's seconds and the check.
type Scored = (
    FittedModel,
    Option<GammaGamma>,
    Vec<ChurnScore>,
    usize,
    f64,
    FitCheck,
);

/// Data that ends this many typical gaps between a buyer's purchases before `as_of` is too old to say who
/// went quiet: every buyer would look gone (CDNOW's 1997-98 purchases fitted as of today).
pub const STALE_AFTER_GAPS: f64 = 4.0;

/// Whether a fit may flag anyone, and why not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitCheck {
    /// The last purchase of all.
    pub data_ends: Option<Timestamp>,
    /// The median over repeat buyers of their average time between purchases (recency / repeats), in days.
    pub typical_gap_days: Option<f64>,
    /// Empty: usable.
    pub unusable_because: Vec<String>,
}

/// A fit flags buyers only if the optimiser converged (else the parameters may be anywhere: s = 121.9,
/// β = 4 998 on CDNOW as of today) and the data is current: the last purchase of all is no older than
/// `STALE_AFTER_GAPS` typical gaps between a buyer's purchases.
pub fn check_fit(model: &FittedModel, customers: &[CustomerRfm], as_of: Timestamp) -> FitCheck {
    let mut unusable_because = Vec::new();
    if !model.converged {
        unusable_because.push(format!(
            "the fit did not converge (stopped after {} iterations; its parameters are not reliable)",
            model.iterations
        ));
    }
    let data_ends = customers.iter().map(|c| c.last).max();
    let mut gaps: Vec<f64> = customers
        .iter()
        .filter(|c| c.rfm.frequency >= 1.0)
        .map(|c| c.rfm.recency / c.rfm.frequency * model.period.days())
        .filter(|g| g.is_finite())
        .collect();
    gaps.sort_by(f64::total_cmp);
    let typical_gap_days = (!gaps.is_empty()).then(|| gaps[gaps.len() / 2]);
    if let (Some(end), Some(gap)) = (data_ends, typical_gap_days) {
        let quiet_days = (as_of.as_second() - end.as_second()) as f64 / 86_400.0;
        let limit = STALE_AFTER_GAPS * gap.max(1.0);
        if quiet_days > limit {
            unusable_because.push(format!(
                "the data ends {quiet_days:.0} days before {as_of:.0} (last purchase {end:.0}), more than \
                 {STALE_AFTER_GAPS} typical gaps between a buyer's purchases ({gap:.1} days): every buyer would \
                 look gone"
            ));
        }
    }
    FitCheck {
        data_ends,
        typical_gap_days,
        unusable_because,
    }
}

fn score(
    settings: &ChurnSettings,
    purchases: &Purchases,
    now: Timestamp,
) -> Result<Scored, ChurnError> {
    let customers = rfm_summary_of(
        purchases,
        &RfmOptions {
            period: settings.period,
            calibration_end: now,
        },
    )?;
    let fit_started = Instant::now();
    let rfms: Vec<_> = customers.iter().map(|c| c.rfm).collect();
    let model = FittedModel::fit(settings.kind, &rfms, settings.period)?;
    // Without amounts (or repeat buyers with amounts) there is no spend model; each buyer's own mean
    // spend stands in.
    let spend = GammaGamma::fit(&customers).ok();
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let check = check_fit(&model, &customers, now);
    let usable = check.unusable_because.is_empty();
    if !usable {
        // Predictions from parameters that are not reliable would only mislead (and with degenerate
        // parameters each buyer's 2F1 series converges slowly: minutes for 100 000 buyers).
        return Ok((
            model,
            spend,
            Vec::new(),
            customers.len(),
            fit_seconds,
            check,
        ));
    }
    let predictions = predict(&model, spend.as_ref(), &customers, settings.horizon);
    let scores = customers
        .iter()
        .zip(predictions)
        .map(|(c, p)| {
            let average_value = p
                .expected_average_value
                .or((c.monetary > 0.0).then_some(c.monetary));
            // E[purchases] = P(alive) × E[purchases | alive]: what the horizon holds if they are still here.
            let if_active = p.expected_purchases / p.p_alive.max(1e-12);
            let value_if_active = average_value.map(|v| v * if_active);
            let value_at_risk = value_if_active.map(|v| (1.0 - p.p_alive) * v);
            let worth =
                value_if_active.map_or(settings.value_above <= 0.0, |v| v >= settings.value_above);
            ChurnScore {
                customer: c.customer.clone(),
                p_alive: p.p_alive,
                expected_purchases: p.expected_purchases,
                average_value,
                value_if_active,
                value_at_risk,
                frequency: c.rfm.frequency,
                recency: c.rfm.recency,
                age: c.rfm.t,
                last_purchase_at: c.last,
                gone_quiet: p.p_alive < settings.gone_quiet_below && worth,
            }
        })
        .collect();
    Ok((model, spend, scores, customers.len(), fit_seconds, check))
}

fn gone_quiet_event(score: &ChurnScore, model: &FittedModel, now: Timestamp) -> Event {
    let properties = serde_json::json!({
        "p_alive": score.p_alive,
        "value_if_active": score.value_if_active,
        "last_purchase_at": score.last_purchase_at.to_string(),
        "purchases": score.frequency + 1.0,
        "model": model.kind,
    });
    Event {
        id: gone_quiet_id(&score.customer, score.last_purchase_at),
        kind: GONE_QUIET.to_string(),
        customer: score.customer.clone(),
        at: now,
        channel: None,
        reference: None,
        properties: Some(properties.to_string()),
        profile: ProfileUpdate::default(),
    }
}

/// `seen serve`'s refit loop: one refit at start (after a minute, or `refit_every` if shorter, so that
/// start-up work goes first) and then every `refit_every`. A failed fit is logged and retried at the next turn.
pub async fn run(
    service: Service,
    settings: ChurnSettings,
    wake: crate::jobs::Wake,
    shutdown: Arc<Notify>,
) {
    let Some(every) = settings.refit_every else {
        return;
    };
    let mut delay = std::time::Duration::from_secs(60).min(every.unsigned_abs());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.notified() => return,
        }
        let started = std::time::Instant::now();
        match refit(&service, &settings, Timestamp::now()).await {
            Ok(outcome) => {
                tracing::info!(
                    customers = outcome.customers,
                    usable = outcome.usable,
                    gone_quiet = outcome.gone_quiet,
                    newly_flagged = outcome.newly_flagged,
                    seconds = outcome.total_seconds,
                    "churn model refitted"
                );
                if outcome.newly_flagged > 0 {
                    wake.ingested();
                }
            }
            Err(ChurnJobError::Model(e)) => tracing::info!("churn model not fitted: {e}"),
            Err(e) => tracing::warn!("churn refit failed: {e}"),
        }
        crate::metrics::job_ran("churn", started);
        crate::jobs::release_memory();
        delay = every.unsigned_abs();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::churn::{ModelParams, ParetoNbdParams, Rfm};

    fn model(converged: bool) -> FittedModel {
        FittedModel {
            kind: ModelKind::ParetoNbd,
            params: ModelParams::ParetoNbd(ParetoNbdParams {
                r: 0.55,
                alpha: 10.6,
                s: 0.6,
                beta: 11.7,
            }),
            log_likelihood: -9_595.0,
            customers: 3,
            iterations: 40,
            converged,
            period: Period::Week,
        }
    }

    /// A buyer with `repeats` repeat purchases spread over `recency` weeks, the last on `last`.
    fn buyer(name: &str, repeats: f64, recency: f64, last: &str) -> CustomerRfm {
        let last: Timestamp = last.parse().unwrap();
        CustomerRfm {
            customer: name.into(),
            rfm: Rfm {
                frequency: repeats,
                recency,
                t: recency + 1.0,
            },
            monetary: 10.0,
            first: last - SignedDuration::from_hours((recency * 7.0 * 24.0) as i64),
            last,
        }
    }

    fn buyers() -> Vec<CustomerRfm> {
        // Average gaps of 1, 2 and 10 weeks: the typical gap is the median, 2 weeks (14 days).
        vec![
            buyer("a", 4.0, 4.0, "1998-06-01T12:00:00Z"),
            buyer("b", 2.0, 4.0, "1998-06-30T12:00:00Z"),
            buyer("c", 1.0, 10.0, "1998-03-01T12:00:00Z"),
            buyer("d", 0.0, 0.0, "1998-01-10T12:00:00Z"),
        ]
    }

    #[test]
    fn a_converged_fit_on_current_data_is_usable() {
        let check = check_fit(
            &model(true),
            &buyers(),
            "1998-07-01T00:00:00Z".parse().unwrap(),
        );
        assert_eq!(check.unusable_because, Vec::<String>::new());
        assert_eq!(check.typical_gap_days, Some(14.0));
        assert_eq!(
            check.data_ends,
            Some("1998-06-30T12:00:00Z".parse().unwrap())
        );
        // Four typical gaps (56 days) after the last purchase is still current.
        let edge = check_fit(
            &model(true),
            &buyers(),
            "1998-08-25T00:00:00Z".parse().unwrap(),
        );
        assert!(edge.unusable_because.is_empty(), "{edge:?}");
    }

    #[test]
    fn a_fit_that_did_not_converge_or_on_old_data_is_not_used() {
        let as_of = "1998-07-01T00:00:00Z".parse().unwrap();
        let check = check_fit(&model(false), &buyers(), as_of);
        assert_eq!(check.unusable_because.len(), 1);
        assert!(
            check.unusable_because[0].contains("did not converge"),
            "{check:?}"
        );
        // More than four typical gaps (56 days) since the last purchase of all.
        let late = check_fit(
            &model(true),
            &buyers(),
            "1998-08-26T12:00:00Z".parse().unwrap(),
        );
        assert_eq!(late.unusable_because.len(), 1, "{late:?}");
        assert!(late.unusable_because[0].contains("the data ends 57 days before"));
        let today = check_fit(
            &model(false),
            &buyers(),
            "2026-11-30T00:00:00Z".parse().unwrap(),
        );
        assert_eq!(today.unusable_because.len(), 2, "{today:?}");
    }
}
