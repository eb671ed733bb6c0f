//! DeepSpeed's schedules (`deepspeed.runtime.lr_schedules`, DeepSpeed
//! 0.19.8), value for value: [`LRRangeTest`], [`OneCycle`], [`WarmupLR`],
//! [`WarmupDecayLR`] and [`WarmupCosineLR`], in configs `name:
//! deepspeed.<Class>` with DeepSpeed's keyword arguments and defaults, or in
//! DeepSpeed's own JSON config (`"scheduler": {"type": "WarmupLR", "params":
//! {...}}`, read by [`Config`](crate::config::Config)).
//!
//! | class (config `name`) | file | reference |
//! |---|---|---|
//! | `deepspeed.LRRangeTest` | `range_test.rs` | `deepspeed/runtime/lr_schedules.py` |
//! | `deepspeed.OneCycle` | `one_cycle.rs` | the same file |
//! | `deepspeed.WarmupLR`, `deepspeed.WarmupDecayLR` | `warmup.rs` | the same file |
//! | `deepspeed.WarmupCosineLR` | `cosine.rs` | the same file |
//!
//! Each class is [`DeepSpeedScheduler`] of its keyword arguments
//! (`WarmupLR = DeepSpeedScheduler<config::WarmupLRConfig>`), whose builder
//! (`WarmupLR::new().warmup_num_steps(100)`) the one declaration of those
//! arguments writes. Shared: `scheduler.rs` (the protocol the five classes
//! share: `step()`, `last_batch_iteration`, `state_dict()`).
//!
//! # Steps and state
//!
//! DeepSpeed's engine calls `lr_scheduler.step()` once after each optimizer
//! step (not on an fp16 overflow step). Row 0 is the optimizer after
//! construction (`last_batch_iteration = -1`), row k after the k-th `step()`
//! (`last_batch_iteration = k - 1`). [`Scheduler::step_to`](crate::Scheduler::step_to)
//! is DeepSpeed's `step(last_batch_iteration)`. The PyTorch-side state is
//! DeepSpeed's `state_dict()`, `{'last_batch_iteration': i}` alone: a run
//! moves both ways through `{"optimizer": ..., "scheduler": ...}` files like
//! every schedule's, and a DeepSpeed checkpoint folder is read too
//! ([`interop::deepspeed`](crate::interop::deepspeed)).
//!
//! # Kept as DeepSpeed has them
//!
//! - `WarmupLR` and `WarmupDecayLR` warm up over at least 2 steps, and the
//!   first two steps run at `warmup_min_lr`; `WarmupCosineLR` writes LR 0.0
//!   at construction, and its first step runs at `warmup_min_ratio`.
//! - `WarmupDecayLR`'s `warmup_max_lr` defaults to 0.001, `WarmupLR`'s to the
//!   optimizer's LR.
//! - `OneCycle` writes `betas = (momentum, 0.99)` for Adam and AdamW: beta2
//!   becomes 0.99. The owned optimizer applies it, tch's cannot
//!   ([`Optim::unapplied`](crate::Optim::unapplied)). With SGD and RMSprop
//!   (no `betas`) momentum does not cycle.
//! - An unknown `warmup_type` warms up as `log`. DeepSpeed's warnings are
//!   [`Schedule::notes`](crate::Schedule::notes).
//! - `WarmupCosineLR`'s `warmup_min_ratio` and `cos_min_ratio` are one number
//!   (a list fails in DeepSpeed).

mod cosine;
mod one_cycle;
mod range_test;
mod scheduler;
mod warmup;

pub use cosine::{WarmupCosineLR, WarmupCosineLRConfig};
pub use one_cycle::{OneCycle, OneCycleConfig, ONE_CYCLE_BETA2};
pub use range_test::{LRRangeTest, LRRangeTestConfig};
pub use scheduler::{DeepSpeedPolicy, DeepSpeedScheduler};
pub use warmup::{WarmupDecayLR, WarmupDecayLRConfig, WarmupLR, WarmupLRConfig, WarmupType};
