//! timm's `TanhLRScheduler` (`timm/scheduler/tanh_lr.py`): hyperbolic-tangent
//! decay (<https://arxiv.org/abs/1806.01593>) with warmup, restarts and noise.

use serde::{Deserialize, Serialize};

use super::math::{assertion, decay_pow, div, not_ge, not_lt, Cycles};
use super::noise::NoiseRange;
use super::scheduler::{base_of, base_setters, cycle_setters, cycles_of, timm_schedule, Base, TimmPolicy};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::py_float;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

kwargs! {
    /// `TanhLRScheduler`'s keyword arguments: `TanhLRScheduler(optimizer,
    /// t_initial, lb=-7., ub=3., lr_min=0., cycle_mul=1., cycle_decay=1.,
    /// cycle_limit=1, warmup_t=0, warmup_lr_init=0., warmup_prefix=False,
    /// t_in_epochs=True, noise_range_t=None, noise_pct=0.67, noise_std=1.0,
    /// noise_seed=42)`. (timm's `initialize` is not one: tch-lr always
    /// initializes, as timm does by default.)
    pub struct TanhLRSchedulerConfig {
        /// The length of the first cycle, in `t`.
        t_initial: i64,
        /// The tanh argument at the start of a cycle.
        lb: f64 = -7.0,
        /// The tanh argument at the end of a cycle.
        ub: f64 = 3.0,
        /// The LR the tanh decays towards, held after the last cycle.
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
    }
}

impl ScheduleConfig for TanhLRSchedulerConfig {
    const NAME: &'static str = "timm.TanhLRScheduler";
    const EXAMPLE: &'static str = "{name: timm.TanhLRScheduler, t_initial: 6, lr_min: 0.0005, cycle_limit: 2, \
                                   warmup_t: 2, warmup_lr_init: 0.001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        let c = self;
        Ok(TanhLRScheduler { lb: c.lb, ub: c.ub, cycles: cycles_of!(c), base: base_of!(c) }.boxed())
    }
}

/// timm's `TanhLRScheduler`: after a linear warmup, each group's LR follows
/// `1 - tanh` from the base LR towards `lr_min` over `t_initial`, repeated for
/// `cycle_limit` cycles (as [`CosineLRScheduler`](super::CosineLRScheduler)),
/// then `lr_min`.
///
/// `lr = lr_min + 0.5 * (base * cycle_decay^i - lr_min) * (1 - tanh(lb * (1 - r) + ub * r))`,
/// `r = t_curr / t_i`. Without `warmup_prefix` (the default) the warmup climbs
/// to the tanh's value at `warmup_t`, so there is no jump.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::timm::TanhLRScheduler;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
/// // TanhLRScheduler(optimizer, t_initial=20, warmup_t=2, warmup_lr_init=0.01)
/// let mut sched = TanhLRScheduler::new(20).warmup_t(2).warmup_lr_init(0.01).build(opt)?;
/// for _epoch in 0..20 {
///     // train one epoch, then timm's scheduler.step(epoch + 1):
///     sched.step()?;
/// }
/// assert!(sched.last_lr()[0] < 0.0001); // the end of the first (and only) cycle
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Assertion`](crate::Error::Assertion) where timm asserts
/// (`t_initial > 0`, `lr_min >= 0`, `lb < ub`, `cycle_limit >= 0`,
/// `warmup_t >= 0`, `warmup_lr_init >= 0`); at construction and at a step,
/// what Python raises in the formula (`math domain error` past the end of
/// cycles that shrink, `cycle_mul < 1`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TanhLRScheduler {
    lb: f64,
    ub: f64,
    cycles: Cycles,
    base: Base,
}

impl TanhLRScheduler {
    /// `TanhLRScheduler(optimizer, t_initial)`, with the defaults of
    /// [`TanhLRSchedulerConfig`].
    pub fn new(t_initial: i64) -> Self {
        type C = TanhLRSchedulerConfig;
        TanhLRScheduler { lb: C::lb, ub: C::ub, cycles: cycles_of!(defaults C, t_initial), base: base_of!(defaults C) }
    }

    /// The tanh argument at the start of a cycle (default `TanhLRSchedulerConfig::lb`).
    pub fn lb(mut self, lb: f64) -> Self {
        self.lb = lb;
        self
    }

    /// The tanh argument at the end of a cycle (default `TanhLRSchedulerConfig::ub`).
    pub fn ub(mut self, ub: f64) -> Self {
        self.ub = ub;
        self
    }

    cycle_setters!(TanhLRSchedulerConfig);
    base_setters!(TanhLRSchedulerConfig);
}

impl TimmPolicy for TanhLRScheduler {
    const NAME: &'static str = TanhLRSchedulerConfig::NAME;

    fn base(&self) -> &Base {
        &self.base
    }

    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }

    fn check(&self) -> Result<()> {
        let name = Self::NAME;
        self.cycles.check(name)?;
        if not_lt(self.lb, self.ub) {
            return Err(assertion(name, "lb < ub", format!("lb={}, ub={}", py_float(self.lb), py_float(self.ub))));
        }
        if self.cycles.cycle_limit < 0 {
            return Err(assertion(name, "cycle_limit >= 0", self.cycles.cycle_limit.to_string()));
        }
        if self.base.warmup_t < 0 {
            return Err(assertion(name, "warmup_t >= 0", self.base.warmup_t.to_string()));
        }
        if not_ge(self.base.warmup_lr_init, 0.0) {
            return Err(assertion(name, "warmup_lr_init >= 0", py_float(self.base.warmup_lr_init)));
        }
        Ok(())
    }

    /// Without `warmup_prefix`, `_get_lr(warmup_t)`: the warmup meets the curve.
    fn warmup_targets(&self, out: &mut [f64]) -> Result<()> {
        if self.cycles.warmup_prefix {
            out.copy_from_slice(&self.base.base_values);
            Ok(())
        } else {
            self.get_lr(self.base.warmup_t, out)
        }
    }

    fn get_lr(&self, t: i64, out: &mut [f64]) -> Result<()> {
        let c = self.cycles.at(t, self.base.warmup_t)?;
        let lr_min = self.cycles.lr_min;
        if c.within_limit {
            let gamma = decay_pow(self.cycles.cycle_decay, c.i)?;
            let tr = div(c.t_curr, c.t_i)?;
            let x = 1.0 - (self.lb * (1.0 - tr) + self.ub * tr).tanh();
            for (o, v) in out.iter_mut().zip(&self.base.base_values) {
                *o = lr_min + 0.5 * (v * gamma - lr_min) * x;
            }
        } else {
            out.fill(lr_min);
        }
        Ok(())
    }
}

timm_schedule!(TanhLRScheduler);
