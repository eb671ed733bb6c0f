//! Warm-up multipliers that end at a step: `ConstantLR`, `LinearLR`.

use super::lr_scheduler::{scale_base, scale_groups, Base, LRScheduler, LrPolicy};
use super::pymath::div;
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use super::torch_state::TorchArgs;
use crate::config::kwargs::{kwargs, Diag};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;

kwargs! {
    /// `ConstantLR`'s keyword arguments: `ConstantLR(optimizer, factor=1/3, total_iters=5)`.
    pub struct ConstantLRConfig for ConstantLR {
        /// The multiplier applied until `total_iters`.
        factor: f64 = 1.0 / 3.0,
        /// The step at which the LR is restored.
        total_iters: i64 = 5,
    }
}

impl ScheduleConfig for ConstantLRConfig {
    const NAME: &'static str = "ConstantLR";
    const EXAMPLE: &'static str = "{name: ConstantLR, factor: 0.25, total_iters: 4}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(ConstantLR::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// A `warmup:` block, allowed in the mapping of any PyTorch or transformers
    /// schedule X: the config means exactly
    /// `SequentialLR([LinearLR(start_factor, 1.0, total_iters=steps), X], milestones=[steps])`,
    /// and is read as that `SequentialLR` (so PyTorch is its oracle).
    ///
    /// ```yaml
    /// scheduler:
    ///   name: CosineAnnealingLR
    ///   T_max: 95
    ///   warmup: {steps: 5, start_factor: 0.01}
    /// ```
    pub struct WarmupConfig {
        /// The length of the linear warmup, in steps; X starts after it.
        steps: i64,
        /// The LR factor at step 0 (that of `LinearLR`).
        start_factor: f64 = LinearLRConfig::start_factor,
    }
}

kwargs! {
    /// `LinearLR`'s keyword arguments:
    /// `LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5)`.
    pub struct LinearLRConfig for LinearLR {
        /// The factor at step 0.
        start_factor: f64 = 1.0 / 3.0,
        /// The factor from step `total_iters` on.
        end_factor: f64 = 1.0,
        /// The number of steps of the ramp.
        total_iters: i64 = 5,
    }
}

impl ScheduleConfig for LinearLRConfig {
    const NAME: &'static str = "LinearLR";
    const EXAMPLE: &'static str = "{name: LinearLR, start_factor: 0.1, end_factor: 0.9, total_iters: 6}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(LinearLR::from_args(self.clone()).boxed())
    }
}

/// PyTorch's `ConstantLR`: multiplies the LR by `factor` until step
/// `total_iters`, then restores it.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ConstantLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// // ConstantLR(optimizer, factor=0.5, total_iters=4)
/// let mut sched = ConstantLR::new().factor(0.5).total_iters(4).build(opt)?;
/// assert_eq!(sched.last_lr(), [0.025]);
/// for _ in 0..4 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [0.05]);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] when `factor` is outside `[0, 1]` (PyTorch's message). A
/// `factor` of 0 fails with [`Error::ZeroDivision`] at step `total_iters`, as
/// in PyTorch.
pub type ConstantLR = LRScheduler<ConstantLRConfig>;

/// `ConstantLR.state_dict()`'s own attributes.
#[derive(serde::Serialize, serde::Deserialize)]
#[allow(non_snake_case)]
struct ConstantLRDict {
    factor: f64,
    total_iters: i64,
}

impl LrPolicy for ConstantLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = ();

    fn torch_args(&self, state: &(), groups: &ParamGroups) -> Result<TorchArgs> {
        let _ = (state, groups);
        TorchArgs::of(&ConstantLRDict { factor: self.factor, total_iters: self.total_iters })
    }

    fn setup(&mut self, _: &mut (), _groups: &mut ParamGroups) -> Result<()> {
        if self.factor > 1.0 || self.factor < 0.0 {
            return Err(
                Error::value("Constant multiplicative factor expected to be between 0 and 1.").for_arg("factor")
            );
        }
        Ok(())
    }

    fn get_lr(&self, _: &(), base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = base.last_epoch;
        let factor = if e == 0 {
            Some(self.factor)
        } else if e != self.total_iters {
            None
        } else {
            Some(div(1.0, self.factor)?)
        };
        scale_groups(groups, factor, out);
        Ok(())
    }

    fn closed_form(&self, _: &(), base: &Base, out: &mut [f64]) -> Result<bool> {
        let reached = if base.last_epoch >= self.total_iters { 1.0 } else { 0.0 };
        let factor = self.factor + reached * (1.0 - self.factor);
        scale_base(base, factor, out);
        Ok(true)
    }
}

/// PyTorch's `LinearLR`: multiplies the LR by a factor that moves linearly from
/// `start_factor` to `end_factor` over `total_iters` steps.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, LinearLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// // LinearLR(optimizer, start_factor=0.5, total_iters=4)
/// let mut sched = LinearLR::new().start_factor(0.5).total_iters(4).build(opt)?;
/// sched.step()?;
/// assert!((sched.last_lr()[0] - 0.03125).abs() < 1e-15); // 0.05 * (0.5 + 0.5 / 4)
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] when `start_factor` is outside `(0, 1]` or `end_factor`
/// outside `[0, 1]` (PyTorch's messages).
pub type LinearLR = LRScheduler<LinearLRConfig>;

/// `LinearLR.state_dict()`'s own attributes.
#[derive(serde::Serialize, serde::Deserialize)]
#[allow(non_snake_case)]
struct LinearLRDict {
    start_factor: f64,
    end_factor: f64,
    total_iters: i64,
}

impl LrPolicy for LinearLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = ();

    fn torch_args(&self, state: &(), groups: &ParamGroups) -> Result<TorchArgs> {
        let _ = (state, groups);
        TorchArgs::of(&LinearLRDict {
            start_factor: self.start_factor,
            end_factor: self.end_factor,
            total_iters: self.total_iters,
        })
    }

    fn setup(&mut self, _: &mut (), _groups: &mut ParamGroups) -> Result<()> {
        if self.start_factor > 1.0 || self.start_factor <= 0.0 {
            return Err(Error::value(
                "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.",
            )
            .for_arg("start_factor"));
        }
        if self.end_factor > 1.0 || self.end_factor < 0.0 {
            return Err(
                Error::value("Ending multiplicative factor expected to be between 0 and 1.").for_arg("end_factor")
            );
        }
        Ok(())
    }

    fn get_lr(&self, _: &(), base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = base.last_epoch;
        let (sf, ef) = (self.start_factor, self.end_factor);
        let factor = if e == 0 {
            Some(sf)
        } else if base.is_initial || e > self.total_iters {
            None
        } else {
            let denom = self.total_iters as f64 * sf + (e - 1) as f64 * (ef - sf);
            Some(1.0 + div(ef - sf, denom)?)
        };
        scale_groups(groups, factor, out);
        Ok(())
    }

    fn closed_form(&self, _: &(), base: &Base, out: &mut [f64]) -> Result<bool> {
        let (sf, ef) = (self.start_factor, self.end_factor);
        let done = self.total_iters.min(base.last_epoch) as f64;
        let factor = sf + div((ef - sf) * done, self.total_iters as f64)?;
        scale_base(base, factor, out);
        Ok(true)
    }
}
