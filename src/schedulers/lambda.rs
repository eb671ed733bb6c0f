//! Schedules given by a function of the epoch: `LambdaLR`, `MultiplicativeLR`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::lr_scheduler::{Base, LRScheduler, LrPolicy};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use super::torch_state::{LambdaLRDict, TorchArgs};
use crate::config::kwargs::{kwargs, Diag, KwargValue, Seg};
use crate::config::{Expr, Exprs};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;

kwargs! {
    /// `LambdaLR`'s keyword arguments: `LambdaLR(optimizer, lr_lambda)`.
    pub struct LambdaLRConfig for LambdaLR {
        /// The factor of the base LR: a closure, or in a config an expression
        /// of `epoch` (one, or one per group).
        lr_lambda: LrLambdas,
    }
}

impl ScheduleConfig for LambdaLRConfig {
    const NAME: &'static str = "LambdaLR";
    const EXAMPLE: &'static str = "{name: LambdaLR, lr_lambda: '0.9 ** epoch + 1 / (epoch + 2)'}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(LambdaLR::from_args(self.clone()).boxed())
    }
}

kwargs! {
    /// `MultiplicativeLR`'s keyword arguments: `MultiplicativeLR(optimizer, lr_lambda)`.
    pub struct MultiplicativeLRConfig for MultiplicativeLR {
        /// The factor of each step: a closure, or in a config an expression
        /// of `epoch` (one, or one per group).
        lr_lambda: LrLambdas,
    }
}

impl ScheduleConfig for MultiplicativeLRConfig {
    const NAME: &'static str = "MultiplicativeLR";
    const EXAMPLE: &'static str = "{name: MultiplicativeLR, lr_lambda: '0.9 + 0.01 * (epoch % 3)'}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(MultiplicativeLR::from_args(self.clone()).boxed())
    }
}

/// A function of the epoch, PyTorch's `lr_lambda`.
#[derive(Clone)]
pub struct LrLambda(Arc<dyn Fn(i64) -> Result<f64> + Send + Sync>);

impl LrLambda {
    /// Wraps a closure.
    pub fn new(f: impl Fn(i64) -> f64 + Send + Sync + 'static) -> Self {
        LrLambda(Arc::new(move |epoch| Ok(f(epoch))))
    }

    /// Wraps a closure that can fail, as a Python function can raise: the
    /// error stops the step that called it (YAML expressions fail where
    /// Python would, on a division by zero for example).
    pub fn fallible(f: impl Fn(i64) -> Result<f64> + Send + Sync + 'static) -> Self {
        LrLambda(Arc::new(f))
    }

    /// Calls the function.
    ///
    /// # Errors
    /// What a [`fallible`](Self::fallible) function returns.
    pub fn call(&self, epoch: i64) -> Result<f64> {
        (self.0)(epoch)
    }
}

impl fmt::Debug for LrLambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LrLambda(..)")
    }
}

impl<F: Fn(i64) -> f64 + Send + Sync + 'static> From<F> for LrLambda {
    fn from(f: F) -> Self {
        LrLambda::new(f)
    }
}

/// PyTorch's `lr_lambda` argument: one function for every group, or one per
/// group. From a closure (`LambdaLR::new(|epoch| ...)`), a list of
/// [`LrLambda`]s, or in a config YAML expressions of `epoch`, which are kept
/// to be written back.
#[derive(Clone, Default)]
pub struct LrLambdas {
    fns: Lambdas,
    source: Option<Exprs>,
}

#[derive(Clone, Default)]
enum Lambdas {
    #[default]
    Unset,
    All(LrLambda),
    Each(Vec<LrLambda>),
}

impl LrLambdas {
    /// The functions of YAML expressions of `epoch`.
    fn parse(exprs: Exprs) -> Result<Self, Diag> {
        let one = |src: &str| {
            let e = Expr::parse(src, "epoch").map_err(Diag::new)?;
            Ok(LrLambda::fallible(move |epoch| e.eval(epoch as f64)))
        };
        let fns = match &exprs {
            Exprs::One(s) => Lambdas::All(one(s)?),
            Exprs::Each(v) => Lambdas::Each(
                v.iter()
                    .enumerate()
                    .map(|(i, s)| one(s).map_err(|d: Diag| d.within(Seg::Index(i))))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(LrLambdas { fns, source: Some(exprs) })
    }

    /// Expands to one function per group, with PyTorch's message on a length mismatch.
    fn expand(&self, n: usize) -> Result<Vec<LrLambda>> {
        match &self.fns {
            Lambdas::Unset => Err(Error::value("lr_lambda is missing").for_arg("lr_lambda")),
            Lambdas::All(f) => Ok(vec![f.clone(); n]),
            Lambdas::Each(fs) if fs.len() == n => Ok(fs.clone()),
            Lambdas::Each(fs) => {
                Err(Error::value(format!("Expected {n} lr_lambdas, but got {}", fs.len())).for_arg("lr_lambda"))
            }
        }
    }
}

impl<F: Fn(i64) -> f64 + Send + Sync + 'static> From<F> for LrLambdas {
    fn from(f: F) -> Self {
        LrLambda::new(f).into()
    }
}

impl From<LrLambda> for LrLambdas {
    fn from(f: LrLambda) -> Self {
        LrLambdas { fns: Lambdas::All(f), source: None }
    }
}

impl From<Vec<LrLambda>> for LrLambdas {
    fn from(fs: Vec<LrLambda>) -> Self {
        LrLambdas { fns: Lambdas::Each(fs), source: None }
    }
}

impl fmt::Debug for LrLambdas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(src) => write!(f, "LrLambdas({src:?})"),
            None => f.write_str("LrLambdas(..)"),
        }
    }
}

/// Equal when read from the same expressions (closures are never equal).
impl PartialEq for LrLambdas {
    fn eq(&self, other: &Self) -> bool {
        self.source.is_some() && self.source == other.source
    }
}

/// Writes the expressions it was read from (`null` for closures).
impl Serialize for LrLambdas {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

/// Reads expressions; `null` (a saved closure) reads as no function: a
/// loaded state keeps the functions of the schedule it is loaded into.
impl<'de> Deserialize<'de> for LrLambdas {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Option::<Exprs>::deserialize(d)? {
            None => Ok(LrLambdas::default()),
            Some(exprs) => LrLambdas::parse(exprs).map_err(|e| serde::de::Error::custom(e.message)),
        }
    }
}

impl KwargValue for LrLambdas {
    const TYPE: &'static str = Exprs::TYPE;
    /// `null` (a saved closure) reads as no function: see [`Deserialize`].
    fn from_kwarg(value: serde_yaml::Value) -> Result<Self, Diag> {
        match value {
            serde_yaml::Value::Null => Ok(LrLambdas::default()),
            v => LrLambdas::parse(Exprs::from_kwarg(v)?),
        }
    }
}

/// One function per group, made by the constructor (not saved: closures).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GroupLambdas {
    #[serde(skip)]
    fns: Vec<LrLambda>,
}

/// PyTorch's `LambdaLR`: `lr = base_lr * lr_lambda(epoch)`.
///
/// ```
/// use tch_lr::LambdaLR;
/// let warmup = LambdaLR::new(|epoch| (epoch as f64 + 1.0).min(5.0) / 5.0);
/// # let _ = warmup;
/// ```
///
/// # Errors
/// [`Error::Value`] when a list of functions does not have one per group.
/// Saved states do not include the functions: the scheduler a state is loaded
/// into keeps its own, as in PyTorch.
pub type LambdaLR = LRScheduler<LambdaLRConfig>;

impl LambdaLR {
    /// `LambdaLR(optimizer, [f0, f1, ...])`: one function per group.
    pub fn per_group(lr_lambdas: Vec<LrLambda>) -> Self {
        Self::new(lr_lambdas)
    }
}

impl LrPolicy for LambdaLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = GroupLambdas;

    fn torch_args(&self, _: &GroupLambdas, groups: &ParamGroups) -> Result<TorchArgs> {
        TorchArgs::of(&LambdaLRDict::new(groups.len(), serde_yaml::Value::Null))
    }

    fn setup(&mut self, fns: &mut GroupLambdas, groups: &mut ParamGroups) -> Result<()> {
        fns.fns = self.lr_lambda.expand(groups.len())?;
        Ok(())
    }

    fn get_lr(&self, fns: &GroupLambdas, base: &Base, _groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = base.last_epoch;
        for (o, (f, base_lr)) in out.iter_mut().zip(fns.fns.iter().zip(&base.base_lrs)) {
            *o = base_lr * f.call(e)?;
        }
        Ok(())
    }

    /// Closures are not saved: the schedule keeps its own.
    fn restore(&mut self, _: &mut GroupLambdas, _: Self, _: GroupLambdas) {}
}

/// PyTorch's `MultiplicativeLR`: `lr = lr * lr_lambda(epoch)` at each step.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, MultiplicativeLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd::default(), &vs, 0.05)?;
/// let mut sched = MultiplicativeLR::new(|_epoch| 0.95).build(opt)?; // lr_lambda=lambda epoch: 0.95
/// sched.step()?;
/// sched.step()?;
/// assert_eq!(sched.last_lr(), [0.05 * 0.95 * 0.95]);
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] when a list of functions does not have one per group.
pub type MultiplicativeLR = LRScheduler<MultiplicativeLRConfig>;

impl MultiplicativeLR {
    /// `MultiplicativeLR(optimizer, [f0, f1, ...])`: one function per group.
    pub fn per_group(lr_lambdas: Vec<LrLambda>) -> Self {
        Self::new(lr_lambdas)
    }
}

impl LrPolicy for MultiplicativeLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = GroupLambdas;

    fn torch_args(&self, _: &GroupLambdas, groups: &ParamGroups) -> Result<TorchArgs> {
        TorchArgs::of(&LambdaLRDict::new(groups.len(), serde_yaml::Value::Null))
    }

    fn setup(&mut self, fns: &mut GroupLambdas, groups: &mut ParamGroups) -> Result<()> {
        fns.fns = self.lr_lambda.expand(groups.len())?;
        Ok(())
    }

    fn get_lr(&self, fns: &GroupLambdas, base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = base.last_epoch;
        let initial = base.is_initial;
        for (o, (f, g)) in out.iter_mut().zip(fns.fns.iter().zip(groups.iter())) {
            *o = if initial { g.lr } else { g.lr * f.call(e)? };
        }
        Ok(())
    }

    /// Closures are not saved: the schedule keeps its own.
    fn restore(&mut self, _: &mut GroupLambdas, _: Self, _: GroupLambdas) {}
}
