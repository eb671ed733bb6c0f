//! timm's schedules (`timm.scheduler`, timm 1.0.31), value for value:
//! [`CosineLRScheduler`], [`TanhLRScheduler`], [`StepLRScheduler`],
//! [`MultiStepLRScheduler`], [`PolyLRScheduler`] and [`WSDLRScheduler`],
//! in configs `name: timm.<Class>` with timm's keyword arguments and defaults.
//!
//! | class (config `name`) | file | reference |
//! |---|---|---|
//! | `timm.CosineLRScheduler` | `cosine.rs` | `timm/scheduler/cosine_lr.py` |
//! | `timm.TanhLRScheduler` | `tanh.rs` | `timm/scheduler/tanh_lr.py` |
//! | `timm.StepLRScheduler`, `timm.MultiStepLRScheduler` | `step.rs` | `step_lr.py`, `multistep_lr.py` |
//! | `timm.PolyLRScheduler` | `poly.rs` | `timm/scheduler/poly_lr.py` |
//! | `timm.WSDLRScheduler` | `wsd.rs` | `timm/scheduler/wsd_lr.py` |
//!
//! Each class is [`TimmScheduler`] of its keyword arguments
//! (`CosineLRScheduler = TimmScheduler<config::CosineLRSchedulerConfig>`),
//! whose builder (`CosineLRScheduler::new(50).warmup_t(5)`) the one
//! declaration of those arguments writes. Shared: `scheduler.rs` (timm's
//! `Scheduler` base class, [`TimmScheduler`]: construction, warmup, noise,
//! `step(t)`), `math.rs` (the cycles; Python's float functions are in
//! `schedulers/pymath.rs`), `noise.rs` (PyTorch's CPU generator in Rust, for
//! the noise).
//!
//! # Time
//!
//! timm's schedules are stateless functions of an explicit `t`: the training
//! loop calls `step(epoch)` at the end of each epoch (`t_in_epochs: true`, the
//! default) or `step_update(num_updates)` after each optimizer update
//! (`t_in_epochs: false`). In tch-lr the schedule keeps `t`:
//! [`Scheduler::step`](crate::Scheduler::step) advances it by one and applies
//! timm's `step(t)` (`step_update(t)`, the same computation), and
//! [`Scheduler::step_to`](crate::Scheduler::step_to) jumps to any integer
//! `t >= 0`. After construction `t = 0` and the optimizer holds what timm's
//! constructor leaves there: the base LR, or `warmup_lr_init` when there is a
//! warmup. `t_in_epochs` only tells the loop which clock to step by
//! (`is_t_in_epochs()`). The saved state is `t` and the base LRs.
//!
//! # Differences from timm
//!
//! - No `initialize` argument (tch-lr always initializes, timm's default) and
//!   no `lr_scale`: timm writes `lr * lr_scale` for a parameter group that has
//!   one; tch-lr's groups have none.
//! - A callable `decay_fn` (WSD) has no YAML form: one of the five names.
//! - Where timm would loop forever drawing noise (`noise_pct <= 0`, ...),
//!   tch-lr returns an error.
//! - timm's `assert`s are [`Error::Assertion`](crate::Error::Assertion) with a
//!   message (Python's are bare).
//! - In a `SequentialLR` or `ChainedScheduler` (which timm's classes cannot
//!   join in PyTorch: they are not `LRScheduler`s, so there is no reference),
//!   a timm schedule steps as above, and a `SequentialLR` milestone restarts
//!   it with timm's `step(0)`.
//!
//! Kept as timm has them: `MultiStepLRScheduler`'s milestones one step early
//! (`t + 1`), and the warmup of `CosineLRScheduler` and `PolyLRScheduler`
//! without `warmup_prefix`, which never reaches the base LR.

pub(crate) mod cosine;
mod math;
pub(crate) mod noise;
pub(crate) mod poly;
mod scheduler;
pub(crate) mod step;
pub(crate) mod tanh;
pub(crate) mod wsd;

pub use cosine::CosineLRScheduler;
pub use noise::{NoiseRange, NoiseRangeT};
pub use poly::PolyLRScheduler;
pub use scheduler::{TimmCycles, TimmNoise, TimmPolicy, TimmScheduler, TimmWarmup};
pub use step::{MultiStepLRScheduler, StepLRScheduler};
pub use tanh::TanhLRScheduler;
pub use wsd::{DecayFn, StableFn, WSDLRScheduler};
