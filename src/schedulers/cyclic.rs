//! `CyclicLR`: cyclical learning rates (Smith, <https://arxiv.org/abs/1506.01186>).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::base::{base_field, momentum_setters, Base, LrPolicy};
use super::pymath::{div, pow};
use super::registry::ScheduleConfig;
use super::schedule::Schedule;
use crate::config::kwargs::{kwargs, Diag, Seg};
use crate::config::Expr;
use crate::error::Result;
use crate::groups::{ParamGroups, PerGroup};

kwargs! {
    /// `CyclicLR`'s keyword arguments: `CyclicLR(optimizer, base_lr, max_lr,
    /// step_size_up=2000, step_size_down=None, mode='triangular', gamma=1.0,
    /// scale_fn=None, scale_mode='cycle', cycle_momentum=True,
    /// base_momentum=0.8, max_momentum=0.9)`.
    pub struct CyclicLRConfig {
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
        /// A custom amplitude scale: an expression of `x` (the cycle or the iteration).
        scale_fn: Option<String> = None,
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
        let c = self.clone();
        let mut s = CyclicLR::new(c.base_lr, c.max_lr)
            .step_size_up(c.step_size_up)
            .step_size_down(c.step_size_down)
            .mode(c.mode)
            .gamma(c.gamma)
            .scale_mode(c.scale_mode)
            .cycle_momentum(c.cycle_momentum)
            .base_momentum(c.base_momentum)
            .max_momentum(c.max_momentum);
        if let Some(src) = &c.scale_fn {
            let e = Expr::parse(src, "x").map_err(|m| Diag::new(m).within(Seg::Key("scale_fn".into())))?;
            s = s.scale_fn(ScaleFn::fallible(move |x| e.eval(x)));
        }
        Ok(s.boxed())
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

/// A custom amplitude scale, PyTorch's `scale_fn`.
#[derive(Clone)]
pub struct ScaleFn(Arc<dyn Fn(f64) -> Result<f64> + Send + Sync>);

impl ScaleFn {
    /// Wraps a closure.
    pub fn new(f: impl Fn(f64) -> f64 + Send + Sync + 'static) -> Self {
        ScaleFn(Arc::new(move |x| Ok(f(x))))
    }

    /// Wraps a closure that can fail, as a Python function can raise: the
    /// error stops the step that called it.
    pub fn fallible(f: impl Fn(f64) -> Result<f64> + Send + Sync + 'static) -> Self {
        ScaleFn(Arc::new(f))
    }
}

impl fmt::Debug for ScaleFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScaleFn(..)")
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
/// use tch_lr::{Optim, ScheduleExt as _, CyclicLR};
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
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CyclicLR {
    base_lr: PerGroup,
    max_lr: PerGroup,
    step_size_up: f64,
    step_size_down: Option<f64>,
    mode: CyclicMode,
    gamma: f64,
    #[serde(skip)]
    scale_fn: Option<ScaleFn>,
    scale_mode: ScaleMode,
    cycle_momentum: bool,
    base_momentum: PerGroup,
    max_momentum: PerGroup,
    // Set by the constructor.
    cyclic_base_lrs: Vec<f64>,
    max_lrs: Vec<f64>,
    total_size: f64,
    step_ratio: f64,
    base_momentums: Vec<f64>,
    max_momentums: Vec<f64>,
    base: Base,
}

impl CyclicLR {
    /// `CyclicLR(optimizer, base_lr, max_lr)` with PyTorch's defaults (those
    /// of [`CyclicLRConfig`]: `step_size_up = 2000`, mode `triangular`,
    /// `cycle_momentum = true`, momentum between 0.8 and 0.9).
    pub fn new(base_lr: impl Into<PerGroup>, max_lr: impl Into<PerGroup>) -> Self {
        type C = CyclicLRConfig;
        CyclicLR {
            base_lr: base_lr.into(),
            max_lr: max_lr.into(),
            step_size_up: C::step_size_up as f64,
            step_size_down: None,
            mode: C::mode,
            gamma: C::gamma,
            scale_fn: None,
            scale_mode: C::scale_mode,
            cycle_momentum: C::cycle_momentum,
            base_momentum: C::base_momentum,
            max_momentum: C::max_momentum,
            cyclic_base_lrs: Vec::new(),
            max_lrs: Vec::new(),
            total_size: 0.0,
            step_ratio: 0.0,
            base_momentums: Vec::new(),
            max_momentums: Vec::new(),
            base: Base::default(),
        }
    }

    /// Steps in the increasing half of a cycle (default `CyclicLRConfig::step_size_up`).
    pub fn step_size_up(mut self, v: i64) -> Self {
        self.step_size_up = v as f64;
        self
    }

    /// Steps in the decreasing half (default: `step_size_up`).
    pub fn step_size_down(mut self, v: Option<i64>) -> Self {
        self.step_size_down = v.map(|v| v as f64);
        self
    }

    /// The amplitude policy (default `CyclicLRConfig::mode`); ignored with a custom `scale_fn`.
    pub fn mode(mut self, mode: CyclicMode) -> Self {
        self.mode = mode;
        self
    }

    /// The constant of `exp_range` (default `CyclicLRConfig::gamma`).
    pub fn gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

    /// A custom amplitude scale, evaluated at the cycle or iteration per `scale_mode`.
    pub fn scale_fn(mut self, f: ScaleFn) -> Self {
        self.scale_fn = Some(f);
        self
    }

    /// What the custom `scale_fn` takes (default `CyclicLRConfig::scale_mode`); the built-in modes set their own.
    pub fn scale_mode(mut self, mode: ScaleMode) -> Self {
        self.scale_mode = mode;
        self
    }

    momentum_setters!(CyclicLRConfig);

    fn scale(&self, x: f64) -> Result<f64> {
        if let Some(f) = &self.scale_fn {
            return (f.0)(x);
        }
        match self.mode {
            CyclicMode::Triangular => Ok(1.0),
            CyclicMode::Triangular2 => div(1.0, pow(2.0, x - 1.0)?),
            CyclicMode::ExpRange => pow(self.gamma, x),
        }
    }
}

impl LrPolicy for CyclicLR {
    const NAME: &'static str = CyclicLRConfig::NAME;

    base_field!();

    fn setup(&mut self, groups: &mut ParamGroups) -> Result<()> {
        let base_lrs = groups.format_param("base_lr", &self.base_lr)?;
        for (g, &lr) in groups.iter_mut().zip(&base_lrs) {
            g.lr = lr;
        }
        self.cyclic_base_lrs = base_lrs;
        self.max_lrs = groups.format_param("max_lr", &self.max_lr)?;
        let up = self.step_size_up;
        let down = self.step_size_down.unwrap_or(up);
        self.total_size = up + down;
        self.step_ratio = div(up, self.total_size)?;
        if self.scale_fn.is_none() {
            self.scale_mode = match self.mode {
                CyclicMode::Triangular | CyclicMode::Triangular2 => ScaleMode::Cycle,
                CyclicMode::ExpRange => ScaleMode::Iterations,
            };
        }
        if self.cycle_momentum {
            self.base_momentums = groups.format_param("base_momentum", &self.base_momentum)?;
            self.max_momentums = groups.format_param("max_momentum", &self.max_momentum)?;
            for ((g, &max_m), &base_m) in groups.iter_mut().zip(&self.max_momentums).zip(&self.base_momentums) {
                g.momentum = max_m;
                g.max_momentum = Some(max_m);
                g.base_momentum = Some(base_m);
            }
        }
        Ok(())
    }

    fn finish(&mut self, _groups: &mut ParamGroups) -> Result<()> {
        self.base.base_lrs = self.cyclic_base_lrs.clone();
        Ok(())
    }

    fn get_lr(&self, groups: &mut ParamGroups, out: &mut [f64]) -> Result<()> {
        let e = self.base.last_epoch as f64;
        let cycle = (1.0 + div(e, self.total_size)?).floor();
        let x = 1.0 + e / self.total_size - cycle;
        let scale_factor =
            if x <= self.step_ratio { div(x, self.step_ratio)? } else { div(x - 1.0, self.step_ratio - 1.0)? };
        let at = match self.scale_mode {
            ScaleMode::Cycle => cycle,
            ScaleMode::Iterations => e,
        };
        let s = self.scale(at)?;
        for (o, (base_lr, max_lr)) in out.iter_mut().zip(self.base.base_lrs.iter().zip(&self.max_lrs)) {
            let base_height = (max_lr - base_lr) * scale_factor;
            *o = base_lr + base_height * s;
        }
        if self.cycle_momentum {
            let bounds = self.base_momentums.iter().zip(&self.max_momentums);
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

    fn restore(&mut self, loaded: Self) {
        let scale_fn = self.scale_fn.take();
        *self = loaded;
        self.scale_fn = scale_fn;
    }
}
