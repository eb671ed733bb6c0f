//! Cosine annealing: `CosineAnnealingLR` and `CosineAnnealingWarmRestarts`
//! (SGDR, Loshchilov & Hutter, <https://arxiv.org/abs/1608.03983>).

use std::cell::Cell;
use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use super::lr_scheduler::{apply_lrs, Base, LRScheduler, LrPolicy};
use super::pymath::{div, py_mod};
use super::registry::ScheduleConfig;
use super::schedule::{from_state, to_state, Protocol, Schedule};
use super::torch_state::{self, LrSchedulerDict, TorchArgs};
use crate::config::kwargs::{kwargs, Diag};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;

kwargs! {
    /// `CosineAnnealingLR`'s keyword arguments: `CosineAnnealingLR(optimizer, T_max, eta_min=0.0)`.
    pub struct CosineAnnealingLRConfig for CosineAnnealingLR {
        /// Half the period of the cosine, in steps.
        T_max: i64,
        /// The minimum LR.
        eta_min: f64 = 0.0,
    }
}

impl ScheduleConfig for CosineAnnealingLRConfig {
    const NAME: &'static str = "CosineAnnealingLR";
    const EXAMPLE: &'static str = "{name: CosineAnnealingLR, T_max: 5, eta_min: 0.001}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(CosineAnnealingLR::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `CosineAnnealingWarmRestarts`'s keyword arguments:
    /// `CosineAnnealingWarmRestarts(optimizer, T_0, T_mult=1, eta_min=0.0)`.
    pub struct CosineAnnealingWarmRestartsConfig for CosineAnnealingWarmRestarts {
        /// The length of the first period, in steps.
        T_0: i64,
        /// The factor by which each period grows.
        T_mult: i64 = 1,
        /// The minimum LR.
        eta_min: f64 = 0.0,
    }
}

impl ScheduleConfig for CosineAnnealingWarmRestartsConfig {
    const NAME: &'static str = "CosineAnnealingWarmRestarts";
    const EXAMPLE: &'static str = "{name: CosineAnnealingWarmRestarts, T_0: 3, T_mult: 2, eta_min: 0.0005}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(CosineAnnealingWarmRestarts::from_args(self.clone()).boxed())
    }
}

/// PyTorch's `CosineAnnealingLR`: the LR follows half a cosine from the base
/// LR down to `eta_min` over `T_max` steps, and, as in PyTorch's recursive
/// form, back up over the next `T_max` (a period of `2 T_max`).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, CosineAnnealingLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.01)?;
/// let mut sched = CosineAnnealingLR::new(3).build(opt)?; // CosineAnnealingLR(optimizer, T_max=3)
/// for _ in 0..3 {
///     sched.step()?;
/// }
/// assert!(sched.last_lr()[0].abs() < 1e-15); // eta_min after T_max steps
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// `T_max = 0` fails with [`Error::ZeroDivision`] at the first step, as in PyTorch.
pub type CosineAnnealingLR = LRScheduler<CosineAnnealingLRConfig>;

/// `(e, cos(pi * e / T_max))` of the last recursive step: the next step's
/// denominator is the same expression at `e`, so it is not taken twice.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LastCos {
    #[serde(skip, default = "no_cos")]
    cos: Cell<(i64, f64)>,
}

impl Default for LastCos {
    fn default() -> Self {
        LastCos { cos: no_cos() }
    }
}

fn no_cos() -> Cell<(i64, f64)> {
    Cell::new((i64::MIN, 0.0))
}

/// `CosineAnnealingLR.state_dict()`'s own attributes.
#[derive(serde::Serialize, serde::Deserialize)]
#[allow(non_snake_case)]
struct CosineAnnealingLRDict {
    T_max: i64,
    eta_min: f64,
}

impl LrPolicy for CosineAnnealingLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = LastCos;

    fn torch_args(&self, state: &LastCos, groups: &ParamGroups) -> Result<TorchArgs> {
        let _ = (state, groups);
        TorchArgs::of(&CosineAnnealingLRDict { T_max: self.T_max, eta_min: self.eta_min })
    }

    fn get_lr(&self, last_cos: &LastCos, b: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let (e, t, eta) = (b.last_epoch, self.T_max, self.eta_min);
        let pairs = out.iter_mut().zip(groups.iter().zip(&b.base_lrs));
        if b.is_initial {
            for (o, (g, _)) in pairs {
                *o = g.lr;
            }
        } else if b.step_count == 1 && e > 0 {
            let c = 1.0 + div(e as f64 * PI, t as f64)?.cos();
            for (o, (_, base_lr)) in pairs {
                *o = eta + (base_lr - eta) * c / 2.0;
            }
        } else if py_mod(i128::from(e) - 1 - i128::from(t), 2 * i128::from(t))? == 0 {
            let c = 1.0 - div(PI, t as f64)?.cos();
            for (o, (g, base_lr)) in pairs {
                *o = g.lr + (base_lr - eta) * c / 2.0;
            }
        } else {
            let num_cos = div(PI * e as f64, t as f64)?.cos();
            let den_cos = match last_cos.cos.get() {
                (last, c) if last == e - 1 => c,
                _ => div(PI * (e - 1) as f64, t as f64)?.cos(),
            };
            last_cos.cos.set((e, num_cos));
            let (num, den) = (1.0 + num_cos, 1.0 + den_cos);
            let ratio = div(num, den)?;
            for (o, (g, _)) in pairs {
                *o = ratio * (g.lr - eta) + eta;
            }
        }
        Ok(())
    }

    fn closed_form(&self, _: &LastCos, base: &Base, out: &mut [f64]) -> Result<bool> {
        let eta = self.eta_min;
        let c = 1.0 + div(PI * base.last_epoch as f64, self.T_max as f64)?.cos();
        for (o, base_lr) in out.iter_mut().zip(&base.base_lrs) {
            *o = eta + (base_lr - eta) * c / 2.0;
        }
        Ok(true)
    }
}

/// PyTorch's `CosineAnnealingWarmRestarts` (SGDR): cosine annealing from the
/// base LR to `eta_min` over `T_0` steps, then a restart, each period `T_mult`
/// times longer than the last.
///
/// Besides `step()`, [`Scheduler::step_to`](crate::Scheduler::step_to) takes a
/// fractional epoch, as PyTorch's `step(epoch + i / iters)`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, CosineAnnealingWarmRestarts};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// // CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=2), stepped per batch
/// let mut sched = CosineAnnealingWarmRestarts::new(3).T_mult(2).build(opt)?;
/// let iters = 5;
/// for epoch in 0..3 {
///     for i in 0..iters {
///         // train one batch ...
///         sched.step_to(epoch as f64 + i as f64 / iters as f64)?; // step(epoch + i / iters)
///     }
/// }
/// sched.step_to(3.0)?; // the first restart
/// assert_eq!(sched.last_lr(), [0.05]);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] when `T_0 < 1` or `T_mult < 1`, or when `step_to` gets a
/// negative epoch (PyTorch's messages).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CosineAnnealingWarmRestarts {
    #[serde(flatten)]
    args: CosineAnnealingWarmRestartsConfig,
    t_i: i64,
    t_cur: f64,
    base: Base,
}

impl CosineAnnealingWarmRestarts {
    /// The schedule of `args`, not yet bound to an optimizer.
    pub fn from_args(args: CosineAnnealingWarmRestartsConfig) -> Self {
        CosineAnnealingWarmRestarts { t_i: args.T_0, args, t_cur: -1.0, base: Base::default() }
    }

    /// Binds the schedule to `optim`: see [`LRScheduler::build`].
    ///
    /// # Errors
    /// PyTorch's constructor errors for `T_0` and `T_mult`.
    pub fn build(self, optim: crate::Optim) -> Result<crate::Scheduler<Self>> {
        crate::Scheduler::new(optim, self)
    }

    /// Boxes the schedule, to put it into a `SequentialLR` or `ChainedScheduler`.
    pub fn boxed(self) -> Box<dyn Schedule> {
        Box::new(self)
    }

    /// `T_cur`: the (possibly fractional) number of epochs since the last restart.
    pub fn t_cur(&self) -> f64 {
        self.t_cur
    }

    /// `T_i`: the length of the current period.
    pub fn t_i(&self) -> i64 {
        self.t_i
    }

    /// PyTorch's `step(epoch)`; `None` is the plain `step()`.
    fn advance(&mut self, groups: &mut ParamGroups, epoch: Option<f64>) -> Result<()> {
        let epoch = match epoch {
            None if self.base.last_epoch < 0 => Some(0.0),
            other => other,
        };
        let epoch = match epoch {
            None => {
                self.t_cur += 1.0;
                if self.t_cur >= self.t_i as f64 {
                    self.t_cur %= self.t_i as f64;
                    self.t_i = self.t_i.checked_mul(self.args.T_mult).ok_or(Error::Overflow("T_i * T_mult"))?;
                }
                self.base.last_epoch.saturating_add(1) as f64
            }
            Some(epoch) => {
                if epoch < 0.0 || epoch.is_nan() {
                    return Err(Error::value(format!(
                        "Expected non-negative epoch, but got {}",
                        super::py_float(epoch)
                    )));
                }
                if epoch >= self.args.T_0 as f64 {
                    if self.args.T_mult == 1 {
                        self.t_cur = epoch % self.args.T_0 as f64;
                    } else {
                        let m = self.args.T_mult as f64;
                        let n = ((epoch / self.args.T_0 as f64 * (m - 1.0) + 1.0).ln() / m.ln()) as u32;
                        let pow = self.args.T_mult.checked_pow(n).ok_or(Error::Overflow("T_mult ** n"))?;
                        let done = self.args.T_0.checked_mul(pow - 1).ok_or(Error::Overflow("T_0 * T_mult ** n"))?;
                        self.t_cur = epoch - done as f64 / (self.args.T_mult - 1) as f64;
                        self.t_i = self.args.T_0.checked_mul(pow).ok_or(Error::Overflow("T_0 * T_mult ** n"))?;
                    }
                } else {
                    self.t_i = self.args.T_0;
                    self.t_cur = epoch;
                }
                epoch
            }
        };
        self.base.last_epoch = epoch.floor() as i64;
        self.write_lrs(groups)
    }

    /// `get_lr()` and the write of `_update_lr`.
    fn write_lrs(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let c = 1.0 + div(PI * self.t_cur, self.t_i as f64)?.cos();
        let mut buf = self.base.take_buf(groups.len());
        for (o, base_lr) in buf.iter_mut().zip(&self.base.base_lrs) {
            *o = self.args.eta_min + (base_lr - self.args.eta_min) * c / 2.0;
        }
        apply_lrs(&mut self.base, groups, &buf);
        self.base.put_buf(buf);
        Ok(())
    }
}

impl Protocol for CosineAnnealingWarmRestarts {
    fn init(&mut self, groups: &mut ParamGroups) -> Result<()> {
        if self.args.T_0 <= 0 {
            return Err(
                Error::value(format!("Expected positive integer T_0, but got {}", self.args.T_0)).for_arg("T_0")
            );
        }
        if self.args.T_mult < 1 {
            return Err(
                Error::value(format!("Expected integer T_mult >= 1, but got {}", self.args.T_mult)).for_arg("T_mult")
            );
        }
        self.t_i = self.args.T_0;
        self.t_cur = -1.0;
        self.base.base_lrs = groups.setdefault_initial_lr();
        self.base.last_epoch = -1;
        self.initial_step(groups)
    }

    fn initial_step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.base.step_count = 0;
        self.base.is_initial = true;
        let result = self.step(groups);
        self.base.is_initial = false;
        result
    }

    fn step(&mut self, groups: &mut ParamGroups) -> Result<()> {
        self.advance(groups, None)
    }

    /// PyTorch's `step(epoch)`.
    ///
    /// # Errors
    /// [`Error::Value`] for a negative epoch, [`Error::Overflow`] for an epoch
    /// so large that the period length overflows.
    fn step_epoch(&mut self, groups: &mut ParamGroups, epoch: f64) -> Result<()> {
        self.advance(groups, Some(epoch))
    }

    fn update_lr(&mut self, groups: &mut ParamGroups, epoch: i64) -> Result<()> {
        self.base.last_epoch = epoch;
        self.write_lrs(groups)
    }

    fn undo(&mut self) {
        self.base.last_epoch -= 1;
    }

    fn torch_state(&self, _groups: &ParamGroups) -> Result<serde_yaml::Value> {
        Ok(torch_state::merged([self.torch_args()?.written().clone(), torch_state::to_mapping(&self.torch_steps())?]))
    }

    fn load_torch_state(&mut self, file: &serde_yaml::Value, groups: &ParamGroups) -> Result<()> {
        let name = self.name();
        let theirs = torch_state::load(name, &self.torch_args()?, &self.torch_steps(), file)?;
        if theirs.T_i < 1 {
            return Err(Error::State(format!("{name} `T_i` is {}: not a period", theirs.T_i)));
        }
        self.base.load_torch(name, theirs.base, groups.len())?;
        (self.t_i, self.t_cur) = (theirs.T_i, theirs.T_cur);
        Ok(())
    }
}

/// `CosineAnnealingWarmRestarts.state_dict()`'s own arguments.
#[derive(Serialize, Deserialize)]
#[allow(non_snake_case)]
struct CosineAnnealingWarmRestartsDict {
    T_0: i64,
    T_mult: i64,
    eta_min: f64,
}

/// What `CosineAnnealingWarmRestarts`' steps change: the period and the
/// place in it, and `LRScheduler`'s attributes.
#[derive(Serialize, Deserialize)]
#[allow(non_snake_case)]
struct CosineAnnealingWarmRestartsSteps {
    T_i: i64,
    T_cur: f64,
    #[serde(flatten)]
    base: LrSchedulerDict,
}

impl CosineAnnealingWarmRestarts {
    fn torch_args(&self) -> Result<TorchArgs> {
        let a = &self.args;
        TorchArgs::of(&CosineAnnealingWarmRestartsDict { T_0: a.T_0, T_mult: a.T_mult, eta_min: a.eta_min })
    }

    fn torch_steps(&self) -> CosineAnnealingWarmRestartsSteps {
        CosineAnnealingWarmRestartsSteps { T_i: self.t_i, T_cur: self.t_cur, base: self.base.torch() }
    }
}

impl super::schedule::PlainStep for CosineAnnealingWarmRestarts {}

impl Schedule for CosineAnnealingWarmRestarts {
    fn name(&self) -> &'static str {
        <CosineAnnealingWarmRestartsConfig as ScheduleConfig>::NAME
    }

    fn last_lr(&self) -> &[f64] {
        &self.base.last_lr
    }

    fn last_epoch(&self) -> i64 {
        self.base.last_epoch
    }

    fn state(&self) -> Result<serde_yaml::Value> {
        to_state(self)
    }

    fn load_state(&mut self, state: serde_yaml::Value) -> Result<()> {
        *self = from_state(<CosineAnnealingWarmRestartsConfig as ScheduleConfig>::NAME, state)?;
        Ok(())
    }
}
