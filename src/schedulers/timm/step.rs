//! timm's step decays: `StepLRScheduler` (`timm/scheduler/step_lr.py`) and
//! `MultiStepLRScheduler` (`timm/scheduler/multistep_lr.py`), with warmup and
//! noise.

use serde::{Deserialize, Serialize};

use super::math::{bisect_right, floordiv, PowCache};
use super::noise::NoiseRange;
use super::scheduler::{base_of, base_setters, timm_schedule, Base, TimmPolicy};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

kwargs! {
    /// `StepLRScheduler`'s keyword arguments: `StepLRScheduler(optimizer,
    /// decay_t, decay_rate=1., warmup_t=0, warmup_lr_init=0.,
    /// warmup_prefix=True, t_in_epochs=True, noise_range_t=None,
    /// noise_pct=0.67, noise_std=1.0, noise_seed=42)`. (timm's `initialize` is
    /// not one: tch-lr always initializes, as timm does by default.)
    pub struct StepLRSchedulerConfig {
        /// The period of the decay, in `t` (a float, as in timm).
        decay_t: f64,
        /// The multiplicative factor.
        decay_rate: f64 = 1.0,
        /// The warmup length, in `t`.
        warmup_t: i64 = 0,
        /// The LR at `t = 0` of the warmup.
        warmup_lr_init: f64 = 0.0,
        /// Whether the decay starts after the warmup.
        warmup_prefix: bool = true,
        /// Whether `t` counts epochs (`step`) or updates (`step_update`).
        t_in_epochs: bool = true,
        /// Where the LR gets noise: `t0` (from `t0` on) or `[t0, t1]`.
        noise_range_t: Option<NoiseRange> = None,
        /// The noise's bound, relative to the LR.
        noise_pct: f64 = 0.67,
        /// The noise's standard deviation.
        noise_std: f64 = 1.0,
        /// The noise seed (step `t` uses `noise_seed + t`).
        noise_seed: i64 = 42,
    }
}

impl ScheduleConfig for StepLRSchedulerConfig {
    const NAME: &'static str = "timm.StepLRScheduler";
    const EXAMPLE: &'static str =
        "{name: timm.StepLRScheduler, decay_t: 3, decay_rate: 0.5, warmup_t: 2, warmup_lr_init: 0.001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        let c = self;
        Ok(StepLRScheduler {
            decay_t: c.decay_t,
            decay_rate: c.decay_rate,
            warmup_prefix: c.warmup_prefix,
            base: base_of!(c),
            factor: PowCache::default(),
        }
        .boxed())
    }
}

kwargs! {
    /// `MultiStepLRScheduler`'s keyword arguments:
    /// `MultiStepLRScheduler(optimizer, decay_t, decay_rate=1., warmup_t=0,
    /// warmup_lr_init=0., warmup_prefix=True, t_in_epochs=True,
    /// noise_range_t=None, noise_pct=0.67, noise_std=1.0, noise_seed=42)`.
    /// (timm's `initialize` is not one: tch-lr always initializes, as timm
    /// does by default.)
    pub struct MultiStepLRSchedulerConfig {
        /// The milestones, sorted (timm assumes it): milestone `m` applies
        /// from `t = m - 1` on (timm's `t + 1`).
        decay_t: Vec<i64>,
        /// The multiplicative factor.
        decay_rate: f64 = 1.0,
        /// The warmup length, in `t`.
        warmup_t: i64 = 0,
        /// The LR at `t = 0` of the warmup.
        warmup_lr_init: f64 = 0.0,
        /// Whether the milestones count from the end of the warmup.
        warmup_prefix: bool = true,
        /// Whether `t` counts epochs (`step`) or updates (`step_update`).
        t_in_epochs: bool = true,
        /// Where the LR gets noise: `t0` (from `t0` on) or `[t0, t1]`.
        noise_range_t: Option<NoiseRange> = None,
        /// The noise's bound, relative to the LR.
        noise_pct: f64 = 0.67,
        /// The noise's standard deviation.
        noise_std: f64 = 1.0,
        /// The noise seed (step `t` uses `noise_seed + t`).
        noise_seed: i64 = 42,
    }
}

impl ScheduleConfig for MultiStepLRSchedulerConfig {
    const NAME: &'static str = "timm.MultiStepLRScheduler";
    const EXAMPLE: &'static str =
        "{name: timm.MultiStepLRScheduler, decay_t: [3, 5, 8], decay_rate: 0.5, warmup_t: 1, warmup_lr_init: 0.001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        let c = self;
        Ok(MultiStepLRScheduler {
            decay_t: c.decay_t.clone(),
            decay_rate: c.decay_rate,
            warmup_prefix: c.warmup_prefix,
            base: base_of!(c),
            factor: PowCache::default(),
        }
        .boxed())
    }
}

/// `t`, less `warmup_t` with `warmup_prefix`.
fn shifted(t: i64, base: &Base, warmup_prefix: bool) -> i128 {
    if warmup_prefix {
        i128::from(t) - i128::from(base.warmup_t)
    } else {
        i128::from(t)
    }
}

/// timm's `StepLRScheduler`: after a linear warmup, each group's LR is
/// multiplied by `decay_rate` every `decay_t`.
///
/// `lr = base * decay_rate ^ (t // decay_t)`, `t` counted from the end of
/// the warmup (`warmup_prefix`, the default here).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::timm::StepLRScheduler;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
/// // StepLRScheduler(optimizer, decay_t=30, decay_rate=0.1)
/// let mut sched = StepLRScheduler::new(30.0).decay_rate(0.1).build(opt)?;
/// for _epoch in 0..30 {
///     // train one epoch, then timm's scheduler.step(epoch + 1):
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 0.01).abs() < 1e-15);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// None at construction (timm checks nothing); `decay_t = 0` fails at the
/// first step past the warmup with
/// [`Error::ZeroDivision`](crate::Error::ZeroDivision), as in Python.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepLRScheduler {
    decay_t: f64,
    decay_rate: f64,
    warmup_prefix: bool,
    base: Base,
    #[serde(skip)]
    factor: PowCache,
}

impl StepLRScheduler {
    /// `StepLRScheduler(optimizer, decay_t)`, with the defaults of
    /// [`StepLRSchedulerConfig`].
    pub fn new(decay_t: f64) -> Self {
        type C = StepLRSchedulerConfig;
        StepLRScheduler {
            decay_t,
            decay_rate: C::decay_rate,
            warmup_prefix: C::warmup_prefix,
            base: base_of!(defaults C),
            factor: PowCache::default(),
        }
    }

    /// The multiplicative factor (default `StepLRSchedulerConfig::decay_rate`).
    pub fn decay_rate(mut self, rate: f64) -> Self {
        self.decay_rate = rate;
        self
    }

    /// Whether the decay counts from the end of the warmup (default
    /// `StepLRSchedulerConfig::warmup_prefix`).
    pub fn warmup_prefix(mut self, on: bool) -> Self {
        self.warmup_prefix = on;
        self
    }

    base_setters!(StepLRSchedulerConfig);
}

impl TimmPolicy for StepLRScheduler {
    const NAME: &'static str = StepLRSchedulerConfig::NAME;

    fn base(&self) -> &Base {
        &self.base
    }

    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }

    fn get_lr(&self, t: i64, out: &mut [f64]) -> Result<()> {
        let t = shifted(t, &self.base, self.warmup_prefix);
        let f = self.factor.pow(self.decay_rate, floordiv(t, self.decay_t)?)?;
        for (o, v) in out.iter_mut().zip(&self.base.base_values) {
            *o = v * f;
        }
        Ok(())
    }
}

timm_schedule!(StepLRScheduler);

/// timm's `MultiStepLRScheduler`: after a linear warmup, each group's LR is
/// multiplied by `decay_rate` at each milestone of `decay_t`, **one step
/// early**: milestone `m` applies from `t = m - 1` on (timm compares
/// `t + 1`; kept on purpose by timm, huggingface/pytorch-image-models#2745,
/// and here).
///
/// `lr = base * decay_rate ^ bisect_right(decay_t, t + 1)`, `t` counted from
/// the end of the warmup (`warmup_prefix`, the default here). Like timm, it
/// assumes `decay_t` sorted, and gives what timm gives when it is not.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::timm::MultiStepLRScheduler;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
/// // MultiStepLRScheduler(optimizer, decay_t=[3, 6], decay_rate=0.1)
/// let mut sched = MultiStepLRScheduler::new(vec![3, 6]).decay_rate(0.1).build(opt)?;
/// sched.step()?; // step(1)
/// assert_eq!(sched.last_lr(), [0.1]);
/// sched.step()?; // step(2): milestone 3 already (t + 1 = 3)
/// assert!((sched.last_lr()[0] - 0.01).abs() < 1e-15);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// None at construction (timm checks nothing).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultiStepLRScheduler {
    /// As given (timm does not sort them).
    decay_t: Vec<i64>,
    decay_rate: f64,
    warmup_prefix: bool,
    base: Base,
    #[serde(skip)]
    factor: PowCache,
}

impl MultiStepLRScheduler {
    /// `MultiStepLRScheduler(optimizer, decay_t)`, with the defaults of
    /// [`MultiStepLRSchedulerConfig`].
    pub fn new(decay_t: impl Into<Vec<i64>>) -> Self {
        type C = MultiStepLRSchedulerConfig;
        MultiStepLRScheduler {
            decay_t: decay_t.into(),
            decay_rate: C::decay_rate,
            warmup_prefix: C::warmup_prefix,
            base: base_of!(defaults C),
            factor: PowCache::default(),
        }
    }

    /// The multiplicative factor (default `MultiStepLRSchedulerConfig::decay_rate`).
    pub fn decay_rate(mut self, rate: f64) -> Self {
        self.decay_rate = rate;
        self
    }

    /// Whether the milestones count from the end of the warmup (default
    /// `MultiStepLRSchedulerConfig::warmup_prefix`).
    pub fn warmup_prefix(mut self, on: bool) -> Self {
        self.warmup_prefix = on;
        self
    }

    base_setters!(MultiStepLRSchedulerConfig);
}

impl TimmPolicy for MultiStepLRScheduler {
    const NAME: &'static str = MultiStepLRSchedulerConfig::NAME;

    fn base(&self) -> &Base {
        &self.base
    }

    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }

    fn get_lr(&self, t: i64, out: &mut [f64]) -> Result<()> {
        let t = shifted(t, &self.base, self.warmup_prefix);
        let f = self.factor.pow(self.decay_rate, bisect_right(&self.decay_t, t + 1) as f64)?;
        for (o, v) in out.iter_mut().zip(&self.base.base_values) {
            *o = v * f;
        }
        Ok(())
    }
}

timm_schedule!(MultiStepLRScheduler);
