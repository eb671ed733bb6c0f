//! `WarmupLR` and `WarmupDecayLR` (a subclass in DeepSpeed), and the warmup
//! that `WarmupCosineLR` shares with them (`warmup_num_steps`, `warmup_type`).

use serde::{Deserialize, Serialize};

use super::scheduler::{format_param, DeepSpeedPolicy, DeepSpeedScheduler};
use crate::config::kwargs::{kwargs, serde_kwargs, Diag};
use crate::error::{Error, Result};
use crate::groups::{ParamGroups, PerGroup};
use crate::schedulers::pymath::{div, py_max};
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

/// How the warmup rises (`warmup_type`): `log` or `linear`. DeepSpeed takes
/// any other string with a warning and warms up as `log`; so does tch-lr (the
/// warning as a note).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarmupType {
    /// `log`: `gamma = ln(i + 1) / ln(warmup_num_steps)`.
    Log,
    /// `linear`: `gamma = i / warmup_num_steps`.
    Linear,
    /// Any other string: warmed up as `log`, with DeepSpeed's warning.
    Other(String),
}

impl WarmupType {
    /// The string DeepSpeed is given.
    pub fn as_str(&self) -> &str {
        match self {
            WarmupType::Log => "log",
            WarmupType::Linear => "linear",
            WarmupType::Other(s) => s,
        }
    }
}

impl Serialize for WarmupType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WarmupType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "log" => WarmupType::Log,
            "linear" => WarmupType::Linear,
            other => WarmupType::Other(other.into()),
        })
    }
}

serde_kwargs! {
    WarmupType => "str",
}

/// The warmup as DeepSpeed's constructors set it up: `warmup_num_steps`
/// raised to at least 2, `inverse_log_warm_up = 1.0 / ln(warmup_num_steps)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// `self.warmup_num_steps`: `max(2, warmup_num_steps)`.
    steps: i64,
    /// `self.inverse_log_warm_up`.
    inverse_log: f64,
    /// `warmup_type == 'linear'` (anything else warms up as `log`).
    linear: bool,
}

impl Warmup {
    /// DeepSpeed's checks and set-up of `warmup_num_steps` and
    /// `warmup_type`; its warning for an unknown type into `notes`.
    pub(crate) fn new(warmup_num_steps: i64, warmup_type: &WarmupType, notes: &mut Vec<String>) -> Result<Warmup> {
        if warmup_num_steps <= 0 {
            return Err(Error::value(format!("warmup_num_steps must be a positive integer, got {warmup_num_steps}"))
                .for_arg("warmup_num_steps"));
        }
        if let WarmupType::Other(t) = warmup_type {
            notes.push(format!(
                "Using unknown warmup_type: {t}. The increasing function is set to default (log) (DeepSpeed's warning)"
            ));
        }
        let steps = warmup_num_steps.max(2);
        Ok(Warmup { steps, inverse_log: 1.0 / (steps as f64).ln(), linear: *warmup_type == WarmupType::Linear })
    }

    /// `self.warmup_num_steps`: at least 2.
    pub(crate) fn steps(&self) -> i64 {
        self.steps
    }

    /// The warmup's `gamma` at `last_batch_iteration = i` while `i` is
    /// below the warmup steps: `inverse_log_warm_up * ln(i + 1)` (log) or
    /// `i / warmup_num_steps` (linear); `None` after.
    pub(crate) fn gamma(&self, i: i64) -> Option<f64> {
        (i < self.steps).then(|| {
            if self.linear {
                i as f64 / self.steps as f64
            } else {
                self.inverse_log * ((i + 1) as f64).ln()
            }
        })
    }
}

kwargs! {
    /// `WarmupLR`'s keyword arguments: `WarmupLR(optimizer, warmup_min_lr=0.0,
    /// warmup_max_lr=None, warmup_num_steps=1000, warmup_type='log')`.
    pub struct WarmupLRConfig for WarmupLR {
        /// The LR the warmup starts from (one, or one per group).
        warmup_min_lr: PerGroup = PerGroup::All(0.0),
        /// The LR it reaches and holds (one, or one per group); `None`
        /// (DeepSpeed's default since 0.17.2): each group's LR at construction.
        warmup_max_lr: Option<PerGroup> = None,
        /// The warmup's length (at least 2 is used).
        warmup_num_steps: i64 = 1000,
        /// `log` or `linear`.
        warmup_type: WarmupType = WarmupType::Log,
    }
}

impl ScheduleConfig for WarmupLRConfig {
    const NAME: &'static str = "deepspeed.WarmupLR";
    const EXAMPLE: &'static str = "{name: deepspeed.WarmupLR, warmup_min_lr: 0.001, warmup_num_steps: 8}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(WarmupLR::from_args(self.clone()).boxed())
    }
}

/// DeepSpeed's `WarmupLR`: from `warmup_min_lr` up to `warmup_max_lr` over
/// `warmup_num_steps` steps (log or linear), then `warmup_max_lr`:
/// `lr = min + delta * gamma`. The first two steps both run at
/// `warmup_min_lr` (row 0, and row 1 where `ln(1) = 0`).
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::deepspeed::WarmupLR;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 3e-4)?;
/// // WarmupLR(optimizer, warmup_min_lr=0.0, warmup_num_steps=100, warmup_type='linear')
/// let mut sched = WarmupLR::new().warmup_num_steps(100).warmup_type(tch_lr::deepspeed::WarmupType::Linear).build(opt)?;
/// assert_eq!(sched.last_lr(), [0.0]);
/// for _ in 0..51 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 1.5e-4).abs() < 1e-18); // half way up to the optimizer's LR
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// [`Error::Value`] with DeepSpeed's messages: `warmup_num_steps` not
/// positive, a per-group list of the wrong length.
pub type WarmupLR = DeepSpeedScheduler<WarmupLRConfig>;

/// What `WarmupLR`'s constructor computes (so does `WarmupDecayLR`'s).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WarmupState {
    /// `min_lrs`.
    min_lrs: Vec<f64>,
    /// `delta_lrs`: `max_lrs - min_lrs`.
    delta_lrs: Vec<f64>,
    warmup: Warmup,
}

/// `WarmupLR.__init__`: the checks, the bounds, the starting LR written.
fn init_warmup(
    groups: &mut ParamGroups,
    warmup_min_lr: &PerGroup,
    warmup_max_lr: Option<&PerGroup>,
    warmup_num_steps: i64,
    warmup_type: &WarmupType,
    notes: &mut Vec<String>,
) -> Result<WarmupState> {
    if warmup_num_steps <= 0 {
        // Before anything else, as DeepSpeed checks it.
        Warmup::new(warmup_num_steps, warmup_type, notes)?;
    }
    let min_lrs = format_param(groups, warmup_min_lr, "min_lr", "warmup_min_lr")?;
    let max_lrs = match warmup_max_lr {
        Some(v) => format_param(groups, v, "max_lr", "warmup_max_lr")?,
        None => groups.lrs(),
    };
    let delta_lrs = max_lrs.iter().zip(&min_lrs).map(|(big, small)| big - small).collect();
    let warmup = Warmup::new(warmup_num_steps, warmup_type, notes)?;
    for (g, &lr) in groups.iter_mut().zip(&min_lrs) {
        g.lr = lr;
    }
    Ok(WarmupState { min_lrs, delta_lrs, warmup })
}

/// `WarmupLR.get_lr()` with the class's `_get_gamma` after the warmup.
fn warmup_lr(s: &WarmupState, i: i64, after: impl Fn() -> Result<f64>, out: &mut [f64]) -> Result<()> {
    if i < 0 {
        out.copy_from_slice(&s.min_lrs);
        return Ok(());
    }
    let gamma = match s.warmup.gamma(i) {
        Some(g) => g,
        None => after()?,
    };
    for ((o, min), delta) in out.iter_mut().zip(&s.min_lrs).zip(&s.delta_lrs) {
        *o = min + delta * gamma;
    }
    Ok(())
}

impl DeepSpeedPolicy for WarmupLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = WarmupState;

    fn init(&self, groups: &mut ParamGroups, notes: &mut Vec<String>) -> Result<WarmupState> {
        let max = self.warmup_max_lr.as_ref();
        init_warmup(groups, &self.warmup_min_lr, max, self.warmup_num_steps, &self.warmup_type, notes)
    }

    fn get_lr(&self, s: &WarmupState, i: i64, out: &mut [f64]) -> Result<()> {
        warmup_lr(s, i, || Ok(1.0), out)
    }
}

kwargs! {
    /// `WarmupDecayLR`'s keyword arguments: `WarmupDecayLR(optimizer,
    /// total_num_steps, warmup_min_lr=0.0, warmup_max_lr=0.001,
    /// warmup_num_steps=1000, warmup_type='log')`.
    pub struct WarmupDecayLRConfig for WarmupDecayLR {
        /// The step at which the LR reaches 0.
        total_num_steps: i64,
        /// The LR the warmup starts from (one, or one per group).
        warmup_min_lr: PerGroup = PerGroup::All(0.0),
        /// The LR it reaches (one, or one per group); `None` (given as
        /// `null`): each group's LR at construction.
        warmup_max_lr: Option<PerGroup> = Some(PerGroup::All(0.001)),
        /// The warmup's length (at least 2 is used).
        warmup_num_steps: i64 = 1000,
        /// `log` or `linear`.
        warmup_type: WarmupType = WarmupType::Log,
    }
}

impl ScheduleConfig for WarmupDecayLRConfig {
    const NAME: &'static str = "deepspeed.WarmupDecayLR";
    const EXAMPLE: &'static str =
        "{name: deepspeed.WarmupDecayLR, total_num_steps: 12, warmup_max_lr: 0.05, warmup_num_steps: 4, \
         warmup_type: linear}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(WarmupDecayLR::from_args(self.clone()).boxed())
    }
}

/// DeepSpeed's `WarmupDecayLR`: `WarmupLR`'s warmup, then a linear decay to
/// 0 at `total_num_steps`: `gamma = max(0, (T - i) / max(1, T - W))`, W the
/// warmup steps (at least 2). Note its `warmup_max_lr` defaults to 0.001,
/// not to the optimizer's LR.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::deepspeed::WarmupDecayLR;
/// use tch_lr::Optim;
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 1e-3)?;
/// // WarmupDecayLR(optimizer, total_num_steps=10, warmup_max_lr=0.002, warmup_num_steps=2)
/// let mut sched = WarmupDecayLR::new(10).warmup_max_lr(Some(0.002.into())).warmup_num_steps(2).build(opt)?;
/// for _ in 0..6 {
///     sched.step()?;
/// }
/// assert!((sched.last_lr()[0] - 0.002 * 5.0 / 8.0).abs() < 1e-18); // i = 5: (10 - 5) / (10 - 2)
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// As [`WarmupLR`]'s.
pub type WarmupDecayLR = DeepSpeedScheduler<WarmupDecayLRConfig>;

/// What `WarmupDecayLR`'s constructor computes: `WarmupLR`'s.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WarmupDecayState {
    warmup: WarmupState,
}

impl DeepSpeedPolicy for WarmupDecayLRConfig {
    const NAME: &'static str = <Self as ScheduleConfig>::NAME;
    type State = WarmupDecayState;

    fn init(&self, groups: &mut ParamGroups, notes: &mut Vec<String>) -> Result<WarmupDecayState> {
        let max = self.warmup_max_lr.as_ref();
        let warmup = init_warmup(groups, &self.warmup_min_lr, max, self.warmup_num_steps, &self.warmup_type, notes)?;
        if self.total_num_steps < warmup.warmup.steps() {
            notes.push(format!(
                "total_num_steps {} is less than warmup_num_steps {} (DeepSpeed's warning)",
                self.total_num_steps, self.warmup_num_steps
            ));
        }
        Ok(WarmupDecayState { warmup })
    }

    fn get_lr(&self, s: &WarmupDecayState, i: i64, out: &mut [f64]) -> Result<()> {
        let t = i128::from(self.total_num_steps);
        let decay = || {
            // max(0.0, float(T - i) / float(max(1.0, T - W)))
            let span = (t - i128::from(s.warmup.warmup.steps())) as f64;
            Ok(py_max(0.0, div((t - i128::from(i)) as f64, py_max(1.0, span))?))
        };
        warmup_lr(&s.warmup, i, decay, out)
    }
}
