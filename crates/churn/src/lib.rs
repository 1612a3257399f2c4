//! Buy-till-you-die churn models: who is still a customer, and what will they buy?
//!
//! From a list of transactions we build a recency/frequency/monetary summary per customer
//! ([`rfm_summary`]), fit a purchase-and-dropout model by maximum likelihood ([`FittedModel::fit`]:
//! BG/NBD of Fader, Hardie & Lee 2005, or Pareto/NBD of Schmittlein, Morrison & Colombo 1987 in the
//! Fader–Hardie formulation), a spend model ([`GammaGamma`]), and predict per customer the
//! probability of still being active, the expected purchases over a horizon and their value
//! ([`predict`]). [`holdout_check`] fits on a calibration window and scores the forecast on the
//! following window.
//!
//! Pure computation: no I/O, no clock reads. Degenerate input is reported as a [`ChurnError`],
//! never as NaN.
//!
//! Invariants: parameters are optimised on the log scale, so every fitted parameter is positive;
//! every `Rfm` that reaches a likelihood has been checked by [`Rfm::validate`].

mod bgnbd;
mod gamma_gamma;
mod model;
mod optimize;
mod pareto;
mod predict;
mod rfm;
mod simulate;
pub mod special;

pub use gamma_gamma::GammaGamma;
pub use model::{BgNbdParams, FittedModel, ModelKind, ModelParams, ParetoNbdParams};
pub use predict::{
    holdout_check, predict, FrequencyRow, HoldoutCustomer, HoldoutReport, Prediction,
};
pub use rfm::{
    purchase_value, rfm_summary, rfm_summary_of, CustomerRfm, Period, Purchases, Rfm, RfmOptions,
    Transaction,
};
pub use simulate::simulate;

/// Why a summary, a fit or a check could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChurnError {
    #[error("no customers to fit")]
    NoCustomers,
    #[error("{customers} customer(s) is too few to fit a model; need at least {needed}")]
    TooFewCustomers { customers: usize, needed: usize },
    #[error(
        "no customer made a repeat purchase, so purchase rates and dropout cannot be told apart"
    )]
    NoRepeatBuyers,
    #[error("every customer was first seen at the end of calibration (T = 0 for all): nothing was observed")]
    NoObservationTime,
    #[error("transaction {index} of customer {customer:?} has value {value}; values must be finite and not negative")]
    InvalidValue {
        index: usize,
        customer: String,
        value: f64,
    },
    #[error("customer summary {index} is invalid: {reason}")]
    InvalidRfm { index: usize, reason: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("the log-likelihood is not finite at the optimum ({log_likelihood})")]
    NonFiniteLikelihood { log_likelihood: f64 },
    #[error("the optimiser failed: {0}")]
    Optimizer(String),
    #[error("the spend model has q = {q} <= 1, so the mean spend per transaction is infinite")]
    InfiniteMeanSpend { q: f64 },
    #[error("model kind {kind} does not match the parameters given")]
    KindMismatch { kind: ModelKind },
}
