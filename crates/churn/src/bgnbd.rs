//! BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to
//! the Pareto/NBD model", Marketing Science 24(2). Equation numbers refer to that paper.
//!
//! While active a customer buys at Poisson rate λ ~ Gamma(r, α); after each repeat purchase they
//! drop out with probability p ~ Beta(a, b).

use rayon::prelude::*;

use super::model::{BgNbdParams, Columns};
use super::optimize::Objective;
use super::special::{digamma, hyp2f1, ln_gamma, log_add_exp};
use super::Rfm;

/// Rows per rayon task: below this the sum runs on one thread.
const CHUNK: usize = 8192;

/// A distinct row with repeat purchases: its weight and its indices into the frequency, recency
/// and age levels of [`Columns`].
#[derive(Clone, Copy)]
struct RepeatRow {
    weight: f64,
    x: u32,
    recency: u32,
    t: u32,
}

pub(crate) struct BgNbdObjective<'a> {
    columns: &'a Columns,
    repeat_rows: Vec<RepeatRow>,
    /// Customers without repeat purchases, by age level: their term is −r ln(α + T).
    no_repeat_by_t: Vec<f64>,
}

impl<'a> BgNbdObjective<'a> {
    pub fn new(columns: &'a Columns) -> Self {
        let mut repeat_rows = Vec::new();
        let mut no_repeat_by_t = vec![0.0; columns.t_levels.len()];
        for i in 0..columns.len() {
            if columns.x[i] > 0.0 {
                repeat_rows.push(RepeatRow {
                    weight: columns.weight[i],
                    x: columns.x_index[i],
                    recency: columns.recency_index[i],
                    t: columns.t_index[i],
                });
            } else {
                no_repeat_by_t[columns.t_index[i] as usize] += columns.weight[i];
            }
        }
        BgNbdObjective {
            columns,
            repeat_rows,
            no_repeat_by_t,
        }
    }
}

/// Log-likelihood of one customer (eq. 6, in logs), for tests and reference.
pub(crate) fn log_likelihood_one(p: &BgNbdParams, rfm: &Rfm) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *p;
    let Rfm {
        frequency: x,
        recency: t_x,
        t,
    } = *rfm;
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
    let a3 = -(r + x) * (alpha + t).ln();
    if x > 0.0 {
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
        a1 + a2 + log_add_exp(a3, a4)
    } else {
        a1 + a2 + a3
    }
}

impl Objective for BgNbdObjective<'_> {
    fn value_and_gradient(&self, log_params: &[f64]) -> Option<(f64, Vec<f64>)> {
        let (r, alpha, a, b) = (
            log_params[0].exp(),
            log_params[1].exp(),
            log_params[2].exp(),
            log_params[3].exp(),
        );
        let c = self.columns;
        // Terms that depend on the frequency only, once per distinct frequency.
        let (psi_r, psi_ab, psi_b) = (digamma(r), digamma(a + b), digamma(b));
        let (lg_r, lg_ab, lg_b) = (ln_gamma(r), ln_gamma(a + b), ln_gamma(b));
        let ln_alpha = alpha.ln();
        let mut total = [0.0_f64; 5]; // value, d/dr, d/dα, d/da, d/db
        for (&x, &count) in c.levels.iter().zip(&c.level_counts) {
            total[0] += count
                * (ln_gamma(r + x) - lg_r + r * ln_alpha + lg_ab + ln_gamma(b + x)
                    - lg_b
                    - ln_gamma(a + b + x));
            total[1] += count * (digamma(r + x) - psi_r + ln_alpha);
            total[2] += count * r / alpha;
            total[3] += count * (psi_ab - digamma(a + b + x));
            total[4] += count * (psi_ab + digamma(b + x) - psi_b - digamma(a + b + x));
        }
        // ln(α + T), 1/(α + T) per age level, the same per recency level, and ln(b + x − 1),
        // 1/(b + x − 1) per frequency level (used for x > 0 only).
        let by_level = |levels: &[f64], shift: f64| -> Vec<(f64, f64)> {
            levels
                .iter()
                .map(|&v| ((shift + v).ln(), 1.0 / (shift + v)))
                .collect()
        };
        let age = by_level(&c.t_levels, alpha);
        let rec = by_level(&c.recency_levels, alpha);
        let freq = by_level(&c.levels, b - 1.0);
        for (&(ln_at, inv_at), &w) in age.iter().zip(&self.no_repeat_by_t) {
            total[0] -= w * r * ln_at;
            total[1] -= w * ln_at;
            total[2] -= w * r * inv_at;
        }
        let ln_a = a.ln();
        // Repeat buyers: ln(e^a3 + e^a4) with a3 = −(r+x) ln(α+T), a4 = ln a − ln(b+x−1)
        // − (r+x) ln(α+t_x); w3, w4 are the shares of the two terms.
        let mut rows = self
            .repeat_rows
            .par_iter()
            .with_min_len(CHUNK)
            .fold(
                || [0.0_f64; 5],
                |mut acc, row| {
                    let w = row.weight;
                    let r_x = r + c.levels[row.x as usize];
                    let (ln_at, inv_at) = age[row.t as usize];
                    let (ln_atx, inv_atx) = rec[row.recency as usize];
                    let (ln_bx, inv_bx) = freq[row.x as usize];
                    let a3 = -r_x * ln_at;
                    let a4 = ln_a - ln_bx - r_x * ln_atx;
                    let d = a4 - a3;
                    // ln(1 + e) with e in (0, 1] is accurate to rounding in absolute terms,
                    // which is all a sum of O(1) terms needs (and ln is cheaper than ln_1p).
                    let e = (-d.abs()).exp();
                    let one_e = 1.0 + e;
                    let ln_one_e = one_e.ln();
                    let share_big = 1.0 / one_e;
                    let share_small = e * share_big;
                    let (l, w3, w4) = if d > 0.0 {
                        (a4 + ln_one_e, share_small, share_big)
                    } else {
                        (a3 + ln_one_e, share_big, share_small)
                    };
                    acc[0] += w * l;
                    acc[1] -= w * (w3 * ln_at + w4 * ln_atx);
                    acc[2] -= w * r_x * (w3 * inv_at + w4 * inv_atx);
                    acc[3] += w * w4;
                    acc[4] -= w * w4 * inv_bx;
                    acc
                },
            )
            .reduce(
                || [0.0_f64; 5],
                |mut s, o| {
                    for (s, o) in s.iter_mut().zip(o) {
                        *s += o;
                    }
                    s
                },
            );
        total[3] += rows[3] / a;
        rows[3] = 0.0;
        let n = c.customers;
        let params = [r, alpha, a, b];
        let value = -(total[0] + rows[0]) / n;
        // Chain rule to log-parameters: d/dlnθ = θ d/dθ.
        let gradient = (0..4)
            .map(|k| -(total[k + 1] + rows[k + 1]) * params[k] / n)
            .collect();
        value.is_finite().then_some((value, gradient))
    }
}

/// P(alive | x, t_x, T), eq. 13.
pub(crate) fn p_alive(p: &BgNbdParams, rfm: &Rfm) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *p;
    let Rfm {
        frequency: x,
        recency: t_x,
        t,
    } = *rfm;
    if x == 0.0 {
        return 1.0;
    }
    let log_odds_dead =
        (r + x) * ((alpha + t).ln() - (alpha + t_x).ln()) + (a / (b + x - 1.0)).ln();
    1.0 / (1.0 + log_odds_dead.exp())
}

/// E[Y(horizon) | x, t_x, T], eq. 10: expected purchases in the next `horizon` periods.
pub(crate) fn expected_purchases(p: &BgNbdParams, rfm: &Rfm, horizon: f64) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *p;
    let Rfm {
        frequency: x,
        recency: t_x,
        t,
    } = *rfm;
    if horizon <= 0.0 {
        return 0.0;
    }
    let z = horizon / (alpha + t + horizon);
    let c = a + b + x - 1.0;
    let Some(f) = hyp2f1(r + x, b + x, c, z) else {
        return f64::NAN;
    };
    // (1 - z)^(r+x) · 2F1, in logs: 1 - z = (α+T)/(α+T+t).
    let ln_one_minus_z = (alpha + t).ln() - (alpha + t + horizon).ln();
    let tail = (f.ln() + (r + x) * ln_one_minus_z).exp();
    let numerator = c / (a - 1.0) * (1.0 - tail);
    let denominator = if x > 0.0 {
        1.0 + a / (b + x - 1.0) * ((r + x) * ((alpha + t).ln() - (alpha + t_x).ln())).exp()
    } else {
        1.0
    };
    numerator / denominator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_bgnbd_gradient_matches_differences() {
        let rows = [
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
                frequency: 1.0,
                recency: 2.0,
                t: 10.0,
            },
            // A repeated row: merged into one row of weight 2.
            Rfm {
                frequency: 3.0,
                recency: 20.0,
                t: 35.0,
            },
        ];
        let columns = Columns::new(&rows);
        assert_eq!(columns.len(), 3);
        assert_eq!(columns.weight, vec![1.0, 2.0, 1.0]);
        let objective = BgNbdObjective::new(&columns);
        let theta = [-1.2, 1.4, -0.2, 0.9];
        let (value, gradient) = objective.value_and_gradient(&theta).unwrap();
        let p = BgNbdParams {
            r: theta[0].exp(),
            alpha: theta[1].exp(),
            a: theta[2].exp(),
            b: theta[3].exp(),
        };
        let direct: f64 = rows.iter().map(|x| log_likelihood_one(&p, x)).sum();
        assert!((value + direct / 4.0).abs() < 1e-12);
        for k in 0..4 {
            let h = 1e-6;
            let mut up = theta;
            up[k] += h;
            let mut down = theta;
            down[k] -= h;
            let numeric = (objective.value_and_gradient(&up).unwrap().0
                - objective.value_and_gradient(&down).unwrap().0)
                / (2.0 * h);
            assert!((numeric - gradient[k]).abs() < 1e-7, "k={k}");
        }
    }
}
