//! Pareto/NBD: Schmittlein, Morrison & Colombo (1987), in the formulation of Fader & Hardie,
//! "A note on deriving the Pareto/NBD model and related expressions" (2005).
//!
//! While active a customer buys at Poisson rate λ ~ Gamma(r, α); their lifetime is exponential
//! with rate μ ~ Gamma(s, β). With m = r + s + x the likelihood of (x, t_x, T) is
//!
//! L = Γ(r+x) α^r β^s / Γ(r) · [ 1/((α+T)^(r+x) (β+T)^s) + s/m · A0 ],   A0 = G(t_x) − G(T),
//!
//! where for α ≥ β: G(t) = 2F1(m, s+1; m+1; (α−β)/(α+t)) / (α+t)^m
//! and   for α < β: G(t) = 2F1(m, r+x; m+1; (β−α)/(β+t)) / (β+t)^m.
//! Choosing the branch by the larger of α, β keeps the 2F1 argument in [0, 1). Everything is
//! computed in logs; A0 as G(t_x)·(1 − G(T)/G(t_x)) with `ln_one_minus_exp`.

use std::collections::HashMap;

use rayon::prelude::*;

use super::model::{Columns, ParetoNbdParams};
use super::optimize::Objective;
use super::special::{digamma, hyp2f1, hyp2f1_m_b_m1, ln_gamma, ln_one_minus_exp, log_add_exp};
use super::Rfm;

const CHUNK: usize = 8192;
/// Series terms allowed per 2F1 while fitting: enough for z up to about 0.9998 at double
/// precision. Trial points beyond that (α/β below 2e-4 or above 5e3 with recency 0) are far
/// from any optimum seen in practice and count as outside the model.
const FIT_SERIES_TERMS: usize = 200_000;

/// ln G(t) for one customer's x, by the series in `hyp2f1` (no derivatives).
fn ln_g(p: &ParetoNbdParams, x: f64, time: f64) -> Option<f64> {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let m = r + s + x;
    let (larger, other, b2) = if alpha >= beta {
        (alpha, beta, s + 1.0)
    } else {
        (beta, alpha, r + x)
    };
    let q = larger + time;
    let f = hyp2f1(m, b2, m + 1.0, (larger - other) / q)?;
    Some(f.ln() - m * q.ln())
}

/// ln A0, or `-inf` when A0 = 0 (last purchase at T).
fn ln_a0(p: &ParetoNbdParams, rfm: &Rfm) -> Option<f64> {
    let g1 = ln_g(p, rfm.frequency, rfm.recency)?;
    let g2 = ln_g(p, rfm.frequency, rfm.t)?;
    Some(if g2 >= g1 {
        f64::NEG_INFINITY
    } else {
        g1 + ln_one_minus_exp(g2 - g1)
    })
}

/// The two log-terms of the bracket: B = ln of the "alive at T" term and C = ln(s/m · A0).
fn bracket_terms(p: &ParetoNbdParams, rfm: &Rfm) -> Option<(f64, f64)> {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let x = rfm.frequency;
    let b = -(r + x) * (alpha + rfm.t).ln() - s * (beta + rfm.t).ln();
    let c = s.ln() - (r + s + x).ln() + ln_a0(p, rfm)?;
    Some((b, c))
}

pub(crate) fn log_likelihood_one(p: &ParetoNbdParams, rfm: &Rfm) -> f64 {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let x = rfm.frequency;
    let Some((b, c)) = bracket_terms(p, rfm) else {
        return f64::NAN;
    };
    ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln() + log_add_exp(b, c)
}

/// P(alive | x, t_x, T) = 1 / (1 + s/m · A0 · (α+T)^(r+x) (β+T)^s).
pub(crate) fn p_alive(p: &ParetoNbdParams, rfm: &Rfm) -> f64 {
    match bracket_terms(p, rfm) {
        Some((b, c)) => 1.0 / (1.0 + (c - b).exp()),
        None => f64::NAN,
    }
}

/// E[Y(t) | x, t_x, T] = P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)],
/// with the s → 1 limit (r+x)(β+T)/(α+T) · ln((β+T+t)/(β+T)).
pub(crate) fn expected_purchases(p: &ParetoNbdParams, rfm: &Rfm, horizon: f64) -> f64 {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    if horizon <= 0.0 {
        return 0.0;
    }
    let t = rfm.t;
    let ln_ratio = (beta + t).ln() - (beta + t + horizon).ln(); // < 0
    let u = s - 1.0;
    let growth = if (u * ln_ratio).abs() < 1e-12 {
        -ln_ratio
    } else {
        -(u * ln_ratio).exp_m1() / u
    };
    p_alive(p, rfm) * (r + rfm.frequency) * (beta + t) / (alpha + t) * growth
}

/// ln G(t) and its gradient with respect to (r, α, s, β).
#[derive(Debug, Clone, Copy)]
struct LnG {
    value: f64,
    gradient: [f64; 4],
}

fn ln_g_with_gradient(p: &ParetoNbdParams, x: f64, time: f64) -> Option<LnG> {
    let ParetoNbdParams { r, alpha, s, beta } = *p;
    let m = r + s + x;
    // d m/dθ is (1, 0, 1, 0) in both branches.
    let (q, z, b2, d_b2, d_z, d_q) = if alpha >= beta {
        let q = alpha + time;
        (
            q,
            (alpha - beta) / q,
            s + 1.0,
            [0.0, 0.0, 1.0, 0.0],
            [0.0, (beta + time) / (q * q), 0.0, -1.0 / q],
            [0.0, 1.0, 0.0, 0.0],
        )
    } else {
        let q = beta + time;
        (
            q,
            (beta - alpha) / q,
            r + x,
            [1.0, 0.0, 0.0, 0.0],
            [0.0, -1.0 / q, 0.0, (alpha + time) / (q * q)],
            [0.0, 0.0, 0.0, 1.0],
        )
    };
    let f = hyp2f1_m_b_m1(m, b2, z, FIT_SERIES_TERMS)?;
    let ln_q = q.ln();
    let d_m = [1.0, 0.0, 1.0, 0.0];
    let mut gradient = [0.0; 4];
    for k in 0..4 {
        gradient[k] = (f.d_m * d_m[k] + f.d_b * d_b2[k] + f.d_z * d_z[k]) / f.value
            - d_m[k] * ln_q
            - m * d_q[k] / q;
    }
    Some(LnG {
        value: f.value.ln() - m * ln_q,
        gradient,
    })
}

pub(crate) struct ParetoObjective<'a> {
    columns: &'a Columns,
    /// Distinct (x, time) pairs whose G(time) is needed: many customers share them (every
    /// customer without repeat purchases has t_x = 0; real data has times on a day grid).
    keys: Vec<(f64, f64)>,
    recency_key: Vec<u32>,
    age_key: Vec<u32>,
}

impl<'a> ParetoObjective<'a> {
    pub fn new(columns: &'a Columns) -> Self {
        let mut index: HashMap<(u64, u64), u32> = HashMap::new();
        let mut keys = Vec::new();
        let mut key_of = |x: f64, time: f64| -> u32 {
            *index
                .entry((x.to_bits(), time.to_bits()))
                .or_insert_with(|| {
                    keys.push((x, time));
                    // Fewer than 2^32 keys: there are at most two per customer and callers pass
                    // slices far smaller than that.
                    (keys.len() - 1) as u32
                })
        };
        let mut recency_key = Vec::with_capacity(columns.len());
        let mut age_key = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            recency_key.push(key_of(columns.x[i], columns.recency[i]));
            age_key.push(key_of(columns.x[i], columns.t[i]));
        }
        ParetoObjective {
            columns,
            keys,
            recency_key,
            age_key,
        }
    }
}

impl Objective for ParetoObjective<'_> {
    fn value_and_gradient(&self, log_params: &[f64]) -> Option<(f64, Vec<f64>)> {
        let p = ParetoNbdParams {
            r: log_params[0].exp(),
            alpha: log_params[1].exp(),
            s: log_params[2].exp(),
            beta: log_params[3].exp(),
        };
        let ParetoNbdParams { r, alpha, s, beta } = p;
        let g: Vec<LnG> = self
            .keys
            .par_iter()
            .with_min_len(1024)
            .map(|&(x, time)| ln_g_with_gradient(&p, x, time))
            .collect::<Option<_>>()?;

        let c = self.columns;
        let (ln_alpha, ln_beta, ln_s) = (alpha.ln(), beta.ln(), s.ln());
        let (lg_r, psi_r) = (ln_gamma(r), digamma(r));
        let mut total = [0.0_f64; 5];
        for (&x, &count) in c.levels.iter().zip(&c.level_counts) {
            total[0] += count * (ln_gamma(r + x) - lg_r + r * ln_alpha + s * ln_beta);
            total[1] += count * (digamma(r + x) - psi_r + ln_alpha);
            total[2] += count * r / alpha;
            total[3] += count * ln_beta;
            total[4] += count * s / beta;
        }

        let rows = (0..c.len())
            .into_par_iter()
            .with_min_len(CHUNK)
            .fold(
                || [0.0_f64; 5],
                |mut acc, i| {
                    let (x, t, w) = (c.x[i], c.t[i], c.weight[i]);
                    let m = r + s + x;
                    let (ln_at, ln_bt) = ((alpha + t).ln(), (beta + t).ln());
                    let b_term = -(r + x) * ln_at - s * ln_bt;
                    let g1 = &g[self.recency_key[i] as usize];
                    let g2 = &g[self.age_key[i] as usize];
                    let ln_s_over_m = ln_s - m.ln();
                    let ln_a0 = if g2.value >= g1.value {
                        f64::NEG_INFINITY
                    } else {
                        g1.value + ln_one_minus_exp(g2.value - g1.value)
                    };
                    let l = log_add_exp(b_term, ln_s_over_m + ln_a0);
                    let w_b = (b_term - l).exp();
                    let (w1, w2) = if ln_a0 == f64::NEG_INFINITY {
                        (0.0, 0.0)
                    } else {
                        (
                            (ln_s_over_m + g1.value - l).exp(),
                            (ln_s_over_m + g2.value - l).exp(),
                        )
                    };
                    let w_c = w1 - w2;
                    let d_b_term = [-ln_at, -(r + x) / (alpha + t), -ln_bt, -s / (beta + t)];
                    let d_s_over_m = [-1.0 / m, 0.0, 1.0 / s - 1.0 / m, 0.0];
                    acc[0] += w * l;
                    for k in 0..4 {
                        acc[k + 1] += w
                            * (w_b * d_b_term[k] + w_c * d_s_over_m[k] + w1 * g1.gradient[k]
                                - w2 * g2.gradient[k]);
                    }
                    acc
                },
            )
            .reduce(
                || [0.0_f64; 5],
                |mut a, b| {
                    for (a, b) in a.iter_mut().zip(b) {
                        *a += b;
                    }
                    a
                },
            );
        let n = c.customers;
        let params = [r, alpha, s, beta];
        let value = -(total[0] + rows[0]) / n;
        let gradient = (0..4)
            .map(|k| -(total[k + 1] + rows[k + 1]) * params[k] / n)
            .collect();
        value.is_finite().then_some((value, gradient))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Rfm> {
        vec![
            Rfm {
                frequency: 0.0,
                recency: 0.0,
                t: 30.0,
            },
            Rfm {
                frequency: 3.0,
                recency: 20.0,
                t: 35.0,
            },
            Rfm {
                frequency: 2.0,
                recency: 12.0,
                t: 12.0,
            },
            Rfm {
                frequency: 1.0,
                recency: 2.0,
                t: 10.0,
            },
            Rfm {
                frequency: 3.0,
                recency: 20.0,
                t: 35.0,
            },
        ]
    }

    #[test]
    fn churn_pareto_gradient_matches_differences_on_both_branches() {
        let data = rows();
        let columns = Columns::new(&data);
        let objective = ParetoObjective::new(&columns);
        // α > β, α < β, and α = β (z = 0).
        for theta in [
            [-0.6, 2.3, -0.5, 1.1],
            [-0.6, 1.1, -0.5, 2.3],
            [0.2, 1.5, 0.1, 1.5],
        ] {
            let (value, gradient) = objective.value_and_gradient(&theta).unwrap();
            let p = ParetoNbdParams {
                r: theta[0].exp(),
                alpha: theta[1].exp(),
                s: theta[2].exp(),
                beta: theta[3].exp(),
            };
            let direct: f64 = data.iter().map(|x| log_likelihood_one(&p, x)).sum();
            assert!((value + direct / data.len() as f64).abs() < 1e-12);
            for k in 0..4 {
                let h = 1e-6;
                let mut up = theta;
                up[k] += h;
                let mut down = theta;
                down[k] -= h;
                let numeric = (objective.value_and_gradient(&up).unwrap().0
                    - objective.value_and_gradient(&down).unwrap().0)
                    / (2.0 * h);
                assert!(
                    (numeric - gradient[k]).abs() < 1e-7,
                    "theta={theta:?} k={k}: {numeric} vs {}",
                    gradient[k]
                );
            }
        }
    }
}
