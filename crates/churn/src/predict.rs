//! Per-customer forecasts, and the calibration/holdout check of a model against what happened.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::rfm::{check_values, day_number, last_day_before};
use super::{
    rfm_summary, ChurnError, CustomerRfm, FittedModel, GammaGamma, ModelKind, Period, Rfm,
    RfmOptions, Transaction,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub customer: String,
    pub p_alive: f64,
    /// Expected purchases in the next `horizon` periods.
    pub expected_purchases: f64,
    /// Expected value per purchase (Gamma-Gamma), when a spend model is given.
    pub expected_average_value: Option<f64>,
    /// `expected_purchases * expected_average_value`.
    pub expected_value: Option<f64>,
    pub rfm: Rfm,
}

/// Forecasts for each customer, in the order given.
pub fn predict(
    model: &FittedModel,
    spend: Option<&GammaGamma>,
    customers: &[CustomerRfm],
    horizon: f64,
) -> Vec<Prediction> {
    customers
        .par_iter()
        .with_min_len(1024)
        .map(|c| {
            let expected_purchases = model.expected_purchases(&c.rfm, horizon);
            let expected_average_value =
                spend.map(|g| g.expected_average_value(c.rfm.frequency, c.monetary));
            Prediction {
                customer: c.customer.clone(),
                p_alive: model.p_alive(&c.rfm),
                expected_purchases,
                expected_average_value,
                expected_value: expected_average_value.map(|v| v * expected_purchases),
                rfm: c.rfm,
            }
        })
        .collect()
}

/// One line of the classic check: customers grouped by calibration frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyRow {
    /// Calibration repeat purchases; the last row holds this many *or more*.
    pub frequency: u32,
    pub or_more: bool,
    pub customers: usize,
    pub mean_actual: f64,
    pub mean_predicted: f64,
}

/// One customer's holdout forecast next to what they did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutCustomer {
    pub customer: String,
    pub rfm: Rfm,
    pub predicted: f64,
    pub actual: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutReport {
    pub model: FittedModel,
    /// Holdout length in periods.
    pub holdout_length: f64,
    pub customers: usize,
    pub actual_total: f64,
    pub predicted_total: f64,
    pub mean_absolute_error: f64,
    /// Frequencies 0 to 6, then 7 or more.
    pub by_frequency: Vec<FrequencyRow>,
    pub per_customer: Vec<HoldoutCustomer>,
}

/// Groups with calibration frequency at or above this are pooled in the last row.
const POOLED_FREQUENCY: u32 = 7;

/// Fits `kind` on the transactions before `calibration_end`, forecasts each calibration customer's
/// purchase occasions (distinct UTC days) in `[calibration_end, holdout_end)`, and compares.
/// Customers first seen in the holdout are not part of the check (the model has no history for
/// them).
pub fn holdout_check(
    kind: ModelKind,
    transactions: &[Transaction],
    period: Period,
    calibration_end: jiff::Timestamp,
    holdout_end: jiff::Timestamp,
) -> Result<HoldoutReport, ChurnError> {
    if holdout_end <= calibration_end {
        return Err(ChurnError::InvalidArgument(format!(
            "holdout end {holdout_end} is not after calibration end {calibration_end}"
        )));
    }
    check_values(transactions)?;
    let calibration = rfm_summary(
        transactions,
        &RfmOptions {
            period,
            calibration_end,
        },
    )?;
    let rfms: Vec<Rfm> = calibration.iter().map(|c| c.rfm).collect();
    let model = FittedModel::fit(kind, &rfms, period)?;

    // Same day counting as the calibration T: whole days from the last calibration day.
    let holdout_length =
        (last_day_before(holdout_end) - last_day_before(calibration_end)) as f64 / period.days();
    let mut holdout_days: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for t in transactions
        .iter()
        .filter(|t| t.at >= calibration_end && t.at < holdout_end)
    {
        holdout_days
            .entry(t.customer.as_str())
            .or_default()
            .insert(day_number(t.at));
    }

    let per_customer: Vec<HoldoutCustomer> = calibration
        .par_iter()
        .map(|c| HoldoutCustomer {
            customer: c.customer.clone(),
            rfm: c.rfm,
            predicted: model.expected_purchases(&c.rfm, holdout_length),
            actual: holdout_days
                .get(c.customer.as_str())
                .map_or(0.0, |d| d.len() as f64),
        })
        .collect();
    if let Some(bad) = per_customer.iter().find(|c| !c.predicted.is_finite()) {
        return Err(ChurnError::InvalidArgument(format!(
            "the forecast for customer {:?} is not finite (holdout too long for the series?)",
            bad.customer
        )));
    }

    let n = per_customer.len();
    let actual_total = per_customer.iter().map(|c| c.actual).sum();
    let predicted_total = per_customer.iter().map(|c| c.predicted).sum();
    let mean_absolute_error = per_customer
        .iter()
        .map(|c| (c.predicted - c.actual).abs())
        .sum::<f64>()
        / n as f64;
    let by_frequency = (0..=POOLED_FREQUENCY)
        .map(|f| {
            let group: Vec<&HoldoutCustomer> = per_customer
                .iter()
                .filter(|c| {
                    let x = c.rfm.frequency;
                    if f == POOLED_FREQUENCY {
                        x >= f64::from(f)
                    } else {
                        x == f64::from(f)
                    }
                })
                .collect();
            let count = group.len();
            let mean = |get: fn(&HoldoutCustomer) -> f64| {
                if count == 0 {
                    0.0
                } else {
                    group.iter().map(|c| get(c)).sum::<f64>() / count as f64
                }
            };
            FrequencyRow {
                frequency: f,
                or_more: f == POOLED_FREQUENCY,
                customers: count,
                mean_actual: mean(|c| c.actual),
                mean_predicted: mean(|c| c.predicted),
            }
        })
        .collect();
    Ok(HoldoutReport {
        model,
        holdout_length,
        customers: n,
        actual_total,
        predicted_total,
        mean_absolute_error,
        by_frequency,
        per_customer,
    })
}
