//! Schedules for weight decay and momentum (beta1 for Adam and AdamW): any
//! schedule, applied to each group's initial weight decay or momentum exactly
//! as it is applied to each group's initial LR.
//!
//! A schedule bound to a [`HyperParam`] runs on shadow parameter groups whose
//! `lr` holds the values it drives: what PyTorch's own scheduler does on an
//! optimizer whose LRs are those weight decays (the tests' oracle). After each
//! step the values are copied into the real groups and written into libtorch
//! together with the LR. [`Scheduler::with_schedule`](crate::Scheduler::with_schedule) adds one to a scheduler;
//! [`Scheduler::step`](crate::Scheduler::step) and its siblings step them all, and
//! [`Scheduler::save`](crate::Scheduler::save) keeps them all in one state file.
//!
//! Only the schedule's LR output is used: a `CyclicLR` or `OneCycleLR` that
//! cycles momentum itself does so on its shadow groups alone. A momentum
//! schedule beside an LR schedule that cycles momentum is refused.
//!
//! ```
//! use tch::{nn, Device};
//! use tch_lr::hyper::HyperParam;
//! use tch_lr::{CosineAnnealingLR, LinearLR, Optim};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let _w = vs.root().zeros("w", &[4]);
//! let opt = Optim::new(nn::AdamW { wd: 0.05, ..Default::default() }, &vs, 1e-3)?;
//! let mut sched = CosineAnnealingLR::new(100)
//!     .build(opt)?
//!     // weight decay: 0.05 down to 0.005 along a cosine
//!     .with_schedule(HyperParam::WeightDecay, CosineAnnealingLR::new(100).eta_min(0.005))?
//!     // beta1: from 0.9 * 0.95 up to 0.9 over 10 steps
//!     .with_schedule(HyperParam::Momentum, LinearLR::new().start_factor(0.95).total_iters(10))?;
//! for _ in 0..100 {
//!     // ... the training step ...
//!     sched.step()?; // the LR, the weight decay and beta1
//! }
//! assert!((sched.groups().weight_decays()[0] - 0.005).abs() < 1e-12);
//! # Ok::<(), tch_lr::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::groups::{ParamGroup, ParamGroups};
use crate::schedulers::schedule::check_loaded;
use crate::schedulers::Schedule;

/// A hyper-parameter of each parameter group that a schedule can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HyperParam {
    /// `group["lr"]`: the scheduler's own schedule.
    Lr,
    /// `group["weight_decay"]`.
    WeightDecay,
    /// `group["momentum"]`, or `group["betas"][0]` for Adam and AdamW.
    Momentum,
}

impl HyperParam {
    /// The name in configs and state files: `lr`, `weight_decay`, `momentum`.
    pub fn name(self) -> &'static str {
        match self {
            HyperParam::Lr => "lr",
            HyperParam::WeightDecay => "weight_decay",
            HyperParam::Momentum => "momentum",
        }
    }

    /// The config section of a schedule of this value, and its key in a
    /// PyTorch state file: `scheduler`, `weight_decay_scheduler`, `momentum_scheduler`.
    pub fn section(self) -> &'static str {
        match self {
            HyperParam::Lr => "scheduler",
            HyperParam::WeightDecay => "weight_decay_scheduler",
            HyperParam::Momentum => "momentum_scheduler",
        }
    }

    fn get(self, g: &ParamGroup) -> f64 {
        match self {
            HyperParam::Lr => g.lr,
            HyperParam::WeightDecay => g.weight_decay,
            HyperParam::Momentum => g.momentum,
        }
    }

    fn set(self, g: &mut ParamGroup, v: f64) {
        match self {
            HyperParam::Lr => g.lr = v,
            HyperParam::WeightDecay => g.weight_decay = v,
            HyperParam::Momentum => g.momentum = v,
        }
    }
}

/// A schedule driving one hyper-parameter other than the LR, over its shadow
/// groups.
#[derive(Debug)]
pub(crate) struct HyperSchedule {
    target: HyperParam,
    schedule: Box<dyn Schedule>,
    /// The groups the schedule sees: `lr` holds the target's values; kind and
    /// momentum are the optimizer's, so that constructors check what PyTorch's
    /// check on such an optimizer.
    shadow: ParamGroups,
}

/// The saved state of a schedule of weight decay or momentum, part of a
/// [`SchedulerState`](crate::scheduler::SchedulerState).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HyperState {
    /// What the schedule drives.
    pub target: HyperParam,
    /// The schedule's class name.
    pub scheduler: String,
    /// Its shadow groups (`lr`: the values it drives).
    pub groups: ParamGroups,
    /// The schedule's own state.
    pub schedule: serde_yaml::Value,
}

impl HyperSchedule {
    /// Runs the schedule's constructor on shadow groups holding `groups`'
    /// current values of `target`, and copies its result into `groups`.
    pub(crate) fn new(target: HyperParam, mut schedule: Box<dyn Schedule>, groups: &mut ParamGroups) -> Result<Self> {
        let mut shadow = groups.clone();
        for g in shadow.iter_mut() {
            *g = ParamGroup { weight_decay: g.weight_decay, ..ParamGroup::new(target.get(g), g.momentum) };
        }
        schedule.init(&mut shadow)?;
        let h = HyperSchedule { target, schedule, shadow };
        h.apply(groups);
        Ok(h)
    }

    pub(crate) fn schedule(&self) -> &dyn Schedule {
        &*self.schedule
    }

    /// Copies the shadow groups' LRs into the target of `groups`.
    fn apply(&self, groups: &mut ParamGroups) {
        for (g, s) in groups.iter_mut().zip(self.shadow.iter()) {
            self.target.set(g, s.lr);
        }
    }

    /// `step()`, or `step(metric)` for a schedule that takes one.
    pub(crate) fn step(&mut self, groups: &mut ParamGroups, metric: Option<f64>) -> Result<()> {
        match metric.filter(|_| self.schedule.takes_metric()) {
            Some(m) => self.schedule.step_metric(&mut self.shadow, m)?,
            None => self.schedule.step(&mut self.shadow)?,
        }
        self.apply(groups);
        Ok(())
    }

    /// `step(epoch)`.
    pub(crate) fn step_epoch(&mut self, groups: &mut ParamGroups, epoch: f64) -> Result<()> {
        self.schedule.step_epoch(&mut self.shadow, epoch)?;
        self.apply(groups);
        Ok(())
    }

    pub(crate) fn state(&self) -> Result<HyperState> {
        Ok(HyperState {
            target: self.target,
            scheduler: self.schedule.name().to_string(),
            groups: self.shadow.clone(),
            schedule: self.schedule.state()?,
        })
    }

    /// Loads `state` (checked to be this schedule's by the caller).
    fn load_state(&mut self, state: HyperState) -> Result<()> {
        if state.groups.len() != self.shadow.len() || state.groups.kind() != self.shadow.kind() {
            return Err(Error::State(format!(
                "the {} schedule's state is for {} {} group(s), this optimizer is {} with {} group(s)",
                self.target.name(),
                state.groups.len(),
                state.groups.kind().name(),
                self.shadow.kind().name(),
                self.shadow.len()
            )));
        }
        self.schedule.load_state(state.schedule)?;
        check_loaded(&*self.schedule, state.groups.len())?;
        self.shadow = state.groups;
        Ok(())
    }
}

/// The schedules of weight decay and momentum of a
/// [`Scheduler`](crate::Scheduler): at most one per target, stepped after
/// the LR schedule, saved with it.
#[derive(Debug, Default)]
pub(crate) struct HyperSchedules(Vec<HyperSchedule>);

impl HyperSchedules {
    /// Whether there are none (the LR-only path).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a schedule for `target` beside the LR schedule `main`, run on
    /// the current values of `groups`.
    pub(crate) fn add(
        &mut self,
        target: HyperParam,
        schedule: Box<dyn Schedule>,
        main: &dyn Schedule,
        groups: &mut ParamGroups,
    ) -> Result<()> {
        if target == HyperParam::Lr {
            return Err(Error::Unsupported(format!(
                "{} already schedules the LR: combine LR schedules in a ChainedScheduler or SequentialLR",
                main.name()
            )));
        }
        if let Some(h) = self.0.iter().find(|h| h.target == target) {
            return Err(Error::Unsupported(format!(
                "{} is already scheduled by {}: combine both in a ChainedScheduler or SequentialLR",
                target.name(),
                h.schedule.name()
            )));
        }
        crate::schedulers::schedule::refuse_nested(target.section(), &*schedule)?;
        if target == HyperParam::WeightDecay && main.schedules_weight_decay() {
            return Err(Error::Unsupported(format!(
                "{} already schedules the weight decay: drop the weight decay schedule {}",
                main.name(),
                schedule.name()
            )));
        }
        if target == HyperParam::Momentum && main.cycles_momentum() {
            return Err(momentum_conflict(schedule.name(), main.name()));
        }
        self.0.push(HyperSchedule::new(target, schedule, groups)?);
        Ok(())
    }

    /// The schedule driving `target`, if any.
    pub(crate) fn schedule_of(&self, target: HyperParam) -> Option<&dyn Schedule> {
        self.0.iter().find(|h| h.target == target).map(HyperSchedule::schedule)
    }

    /// The schedules, in the order they were added.
    pub(crate) fn schedules(&self) -> impl Iterator<Item = &dyn Schedule> {
        self.0.iter().map(HyperSchedule::schedule)
    }

    /// One step of each (`step(metric)` for those that take one).
    pub(crate) fn step(&mut self, groups: &mut ParamGroups, metric: Option<f64>) -> Result<()> {
        self.0.iter_mut().try_for_each(|h| h.step(groups, metric))
    }

    /// `step(epoch)` of each.
    pub(crate) fn step_epoch(&mut self, groups: &mut ParamGroups, epoch: f64) -> Result<()> {
        self.0.iter_mut().try_for_each(|h| h.step_epoch(groups, epoch))
    }

    /// Their states.
    pub(crate) fn states(&self) -> Result<Vec<HyperState>> {
        self.0.iter().map(HyperSchedule::state).collect()
    }

    /// Loads states: the same targets and schedules, in the same order.
    pub(crate) fn load_states(&mut self, states: Vec<HyperState>) -> Result<()> {
        let describe = |v: &mut dyn Iterator<Item = (HyperParam, String)>| {
            let parts: Vec<String> = v.map(|(t, s)| format!("{} by {s}", t.name())).collect();
            if parts.is_empty() {
                "nothing but the LR".to_string()
            } else {
                parts.join(", ")
            }
        };
        let same = states.len() == self.0.len()
            && states.iter().zip(&self.0).all(|(s, h)| s.target == h.target && s.scheduler == h.schedule.name());
        if !same {
            return Err(Error::State(format!(
                "the state schedules {}; this scheduler schedules {}",
                describe(&mut states.iter().map(|s| (s.target, s.scheduler.clone()))),
                describe(&mut self.0.iter().map(|h| (h.target, h.schedule.name().to_string()))),
            )));
        }
        for (h, s) in self.0.iter_mut().zip(states) {
            h.load_state(s)?;
        }
        Ok(())
    }
}

/// A momentum schedule beside an LR schedule that cycles momentum.
pub(crate) fn momentum_conflict(hyper: &str, main: &str) -> Error {
    Error::Unsupported(format!(
        "momentum schedule {hyper} cannot run with {main}, which already cycles momentum (cycle_momentum is true): \
         set cycle_momentum to false, or drop the momentum schedule"
    ))
}
