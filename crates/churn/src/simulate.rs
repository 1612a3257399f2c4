//! Synthetic customers drawn from a model, for benchmarks and recovery tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

use super::{ChurnError, ModelKind, ModelParams, Rfm};

/// Draws `customers` histories from the model. Each customer's observation time T is uniform on
/// [0.7 · t_max, t_max] (as in CDNOW, where customers arrived over the first 12 of 39 weeks);
/// times are continuous. The same seed gives the same data.
pub fn simulate(
    kind: ModelKind,
    params: &ModelParams,
    customers: usize,
    t_max: f64,
    seed: u64,
) -> Result<Vec<Rfm>, ChurnError> {
    if params.kind() != kind {
        return Err(ChurnError::KindMismatch { kind });
    }
    if !(t_max.is_finite() && t_max > 0.0) {
        return Err(ChurnError::InvalidArgument(format!(
            "t_max must be positive, got {t_max}"
        )));
    }
    let invalid = |e: &dyn std::fmt::Display| ChurnError::InvalidArgument(e.to_string());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(customers);
    match *params {
        ModelParams::BgNbd(p) => {
            let lambda = Gamma::new(p.r, 1.0 / p.alpha).map_err(|e| invalid(&e))?;
            let dropout = Beta::new(p.a, p.b).map_err(|e| invalid(&e))?;
            for _ in 0..customers {
                let t = t_max * rng.gen_range(0.7..=1.0);
                let rate: f64 = lambda.sample(&mut rng);
                let p_drop: f64 = dropout.sample(&mut rng);
                let (mut x, mut t_x, mut now) = (0u32, 0.0, 0.0);
                if rate > 0.0 {
                    let gap = Exp::new(rate).map_err(|e| invalid(&e))?;
                    loop {
                        now += gap.sample(&mut rng);
                        if now > t {
                            break;
                        }
                        x += 1;
                        t_x = now;
                        // BG/NBD: dropout is decided after each repeat purchase.
                        if rng.gen::<f64>() < p_drop {
                            break;
                        }
                    }
                }
                out.push(Rfm {
                    frequency: f64::from(x),
                    recency: t_x,
                    t,
                });
            }
        }
        ModelParams::ParetoNbd(p) => {
            let lambda = Gamma::new(p.r, 1.0 / p.alpha).map_err(|e| invalid(&e))?;
            let mu = Gamma::new(p.s, 1.0 / p.beta).map_err(|e| invalid(&e))?;
            for _ in 0..customers {
                let t = t_max * rng.gen_range(0.7..=1.0);
                let rate: f64 = lambda.sample(&mut rng);
                let death_rate: f64 = mu.sample(&mut rng);
                let lifetime = if death_rate > 0.0 {
                    Exp::new(death_rate)
                        .map_err(|e| invalid(&e))?
                        .sample(&mut rng)
                } else {
                    f64::INFINITY
                };
                let end = lifetime.min(t);
                let (mut x, mut t_x, mut now) = (0u32, 0.0, 0.0);
                if rate > 0.0 {
                    let gap = Exp::new(rate).map_err(|e| invalid(&e))?;
                    loop {
                        now += gap.sample(&mut rng);
                        if now > end {
                            break;
                        }
                        x += 1;
                        t_x = now;
                    }
                }
                out.push(Rfm {
                    frequency: f64::from(x),
                    recency: t_x,
                    t,
                });
            }
        }
    }
    Ok(out)
}
