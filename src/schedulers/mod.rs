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
pub mod registry;
mod schedule;
mod step;
mod warmup;

pub use base::{Base, LrPolicy};
pub use composite::{ChainedScheduler, ChainedSchedulerConfig, SequentialLR, SequentialLRConfig};
pub use cosine::{
    CosineAnnealingLR, CosineAnnealingLRConfig, CosineAnnealingWarmRestarts, CosineAnnealingWarmRestartsConfig,
};
pub use cyclic::{CyclicLR, CyclicLRConfig, CyclicMode, ScaleFn, ScaleMode};
pub use lambda::{LambdaLR, LambdaLRConfig, LrLambda, MultiplicativeLR, MultiplicativeLRConfig};
pub use one_cycle::{AnnealStrategy, OneCycleLR, OneCycleLRConfig};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ReduceLROnPlateauConfig, ThresholdMode};
pub use polynomial::{PolynomialLR, PolynomialLRConfig};
pub use registry::{ScheduleConfig, ScheduleInfo, SchedulerConfig, REGISTRY};
pub use schedule::{Chainable, Protocol, Schedule};
pub use step::{ExponentialLR, ExponentialLRConfig, MultiStepLR, MultiStepLRConfig, StepLR, StepLRConfig};
pub use warmup::{ConstantLR, ConstantLRConfig, LinearLR, LinearLRConfig};

/// A float as Python's `repr` writes it in messages (`2.0`, not `2`).
pub(crate) fn py_float(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
