//! `PolynomialLR`: polynomial decay to zero.

use super::lr_scheduler::{scale_base, scale_groups, Base, LRScheduler, LrPolicy};
use super::pymath::{div, idiv, pow};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use super::torch_state::TorchArgs;
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::groups::ParamGroups;

kwargs! {
    /// `PolynomialLR`'s keyword arguments: `PolynomialLR(optimizer, total_iters=5, power=1.0)`.
    pub struct PolynomialLRConfig for PolynomialLR {
        /// The number of steps to reach zero.
        total_iters: i64 = 5,
        /// The power of the polynomial.
        power: f64 = 1.0,
    }
}

impl ScheduleConfig for PolynomialLRConfig {
    const NAME: &'static str = "PolynomialLR";
    const EXAMPLE: &'static str = "{name: PolynomialLR, total_iters: 8, power: 2.0}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(PolynomialLR::from_args(self.clone()).boxed())
    }
}

/// PyTorch's `PolynomialLR`: decays the LR to zero over `total_iters` steps,
/// `lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ^ power`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, PolynomialLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// // PolynomialLR(optimizer, total_iters=4, power=1.0)
/// let mut sched = PolynomialLR::new().total_iters(4).power(1.0).build(opt)?;
/// sched.step()?;
/// assert!((sched.last_lr()[0] - 0.0375).abs() < 1e-15);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// None at construction (PyTorch checks nothing).
pub type PolynomialLR = LRScheduler<PolynomialLRConfig>;

/// `PolynomialLR.state_dict()`'s own attributes.
#[derive(serde::Serialize, serde::Deserialize)]
#[allow(non_snake_case)]
struct PolynomialLRDict {
    total_iters: i64,
    power: f64,
}

impl LrPolicy for PolynomialLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = ();

    fn torch_args(&self, state: &(), groups: &ParamGroups) -> Result<TorchArgs> {
        let _ = (state, groups);
        TorchArgs::of(&PolynomialLRDict { total_iters: self.total_iters, power: self.power })
    }

    fn get_lr(&self, _: &(), base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = base.last_epoch;
        let t = self.total_iters;
        let factor = if base.is_initial || e > t {
            None
        } else {
            let ratio = div(1.0 - idiv(e, t)?, 1.0 - idiv(e - 1, t)?)?;
            Some(pow(ratio, self.power)?)
        };
        scale_groups(groups, factor, out);
        Ok(())
    }

    fn closed_form(&self, _: &(), base: &Base, out: &mut [f64]) -> Result<bool> {
        let t = self.total_iters;
        let factor = pow(1.0 - idiv(t.min(base.last_epoch), t)?, self.power)?;
        scale_base(base, factor, out);
        Ok(true)
    }
}
