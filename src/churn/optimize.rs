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
    /// Line searches ask for the cost and the gradient at the same point; compute both once.
    cache: RefCell<Option<Evaluation>>,
}

impl<O: Objective> Problem<'_, O> {
    fn evaluate(&self, p: &[f64]) -> Option<(f64, Vec<f64>)> {
        if p.iter()
            .any(|v| !v.is_finite() || v.abs() > LOG_PARAM_LIMIT)
        {
            return None;
        }
        if let Some((at, result)) = self.cache.borrow().as_ref() {
            if at.as_slice() == p {
                return result.clone();
            }
        }
        let result = self
            .objective
            .value_and_gradient(p)
            .filter(|(v, g)| v.is_finite() && g.iter().all(|x| x.is_finite()));
        *self.cache.borrow_mut() = Some((p.to_vec(), result.clone()));
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
        cache: RefCell::new(None),
    };
    if problem.evaluate(&start).is_none() {
        return Err(ChurnError::Optimizer(
            "the likelihood is not finite at the starting point".into(),
        ));
    }
    match lbfgs(&problem, start.clone()) {
        Ok(optimum) => Ok(optimum),
        Err(lbfgs_error) => nelder_mead(&problem, start).map_err(|nm_error| {
            ChurnError::Optimizer(format!(
                "L-BFGS: {lbfgs_error}; Nelder-Mead fallback: {nm_error}"
            ))
        }),
    }
}

fn lbfgs<O: Objective>(problem: &Problem<'_, O>, start: Vec<f64>) -> Result<Optimum, Error> {
    let line_search = MoreThuenteLineSearch::new().with_c(1e-4, 0.9)?;
    let solver = LBFGS::new(line_search, 10)
        .with_tolerance_grad(1e-9)?
        .with_tolerance_cost(1e-15)?;
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
    // L-BFGS also stops when the cost no longer changes; only call that convergence when the
    // gradient is small too.
    let converged = matches!(
        state.get_termination_reason(),
        Some(TerminationReason::SolverConverged)
    ) && gradient_norm < 1e-5;
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
