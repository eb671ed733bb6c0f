//! YAML configs: the optimizer and the scheduler by PyTorch's class and
//! keyword names, optional schedules of the weight decay and the momentum
//! ([`hyper`](crate::hyper)), and whether they step per batch or per epoch.
//!
//! - [`schema`]: the sections and their keys ([`Config`], [`OptimizerConfig`];
//!   the `scheduler:` section is the registry's [`SchedulerConfig`]).
//! - [`kwargs`]: how one mapping is read key by key into a typed struct.
//! - `building`: from a config to the optimizer and the scheduler.
//! - `diagnostics`: the line and column of the offending key.
//! - `deepspeed`: DeepSpeed's JSON config (its `"optimizer"` and
//!   `"scheduler"` blocks), read by [`Config::from_path`] and
//!   [`Config::from_yaml`] as these sections.
//!
//! ```yaml
//! optimizer:
//!   name: sgd          # sgd | adam | adamw | rmsprop
//!   lr: 0.1            # or one per group: [0.1, 0.01]
//!   momentum: 0.9
//!   weight_decay: 5.0e-4   # or one per group
//! scheduler:
//!   name: SequentialLR
//!   milestones: [5]
//!   schedulers:
//!     - {name: LinearLR, start_factor: 0.1, total_iters: 5}
//!     - {name: CosineAnnealingLR, T_max: 95}
//! weight_decay_scheduler: {name: CosineAnnealingLR, T_max: 100}   # optional, any schedule
//! momentum_scheduler: {name: LinearLR, start_factor: 0.9, total_iters: 5}   # optional
//! interval: epoch      # or step
//! ```
//!
//! ```
//! let config = tch_lr::config::Config::from_yaml(
//!     "scheduler: {name: StepLR, step_size: 30}\noptimizer: {name: sgd, lr: 0.1}",
//! )?;
//! assert_eq!(config.scheduler.name(), "StepLR");
//! config.validate()?;
//! # Ok::<(), tch_lr::Error>(())
//! ```

pub mod expr;
pub mod kwargs;
pub mod schema;

mod building;
mod deepspeed;
pub(crate) mod diagnostics;

pub use expr::Expr;
pub use schema::{Config, Exprs, Interval, OptimizerConfig};

pub use crate::schedulers::configs::*;
pub use crate::schedulers::deepspeed::{
    LRRangeTestConfig, OneCycleConfig, WarmupCosineLRConfig, WarmupDecayLRConfig, WarmupLRConfig,
};
pub use crate::schedulers::timm::cosine::CosineLRSchedulerConfig;
pub use crate::schedulers::timm::poly::PolyLRSchedulerConfig;
pub use crate::schedulers::timm::step::{MultiStepLRSchedulerConfig, StepLRSchedulerConfig};
pub use crate::schedulers::timm::tanh::TanhLRSchedulerConfig;
pub use crate::schedulers::timm::wsd::WSDLRSchedulerConfig;
pub use crate::schedulers::transformers::cosine::{
    CosineConfig, CosineWarmupWithMinLrConfig, CosineWithMinLrConfig, CosineWithRestartsConfig,
};
pub use crate::schedulers::transformers::decay::{
    ConstantConfig, ConstantWithWarmupConfig, InverseSqrtConfig, LinearConfig, PolynomialConfig,
};
pub use crate::schedulers::transformers::wsd::WarmupStableDecayConfig;
// Megatron-core (issue 25).
pub use crate::schedulers::megatron::OptimizerParamSchedulerConfig;
pub use crate::schedulers::{ScheduleConfig, ScheduleInfo, SchedulerConfig, REGISTRY};
