//! timm's `CosineLRScheduler` (`timm/scheduler/cosine_lr.py`): cosine decay
//! with warmup, restarts (SGDR, <https://arxiv.org/abs/1608.03983>), k-decay
//! (<https://arxiv.org/abs/2004.05909>) and noise.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::math::{cos, decay_pow, div, pow_k, Cycles};
use super::scheduler::{TimmCycles, TimmNoise, TimmPolicy, TimmScheduler, TimmWarmup};
use super::scheduler::{TimmCyclesDict, TimmWarmupDict};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;
use crate::schedulers::torch_state::TorchArgs;

kwargs! {
    /// `CosineLRScheduler`'s keyword arguments: `CosineLRScheduler(optimizer,
    /// t_initial, lr_min=0., cycle_mul=1., cycle_decay=1., cycle_limit=1,
    /// warmup_t=0, warmup_lr_init=0., warmup_prefix=False, t_in_epochs=True,
    /// noise_range_t=None, noise_pct=0.67, noise_std=1.0, noise_seed=42,
    /// k_decay=1.0)`. (timm's `initialize` is not one: tch-lr always
    /// initializes, as timm does by default.)
    pub struct CosineLRSchedulerConfig for CosineLRScheduler {
        /// The length of the first cycle, in `t`.
        t_initial: i64,
        /// `lr_min`, `cycle_mul`, `cycle_decay`, `cycle_limit` ([`TimmCycles`]).
        ..cycles: TimmCycles,
        /// `warmup_t`, `warmup_lr_init` ([`TimmWarmup`]).
        ..warmup: TimmWarmup,
        /// Whether the cycles start after the warmup.
        warmup_prefix: bool = false,
        /// `t_in_epochs`, `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed` ([`TimmNoise`]).
        ..noise: TimmNoise,
        /// The k-decay exponent of `t` in the cosine.
        k_decay: f64 = 1.0,
    }
}

impl ScheduleConfig for CosineLRSchedulerConfig {
    const NAME: &'static str = "timm.CosineLRScheduler";
    const EXAMPLE: &'static str = "{name: timm.CosineLRScheduler, t_initial: 4, lr_min: 0.001, cycle_mul: 2.0, \
                                   cycle_decay: 0.5, cycle_limit: 3, warmup_t: 2, warmup_lr_init: 0.0001, \
                                   noise_range_t: 6, noise_seed: 7}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(CosineLRScheduler::from_args(self.clone()).boxed())
    }
}

/// timm's `CosineLRScheduler`: after a linear warmup, cosine decay from each
/// group's base LR to `lr_min` over `t_initial`, repeated for `cycle_limit`
/// cycles (each `cycle_mul` times longer, its peak `cycle_decay` times
/// lower), then `lr_min`.
///
/// `lr = lr_min + 0.5 * (base * cycle_decay^i - lr_min) * (1 + cos(pi * t_curr^k / t_i^k))`
/// in cycle `i`, `t_curr` into a cycle of length `t_i`. Without
/// `warmup_prefix` (the default) the cycle starts at `t = 0`, under the
/// warmup: the warmup then never quite reaches the base LR (timm's own
/// behaviour, kept).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::timm::CosineLRScheduler;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 1.0)?;
/// // CosineLRScheduler(optimizer, t_initial=10, warmup_t=3, warmup_lr_init=0.1)
/// let mut sched = CosineLRScheduler::new(10).warmup_t(3).warmup_lr_init(0.1).build(opt)?;
/// let mut lrs = vec![sched.last_lr()[0]];
/// for _epoch in 0..3 {
///     // train one epoch, then timm's scheduler.step(epoch + 1):
///     sched.step()?;
///     lrs.push(sched.last_lr()[0]);
/// }
/// // timm 1.0.31: 0.1, 0.4, 0.7, then 0.7938926261462366, not the base LR 1.0
/// let want = [0.1, 0.4, 0.7, 0.7938926261462366];
/// assert!(lrs.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12));
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Assertion`](crate::Error::Assertion) where timm asserts
/// (`t_initial > 0`, `lr_min >= 0`); at a step, what Python raises there
/// (`math domain error` past the end of cycles that shrink, `cycle_mul < 1`).
pub type CosineLRScheduler = TimmScheduler<CosineLRSchedulerConfig>;

impl CosineLRSchedulerConfig {
    /// The cycles of `t`, from the arguments.
    fn cycles(&self) -> Cycles {
        let s = self;
        s.cycles.cycles(s.t_initial, s.warmup_prefix)
    }
}

/// `CosineLRScheduler.state_dict()`'s own attributes.
#[derive(Serialize, Deserialize)]
struct CosineLRSchedulerDict {
    t_initial: i64,
    #[serde(flatten)]
    cycles: TimmCyclesDict,
    #[serde(flatten)]
    warmup: TimmWarmupDict,
    warmup_prefix: bool,
    k_decay: f64,
}

impl TimmPolicy for CosineLRSchedulerConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type Cache = ();

    fn torch_args(&self) -> Result<TorchArgs> {
        TorchArgs::of(&CosineLRSchedulerDict {
            t_initial: self.t_initial,
            cycles: (&self.cycles).into(),
            warmup: (&self.warmup).into(),
            warmup_prefix: self.warmup_prefix,
            k_decay: self.k_decay,
        })
    }

    fn check(&self) -> Result<()> {
        self.cycles().check(<Self as ScheduleConfig>::NAME)
    }

    fn get_lr(&self, _: &(), base_values: &[f64], t: i64, out: &mut [f64]) -> Result<()> {
        let c = self.cycles().at(t, self.warmup.warmup_t)?;
        let gamma = decay_pow(self.cycles.cycle_decay, c.i)?;
        let lr_min = self.cycles.lr_min;
        if c.within_limit {
            let k = self.k_decay;
            let x = 1.0 + cos(div(PI * pow_k(c.t_curr, k)?, pow_k(c.t_i, k)?)?)?;
            for (o, v) in out.iter_mut().zip(base_values) {
                *o = lr_min + 0.5 * (v * gamma - lr_min) * x;
            }
        } else {
            out.fill(lr_min);
        }
        Ok(())
    }
}
