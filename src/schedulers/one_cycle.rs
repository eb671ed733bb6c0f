//! `OneCycleLR`: the 1cycle policy (Smith & Topin, <https://arxiv.org/abs/1708.07120>).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::lr_scheduler::{Base, LRScheduler, LrPolicy};
use super::pymath::div;
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use super::torch_state::TorchArgs;
use crate::config::kwargs::{kwargs, Diag};
use crate::error::{Error, Result};
use crate::groups::{GroupKey, ParamGroups, PerGroup};

kwargs! {
    /// `OneCycleLR`'s keyword arguments: `OneCycleLR(optimizer, max_lr,
    /// total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
    /// anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85,
    /// max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False)`.
    pub struct OneCycleLRConfig for OneCycleLR {
        /// The peak LR (one, or one per group).
        max_lr: PerGroup,
        /// The number of steps in the cycle (or give `epochs` and `steps_per_epoch`).
        total_steps: Option<i64> = None,
        /// The number of epochs, with `steps_per_epoch`.
        epochs: Option<i64> = None,
        /// The number of steps per epoch, with `epochs`.
        steps_per_epoch: Option<i64> = None,
        /// The share of the cycle spent increasing the LR.
        pct_start: f64 = 0.3,
        /// `cos` or `linear`.
        anneal_strategy: AnnealStrategy = AnnealStrategy::Cos,
        /// Whether momentum (or beta1) cycles inversely to the LR.
        cycle_momentum: bool = true,
        /// The lower momentum bound.
        base_momentum: PerGroup = PerGroup::All(0.85),
        /// The upper momentum bound.
        max_momentum: PerGroup = PerGroup::All(0.95),
        /// The initial LR is `max_lr / div_factor`.
        div_factor: f64 = 25.0,
        /// The final LR is the initial LR `/ final_div_factor`.
        final_div_factor: f64 = 1e4,
        /// Three phases (up, down, annihilate) instead of two.
        three_phase: bool = false,
    }
}

impl ScheduleConfig for OneCycleLRConfig {
    const NAME: &'static str = "OneCycleLR";
    const EXAMPLE: &'static str =
        "{name: OneCycleLR, max_lr: 0.1, total_steps: 16, three_phase: true, cycle_momentum: false}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(OneCycleLR::from_args(self.clone()).boxed())
    }
}

/// How [`OneCycleLR`] moves between two values within a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnealStrategy {
    /// Half a cosine.
    Cos,
    /// A straight line.
    Linear,
}

impl AnnealStrategy {
    /// What [`anneal_with`](Self::anneal_with) needs of `pct` beyond `pct`
    /// itself: PyTorch's `cos_out = cos(pi * pct) + 1` for the cosine.
    fn weight(self, pct: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => (PI * pct).cos() + 1.0,
            AnnealStrategy::Linear => pct,
        }
    }

    /// PyTorch's `_annealing_cos` / `_annealing_linear` from `start` to `end`
    /// at `pct`, with `w = self.weight(pct)`.
    fn anneal_with(self, start: f64, end: f64, pct: f64, w: f64) -> f64 {
        match self {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * w,
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

/// One phase of the cycle: where it ends and which group keys it moves between.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct Phase {
    end_step: f64,
    start_lr: GroupKey,
    end_lr: GroupKey,
    start_momentum: GroupKey,
    end_momentum: GroupKey,
}

/// PyTorch's `OneCycleLR`: the LR rises from `max_lr / div_factor` to `max_lr`
/// over `pct_start` of the run, then anneals to `initial_lr / final_div_factor`
/// (with `three_phase`, back to the initial LR first); momentum (beta1 for
/// Adam and AdamW) moves the other way between `max_momentum` and
/// `base_momentum`. Step it once per batch, `total_steps` times at most.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, OneCycleLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1)?;
/// // OneCycleLR(optimizer, max_lr=0.01, steps_per_epoch=10, epochs=10)
/// let mut sched = OneCycleLR::new(0.01).steps_per_epoch(10).epochs(10).build(opt)?;
/// assert!((sched.last_lr()[0] - 0.01 / 25.0).abs() < 1e-15);
/// for _batch in 0..29 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 0.01).abs() < 1e-15); // the peak, at 30% of the 100 steps
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with PyTorch's messages for a non-positive `total_steps`,
/// `epochs` or `steps_per_epoch`, none of them given, `pct_start` outside
/// `[0, 1]`, a per-group list of the wrong length; and at the step after
/// `total_steps`, PyTorch's "Tried to step ... times" error.
/// [`Error::ZeroDivision`] where a phase has no length (as in PyTorch).
pub type OneCycleLR = LRScheduler<OneCycleLRConfig>;

/// What `OneCycleLR`'s constructor computes: the cycle's length and phases.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Cycle {
    total: i64,
    phases: Vec<Phase>,
}

impl OneCycleLR {
    /// The cycle's length: `total_steps`, or `epochs * steps_per_epoch`, once built.
    pub fn len(&self) -> i64 {
        self.state.total
    }

    /// True before the scheduler is built.
    pub fn is_empty(&self) -> bool {
        self.state.total == 0
    }
}

impl OneCycleLRConfig {
    fn phases(&self, total: i64) -> Vec<Phase> {
        use GroupKey::*;
        let total = total as f64;
        let phase = |end_step, start_lr, end_lr, start_momentum, end_momentum| Phase {
            end_step,
            start_lr,
            end_lr,
            start_momentum,
            end_momentum,
        };
        if self.three_phase {
            vec![
                phase(self.pct_start * total - 1.0, InitialLr, MaxLr, MaxMomentum, BaseMomentum),
                phase(2.0 * self.pct_start * total - 2.0, MaxLr, InitialLr, BaseMomentum, MaxMomentum),
                phase(total - 1.0, InitialLr, MinLr, MaxMomentum, MaxMomentum),
            ]
        } else {
            vec![
                phase(self.pct_start * total - 1.0, InitialLr, MaxLr, MaxMomentum, BaseMomentum),
                phase(total - 1.0, MaxLr, MinLr, BaseMomentum, MaxMomentum),
            ]
        }
    }
}

/// `OneCycleLR.state_dict()`'s own attributes (`_schedule_phases` and
/// `_anneal_func_type` since PyTorch 2.2; `use_beta1` when it cycles momentum).
#[derive(Serialize, Deserialize)]
struct OneCycleLRDict {
    total_steps: i64,
    #[serde(rename = "_schedule_phases", default)]
    schedule_phases: Option<Vec<Phase>>,
    #[serde(rename = "_anneal_func_type", default)]
    anneal_func_type: Option<AnnealStrategy>,
    cycle_momentum: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    use_beta1: Option<bool>,
}

impl LrPolicy for OneCycleLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = Cycle;

    fn torch_args(&self, cycle: &Cycle, groups: &ParamGroups) -> Result<TorchArgs> {
        TorchArgs::of(&OneCycleLRDict {
            total_steps: cycle.total,
            schedule_phases: Some(cycle.phases.clone()),
            anneal_func_type: Some(self.anneal_strategy),
            cycle_momentum: self.cycle_momentum,
            use_beta1: self.cycle_momentum.then(|| groups.kind().uses_beta1()),
        })
    }

    fn setup(&mut self, cycle: &mut Cycle, groups: &mut ParamGroups) -> Result<()> {
        cycle.total = match (self.total_steps, self.epochs, self.steps_per_epoch) {
            (Some(t), _, _) if t <= 0 => {
                return Err(
                    Error::value(format!("Expected positive integer total_steps, but got {t}")).for_arg("total_steps")
                )
            }
            (Some(t), _, _) => t,
            (None, Some(e), Some(s)) => {
                if e <= 0 {
                    return Err(
                        Error::value(format!("Expected positive integer epochs, but got {e}")).for_arg("epochs")
                    );
                }
                if s <= 0 {
                    return Err(Error::value(format!("Expected positive integer steps_per_epoch, but got {s}"))
                        .for_arg("steps_per_epoch"));
                }
                e.checked_mul(s).ok_or(Error::Overflow("epochs * steps_per_epoch"))?
            }
            _ => return Err(Error::value("You must define either total_steps OR (epochs AND steps_per_epoch)")),
        };
        cycle.phases = self.phases(cycle.total);
        if !(0.0..=1.0).contains(&self.pct_start) {
            return Err(Error::value(format!(
                "Expected float between 0 and 1 pct_start, but got {}",
                super::py_float(self.pct_start)
            ))
            .for_arg("pct_start"));
        }
        let max_lrs = groups.format_param("max_lr", &self.max_lr)?;
        for (g, &max_lr) in groups.iter_mut().zip(&max_lrs) {
            let initial_lr = div(max_lr, self.div_factor)?;
            g.initial_lr = Some(initial_lr);
            g.max_lr = Some(max_lr);
            g.min_lr = Some(div(initial_lr, self.final_div_factor)?);
        }
        if self.cycle_momentum {
            let max_m = groups.format_param("max_momentum", &self.max_momentum)?;
            let base_m = groups.format_param("base_momentum", &self.base_momentum)?;
            for ((g, &max_m), &base_m) in groups.iter_mut().zip(&max_m).zip(&base_m) {
                g.momentum = max_m;
                g.max_momentum = Some(max_m);
                g.base_momentum = Some(base_m);
            }
        }
        Ok(())
    }

    fn get_lr(&self, cycle: &Cycle, base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let step_num = base.last_epoch;
        if step_num > cycle.total {
            return Err(Error::value(format!(
                "Tried to step {step_num} times. The specified number of total steps is {}",
                cycle.total
            )));
        }
        let step = step_num as f64;
        let last = cycle.phases.len().checked_sub(1).ok_or_else(|| Error::State("OneCycleLR has no phases".into()))?;
        // The phase and how far into it: the same for every group, so the
        // cosine is taken once per step, not twice per group (same bits).
        let mut start_step = 0.0;
        let mut current = None;
        for (j, phase) in cycle.phases.iter().enumerate() {
            if step <= phase.end_step || j == last {
                current = Some((phase, div(step - start_step, phase.end_step - start_step)?));
                break;
            }
            start_step = phase.end_step;
        }
        let Some((phase, pct)) = current else { return Ok(()) };
        let w = self.anneal_strategy.weight(pct);
        for (i, o) in out.iter_mut().enumerate().take(groups.len()) {
            let anneal = |from, to| -> Result<f64> {
                Ok(self.anneal_strategy.anneal_with(groups.key(i, from)?, groups.key(i, to)?, pct, w))
            };
            *o = anneal(phase.start_lr, phase.end_lr)?;
            if self.cycle_momentum {
                let m = anneal(phase.start_momentum, phase.end_momentum)?;
                groups.groups_mut()[i].momentum = m;
            }
        }
        Ok(())
    }

    fn cycles_momentum(&self) -> bool {
        self.cycle_momentum
    }
}
