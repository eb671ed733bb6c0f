//! `OneCycle`: DeepSpeed's 1cycle policy, its momentum as Adam's `betas`.

use serde::{Deserialize, Serialize};

use super::scheduler::{format_param, DeepSpeedPolicy, DeepSpeedScheduler};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::{Error, Result};
use crate::groups::{ParamGroups, PerGroup};
use crate::schedulers::py_float;
use crate::schedulers::pymath::{div, floor};
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

/// The beta2 DeepSpeed's `OneCycle` gives every Adam-type group: it writes
/// `betas = (momentum, 0.99)`.
pub const ONE_CYCLE_BETA2: f64 = 0.99;

kwargs! {
    /// `OneCycle`'s keyword arguments: `OneCycle(optimizer, cycle_min_lr,
    /// cycle_max_lr, decay_lr_rate=0., cycle_first_step_size=2000,
    /// cycle_second_step_size=None, cycle_first_stair_count=0,
    /// cycle_second_stair_count=None, decay_step_size=0, cycle_momentum=True,
    /// cycle_min_mom=0.8, cycle_max_mom=0.9, decay_mom_rate=0.)`.
    pub struct OneCycleConfig for OneCycle {
        /// The LR the cycle starts and ends at (one, or one per group).
        cycle_min_lr: PerGroup,
        /// The LR at the top of the cycle (one, or one per group).
        cycle_max_lr: PerGroup,
        /// After the cycle, `lr = cycle_min_lr / (1 + decay_lr_rate * d / decay_step_size)`.
        decay_lr_rate: f64 = 0.0,
        /// The steps of the cycle's rising half.
        cycle_first_step_size: i64 = 2000,
        /// The steps of its falling half (`None`: as the first).
        cycle_second_step_size: Option<i64> = None,
        /// Stairs in the first half (0: none, the LR moves every step).
        cycle_first_stair_count: i64 = 0,
        /// Stairs in the second half (`None`: as the first).
        cycle_second_stair_count: Option<i64> = None,
        /// The decay's interval after the cycle (0: no decay, the LR holds `cycle_min_lr`).
        decay_step_size: i64 = 0,
        /// Whether momentum (Adam's `betas[0]`) cycles inversely to the LR;
        /// off for optimizers without betas (SGD, RMSprop), as in DeepSpeed.
        cycle_momentum: bool = true,
        /// The momentum at the top of the LR (one, or one per group).
        cycle_min_mom: PerGroup = PerGroup::All(0.8),
        /// The momentum at the LR's ends (one, or one per group).
        cycle_max_mom: PerGroup = PerGroup::All(0.9),
        /// After the cycle, `momentum = cycle_max_mom * (1 + decay_mom_rate * d / decay_step_size)`.
        decay_mom_rate: f64 = 0.0,
    }
}

impl ScheduleConfig for OneCycleConfig {
    const NAME: &'static str = "deepspeed.OneCycle";
    const EXAMPLE: &'static str = "{name: deepspeed.OneCycle, cycle_min_lr: 0.01, cycle_max_lr: 0.1, \
                                   cycle_first_step_size: 4, decay_lr_rate: 0.5, decay_step_size: 2}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(OneCycle::from_args(self.clone()).boxed())
    }
}

/// DeepSpeed's `OneCycle`: the LR rises from `cycle_min_lr` to
/// `cycle_max_lr` over `cycle_first_step_size` steps and falls back over
/// `cycle_second_step_size` (in stairs with the stair counts), then decays
/// from `cycle_min_lr` (`decay_lr_rate` per `decay_step_size`). Momentum
/// moves the other way, between `cycle_max_mom` and `cycle_min_mom`, for
/// Adam and AdamW only: DeepSpeed writes `betas = (momentum, 0.99)`, so
/// beta2 becomes 0.99 from construction on. The owned optimizer
/// ([`Optim::owned`]) applies that beta2; tch's `nn::Optimizer` cannot set
/// beta2 and keeps its own ([`Optim::unapplied`] says so). With SGD or
/// RMSprop (no `betas`) momentum does not cycle, as DeepSpeed switches it off
/// with a warning ([`Schedule::notes`]).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::deepspeed::OneCycle;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::owned(nn::AdamW::default(), &vs, 1e-3)?;
/// // OneCycle(optimizer, cycle_min_lr=1e-4, cycle_max_lr=1e-3, cycle_first_step_size=10)
/// let mut sched = OneCycle::new(1e-4, 1e-3).cycle_first_step_size(10).build(opt)?;
/// assert_eq!(sched.groups().groups()[0].beta2, Some(0.99));
/// for _ in 0..10 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 1e-3).abs() < 1e-15); // the top, after the first 10 steps
/// assert!((sched.groups().momenta()[0] - 0.8).abs() < 1e-15); // cycle_min_mom there
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with DeepSpeed's messages: a step size that is not
/// positive (first) or negative (second), a per-group list of the wrong
/// length. [`Error::ZeroDivision`] where Python's division raises (a decay
/// factor of 0).
///
/// [`Optim::owned`]: crate::Optim::owned
/// [`Optim::unapplied`]: crate::Optim::unapplied
pub type OneCycle = DeepSpeedScheduler<OneCycleConfig>;

/// What `OneCycle`'s constructor computes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OneCycleState {
    /// `total_size`: the two halves, as floats.
    total_size: f64,
    /// `step_ratio`: the first half's share.
    step_ratio: f64,
    first_step_size: f64,
    second_step_size: f64,
    second_stair_count: i64,
    skip_lr_decay: bool,
    skip_mom_decay: bool,
    min_lrs: Vec<f64>,
    max_lrs: Vec<f64>,
    /// The momentum bounds (`betas[0]` of `min_moms` and `max_moms`) when
    /// momentum cycles; `None` before construction or when it does not.
    momentum: Option<Moms>,
    /// Whether the constructor ran.
    built: bool,
}

/// `OneCycle`'s momentum bounds, one per group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moms {
    min: Vec<f64>,
    max: Vec<f64>,
}

impl OneCycleConfig {
    /// `_get_scale_factor()` at `last_batch_iteration = i`.
    fn scale(&self, s: &OneCycleState, i: i64) -> Result<f64> {
        let b = (i + 1) as f64;
        let y = b / s.total_size;
        let cycle = floor(1.0 + y)?;
        let x = 1.0 + y - cycle;
        let (mut scale, stairs) = if x <= s.step_ratio {
            (div(x, s.step_ratio)?, self.cycle_first_stair_count)
        } else {
            (div(x - 1.0, s.step_ratio - 1.0)?, s.second_stair_count)
        };
        if stairs > 0 {
            let at = b % s.total_size;
            let position = if at <= s.first_step_size {
                div(at * stairs as f64, s.first_step_size)?
            } else {
                div((s.total_size - at) * stairs as f64, s.second_step_size)?
            };
            scale = floor(position)? / stairs as f64;
        }
        Ok(scale)
    }

    /// `decay_batch_iteration / decay_step_size`.
    fn decay_interval(&self, s: &OneCycleState, i: i64) -> Result<f64> {
        div(i as f64 - s.total_size + 1.0, self.decay_step_size as f64)
    }
}

impl DeepSpeedPolicy for OneCycleConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = OneCycleState;

    fn init(&self, groups: &mut ParamGroups, notes: &mut Vec<String>) -> Result<OneCycleState> {
        // _initialize_cycle
        let first = self.cycle_first_step_size as f64;
        let second = self.cycle_second_step_size.map_or(first, |v| v as f64);
        if first <= 0.0 {
            return Err(Error::value(format!("cycle_first_step_size must be positive, got {}", py_float(first)))
                .for_arg("cycle_first_step_size"));
        }
        if second < 0.0 {
            return Err(Error::value(format!("cycle_second_step_size must be non-negative, got {}", py_float(second)))
                .for_arg("cycle_second_step_size"));
        }
        let total_size = first + second;
        // math.isclose(x, 0): x == 0 exactly (rel_tol only, no abs_tol).
        let no_decay = self.decay_step_size == 0;
        let mut s = OneCycleState {
            total_size,
            step_ratio: first / total_size,
            first_step_size: first,
            second_step_size: second,
            second_stair_count: self.cycle_second_stair_count.unwrap_or(self.cycle_first_stair_count),
            skip_lr_decay: no_decay,
            skip_mom_decay: no_decay,
            built: true,
            ..OneCycleState::default()
        };
        // _initialize_lr
        s.min_lrs = format_param(groups, &self.cycle_min_lr, "cycle_min_lr", "cycle_min_lr")?;
        s.max_lrs = format_param(groups, &self.cycle_max_lr, "cycle_max_lr", "cycle_max_lr")?;
        for (g, &lr) in groups.iter_mut().zip(&s.min_lrs) {
            g.lr = lr;
        }
        if self.decay_lr_rate == 0.0 {
            s.skip_lr_decay = true;
        }
        // _initialize_momentum
        if self.cycle_momentum {
            if !groups.kind().uses_beta1() {
                notes.push(format!(
                    "cycle_momentum is disabled because optimizer {} does not support momentum, no betas attribute \
                     in defaults (DeepSpeed's warning)",
                    match groups.kind() {
                        crate::groups::OptimizerKind::RmsProp => "RMSprop",
                        _ => "SGD",
                    }
                ));
                return Ok(s);
            }
            let min = format_param(groups, &self.cycle_min_mom, "cycle_min_mom", "cycle_min_mom")?;
            let max = format_param(groups, &self.cycle_max_mom, "cycle_max_mom", "cycle_max_mom")?;
            for (g, &m) in groups.iter_mut().zip(&min) {
                g.momentum = m;
                g.beta2 = Some(ONE_CYCLE_BETA2);
            }
            if self.decay_mom_rate == 0.0 {
                s.skip_mom_decay = true;
            }
            s.momentum = Some(Moms { min, max });
        }
        Ok(s)
    }

    fn get_lr(&self, s: &OneCycleState, i: i64, out: &mut [f64]) -> Result<()> {
        if (i as f64) < s.total_size {
            let scale = self.scale(s, i)?;
            for ((o, min), max) in out.iter_mut().zip(&s.min_lrs).zip(&s.max_lrs) {
                *o = min + (max - min) * scale;
            }
        } else if s.skip_lr_decay {
            out.copy_from_slice(&s.min_lrs);
        } else {
            let factor = 1.0 + self.decay_lr_rate * self.decay_interval(s, i)?;
            for (o, min) in out.iter_mut().zip(&s.min_lrs) {
                *o = div(*min, factor)?;
            }
        }
        Ok(())
    }

    /// `param_group['betas'] = (momentum, 0.99)`.
    fn step_more(&self, s: &OneCycleState, i: i64, groups: &mut ParamGroups) -> Result<()> {
        let Some(m) = &s.momentum else { return Ok(()) };
        if (i as f64) < s.total_size {
            let scale = self.scale(s, i)?;
            for ((g, min), max) in groups.iter_mut().zip(&m.min).zip(&m.max) {
                g.momentum = max - (max - min) * scale;
                g.beta2 = Some(ONE_CYCLE_BETA2);
            }
        } else {
            let factor =
                if s.skip_mom_decay { None } else { Some(1.0 + self.decay_mom_rate * self.decay_interval(s, i)?) };
            for (g, max) in groups.iter_mut().zip(&m.max) {
                g.momentum = factor.map_or(*max, |f| max * f);
                g.beta2 = Some(ONE_CYCLE_BETA2);
            }
        }
        Ok(())
    }

    fn cycles_momentum(&self, s: &OneCycleState) -> bool {
        if s.built {
            s.momentum.is_some()
        } else {
            self.cycle_momentum
        }
    }
}
