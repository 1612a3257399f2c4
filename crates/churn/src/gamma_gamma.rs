//! Gamma-Gamma spend model: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves
//! for customer base analysis", Journal of Marketing Research 42(4), and Fader & Hardie's note
//! "The Gamma-Gamma model of monetary value" (2013).
//!
//! Each transaction's value is Gamma(p, ν) and a customer's ν ~ Gamma(q, v); the mean of x
//! transactions then has a closed-form marginal likelihood.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::optimize::{minimize, Objective};
use super::special::{digamma, ln_gamma};
use super::{ChurnError, CustomerRfm};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
    pub log_likelihood: f64,
    /// Customers the fit used: those with repeat purchases of positive mean value.
    pub customers: usize,
}

/// Rows per rayon task: below this the per-row sum runs on one thread.
const CHUNK: usize = 8192;

/// The fit data, arranged so that an evaluation does as little per row as possible: every term
/// of the log-likelihood that is linear in a parameter is summed once here, the log-gamma and
/// digamma terms depend on the frequency alone and are computed once per distinct frequency, and
/// only ln(x·m + v) is left per row.
struct Objective3 {
    /// x·m per customer.
    xm: Vec<f64>,
    x: Vec<f64>,
    /// Distinct frequencies and how many customers have each.
    levels: Vec<f64>,
    level_counts: Vec<f64>,
    /// Σ x ln m + Σ x ln x, and Σ ln m.
    sum_x_ln_mx: f64,
    sum_ln_m: f64,
}

impl Objective3 {
    fn new(x: &[f64], m: &[f64]) -> Self {
        // Frequencies are whole numbers > 0, so their bit patterns sort like them.
        let mut counts = std::collections::BTreeMap::<u64, f64>::new();
        let (mut sum_x_ln_mx, mut sum_ln_m) = (0.0, 0.0);
        for (&x, &m) in x.iter().zip(m) {
            *counts.entry(x.to_bits()).or_default() += 1.0;
            sum_x_ln_mx += x * (m.ln() + x.ln());
            sum_ln_m += m.ln();
        }
        Objective3 {
            xm: x.iter().zip(m).map(|(x, m)| x * m).collect(),
            x: x.to_vec(),
            levels: counts.keys().map(|&b| f64::from_bits(b)).collect(),
            level_counts: counts.values().copied().collect(),
            sum_x_ln_mx,
            sum_ln_m,
        }
    }
}

impl Objective for Objective3 {
    fn value_and_gradient(&self, log_params: &[f64]) -> Option<(f64, Vec<f64>)> {
        let (p, q, v) = (
            log_params[0].exp(),
            log_params[1].exp(),
            log_params[2].exp(),
        );
        let n = self.x.len() as f64;
        let ln_v = v.ln();
        // Per customer: ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m + px ln x
        // − (px+q) ln(xm+v). Frequency-only terms per level:
        let mut total = [0.0_f64; 4]; // value, d/dp, d/dq, d/dv
        for (&x, &count) in self.levels.iter().zip(&self.level_counts) {
            let px = p * x;
            let psi_pxq = digamma(px + q);
            total[0] += count * (ln_gamma(px + q) - ln_gamma(px));
            total[1] += count * x * (psi_pxq - digamma(px));
            total[2] += count * psi_pxq;
        }
        total[0] += n * (q * ln_v - ln_gamma(q)) + p * self.sum_x_ln_mx - self.sum_ln_m;
        total[1] += self.sum_x_ln_mx;
        total[2] += n * (ln_v - digamma(q));
        total[3] += n * q / v;
        // Per row: Σ ln(xm+v), Σ x ln(xm+v), Σ (px+q)/(xm+v).
        let rows = (0..self.x.len())
            .into_par_iter()
            .with_min_len(CHUNK)
            .fold(
                || [0.0_f64; 3],
                |mut acc, i| {
                    let (x, xm_v) = (self.x[i], self.xm[i] + v);
                    let ln_xm_v = xm_v.ln();
                    acc[0] += ln_xm_v;
                    acc[1] += x * ln_xm_v;
                    acc[2] += (p * x + q) / xm_v;
                    acc
                },
            )
            .reduce(
                || [0.0_f64; 3],
                |mut a, b| {
                    for (a, b) in a.iter_mut().zip(b) {
                        *a += b;
                    }
                    a
                },
            );
        total[0] -= p * rows[1] + q * rows[0];
        total[1] -= rows[1];
        total[2] -= rows[0];
        total[3] -= rows[2];
        let params = [p, q, v];
        let value = -total[0] / n;
        let gradient = (0..3).map(|k| -total[k + 1] * params[k] / n).collect();
        value.is_finite().then_some((value, gradient))
    }
}

impl GammaGamma {
    /// Fits on the customers with at least one repeat purchase and positive mean repeat value
    /// (others carry no information about spend per transaction).
    pub fn fit(data: &[CustomerRfm]) -> Result<Self, ChurnError> {
        if data.is_empty() {
            return Err(ChurnError::NoCustomers);
        }
        for (index, c) in data.iter().enumerate() {
            c.rfm
                .validate()
                .map_err(|reason| ChurnError::InvalidRfm { index, reason })?;
            if !c.monetary.is_finite() || c.monetary < 0.0 {
                return Err(ChurnError::InvalidRfm {
                    index,
                    reason: format!("monetary value {} is not finite and >= 0", c.monetary),
                });
            }
        }
        let used: Vec<&CustomerRfm> = data
            .iter()
            .filter(|c| c.rfm.frequency > 0.0 && c.monetary > 0.0)
            .collect();
        match used.len() {
            0 => return Err(ChurnError::NoRepeatBuyers),
            1 => {
                return Err(ChurnError::TooFewCustomers {
                    customers: 1,
                    needed: 2,
                })
            }
            _ => {}
        }
        let x: Vec<f64> = used.iter().map(|c| c.rfm.frequency).collect();
        let m: Vec<f64> = used.iter().map(|c| c.monetary).collect();
        let optimum = minimize(&Objective3::new(&x, &m), vec![0.0; 3])?;
        let log_likelihood = -optimum.value * used.len() as f64;
        if !log_likelihood.is_finite() {
            return Err(ChurnError::NonFiniteLikelihood { log_likelihood });
        }
        let [p, q, v] = [
            optimum.log_params[0].exp(),
            optimum.log_params[1].exp(),
            optimum.log_params[2].exp(),
        ];
        if q <= 1.0 {
            return Err(ChurnError::InfiniteMeanSpend { q });
        }
        Ok(GammaGamma {
            p,
            q,
            v,
            log_likelihood,
            customers: used.len(),
        })
    }

    /// E[mean transaction value | x repeat transactions averaging `monetary`]: a weighted
    /// average of the population mean v·p/(q−1) and the customer's own mean.
    pub fn expected_average_value(&self, frequency: f64, monetary: f64) -> f64 {
        let GammaGamma { p, q, v, .. } = *self;
        let weight = p * frequency / (p * frequency + q - 1.0);
        (1.0 - weight) * v * p / (q - 1.0) + weight * monetary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_gamma_gamma_gradient_matches_differences() {
        let x = [1.0, 2.0, 5.0];
        let m = [10.0, 35.5, 20.0];
        let o = Objective3::new(&x, &m);
        let theta = [1.2, 0.8, 2.5];
        let (_, g) = o.value_and_gradient(&theta).unwrap();
        for k in 0..3 {
            let h = 1e-6;
            let mut up = theta;
            up[k] += h;
            let mut down = theta;
            down[k] -= h;
            let numeric = (o.value_and_gradient(&up).unwrap().0
                - o.value_and_gradient(&down).unwrap().0)
                / (2.0 * h);
            assert!((numeric - g[k]).abs() < 1e-7, "k={k}");
        }
    }

    #[test]
    fn churn_gamma_gamma_value_matches_direct_sum() {
        let x = [1.0, 2.0, 5.0, 2.0, 1.0];
        let m = [10.0, 35.5, 20.0, 12.25, 3.0];
        let o = Objective3::new(&x, &m);
        let theta = [1.2_f64, 0.8, 2.5];
        let (p, q, v) = (theta[0].exp(), theta[1].exp(), theta[2].exp());
        let direct: f64 = x
            .iter()
            .zip(&m)
            .map(|(&x, &m)| {
                let px = p * x;
                ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q)
                    + q * v.ln()
                    + (px - 1.0) * m.ln()
                    + px * x.ln()
                    - (px + q) * (x * m + v).ln()
            })
            .sum();
        let (value, _) = o.value_and_gradient(&theta).unwrap();
        assert!(
            (value + direct / 5.0).abs() < 1e-12,
            "{value} vs {}",
            -direct / 5.0
        );
    }
}
