//! The schema of a config file: its sections and their keys, each declared
//! once with its type and default ([`kwargs!`](super::kwargs)). The
//! `scheduler:` section is [`SchedulerConfig`], written by the registry.

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use super::diagnostics::Source;
use super::kwargs::{
    default_json, finite, from_serde, kwargs, serde_kwargs, Diag, Kwarg, KwargStruct, KwargValue, Kwargs, Seg,
};
use crate::groups::{OptimizerKind, PerGroup};
use crate::schedulers::{AnnealStrategy, CyclicMode, PlateauMode, ScaleMode, SchedulerConfig, ThresholdMode};

/// A whole config file.
///
/// Written out rather than with `kwargs!`, which it otherwise follows, for
/// the text it was read from, kept to place the errors building it finds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    /// The optimizer the scheduler drives. Optional when the config is
    /// applied to an optimizer the program builds itself; then only checked
    /// against it.
    ///
    /// Default: `None`.
    pub optimizer: Option<OptimizerConfig>,
    /// The scheduler: its name in `name`, its keyword arguments beside it.
    pub scheduler: SchedulerConfig,
    /// A schedule for each group's weight decay, written as a `scheduler:`
    /// section and applied to the initial weight decays as that one is to
    /// the initial LRs.
    ///
    /// Default: `None`.
    pub weight_decay_scheduler: Option<SchedulerConfig>,
    /// A schedule for each group's momentum (beta1 for Adam and AdamW),
    /// likewise. Not beside a `scheduler:` that cycles momentum.
    ///
    /// Default: `None`.
    pub momentum_scheduler: Option<SchedulerConfig>,
    /// When the scheduler steps.
    ///
    /// Default: `Interval::Epoch`.
    pub interval: Interval,
    /// The text the config was read from, if any.
    #[serde(skip)]
    pub(crate) source: Source,
}

#[allow(non_upper_case_globals)]
impl Config {
    /// The default of `optimizer`: `None`.
    pub const optimizer: Option<OptimizerConfig> = None;
    /// The default of `weight_decay_scheduler`: `None`.
    pub const weight_decay_scheduler: Option<SchedulerConfig> = None;
    /// The default of `momentum_scheduler`: `None`.
    pub const momentum_scheduler: Option<SchedulerConfig> = None;
    /// The default of `interval`: `Interval::Epoch`.
    pub const interval: Interval = Interval::Epoch;
}

impl KwargStruct for Config {
    fn keys(keys: &mut Vec<&'static str>) {
        keys.extend(["optimizer", "scheduler", "weight_decay_scheduler", "momentum_scheduler", "interval"]);
    }

    fn take_from(kw: &mut Kwargs) -> Result<Self, Diag> {
        Ok(Config {
            optimizer: kw.take("optimizer")?.unwrap_or(Config::optimizer),
            scheduler: kw.require("scheduler")?,
            weight_decay_scheduler: kw.take("weight_decay_scheduler")?.unwrap_or(Config::weight_decay_scheduler),
            momentum_scheduler: kw.take("momentum_scheduler")?.unwrap_or(Config::momentum_scheduler),
            interval: kw.take("interval")?.unwrap_or(Config::interval),
            source: Source::default(),
        })
    }

    fn describe(all: &mut Vec<Kwarg>) {
        fn kwarg<T: KwargValue>(name: &'static str, default: Option<T>) -> Kwarg {
            let required = default.is_none();
            Kwarg { name, ty: T::TYPE, required, default: default.map(|d| default_json(&d)) }
        }
        all.extend([
            kwarg("optimizer", Some(Config::optimizer)),
            kwarg::<SchedulerConfig>("scheduler", None),
            kwarg("weight_decay_scheduler", Some(Config::weight_decay_scheduler)),
            kwarg("momentum_scheduler", Some(Config::momentum_scheduler)),
            kwarg("interval", Some(Config::interval)),
        ]);
    }
}

impl KwargValue for Config {
    const TYPE: &'static str = "mapping";
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        Config::from_kwargs(Kwargs::new("Config", value)?)
    }
}

/// Read key by key as a config is, with the same checks.
impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::kwargs::deserialize(d)
    }
}

/// When the training loop calls `step()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// Once per batch.
    Step,
    /// Once per epoch.
    #[default]
    Epoch,
}

kwargs! {
    /// The `optimizer:` section.
    pub struct OptimizerConfig {
        /// `sgd`, `adam`, `adamw` or `rmsprop`.
        name: OptimizerKind,
        /// One LR for all groups, or one per group.
        lr: PerGroup,
        /// The number of groups when `lr` is one number (`None`: 1).
        groups: Option<usize> = None,
        /// SGD's and RMSprop's momentum (`None`: 0).
        momentum: Option<f64> = None,
        /// Adam's and AdamW's betas (`None`: `[0.9, 0.999]`).
        betas: Option<[f64; 2]> = None,
        /// Weight decay, one for all groups or one per group (`None`: tch's
        /// default for the optimizer: 0.01 for AdamW, 0 for the others).
        weight_decay: Option<PerGroup> = None,
        /// SGD's dampening (`None`: 0).
        dampening: Option<f64> = None,
        /// SGD's Nesterov momentum (`None`: false).
        nesterov: Option<bool> = None,
        /// Adam's, AdamW's and RMSprop's epsilon (`None`: 1e-8).
        eps: Option<f64> = None,
        /// RMSprop's smoothing constant (`None`: 0.99).
        alpha: Option<f64> = None,
        /// Adam's and AdamW's AMSGrad variant (`None`: false).
        amsgrad: Option<bool> = None,
        /// RMSprop's centered variant (`None`: false).
        centered: Option<bool> = None,
    }
}

/// `lr_lambda`: one expression, or one per group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "an expression (a string), or a list of expressions with one per parameter group")]
pub enum Exprs {
    /// One expression for every group.
    One(String),
    /// One expression per group.
    Each(Vec<String>),
}

impl KwargValue for PerGroup {
    const TYPE: &'static str = "float | list[float]";
    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        match from_serde(value)? {
            PerGroup::All(v) => finite(v).map(PerGroup::All),
            PerGroup::Each(vs) => vs
                .into_iter()
                .enumerate()
                .map(|(i, v)| finite(v).map_err(|d| d.within(Seg::Index(i))))
                .collect::<Result<_, _>>()
                .map(PerGroup::Each),
        }
    }
}

serde_kwargs! {
    Exprs => "str | list[str]",
    OptimizerKind => "str",
    Interval => "str",
    CyclicMode => "str",
    ScaleMode => "str",
    AnnealStrategy => "str",
    PlateauMode => "str",
    ThresholdMode => "str",
}
