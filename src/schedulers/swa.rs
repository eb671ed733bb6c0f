//! Stochastic weight averaging's schedules: `SWALR` (PyTorch's
//! `torch.optim.swa_utils.SWALR`) and `SWA`, the switch PyTorch's SWA loop
//! makes from a schedule to `SWALR` at `swa_start`.

#![allow(clippy::upper_case_acronyms)] // PyTorch's class names

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::lr_scheduler::{Base, LRScheduler, LrPolicy};
use super::one_cycle::AnnealStrategy;
use super::registry::{ScheduleConfig, SchedulerConfig};
use super::schedule::{entry, from_state, to_state, PlainStep, Protocol, Schedule};
use super::torch_state::TorchArgs;
use crate::config::kwargs::{kwargs, Diag, Seg};
use crate::error::{Error, Result};
use crate::groups::{GroupKey, ParamGroups, PerGroup};

kwargs! {
    /// `SWALR`'s keyword arguments: `SWALR(optimizer, swa_lr, anneal_epochs=10,
    /// anneal_strategy='cos')`.
    pub struct SWALRConfig for SWALR {
        /// The LR annealed to and then held (one, or one per group).
        swa_lr: PerGroup,
        /// The number of steps the annealing takes (0: none).
        anneal_epochs: i64 = 10,
        /// `cos` or `linear`.
        anneal_strategy: AnnealStrategy = AnnealStrategy::Cos,
    }
}

impl ScheduleConfig for SWALRConfig {
    const NAME: &'static str = "SWALR";
    const EXAMPLE: &'static str = "{name: SWALR, swa_lr: 0.02, anneal_epochs: 5}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(SWALR::from_args(self.clone()).boxed())
    }
}

/// PyTorch's `SWALR`: anneals each group's LR from where it stands to
/// `swa_lr` over `anneal_epochs` steps (half a cosine or a line), then holds
/// it. Each step undoes the previous annealing step from the group's current
/// LR, so it continues from whatever LR the schedule before it left. Its
/// position is PyTorch's `_step_count`, not `last_epoch`.
///
/// PyTorch's SWA loop steps another schedule until `swa_start` and `SWALR`
/// after it: [`SWA`] (config `name: SWA`) is that loop. Inside
/// [`SequentialLR`](crate::SequentialLR) it is a different schedule (PyTorch
/// restarts it with `_update_lr(0)` at the milestone).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, SWALR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
/// // SWALR(optimizer, swa_lr=0.01, anneal_epochs=4, anneal_strategy="linear")
/// let mut sched = SWALR::new(0.01).anneal_epochs(4).anneal_strategy(tch_lr::schedulers::AnnealStrategy::Linear).build(opt)?;
/// for _ in 0..4 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 0.01).abs() < 1e-15); // annealed to swa_lr
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with PyTorch's messages for a `swa_lr` list of another
/// length than the groups and a negative `anneal_epochs`.
pub type SWALR = LRScheduler<SWALRConfig>;

/// `SWALR._cosine_anneal` / `_linear_anneal`.
fn anneal(strategy: AnnealStrategy, t: f64) -> f64 {
    match strategy {
        AnnealStrategy::Cos => (1.0 - (PI * t).cos()) / 2.0,
        AnnealStrategy::Linear => t,
    }
}

/// `max(0, min(1, step / max(1, anneal_epochs)))`.
fn progress(step: i64, anneal_epochs: i64) -> f64 {
    (step as f64 / anneal_epochs.max(1) as f64).clamp(0.0, 1.0)
}

/// `SWALR.state_dict()`'s own attributes.
#[derive(serde::Serialize, serde::Deserialize)]
#[allow(non_snake_case)]
struct SWALRDict {
    _anneal_strategy: AnnealStrategy,
    anneal_epochs: i64,
}

impl LrPolicy for SWALRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = ();

    fn torch_args(&self, state: &(), groups: &ParamGroups) -> Result<TorchArgs> {
        let _ = (state, groups);
        TorchArgs::of(&SWALRDict { _anneal_strategy: self.anneal_strategy, anneal_epochs: self.anneal_epochs })
    }

    fn setup(&mut self, _: &mut (), groups: &mut ParamGroups) -> Result<()> {
        let swa_lrs = groups.format_param("swa_lr", &self.swa_lr)?;
        for (g, &swa_lr) in groups.iter_mut().zip(&swa_lrs) {
            g.swa_lr = Some(swa_lr);
        }
        if self.anneal_epochs < 0 {
            return Err(Error::value(format!(
                "anneal_epochs must be equal or greater than 0, got {}",
                self.anneal_epochs
            ))
            .for_arg("anneal_epochs"));
        }
        Ok(())
    }

    fn get_lr(&self, _: &(), base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let mut step = base.step_count - 1;
        if self.anneal_epochs == 0 {
            step = step.max(1);
        }
        let prev_alpha = anneal(self.anneal_strategy, progress(step - 1, self.anneal_epochs));
        let alpha = anneal(self.anneal_strategy, progress(step, self.anneal_epochs));
        for (i, o) in out.iter_mut().enumerate().take(groups.len()) {
            let swa_lr = groups.key(i, GroupKey::SwaLr)?;
            let lr = groups.groups()[i].lr;
            // `_get_initial_lr`: the LR before the previous annealing step.
            let prev_lr = if prev_alpha == 1.0 { swa_lr } else { (lr - prev_alpha * swa_lr) / (1.0 - prev_alpha) };
            *o = swa_lr * alpha + prev_lr * (1.0 - alpha);
        }
        Ok(())
    }
}

kwargs! {
    /// `SWA`'s keyword arguments: PyTorch's SWA loop, `scheduler` and
    /// `swa_scheduler` built on one optimizer, and after each epoch `i`
    /// (from 0) `if i > swa_start: swa_scheduler.step() else: scheduler.step()`.
    pub struct SWAConfig {
        /// `[scheduler, swa_scheduler]`: the schedule stepped while `i <=
        /// swa_start`, and the one stepped after (usually `SWALR`).
        schedulers: Vec<SchedulerConfig>,
        /// The last step index of `scheduler`: `swa_scheduler` takes the steps after it.
        swa_start: i64,
    }
}

impl ScheduleConfig for SWAConfig {
    const NAME: &'static str = "SWA";
    const EXAMPLE: &'static str = "{name: SWA, swa_start: 4, schedulers: [{name: CosineAnnealingLR, T_max: 10}, \
                                   {name: SWALR, swa_lr: 0.02, anneal_epochs: 3}]}";

    fn children(&self) -> &[SchedulerConfig] {
        &self.schedulers
    }

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        let [a, b] = self.schedulers.as_slice() else {
            return Err(Diag::new(format!(
                "SWA takes two schedulers, [scheduler, swa_scheduler]: got {}",
                self.schedulers.len()
            ))
            .within(Seg::Key("schedulers".into())));
        };
        let child = |c: &SchedulerConfig, i| {
            c.build().map_err(|d| d.within(Seg::Index(i)).within(Seg::Key("schedulers".into())))
        };
        Ok(SWA::new(child(a, 0)?, child(b, 1)?, self.swa_start).boxed())
    }
}

/// `SWA`'s own fields.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SwaState {
    swa_start: i64,
    /// The steps taken (the loop's next `i`).
    epoch: i64,
    last_lr: Vec<f64>,
}

/// PyTorch's SWA loop as one schedule: `scheduler` and `swa_scheduler` are
/// built on the optimizer in that order (both constructors run, as in
/// PyTorch), then step `i` (from 0) steps `swa_scheduler` if `i > swa_start`,
/// else `scheduler`, as the loop in PyTorch's `torch.optim.swa_utils` docs:
///
/// ```python
/// scheduler = CosineAnnealingLR(optimizer, T_max=100)
/// swa_scheduler = SWALR(optimizer, swa_lr=0.05)
/// for epoch in range(100):
///     train(...)
///     if epoch > swa_start:
///         swa_model.update_parameters(model)
///         swa_scheduler.step()
///     else:
///         scheduler.step()
/// ```
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{CosineAnnealingLR, Optim, Schedule as _, SWA, SWALR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
/// let swa = SWA::new(CosineAnnealingLR::new(100).boxed(), SWALR::new(0.05).boxed(), 75);
/// let mut sched = swa.build(opt)?;
/// for epoch in 0..100 {
///     // train one epoch ...
///     let averaging = epoch > 75; // average the weights now (tch_lr::swa_utils::AveragedModel)
///     sched.step()?; // SWALR's step when `averaging`
/// #   let _ = averaging;
/// }
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// Its state holds both schedules' states and the step count. It cannot be
/// inside `SequentialLR` or `ChainedScheduler` (PyTorch has no such object to
/// nest), and neither of its schedules may be `ReduceLROnPlateau`.
///
/// # Errors
/// The children's constructor errors; [`Error::Value`] for a
/// `ReduceLROnPlateau` child.
#[derive(Debug)]
pub struct SWA {
    schedulers: [Box<dyn Schedule>; 2],
    s: SwaState,
}

impl SWA {
    /// `scheduler` until step `swa_start` (included), `swa_scheduler` after.
    pub fn new(scheduler: Box<dyn Schedule>, swa_scheduler: Box<dyn Schedule>, swa_start: i64) -> Self {
        SWA { schedulers: [scheduler, swa_scheduler], s: SwaState { swa_start, ..Default::default() } }
    }

    /// Binds the schedule to `optim`, as [`Schedule::build`].
    ///
    /// # Errors
    /// As [`SWA`].
    pub fn build(self, optim: crate::Optim) -> Result<crate::Scheduler<Self>> {
        crate::Scheduler::new(optim, self)
    }

    /// The two schedules: `scheduler` and `swa_scheduler`.
    pub fn schedulers(&self) -> &[Box<dyn Schedule>] {
        &self.schedulers
    }

    /// `swa_start`.
    pub fn swa_start(&self) -> i64 {
        self.s.swa_start
    }

    /// Whether the next step is `swa_scheduler`'s (the loop's `i > swa_start`).
    pub fn averaging(&self) -> bool {
        self.s.epoch > self.s.swa_start
    }
}

impl Protocol for SWA {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        for (i, (s, key)) in self.schedulers.iter_mut().zip(["scheduler", "swa_scheduler"]).enumerate() {
            if s.takes_metric() {
                return Err(Error::value(format!(
                    "SWA's {key} is ReduceLROnPlateau, which steps with a metric: step the two schedules yourself"
                ))
                .for_item("schedulers", i));
            }
            super::schedule::refuse_nested("SWA", &**s).map_err(|e| e.for_item("schedulers", i))?;
            s.init(groups).map_err(|e| e.in_child(i))?;
        }
        self.s.epoch = 0;
        self.s.last_lr = self.schedulers[1].last_lr().to_vec();
        Ok(())
    }

    fn initial_step(&mut self, _groups: &mut ParamGroups) -> Result<()> {
        Err(Error::NotImplemented("SWA is a training loop's two schedules: it cannot be restarted".into()))
    }

    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let scheduler = &mut self.schedulers[usize::from(self.s.epoch > self.s.swa_start)];
        scheduler.step(groups)?;
        self.s.epoch = self.s.epoch.saturating_add(1);
        self.s.last_lr.clear();
        self.s.last_lr.extend_from_slice(scheduler.last_lr());
        Ok(())
    }

    fn update_lr(&mut self, _groups: &mut ParamGroups, _epoch: i64) -> Result<()> {
        Err(Error::NotImplemented("SWA has no get_lr() to jump to an epoch with".into()))
    }

    fn undo(&mut self) {
        for s in &mut self.schedulers {
            s.undo();
        }
    }

    /// PyTorch's SWA loop saves its two schedulers, not one: only as the
    /// config's scheduler ([`torch_entries`](Protocol::torch_entries)).
    fn torch_state(&self, _groups: &ParamGroups) -> Result<serde_yaml::Value> {
        Err(Error::Unsupported("SWA is a training loop's two schedulers, saved as two entries".into()))
    }

    /// `{"scheduler": scheduler.state_dict(), "swa_scheduler": swa_scheduler.state_dict()}`,
    /// as a user saves the loop's two schedulers.
    fn torch_entries(&self, groups: &ParamGroups) -> Result<serde_yaml::Mapping> {
        let [a, b] = &self.schedulers;
        Ok(serde_yaml::Mapping::from_iter([
            ("scheduler".into(), a.torch_state(groups)?),
            ("swa_scheduler".into(), b.torch_state(groups)?),
        ]))
    }

    /// Each schedule from its entry; the loop's step is the steps both took,
    /// which must be a run of this `swa_start`.
    fn load_torch_entries(&mut self, entries: &serde_yaml::Mapping, groups: &ParamGroups) -> Result<()> {
        let [a, b] = &mut self.schedulers;
        a.load_torch_state(entry(entries, "scheduler")?, groups)?;
        b.load_torch_state(entry(entries, "swa_scheduler")?, groups)?;
        let (taken, swa_taken) = (a.last_epoch(), b.last_epoch());
        let before = self.s.swa_start.saturating_add(1).max(0);
        if taken < 0 || swa_taken < 0 || (swa_taken > 0 && taken != before) || taken > before {
            return Err(Error::State(format!(
                "its scheduler took {taken} steps and its swa_scheduler {swa_taken}: not PyTorch's SWA loop with \
                 swa_start {}",
                self.s.swa_start
            )));
        }
        self.s.epoch = taken.checked_add(swa_taken).ok_or_else(|| {
            Error::State(format!("its swa_scheduler took {swa_taken} steps: not a run's (the loop's step overflows)"))
        })?;
        self.s.last_lr = groups.lrs();
        Ok(())
    }
}

/// What `SWA` saves: its own fields and the two schedules' states.
#[derive(Serialize, Deserialize)]
struct SavedSwa {
    #[serde(flatten)]
    own: SwaState,
    scheduler: serde_yaml::Value,
    swa_scheduler: serde_yaml::Value,
}

impl Schedule for SWA {
    fn name(&self) -> &'static str {
        SWAConfig::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.s.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.s.epoch
    }

    fn cycles_momentum(&self) -> bool {
        self.schedulers.iter().any(|s| s.cycles_momentum())
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        let [a, b] = &self.schedulers;
        to_state(&SavedSwa { own: self.s.clone(), scheduler: a.state()?, swa_scheduler: b.state()? })
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        let saved: SavedSwa = from_state(SWAConfig::NAME, state)?;
        if saved.own.swa_start != self.s.swa_start {
            return Err(Error::State(format!(
                "the SWA state has swa_start {}, this one {}",
                saved.own.swa_start, self.s.swa_start
            )));
        }
        if saved.own.epoch < 0 {
            return Err(Error::State("SWA: a negative step count".into()));
        }
        // All or nothing: the children load into copies first.
        let [a, b] = &mut self.schedulers;
        let (old_a, old_b) = (a.state()?, b.state()?);
        let result = a.load_state(saved.scheduler).and_then(|()| b.load_state(saved.swa_scheduler));
        if let Err(e) = result {
            a.load_state(old_a)?;
            b.load_state(old_b)?;
            return Err(e);
        }
        self.s = saved.own;
        Ok(())
    }
}

impl PlainStep for SWA {}
