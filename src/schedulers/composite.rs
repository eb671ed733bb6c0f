//! Schedulers made of schedulers: `SequentialLR` and `ChainedScheduler`.

use serde::{Deserialize, Serialize};

use super::registry::{ScheduleConfig, SchedulerConfig};
use super::schedule::{from_state, to_state, PlainStep, Protocol, Schedule};
use super::torch_state::{self, TorchArgs};
use crate::config::kwargs::{kwargs, Diag, Seg};
use crate::error::{Error, Result};
use crate::groups::{GroupKey, ParamGroups};

/// Builds each child config, an error placed at its index in `schedulers`.
fn children(configs: &[SchedulerConfig]) -> Result<Vec<Box<dyn Schedule>>, Diag> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| c.build().map_err(|d| d.within(Seg::Index(i)).within(Seg::Key("schedulers".into()))))
        .collect()
}

kwargs! {
    /// `SequentialLR`'s keyword arguments: `SequentialLR(optimizer, schedulers, milestones)`.
    pub struct SequentialLRConfig {
        /// The schedules, one after the other.
        schedulers: Vec<SchedulerConfig>,
        /// The steps at which the next schedule takes over.
        milestones: Vec<i64>,
    }
}

impl ScheduleConfig for SequentialLRConfig {
    const NAME: &'static str = "SequentialLR";
    const EXAMPLE: &'static str = "{name: SequentialLR, milestones: [3], schedulers: [{name: LinearLR, \
                                   start_factor: 0.2, total_iters: 3}, {name: CosineAnnealingLR, T_max: 8}]}";

    fn children(&self) -> &[SchedulerConfig] {
        &self.schedulers
    }

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(SequentialLR::new(children(&self.schedulers)?, self.milestones.clone()).boxed())
    }
}

kwargs! {
    /// `ChainedScheduler`'s keyword arguments: `ChainedScheduler(schedulers)`.
    pub struct ChainedSchedulerConfig {
        /// The schedules, all stepped at every step, their factors multiplied.
        schedulers: Vec<SchedulerConfig>,
    }
}

impl ScheduleConfig for ChainedSchedulerConfig {
    const NAME: &'static str = "ChainedScheduler";
    const EXAMPLE: &'static str = "{name: ChainedScheduler, schedulers: [{name: ConstantLR, factor: 0.5, \
                                   total_iters: 3}, {name: ExponentialLR, gamma: 0.9}]}";

    fn children(&self) -> &[SchedulerConfig] {
        &self.schedulers
    }

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(ChainedScheduler::new(children(&self.schedulers)?).boxed())
    }
}

/// Python's `bisect.bisect_right`, step for step (it gives the same answer as
/// Python on unsorted lists too).
fn bisect_right(a: &[i64], x: i64) -> usize {
    let (mut lo, mut hi) = (0, a.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if x < a[mid] {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The child at `idx` (a loaded state could name one that does not exist).
fn child(schedulers: &mut [Box<dyn Schedule>], idx: usize) -> Result<&mut Box<dyn Schedule>> {
    let n = schedulers.len();
    schedulers.get_mut(idx).ok_or_else(|| Error::State(format!("milestones select scheduler {idx} of {n}")))
}

/// Checks the children as PyTorch's composite constructors do.
fn check_children(name: &str, schedulers: &[Box<dyn Schedule>], empty: &str) -> Result<()> {
    if schedulers.is_empty() {
        return Err(Error::value(format!("{name} expects at least one scheduler{empty}, but got no scheduler."))
            .for_arg("schedulers"));
    }
    if let Some(idx) = schedulers.iter().position(|s| s.name() == super::swa::SWAConfig::NAME) {
        return Err(Error::value(format!(
            "{name} cannot hold SWA (at index {idx}): SWA is a training loop's switch between two schedules, \
             not a PyTorch scheduler to nest"
        ))
        .for_item("schedulers", idx));
    }
    for (idx, s) in schedulers.iter().enumerate() {
        super::schedule::refuse_nested(name, &**s).map_err(|e| e.for_item("schedulers", idx))?;
    }
    if let Some(idx) = schedulers.iter().position(|s| s.takes_metric()) {
        return Err(Error::value(format!(
            "{name} does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be \
             specified when calling `step`, but got one at index {idx} in the given schedulers sequence."
        ))
        .for_item("schedulers", idx));
    }
    Ok(())
}

/// The saved state of a composite: its own fields and its children's states.
#[derive(Serialize, Deserialize)]
struct CompositeState<T> {
    #[serde(flatten)]
    own: T,
    schedulers: Vec<serde_yaml::Value>,
}

fn save_children<T: Serialize>(own: T, children: &[Box<dyn Schedule>]) -> Result<serde_yaml::Value> {
    let schedulers = children.iter().map(|s| s.state()).collect::<Result<_>>()?;
    to_state(&CompositeState { own, schedulers })
}

fn load_children<T: serde::de::DeserializeOwned>(
    name: &str,
    state: serde_yaml::Value,
    children: &mut [Box<dyn Schedule>],
) -> Result<T> {
    let state: CompositeState<T> = from_state(name, state)?;
    if state.schedulers.len() != children.len() {
        return Err(Error::State(format!(
            "{name} state has {} schedulers, this one has {}",
            state.schedulers.len(),
            children.len()
        )));
    }
    for (child, s) in children.iter_mut().zip(state.schedulers) {
        child.load_state(s)?;
    }
    Ok(state.own)
}

/// The children's `state_dict()`s, as a composite's `_schedulers`.
fn torch_children(children: &[Box<dyn Schedule>], groups: &ParamGroups) -> Result<Vec<serde_yaml::Value>> {
    children.iter().map(|c| c.torch_state(groups)).collect()
}

/// Loads a file's `_schedulers` into the children of the composite `name`.
fn load_torch_children(
    name: &str,
    children: &mut [Box<dyn Schedule>],
    theirs: &[serde_yaml::Value],
    groups: &ParamGroups,
) -> Result<()> {
    if theirs.len() != children.len() {
        return Err(Error::State(format!(
            "the file's {name} has {} schedulers, the config's {}",
            theirs.len(),
            children.len()
        )));
    }
    children.iter_mut().zip(theirs).try_for_each(|(c, sd)| c.load_torch_state(sd, groups))
}

/// `SequentialLR.state_dict()`'s argument.
#[derive(Serialize, Deserialize)]
struct SequentialLRDict {
    _milestones: Vec<i64>,
}

/// What `SequentialLR`'s steps change: its step, its last LRs and its children.
#[derive(Serialize, Deserialize)]
struct SequentialLRSteps {
    last_epoch: i64,
    _last_lr: Vec<f64>,
    _schedulers: Vec<serde_yaml::Value>,
}

/// What `ChainedScheduler`'s steps change (it has no argument of its own).
#[derive(Serialize, Deserialize)]
struct ChainedSchedulerSteps {
    _last_lr: Vec<f64>,
    _schedulers: Vec<serde_yaml::Value>,
}

/// `SequentialLR`'s own fields.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SequentialState {
    milestones: Vec<i64>,
    last_epoch: i64,
    step_count: i64,
    last_lr: Vec<f64>,
}

/// PyTorch's `SequentialLR`: runs `schedulers[0]` until `milestones[0]`, then
/// `schedulers[1]`, and so on. At each milestone the next scheduler restarts
/// from epoch 0 through PyTorch's `_update_lr(0)` (its closed form where it has
/// one).
///
/// The children are built on the optimizer in order, then the composite, as a
/// PyTorch user writes it:
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{ConstantLR, ExponentialLR, Optim, SequentialLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 1.0)?;
/// let mut sched = SequentialLR::new(
///     vec![ConstantLR::new().factor(0.1).total_iters(2).boxed(), ExponentialLR::new(0.9).boxed()],
///     vec![2],
/// )
/// .build(opt)?;
/// sched.step()?;
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with PyTorch's messages for an empty list, a
/// `ReduceLROnPlateau` child, or a number of milestones other than one less
/// than the number of schedulers; [`Error::NotImplemented`] when a milestone
/// hands over to a composite (PyTorch raises `NotImplementedError` there too).
#[derive(Debug)]
pub struct SequentialLR {
    schedulers: Vec<Box<dyn Schedule>>,
    s: SequentialState,
}

impl SequentialLR {
    /// Binds the composite to `optim`, as [`Schedule::build`].
    ///
    /// # Errors
    /// PyTorch's constructor errors.
    pub fn build(self, optim: crate::Optim) -> Result<crate::Scheduler<Self>> {
        crate::Scheduler::new(optim, self)
    }

    /// `SequentialLR(optimizer, schedulers, milestones)`.
    pub fn new(schedulers: Vec<Box<dyn Schedule>>, milestones: Vec<i64>) -> Self {
        SequentialLR { schedulers, s: SequentialState { milestones, ..Default::default() } }
    }

    /// The children.
    pub fn schedulers(&self) -> &[Box<dyn Schedule>] {
        &self.schedulers
    }
}

impl Protocol for SequentialLR {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        for (i, s) in self.schedulers.iter_mut().enumerate() {
            s.init(groups).map_err(|e| e.in_child(i))?;
        }
        check_children(SequentialLRConfig::NAME, &self.schedulers, "")?;
        let (n, m) = (self.schedulers.len(), self.s.milestones.len());
        if m != n - 1 {
            return Err(Error::value(format!(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number \
                 of milestone points, but got number of schedulers {n} and the number of milestones to be \
                 equal to {m}"
            ))
            .for_arg("milestones"));
        }
        self.s.last_epoch = 0;
        for i in 0..groups.len() {
            groups.groups_mut()[i].lr = groups.key(i, GroupKey::InitialLr)?;
        }
        self.undo();
        let idx = bisect_right(&self.s.milestones, 0);
        let first = child(&mut self.schedulers, idx)?;
        first.initial_step(groups)?;
        self.s.last_lr = first.last_lr().to_vec();
        Ok(())
    }

    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.s.step_count = 0;
        self.step(groups)
    }

    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.s.last_epoch = self.s.last_epoch.saturating_add(1);
        let e = self.s.last_epoch;
        let idx = bisect_right(&self.s.milestones, e);
        let scheduler = child(&mut self.schedulers, idx)?;
        if idx > 0 && self.s.milestones[idx - 1] == e {
            scheduler.update_lr(groups, 0)?;
        } else {
            scheduler.step(groups)?;
        }
        self.s.last_lr.clear();
        self.s.last_lr.extend_from_slice(scheduler.last_lr());
        Ok(())
    }

    fn update_lr(&mut self, _groups: &mut ParamGroups, epoch: i64) -> Result<()> {
        self.s.last_epoch = epoch;
        Err(Error::NotImplemented("SequentialLR has no get_lr() to jump to an epoch with".into()))
    }

    fn undo(&mut self) {
        for s in &mut self.schedulers {
            s.undo();
        }
    }

    fn torch_state(&self, groups: &ParamGroups) -> Result<serde_yaml::Value> {
        let (args, steps) = self.torch(groups)?;
        Ok(torch_state::merged([args.written().clone(), torch_state::to_mapping(&steps)?]))
    }

    fn load_torch_state(&mut self, file: &serde_yaml::Value, groups: &ParamGroups) -> Result<()> {
        let name = SequentialLRConfig::NAME;
        let (args, ours) = self.torch(groups)?;
        let theirs = torch_state::load(name, &args, &ours, file)?;
        torch_state::per_group(name, "_last_lr", &theirs._last_lr, groups.len())?;
        load_torch_children(name, &mut self.schedulers, &theirs._schedulers, groups)?;
        self.s.last_epoch = theirs.last_epoch;
        self.s.last_lr = theirs._last_lr;
        Ok(())
    }
}

impl SequentialLR {
    /// `state_dict()`: the milestones, and what the steps change.
    fn torch(&self, groups: &ParamGroups) -> Result<(TorchArgs, SequentialLRSteps)> {
        let args = TorchArgs::of(&SequentialLRDict { _milestones: self.s.milestones.clone() })?;
        let steps = SequentialLRSteps {
            last_epoch: self.s.last_epoch,
            _last_lr: self.s.last_lr.clone(),
            _schedulers: torch_children(&self.schedulers, groups)?,
        };
        Ok((args, steps))
    }
}

impl Schedule for SequentialLR {
    fn name(&self) -> &'static str {
        SequentialLRConfig::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.s.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.s.last_epoch
    }

    fn cycles_momentum(&self) -> bool {
        self.schedulers.iter().any(|s| s.cycles_momentum())
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        save_children(&self.s, &self.schedulers)
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        self.s = load_children(SequentialLRConfig::NAME, state, &mut self.schedulers)?;
        Ok(())
    }
}

impl PlainStep for SequentialLR {}

/// `ChainedScheduler`'s own fields.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ChainedState {
    step_count: i64,
    last_lr: Vec<f64>,
}

/// PyTorch's `ChainedScheduler`: every step, steps each child in order, each
/// one working on the LR the previous left.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ChainedScheduler, ConstantLR, ExponentialLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 1.0)?;
/// // ChainedScheduler([ConstantLR(factor=0.1, total_iters=2), ExponentialLR(gamma=0.9)])
/// let chain = ChainedScheduler::new(vec![
///     ConstantLR::new().factor(0.1).total_iters(2).boxed(),
///     ExponentialLR::new(0.9).boxed(),
/// ]);
/// let mut sched = chain.build(opt)?;
/// let mut lrs = vec![sched.last_lr()[0]];
/// for _ in 0..2 {
///     sched.step()?;
///     lrs.push(sched.last_lr()[0]);
/// }
/// // PyTorch 2.13: 0.1, 0.09, 0.81
/// assert!(lrs.iter().zip([0.1, 0.09, 0.81]).all(|(a, b)| (a - b).abs() < 1e-12));
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with PyTorch's messages for an empty list or a
/// `ReduceLROnPlateau` child.
#[derive(Debug)]
pub struct ChainedScheduler {
    schedulers: Vec<Box<dyn Schedule>>,
    s: ChainedState,
}

impl ChainedScheduler {
    /// Binds the composite to `optim`, as [`Schedule::build`].
    ///
    /// # Errors
    /// PyTorch's constructor errors.
    pub fn build(self, optim: crate::Optim) -> Result<crate::Scheduler<Self>> {
        crate::Scheduler::new(optim, self)
    }

    /// `ChainedScheduler(schedulers)`.
    pub fn new(schedulers: Vec<Box<dyn Schedule>>) -> Self {
        ChainedScheduler { schedulers, s: ChainedState::default() }
    }

    /// The children.
    pub fn schedulers(&self) -> &[Box<dyn Schedule>] {
        &self.schedulers
    }
}

impl Protocol for ChainedScheduler {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        for (i, s) in self.schedulers.iter_mut().enumerate() {
            s.init(groups).map_err(|e| e.in_child(i))?;
        }
        check_children(ChainedSchedulerConfig::NAME, &self.schedulers, " to be chained")?;
        groups.copy_lrs_into(&mut self.s.last_lr);
        Ok(())
    }

    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.s.step_count = 0;
        self.step(groups)
    }

    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        for s in &mut self.schedulers {
            s.step(groups)?;
        }
        groups.copy_lrs_into(&mut self.s.last_lr);
        Ok(())
    }

    fn update_lr(&mut self, _groups: &mut ParamGroups, _epoch: i64) -> Result<()> {
        Err(Error::NotImplemented("ChainedScheduler has no get_lr() to jump to an epoch with".into()))
    }

    fn undo(&mut self) {
        for s in &mut self.schedulers {
            s.undo();
        }
    }

    fn torch_state(&self, groups: &ParamGroups) -> Result<serde_yaml::Value> {
        torch_state::to_mapping(&self.torch_steps(groups)?).map(serde_yaml::Value::Mapping)
    }

    fn load_torch_state(&mut self, file: &serde_yaml::Value, groups: &ParamGroups) -> Result<()> {
        let name = ChainedSchedulerConfig::NAME;
        let theirs = torch_state::load(name, &TorchArgs::none(), &self.torch_steps(groups)?, file)?;
        torch_state::per_group(name, "_last_lr", &theirs._last_lr, groups.len())?;
        load_torch_children(name, &mut self.schedulers, &theirs._schedulers, groups)?;
        self.s.last_lr = theirs._last_lr;
        Ok(())
    }
}

impl ChainedScheduler {
    /// `state_dict()`: what the steps change (no argument of its own).
    fn torch_steps(&self, groups: &ParamGroups) -> Result<ChainedSchedulerSteps> {
        Ok(ChainedSchedulerSteps {
            _last_lr: self.s.last_lr.clone(),
            _schedulers: torch_children(&self.schedulers, groups)?,
        })
    }
}

impl Schedule for ChainedScheduler {
    fn name(&self) -> &'static str {
        ChainedSchedulerConfig::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.s.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.schedulers.last().map_or(-1, |s| s.last_epoch())
    }

    fn cycles_momentum(&self) -> bool {
        self.schedulers.iter().any(|s| s.cycles_momentum())
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        save_children(&self.s, &self.schedulers)
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        self.s = load_children(ChainedSchedulerConfig::NAME, state, &mut self.schedulers)?;
        Ok(())
    }
}

impl PlainStep for ChainedScheduler {}
