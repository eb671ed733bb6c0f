//! timm's `TanhLRScheduler` (`timm/scheduler/tanh_lr.py`): hyperbolic-tangent
//! decay (<https://arxiv.org/abs/1806.01593>) with warmup, restarts and noise.

use serde::{Deserialize, Serialize};

use super::math::{assertion, decay_pow, div, not_ge, not_lt, Cycles};
use super::scheduler::{TimmCycles, TimmNoise, TimmPolicy, TimmScheduler, TimmWarmup};
use super::scheduler::{TimmCyclesDict, TimmWarmupDict};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::py_float;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;
use crate::schedulers::torch_state::TorchArgs;

kwargs! {
    /// `TanhLRScheduler`'s keyword arguments: `TanhLRScheduler(optimizer,
    /// t_initial, lb=-7., ub=3., lr_min=0., cycle_mul=1., cycle_decay=1.,
    /// cycle_limit=1, warmup_t=0, warmup_lr_init=0., warmup_prefix=False,
    /// t_in_epochs=True, noise_range_t=None, noise_pct=0.67, noise_std=1.0,
    /// noise_seed=42)`. (timm's `initialize` is not one: tch-lr always
    /// initializes, as timm does by default.)
    pub struct TanhLRSchedulerConfig for TanhLRScheduler {
        /// The length of the first cycle, in `t`.
        t_initial: i64,
        /// The tanh argument at the start of a cycle.
        lb: f64 = -7.0,
        /// The tanh argument at the end of a cycle.
        ub: f64 = 3.0,
        /// `lr_min`, `cycle_mul`, `cycle_decay`, `cycle_limit` ([`TimmCycles`]).
        ..cycles: TimmCycles,
        /// `warmup_t`, `warmup_lr_init` ([`TimmWarmup`]).
        ..warmup: TimmWarmup,
        /// Whether the cycles start after the warmup.
        warmup_prefix: bool = false,
        /// `t_in_epochs`, `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed` ([`TimmNoise`]).
        ..noise: TimmNoise,
    }
}

impl ScheduleConfig for TanhLRSchedulerConfig {
    const NAME: &'static str = "timm.TanhLRScheduler";
    const EXAMPLE: &'static str = "{name: timm.TanhLRScheduler, t_initial: 6, lr_min: 0.0005, cycle_limit: 2, \
                                   warmup_t: 2, warmup_lr_init: 0.001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(TanhLRScheduler::from_args(self.clone()).boxed())
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
pub type TanhLRScheduler = TimmScheduler<TanhLRSchedulerConfig>;

impl TanhLRSchedulerConfig {
    /// The cycles of `t`, from the arguments.
    fn cycles(&self) -> Cycles {
        let s = self;
        s.cycles.cycles(s.t_initial, s.warmup_prefix)
    }
}

/// `TanhLRScheduler.state_dict()`'s own attributes.
#[derive(Serialize, Deserialize)]
struct TanhLRSchedulerDict {
    lb: f64,
    ub: f64,
    t_initial: i64,
    #[serde(flatten)]
    cycles: TimmCyclesDict,
    #[serde(flatten)]
    warmup: TimmWarmupDict,
    warmup_prefix: bool,
}

impl TimmPolicy for TanhLRSchedulerConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type Cache = ();

    fn torch_args(&self) -> Result<TorchArgs> {
        TorchArgs::of(&TanhLRSchedulerDict {
            lb: self.lb,
            ub: self.ub,
            t_initial: self.t_initial,
            cycles: (&self.cycles).into(),
            warmup: (&self.warmup).into(),
            warmup_prefix: self.warmup_prefix,
        })
    }

    fn check(&self) -> Result<()> {
        let name = <Self as ScheduleConfig>::NAME;
        self.cycles().check(name)?;
        if not_lt(self.lb, self.ub) {
            return Err(assertion(name, "lb < ub", format!("lb={}, ub={}", py_float(self.lb), py_float(self.ub))));
        }
        if self.cycles.cycle_limit < 0 {
            return Err(assertion(name, "cycle_limit >= 0", self.cycles.cycle_limit.to_string()).for_arg("cycle_limit"));
        }
        if self.warmup.warmup_t < 0 {
            return Err(assertion(name, "warmup_t >= 0", self.warmup.warmup_t.to_string()).for_arg("warmup_t"));
        }
        if not_ge(self.warmup.warmup_lr_init, 0.0) {
            return Err(
                assertion(name, "warmup_lr_init >= 0", py_float(self.warmup.warmup_lr_init)).for_arg("warmup_lr_init")
            );
        }
        Ok(())
    }

    /// Without `warmup_prefix`, `_get_lr(warmup_t)`: the warmup meets the curve.
    fn warmup_targets(&self, cache: &Self::Cache, base_values: &[f64], out: &mut [f64]) -> Result<()> {
        if self.warmup_prefix {
            out.copy_from_slice(base_values);
            Ok(())
        } else {
            self.get_lr(cache, base_values, self.warmup.warmup_t, out)
        }
    }

    fn get_lr(&self, _: &(), base_values: &[f64], t: i64, out: &mut [f64]) -> Result<()> {
        let c = self.cycles().at(t, self.warmup.warmup_t)?;
        let lr_min = self.cycles.lr_min;
        if c.within_limit {
            let gamma = decay_pow(self.cycles.cycle_decay, c.i)?;
            let tr = div(c.t_curr, c.t_i)?;
            let x = 1.0 - (self.lb * (1.0 - tr) + self.ub * tr).tanh();
            for (o, v) in out.iter_mut().zip(base_values) {
                *o = lr_min + 0.5 * (v * gamma - lr_min) * x;
            }
        } else {
            out.fill(lr_min);
        }
        Ok(())
    }
}
