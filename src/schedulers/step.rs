//! Decay by a constant factor: `StepLR`, `MultiStepLR`, `ExponentialLR`.

use super::lr_scheduler::{scale_base, scale_groups, Base, LRScheduler, LrPolicy};
use super::pymath::{pow, py_floordiv, py_mod};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use super::torch_state::{Counter, TorchArgs};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::groups::ParamGroups;

kwargs! {
    /// `StepLR`'s keyword arguments: `StepLR(optimizer, step_size, gamma=0.1)`.
    pub struct StepLRConfig for StepLR {
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
        Ok(StepLR::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `MultiStepLR`'s keyword arguments: `MultiStepLR(optimizer, milestones, gamma=0.1)`.
    pub struct MultiStepLRConfig for MultiStepLR {
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
        Ok(MultiStepLR::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `ExponentialLR`'s keyword arguments: `ExponentialLR(optimizer, gamma)`.
    pub struct ExponentialLRConfig for ExponentialLR {
        /// The multiplicative factor of each step.
        gamma: f64,
    }
}

impl ScheduleConfig for ExponentialLRConfig {
    const NAME: &'static str = "ExponentialLR";
    const EXAMPLE: &'static str = "{name: ExponentialLR, gamma: 0.8}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(ExponentialLR::from_args(self.clone()).boxed())
    }
}

/// PyTorch's `StepLR`: multiplies the LR by `gamma` every `step_size` steps.
///
/// `lr = base_lr * gamma ^ (epoch // step_size)`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, Schedule as _, StepLR};
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
pub type StepLR = LRScheduler<StepLRConfig>;

/// `StepLR.state_dict()`'s own attributes.
#[derive(serde::Serialize, serde::Deserialize)]
struct StepLRDict {
    step_size: i64,
    gamma: f64,
}

impl LrPolicy for StepLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = ();

    fn torch_args(&self, _: &(), _: &ParamGroups) -> Result<TorchArgs> {
        TorchArgs::of(&StepLRDict { step_size: self.step_size, gamma: self.gamma })
    }

    fn get_lr(&self, _: &(), base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = base.last_epoch;
        let keep = e == 0 || py_mod(e.into(), self.step_size.into())? != 0;
        scale_groups(groups, if keep { None } else { Some(self.gamma) }, out);
        Ok(())
    }

    fn closed_form(&self, _: &(), base: &Base, out: &mut [f64]) -> Result<bool> {
        let k = py_floordiv(base.last_epoch.into(), self.step_size.into())?;
        scale_base(base, pow(self.gamma, k as f64)?, out);
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
/// use tch_lr::{Optim, MultiStepLR};
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
pub type MultiStepLR = LRScheduler<MultiStepLRConfig>;

/// The milestones, sorted with repeats kept (PyTorch's `Counter`).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SortedMilestones(Vec<i64>);

impl SortedMilestones {
    /// How many milestones equal `epoch`.
    fn count(&self, epoch: i64) -> usize {
        let lo = self.0.partition_point(|&m| m < epoch);
        let hi = self.0.partition_point(|&m| m <= epoch);
        hi - lo
    }
}

/// `MultiStepLR.state_dict()`'s own attributes: the milestones as a `Counter`.
#[derive(serde::Serialize, serde::Deserialize)]
struct MultiStepLRDict {
    milestones: Counter,
    gamma: f64,
}

impl LrPolicy for MultiStepLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = SortedMilestones;

    fn torch_args(&self, _: &SortedMilestones, _: &ParamGroups) -> Result<TorchArgs> {
        TorchArgs::of(&MultiStepLRDict { milestones: Counter::of(&self.milestones), gamma: self.gamma })
    }

    fn setup(&mut self, sorted: &mut SortedMilestones, _groups: &mut ParamGroups) -> Result<()> {
        sorted.0.clone_from(&self.milestones);
        sorted.0.sort_unstable();
        Ok(())
    }

    fn get_lr(&self, sorted: &SortedMilestones, base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let n = sorted.count(base.last_epoch);
        scale_groups(groups, if n == 0 { None } else { Some(pow(self.gamma, n as f64)?) }, out);
        Ok(())
    }

    fn closed_form(&self, sorted: &SortedMilestones, base: &Base, out: &mut [f64]) -> Result<bool> {
        let k = sorted.0.partition_point(|&m| m <= base.last_epoch);
        scale_base(base, pow(self.gamma, k as f64)?, out);
        Ok(true)
    }
}

/// PyTorch's `ExponentialLR`: multiplies the LR by `gamma` every step.
///
/// `lr = base_lr * gamma ^ epoch`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ExponentialLR};
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
pub type ExponentialLR = LRScheduler<ExponentialLRConfig>;

/// `ExponentialLR.state_dict()`'s own attributes.
#[derive(serde::Serialize, serde::Deserialize)]
struct ExponentialLRDict {
    gamma: f64,
}

impl LrPolicy for ExponentialLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = ();

    fn torch_args(&self, _: &(), _: &ParamGroups) -> Result<TorchArgs> {
        TorchArgs::of(&ExponentialLRDict { gamma: self.gamma })
    }

    fn get_lr(&self, _: &(), base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        scale_groups(groups, if base.is_initial { None } else { Some(self.gamma) }, out);
        Ok(())
    }

    fn closed_form(&self, _: &(), base: &Base, out: &mut [f64]) -> Result<bool> {
        scale_base(base, pow(self.gamma, base.last_epoch as f64)?, out);
        Ok(true)
    }
}
