//! PyTorch's `LRScheduler` base class, written once: [`LRScheduler<P>`] holds
//! the bookkeeping every chainable PyTorch scheduler shares ([`Base`]:
//! `last_epoch`, `base_lrs`, ...) around a [`LrPolicy`], the schedule's own
//! formula and arguments.
//!
//! A registered PyTorch or transformers schedule is `LRScheduler` of its
//! keyword arguments: [`StepLR`](crate::StepLR) is
//! `LRScheduler<config::StepLRConfig>`, whose builder (`StepLR::new(30).gamma(0.1)`)
//! the `kwargs!` declaration of those arguments writes.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::schedule::{from_state, to_state, Protocol, Schedule};
use super::torch_state::{self, LrSchedulerDict, TorchArgs};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use crate::optim::Optim;
use crate::scheduler::Scheduler;

/// The attributes of PyTorch's `LRScheduler` that every scheduler has.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Base {
    /// `last_epoch`.
    pub last_epoch: i64,
    /// `_step_count`.
    pub step_count: i64,
    /// `base_lrs`.
    pub base_lrs: Vec<f64>,
    /// `_last_lr`.
    pub last_lr: Vec<f64>,
    /// `_is_initial`: true only during `_initial_step`.
    #[serde(skip)]
    pub is_initial: bool,
    /// Scratch space for the new LRs, reused at every step (no allocation).
    #[serde(skip)]
    buf: Vec<f64>,
}

/// A schedule written as PyTorch writes its `LRScheduler` subclasses: a
/// `get_lr()` (the recursive form `step()` uses) and, where PyTorch has one, a
/// `_get_closed_form_lr()`. `Self` holds the schedule's arguments;
/// [`LRScheduler`] adds the base-class behaviour.
pub trait LrPolicy: Clone + Debug + Send + Serialize + DeserializeOwned + 'static {
    /// The class name (the name in configs).
    const NAME: &'static str;

    /// What the constructor computes from the arguments and the groups
    /// (`()` for most schedules).
    type State: Clone + Debug + Default + Send + Serialize + DeserializeOwned + 'static;

    /// The part of the constructor before `super().__init__()`: validation and
    /// the group keys this scheduler sets.
    ///
    /// # Errors
    /// PyTorch's constructor errors.
    fn setup(&mut self, state: &mut Self::State, groups: &mut ParamGroups) -> Result<()> {
        let _ = (state, groups);
        Ok(())
    }

    /// The part of the constructor after `super().__init__()`.
    ///
    /// # Errors
    /// PyTorch's constructor errors.
    fn finish(&self, state: &Self::State, base: &mut Base) -> Result<()> {
        let _ = (state, base);
        Ok(())
    }

    /// `get_lr()`: writes the new LR of each group into `out`. May set the
    /// groups' momentum, as `CyclicLR` and `OneCycleLR` do.
    ///
    /// # Errors
    /// What PyTorch raises in `get_lr()`.
    fn get_lr(&self, state: &Self::State, base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()>;

    /// `_get_closed_form_lr()`: writes the LRs into `out` and returns true, or
    /// returns false when PyTorch has no closed form for this scheduler.
    ///
    /// # Errors
    /// What PyTorch raises in `_get_closed_form_lr()`.
    fn closed_form(&self, state: &Self::State, base: &Base, out: &mut [f64]) -> Result<bool> {
        let _ = (state, base, out);
        Ok(false)
    }

    /// Whether the scheduler cycles momentum.
    fn cycles_momentum(&self) -> bool {
        false
    }

    /// The class's own attributes in PyTorch's `state_dict()` (beyond
    /// `LRScheduler`'s), for moving a run between PyTorch and tch-lr
    /// ([`crate::interop::state`]): a struct with the reference's attribute
    /// names, made with [`TorchArgs::of`]; `groups` are the optimizer's (for
    /// what PyTorch reads of it, such as `use_beta1`). The default: the
    /// schedule has no PyTorch state (a schedule of your own).
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default; [`Error::State`] when serialization fails.
    fn torch_args(&self, state: &Self::State, groups: &ParamGroups) -> Result<TorchArgs> {
        let _ = (state, groups);
        Err(super::torch_state::none_for(Self::NAME))
    }

    /// Takes a loaded state. By default everything saved replaces `self`'s;
    /// schedules with closures keep theirs.
    fn restore(&mut self, state: &mut Self::State, loaded: Self, loaded_state: Self::State) {
        *self = loaded;
        *state = loaded_state;
    }
}

/// PyTorch's `LRScheduler`: the bookkeeping of a chainable schedule around
/// its [`LrPolicy`]. Saved as the policy's arguments, what its constructor
/// computed, and `base`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct LRScheduler<P: LrPolicy> {
    #[serde(flatten)]
    pub(crate) args: P,
    #[serde(default)]
    pub(crate) state: P::State,
    pub(crate) base: Base,
}

impl<P: LrPolicy> LRScheduler<P> {
    /// The schedule of `args`, not yet bound to an optimizer.
    pub fn from_args(args: P) -> Self {
        LRScheduler { args, state: P::State::default(), base: Base::default() }
    }

    /// The schedule's arguments (its keyword arguments for a registered schedule).
    pub fn args(&self) -> &P {
        &self.args
    }

    /// Runs the schedule's constructor on the optimizer's groups (validation
    /// and the initial step) and writes the result into libtorch.
    ///
    /// # Errors
    /// The schedule's constructor errors, PyTorch's where PyTorch has them.
    pub fn build(self, optim: Optim) -> Result<Scheduler<Self>> {
        Scheduler::new(optim, self)
    }

    /// Boxes the schedule, to put it into a `SequentialLR` or `ChainedScheduler`.
    pub fn boxed(self) -> Box<dyn Schedule> {
        Box::new(self)
    }

    /// `LRScheduler._update_lr(epoch)`.
    fn update(&mut self, groups: &mut ParamGroups, epoch: Option<i64>) -> Result<()> {
        let mut buf = std::mem::take(&mut self.base.buf);
        buf.resize(groups.len(), 0.0);
        let result = self.compute(groups, epoch, &mut buf);
        if result.is_ok() {
            apply_lrs(&mut self.base, groups, &buf);
        }
        self.base.buf = buf;
        result
    }

    fn compute(&mut self, groups: &mut ParamGroups, epoch: Option<i64>, out: &mut [f64]) -> Result<()> {
        match epoch {
            None => {
                self.base.last_epoch = self.base.last_epoch.saturating_add(1);
                self.args.get_lr(&self.state, &self.base, groups, out)
            }
            Some(e) => {
                self.base.last_epoch = e;
                if self.args.closed_form(&self.state, &self.base, out)? {
                    Ok(())
                } else {
                    self.args.get_lr(&self.state, &self.base, groups, out)
                }
            }
        }
    }
}

impl<P: LrPolicy> Protocol for LRScheduler<P> {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.args.setup(&mut self.state, groups)?;
        self.base.base_lrs = groups.setdefault_initial_lr();
        self.base.last_epoch = -1;
        self.initial_step(groups)?;
        self.args.finish(&self.state, &mut self.base)
    }

    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.base.step_count = 0;
        self.base.is_initial = true;
        let result = self.step(groups);
        self.base.is_initial = false;
        result
    }

    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.base.step_count = self.base.step_count.saturating_add(1);
        self.update(groups, None)
    }

    fn update_lr(&mut self, groups: &mut ParamGroups, epoch: i64) -> Result<()> {
        self.update(groups, Some(epoch))
    }

    fn undo(&mut self) {
        self.base.last_epoch -= 1;
    }

    fn torch_state(&self, groups: &ParamGroups) -> Result<serde_yaml::Value> {
        let args = self.args.torch_args(&self.state, groups)?;
        Ok(torch_state::merged([args.written().clone(), torch_state::to_mapping(&self.base.torch())?]))
    }

    fn load_torch_state(&mut self, file: &serde_yaml::Value, groups: &ParamGroups) -> Result<()> {
        let args = self.args.torch_args(&self.state, groups)?;
        let theirs = torch_state::load(P::NAME, &args, &self.base.torch(), file)?;
        self.base.load_torch(P::NAME, theirs, groups.len())
    }
}

impl<P: LrPolicy> Schedule for LRScheduler<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.base.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.base.last_epoch
    }

    fn cycles_momentum(&self) -> bool {
        self.args.cycles_momentum()
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        to_state(self)
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        let loaded: LRScheduler<P> = from_state(P::NAME, state)?;
        if loaded.base.last_epoch < -1 || loaded.base.step_count < 0 {
            return Err(Error::State(format!("{}: negative last_epoch or step count", P::NAME)));
        }
        self.args.restore(&mut self.state, loaded.args, loaded.state);
        self.base = loaded.base;
        // Size the scratch space now: a SequentialLR child may take its first
        // step long after the load, and a step must not allocate.
        let n = self.base.last_lr.len();
        self.base.buf.resize(n, 0.0);
        Ok(())
    }
}

/// Writes `lrs` into the groups and records them as `_last_lr`: the tail of
/// `_update_lr`, for schedulers that override `step()`.
pub(crate) fn apply_lrs(base: &mut Base, groups: &mut ParamGroups, lrs: &[f64]) {
    for (g, &lr) in groups.iter_mut().zip(lrs) {
        g.lr = lr;
    }
    groups.copy_lrs_into(&mut base.last_lr);
}

impl Base {
    /// `LRScheduler`'s attributes in PyTorch's `state_dict()`.
    pub(crate) fn torch(&self) -> LrSchedulerDict {
        LrSchedulerDict {
            base_lrs: self.base_lrs.clone(),
            last_epoch: self.last_epoch,
            step_count: self.step_count,
            is_initial: false,
            within_step: false,
            last_lr: self.last_lr.clone(),
        }
    }

    /// Takes a file's `LRScheduler` attributes (of class `name`), for `groups` groups.
    pub(crate) fn load_torch(&mut self, name: &str, d: LrSchedulerDict, groups: usize) -> Result<()> {
        d.check(name, groups)?;
        self.base_lrs = d.base_lrs;
        self.last_epoch = d.last_epoch;
        self.step_count = d.step_count;
        self.last_lr = d.last_lr;
        Ok(())
    }

    /// Scratch space of `n` values, taken out of the base (put it back with
    /// [`Base::put_buf`]).
    pub(crate) fn take_buf(&mut self, n: usize) -> Vec<f64> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(n, 0.0);
        buf
    }

    /// Returns the scratch space.
    pub(crate) fn put_buf(&mut self, buf: Vec<f64>) {
        self.buf = buf;
    }
}

/// `base_lr * factor` for each group: the closed form of every schedule that
/// scales the initial LRs by one factor.
pub(crate) fn scale_base(base: &Base, factor: f64, out: &mut [f64]) {
    for (o, b) in out.iter_mut().zip(&base.base_lrs) {
        *o = b * factor;
    }
}

/// `lr * factor` for each group, or the LRs unchanged for `None`: the
/// recursive form of the multiplicative schedules.
pub(crate) fn scale_groups(groups: &ParamGroups, factor: Option<f64>, out: &mut [f64]) {
    for (o, g) in out.iter_mut().zip(groups.iter()) {
        *o = match factor {
            None => g.lr,
            Some(f) => g.lr * f,
        };
    }
}

impl<P: LrPolicy> super::schedule::PlainStep for LRScheduler<P> {}
