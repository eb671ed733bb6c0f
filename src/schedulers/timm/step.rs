//! timm's step decays: `StepLRScheduler` (`timm/scheduler/step_lr.py`) and
//! `MultiStepLRScheduler` (`timm/scheduler/multistep_lr.py`), with warmup and
//! noise.

use serde::{Deserialize, Serialize};

use super::math::{bisect_right, floordiv, PowCache};
use super::scheduler::TimmWarmupDict;
use super::scheduler::{TimmNoise, TimmPolicy, TimmScheduler, TimmWarmup};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;
use crate::schedulers::torch_state::TorchArgs;

kwargs! {
    /// `StepLRScheduler`'s keyword arguments: `StepLRScheduler(optimizer,
    /// decay_t, decay_rate=1., warmup_t=0, warmup_lr_init=0.,
    /// warmup_prefix=True, t_in_epochs=True, noise_range_t=None,
    /// noise_pct=0.67, noise_std=1.0, noise_seed=42)`. (timm's `initialize` is
    /// not one: tch-lr always initializes, as timm does by default.)
    pub struct StepLRSchedulerConfig for StepLRScheduler {
        /// The period of the decay, in `t` (a float, as in timm).
        decay_t: f64,
        /// The multiplicative factor.
        decay_rate: f64 = 1.0,
        /// `warmup_t`, `warmup_lr_init` ([`TimmWarmup`]).
        ..warmup: TimmWarmup,
        /// Whether the decay starts after the warmup.
        warmup_prefix: bool = true,
        /// `t_in_epochs`, `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed` ([`TimmNoise`]).
        ..noise: TimmNoise,
    }
}

impl ScheduleConfig for StepLRSchedulerConfig {
    const NAME: &'static str = "timm.StepLRScheduler";
    const EXAMPLE: &'static str =
        "{name: timm.StepLRScheduler, decay_t: 3, decay_rate: 0.5, warmup_t: 2, warmup_lr_init: 0.001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(StepLRScheduler::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `MultiStepLRScheduler`'s keyword arguments:
    /// `MultiStepLRScheduler(optimizer, decay_t, decay_rate=1., warmup_t=0,
    /// warmup_lr_init=0., warmup_prefix=True, t_in_epochs=True,
    /// noise_range_t=None, noise_pct=0.67, noise_std=1.0, noise_seed=42)`.
    /// (timm's `initialize` is not one: tch-lr always initializes, as timm
    /// does by default.)
    pub struct MultiStepLRSchedulerConfig for MultiStepLRScheduler {
        /// The milestones, sorted (timm assumes it): milestone `m` applies
        /// from `t = m - 1` on (timm's `t + 1`).
        decay_t: Vec<i64>,
        /// The multiplicative factor.
        decay_rate: f64 = 1.0,
        /// `warmup_t`, `warmup_lr_init` ([`TimmWarmup`]).
        ..warmup: TimmWarmup,
        /// Whether the milestones count from the end of the warmup.
        warmup_prefix: bool = true,
        /// `t_in_epochs`, `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed` ([`TimmNoise`]).
        ..noise: TimmNoise,
    }
}

impl ScheduleConfig for MultiStepLRSchedulerConfig {
    const NAME: &'static str = "timm.MultiStepLRScheduler";
    const EXAMPLE: &'static str =
        "{name: timm.MultiStepLRScheduler, decay_t: [3, 5, 8], decay_rate: 0.5, warmup_t: 1, warmup_lr_init: 0.001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(MultiStepLRScheduler::from_args(self.clone()).boxed())
    }
}

/// `t`, less `warmup_t` with `warmup_prefix`.
fn shifted(t: i64, warmup_t: i64, warmup_prefix: bool) -> i128 {
    if warmup_prefix {
        i128::from(t) - i128::from(warmup_t)
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
pub type StepLRScheduler = TimmScheduler<StepLRSchedulerConfig>;

/// `StepLRScheduler.state_dict()`'s own attributes.
#[derive(Serialize, Deserialize)]
struct StepLRSchedulerDict {
    decay_t: f64,
    decay_rate: f64,
    #[serde(flatten)]
    warmup: TimmWarmupDict,
    warmup_prefix: bool,
}

impl TimmPolicy for StepLRSchedulerConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type Cache = PowCache;

    fn torch_args(&self) -> Result<TorchArgs> {
        TorchArgs::of(&StepLRSchedulerDict {
            decay_t: self.decay_t,
            decay_rate: self.decay_rate,
            warmup: (&self.warmup).into(),
            warmup_prefix: self.warmup_prefix,
        })
    }

    fn get_lr(&self, cache: &Self::Cache, base_values: &[f64], t: i64, out: &mut [f64]) -> Result<()> {
        let t = shifted(t, self.warmup.warmup_t, self.warmup_prefix);
        let f = cache.pow(self.decay_rate, floordiv(t, self.decay_t)?)?;
        for (o, v) in out.iter_mut().zip(base_values) {
            *o = v * f;
        }
        Ok(())
    }
}

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
pub type MultiStepLRScheduler = TimmScheduler<MultiStepLRSchedulerConfig>;

/// `MultiStepLRScheduler.state_dict()`'s own attributes.
#[derive(Serialize, Deserialize)]
struct MultiStepLRSchedulerDict {
    decay_t: Vec<i64>,
    decay_rate: f64,
    #[serde(flatten)]
    warmup: TimmWarmupDict,
    warmup_prefix: bool,
}

impl TimmPolicy for MultiStepLRSchedulerConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type Cache = PowCache;

    fn torch_args(&self) -> Result<TorchArgs> {
        TorchArgs::of(&MultiStepLRSchedulerDict {
            decay_t: self.decay_t.clone(),
            decay_rate: self.decay_rate,
            warmup: (&self.warmup).into(),
            warmup_prefix: self.warmup_prefix,
        })
    }

    fn get_lr(&self, cache: &Self::Cache, base_values: &[f64], t: i64, out: &mut [f64]) -> Result<()> {
        let t = shifted(t, self.warmup.warmup_t, self.warmup_prefix);
        let f = cache.pow(self.decay_rate, bisect_right(&self.decay_t, t + 1) as f64)?;
        for (o, v) in out.iter_mut().zip(base_values) {
            *o = v * f;
        }
        Ok(())
    }
}
