//! Maximum likelihood through `argmin`: L-BFGS with a More–Thuente line search on the
//! log-parameters, with Nelder–Mead as the fallback when the line search fails (for example when
//! a trial step lands where the likelihood overflows).

use std::cell::RefCell;

use argmin::core::{CostFunction, Error, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;

use super::ChurnError;

/// Log-parameters beyond this magnitude (e^40 ≈ 2e17) are treated as outside the model.
const LOG_PARAM_LIMIT: f64 = 40.0;
const MAX_ITERS: u64 = 1000;
const CACHED_POINTS: usize = 8;

/// A negative log-likelihood over log-parameters, scaled by the number of customers so that
/// tolerances mean the same thing for 2 000 and 1 000 000 customers.
pub(crate) trait Objective {
    /// `None` where the likelihood is not finite.
    fn value_and_gradient(&self, log_params: &[f64]) -> Option<(f64, Vec<f64>)>;
}

#[derive(Debug, Clone)]
pub(crate) struct Optimum {
    pub log_params: Vec<f64>,
    /// Mean negative log-likelihood at `log_params`.
    pub value: f64,
    pub iterations: u64,
    pub converged: bool,
}

/// A point and what the objective gave there.
type Evaluation = (Vec<f64>, Option<(f64, Vec<f64>)>);

struct Problem<'a, O> {
    objective: &'a O,
    /// Line searches ask for the cost and the gradient at the same point, and L-BFGS asks again
    /// for the gradient at the accepted step, which need not be the last one tried: remember the
    /// last few points.
    cache: RefCell<std::collections::VecDeque<Evaluation>>,
    evaluations: std::cell::Cell<u64>,
}

impl<O: Objective> Problem<'_, O> {
    fn evaluate(&self, p: &[f64]) -> Option<(f64, Vec<f64>)> {
        if p.iter()
            .any(|v| !v.is_finite() || v.abs() > LOG_PARAM_LIMIT)
        {
            return None;
        }
        if let Some((_, result)) = self
            .cache
            .borrow()
            .iter()
            .find(|(at, _)| at.as_slice() == p)
        {
            return result.clone();
        }
        self.evaluations.set(self.evaluations.get() + 1);
        let result = self
            .objective
            .value_and_gradient(p)
            .filter(|(v, g)| v.is_finite() && g.iter().all(|x| x.is_finite()));
        let mut cache = self.cache.borrow_mut();
        if cache.len() == CACHED_POINTS {
            cache.pop_back();
        }
        cache.push_front((p.to_vec(), result.clone()));
        result
    }
}

impl<O: Objective> CostFunction for Problem<'_, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Self::Param) -> Result<f64, Error> {
        Ok(self.evaluate(p).map_or(f64::INFINITY, |(v, _)| v))
    }
}

impl<O: Objective> Gradient for Problem<'_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Self::Param) -> Result<Vec<f64>, Error> {
        self.evaluate(p)
            .map(|(_, g)| g)
            .ok_or_else(|| Error::msg("likelihood is not finite here"))
    }
}

/// Minimises `objective` from `start`.
pub(crate) fn minimize<O: Objective>(
    objective: &O,
    start: Vec<f64>,
) -> Result<Optimum, ChurnError> {
    let problem = Problem {
        objective,
        cache: RefCell::new(std::collections::VecDeque::with_capacity(CACHED_POINTS)),
        evaluations: std::cell::Cell::new(0),
    };
    if problem.evaluate(&start).is_none() {
        return Err(ChurnError::Optimizer(
            "the likelihood is not finite at the starting point".into(),
        ));
    }
    match lbfgs(&problem, start.clone()) {
        Ok(optimum) => Ok(optimum),
        Err(lbfgs_error) => {
            tracing::debug!(%lbfgs_error, "L-BFGS failed; trying Nelder-Mead");
            nelder_mead(&problem, start).map_err(|nm_error| {
                ChurnError::Optimizer(format!(
                    "L-BFGS: {lbfgs_error}; Nelder-Mead fallback: {nm_error}"
                ))
            })
        }
    }
}

fn lbfgs<O: Objective>(problem: &Problem<'_, O>, start: Vec<f64>) -> Result<Optimum, Error> {
    let line_search = MoreThuenteLineSearch::new().with_c(1e-4, 0.9)?;
    let solver = LBFGS::new(line_search, 10)
        .with_tolerance_grad(1e-8)?
        // Costs are means of O(1) terms; below ~1e-13 changes are rounding noise, and waiting
        // for the gradient alone there can cost hundreds of evaluations at the optimum.
        .with_tolerance_cost(1e-13)?;
    let result = Executor::new(ProblemRef(problem), solver)
        .configure(|state| state.param(start).max_iters(MAX_ITERS))
        .run()?;
    let state = result.state();
    let log_params = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| Error::msg("no parameters"))?;
    let (value, gradient) = problem
        .evaluate(&log_params)
        .ok_or_else(|| Error::msg("likelihood not finite at the optimum"))?;
    let gradient_norm = gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
    // Convergence means first-order optimality, whichever way L-BFGS stopped: near the optimum
    // rounding can make the line search give up ("not a descent direction") with a gradient
    // already negligible, and a stall in the cost alone is not convergence.
    let converged = gradient_norm < 1e-6
        && !matches!(
            state.get_termination_reason(),
            Some(TerminationReason::MaxItersReached)
        );
    tracing::debug!(
        reason = ?state.get_termination_reason(),
        gradient_norm,
        evaluations = problem.evaluations.get(),
        iterations = state.get_iter(),
        "L-BFGS finished"
    );
    Ok(Optimum {
        log_params,
        value,
        iterations: state.get_iter(),
        converged,
    })
}

fn nelder_mead<O: Objective>(problem: &Problem<'_, O>, start: Vec<f64>) -> Result<Optimum, Error> {
    let mut simplex = vec![start.clone()];
    for i in 0..start.len() {
        let mut vertex = start.clone();
        vertex[i] += 0.5;
        simplex.push(vertex);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-12)?;
    let result = Executor::new(ProblemRef(problem), solver)
        .configure(|state| state.max_iters(20 * MAX_ITERS))
        .run()?;
    let state = result.state();
    let log_params = state
        .get_best_param()
        .cloned()
        .ok_or_else(|| Error::msg("no parameters"))?;
    let (value, _) = problem
        .evaluate(&log_params)
        .ok_or_else(|| Error::msg("likelihood not finite at the optimum"))?;
    Ok(Optimum {
        log_params,
        value,
        iterations: state.get_iter(),
        converged: matches!(
            state.get_termination_reason(),
            Some(TerminationReason::SolverConverged)
        ),
    })
}

/// `Executor` takes its problem by value; lend it the shared one.
struct ProblemRef<'p, 'a, O>(&'p Problem<'a, O>);

impl<O: Objective> CostFunction for ProblemRef<'_, '_, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Self::Param) -> Result<f64, Error> {
        self.0.cost(p)
    }
}

impl<O: Objective> Gradient for ProblemRef<'_, '_, O> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Self::Param) -> Result<Vec<f64>, Error> {
        self.0.gradient(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quadratic;
    impl Objective for Quadratic {
        fn value_and_gradient(&self, p: &[f64]) -> Option<(f64, Vec<f64>)> {
            let v = (p[0] - 1.0).powi(2) + 10.0 * (p[1] + 2.0).powi(2);
            Some((v, vec![2.0 * (p[0] - 1.0), 20.0 * (p[1] + 2.0)]))
        }
    }

    #[test]
    fn churn_minimize_quadratic() {
        let o = minimize(&Quadratic, vec![0.0, 0.0]).unwrap();
        assert!(o.converged);
        assert!((o.log_params[0] - 1.0).abs() < 1e-8);
        assert!((o.log_params[1] + 2.0).abs() < 1e-8);
    }
}
