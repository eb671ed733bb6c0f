//! transformers' `warmup_stable_decay` (`get_wsd_schedule`).

use serde_yaml::Value;

use super::lambda::Lambda;
pub use super::lambda::{DecayType, WarmupType};
use super::{required, GetScheduler};
use crate::config::kwargs::{from_serde, kwargs, Diag, KwargValue};
use crate::error::{Error, Result};
use crate::schedulers::{LRScheduler, Schedule, ScheduleConfig};

/// The three shapes' names, as transformers spells them.
fn shape(name: &str) -> Option<(WarmupType, DecayType)> {
    match name {
        "linear" => Some((WarmupType::Linear, DecayType::Linear)),
        "cosine" => Some((WarmupType::Cosine, DecayType::Cosine)),
        "1-sqrt" => Some((WarmupType::OneMinusSqrt, DecayType::OneMinusSqrt)),
        _ => None,
    }
}

/// Reads a shape name, with `get_wsd_schedule`'s message for an unknown one.
fn read_shape(value: Value, which: &str) -> Result<(WarmupType, DecayType), Diag> {
    let name: String = from_serde(value)?;
    shape(&name)
        .ok_or_else(|| Diag::new(format!("Unknown {which} type: {name}, expected 'linear', 'cosine' or '1-sqrt'")))
}

impl KwargValue for WarmupType {
    const TYPE: &'static str = "str";
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        read_shape(value, "warmup").map(|s| s.0)
    }
}

impl KwargValue for DecayType {
    const TYPE: &'static str = "str";
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        read_shape(value, "decay").map(|s| s.1)
    }
}

kwargs! {
    /// `get_scheduler("warmup_stable_decay", optimizer, num_warmup_steps,
    /// num_training_steps, scheduler_specific_kwargs={num_decay_steps, ...})`'s arguments.
    pub struct WarmupStableDecayConfig for WarmupStableDecay {
        /// The warmup's length in steps (required: `get_scheduler` raises without it).
        num_warmup_steps: Option<i64> = None,
        /// The length of the schedule: the stable phase is what warmup and
        /// decay leave of it. Give it or `num_stable_steps`.
        num_training_steps: Option<i64> = None,
        /// The decay's length in steps.
        num_decay_steps: i64,
        /// The stable phase's length in steps; wins over `num_training_steps`.
        num_stable_steps: Option<i64> = None,
        /// The warmup's shape: `linear`, `cosine` or `1-sqrt`.
        warmup_type: WarmupType = WarmupType::Linear,
        /// The decay's shape: `linear`, `cosine` or `1-sqrt`.
        decay_type: DecayType = DecayType::Cosine,
        /// The floor (and the warmup's start), as a fraction of each group's LR.
        min_lr_ratio: f64 = 0.0,
        /// The number of cosine waves of a `cosine` decay (0.5: down to the floor once).
        num_cycles: f64 = 0.5,
    }
}

impl ScheduleConfig for WarmupStableDecayConfig {
    const NAME: &'static str = "transformers.warmup_stable_decay";
    const EXAMPLE: &'static str = "{name: transformers.warmup_stable_decay, num_warmup_steps: 2, \
                                   num_training_steps: 10, num_decay_steps: 4, decay_type: 1-sqrt, min_lr_ratio: 0.1}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        Ok(WarmupStableDecay::from_args(self.clone()).boxed())
    }
}

/// transformers' `warmup_stable_decay` schedule (`get_wsd_schedule`): a
/// warmup from `min_lr_ratio` to the full LR over `num_warmup_steps` steps,
/// the full LR for `num_stable_steps` steps (by default what
/// `num_training_steps` leaves after warmup and decay), a decay to
/// `min_lr_ratio` over `num_decay_steps` steps, and `min_lr_ratio` after.
///
/// With `m = min_lr_ratio`: for `s < W`, `p = s / max(1, W)` and
/// `max(0, warmup(p) * (1 - m) + m)`; 1 for `s < W + S`; for `s < W + S + D`,
/// `p = (s - W - S) / max(1, D)` and `max(0, decay(p) * (1 - m) + m)`; then `m`.
///
/// ```
/// # use tch::{nn, Device};
/// use tch_lr::Optim;
/// use tch_lr::transformers::{DecayType, WarmupStableDecay};
/// # let vs = nn::VarStore::new(Device::Cpu);
/// # let _w = vs.root().zeros("w", &[1]);
/// let opt = Optim::new(nn::AdamW::default(), &vs, 5e-5)?;
/// // get_scheduler("warmup_stable_decay", optimizer, num_warmup_steps=100, num_training_steps=1000,
/// //               scheduler_specific_kwargs={"num_decay_steps": 200, "decay_type": "1-sqrt"})
/// let mut sched = WarmupStableDecay::new(200).num_warmup_steps(100)
///     .num_training_steps(1000)
///     .decay_type(DecayType::OneMinusSqrt)
///     .build(opt)?;
/// for _ in 0..500 {
///     sched.step()?;
/// }
/// assert_eq!(sched.last_lr(), [5e-5]); // the stable phase: steps 100 to 799
/// # Ok::<(), tch_lr::Error>(())
/// ```
///
/// # Errors
/// When bound to an optimizer, [`Error::Value`] with transformers' message
/// when `num_warmup_steps` (from a config) or both `num_training_steps` and
/// `num_stable_steps` are missing.
pub type WarmupStableDecay = LRScheduler<WarmupStableDecayConfig>;

impl GetScheduler for WarmupStableDecayConfig {
    fn resolve(&self, _default_lr: f64) -> Result<Lambda> {
        let w = required(self.num_warmup_steps, "WARMUP_STABLE_DECAY", "num_warmup_steps")?;
        let decay = i128::from(self.num_decay_steps);
        // `num_stable_steps` wins (transformers warns when both are given).
        let stable = match (self.num_stable_steps, self.num_training_steps) {
            (Some(s), _) => i128::from(s),
            (None, Some(t)) => i128::from(t) - w - decay,
            (None, None) => {
                return Err(Error::value("Either num_training_steps or num_stable_steps must be specified."));
            }
        };
        Ok(Lambda::WarmupStableDecay {
            w,
            stable,
            decay,
            warmup_type: self.warmup_type,
            decay_type: self.decay_type,
            min_lr_ratio: self.min_lr_ratio,
            num_cycles: self.num_cycles,
        })
    }
}
