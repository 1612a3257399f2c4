//! The fitted count model: which one, its parameters, and how the fit went.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::bgnbd::{self, BgNbdObjective};
use super::optimize::{minimize, Optimum};
use super::pareto::{self, ParetoObjective};
use super::{ChurnError, Period, Rfm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    #[serde(rename = "bgnbd")]
    BgNbd,
    #[serde(rename = "pareto")]
    ParetoNbd,
}

impl std::str::FromStr for ModelKind {
    type Err = ChurnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "bgnbd" | "bg/nbd" | "bg-nbd" => Ok(ModelKind::BgNbd),
            "pareto" | "paretonbd" | "pareto/nbd" | "pareto-nbd" => Ok(ModelKind::ParetoNbd),
            other => Err(ChurnError::InvalidArgument(format!(
                "unknown model {other:?}; expected bgnbd or pareto"
            ))),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::BgNbd => "bgnbd",
            ModelKind::ParetoNbd => "pareto",
        })
    }
}

/// BG/NBD: purchase rate λ ~ Gamma(shape r, rate α); dropout probability p ~ Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Pareto/NBD: purchase rate λ ~ Gamma(shape r, rate α); dropout rate μ ~ Gamma(shape s, rate β).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

/// Serialised as the bare parameter object (`{"r":..,"alpha":..,"a":..,"b":..}` or
/// `{"r":..,"alpha":..,"s":..,"beta":..}`); the field names tell the models apart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelParams {
    BgNbd(BgNbdParams),
    ParetoNbd(ParetoNbdParams),
}

impl ModelParams {
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelParams::BgNbd(_) => ModelKind::BgNbd,
            ModelParams::ParetoNbd(_) => ModelKind::ParetoNbd,
        }
    }

    /// Probability that a customer with this history is still active at the end of calibration.
    pub fn p_alive(&self, rfm: &Rfm) -> f64 {
        match self {
            ModelParams::BgNbd(p) => bgnbd::p_alive(p, rfm),
            ModelParams::ParetoNbd(p) => pareto::p_alive(p, rfm),
        }
    }

    /// Expected number of purchases in the `horizon` periods after calibration, given the history.
    ///
    /// Expects a valid `Rfm` (see [`Rfm::validate`]). BG/NBD sums a 2F1 series in
    /// z = horizon/(α+T+horizon); horizons beyond about 10^5 times α+T exceed its term cap and
    /// give NaN (no realistic horizon comes near).
    pub fn expected_purchases(&self, rfm: &Rfm, horizon: f64) -> f64 {
        match self {
            ModelParams::BgNbd(p) => bgnbd::expected_purchases(p, rfm, horizon),
            ModelParams::ParetoNbd(p) => pareto::expected_purchases(p, rfm, horizon),
        }
    }

    /// Log-likelihood of one customer's history.
    pub fn log_likelihood(&self, rfm: &Rfm) -> f64 {
        match self {
            ModelParams::BgNbd(p) => bgnbd::log_likelihood_one(p, rfm),
            ModelParams::ParetoNbd(p) => pareto::log_likelihood_one(p, rfm),
        }
    }

    fn from_log(kind: ModelKind, theta: &[f64]) -> Self {
        let e: Vec<f64> = theta.iter().map(|v| v.exp()).collect();
        match kind {
            ModelKind::BgNbd => ModelParams::BgNbd(BgNbdParams {
                r: e[0],
                alpha: e[1],
                a: e[2],
                b: e[3],
            }),
            ModelKind::ParetoNbd => ModelParams::ParetoNbd(ParetoNbdParams {
                r: e[0],
                alpha: e[1],
                s: e[2],
                beta: e[3],
            }),
        }
    }
}

/// A fitted count model with its fit summary. Stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedModel {
    pub kind: ModelKind,
    pub params: ModelParams,
    /// Total log-likelihood over all customers at the optimum.
    pub log_likelihood: f64,
    pub customers: usize,
    pub iterations: u64,
    pub converged: bool,
    /// The unit of recency, T and horizons the parameters were fitted in.
    pub period: Period,
}

impl FittedModel {
    /// Maximum-likelihood fit. Needs at least two valid customers, some with T > 0 and some
    /// with a repeat purchase.
    pub fn fit(kind: ModelKind, data: &[Rfm], period: Period) -> Result<Self, ChurnError> {
        check_fit_data(data)?;
        let columns = Columns::new(data);
        // Start at all parameters = 1 (log-parameters 0).
        let start = vec![0.0; 4];
        let optimum = match kind {
            ModelKind::BgNbd => minimize(&BgNbdObjective::new(&columns), start)?,
            ModelKind::ParetoNbd => minimize(&ParetoObjective::new(&columns), start)?,
        };
        finish(kind, &optimum, data.len(), period)
    }

    pub fn p_alive(&self, rfm: &Rfm) -> f64 {
        self.params.p_alive(rfm)
    }

    /// Conditional expected purchases in the next `horizon` periods.
    pub fn expected_purchases(&self, rfm: &Rfm, horizon: f64) -> f64 {
        self.params.expected_purchases(rfm, horizon)
    }
}

/// Turns an optimum into a model, refusing anything non-finite.
fn finish(
    kind: ModelKind,
    optimum: &Optimum,
    customers: usize,
    period: Period,
) -> Result<FittedModel, ChurnError> {
    let log_likelihood = -optimum.value * customers as f64;
    if !log_likelihood.is_finite() {
        return Err(ChurnError::NonFiniteLikelihood { log_likelihood });
    }
    let params = ModelParams::from_log(kind, &optimum.log_params);
    if optimum.log_params.iter().any(|v| !v.exp().is_finite()) {
        return Err(ChurnError::Optimizer(format!(
            "a parameter is not finite at the optimum: {params:?}"
        )));
    }
    Ok(FittedModel {
        kind,
        params,
        log_likelihood,
        customers,
        iterations: optimum.iterations,
        converged: optimum.converged,
        period,
    })
}

pub(crate) fn check_fit_data(data: &[Rfm]) -> Result<(), ChurnError> {
    match data.len() {
        0 => return Err(ChurnError::NoCustomers),
        1 => {
            return Err(ChurnError::TooFewCustomers {
                customers: 1,
                needed: 2,
            })
        }
        _ => {}
    }
    for (index, rfm) in data.iter().enumerate() {
        rfm.validate()
            .map_err(|reason| ChurnError::InvalidRfm { index, reason })?;
    }
    if data.iter().all(|d| d.t == 0.0) {
        return Err(ChurnError::NoObservationTime);
    }
    if data.iter().all(|d| d.frequency == 0.0) {
        return Err(ChurnError::NoRepeatBuyers);
    }
    Ok(())
}

/// A fast non-cryptographic hasher for the row merge (keys are our own numbers, not attacker
/// input; std's SipHash cost more than the whole fit on a million rows).
#[derive(Default)]
struct RowHasher(u64);

impl Hasher for RowHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        // The FxHash step: the multiply carries every input bit into the top bits hashbrown uses.
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type RowMap<K, V> = HashMap<K, V, BuildHasherDefault<RowHasher>>;

/// Distinct values of a column in order of first appearance, and each row's index into them.
fn level_index(values: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let mut index_of: RowMap<u64, u32> = RowMap::default();
    let mut levels = Vec::new();
    let index = values
        .iter()
        .map(|&v| {
            *index_of.entry(v.to_bits()).or_insert_with(|| {
                levels.push(v);
                // Fewer than 2^32 distinct values: callers pass far fewer rows than that.
                (levels.len() - 1) as u32
            })
        })
        .collect();
    (levels, index)
}

type RowKey = (u64, u64, u64);

/// Distinct (frequency, recency, T) rows (as bits) in order of first appearance, with counts.
struct Merged {
    row_of: RowMap<RowKey, u32>,
    rows: Vec<RowKey>,
    weight: Vec<f64>,
}

impl Merged {
    fn new(data: &[Rfm]) -> Self {
        let mut merged = Merged {
            // Sized for the distinct rows, not the customers: a table as large as the input
            // spreads the lookups over tens of megabytes, and growing it costs less.
            row_of: RowMap::with_capacity_and_hasher(data.len().min(1 << 14), Default::default()),
            rows: Vec::new(),
            weight: Vec::new(),
        };
        for d in data {
            merged.add(
                (d.frequency.to_bits(), d.recency.to_bits(), d.t.to_bits()),
                1.0,
            );
        }
        merged
    }

    fn add(&mut self, key: RowKey, w: f64) {
        // Fewer than 2^32 rows: callers pass far fewer customers than that.
        let next = self.rows.len() as u32;
        let row = *self.row_of.entry(key).or_insert(next) as usize;
        if row == self.rows.len() {
            self.rows.push(key);
            self.weight.push(w);
        } else {
            self.weight[row] += w;
        }
    }
}

/// The data in columns, with identical (frequency, recency, T) rows merged into one row with a
/// weight (real data sits on a day grid, so rows repeat: 1 000 000 simulated customers make
/// about 106 000 distinct rows; the likelihood is the same sum, in fewer terms). Also the
/// distinct frequencies and how many customers have each (terms that depend on the frequency
/// alone are computed once per distinct value), and the distinct recencies and ages with each
/// row's index into them (so that ln(α + T) and the like are computed once per distinct value).
pub(crate) struct Columns {
    pub x: Vec<f64>,
    pub recency: Vec<f64>,
    pub t: Vec<f64>,
    /// How many customers each row stands for.
    pub weight: Vec<f64>,
    /// Total number of customers (the sum of `weight`).
    pub customers: f64,
    /// Distinct frequencies, ascending, and the customers with each.
    pub levels: Vec<f64>,
    pub level_counts: Vec<f64>,
    /// Each row's index into `levels`.
    pub x_index: Vec<u32>,
    /// Distinct recencies resp. ages T, and each row's index into them.
    pub recency_levels: Vec<f64>,
    pub recency_index: Vec<u32>,
    pub t_levels: Vec<f64>,
    pub t_index: Vec<u32>,
}

impl Columns {
    pub fn new(data: &[Rfm]) -> Self {
        let mut columns = Columns {
            x: Vec::new(),
            recency: Vec::new(),
            t: Vec::new(),
            weight: Vec::new(),
            customers: data.len() as f64,
            levels: Vec::new(),
            level_counts: Vec::new(),
            x_index: Vec::new(),
            recency_levels: Vec::new(),
            recency_index: Vec::new(),
            t_levels: Vec::new(),
            t_index: Vec::new(),
        };
        let merged = Merged::new(data);
        for (&(x, recency, t), w) in merged.rows.iter().zip(merged.weight) {
            columns.x.push(f64::from_bits(x));
            columns.recency.push(f64::from_bits(recency));
            columns.t.push(f64::from_bits(t));
            columns.weight.push(w);
        }
        let (levels, first_seen_index) = level_index(&columns.x);
        // Frequencies are validated whole numbers >= 0: sort the levels ascending.
        let mut order: Vec<u32> = (0..levels.len() as u32).collect();
        order.sort_unstable_by(|&i, &j| levels[i as usize].total_cmp(&levels[j as usize]));
        let mut rank = vec![0_u32; levels.len()];
        for (position, &level) in order.iter().enumerate() {
            rank[level as usize] = position as u32;
        }
        columns.levels = order.iter().map(|&i| levels[i as usize]).collect();
        columns.x_index = first_seen_index.iter().map(|&i| rank[i as usize]).collect();
        columns.level_counts = vec![0.0; levels.len()];
        for (&level, w) in columns.x_index.iter().zip(&columns.weight) {
            columns.level_counts[level as usize] += w;
        }
        (columns.recency_levels, columns.recency_index) = level_index(&columns.recency);
        (columns.t_levels, columns.t_index) = level_index(&columns.t);
        columns
    }

    /// Number of distinct rows.
    pub fn len(&self) -> usize {
        self.x.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_non_finite_optimum_is_an_error() {
        for value in [f64::NAN, f64::INFINITY] {
            let optimum = Optimum {
                log_params: vec![0.0; 4],
                value,
                iterations: 3,
                converged: true,
            };
            let err = finish(ModelKind::BgNbd, &optimum, 10, Period::Week).unwrap_err();
            assert!(
                matches!(err, ChurnError::NonFiniteLikelihood { .. }),
                "{err:?}"
            );
        }
        let optimum = Optimum {
            log_params: vec![0.0, 800.0, 0.0, 0.0],
            value: 1.0,
            iterations: 3,
            converged: true,
        };
        let err = finish(ModelKind::ParetoNbd, &optimum, 10, Period::Week).unwrap_err();
        assert!(matches!(err, ChurnError::Optimizer(_)), "{err:?}");
    }

    #[test]
    fn churn_params_json_shape() {
        let p = ModelParams::BgNbd(BgNbdParams {
            r: 1.0,
            alpha: 2.0,
            a: 3.0,
            b: 4.0,
        });
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"r":1.0,"alpha":2.0,"a":3.0,"b":4.0}"#);
        assert_eq!(serde_json::from_str::<ModelParams>(&json).unwrap(), p);
        let q: ModelParams =
            serde_json::from_str(r#"{"r":1.0,"alpha":2.0,"s":3.0,"beta":4.0}"#).unwrap();
        assert_eq!(q.kind(), ModelKind::ParetoNbd);
    }
}
