//! The registry: the one list of every schedule tch-lr knows.
//!
//! Each line names a schedule's config struct (its keyword arguments, declared
//! with their defaults beside the schedule). Everything else derives from this
//! list: [`SchedulerConfig`] (the `scheduler:` section of a YAML config, and the
//! valid names in its errors), [`REGISTRY`] (what `tch-lr list` prints and the
//! Python scripts read), and the tests, which iterate it to find each
//! schedule's fixtures, config file and bench case.

use std::fmt::Debug;

use serde::Serialize;
use serde_yaml::Value;

use super::*;
use crate::config::kwargs::{Diag, Kwarg, KwargStruct, KwargValue, Kwargs, Seg};
use crate::error::Result;

/// A schedule's keyword arguments, as the `scheduler:` section of a config
/// gives them, and how they build the schedule.
pub trait ScheduleConfig: KwargStruct + Clone + Debug + PartialEq + Serialize {
    /// The name in configs: the reference library's class name (`StepLR`).
    const NAME: &'static str;

    /// A small config that exercises the schedule within a dozen steps on
    /// any number of groups: the tests and `tch-lr list` use it.
    const EXAMPLE: &'static str;

    /// Whether the schedule's step takes a metric (`ReduceLROnPlateau`).
    const TAKES_METRIC: bool = false;

    /// The configs of the schedules this one is made of (composites).
    fn children(&self) -> &[SchedulerConfig] {
        &[]
    }

    /// Builds the schedule (unbound to an optimizer).
    ///
    /// # Errors
    /// A [`Diag`] at the offending argument (an expression that does not parse).
    fn schedule(&self) -> Result<Box<dyn Schedule>, Diag>;
}

/// What the registry knows of one schedule.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleInfo {
    /// The name in configs.
    pub name: &'static str,
    /// Its keyword arguments, in the reference's order, with their defaults.
    pub kwargs: fn() -> Vec<Kwarg>,
    /// A small config for it ([`ScheduleConfig::EXAMPLE`]).
    pub example: &'static str,
    /// Whether its step takes a metric (`ReduceLROnPlateau`).
    pub takes_metric: bool,
}

macro_rules! registry {
    ($($variant:ident($config:ty),)*) => {
        /// The `scheduler:` section: one variant per registered schedule,
        /// holding its keyword arguments. Read it with
        /// [`Config::from_yaml`](crate::config::Config::from_yaml).
        #[allow(missing_docs)]
        #[derive(Clone, Debug, PartialEq)]
        pub enum SchedulerConfig {
            $($variant($config),)*
        }

        /// Every registered schedule, in the reference libraries' documentation order.
        pub static REGISTRY: &[ScheduleInfo] = &[$(
            ScheduleInfo {
                name: <$config as ScheduleConfig>::NAME,
                kwargs: <$config as KwargStruct>::kwargs,
                example: <$config as ScheduleConfig>::EXAMPLE,
                takes_metric: <$config as ScheduleConfig>::TAKES_METRIC,
            },
        )*];

        impl SchedulerConfig {
            /// The schedule's name in configs (PyTorch's class name).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$config as ScheduleConfig>::NAME,)*
                }
            }

            /// The schedule this config describes, unbuilt.
            ///
            /// # Errors
            /// [`Error::Config`](crate::Error::Config) for an expression that does not parse.
            pub fn schedule(&self) -> Result<Box<dyn Schedule>> {
                self.build().map_err(|d| d.within(Seg::Key("scheduler".into())).into_error())
            }

            /// The configs this one is made of: the children of `SequentialLR`
            /// and `ChainedScheduler`, none for the others.
            pub fn children(&self) -> &[SchedulerConfig] {
                match self {
                    $(Self::$variant(c) => c.children(),)*
                }
            }

            /// As [`schedule`](Self::schedule), with the place of an error.
            pub(crate) fn build(&self) -> Result<Box<dyn Schedule>, Diag> {
                match self {
                    $(Self::$variant(c) => c.schedule(),)*
                }
            }

            /// The arguments as a mapping, `name` first.
            fn to_value(&self) -> Value {
                let (name, args) = match self {
                    $(Self::$variant(c) => (<$config as ScheduleConfig>::NAME, serde_yaml::to_value(c)),)*
                };
                let mut map = serde_yaml::Mapping::new();
                map.insert("name".into(), name.into());
                if let Ok(Value::Mapping(args)) = args {
                    map.extend(args);
                }
                Value::Mapping(map)
            }

            /// Reads the arguments of the schedule called `name`.
            fn from_kwargs(name: &str, kwargs: Kwargs) -> Result<Self, Diag> {
                $(if name == <$config as ScheduleConfig>::NAME {
                    let kwargs = kwargs.describing(<$config as ScheduleConfig>::NAME);
                    return <$config as KwargStruct>::from_kwargs(kwargs).map(Self::$variant);
                })*
                Err(Diag::new(unknown(name)).within(Seg::Key("name".into())))
            }
        }
    };
}

registry! {
    StepLR(StepLRConfig),
    MultiStepLR(MultiStepLRConfig),
    ConstantLR(ConstantLRConfig),
    LinearLR(LinearLRConfig),
    ExponentialLR(ExponentialLRConfig),
    PolynomialLR(PolynomialLRConfig),
    CosineAnnealingLR(CosineAnnealingLRConfig),
    LambdaLR(LambdaLRConfig),
    MultiplicativeLR(MultiplicativeLRConfig),
    SequentialLR(SequentialLRConfig),
    ChainedScheduler(ChainedSchedulerConfig),
    ReduceLROnPlateau(ReduceLROnPlateauConfig),
    CyclicLR(CyclicLRConfig),
    OneCycleLR(OneCycleLRConfig),
    CosineAnnealingWarmRestarts(CosineAnnealingWarmRestartsConfig),
    // torch.optim.swa_utils (issue 18): SWALR, and PyTorch's SWA loop around it.
    SWALR(SWALRConfig),
    SWA(SWAConfig),
    // transformers' get_scheduler (issue 10): one line per SchedulerType.
    TransformersLinear(crate::config::LinearConfig),
    TransformersCosine(crate::config::CosineConfig),
    TransformersCosineWithRestarts(crate::config::CosineWithRestartsConfig),
    TransformersPolynomial(crate::config::PolynomialConfig),
    TransformersConstant(crate::config::ConstantConfig),
    TransformersConstantWithWarmup(crate::config::ConstantWithWarmupConfig),
    TransformersInverseSqrt(crate::config::InverseSqrtConfig),
    TransformersCosineWithMinLr(crate::config::CosineWithMinLrConfig),
    TransformersCosineWarmupWithMinLr(crate::config::CosineWarmupWithMinLrConfig),
    TransformersWarmupStableDecay(crate::config::WarmupStableDecayConfig),
    // timm.scheduler (issue 10): one line per class.
    TimmCosineLRScheduler(crate::config::CosineLRSchedulerConfig),
    TimmTanhLRScheduler(crate::config::TanhLRSchedulerConfig),
    TimmStepLRScheduler(crate::config::StepLRSchedulerConfig),
    TimmMultiStepLRScheduler(crate::config::MultiStepLRSchedulerConfig),
    TimmPolyLRScheduler(crate::config::PolyLRSchedulerConfig),
    TimmWSDLRScheduler(crate::config::WSDLRSchedulerConfig),
    // DeepSpeed (issue 25): deepspeed.runtime.lr_schedules, one line per class.
    DeepSpeedLRRangeTest(crate::config::LRRangeTestConfig),
    DeepSpeedOneCycle(crate::config::OneCycleConfig),
    DeepSpeedWarmupLR(crate::config::WarmupLRConfig),
    DeepSpeedWarmupDecayLR(crate::config::WarmupDecayLRConfig),
    DeepSpeedWarmupCosineLR(crate::config::WarmupCosineLRConfig),
    // Megatron-core (issue 25): its OptimizerParamScheduler.
    MegatronOptimizerParamScheduler(crate::config::OptimizerParamSchedulerConfig),
}

impl ScheduleInfo {
    /// The entry as `tch-lr list --format json` prints it: `name`, `kwargs`
    /// (each with `name`, `type`, `required` and `default`), `example` and
    /// `takes_metric`.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "kwargs": (self.kwargs)(),
            "example": self.example,
            "takes_metric": self.takes_metric,
        })
    }
}

/// The names of every registered schedule.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|s| s.name).collect()
}

/// The message for an unknown schedule `name`: the closest names, and
/// where the list is.
fn unknown(name: &str) -> String {
    let n = REGISTRY.len();
    match crate::config::kwargs::did_you_mean(&crate::config::kwargs::closest(name, &names())) {
        Some(hint) => format!("unknown scheduler `{name}`: {hint} (`tch-lr list` names all {n})"),
        None => format!("unknown scheduler `{name}`: not one of tch-lr's {n} schedules (`tch-lr list` names them)"),
    }
}

/// The registry entry called `name`.
pub fn info(name: &str) -> Option<&'static ScheduleInfo> {
    REGISTRY.iter().find(|s| s.name == name)
}

impl SchedulerConfig {
    /// Whether the schedule's step takes a metric (`ReduceLROnPlateau`).
    pub fn takes_metric(&self) -> bool {
        info(self.name()).is_some_and(|i| i.takes_metric)
    }
}

impl KwargValue for SchedulerConfig {
    const TYPE: &'static str = "scheduler";

    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        let mut kwargs = Kwargs::new("SchedulerConfig", value)?;
        let name: String = kwargs.take("name")?.ok_or_else(|| {
            Diag::new(format!(
                "missing key `name`: the scheduler's class, such as `StepLR` or `transformers.cosine` \
                 (`tch-lr list` names all {})",
                REGISTRY.len()
            ))
        })?;
        let warmup: Option<WarmupConfig> = kwargs.take("warmup")?;
        let config = Self::from_kwargs(&name, kwargs)?;
        match warmup {
            None => Ok(config),
            Some(w) => config.with_warmup(w).map_err(|d| d.within(Seg::Key("warmup".into()))),
        }
    }
}

impl SchedulerConfig {
    /// `SequentialLR([LinearLR(start_factor, 1.0, total_iters=steps), self], milestones=[steps])`:
    /// what a `warmup:` block means.
    fn with_warmup(self, w: WarmupConfig) -> Result<Self, Diag> {
        if self.name().starts_with("timm.") {
            return Err(Diag::new(format!(
                "{} warms up with its own `warmup_t` and `warmup_lr_init`: a `warmup:` block is for PyTorch's \
                 and transformers' schedules",
                self.name()
            )));
        }
        if self.name().starts_with("deepspeed.") {
            return Err(Diag::new(format!(
                "{} is DeepSpeed's (its warmup is its own, where it has one): a `warmup:` block is for PyTorch's \
                 and transformers' schedules",
                self.name()
            )));
        }
        if self.name().starts_with("megatron.") {
            return Err(Diag::new(format!(
                "{} warms up with its own `lr_warmup_steps` and `init_lr`: a `warmup:` block is for PyTorch's and \
                 transformers' schedules",
                self.name()
            )));
        }
        let linear = LinearLRConfig { start_factor: w.start_factor, end_factor: 1.0, total_iters: w.steps };
        Ok(SchedulerConfig::SequentialLR(SequentialLRConfig {
            schedulers: vec![SchedulerConfig::LinearLR(linear), self],
            milestones: vec![w.steps],
        }))
    }
}

impl KwargValue for Vec<SchedulerConfig> {
    const TYPE: &'static str = "list[scheduler]";

    fn from_kwarg(value: Value) -> Result<Self, Diag> {
        match value {
            Value::Sequence(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| SchedulerConfig::from_kwarg(v).map_err(|d| d.within(Seg::Index(i))))
                .collect(),
            other => {
                Err(Diag::new(format!("expected a list of schedulers, found {}", crate::config::kwargs::kind(&other))))
            }
        }
    }
}

impl Serialize for SchedulerConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for SchedulerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::config::kwargs::deserialize(d)
    }
}
