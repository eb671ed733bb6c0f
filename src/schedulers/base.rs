//! PyTorch's `LRScheduler` base class: the state every chainable scheduler
//! shares ([`Base`]) and its `__init__`, `_initial_step`, `step` and
//! `_update_lr`, written once for every [`LrPolicy`].

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::schedule::{from_state, to_state, Chainable, Protocol, Schedule};

/// Implements [`LrPolicy::base`] and [`LrPolicy::base_mut`] for a policy
/// that keeps its [`Base`] in a field named `base`.
macro_rules! base_field {
    () => {
        fn base(&self) -> &Base {
            &self.base
        }

        fn base_mut(&mut self) -> &mut Base {
            &mut self.base
        }
    };
}
use crate::error::{Error, Result};
use crate::groups::ParamGroups;
pub(crate) use base_field;

/// The builder methods `cycle_momentum`, `base_momentum` and `max_momentum`
/// of the schedulers that cycle momentum (CyclicLR, OneCycleLR), naming the
/// config struct that holds their defaults.
macro_rules! momentum_setters {
    ($config:ident) => {
        #[doc = concat!("Whether momentum (or beta1) cycles inversely to the LR (default `", stringify!($config), "::cycle_momentum`).")]
        pub fn cycle_momentum(mut self, on: bool) -> Self {
            self.cycle_momentum = on;
            self
        }

        #[doc = concat!("The lower momentum bound (default `", stringify!($config), "::base_momentum`).")]
        pub fn base_momentum(mut self, v: impl Into<PerGroup>) -> Self {
            self.base_momentum = v.into();
            self
        }

        #[doc = concat!("The upper momentum bound (default `", stringify!($config), "::max_momentum`).")]
        pub fn max_momentum(mut self, v: impl Into<PerGroup>) -> Self {
            self.max_momentum = v.into();
            self
        }
    };
}
pub(crate) use momentum_setters;

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

/// A scheduler written as PyTorch writes its `LRScheduler` subclasses: a
/// `get_lr()` (the recursive form `step()` uses) and, where PyTorch has one, a
/// `_get_closed_form_lr()`. The base-class behaviour comes with it.
pub trait LrPolicy: Send + Debug + Serialize + DeserializeOwned + 'static {
    /// The PyTorch class name.
    const NAME: &'static str;

    /// The shared `LRScheduler` state.
    fn base(&self) -> &Base;

    /// The shared `LRScheduler` state, mutable.
    fn base_mut(&mut self) -> &mut Base;

    /// The part of the constructor before `super().__init__()`: validation and
    /// the group keys this scheduler sets.
    ///
    /// # Errors
    /// PyTorch's constructor errors.
    fn setup(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let _ = groups;
        Ok(())
    }

    /// The part of the constructor after `super().__init__()`.
    ///
    /// # Errors
    /// PyTorch's constructor errors.
    fn finish(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let _ = groups;
        Ok(())
    }

    /// `get_lr()`: writes the new LR of each group into `out`. May set the
    /// groups' momentum, as `CyclicLR` and `OneCycleLR` do.
    ///
    /// # Errors
    /// What PyTorch raises in `get_lr()`.
    fn get_lr(&self, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()>;

    /// `_get_closed_form_lr()`: writes the LRs into `out` and returns true, or
    /// returns false when PyTorch has no closed form for this scheduler.
    ///
    /// # Errors
    /// What PyTorch raises in `_get_closed_form_lr()`.
    fn closed_form(&self, out: &mut [f64]) -> Result<bool> {
        let _ = out;
        Ok(false)
    }

    /// Whether the scheduler cycles momentum.
    fn cycles_momentum(&self) -> bool {
        false
    }

    /// Takes a loaded state, keeping what is not serialized (closures).
    fn restore(&mut self, loaded: Self)
    where
        Self: Sized,
    {
        *self = loaded;
    }
}

/// `LRScheduler._update_lr(epoch)`.
fn update_lr<P: LrPolicy>(p: &mut P, groups: &mut ParamGroups, epoch: Option<i64>) -> Result<()> {
    let mut buf = std::mem::take(&mut p.base_mut().buf);
    buf.resize(groups.len(), 0.0);
    let result = compute(p, groups, epoch, &mut buf);
    if result.is_ok() {
        for (g, &lr) in groups.iter_mut().zip(&buf) {
            g.lr = lr;
        }
        groups.copy_lrs_into(&mut p.base_mut().last_lr);
    }
    p.base_mut().buf = buf;
    result
}

fn compute<P: LrPolicy>(p: &mut P, groups: &mut ParamGroups, epoch: Option<i64>, out: &mut [f64]) -> Result<()> {
    match epoch {
        None => {
            p.base_mut().last_epoch = p.base().last_epoch.saturating_add(1);
            p.get_lr(groups, out)
        }
        Some(e) => {
            p.base_mut().last_epoch = e;
            if p.closed_form(out)? {
                Ok(())
            } else {
                p.get_lr(groups, out)
            }
        }
    }
}

impl<P: LrPolicy> Protocol for P {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.setup(groups)?;
        let base = self.base_mut();
        base.base_lrs = groups.setdefault_initial_lr();
        base.last_epoch = -1;
        self.initial_step(groups)?;
        self.finish(groups)
    }

    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.base_mut().step_count = 0;
        self.base_mut().is_initial = true;
        let result = self.step(groups);
        self.base_mut().is_initial = false;
        result
    }

    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.base_mut().step_count = self.base().step_count.saturating_add(1);
        update_lr(self, groups, None)
    }

    fn update_lr(&mut self, groups: &mut ParamGroups, epoch: i64) -> Result<()> {
        update_lr(self, groups, Some(epoch))
    }

    fn undo(&mut self) {
        self.base_mut().last_epoch -= 1;
    }
}

impl<P: LrPolicy> Schedule for P {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.base().last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.base().last_epoch
    }

    fn cycles_momentum(&self) -> bool {
        LrPolicy::cycles_momentum(self)
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        to_state(self)
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        let loaded: P = from_state(P::NAME, state)?;
        if loaded.base().last_epoch < -1 || loaded.base().step_count < 0 {
            return Err(Error::State(format!("{}: negative last_epoch or step count", P::NAME)));
        }
        self.restore(loaded);
        // Size the scratch space now: a SequentialLR child may take its first
        // step long after the load, and a step must not allocate.
        let n = self.base().last_lr.len();
        self.base_mut().buf.resize(n, 0.0);
        Ok(())
    }
}

impl<P: LrPolicy> Chainable for P {}

/// Writes `lrs` into the groups and records them as `_last_lr`: the tail of
/// `_update_lr`, for schedulers that override `step()`.
pub(crate) fn apply_lrs(base: &mut Base, groups: &mut ParamGroups, lrs: &[f64]) {
    for (g, &lr) in groups.iter_mut().zip(lrs) {
        g.lr = lr;
    }
    groups.copy_lrs_into(&mut base.last_lr);
}

impl Base {
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
