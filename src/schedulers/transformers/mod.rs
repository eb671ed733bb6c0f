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

pub(crate) mod cosine;
pub(crate) mod decay;
mod lambda;
pub(crate) mod wsd;

pub use cosine::{Cosine, CosineWarmupWithMinLr, CosineWithMinLr, CosineWithRestarts};
pub use decay::{Constant, ConstantWithWarmup, InverseSqrt, Linear, Polynomial};
pub use wsd::{DecayType, WarmupStableDecay, WarmupType};

use lambda::Lambda;

use super::lr_scheduler::{scale_base, Base, LrPolicy};
use super::registry::ScheduleConfig;
use super::torch_state::{LambdaLRDict, TorchArgs};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use serde_yaml::Value as Y;

/// `optimizer.defaults["lr"]`, which `polynomial` and `min_lr` read: the LR
/// the optimizer was built with, i.e. the first group's (its `initial_lr` once
/// a scheduler has set it).
fn default_lr(groups: &ParamGroups) -> f64 {
    groups.groups().first().map_or(0.0, |g| g.initial_lr.unwrap_or(g.lr))
}

/// `get_scheduler`'s check of `num_warmup_steps` or `num_training_steps`,
/// with its message (`SchedulerType.COSINE requires ...`).
fn required(value: Option<i64>, scheduler_type: &str, what: &'static str) -> Result<i128> {
    value.map(i128::from).ok_or_else(|| {
        Error::value(format!("SchedulerType.{scheduler_type} requires `{what}`, please provide that argument."))
            .for_arg(what)
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

/// A transformers schedule: its keyword arguments and `resolve`, the checks
/// of `get_scheduler` and of its `get_*_schedule*` function, giving the λ.
/// Every such schedule is transformers' `LambdaLR(optimizer, λ)`: the
/// [`LrPolicy`] below, written once.
pub(crate) trait GetScheduler:
    ScheduleConfig + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static
{
    /// The λ, with the optimizer's default LR (the first group's).
    ///
    /// # Errors
    /// `get_scheduler`'s and the schedule function's errors, with their messages.
    fn resolve(&self, default_lr: f64) -> Result<Lambda>;

    /// Whether the λ is a plain function, which `LambdaLR.state_dict()`
    /// saves as `None` (`constant`), not a `functools.partial`, saved as its
    /// `__dict__`, `{}`.
    const PLAIN_FUNCTION: bool = false;
}

/// The resolved λ: made by the constructor, not saved (as in transformers,
/// whose λ is a `functools.partial` that `state_dict()` leaves out).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[doc(hidden)]
pub struct Resolved {
    #[serde(skip)]
    lambda: Lambda,
}

/// `LambdaLR`'s `get_lr` for a transformers λ: `base_lr * λ(last_epoch)` per group.
impl<C: GetScheduler> LrPolicy for C {
    const NAME: &'static str = <C as ScheduleConfig>::NAME;
    type State = Resolved;

    fn setup(&mut self, lambda: &mut Resolved, groups: &mut ParamGroups) -> Result<()> {
        lambda.lambda = self.resolve(default_lr(groups))?;
        Ok(())
    }

    fn torch_args(&self, _: &Resolved, groups: &ParamGroups) -> Result<TorchArgs> {
        let each = if C::PLAIN_FUNCTION { Y::Null } else { Y::Mapping(serde_yaml::Mapping::new()) };
        TorchArgs::of(&LambdaLRDict::new(groups.len(), each))
    }

    fn get_lr(&self, lambda: &Resolved, base: &Base, _groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        // LambdaLR calls the λ once per group; it is pure, so once is enough.
        scale_base(base, lambda.lambda.at(base.last_epoch)?, out);
        Ok(())
    }

    /// The λ's arguments are not saved: a load keeps those of `self`.
    fn restore(&mut self, _: &mut Resolved, _: Self, _: Resolved) {}
}
