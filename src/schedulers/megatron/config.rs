//! `OptimizerParamScheduler`'s keyword arguments, as a config gives them,
//! and what is refused when the config is read.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use super::scheduler::OptimizerParamScheduler;
use crate::config::kwargs::{finite, from_serde, kwargs, serde_kwargs, Diag, KwargValue, Seg};
use crate::groups::PerGroup;
use crate::schedulers::py_float;
use crate::schedulers::registry::ScheduleConfig;
use crate::schedulers::schedule::Schedule;

/// `lr_decay_style`: the LR's shape after the warmup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecayStyle {
    /// `linear`: from `max_lr` down to `min_lr` at `lr_decay_steps`.
    #[serde(rename = "linear")]
    Linear,
    /// `cosine`: half a cosine from `max_lr` down to `min_lr`.
    #[serde(rename = "cosine")]
    Cosine,
    /// `inverse-square-root`: `max_lr * sqrt(max(W, 1) / n)`, cut at `min_lr`.
    #[serde(rename = "inverse-square-root")]
    InverseSquareRoot,
    /// `constant`: `max_lr` after the warmup, forever.
    #[serde(rename = "constant")]
    Constant,
    /// `WSD`: `max_lr` until the last `wsd_decay_steps` of `lr_decay_steps`,
    /// then the `lr_wsd_decay_style` cooldown to `min_lr`.
    #[serde(rename = "WSD")]
    Wsd,
}

impl DecayStyle {
    /// The name Megatron gives it.
    pub fn name(self) -> &'static str {
        match self {
            DecayStyle::Linear => "linear",
            DecayStyle::Cosine => "cosine",
            DecayStyle::InverseSquareRoot => "inverse-square-root",
            DecayStyle::Constant => "constant",
            DecayStyle::Wsd => "WSD",
        }
    }
}

/// `lr_wsd_decay_style`: the WSD cooldown's shape over its progress `q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WsdDecayStyle {
    /// `linear`: `1 - q`.
    Linear,
    /// `cosine`: `0.5 * (cos(pi * q) + 1)`.
    Cosine,
    /// `exponential`: `2 * 0.5^q - 1`.
    Exponential,
    /// `minus_sqrt`: `1 - sqrt(q)`.
    MinusSqrt,
}

/// `wd_incr_style`: how the weight decay goes from `start_wd` to `end_wd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WdIncrStyle {
    /// `linear`: `start + r * (end - start)`.
    Linear,
    /// `cosine`: `start + 0.5 * (cos(pi * (1 - r)) + 1) * (end - start)`.
    Cosine,
    /// `constant`: `end_wd`, which must equal `start_wd`.
    Constant,
}

impl WdIncrStyle {
    /// The name Megatron gives it.
    pub fn name(self) -> &'static str {
        match self {
            WdIncrStyle::Linear => "linear",
            WdIncrStyle::Cosine => "cosine",
            WdIncrStyle::Constant => "constant",
        }
    }
}

serde_kwargs! {
    DecayStyle => "str",
    WsdDecayStyle => "str",
    WdIncrStyle => "str",
}

/// A number of samples that may be an int or a float, as Python keeps it:
/// `lr_warmup_steps` is `lr_warmup_fraction * lr_decay_steps` (a float) or
/// `lr_warmup_iters * global_batch_size` (an int) in Megatron-LM. Both
/// compute alike; the state file keeps which it is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Steps {
    /// A Python int.
    Int(i64),
    /// A Python float.
    Float(f64),
}

impl Steps {
    /// The value as a float (Python's `float(x)`).
    pub fn get(self) -> f64 {
        match self {
            Steps::Int(i) => i as f64,
            Steps::Float(f) => f,
        }
    }
}

impl From<i32> for Steps {
    fn from(v: i32) -> Self {
        Steps::Int(v.into())
    }
}

impl From<i64> for Steps {
    fn from(v: i64) -> Self {
        Steps::Int(v)
    }
}

impl From<f64> for Steps {
    fn from(v: f64) -> Self {
        Steps::Float(v)
    }
}

impl KwargValue for Steps {
    const TYPE: &'static str = "int | float";
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        match from_serde(value)? {
            Steps::Float(f) => finite(f).map(Steps::Float),
            s => Ok(s),
        }
    }
}

kwargs! {
    /// `OptimizerParamScheduler`'s keyword arguments (megatron-core 0.19.2):
    /// `OptimizerParamScheduler(optimizer, init_lr, max_lr, min_lr,
    /// lr_warmup_steps, lr_decay_steps, lr_decay_style, start_wd, end_wd,
    /// wd_incr_steps, wd_incr_style, use_checkpoint_opt_param_scheduler=True,
    /// override_opt_param_scheduler=False, wsd_decay_steps=None,
    /// lr_wsd_decay_style=None)`, then `wd_mult` (a param group key) and
    /// `increment` (the argument of the training loop's `step(increment)`).
    /// Every count is in the units the loop steps by: samples in Megatron-LM.
    pub struct OptimizerParamSchedulerConfig for OptimizerParamScheduler {
        /// The LR at the start of the warmup.
        init_lr: f64,
        /// The peak LR, reached at the end of the warmup (one, or one per
        /// group: each group's `max_lr`, group 0's the class value).
        max_lr: PerGroup,
        /// The LR at the end of the decay, held after it (one, or one per group).
        min_lr: PerGroup,
        /// The warmup's length: an int, or a float (Megatron-LM's
        /// `lr_warmup_fraction * lr_decay_steps`).
        lr_warmup_steps: Steps,
        /// Where the decay ends (the warmup included).
        lr_decay_steps: i64,
        /// `linear`, `cosine`, `inverse-square-root`, `constant` or `WSD`.
        lr_decay_style: DecayStyle,
        /// The weight decay at the start (one, or one per group).
        start_wd: PerGroup,
        /// The weight decay from `wd_incr_steps` on (one, or one per group).
        end_wd: PerGroup,
        /// The length of the weight decay's increase.
        wd_incr_steps: i64,
        /// `linear`, `cosine` or `constant` (`start_wd` must equal `end_wd`).
        wd_incr_style: WdIncrStyle,
        /// Loading a state whose values differ from these: take the file's.
        /// (Megatron's class defaults it to true; Megatron-LM passes its
        /// `--use-checkpoint-opt_param-scheduler`, false unless given: so
        /// does tch-lr.)
        use_checkpoint_opt_param_scheduler: bool = false,
        /// Loading a state whose values differ from these: keep these.
        override_opt_param_scheduler: bool = false,
        /// WSD: the length of the cooldown, the last part of `lr_decay_steps`.
        wsd_decay_steps: Option<i64> = None,
        /// WSD: the cooldown's shape, `linear`, `cosine`, `exponential` or `minus_sqrt`.
        lr_wsd_decay_style: Option<WsdDecayStyle> = None,
        /// Each group's `wd_mult` (its weight decay is the schedule's times
        /// it): one for every group, or one per group; none, 1.
        wd_mult: Option<PerGroup> = None,
        /// What each `step()` adds to `num_steps`: Megatron-LM's loop passes
        /// the global batch size.
        increment: i64 = 1,
    }
}

impl ScheduleConfig for OptimizerParamSchedulerConfig {
    const NAME: &'static str = "megatron.OptimizerParamScheduler";
    const EXAMPLE: &'static str = "{name: megatron.OptimizerParamScheduler, init_lr: 0.0, max_lr: 0.01, min_lr: \
                                   0.001, lr_warmup_steps: 3, lr_decay_steps: 10, lr_decay_style: cosine, start_wd: \
                                   0.0, end_wd: 0.1, wd_incr_steps: 10, wd_incr_style: linear}";

    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag> {
        self.check().map(|()| OptimizerParamScheduler::from_args(self.clone()).boxed())
    }
}

impl OptimizerParamSchedulerConfig {
    /// What the reference would refuse later than its constructor, or not
    /// at all but with a wrong value: refused when the config is read.
    fn check(&self) -> Result<(), Diag> {
        let at = |key: &str, m: String| Diag::new(m).within(Seg::Key(key.into()));
        if self.increment < 1 {
            return Err(at(
                "increment",
                format!("must be at least 1 (the samples of one step), got {}", self.increment),
            ));
        }
        if self.lr_decay_style == DecayStyle::Wsd && self.lr_wsd_decay_style.is_none() {
            return Err(at(
                "lr_wsd_decay_style",
                "lr_decay_style WSD needs its cooldown: linear, cosine, exponential or minus_sqrt (Megatron fails \
                 with an AssertionError when the cooldown starts)"
                    .into(),
            ));
        }
        if let Some(m) = self.wd_mults().iter().find(|m| **m < 0.0) {
            return Err(at(
                "wd_mult",
                format!("must be >= 0, got {} (a group's weight decay is the schedule's times it)", py_float(*m)),
            ));
        }
        Ok(())
    }

    /// The `wd_mult` values given (none: empty).
    fn wd_mults(&self) -> &[f64] {
        match &self.wd_mult {
            None => &[],
            Some(PerGroup::All(v)) => std::slice::from_ref(v),
            Some(PerGroup::Each(v)) => v,
        }
    }
}
