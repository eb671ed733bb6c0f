//! What DeepSpeed's five classes share (`deepspeed/runtime/lr_schedules.py`,
//! DeepSpeed 0.19.8), written once: [`DeepSpeedScheduler<P>`] keeps
//! `last_batch_iteration` around a [`DeepSpeedPolicy`], the class's keyword
//! arguments, its constructor and its `get_lr()`. The classes have no common
//! base class in DeepSpeed; they share this protocol: `step(x=None)` sets
//! `last_batch_iteration` to `x` (or one more) and writes `get_lr()` into
//! every group, `state_dict()` is `{'last_batch_iteration': i}` alone.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value as Y};

use crate::error::{Error, Result};
use crate::groups::ParamGroups;
use crate::schedulers::py_float;
use crate::schedulers::schedule::{entry, from_state, to_state, PlainStep, Protocol, Schedule};
use crate::schedulers::torch_state::{self, TorchArgs};
use crate::{Optim, Scheduler};

/// A DeepSpeed schedule: its keyword arguments (`Self`), its constructor and
/// its `get_lr()`. [`DeepSpeedScheduler`] adds the stepping and the state.
pub trait DeepSpeedPolicy: Clone + Debug + Send + Serialize + DeserializeOwned + 'static {
    /// The config name, `deepspeed.<Class>`.
    const NAME: &'static str;

    /// What the constructor computes from the arguments and the optimizer's
    /// groups (each group's bounds, ...): saved with the schedule.
    type State: Clone + Debug + Default + Send + Serialize + DeserializeOwned + 'static;

    /// `__init__` with `last_batch_iteration=-1`: DeepSpeed's checks (its
    /// `ValueError`s, in its order), what it computes from the groups, and
    /// what it writes into them (the starting LR; `OneCycle`'s betas).
    /// DeepSpeed's warnings go to `notes`, one line each.
    ///
    /// # Errors
    /// DeepSpeed's constructor errors.
    fn init(&self, groups: &mut ParamGroups, notes: &mut Vec<String>) -> Result<Self::State>;

    /// `get_lr()` at `last_batch_iteration = i`: each group's LR into `out`.
    ///
    /// # Errors
    /// What Python raises there (a division by zero).
    fn get_lr(&self, state: &Self::State, i: i64, out: &mut [f64]) -> Result<()>;

    /// What `step()` writes besides the LRs, after them (`OneCycle`'s
    /// momentum, as `betas`).
    ///
    /// # Errors
    /// What Python raises there.
    fn step_more(&self, state: &Self::State, i: i64, groups: &mut ParamGroups) -> Result<()> {
        let _ = (state, i, groups);
        Ok(())
    }

    /// Whether the schedule writes momentum (beta1): before construction,
    /// whether its arguments ask to (`state` is the default then).
    fn cycles_momentum(&self, state: &Self::State) -> bool {
        let _ = state;
        false
    }
}

/// `{'last_batch_iteration': i}`: a DeepSpeed class's whole `state_dict()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct DeepSpeedDict {
    last_batch_iteration: i64,
}

/// A DeepSpeed schedule (`tch_lr::deepspeed::WarmupLR` is
/// `DeepSpeedScheduler<config::WarmupLRConfig>`): the class's keyword
/// arguments, what its constructor computed, `last_batch_iteration` and the
/// LRs last written. Saved as all of these.
///
/// Rows as every family's: row 0 is the optimizer after construction, row k
/// after the k-th `step()` (DeepSpeed's `last_batch_iteration = k - 1`);
/// [`Schedule::last_epoch`] is k, the steps taken.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct DeepSpeedScheduler<P: DeepSpeedPolicy> {
    #[serde(flatten)]
    pub(crate) args: P,
    #[serde(default)]
    state: P::State,
    /// DeepSpeed's `last_batch_iteration`: -1 after construction.
    last_batch_iteration: i64,
    /// The LRs last written (DeepSpeed's `_last_lr`, which `OneCycle` sets
    /// only from its first step: here the LRs its constructor wrote).
    last_lr: Vec<f64>,
    /// DeepSpeed's warnings at construction.
    #[serde(skip)]
    notes: Vec<String>,
    /// Scratch space for the new LRs, reused at every step (no allocation).
    #[serde(skip)]
    buf: Vec<f64>,
}

impl<P: DeepSpeedPolicy> DeepSpeedScheduler<P> {
    /// The schedule of `args`, not yet bound to an optimizer.
    pub fn from_args(args: P) -> Self {
        DeepSpeedScheduler {
            args,
            state: P::State::default(),
            last_batch_iteration: -1,
            last_lr: Vec::new(),
            notes: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// The schedule's keyword arguments.
    pub fn args(&self) -> &P {
        &self.args
    }

    /// DeepSpeed's `last_batch_iteration`: -1 after construction, `k - 1`
    /// after `k` steps.
    pub fn last_batch_iteration(&self) -> i64 {
        self.last_batch_iteration
    }

    /// Binds the schedule to `optim`: DeepSpeed's constructor, as
    /// [`Schedule::build`].
    ///
    /// # Errors
    /// DeepSpeed's constructor errors.
    pub fn build(self, optim: Optim) -> Result<Scheduler<Self>> {
        Scheduler::new(optim, self)
    }

    /// Boxes the schedule, to drive it from code that handles any schedule.
    pub fn boxed(self) -> Box<dyn Schedule> {
        Box::new(self)
    }

    /// DeepSpeed's `step(i)`: `last_batch_iteration = i`, then `get_lr()`
    /// written into the groups (and what the class writes besides).
    fn step_at(&mut self, groups: &mut ParamGroups, i: i64) -> Result<()> {
        self.last_batch_iteration = i;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(groups.len(), 0.0);
        let result = self.args.get_lr(&self.state, i, &mut buf);
        if result.is_ok() {
            for (g, &lr) in groups.iter_mut().zip(&buf) {
                g.lr = lr;
            }
            groups.copy_lrs_into(&mut self.last_lr);
        }
        self.buf = buf;
        result?;
        self.args.step_more(&self.state, i, groups)
    }

    fn torch_dict(&self) -> DeepSpeedDict {
        DeepSpeedDict { last_batch_iteration: self.last_batch_iteration }
    }

    /// The `last_batch_iteration` of a file's `state_dict()`.
    fn read_torch(&self, file: &Y) -> Result<i64> {
        let theirs = torch_state::load(P::NAME, &TorchArgs::none(), &self.torch_dict(), file)?;
        let i = theirs.last_batch_iteration;
        if !(-1..=MAX_ITERATION).contains(&i) {
            return Err(Error::State(format!(
                "{} `last_batch_iteration` is {i}: not one a run reaches (-1 to 2^53 - 1)",
                P::NAME
            )));
        }
        Ok(i)
    }
}

/// The largest `last_batch_iteration` taken: the steps stay exact as `f64`.
const MAX_ITERATION: i64 = (1 << 53) - 1;

impl<P: DeepSpeedPolicy> Protocol for DeepSpeedScheduler<P> {
    /// DeepSpeed's constructor with `last_batch_iteration=-1`.
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.notes.clear();
        self.state = self.args.init(groups, &mut self.notes)?;
        self.last_batch_iteration = -1;
        groups.copy_lrs_into(&mut self.last_lr);
        self.buf = vec![0.0; groups.len()];
        Ok(())
    }

    /// DeepSpeed's `step(-1)` (a composite's restart).
    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.step_at(groups, -1)
    }

    /// DeepSpeed's `step()`.
    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let i = self.last_batch_iteration.checked_add(1).ok_or(Error::Overflow("last_batch_iteration + 1"))?;
        self.step_at(groups, i)
    }

    /// DeepSpeed's `step(epoch)`.
    fn update_lr(&mut self, groups: &mut ParamGroups, epoch: i64) -> Result<()> {
        self.step_at(groups, epoch)
    }

    fn undo(&mut self) {
        self.last_batch_iteration -= 1;
    }

    /// DeepSpeed's `step(last_batch_iteration)`, for an integer from -1 on.
    fn step_epoch(&mut self, groups: &mut ParamGroups, i: f64) -> Result<()> {
        if !(i >= -1.0 && i.fract() == 0.0 && i <= MAX_ITERATION as f64) {
            return Err(Error::value(format!(
                "{} steps to an integer last_batch_iteration >= -1, got {}",
                P::NAME,
                py_float(i)
            )));
        }
        self.step_at(groups, i as i64)
    }

    /// `{'last_batch_iteration': i}`.
    fn torch_state(&self, _groups: &ParamGroups) -> Result<Y> {
        Ok(Y::Mapping(torch_state::to_mapping(&self.torch_dict())?))
    }

    /// DeepSpeed's `load_state_dict`: `last_batch_iteration` alone; the
    /// groups' values are the optimizer's, as loaded.
    fn load_torch_state(&mut self, file: &Y, groups: &ParamGroups) -> Result<()> {
        self.last_batch_iteration = self.read_torch(file)?;
        groups.copy_lrs_into(&mut self.last_lr);
        Ok(())
    }

    /// Without the optimizer's groups (a ZeRO checkpoint keeps them in other
    /// files): what DeepSpeed's `step(i)` writes, from `last_batch_iteration`.
    fn load_torch_entries_alone(&mut self, entries: &Mapping, groups: &mut ParamGroups) -> Result<()> {
        let i = self.read_torch(entry(entries, "scheduler")?)?;
        if i < 0 {
            // Not stepped: the constructor's values, which the groups hold.
            self.last_batch_iteration = i;
            return Ok(());
        }
        self.step_at(groups, i)
    }
}

impl<P: DeepSpeedPolicy> Schedule for DeepSpeedScheduler<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }

    /// The steps taken: `last_batch_iteration + 1`.
    fn last_epoch(&self) -> i64 {
        self.last_batch_iteration.saturating_add(1)
    }

    fn cycles_momentum(&self) -> bool {
        self.args.cycles_momentum(&self.state)
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn state(&self) -> Result<Y> {
        to_state(self)
    }

    fn load_state(&mut self, state: Y) -> Result<()> {
        let mut loaded: DeepSpeedScheduler<P> = from_state(P::NAME, state)?;
        // -2: a child of SequentialLR before its turn (the composite's undo).
        if !(-2..=MAX_ITERATION).contains(&loaded.last_batch_iteration) {
            return Err(Error::State(format!("{}: last_batch_iteration outside [-1, 2^53)", P::NAME)));
        }
        // Size the scratch space now: a step must not allocate.
        loaded.buf = vec![0.0; loaded.last_lr.len()];
        loaded.notes = std::mem::take(&mut self.notes);
        *self = loaded;
        Ok(())
    }
}

impl<P: DeepSpeedPolicy> PlainStep for DeepSpeedScheduler<P> {}

/// DeepSpeed's `_format_param(optimizer, value, name)`: one value for every
/// group, or a list with one per group (its `ValueError` otherwise), placed
/// at the argument `arg`.
pub(crate) fn format_param(
    groups: &ParamGroups,
    value: &crate::groups::PerGroup,
    name: &str,
    arg: &'static str,
) -> Result<Vec<f64>> {
    use crate::groups::PerGroup;
    match value {
        PerGroup::All(v) => Ok(vec![*v; groups.len()]),
        PerGroup::Each(vs) if vs.len() == groups.len() => Ok(vs.clone()),
        PerGroup::Each(vs) => {
            Err(Error::value(format!("expected {} value for {name}, got {}", groups.len(), vs.len())).for_arg(arg))
        }
    }
}
