//! transformers' `constant`, `constant_with_warmup`, `linear`, `polynomial`
//! and `inverse_sqrt`.

use super::lambda::Lambda;
use super::{required, GetScheduler};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::{Error, Result};
use crate::schedulers::{py_float, LRScheduler, Schedule, ScheduleConfig};

kwargs! {
    /// `get_scheduler("constant", optimizer)`'s arguments: none that it uses.
    pub struct ConstantConfig for Constant {
        /// Accepted and ignored, as `get_scheduler` ignores it for `constant`.
        num_warmup_steps: Option<i64> = None,
        /// Accepted and ignored, as `get_scheduler` ignores it for `constant`.
        num_training_steps: Option<i64> = None,
    }
}

impl ScheduleConfig for ConstantConfig {
    const NAME: &'static str = "transformers.constant";
    const EXAMPLE: &'static str = "{name: transformers.constant}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(Constant::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `get_scheduler("constant_with_warmup", optimizer, num_warmup_steps)`'s arguments.
    pub struct ConstantWithWarmupConfig for ConstantWithWarmup {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// Accepted and ignored, as `get_scheduler` ignores it for `constant_with_warmup`.
        num_training_steps: Option<i64> = None,
    }
}

impl ScheduleConfig for ConstantWithWarmupConfig {
    const NAME: &'static str = "transformers.constant_with_warmup";
    const EXAMPLE: &'static str = "{name: transformers.constant_with_warmup, num_warmup_steps: 5}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(ConstantWithWarmup::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `get_scheduler("linear", optimizer, num_warmup_steps, num_training_steps)`'s arguments.
    pub struct LinearConfig for Linear {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// The step at which the LR reaches 0 (required: `get_scheduler` raises without it).
        num_training_steps: Option<i64> = None,
    }
}

impl ScheduleConfig for LinearConfig {
    const NAME: &'static str = "transformers.linear";
    const EXAMPLE: &'static str = "{name: transformers.linear, num_warmup_steps: 3, num_training_steps: 10}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(Linear::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `get_scheduler("polynomial", optimizer, num_warmup_steps, num_training_steps,
    /// scheduler_specific_kwargs={lr_end, power})`'s arguments.
    pub struct PolynomialConfig for Polynomial {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// The step at which the LR reaches `lr_end` (required: `get_scheduler` raises without it).
        num_training_steps: Option<i64> = None,
        /// The final LR, for every group; must be below the optimizer's default (first group's) LR.
        lr_end: f64 = 1e-7,
        /// The power of the decay.
        power: f64 = 1.0,
    }
}

impl ScheduleConfig for PolynomialConfig {
    const NAME: &'static str = "transformers.polynomial";
    const EXAMPLE: &'static str =
        "{name: transformers.polynomial, num_warmup_steps: 2, num_training_steps: 10, lr_end: 0.001, power: 2.0}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(Polynomial::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `get_scheduler("inverse_sqrt", optimizer, num_warmup_steps,
    /// scheduler_specific_kwargs={timescale})`'s arguments.
    pub struct InverseSqrtConfig for InverseSqrt {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// Accepted and ignored, as `get_scheduler` ignores it for `inverse_sqrt`.
        num_training_steps: Option<i64> = None,
        /// The time scale of the decay (`None`: `num_warmup_steps`, or 10,000 when that is 0).
        timescale: Option<i64> = None,
    }
}

impl ScheduleConfig for InverseSqrtConfig {
    const NAME: &'static str = "transformers.inverse_sqrt";
    const EXAMPLE: &'static str = "{name: transformers.inverse_sqrt, num_warmup_steps: 3}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(InverseSqrt::from_args(self.clone()).boxed())
    }
}

/// transformers' `constant` schedule (`get_constant_schedule`): the
/// optimizer's LRs, unchanged.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::Constant;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("constant", optimizer)
/// let mut sched = Constant::new().build(opt)?;
/// sched.step()?;
/// assert_eq!(sched.last_lr(), [5e-5]);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// None.
pub type Constant = LRScheduler<ConstantConfig>;

impl GetScheduler for ConstantConfig {
    const PLAIN_FUNCTION: bool = true;

    fn resolve(&self, _default_lr: f64) -> Result<Lambda> {
        Ok(Lambda::Constant)
    }
}

/// transformers' `constant_with_warmup` schedule
/// (`get_constant_schedule_with_warmup`): a linear warmup from 0 over
/// `num_warmup_steps` steps, then the optimizer's LRs.
///
/// `λ(s) = s / max(1, W)` for `s < W`, then 1.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::ConstantWithWarmup;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=100)
/// let mut sched = ConstantWithWarmup::new().num_warmup_steps(100).build(opt)?;
/// assert_eq!(sched.last_lr(), [0.0]); // step 0 of the warmup
/// for _ in 0..100 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [5e-5]);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// From a config without `num_warmup_steps`: [`Error::Value`] with
/// `get_scheduler`'s message, when bound to an optimizer.
pub type ConstantWithWarmup = LRScheduler<ConstantWithWarmupConfig>;

impl GetScheduler for ConstantWithWarmupConfig {
    fn resolve(&self, _default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "CONSTANT_WITH_WARMUP", "num_warmup_steps")?;
        Ok(Lambda::ConstantWithWarmup { w })
    }
}

/// transformers' `linear` schedule (`get_linear_schedule_with_warmup`, the
/// `Trainer`'s default): a linear warmup from 0 over `num_warmup_steps`
/// steps, then a linear decay to 0 at `num_training_steps`, and 0 after.
///
/// `λ(s) = s / max(1, W)` for `s < W`, then `max(0, (T - s) / max(1, T - W))`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::Linear;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("linear", optimizer, num_warmup_steps=100, num_training_steps=1000)
/// let mut sched = Linear::new().num_warmup_steps(100).num_training_steps(1000).build(opt)?;
/// for _ in 0..1000 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [0.0]);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// From a config without `num_warmup_steps` or `num_training_steps`:
/// [`Error::Value`] with `get_scheduler`'s message, when bound to an optimizer.
pub type Linear = LRScheduler<LinearConfig>;

impl GetScheduler for LinearConfig {
    fn resolve(&self, _default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "LINEAR", "num_warmup_steps")?;
        let t = required(self.num_training_steps, "LINEAR", "num_training_steps")?;
        Ok(Lambda::Linear { w, t })
    }
}

/// transformers' `polynomial` schedule
/// (`get_polynomial_decay_schedule_with_warmup`): a linear warmup from 0, then
/// a polynomial decay from the optimizer's default LR to `lr_end` at
/// `num_training_steps`, and `lr_end` after.
///
/// With `L` the optimizer's default LR (the first group's: transformers reads
/// `optimizer.defaults["lr"]`), `λ(s) = s / max(1, W)` for `s < W`,
/// `lr_end / L` past `T`, else `((L - lr_end) * (1 - (s - W) / (T - W)) ^ power
/// + lr_end) / L`. Every group is scaled by the same `λ`, so a group whose LR
/// differs from `L` does not end at `lr_end` (groups at 0.5 and 1.0 with
/// `lr_end` 0.1 end at 0.1 and 0.2).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::Polynomial;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("polynomial", optimizer, num_warmup_steps=100, num_training_steps=1000,
/// //               scheduler_specific_kwargs={"lr_end": 1e-6, "power": 2.0})
/// let mut sched = Polynomial::new().num_warmup_steps(100).num_training_steps(1000).lr_end(1e-6).power(2.0).build(opt)?;
/// for _ in 0..1000 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 1e-6).abs() < 1e-18);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// When bound to an optimizer, [`Error::Value`] with transformers' message:
/// `num_warmup_steps` or `num_training_steps` missing (from a config), or
/// `lr_end` not below the default LR. [`Error::ZeroDivision`] at step `T` when
/// `W == T`, as in Python.
pub type Polynomial = LRScheduler<PolynomialConfig>;

impl GetScheduler for PolynomialConfig {
    fn resolve(&self, lr_init: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "POLYNOMIAL", "num_warmup_steps")?;
        let t = required(self.num_training_steps, "POLYNOMIAL", "num_training_steps")?;
        let lr_end = self.lr_end;
        // Python's `not (lr_init > lr_end)`: a NaN fails it too.
        if lr_init.partial_cmp(&lr_end) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::value(format!(
                "lr_end ({}) must be smaller than initial lr ({})",
                py_float(lr_end),
                py_float(lr_init)
            ))
            .for_arg("lr_end"));
        }
        Ok(Lambda::Polynomial { w, t, lr_end, power: self.power, lr_init })
    }
}

/// transformers' `inverse_sqrt` schedule (`get_inverse_sqrt_schedule`): a
/// linear warmup from 0, then an inverse square root decay.
///
/// With `ts = timescale` (default `W`, or 10,000 when `W` is 0):
/// `λ(s) = s / max(1, W)` for `s < W`, then `1 / sqrt((s + ts - W) / ts)`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::InverseSqrt;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("inverse_sqrt", optimizer, num_warmup_steps=100)
/// let mut sched = InverseSqrt::new().num_warmup_steps(100).build(opt)?;
/// for _ in 0..400 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [5e-5 * 0.5]); // 1 / sqrt(400 / 100)
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// From a config without `num_warmup_steps`: [`Error::Value`] with
/// `get_scheduler`'s message, when bound to an optimizer. Python's errors at
/// the steps where it raises (a `timescale` of 0: [`Error::ZeroDivision`]).
pub type InverseSqrt = LRScheduler<InverseSqrtConfig>;

impl GetScheduler for InverseSqrtConfig {
    fn resolve(&self, _default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "INVERSE_SQRT", "num_warmup_steps")?;
        // `timescale = num_warmup_steps or 10_000`
        let timescale = self.timescale.map_or(if w != 0 { w } else { 10_000 }, i128::from);
        Ok(Lambda::InverseSqrt { w, timescale })
    }
}
