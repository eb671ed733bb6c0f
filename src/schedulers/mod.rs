//! The 15 schedulers of `torch.optim.lr_scheduler`, one file per family, and
//! the [`Schedule`] trait they implement.

mod base;
mod composite;
mod cosine;
mod cyclic;
mod lambda;
mod one_cycle;
mod plateau;
mod polynomial;
pub(crate) mod pymath;
mod schedule;
mod step;
mod warmup;

pub use base::{Base, LrPolicy};
pub use composite::{ChainedScheduler, SequentialLR};
pub use cosine::{CosineAnnealingLR, CosineAnnealingWarmRestarts};
pub use cyclic::{CyclicLR, CyclicMode, ScaleFn, ScaleMode};
pub use lambda::{LambdaLR, LrLambda, MultiplicativeLR};
pub use one_cycle::{AnnealStrategy, OneCycleLR};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ThresholdMode};
pub use polynomial::PolynomialLR;
pub use schedule::{Chainable, Schedule};
pub use step::{ExponentialLR, MultiStepLR, StepLR};
pub use warmup::{ConstantLR, LinearLR};

/// The PyTorch class names of the 15 schedulers.
pub const SCHEDULER_NAMES: [&str; 15] = [
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "LambdaLR",
    "MultiplicativeLR",
    "SequentialLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
    "CyclicLR",
    "OneCycleLR",
    "CosineAnnealingWarmRestarts",
];

/// A float as Python's `repr` writes it in messages (`2.0`, not `2`).
pub(crate) fn py_float(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
