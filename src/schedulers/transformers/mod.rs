//! Hugging Face transformers' schedules: every `SchedulerType` of
//! `transformers.optimization.get_scheduler` (transformers 5.24) that is a
//! schedule, one type each, named after it.
//!
//! | `SchedulerType` (config `name`) | type | transformers function |
//! |---|---|---|
//! | `linear` (`transformers.linear`) | [`Linear`] | `get_linear_schedule_with_warmup` |
//! | `cosine` | [`Cosine`] | `get_cosine_schedule_with_warmup` |
//! | `cosine_with_restarts` | [`CosineWithRestarts`] | `get_cosine_with_hard_restarts_schedule_with_warmup` |
//! | `polynomial` | [`Polynomial`] | `get_polynomial_decay_schedule_with_warmup` |
//! | `constant` | [`Constant`] | `get_constant_schedule` |
//! | `constant_with_warmup` | [`ConstantWithWarmup`] | `get_constant_schedule_with_warmup` |
//! | `inverse_sqrt` | [`InverseSqrt`] | `get_inverse_sqrt_schedule` |
//! | `cosine_with_min_lr` | [`CosineWithMinLr`] | `get_cosine_with_min_lr_schedule_with_warmup` |
//! | `cosine_warmup_with_min_lr` | [`CosineWarmupWithMinLr`] | `get_cosine_with_min_lr_schedule_with_warmup_lr_rate` |
//! | `warmup_stable_decay` | [`WarmupStableDecay`] | `get_wsd_schedule` |
//!
//! In a config, `get_scheduler(name, optimizer, num_warmup_steps=W,
//! num_training_steps=T, scheduler_specific_kwargs={...})` is one mapping,
//! the specific keyword arguments flat beside W and T:
//!
//! ```yaml
//! scheduler: {name: transformers.cosine, num_warmup_steps: 500, num_training_steps: 10000, num_cycles: 0.5}
//! interval: step
//! ```
//!
//! Each is transformers' `LambdaLR(optimizer, λ)`: `lr = initial_lr * λ(step)`,
//! evaluated as CPython evaluates transformers' code, with its quirks kept:
//! the cosine schedules rise again past `num_training_steps`; `polynomial`,
//! and `min_lr` in the min-LR cosines, use the optimizer's default LR (the
//! first group's) for every group; the linear warmups start at LR 0. Errors
//! are `get_scheduler`'s: a missing `num_warmup_steps` or `num_training_steps`
//! is an [`Error::Value`] with its message, raised when the schedule is bound
//! to an optimizer.
//!
//! Saved states are `LambdaLR`'s (`last_epoch`, `base_lrs`, ...): as in
//! transformers, whose λ is a `functools.partial` that `state_dict()` does not
//! save, a loaded state keeps the arguments of the schedule it is loaded into.

mod cosine;
mod decay;
mod lambda;
mod wsd;

pub use cosine::{
    Cosine, CosineConfig, CosineWarmupWithMinLr, CosineWarmupWithMinLrConfig, CosineWithMinLr, CosineWithMinLrConfig,
    CosineWithRestarts, CosineWithRestartsConfig,
};
pub use decay::{
    Constant, ConstantConfig, ConstantWithWarmup, ConstantWithWarmupConfig, InverseSqrt, InverseSqrtConfig, Linear,
    LinearConfig, Polynomial, PolynomialConfig,
};
pub use wsd::{DecayType, WarmupStableDecay, WarmupStableDecayConfig, WarmupType};

use crate::error::{Error, Result};
use crate::groups::ParamGroups;

/// `optimizer.defaults["lr"]`, which `polynomial` and `min_lr` read: the LR
/// the optimizer was built with, i.e. the first group's (its `initial_lr` once
/// a scheduler has set it).
fn default_lr(groups: &ParamGroups) -> f64 {
    groups.groups().first().map_or(0.0, |g| g.initial_lr.unwrap_or(g.lr))
}

/// `get_scheduler`'s check of `num_warmup_steps` or `num_training_steps`,
/// with its message (`SchedulerType.COSINE requires ...`).
fn required(value: Option<i64>, scheduler_type: &str, what: &str) -> Result<i128> {
    value.map(i128::from).ok_or_else(|| {
        Error::value(format!("SchedulerType.{scheduler_type} requires `{what}`, please provide that argument."))
    })
}

/// `get_cosine_with_min_lr_schedule_with_warmup`'s resolution of `min_lr` and
/// `min_lr_rate` into one rate, with its errors.
fn min_lr_rate(min_lr: Option<f64>, min_lr_rate: Option<f64>, default_lr: f64) -> Result<f64> {
    match (min_lr, min_lr_rate) {
        (Some(_), Some(_)) => Err(Error::value("Only one of min_lr or min_lr_rate should be set")),
        (Some(min_lr), None) => super::pymath::div(min_lr, default_lr),
        (None, Some(rate)) => Ok(rate),
        (None, None) => {
            Err(Error::value("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"))
        }
    }
}

/// Implements [`LrPolicy`](crate::LrPolicy) for a transformers schedule: its
/// inherent `resolve(default_lr)` (the checks of `get_scheduler` and of the
/// `get_*_schedule*` function, giving the λ) runs in the constructor, and
/// `get_lr` is `LambdaLR`'s: `base_lr * lr_lambda(last_epoch)` per group.
/// The λ's arguments are not saved: a load keeps those of `self`.
macro_rules! lambda_lr {
    ($name:ident, $config:ident) => {
        impl $crate::schedulers::LrPolicy for $name {
            const NAME: &'static str = <$config as $crate::schedulers::ScheduleConfig>::NAME;

            fn base(&self) -> &$crate::schedulers::Base {
                &self.base
            }

            fn base_mut(&mut self) -> &mut $crate::schedulers::Base {
                &mut self.base
            }

            fn setup(&mut self, groups: &mut $crate::groups::ParamGroups) -> $crate::error::Result<()> {
                self.lambda = self.resolve(super::default_lr(groups))?;
                Ok(())
            }

            fn get_lr(&self, _groups: &mut $crate::groups::ParamGroups, out: &mut [f64]) -> $crate::error::Result<()> {
                // LambdaLR calls the λ once per group; it is pure, so once is enough.
                let factor = self.lambda.at(self.base.last_epoch)?;
                for (o, base_lr) in out.iter_mut().zip(&self.base.base_lrs) {
                    *o = base_lr * factor;
                }
                Ok(())
            }

            fn restore(&mut self, loaded: Self) {
                self.base = loaded.base;
            }
        }
    };
}
use lambda_lr;
