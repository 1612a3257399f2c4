//! Special functions the likelihoods need: log-gamma and digamma come from `statrs`; the Gauss
//! hypergeometric function 2F1 is a power series written here with an explicit tail bound, because
//! no maintained crate offers it for real arguments.

pub(crate) use statrs::function::gamma::{digamma, ln_gamma};

/// Hard cap on series terms. Convergence is geometric with ratio |z|, so this covers |z| up to
/// about 1 - 2e-6 at double precision; beyond that the series is reported as not converged.
const MAX_TERMS: usize = 20_000_000;

/// `ln(exp(a) + exp(b))` without overflow; `-inf` arguments are fine.
pub(crate) fn log_add_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// `ln(1 - exp(d))` for `d <= 0`, accurate near both ends (Mächler 2012).
pub(crate) fn ln_one_minus_exp(d: f64) -> f64 {
    if d > -std::f64::consts::LN_2 {
        (-d.exp_m1()).ln()
    } else {
        (-d.exp()).ln_1p()
    }
}

/// Gauss hypergeometric function 2F1(a, b; c; z) for real parameters and |z| < 1 by its power
/// series. Returns `None` when the arguments are outside that domain (|z| >= 1, or `c` a
/// non-positive integer) or the series has not met its error bound within `MAX_TERMS` terms.
///
/// Stopping rule: once k exceeds every parameter's magnitude, the term ratio
/// f_k = (a+k)(b+k)/((c+k)(k+1)) moves monotonically towards 1, so all later ratios are at most
/// ρ = max(f_k, 1)|z| and the tail is at most |t_{k+1}| / (1 - ρ). We stop when that bound is below
/// 1e-17 of the partial sum's magnitude (or the series terminates because a or b is a
/// non-positive integer).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Option<f64> {
    if !(a.is_finite() && b.is_finite() && c.is_finite() && z.is_finite()) || z.abs() >= 1.0 {
        return None;
    }
    if c <= 0.0 && c.fract() == 0.0 {
        return None;
    }
    if z == 0.0 {
        return Some(1.0);
    }
    let settled_after = a.abs().max(b.abs()).max(c.abs()) + 2.0;
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    // Kahan-style compensation keeps long alternating sums (z < 0) accurate.
    let mut compensation = 0.0_f64;
    for k in 0..MAX_TERMS {
        let kf = k as f64;
        let factor = (a + kf) * (b + kf) / ((c + kf) * (kf + 1.0));
        term *= factor * z;
        if term == 0.0 {
            return Some(sum);
        }
        let y = term - compensation;
        let t = sum + y;
        compensation = (t - sum) - y;
        sum = t;
        if !sum.is_finite() {
            return None;
        }
        if kf + 1.0 > settled_after {
            let next = kf + 1.0;
            let next_factor = (a + next) * (b + next) / ((c + next) * (next + 1.0));
            let rho = next_factor.abs().max(1.0) * z.abs();
            if rho < 1.0 && term.abs() * rho / (1.0 - rho) <= 1e-17 * sum.abs() {
                return Some(sum);
            }
        }
    }
    None
}

/// 2F1(m, b; m + 1; z) for 0 <= z < 1 together with its partial derivatives with respect to `m`
/// (which also moves `c = m + 1`), `b` and `z`, summed along the same series. This is the shape
/// that appears in the Pareto/NBD likelihood, where m = r + s + x.
///
/// Term k is t_k = m/(m+k) (b)_k/k! z^k, so
/// ∂t_k/∂m = t_k (1/m - 1/(m+k)), ∂t_k/∂b = t_k Σ_{j<k} 1/(b+j), ∂t_k/∂z = k t_k / z.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hyp2f1WithGradient {
    pub value: f64,
    pub d_m: f64,
    pub d_b: f64,
    pub d_z: f64,
}

///
/// `max_terms` bounds the work: the likelihood passes a modest cap so that trial points far
/// from the optimum (where z → 1 and the series needs millions of terms) are rejected as
/// "not finite" quickly instead of stalling the fit.
pub(crate) fn hyp2f1_m_b_m1(
    m: f64,
    b: f64,
    z: f64,
    max_terms: usize,
) -> Option<Hyp2f1WithGradient> {
    if !(m > 0.0 && b > 0.0 && (0.0..1.0).contains(&z)) {
        return None;
    }
    if z == 0.0 {
        return Some(Hyp2f1WithGradient {
            value: 1.0,
            d_m: 0.0,
            d_b: 0.0,
            d_z: m * b / (m + 1.0),
        });
    }
    // p_k = (b)_k/k! z^k (all positive); t_k = p_k m/(m+k).
    let mut p = 1.0_f64;
    let mut harmonic = 0.0_f64; // Σ_{j<k} 1/(b+j)
    let mut value = 1.0_f64;
    let mut d_m = 0.0_f64;
    let mut d_b = 0.0_f64;
    let mut k_t_sum = 0.0_f64; // Σ k t_k
    let settled_after = m.max(b) + 2.0;
    for k in 1..max_terms.min(MAX_TERMS) {
        let kf = k as f64;
        harmonic += 1.0 / (b + kf - 1.0);
        p *= (b + kf - 1.0) / kf * z;
        let t = p * m / (m + kf);
        value += t;
        d_m += t * (1.0 / m - 1.0 / (m + kf));
        d_b += t * harmonic;
        k_t_sum += kf * t;
        if !(value.is_finite() && d_b.is_finite() && k_t_sum.is_finite()) {
            return None;
        }
        if kf > settled_after {
            // Ratio of successive k·t_k·H_k terms is below (1 + 1/k)^2 z · max(1, (b+k)/(k+1)); the
            // bound is loose but cheap, and all four sums share it.
            let rho = z * ((b + kf) / (kf + 1.0)).max(1.0) * (1.0 + 1.0 / kf).powi(2);
            let biggest = (kf * t).max(t * harmonic);
            // value >= 1, and callers need ∂F/F, so an absolute bound relative to value suffices.
            if rho < 1.0 && biggest * rho / (1.0 - rho) <= 1e-17 * value {
                return Some(Hyp2f1WithGradient {
                    value,
                    d_m,
                    d_b,
                    d_z: k_t_sum / z,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn churn_hyp2f1_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z)/z
        for z in [0.1_f64, 0.5, 0.9, 0.99, -0.5] {
            let exact = -(1.0 - z).ln() / z;
            assert!(
                close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), exact, 1e-14),
                "z={z}"
            );
        }
        // 2F1(a, b; b; z) = (1 - z)^-a
        for z in [0.3_f64, 0.95] {
            let exact = (1.0 - z).powf(-2.5);
            assert!(close(hyp2f1(2.5, 1.7, 1.7, z).unwrap(), exact, 1e-13));
        }
        // terminating series: 2F1(-2, b; c; z) = 1 - 2bz/c + b(b+1)z^2/(c(c+1))
        let (b, c, z) = (3.0, 4.0, 0.5);
        let exact = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        assert!(close(hyp2f1(-2.0, b, c, z).unwrap(), exact, 1e-15));
    }

    #[test]
    fn churn_hyp2f1_rejects_outside_domain() {
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_none());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_none());
        assert!(hyp2f1(f64::NAN, 1.0, 2.0, 0.5).is_none());
    }

    #[test]
    fn churn_hyp2f1_gradient_matches_differences() {
        for &(m, b, z) in &[
            (1.3, 0.8, 0.3),
            (12.0, 4.5, 0.05),
            (0.7, 1.6, 0.9),
            (3.0, 2.0, 0.0),
        ] {
            let g = hyp2f1_m_b_m1(m, b, z, MAX_TERMS).unwrap();
            assert!(close(g.value, hyp2f1(m, b, m + 1.0, z).unwrap(), 1e-13));
            let h = 1e-6;
            let f = |m: f64, b: f64, z: f64| hyp2f1(m, b, m + 1.0, z).unwrap();
            let dm = (f(m + h, b, z) - f(m - h, b, z)) / (2.0 * h);
            let db = (f(m, b + h, z) - f(m, b - h, z)) / (2.0 * h);
            let dz = (f(m, b, z + h) - f(m, b, (z - h).abs())) / (2.0 * h);
            assert!((g.d_m - dm).abs() < 1e-7 * (1.0 + dm.abs()), "{m} {b} {z}");
            assert!((g.d_b - db).abs() < 1e-7 * (1.0 + db.abs()), "{m} {b} {z}");
            if z > 0.0 {
                assert!((g.d_z - dz).abs() < 1e-6 * (1.0 + dz.abs()), "{m} {b} {z}");
            }
        }
    }

    #[test]
    fn churn_log_helpers() {
        assert!(close(
            log_add_exp(1.0, 2.0),
            (1f64.exp() + 2f64.exp()).ln(),
            1e-15
        ));
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
        assert!(close(ln_one_minus_exp(-1e-10), (1e-10f64).ln(), 1e-9));
        assert!(close(ln_one_minus_exp(-50.0), -(-50f64).exp(), 1e-12));
    }
}
