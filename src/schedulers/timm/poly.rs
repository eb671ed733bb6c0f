//! timm's `PolyLRScheduler` (`timm/scheduler/poly_lr.py`): polynomial decay
//! with warmup, restarts, k-decay and noise.

use serde::{Deserialize, Serialize};

use super::math::{decay_pow, div, pow, pow_k, Cycles};
use super::scheduler::{TimmCycles, TimmNoise, TimmPolicy, TimmScheduler, TimmWarmup};
use super::scheduler::{TimmCyclesDict, TimmWarmupDict};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;
use crate::schedulers::torch_state::TorchArgs;

kwargs! {
    /// `PolyLRScheduler`'s keyword arguments: `PolyLRScheduler(optimizer,
    /// t_initial, power=0.5, lr_min=0., cycle_mul=1., cycle_decay=1.,
    /// cycle_limit=1, warmup_t=0, warmup_lr_init=0., warmup_prefix=False,
    /// t_in_epochs=True, noise_range_t=None, noise_pct=0.67, noise_std=1.0,
    /// noise_seed=42, k_decay=1.0)`. (timm's `initialize` is not one: tch-lr
    /// always initializes, as timm does by default.)
    pub struct PolyLRSchedulerConfig for PolyLRScheduler {
        /// The length of the first cycle, in `t`.
        t_initial: i64,
        /// The polynomial's power.
        power: f64 = 0.5,
        /// `lr_min`, `cycle_mul`, `cycle_decay`, `cycle_limit` ([`TimmCycles`]).
        ..cycles: TimmCycles,
        /// `warmup_t`, `warmup_lr_init` ([`TimmWarmup`]).
        ..warmup: TimmWarmup,
        /// Whether the cycles start after the warmup.
        warmup_prefix: bool = false,
        /// `t_in_epochs`, `noise_range_t`, `noise_pct`, `noise_std`, `noise_seed` ([`TimmNoise`]).
        ..noise: TimmNoise,
        /// The k-decay exponent of `t` in the polynomial.
        k_decay: f64 = 1.0,
    }
}

impl ScheduleConfig for PolyLRSchedulerConfig {
    const NAME: &'static str = "timm.PolyLRScheduler";
    const EXAMPLE: &'static str = "{name: timm.PolyLRScheduler, t_initial: 8, power: 2.0, lr_min: 0.001, \
                                   cycle_limit: 2, warmup_t: 2, warmup_lr_init: 0.0001, warmup_prefix: true}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(PolyLRScheduler::from_args(self.clone()).boxed())
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
pub type PolyLRScheduler = TimmScheduler<PolyLRSchedulerConfig>;

impl PolyLRSchedulerConfig {
    /// The cycles of `t`, from the arguments.
    fn cycles(&self) -> Cycles {
        let s = self;
        s.cycles.cycles(s.t_initial, s.warmup_prefix)
    }
}

/// `PolyLRScheduler.state_dict()`'s own attributes.
#[derive(Serialize, Deserialize)]
struct PolyLRSchedulerDict {
    t_initial: i64,
    power: f64,
    #[serde(flatten)]
    cycles: TimmCyclesDict,
    #[serde(flatten)]
    warmup: TimmWarmupDict,
    warmup_prefix: bool,
    k_decay: f64,
}

impl TimmPolicy for PolyLRSchedulerConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type Cache = ();

    fn torch_args(&self) -> Result<TorchArgs> {
        TorchArgs::of(&PolyLRSchedulerDict {
            t_initial: self.t_initial,
            power: self.power,
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
            let x = pow(1.0 - div(pow_k(c.t_curr, k)?, pow_k(c.t_i, k)?)?, self.power)?;
            for (o, v) in out.iter_mut().zip(base_values) {
                *o = lr_min + (v * gamma - lr_min) * x;
            }
        } else {
            out.fill(lr_min);
        }
        Ok(())
    }
}
