//! transformers' cosine schedules: `cosine`, `cosine_with_restarts`,
//! `cosine_with_min_lr`, `cosine_warmup_with_min_lr`.

use super::lambda::Lambda;
use super::{min_lr_rate, required, GetScheduler};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::{LRScheduler, Schedule, ScheduleConfig};

kwargs! {
    /// `get_scheduler("cosine", optimizer, num_warmup_steps, num_training_steps,
    /// scheduler_specific_kwargs={num_cycles})`'s arguments.
    pub struct CosineConfig for Cosine {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// The length of the schedule in steps (required: `get_scheduler` raises without it).
        num_training_steps: Option<i64> = None,
        /// The number of cosine waves over the decay (0.5: down to 0 once).
        num_cycles: f64 = 0.5,
    }
}

impl ScheduleConfig for CosineConfig {
    const NAME: &'static str = "transformers.cosine";
    const EXAMPLE: &'static str = "{name: transformers.cosine, num_warmup_steps: 3, num_training_steps: 10}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(Cosine::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `get_scheduler("cosine_with_restarts", optimizer, num_warmup_steps,
    /// num_training_steps, scheduler_specific_kwargs={num_cycles})`'s arguments.
    pub struct CosineWithRestartsConfig for CosineWithRestarts {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// The length of the schedule in steps (required: `get_scheduler` raises without it).
        num_training_steps: Option<i64> = None,
        /// The number of hard restarts (transformers' `int`, used as a float).
        num_cycles: f64 = 1.0,
    }
}

impl ScheduleConfig for CosineWithRestartsConfig {
    const NAME: &'static str = "transformers.cosine_with_restarts";
    const EXAMPLE: &'static str =
        "{name: transformers.cosine_with_restarts, num_warmup_steps: 2, num_training_steps: 11, num_cycles: 3}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(CosineWithRestarts::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `get_scheduler("cosine_with_min_lr", optimizer, num_warmup_steps,
    /// num_training_steps, scheduler_specific_kwargs={num_cycles, min_lr,
    /// min_lr_rate})`'s arguments.
    pub struct CosineWithMinLrConfig for CosineWithMinLr {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// The length of the schedule in steps (required: `get_scheduler` raises without it).
        num_training_steps: Option<i64> = None,
        /// The number of cosine waves over the decay (0.5: down to the floor once).
        num_cycles: f64 = 0.5,
        /// The floor as an LR, divided by the optimizer's default (first
        /// group's) LR into `min_lr_rate`. Give exactly one of the two.
        min_lr: Option<f64> = None,
        /// The floor as a fraction of each group's LR. Give exactly one of `min_lr` and `min_lr_rate`.
        min_lr_rate: Option<f64> = None,
    }
}

impl ScheduleConfig for CosineWithMinLrConfig {
    const NAME: &'static str = "transformers.cosine_with_min_lr";
    const EXAMPLE: &'static str =
        "{name: transformers.cosine_with_min_lr, num_warmup_steps: 3, num_training_steps: 10, min_lr_rate: 0.1}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(CosineWithMinLr::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `get_scheduler("cosine_warmup_with_min_lr", optimizer, num_warmup_steps,
    /// num_training_steps, scheduler_specific_kwargs={num_cycles, min_lr,
    /// min_lr_rate, warmup_lr_rate})`'s arguments.
    pub struct CosineWarmupWithMinLrConfig for CosineWarmupWithMinLr {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// The length of the schedule in steps (required: `get_scheduler` raises without it).
        num_training_steps: Option<i64> = None,
        /// The number of cosine waves over the decay (0.5: down to the floor once).
        num_cycles: f64 = 0.5,
        /// The floor as an LR, divided by the optimizer's default (first
        /// group's) LR into `min_lr_rate`. Give exactly one of the two.
        min_lr: Option<f64> = None,
        /// The floor as a fraction of each group's LR. Give exactly one of `min_lr` and `min_lr_rate`.
        min_lr_rate: Option<f64> = None,
        /// The warmup's first factor (`None`: the warmup runs `(s + 1) / W`).
        warmup_lr_rate: Option<f64> = None,
    }
}

impl ScheduleConfig for CosineWarmupWithMinLrConfig {
    const NAME: &'static str = "transformers.cosine_warmup_with_min_lr";
    const EXAMPLE: &'static str =
        "{name: transformers.cosine_warmup_with_min_lr, num_warmup_steps: 3, num_training_steps: 10, min_lr_rate: 0.1}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(CosineWarmupWithMinLr::from_args(self.clone()).boxed())
    }
}

/// transformers' `cosine` schedule (`get_cosine_schedule_with_warmup`): a
/// linear warmup from 0 over `num_warmup_steps` steps, then a cosine decay to
/// 0 at `num_training_steps`.
///
/// `λ(s) = s / max(1, W)` for `s < W`, then with `p = (s - W) / max(1, T - W)`,
/// `max(0, 0.5 * (1 + cos(π * num_cycles * 2 * p)))`. Nothing clamps `p`: past
/// `T` the LR rises again (W = 0, T = 4: 1, 0.854, 0.5, 0.146, 0, 0.146, 0.5, ...).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::Cosine;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("cosine", optimizer, num_warmup_steps=100, num_training_steps=1000)
/// let mut sched = Cosine::new().num_warmup_steps(100).num_training_steps(1000).build(opt)?;
/// for _ in 0..100 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [5e-5]); // the end of the warmup
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// From a config without `num_warmup_steps` or `num_training_steps`:
/// [`Error::Value`](crate::Error::Value) with `get_scheduler`'s message, when
/// bound to an optimizer.
pub type Cosine = LRScheduler<CosineConfig>;

impl GetScheduler for CosineConfig {
    fn resolve(&self, _default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "COSINE", "num_warmup_steps")?;
        let t = required(self.num_training_steps, "COSINE", "num_training_steps")?;
        // transformers defines this λ twice; the live one has `min_lr_rate=0.0`.
        Ok(Lambda::Cosine { w, t, num_cycles: self.num_cycles, min_lr_rate: 0.0 })
    }
}

/// transformers' `cosine_with_restarts` schedule
/// (`get_cosine_with_hard_restarts_schedule_with_warmup`): a linear warmup
/// from 0, then `num_cycles` cosine decays to 0, each restarting at the full
/// LR, and 0 from `num_training_steps` on.
///
/// `λ(s) = s / max(1, W)` for `s < W`; with `p = (s - W) / max(1, T - W)`, 0
/// once `p >= 1`, else `max(0, 0.5 * (1 + cos(π * ((num_cycles * p) % 1))))`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::CosineWithRestarts;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("cosine_with_restarts", optimizer, num_warmup_steps=100, num_training_steps=1000,
/// //               scheduler_specific_kwargs={"num_cycles": 3})
/// let mut sched = CosineWithRestarts::new().num_warmup_steps(100).num_training_steps(1000).num_cycles(3.0).build(opt)?;
/// for _ in 0..400 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [5e-5]); // the first restart
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// From a config without `num_warmup_steps` or `num_training_steps`:
/// [`Error::Value`](crate::Error::Value) with `get_scheduler`'s message, when
/// bound to an optimizer.
pub type CosineWithRestarts = LRScheduler<CosineWithRestartsConfig>;

impl GetScheduler for CosineWithRestartsConfig {
    fn resolve(&self, _default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "COSINE_WITH_RESTARTS", "num_warmup_steps")?;
        let t = required(self.num_training_steps, "COSINE_WITH_RESTARTS", "num_training_steps")?;
        Ok(Lambda::CosineWithRestarts { w, t, num_cycles: self.num_cycles })
    }
}

/// transformers' `cosine_with_min_lr` schedule
/// (`get_cosine_with_min_lr_schedule_with_warmup`): `cosine`, decaying to a
/// floor instead of 0.
///
/// With `r = min_lr_rate` (or `min_lr` divided by the optimizer's default LR,
/// the first group's, for every group) and `f` the [`Cosine`] factor:
/// `λ(s) = s / max(1, W)` for `s < W`, then `max(0, f * (1 - r) + r)`. Past
/// `T` the LR rises again, as `cosine`'s does.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::CosineWithMinLr;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("cosine_with_min_lr", optimizer, num_warmup_steps=100, num_training_steps=1000,
/// //               scheduler_specific_kwargs={"min_lr_rate": 0.1})
/// let mut sched = CosineWithMinLr::new().num_warmup_steps(100).num_training_steps(1000).min_lr_rate(0.1).build(opt)?;
/// for _ in 0..1000 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 5e-6).abs() < 1e-18); // the floor
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// When bound to an optimizer, [`Error::Value`](crate::Error::Value) with transformers' message:
/// `num_warmup_steps` or `num_training_steps` missing (from a config), both
/// or neither of `min_lr` and `min_lr_rate` given.
/// [`Error::ZeroDivision`](crate::Error::ZeroDivision) for `min_lr` with a
/// default LR of 0.
pub type CosineWithMinLr = LRScheduler<CosineWithMinLrConfig>;

impl GetScheduler for CosineWithMinLrConfig {
    fn resolve(&self, default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "COSINE_WITH_MIN_LR", "num_warmup_steps")?;
        let t = required(self.num_training_steps, "COSINE_WITH_MIN_LR", "num_training_steps")?;
        let min_lr_rate = min_lr_rate(self.min_lr, self.min_lr_rate, default_lr)?;
        Ok(Lambda::Cosine { w, t, num_cycles: self.num_cycles, min_lr_rate })
    }
}

/// transformers' `cosine_warmup_with_min_lr` schedule
/// (`get_cosine_with_min_lr_schedule_with_warmup_lr_rate`): `cosine_with_min_lr`
/// one step ahead, with a warmup that does not start at 0.
///
/// In floats: for `s < W`, `(s + 1) / max(1, W)`, or with `warmup_lr_rate`
/// `rw`, `rw + (1 - rw) * s / max(1, W - 1)`; then with
/// `p = (s - W + 1) / max(1, T - W)`, `max(0, f * (1 - r) + r)` (`f` and `r`
/// as in [`CosineWithMinLr`]): the floor comes at `T - 1`, and past it the LR
/// rises again.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::CosineWarmupWithMinLr;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("cosine_warmup_with_min_lr", optimizer, num_warmup_steps=100,
/// //               num_training_steps=1000, scheduler_specific_kwargs={"min_lr_rate": 0.1})
/// let mut sched = CosineWarmupWithMinLr::new().num_warmup_steps(100).num_training_steps(1000).min_lr_rate(0.1).build(opt)?;
/// assert!((sched.last_lr()[0] - 5e-7).abs() < 1e-18); // (0 + 1) / 100: not 0 at step 0
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// As [`CosineWithMinLr`].
pub type CosineWarmupWithMinLr = LRScheduler<CosineWarmupWithMinLrConfig>;

impl GetScheduler for CosineWarmupWithMinLrConfig {
    fn resolve(&self, default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "COSINE_WARMUP_WITH_MIN_LR", "num_warmup_steps")?;
        let t = required(self.num_training_steps, "COSINE_WARMUP_WITH_MIN_LR", "num_training_steps")?;
        let min_lr_rate = min_lr_rate(self.min_lr, self.min_lr_rate, default_lr)?;
        Ok(Lambda::CosineWarmupWithMinLr {
            w,
            t,
            num_cycles: self.num_cycles,
            min_lr_rate,
            warmup_lr_rate: self.warmup_lr_rate,
        })
    }
}
