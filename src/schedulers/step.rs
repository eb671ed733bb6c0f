//! Decay by a constant factor: `StepLR`, `MultiStepLR`, `ExponentialLR`.

use serde::{Deserialize, Serialize};

use super::base::{base_field, Base, LrPolicy};
use super::pymath::{pow, py_floordiv, py_mod};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::groups::ParamGroups;

kwargs! {
    /// `StepLR`'s keyword arguments: `StepLR(optimizer, step_size, gamma=0.1)`.
    pub struct StepLRConfig {
        /// The period of the decay, in steps.
        step_size: i64,
        /// The multiplicative factor.
        gamma: f64 = 0.1,
    }
}

impl ScheduleConfig for StepLRConfig {
    const NAME: &'static str = "StepLR";
    const EXAMPLE: &'static str = "{name: StepLR, step_size: 3, gamma: 0.5}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(StepLR::new(self.step_size).gamma(self.gamma).boxed())
    }
}

kwargs! {
    /// `MultiStepLR`'s keyword arguments: `MultiStepLR(optimizer, milestones, gamma=0.1)`.
    pub struct MultiStepLRConfig {
        /// The steps at which the LR is multiplied by `gamma` (unsorted, repeats count twice).
        milestones: Vec<i64>,
        /// The multiplicative factor.
        gamma: f64 = 0.1,
    }
}

impl ScheduleConfig for MultiStepLRConfig {
    const NAME: &'static str = "MultiStepLR";
    const EXAMPLE: &'static str = "{name: MultiStepLR, milestones: [2, 5, 5], gamma: 0.3}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(MultiStepLR::new(self.milestones.clone()).gamma(self.gamma).boxed())
    }
}

kwargs! {
    /// `ExponentialLR`'s keyword arguments: `ExponentialLR(optimizer, gamma)`.
    pub struct ExponentialLRConfig {
        /// The multiplicative factor of each step.
        gamma: f64,
    }
}

impl ScheduleConfig for ExponentialLRConfig {
    const NAME: &'static str = "ExponentialLR";
    const EXAMPLE: &'static str = "{name: ExponentialLR, gamma: 0.8}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(ExponentialLR::new(self.gamma).boxed())
    }
}

/// PyTorch's `StepLR`: multiplies the LR by `gamma` every `step_size` steps.
///
/// `lr = base_lr * gamma ^ (epoch // step_size)`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, Schedule as _, ScheduleExt as _, StepLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// let mut sched = StepLR::new(3).gamma(0.1).build(opt)?;
/// for _epoch in 0..10 {
///     // train one epoch with sched.optimizer_mut() ...
///     sched.step()?;
/// }
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// PyTorch checks nothing at construction; a `step_size` of 0 fails at the
/// first step with [`Error::ZeroDivision`](crate::Error::ZeroDivision), as in PyTorch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepLR {
    step_size: i64,
    gamma: f64,
    base: Base,
}

impl StepLR {
    /// `StepLR(optimizer, step_size)`, with the default `gamma`.
    pub fn new(step_size: i64) -> Self {
        StepLR { step_size, gamma: StepLRConfig::gamma, base: Base::default() }
    }

    /// The multiplicative factor (default `StepLRConfig::gamma`).
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }
}

impl LrPolicy for StepLR {
    const NAME: &'static str = StepLRConfig::NAME;

    base_field!();

    fn get_lr(&self, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = self.base.last_epoch;
        let keep = e == 0 || py_mod(e.into(), self.step_size.into())? != 0;
        for (o, g) in out.iter_mut().zip(groups.iter()) {
            *o = if keep { g.lr } else { g.lr * self.gamma };
        }
        Ok(())
    }

    fn closed_form(&self, out: &mut [f64]) -> Result<bool> {
        let k = py_floordiv(self.base.last_epoch.into(), self.step_size.into())?;
        let factor = pow(self.gamma, k as f64)?;
        for (o, b) in out.iter_mut().zip(&self.base.base_lrs) {
            *o = b * factor;
        }
        Ok(true)
    }
}

/// PyTorch's `MultiStepLR`: multiplies the LR by `gamma` at each milestone
/// (twice at a milestone listed twice).
///
/// `lr = base_lr * gamma ^ bisect_right(milestones, epoch)`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ScheduleExt as _, MultiStepLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// // MultiStepLR(optimizer, milestones=[2, 5, 8], gamma=0.1)
/// let mut sched = MultiStepLR::new(vec![2, 5, 8]).gamma(0.1).build(opt)?;
/// sched.step()?;
/// sched.step()?;
/// assert!((sched.last_lr()[0] - 0.005).abs() < 1e-15); // PyTorch: 0.005 at epoch 2
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// None at construction (PyTorch checks nothing).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultiStepLR {
    /// Sorted, duplicates kept (PyTorch's `Counter`).
    milestones: Vec<i64>,
    gamma: f64,
    base: Base,
}

impl MultiStepLR {
    /// `MultiStepLR(optimizer, milestones)`, with the default `gamma`. The
    /// milestones may be unsorted and repeat.
    pub fn new(milestones: impl Into<Vec<i64>>) -> Self {
        let mut milestones = milestones.into();
        milestones.sort_unstable();
        MultiStepLR { milestones, gamma: MultiStepLRConfig::gamma, base: Base::default() }
    }

    /// The multiplicative factor (default `MultiStepLRConfig::gamma`).
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

    fn count(&self, epoch: i64) -> usize {
        let lo = self.milestones.partition_point(|&m| m < epoch);
        let hi = self.milestones.partition_point(|&m| m <= epoch);
        hi - lo
    }
}

impl LrPolicy for MultiStepLR {
    const NAME: &'static str = MultiStepLRConfig::NAME;

    base_field!();

    fn get_lr(&self, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let n = self.count(self.base.last_epoch);
        let factor = if n == 0 { None } else { Some(pow(self.gamma, n as f64)?) };
        for (o, g) in out.iter_mut().zip(groups.iter()) {
            *o = match factor {
                None => g.lr,
                Some(f) => g.lr * f,
            };
        }
        Ok(())
    }

    fn closed_form(&self, out: &mut [f64]) -> Result<bool> {
        let k = self.milestones.partition_point(|&m| m <= self.base.last_epoch);
        let factor = pow(self.gamma, k as f64)?;
        for (o, b) in out.iter_mut().zip(&self.base.base_lrs) {
            *o = b * factor;
        }
        Ok(true)
    }
}

/// PyTorch's `ExponentialLR`: multiplies the LR by `gamma` every step.
///
/// `lr = base_lr * gamma ^ epoch`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ScheduleExt as _, ExponentialLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// let mut sched = ExponentialLR::new(0.1).build(opt)?; // ExponentialLR(optimizer, gamma=0.1)
/// sched.step()?;
/// sched.step()?;
/// assert!((sched.last_lr()[0] - 0.0005).abs() < 1e-15);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// None at construction (PyTorch checks nothing).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExponentialLR {
    gamma: f64,
    base: Base,
}

impl ExponentialLR {
    /// `ExponentialLR(optimizer, gamma)`.
    pub fn new(gamma: f64) -> Self {
        ExponentialLR { gamma, base: Base::default() }
    }
}

impl LrPolicy for ExponentialLR {
    const NAME: &'static str = ExponentialLRConfig::NAME;

    base_field!();

    fn get_lr(&self, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let initial = self.base.is_initial;
        for (o, g) in out.iter_mut().zip(groups.iter()) {
            *o = if initial { g.lr } else { g.lr * self.gamma };
        }
        Ok(())
    }

    fn closed_form(&self, out: &mut [f64]) -> Result<bool> {
        let factor = pow(self.gamma, self.base.last_epoch as f64)?;
        for (o, b) in out.iter_mut().zip(&self.base.base_lrs) {
            *o = b * factor;
        }
        Ok(true)
    }
}
