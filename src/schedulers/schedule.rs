//! The [`Schedule`] trait, what users see of a schedule (its name, last LR,
//! saved state), and the hidden [`Protocol`]: the methods PyTorch's
//! `LRScheduler` uses internally (`__init__`, `_initial_step`, `step`,
//! `_update_lr(epoch)`, the undo of `SequentialLR`), through which
//! [`Scheduler`](crate::Scheduler) and the composites drive a schedule
//! exactly as PyTorch does.

use std::fmt::Debug;

use serde_yaml::{Mapping, Value as Y};

use crate::error::{Error, Result};
use crate::groups::ParamGroups;

/// A learning-rate schedule: PyTorch's scheduler logic without the optimizer.
///
/// Build one with a scheduler type's constructor ([`StepLR::new`](crate::StepLR::new),
/// ...) or from a config, and bind it to an optimizer with `build` (every
/// schedule type has it as a method, so no import is needed); the
/// [`Scheduler`](crate::Scheduler) steps it. A schedule of your own is an
/// [`LrPolicy`](crate::schedulers::LrPolicy) inside an
/// [`LRScheduler`](crate::schedulers::LRScheduler) (see the
/// [`schedulers`](crate::schedulers) module docs).
///
/// The methods PyTorch's schedulers use internally (`_initial_step`,
/// `_update_lr`, ...) are in a sealed supertrait: only this crate's types
/// implement `Schedule`.
pub trait Schedule: Protocol + Send + Debug {
    /// The name in configs (PyTorch's class name, e.g. `"StepLR"`).
    fn name(&self) -> &'static str;

    /// `get_last_lr()`: the LR of each group after the last step.
    fn last_lr(&self) -> &[f64];

    /// `last_epoch`: the number of steps taken (`-1` before the initial step).
    fn last_epoch(&self) -> i64;

    /// Whether the schedule writes momentum (or beta1) too.
    fn cycles_momentum(&self) -> bool {
        false
    }

    /// Whether the schedule writes each group's weight decay too, as
    /// Megatron's `OptimizerParamScheduler` does: every step then writes the
    /// weight decay into the optimizer, and a trace shows it.
    fn schedules_weight_decay(&self) -> bool {
        false
    }

    /// Whether `step` needs a metric (`ReduceLROnPlateau`).
    fn takes_metric(&self) -> bool {
        false
    }

    /// What the reference warned of at construction, one line each
    /// (DeepSpeed's `OneCycle` on SGD: momentum cycling switched off).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// `state_dict()`: everything but closures, as a YAML value (YAML keeps
    /// `inf` and every `f64` exactly).
    ///
    /// # Errors
    /// [`Error::State`] when serialization fails.
    fn state(&self) -> Result<serde_yaml::Value>;

    /// `load_state_dict()`: takes a value from [`Schedule::state`] of the same
    /// scheduler; closures (`lr_lambda`, `scale_fn`) stay those of `self`.
    ///
    /// # Errors
    /// [`Error::State`] when the value is not a state of this scheduler.
    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()>;

    /// Runs the schedule's constructor on the optimizer's groups (validation
    /// and the initial step) and writes the result into libtorch: PyTorch's
    /// `Scheduler(optimizer, ...)`.
    ///
    /// # Errors
    /// The schedule's constructor errors, PyTorch's where PyTorch has them.
    fn build(self, optim: crate::Optim) -> Result<crate::Scheduler<Self>>
    where
        Self: Sized,
    {
        crate::Scheduler::new(optim, self)
    }

    /// Boxes the schedule, to put it into a `SequentialLR` or `ChainedScheduler`.
    fn boxed(self) -> Box<dyn Schedule>
    where
        Self: Sized + 'static,
    {
        Box::new(self)
    }
}

/// PyTorch's internal scheduler protocol, over [`ParamGroups`] and without
/// an optimizer. [`Scheduler`](crate::Scheduler) and the composites call it;
/// a program does not (it calls the [`Scheduler`](crate::Scheduler)'s step
/// methods). Sealed: nameable outside the crate only with the `internals`
/// feature, which the crate's own tests and benchmarks use to step a pure
/// schedule.
pub trait Protocol {
    /// PyTorch's constructor: validates against the groups, sets the group keys
    /// it owns (`initial_lr`, ...) and performs the initial step.
    ///
    /// # Errors
    /// PyTorch's constructor errors ([`Error::Value`] with its message, ...).
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()>;

    /// PyTorch's `_initial_step()`: resets the step count and steps once in
    /// "initial" mode.
    ///
    /// # Errors
    /// As [`Protocol::step`].
    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()>;

    /// PyTorch's `step()` with no argument: the recursive (chainable) form.
    ///
    /// # Errors
    /// What PyTorch raises at this step (OneCycleLR past its end, a division
    /// by zero, ...).
    fn step(&mut self, groups: &mut ParamGroups) -> Result<()>;

    /// PyTorch's `_update_lr(epoch)`: jumps to `epoch` with the closed form
    /// where the scheduler has one, else `get_lr()`. `SequentialLR` calls it
    /// with 0 at each milestone.
    ///
    /// # Errors
    /// [`Error::NotImplemented`] for composites (PyTorch's `NotImplementedError`).
    fn update_lr(&mut self, groups: &mut ParamGroups, epoch: i64) -> Result<()>;

    /// `SequentialLR.recursive_undo`: `last_epoch -= 1`, recursively for composites.
    fn undo(&mut self);

    /// `step(metric)` of `ReduceLROnPlateau`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for schedules that take no metric.
    fn step_metric(&mut self, groups: &mut ParamGroups, metric: f64) -> Result<()> {
        let _ = (groups, metric);
        Err(Error::Unsupported("this schedule takes no metric: call step()".into()))
    }

    /// PyTorch's deprecated `step(epoch)`, which only
    /// `CosineAnnealingWarmRestarts` still supports (fractional epochs), and
    /// timm's `step(t)` (integer `t`).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for every other schedule.
    fn step_epoch(&mut self, groups: &mut ParamGroups, epoch: f64) -> Result<()> {
        let _ = (groups, epoch);
        Err(Error::Unsupported(
            "this schedule has no step(epoch); only CosineAnnealingWarmRestarts (a fractional epoch) and the timm \
             schedules (an integer t) take one"
                .into(),
        ))
    }

    /// The reference's `scheduler.state_dict()` of this schedule, typed by
    /// the schedule itself ([`torch_state`](super::torch_state)); `groups` are
    /// the optimizer's.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a schedule without a PyTorch state.
    fn torch_state(&self, groups: &ParamGroups) -> Result<Y> {
        let _ = groups;
        Err(Error::Unsupported("this schedule has no PyTorch state".into()))
    }

    /// Loads the reference's `scheduler.state_dict()`: the arguments it states
    /// must be this schedule's, what the steps changed is taken.
    ///
    /// # Errors
    /// [`Error::State`] in one line naming the key; [`Error::Unsupported`]
    /// for a schedule without a PyTorch state.
    fn load_torch_state(&mut self, file: &Y, groups: &ParamGroups) -> Result<()> {
        let _ = (file, groups);
        Err(Error::Unsupported("this schedule has no PyTorch state".into()))
    }

    /// After [`load_torch_entries`](Self::load_torch_entries): writes into
    /// `groups` what the reference's `load_state_dict` writes into the
    /// optimizer's groups (Megatron's `step(increment=num_steps)`); nothing
    /// for the others, whose loads leave the groups as the file's optimizer has them.
    ///
    /// # Errors
    /// None by default.
    fn write_loaded(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let _ = groups;
        Ok(())
    }

    /// What a training loop saves of the schedule beside `"optimizer"` in
    /// its `torch.save({...})`: `{"scheduler": scheduler.state_dict()}`
    /// (timm's add `"t"`, the last `step(t)`; PyTorch's SWA loop saves
    /// `"scheduler"` and `"swa_scheduler"`).
    ///
    /// # Errors
    /// As [`torch_state`](Self::torch_state).
    fn torch_entries(&self, groups: &ParamGroups) -> Result<Mapping> {
        Ok(Mapping::from_iter([(Y::from("scheduler"), self.torch_state(groups)?)]))
    }

    /// Loads what [`torch_entries`](Self::torch_entries) writes.
    ///
    /// # Errors
    /// As [`load_torch_state`](Self::load_torch_state); [`Error::State`]
    /// for a missing entry.
    fn load_torch_entries(&mut self, entries: &Mapping, groups: &ParamGroups) -> Result<()> {
        self.load_torch_state(entry(entries, "scheduler")?, groups)
    }

    /// Loads what [`torch_entries`](Self::torch_entries) writes without the
    /// optimizer's groups beside it (a DeepSpeed ZeRO checkpoint keeps them
    /// in other files), for a schedule whose state says every group value it
    /// writes (DeepSpeed's classes): those are written into `groups`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for every other schedule (they read the
    /// optimizer's values); as [`load_torch_entries`](Self::load_torch_entries).
    fn load_torch_entries_alone(&mut self, entries: &Mapping, groups: &mut ParamGroups) -> Result<()> {
        let _ = (entries, groups);
        Err(Error::Unsupported(
            "this schedule continues from the optimizer's param_groups, which the file does not hold".into(),
        ))
    }
}

/// The entry `key` of what a training loop saved.
///
/// # Errors
/// [`Error::State`] when it is not there.
pub(crate) fn entry<'a>(entries: &'a Mapping, key: &str) -> Result<&'a Y> {
    entries.get(key).ok_or_else(|| Error::State(format!("it has no `{key}`")))
}

/// Schedules stepped with a plain `step()` (no metric): every schedule but
/// `ReduceLROnPlateau`, whose `step` takes one.
pub trait PlainStep: Schedule {}

impl Protocol for Box<dyn Schedule> {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        (**self).init(groups)
    }

    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        (**self).initial_step(groups)
    }

    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        (**self).step(groups)
    }

    fn update_lr(&mut self, groups: &mut ParamGroups, epoch: i64) -> Result<()> {
        (**self).update_lr(groups, epoch)
    }

    fn undo(&mut self) {
        (**self).undo()
    }

    fn step_metric(&mut self, groups: &mut ParamGroups, metric: f64) -> Result<()> {
        (**self).step_metric(groups, metric)
    }

    fn step_epoch(&mut self, groups: &mut ParamGroups, epoch: f64) -> Result<()> {
        (**self).step_epoch(groups, epoch)
    }

    fn torch_state(&self, groups: &ParamGroups) -> Result<Y> {
        (**self).torch_state(groups)
    }

    fn load_torch_state(&mut self, file: &Y, groups: &ParamGroups) -> Result<()> {
        (**self).load_torch_state(file, groups)
    }

    fn torch_entries(&self, groups: &ParamGroups) -> Result<Mapping> {
        (**self).torch_entries(groups)
    }

    fn load_torch_entries(&mut self, entries: &Mapping, groups: &ParamGroups) -> Result<()> {
        (**self).load_torch_entries(entries, groups)
    }

    fn load_torch_entries_alone(&mut self, entries: &Mapping, groups: &mut ParamGroups) -> Result<()> {
        (**self).load_torch_entries_alone(entries, groups)
    }

    fn write_loaded(&mut self, groups: &mut ParamGroups) -> Result<()> {
        (**self).write_loaded(groups)
    }
}

impl Schedule for Box<dyn Schedule> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn last_lr(&self) -> &[f64] {
        (**self).last_lr()
    }

    fn last_epoch(&self) -> i64 {
        (**self).last_epoch()
    }

    fn cycles_momentum(&self) -> bool {
        (**self).cycles_momentum()
    }

    fn schedules_weight_decay(&self) -> bool {
        (**self).schedules_weight_decay()
    }

    fn takes_metric(&self) -> bool {
        (**self).takes_metric()
    }

    fn notes(&self) -> Vec<String> {
        (**self).notes()
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        (**self).state()
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        (**self).load_state(state)
    }
}

pub(crate) fn to_state<T: serde::Serialize>(v: &T) -> Result<serde_yaml::Value> {
    serde_yaml::to_value(v).map_err(|e| Error::State(e.to_string()))
}

pub(crate) fn from_state<T: serde::de::DeserializeOwned>(name: &str, v: serde_yaml::Value) -> Result<T> {
    serde_yaml::from_value(v).map_err(|e| Error::State(format!("not a {name} state: {e}")))
}

/// The refusal of `child` inside the composite `parent` (`SequentialLR`,
/// `ChainedScheduler`, `SWA`, a `weight_decay_scheduler:`), if it is a
/// schedule that drives the weight decay itself (Megatron's): such a schedule
/// is a training loop's one scheduler, with no PyTorch `LRScheduler` protocol
/// to nest.
pub(crate) fn refuse_nested(parent: &str, child: &dyn Schedule) -> Result<()> {
    if child.schedules_weight_decay() {
        return Err(Error::Unsupported(format!(
            "{parent} cannot hold {}: it drives every group's LR and weight decay itself, as a training loop's \
             only scheduler",
            child.name()
        )));
    }
    Ok(())
}

/// The most steps a loaded state may have taken: far beyond any run, and
/// where step counts are still exact as `f64`.
const MAX_STEPS: i64 = 1 << 53;

/// A loaded schedule's step count and size, checked: a state a run can reach,
/// for this many groups.
pub(crate) fn check_loaded(schedule: &dyn Schedule, groups: usize) -> Result<()> {
    if !(-1..=MAX_STEPS).contains(&schedule.last_epoch()) {
        return Err(Error::State(format!(
            "last_epoch {} is outside [-1, 2^53]: not a state a run can reach",
            schedule.last_epoch()
        )));
    }
    if schedule.last_lr().len() != groups {
        return Err(Error::State("the schedule's state does not match the number of groups".into()));
    }
    Ok(())
}
