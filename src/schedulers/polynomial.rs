//! `PolynomialLR`: polynomial decay to zero.

use serde::{Deserialize, Serialize};

use super::base::{base_field, Base, LrPolicy};
use super::pymath::{div, idiv, pow};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use crate::config::kwargs::{kwargs, Diag};
use crate::error::Result;
use crate::groups::ParamGroups;

kwargs! {
    /// `PolynomialLR`'s keyword arguments: `PolynomialLR(optimizer, total_iters=5, power=1.0)`.
    pub struct PolynomialLRConfig {
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
        Ok(PolynomialLR::new().total_iters(self.total_iters).power(self.power).boxed())
    }
}

/// PyTorch's `PolynomialLR`: decays the LR to zero over `total_iters` steps,
/// `lr = base_lr * (1 - min(epoch, total_iters) / total_iters) ^ power`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ScheduleExt as _, PolynomialLR};
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolynomialLR {
    total_iters: i64,
    power: f64,
    base: Base,
}

impl Default for PolynomialLR {
    fn default() -> Self {
        PolynomialLR {
            total_iters: PolynomialLRConfig::total_iters,
            power: PolynomialLRConfig::power,
            base: Base::default(),
        }
    }
}

impl PolynomialLR {
    /// `PolynomialLR(optimizer)`, with the defaults of [`PolynomialLRConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of steps to reach zero (default `PolynomialLRConfig::total_iters`).
    pub fn total_iters(mut self, v: i64) -> Self {
        self.total_iters = v;
        self
    }

    /// The power of the polynomial (default `PolynomialLRConfig::power`).
    pub fn power(mut self, v: f64) -> Self {
        self.power = v;
        self
    }
}

impl LrPolicy for PolynomialLR {
    const NAME: &'static str = PolynomialLRConfig::NAME;

    base_field!();

    fn get_lr(&self, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = self.base.last_epoch;
        let t = self.total_iters;
        let factor = if self.base.is_initial || e > t {
            None
        } else {
            let ratio = div(1.0 - idiv(e, t)?, 1.0 - idiv(e - 1, t)?)?;
            Some(pow(ratio, self.power)?)
        };
        for (o, g) in out.iter_mut().zip(groups.iter()) {
            *o = match factor {
                None => g.lr,
                Some(f) => g.lr * f,
            };
        }
        Ok(())
    }

    fn closed_form(&self, out: &mut [f64]) -> Result<bool> {
        let t = self.total_iters;
        let factor = pow(1.0 - idiv(t.min(self.base.last_epoch), t)?, self.power)?;
        for (o, b) in out.iter_mut().zip(&self.base.base_lrs) {
            *o = b * factor;
        }
        Ok(true)
    }
}
