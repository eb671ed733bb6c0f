//! [`Scheduler`]: a schedule bound to the optimizer it drives.
//!
//! One step verb per situation:
//!
//! | the scheduler | PyTorch | tch-lr |
//! |---|---|---|
//! | any typed schedule but `ReduceLROnPlateau` (`Scheduler<StepLR>`, ...) | `scheduler.step()` | [`step()`](Scheduler::step) |
//! | `Scheduler<ReduceLROnPlateau>` | `scheduler.step(val_loss)` | `step(metric)` |
//! | from a config (`Scheduler<Box<dyn Schedule>>`), no metric | `scheduler.step()` | `step()` |
//! | from a config, `ReduceLROnPlateau` | `scheduler.step(val_loss)` | [`step_metric(metric)`](Scheduler::step_metric) |
//! | code that handles any config, with or without a metric | either | [`step_with(Option<f64>)`](Scheduler::step_with) |
//! | `CosineAnnealingWarmRestarts` at a fractional epoch | `scheduler.step(epoch + i / iters)` | [`step_to(epoch)`](Scheduler::step_to) |
//! | a timm schedule at an explicit `t` | `scheduler.step(t)` / `step_update(t)` | [`step_to(t)`](Scheduler::step_to) |

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use crate::hyper::{HyperParam, HyperSchedules, HyperState};
use crate::optim::Optim;
use crate::schedulers::schedule::check_loaded;
use crate::schedulers::{PlainStep, ReduceLROnPlateau, Schedule};
use crate::support::write_atomic;

/// A scheduler that owns its optimizer: PyTorch's `scheduler` object.
///
/// Build one from a schedule with its `build` method ([`Schedule::build`]); train through
/// [`optimizer_mut`](Self::optimizer_mut); call [`step`](Self::step) once per
/// epoch or per batch, as the schedule expects. Every step computes the new
/// per-group values and writes the ones that changed into libtorch.
///
/// ```
/// use tch::{nn, nn::Module, Device, Kind, Tensor};
/// use tch_lr::{CosineAnnealingLR, Optim};
///
/// let vs = nn::VarStore::new(Device::Cpu);
/// let net = nn::linear(vs.root(), 8, 1, Default::default());
/// let opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1)?;
/// let mut sched = CosineAnnealingLR::new(100).build(opt)?;
/// for _epoch in 0..100 {
///     let x = Tensor::randn([32, 8], (Kind::Float, Device::Cpu));
///     let loss = net.forward(&x).pow_tensor_scalar(2).mean(Kind::Float);
///     sched.optimizer_mut().backward_step(&loss);
///     sched.step()?;
/// }
/// println!("lr = {:?}", sched.last_lr());
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// [`with_schedule`](Self::with_schedule) adds schedules for the weight decay
/// and the momentum (see [`hyper`](crate::hyper)).
#[derive(Debug)]
pub struct Scheduler<S> {
    pub(crate) optim: Optim,
    pub(crate) schedule: S,
    /// The schedules of weight decay and momentum (none: the LR-only path).
    pub(crate) hypers: HyperSchedules,
}

/// A scheduler's saved state: the parameter groups, the schedule's own
/// state (PyTorch's `state_dict()`) and those of the schedules of weight decay
/// and momentum, written as YAML.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SchedulerState {
    /// The format version, 1.
    pub format: u32,
    /// The scheduler's PyTorch class name.
    pub scheduler: String,
    /// The parameter groups (LR, momentum, `initial_lr`, ...).
    pub groups: ParamGroups,
    /// The schedule's state.
    pub schedule: serde_yaml::Value,
    /// The states of the schedules of weight decay and momentum (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hypers: Vec<HyperState>,
}

impl<S: Schedule> Scheduler<S> {
    /// Binds `schedule` to `optim`: see [`Schedule::build`].
    ///
    /// # Errors
    /// As [`Schedule::build`].
    pub fn new(optim: Optim, schedule: S) -> Result<Self> {
        Scheduler::bind(optim, schedule).map_err(|e| e.split_argument().1)
    }

    /// As [`new`](Self::new), its errors saying the argument they are about
    /// ([`Error::Argument`](crate::Error::Argument)), for a config to place.
    pub(crate) fn bind(mut optim: Optim, mut schedule: S) -> Result<Self> {
        schedule.init(optim.groups_mut())?;
        optim.sync()?;
        Ok(Scheduler { optim, schedule, hypers: HyperSchedules::default() })
    }

    /// Writes what a step of the schedule alone changed: the LR and the
    /// momentum, and the weight decay for a schedule that drives it.
    fn sync_step(&mut self) -> Result<()> {
        if self.schedule.schedules_weight_decay() {
            self.optim.sync()
        } else {
            self.optim.sync_lr_momentum()
        }
    }

    /// The optimizer (PyTorch's `scheduler.optimizer`), read-only: its
    /// groups, and its state for a checkpoint ([`Optim::save`]).
    pub fn optimizer(&self) -> &Optim {
        &self.optim
    }

    /// The optimizer, for the training step ([`Optim::backward_step`],
    /// `zero_grad`, `step`) and to load its state ([`Optim::load`]). Changing
    /// its groups directly bypasses the scheduler.
    pub fn optimizer_mut(&mut self) -> &mut Optim {
        &mut self.optim
    }

    /// The parameter groups as last written.
    pub fn groups(&self) -> &ParamGroups {
        self.optim.groups()
    }

    /// The schedule.
    pub fn schedule(&self) -> &S {
        &self.schedule
    }

    /// PyTorch's `get_last_lr()`: each group's LR after the last step.
    pub fn last_lr(&self) -> &[f64] {
        self.schedule.last_lr()
    }

    /// Each group's momentum (beta1 for Adam and AdamW) when the schedule
    /// cycles it or a momentum schedule drives it, else `None`.
    pub fn last_momentum(&self) -> Option<Vec<f64>> {
        let scheduled = self.schedule.cycles_momentum() || self.schedule_of(HyperParam::Momentum).is_some();
        scheduled.then(|| self.optim.groups().momenta())
    }

    /// PyTorch's `last_epoch`: steps taken since construction.
    pub fn last_epoch(&self) -> i64 {
        self.schedule.last_epoch()
    }

    /// PyTorch's `step(metric)` for a schedule that takes one
    /// (`ReduceLROnPlateau`, also behind a `Box<dyn Schedule>`).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a schedule that takes no metric,
    /// [`Error::NanMetric`] for NaN.
    pub fn step_metric(&mut self, metric: f64) -> Result<()> {
        if !self.hypers.is_empty() {
            return self.step_all(Some(metric));
        }
        self.schedule.step_metric(self.optim.groups_mut(), metric)?;
        self.sync_step()
    }

    /// Takes the next step: `step()`, or `step(metric)` when the schedule
    /// takes a metric (with schedules of weight decay or momentum: each takes
    /// the metric if it is one that does). For code that handles any schedule
    /// (configs).
    ///
    /// # Errors
    /// The step's errors, and [`Error::Unsupported`] when a metric is missing
    /// or given to a schedule that takes none.
    pub fn step_with(&mut self, metric: Option<f64>) -> Result<()> {
        if !self.hypers.is_empty() {
            return self.step_all(metric);
        }
        match (self.schedule.takes_metric(), metric) {
            (true, Some(m)) => self.step_metric(m),
            (true, None) => Err(Error::Unsupported(format!("{} needs a metric at each step", self.schedule.name()))),
            (false, None) => {
                self.schedule.step(self.optim.groups_mut())?;
                self.sync_step()
            }
            (false, Some(_)) => Err(Error::Unsupported(format!("{} takes no metric", self.schedule.name()))),
        }
    }

    /// PyTorch's `step(epoch)` with a fractional epoch, e.g. `epoch + i / iters`
    /// for batch `i` of `iters`: `CosineAnnealingWarmRestarts`; and timm's
    /// `step(t)` at an explicit integer `t` for the timm schedules
    /// ([`timm`](crate::timm)).
    ///
    /// # Errors
    /// [`Error::Value`] for a negative epoch (for timm, anything but an integer
    /// `t >= 0`), [`Error::Unsupported`] for other schedules.
    pub fn step_to(&mut self, epoch: f64) -> Result<()> {
        if !self.hypers.is_empty() {
            return self.step_all_to(epoch);
        }
        self.schedule.step_epoch(self.optim.groups_mut(), epoch)?;
        self.sync_step()
    }

    /// PyTorch's `state_dict()`, with the parameter groups.
    ///
    /// # Errors
    /// [`Error::State`] when serialization fails.
    pub fn state(&self) -> Result<SchedulerState> {
        Ok(SchedulerState {
            format: 1,
            scheduler: self.schedule.name().to_string(),
            groups: self.optim.groups().clone(),
            schedule: self.schedule.state()?,
            hypers: self.hypers.states()?,
        })
    }

    /// PyTorch's `load_state_dict()`, with the parameter groups and the
    /// schedules of weight decay and momentum: the scheduler continues exactly
    /// where the saved one stopped. Build it as the saved one was built;
    /// functions (`lr_lambda`, `scale_fn`) are not saved.
    ///
    /// # Errors
    /// [`Error::State`] when the state is of another format, scheduler, optimizer
    /// kind or number of groups, schedules other hyper-parameters, or does not
    /// parse, or holds values the optimizer refuses (a non-finite LR, a
    /// momentum of 2): the scheduler and its optimizer are then as they were.
    pub fn load_state(&mut self, state: SchedulerState) -> Result<()> {
        if state.format != 1 {
            return Err(Error::State(format!("unknown format {}, expected 1", state.format)));
        }
        if state.scheduler != self.schedule.name() {
            return Err(Error::State(format!(
                "the state is of a {}, this scheduler is a {}",
                state.scheduler,
                self.schedule.name()
            )));
        }
        if state.groups.len() != self.optim.groups().len() {
            return Err(Error::State(format!(
                "the state has {} parameter group(s), this optimizer has {}",
                state.groups.len(),
                self.optim.groups().len()
            )));
        }
        let before = self.state()?;
        let loaded = self.load_checked(state);
        if loaded.is_err() {
            // Nothing loaded half-way: what this scheduler wrote loads back.
            self.load_checked(before)?;
        }
        loaded
    }

    /// The parts of [`load_state`](Self::load_state) after its checks.
    fn load_checked(&mut self, state: SchedulerState) -> Result<()> {
        let groups = state.groups.len();
        self.schedule.load_state(state.schedule)?;
        check_loaded(&self.schedule, groups)?;
        self.hypers.load_states(state.hypers)?;
        self.optim.replace_groups(state.groups)
    }

    /// Saves the state to `path` as YAML, atomically: a temporary file in the
    /// same folder, flushed to disk, then renamed over `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let text = serde_yaml::to_string(&self.state()?).map_err(|e| Error::State(e.to_string()))?;
        write_atomic(path.as_ref(), text.as_bytes())
    }

    /// Loads a state saved by [`save`](Self::save).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::State`] when it is
    /// not a state of this scheduler.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::State(format!("{}: not a state file (not UTF-8: {e})", path.display())))?;
        let state: SchedulerState =
            serde_yaml::from_str(&text).map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
        self.load_state(state)
    }

    /// Adds a schedule for the weight decay or the momentum (beta1 for Adam
    /// and AdamW) of every group, applied to each group's current value as
    /// the scheduler's own schedule is applied to its initial LR. From now on
    /// every step steps it too (after the LR schedule; a metric goes to each
    /// schedule that takes one), [`save`](Self::save) keeps its state, and
    /// [`load`](Self::load) expects it.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for [`HyperParam::Lr`] (the scheduler's own
    /// schedule), for a target already scheduled, and for a momentum schedule
    /// beside an LR schedule that cycles momentum (`CyclicLR`, `OneCycleLR`
    /// with `cycle_momentum`); the schedule's constructor errors (PyTorch's);
    /// [`Optim::sync`]'s errors (momenta that differ between Adam, AdamW or
    /// RMSprop groups).
    pub fn with_schedule(self, target: HyperParam, schedule: impl Schedule + 'static) -> Result<Self> {
        self.with_boxed(target, Box::new(schedule)).map_err(|e| e.split_argument().1)
    }

    /// [`with_schedule`](Self::with_schedule) for a boxed schedule (from a config).
    pub(crate) fn with_boxed(mut self, target: HyperParam, schedule: Box<dyn Schedule>) -> Result<Self> {
        self.hypers.add(target, schedule, &self.schedule, self.optim.groups_mut())?;
        self.optim.sync()?;
        Ok(self)
    }

    /// The schedule driving `target`: the scheduler's own for
    /// [`HyperParam::Lr`], else the one added with
    /// [`with_schedule`](Self::with_schedule), if any.
    pub fn schedule_of(&self, target: HyperParam) -> Option<&dyn Schedule> {
        if target == HyperParam::Lr {
            return Some(&self.schedule);
        }
        self.hypers.schedule_of(target)
    }

    /// Each group's weight decay when it is scheduled (a weight decay
    /// schedule, or a schedule that drives it itself), else `None`.
    pub fn last_weight_decay(&self) -> Option<Vec<f64>> {
        let scheduled = self.schedule.schedules_weight_decay() || self.schedule_of(HyperParam::WeightDecay).is_some();
        scheduled.then(|| self.optim.groups().weight_decays())
    }

    /// Whether a step needs a metric: some schedule of this scheduler is a
    /// `ReduceLROnPlateau`.
    pub fn takes_metric(&self) -> bool {
        self.schedule.takes_metric() || self.hypers.schedules().any(|s| s.takes_metric())
    }

    /// One step of every schedule, `step()` or `step(metric)` as each takes,
    /// then one write of everything that changed.
    fn step_all(&mut self, metric: Option<f64>) -> Result<()> {
        if metric.is_some() && !self.takes_metric() {
            return Err(Error::Unsupported(format!("{} takes no metric", self.schedule.name())));
        }
        if metric.is_none() {
            let all = std::iter::once(&self.schedule as &dyn Schedule).chain(self.hypers.schedules());
            if let Some(s) = all.into_iter().find(|s| s.takes_metric()) {
                return Err(Error::Unsupported(format!("{} needs a metric at each step", s.name())));
            }
        }
        match metric.filter(|_| self.schedule.takes_metric()) {
            Some(m) => self.schedule.step_metric(self.optim.groups_mut(), m)?,
            None => self.schedule.step(self.optim.groups_mut())?,
        }
        self.hypers.step(self.optim.groups_mut(), metric)?;
        self.optim.sync()
    }

    /// `step(epoch)` of every schedule, then one write.
    fn step_all_to(&mut self, epoch: f64) -> Result<()> {
        self.schedule.step_epoch(self.optim.groups_mut(), epoch)?;
        self.hypers.step_epoch(self.optim.groups_mut(), epoch)?;
        self.optim.sync()
    }

    /// Splits into the optimizer and the schedule (dropping any schedules of
    /// weight decay and momentum).
    pub fn into_parts(self) -> (Optim, S) {
        (self.optim, self.schedule)
    }
}

impl<S: PlainStep> Scheduler<S> {
    /// PyTorch's `step()`: advances the schedule by one and writes the new
    /// values into the optimizer.
    ///
    /// # Errors
    /// What PyTorch raises at this step: OneCycleLR past `total_steps`, a
    /// division by zero for degenerate arguments, ...
    pub fn step(&mut self) -> Result<()> {
        if !self.hypers.is_empty() {
            return self.step_all(None);
        }
        self.schedule.step(self.optim.groups_mut())?;
        self.sync_step()
    }
}

impl Scheduler<Box<dyn Schedule>> {
    /// PyTorch's `step()` for a schedule chosen at run time (from a config).
    ///
    /// # Errors
    /// The step's errors, and [`Error::Unsupported`] for a schedule that needs
    /// a metric (`ReduceLROnPlateau`: call [`step_metric`](Self::step_metric)).
    pub fn step(&mut self) -> Result<()> {
        self.step_with(None)
    }
}

impl Scheduler<ReduceLROnPlateau> {
    /// PyTorch's `step(metrics)`: records the metric and cuts the LR on a plateau.
    ///
    /// # Errors
    /// [`Error::NanMetric`] for NaN.
    pub fn step(&mut self, metric: f64) -> Result<()> {
        self.step_metric(metric)
    }
}
