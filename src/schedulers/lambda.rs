//! Schedules given by a function of the epoch: `LambdaLR`, `MultiplicativeLR`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::base::{base_field, Base, LrPolicy};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use crate::config::kwargs::{kwargs, Diag, Seg};
use crate::config::{Expr, Exprs};
use crate::error::{Error, Result};
use crate::groups::ParamGroups;

kwargs! {
    /// `LambdaLR`'s keyword arguments: `LambdaLR(optimizer, lr_lambda)`.
    pub struct LambdaLRConfig {
        /// The factor of the base LR, an expression of `epoch` (one, or one per group).
        lr_lambda: Exprs,
    }
}

impl ScheduleConfig for LambdaLRConfig {
    const NAME: &'static str = "LambdaLR";
    const EXAMPLE: &'static str = "{name: LambdaLR, lr_lambda: '0.9 ** epoch + 1 / (epoch + 2)'}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(LambdaLR::with(Lambdas::parse(&self.lr_lambda)?).boxed())
    }
}

kwargs! {
    /// `MultiplicativeLR`'s keyword arguments: `MultiplicativeLR(optimizer, lr_lambda)`.
    pub struct MultiplicativeLRConfig {
        /// The factor of each step, an expression of `epoch` (one, or one per group).
        lr_lambda: Exprs,
    }
}

impl ScheduleConfig for MultiplicativeLRConfig {
    const NAME: &'static str = "MultiplicativeLR";
    const EXAMPLE: &'static str = "{name: MultiplicativeLR, lr_lambda: '0.9 + 0.01 * (epoch % 3)'}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(MultiplicativeLR::with(Lambdas::parse(&self.lr_lambda)?).boxed())
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

/// One function for every group, or one per group (PyTorch's `lr_lambda`
/// argument, a callable or a list of callables).
#[derive(Clone, Debug, Default)]
enum Lambdas {
    #[default]
    Unset,
    All(LrLambda),
    Each(Vec<LrLambda>),
}

impl Lambdas {
    /// The functions of YAML expressions of `epoch`.
    fn parse(exprs: &Exprs) -> Result<Self, Diag> {
        let one = |src: &str| {
            let e = Expr::parse(src, "epoch").map_err(Diag::new)?;
            Ok(LrLambda::fallible(move |epoch| e.eval(epoch as f64)))
        };
        let at = |d: Diag| d.within(Seg::Key("lr_lambda".into()));
        match exprs {
            Exprs::One(s) => one(s).map(Lambdas::All).map_err(at),
            Exprs::Each(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| one(s).map_err(|d: Diag| at(d.within(Seg::Index(i)))))
                .collect::<Result<_, _>>()
                .map(Lambdas::Each),
        }
    }

    /// Expands to one function per group, with PyTorch's message on a length mismatch.
    fn expand(&self, n: usize) -> Result<Vec<LrLambda>> {
        match self {
            Lambdas::Unset => Err(Error::value("lr_lambda is missing")),
            Lambdas::All(f) => Ok(vec![f.clone(); n]),
            Lambdas::Each(fs) if fs.len() == n => Ok(fs.clone()),
            Lambdas::Each(fs) => Err(Error::value(format!("Expected {n} lr_lambdas, but got {}", fs.len()))),
        }
    }
}

/// `new` and `per_group` for a scheduler driven by `lr_lambda`.
macro_rules! lambda_constructors {
    ($name:ident) => {
        impl $name {
            #[doc = concat!("`", stringify!($name), "(optimizer, lr_lambda)` with one function for every group.")]
            pub fn new(lr_lambda: impl Into<LrLambda>) -> Self {
                $name { lr_lambda: Lambdas::All(lr_lambda.into()), lambdas: Vec::new(), base: Base::default() }
            }

            #[doc = concat!("`", stringify!($name), "(optimizer, [f0, f1, ...])` with one function per group.")]
            pub fn per_group(lr_lambdas: Vec<LrLambda>) -> Self {
                Self::with(Lambdas::Each(lr_lambdas))
            }

            fn with(lr_lambda: Lambdas) -> Self {
                $name { lr_lambda, lambdas: Vec::new(), base: Base::default() }
            }
        }
    };
}

/// The [`LrPolicy`] items the two lambda schedulers share: the base state,
/// one function per group at construction, and a restore that keeps the
/// functions (closures are not saved).
macro_rules! lambda_policy {
    () => {
        base_field!();

        fn setup(&mut self, groups: &mut ParamGroups) -> Result<()> {
            self.lambdas = self.lr_lambda.expand(groups.len())?;
            Ok(())
        }

        fn restore(&mut self, loaded: Self) {
            self.base = loaded.base;
        }
    };
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LambdaLR {
    #[serde(skip)]
    lr_lambda: Lambdas,
    #[serde(skip)]
    lambdas: Vec<LrLambda>,
    base: Base,
}

lambda_constructors!(LambdaLR);

impl LrPolicy for LambdaLR {
    const NAME: &'static str = LambdaLRConfig::NAME;

    lambda_policy!();

    fn get_lr(&self, _groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = self.base.last_epoch;
        for (o, (f, base_lr)) in out.iter_mut().zip(self.lambdas.iter().zip(&self.base.base_lrs)) {
            *o = base_lr * f.call(e)?;
        }
        Ok(())
    }
}

/// PyTorch's `MultiplicativeLR`: `lr = lr * lr_lambda(epoch)` at each step.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, ScheduleExt as _, MultiplicativeLR};
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MultiplicativeLR {
    #[serde(skip)]
    lr_lambda: Lambdas,
    #[serde(skip)]
    lambdas: Vec<LrLambda>,
    base: Base,
}

lambda_constructors!(MultiplicativeLR);

impl LrPolicy for MultiplicativeLR {
    const NAME: &'static str = MultiplicativeLRConfig::NAME;

    lambda_policy!();

    fn get_lr(&self, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = self.base.last_epoch;
        let initial = self.base.is_initial;
        for (o, (f, g)) in out.iter_mut().zip(self.lambdas.iter().zip(groups.iter())) {
            *o = if initial { g.lr } else { g.lr * f.call(e)? };
        }
        Ok(())
    }
}
