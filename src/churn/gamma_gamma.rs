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

struct Objective3<'a> {
    x: &'a [f64],
    m: &'a [f64],
}

impl Objective for Objective3<'_> {
    fn value_and_gradient(&self, log_params: &[f64]) -> Option<(f64, Vec<f64>)> {
        let (p, q, v) = (
            log_params[0].exp(),
            log_params[1].exp(),
            log_params[2].exp(),
        );
        let (lg_q, psi_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        let sums = (0..self.x.len())
            .into_par_iter()
            .with_min_len(4096)
            .fold(
                || [0.0_f64; 4],
                |mut acc, i| {
                    let (x, m) = (self.x[i], self.m[i]);
                    let px = p * x;
                    let (ln_m, ln_x, ln_xm_v) = (m.ln(), x.ln(), (x * m + v).ln());
                    acc[0] += ln_gamma(px + q) - ln_gamma(px) - lg_q
                        + q * ln_v
                        + (px - 1.0) * ln_m
                        + px * ln_x
                        - (px + q) * ln_xm_v;
                    let psi_pxq = digamma(px + q);
                    acc[1] += x * (psi_pxq - digamma(px) + ln_m + ln_x - ln_xm_v);
                    acc[2] += psi_pxq - psi_q + ln_v - ln_xm_v;
                    acc[3] += q / v - (px + q) / (x * m + v);
                    acc
                },
            )
            .reduce(
                || [0.0_f64; 4],
                |mut a, b| {
                    for (a, b) in a.iter_mut().zip(b) {
                        *a += b;
                    }
                    a
                },
            );
        let n = self.x.len() as f64;
        let params = [p, q, v];
        let value = -sums[0] / n;
        let gradient = (0..3).map(|k| -sums[k + 1] * params[k] / n).collect();
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
        let optimum = minimize(&Objective3 { x: &x, m: &m }, vec![0.0; 3])?;
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
        let o = Objective3 { x: &x, m: &m };
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
}
