//! `CyclicLR`: cyclical learning rates (Smith, <https://arxiv.org/abs/1506.01186>).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::lr_scheduler::{Base, LRScheduler, LrPolicy};
use super::pymath::{div, pow};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use super::torch_state::{Opaque, TorchArgs};
use crate::config::kwargs::{kwargs, Diag, KwargValue};
use crate::config::Expr;
use crate::error::Result;
use crate::groups::{ParamGroups, PerGroup};

kwargs! {
    /// `CyclicLR`'s keyword arguments: `CyclicLR(optimizer, base_lr, max_lr,
    /// step_size_up=2000, step_size_down=None, mode='triangular', gamma=1.0,
    /// scale_fn=None, scale_mode='cycle', cycle_momentum=True,
    /// base_momentum=0.8, max_momentum=0.9)`.
    pub struct CyclicLRConfig for CyclicLR {
        /// The lower LR bound (one, or one per group).
        base_lr: PerGroup,
        /// The upper LR bound (one, or one per group).
        max_lr: PerGroup,
        /// Steps in the increasing half of a cycle.
        step_size_up: i64 = 2000,
        /// Steps in the decreasing half (`None`: `step_size_up`).
        step_size_down: Option<i64> = None,
        /// The amplitude policy; ignored with a custom `scale_fn`.
        mode: CyclicMode = CyclicMode::Triangular,
        /// The constant of `exp_range`.
        gamma: f64 = 1.0,
        /// A custom amplitude scale of `x` (the cycle or the iteration): a
        /// closure, or in a config an expression.
        scale_fn: Option<ScaleFn> = None,
        /// What the custom `scale_fn` takes.
        scale_mode: ScaleMode = ScaleMode::Cycle,
        /// Whether momentum (or beta1) cycles inversely to the LR.
        cycle_momentum: bool = true,
        /// The lower momentum bound.
        base_momentum: PerGroup = PerGroup::All(0.8),
        /// The upper momentum bound.
        max_momentum: PerGroup = PerGroup::All(0.9),
    }
}

impl ScheduleConfig for CyclicLRConfig {
    const NAME: &'static str = "CyclicLR";
    const EXAMPLE: &'static str =
        "{name: CyclicLR, base_lr: 0.01, max_lr: 0.1, step_size_up: 3, mode: triangular2, cycle_momentum: false}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(CyclicLR::from_args(self.clone()).boxed())
    }
}

/// The amplitude policy of [`CyclicLR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CyclicMode {
    /// A constant amplitude.
    Triangular,
    /// The amplitude halves every cycle.
    Triangular2,
    /// The amplitude is scaled by `gamma ^ iteration`.
    ExpRange,
}

/// Whether [`CyclicLR`]'s scale function takes the cycle number or the iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMode {
    /// The cycle number (from 1).
    Cycle,
    /// The number of iterations since the start.
    Iterations,
}

/// A custom amplitude scale, PyTorch's `scale_fn`: a closure, or in a config
/// a YAML expression of `x`, which is kept to be written back.
#[derive(Clone)]
pub struct ScaleFn {
    f: Arc<dyn Fn(f64) -> Result<f64> + Send + Sync>,
    source: Option<String>,
}

impl ScaleFn {
    /// Wraps a closure.
    pub fn new(f: impl Fn(f64) -> f64 + Send + Sync + 'static) -> Self {
        ScaleFn::fallible(move |x| Ok(f(x)))
    }

    /// Wraps a closure that can fail, as a Python function can raise: the
    /// error stops the step that called it.
    pub fn fallible(f: impl Fn(f64) -> Result<f64> + Send + Sync + 'static) -> Self {
        ScaleFn { f: Arc::new(f), source: None }
    }

    /// The function of a YAML expression of `x`.
    fn parse(source: String) -> Result<Self, Diag> {
        let e = Expr::parse(&source, "x").map_err(Diag::new)?;
        Ok(ScaleFn { f: Arc::new(move |x| e.eval(x)), source: Some(source) })
    }
}

impl fmt::Debug for ScaleFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(src) => write!(f, "ScaleFn({src:?})"),
            None => f.write_str("ScaleFn(..)"),
        }
    }
}

/// Equal when read from the same expression (closures are never equal).
impl PartialEq for ScaleFn {
    fn eq(&self, other: &Self) -> bool {
        self.source.is_some() && self.source == other.source
    }
}

/// Writes the expression it was read from (`null` for a closure).
impl Serialize for ScaleFn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

/// Reads an expression; a saved closure (`null`) reads as the identity: a
/// loaded state keeps the function of the schedule it is loaded into.
impl<'de> Deserialize<'de> for ScaleFn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(ScaleFn::new(|x| x)),
            Some(src) => ScaleFn::parse(src).map_err(|e| serde::de::Error::custom(e.message)),
        }
    }
}

impl KwargValue for ScaleFn {
    const TYPE: &'static str = String::TYPE;
    fn from_kwarg(value: serde_yaml::Value) -> Result<Self, Diag> {
        ScaleFn::parse(String::from_kwarg(value)?)
    }
}

/// PyTorch's `CyclicLR`: the LR goes from `base_lr` up to `max_lr` in
/// `step_size_up` steps and back down in `step_size_down`, with an amplitude
/// scaled by the mode (or a custom `scale_fn`). With `cycle_momentum`, the
/// momentum (beta1 for Adam and AdamW) cycles inversely between
/// `max_momentum` and `base_momentum`. Step it once per batch.
///
/// The constructor overrides each group's LR with `base_lr`, as PyTorch does.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::{Optim, CyclicLR};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.1)?;
/// // CyclicLR(optimizer, base_lr=0.01, max_lr=0.1, step_size_up=5), stepped per batch
/// let mut sched = CyclicLR::new(0.01, 0.1).step_size_up(5).build(opt)?;
/// for _batch in 0..5 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 0.1).abs() < 1e-15);
/// assert!((sched.last_momentum().unwrap()[0] - 0.8).abs() < 1e-15); // momentum cycles the other way
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`](crate::Error::Value) when a per-group list has the wrong
/// length (PyTorch's message); [`Error::ZeroDivision`](crate::Error::ZeroDivision)
/// when both step sizes are 0.
pub type CyclicLR = LRScheduler<CyclicLRConfig>;

/// What `CyclicLR`'s constructor computes from its arguments and the groups.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CyclicBounds {
    cyclic_base_lrs: Vec<f64>,
    max_lrs: Vec<f64>,
    total_size: f64,
    step_ratio: f64,
    base_momentums: Vec<f64>,
    max_momentums: Vec<f64>,
}

impl CyclicLRConfig {
    fn scale(&self, x: f64) -> Result<f64> {
        if let Some(f) = &self.scale_fn {
            return (f.f)(x);
        }
        match self.mode {
            CyclicMode::Triangular => Ok(1.0),
            CyclicMode::Triangular2 => div(1.0, pow(2.0, x - 1.0)?),
            CyclicMode::ExpRange => pow(self.gamma, x),
        }
    }
}

/// `CyclicLR.state_dict()`'s own attributes (the momentum bounds and
/// `use_beta1` when it cycles momentum; `_scale_fn_custom`: `None`, or a
/// callable object's `__dict__`).
#[derive(Serialize, Deserialize)]
struct CyclicLRDict {
    max_lrs: Vec<f64>,
    total_size: f64,
    step_ratio: f64,
    #[serde(default)]
    mode: Option<CyclicMode>,
    gamma: f64,
    #[serde(default)]
    scale_mode: Option<ScaleMode>,
    cycle_momentum: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    use_beta1: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_momentums: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_momentums: Option<Vec<f64>>,
    #[serde(rename = "_scale_fn_custom", default)]
    scale_fn_custom: Option<Opaque>,
}

impl LrPolicy for CyclicLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = CyclicBounds;

    fn torch_args(&self, st: &CyclicBounds, groups: &ParamGroups) -> Result<TorchArgs> {
        let momentum = |m: &Vec<f64>| self.cycle_momentum.then(|| m.clone());
        TorchArgs::of(&CyclicLRDict {
            max_lrs: st.max_lrs.clone(),
            total_size: st.total_size,
            step_ratio: st.step_ratio,
            mode: Some(self.mode),
            gamma: self.gamma,
            scale_mode: Some(self.scale_mode),
            cycle_momentum: self.cycle_momentum,
            use_beta1: self.cycle_momentum.then(|| groups.kind().uses_beta1()),
            base_momentums: momentum(&st.base_momentums),
            max_momentums: momentum(&st.max_momentums),
            scale_fn_custom: Some(Opaque(serde_yaml::Value::Null)),
        })
    }

    fn setup(&mut self, st: &mut CyclicBounds, groups: &mut ParamGroups) -> Result<()> {
        let base_lrs = groups.format_param("base_lr", &self.base_lr)?;
        for (g, &lr) in groups.iter_mut().zip(&base_lrs) {
            g.lr = lr;
        }
        st.cyclic_base_lrs = base_lrs;
        st.max_lrs = groups.format_param("max_lr", &self.max_lr)?;
        let up = self.step_size_up as f64;
        let down = self.step_size_down.map_or(up, |d| d as f64);
        st.total_size = up + down;
        st.step_ratio = div(up, st.total_size)?;
        if self.scale_fn.is_none() {
            self.scale_mode = match self.mode {
                CyclicMode::Triangular | CyclicMode::Triangular2 => ScaleMode::Cycle,
                CyclicMode::ExpRange => ScaleMode::Iterations,
            };
        }
        if self.cycle_momentum {
            st.base_momentums = groups.format_param("base_momentum", &self.base_momentum)?;
            st.max_momentums = groups.format_param("max_momentum", &self.max_momentum)?;
            for ((g, &max_m), &base_m) in groups.iter_mut().zip(&st.max_momentums).zip(&st.base_momentums) {
                g.momentum = max_m;
                g.max_momentum = Some(max_m);
                g.base_momentum = Some(base_m);
            }
        }
        Ok(())
    }

    fn finish(&self, st: &CyclicBounds, base: &mut Base) -> Result<()> {
        base.base_lrs.clone_from(&st.cyclic_base_lrs);
        Ok(())
    }

    fn get_lr(&self, st: &CyclicBounds, base: &Base, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = base.last_epoch as f64;
        let cycle = (1.0 + div(e, st.total_size)?).floor();
        let x = 1.0 + e / st.total_size - cycle;
        let scale_factor = if x <= st.step_ratio { div(x, st.step_ratio)? } else { div(x - 1.0, st.step_ratio - 1.0)? };
        let at = match self.scale_mode {
            ScaleMode::Cycle => cycle,
            ScaleMode::Iterations => e,
        };
        let s = self.scale(at)?;
        for (o, (base_lr, max_lr)) in out.iter_mut().zip(base.base_lrs.iter().zip(&st.max_lrs)) {
            let base_height = (max_lr - base_lr) * scale_factor;
            *o = base_lr + base_height * s;
        }
        if self.cycle_momentum {
            let bounds = st.base_momentums.iter().zip(&st.max_momentums);
            for (g, (base_m, max_m)) in groups.iter_mut().zip(bounds) {
                let base_height = (max_m - base_m) * scale_factor;
                g.momentum = max_m - base_height * s;
            }
        }
        Ok(())
    }

    fn cycles_momentum(&self) -> bool {
        self.cycle_momentum
    }

    /// A closure is not saved: the schedule keeps its own `scale_fn`.
    fn restore(&mut self, st: &mut CyclicBounds, loaded: Self, loaded_st: CyclicBounds) {
        let scale_fn = self.scale_fn.take();
        *self = loaded;
        self.scale_fn = scale_fn;
        *st = loaded_st;
    }
}
