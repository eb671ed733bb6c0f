//! timm's `PolyLRScheduler` (`timm/scheduler/poly_lr.py`): polynomial decay
//! with warmup, restarts, k-decay and noise.

use serde::{Deserialize, Serialize};

use super::math::{decay_pow, div, pow, pow_k, Cycles};
use super::noise::NoiseRange;
use super::scheduler::{base_of, base_setters, cycle_setters, cycles_of, timm_schedule, Base, TimmPolicy};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

kwargs! {
    /// `PolyLRScheduler`'s keyword arguments: `PolyLRScheduler(optimizer,
    /// t_initial, power=0.5, lr_min=0., cycle_mul=1., cycle_decay=1.,
    /// cycle_limit=1, warmup_t=0, warmup_lr_init=0., warmup_prefix=False,
    /// t_in_epochs=True, noise_range_t=None, noise_pct=0.67, noise_std=1.0,
    /// noise_seed=42, k_decay=1.0)`. (timm's `initialize` is not one: tch-lr
    /// always initializes, as timm does by default.)
    pub struct PolyLRSchedulerConfig {
        /// The length of the first cycle, in `t`.
        t_initial: i64,
        /// The polynomial's power.
        power: f64 = 0.5,
        /// The LR at the end of each cycle, held after the last.
        lr_min: f64 = 0.0,
        /// The factor by which each cycle is longer than the last.
        cycle_mul: f64 = 1.0,
        /// The factor by which each cycle's peak is lower than the last's.
        cycle_decay: f64 = 1.0,
        /// The number of cycles.
        cycle_limit: i64 = 1,
        /// The warmup length, in `t`.
        warmup_t: i64 = 0,
        /// The LR at `t = 0` of the warmup.
        warmup_lr_init: f64 = 0.0,
        /// Whether the cycles start after the warmup.
        warmup_prefix: bool = false,
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
        /// The k-decay exponent of `t` in the polynomial.
        k_decay: f64 = 1.0,
    }
}

impl ScheduleConfig for PolyLRSchedulerConfig {
    const NAME: &'static str = "timm.PolyLRScheduler";
    const EXAMPLE: &'static str = "{name: timm.PolyLRScheduler, t_initial: 8, power: 2.0, lr_min: 0.001, \
                                   cycle_limit: 2, warmup_t: 2, warmup_lr_init: 0.0001, warmup_prefix: true}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        let c = self;
        Ok(PolyLRScheduler { power: c.power, cycles: cycles_of!(c), k_decay: c.k_decay, base: base_of!(c) }.boxed())
    }
}

/// timm's `PolyLRScheduler`: after a linear warmup, polynomial decay from
/// each group's base LR to `lr_min` over `t_initial`, repeated for
/// `cycle_limit` cycles (as [`CosineLRScheduler`](super::CosineLRScheduler)),
/// then `lr_min`.
///
/// `lr = lr_min + (base * cycle_decay^i - lr_min) * (1 - t_curr^k / t_i^k)^power`.
/// `power: 1.0` is a linear decay.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::timm::PolyLRScheduler;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
/// // PolyLRScheduler(optimizer, t_initial=10, power=1.0, t_in_epochs=False), stepped per update
/// let mut sched = PolyLRScheduler::new(10).power(1.0).t_in_epochs(false).build(opt)?;
/// assert!(!sched.schedule().is_t_in_epochs());
/// for _update in 0..5 {
///     // one optimizer update, then timm's scheduler.step_update(num_updates):
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 0.05).abs() < 1e-15); // half way
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Assertion`](crate::Error::Assertion) where timm asserts
/// (`t_initial > 0`, `lr_min >= 0`); at a step, what Python raises there
/// (`math domain error` past the end of cycles that shrink, `cycle_mul < 1`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolyLRScheduler {
    power: f64,
    cycles: Cycles,
    k_decay: f64,
    base: Base,
}

impl PolyLRScheduler {
    /// `PolyLRScheduler(optimizer, t_initial)`, with the defaults of
    /// [`PolyLRSchedulerConfig`].
    pub fn new(t_initial: i64) -> Self {
        type C = PolyLRSchedulerConfig;
        PolyLRScheduler {
            power: C::power,
            cycles: cycles_of!(defaults C, t_initial),
            k_decay: C::k_decay,
            base: base_of!(defaults C),
        }
    }

    /// The polynomial's power (default `PolyLRSchedulerConfig::power`).
    pub fn power(mut self, power: f64) -> Self {
        self.power = power;
        self
    }

    cycle_setters!(PolyLRSchedulerConfig);
    base_setters!(PolyLRSchedulerConfig);

    /// The k-decay exponent: the polynomial runs over `t_curr^k / t_i^k`
    /// (default `PolyLRSchedulerConfig::k_decay`).
    pub fn k_decay(mut self, k: f64) -> Self {
        self.k_decay = k;
        self
    }
}

impl TimmPolicy for PolyLRScheduler {
    const NAME: &'static str = PolyLRSchedulerConfig::NAME;

    fn base(&self) -> &Base {
        &self.base
    }

    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }

    fn check(&self) -> Result<()> {
        self.cycles.check(Self::NAME)
    }

    fn get_lr(&self, t: i64, out: &mut [f64]) -> Result<()> {
        let c = self.cycles.at(t, self.base.warmup_t)?;
        let gamma = decay_pow(self.cycles.cycle_decay, c.i)?;
        let lr_min = self.cycles.lr_min;
        if c.within_limit {
            let k = self.k_decay;
            let x = pow(1.0 - div(pow_k(c.t_curr, k)?, pow_k(c.t_i, k)?)?, self.power)?;
            for (o, v) in out.iter_mut().zip(&self.base.base_values) {
                *o = lr_min + (v * gamma - lr_min) * x;
            }
        } else {
            out.fill(lr_min);
        }
        Ok(())
    }
}

timm_schedule!(PolyLRScheduler);
