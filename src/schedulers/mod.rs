//! Every schedule tch-lr knows, one file per family, the [`Schedule`] trait
//! they implement, and the [`registry`] that lists them.
//!
//! | class (config `name`) | file | reference |
//! |---|---|---|
//! | `StepLR`, `MultiStepLR`, `ExponentialLR` | `step.rs` | `torch.optim.lr_scheduler` |
//! | `ConstantLR`, `LinearLR` | `warmup.rs` | `torch.optim.lr_scheduler` |
//! | `PolynomialLR` | `polynomial.rs` | `torch.optim.lr_scheduler` |
//! | `CosineAnnealingLR`, `CosineAnnealingWarmRestarts` | `cosine.rs` | `torch.optim.lr_scheduler` |
//! | `LambdaLR`, `MultiplicativeLR` | `lambda.rs` | `torch.optim.lr_scheduler` |
//! | `SequentialLR`, `ChainedScheduler` | `composite.rs` | `torch.optim.lr_scheduler` |
//! | `ReduceLROnPlateau` | `plateau.rs` | `torch.optim.lr_scheduler` |
//! | `CyclicLR` | `cyclic.rs` | `torch.optim.lr_scheduler` |
//! | `OneCycleLR` | `one_cycle.rs` | `torch.optim.lr_scheduler` |
//! | `SWALR`, `SWA` (PyTorch's SWA loop: a schedule, then `SWALR`) | `swa.rs` | `torch.optim.swa_utils` |
//! | `transformers.linear`, `transformers.cosine`, ... (the [`transformers`] module) | `transformers/` | transformers' `get_scheduler` |
//! | `timm.CosineLRScheduler`, `timm.WSDLRScheduler`, ... (the [`timm`] module) | `timm/` | timm's `timm.scheduler` |
//! | `deepspeed.WarmupLR`, `deepspeed.OneCycle`, ... (the [`deepspeed`] module) | `deepspeed/` | DeepSpeed's `deepspeed.runtime.lr_schedules` |
//! | `megatron.OptimizerParamScheduler` (the [`megatron`] module) | `megatron/` | megatron-core's `OptimizerParamScheduler` |
//!
//! Shared machinery: `lr_scheduler.rs` (PyTorch's `LRScheduler` base class:
//! [`LRScheduler<P>`] around any [`LrPolicy`]), `schedule.rs` (the
//! [`Schedule`] trait and the sealed protocol composites use), `pymath.rs`
//! (Python's arithmetic: `**`, `//`, `%`, `max`, `math.cos`, and its errors),
//! `registry.rs` (the list).
//!
//! # Adding a schedule
//!
//! A closed-form schedule is an [`LrPolicy`]: a struct of its arguments with
//! its `get_lr()` (the recursive form PyTorch's `step()` uses) and, where the
//! reference has one, its `_get_closed_form_lr()`. [`LRScheduler`] adds the
//! base class (construction, initial step, `last_epoch`, saved state), so the
//! schedule can be bound to an optimizer, stepped, saved and loaded at once.
//! In your own crate:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tch::{nn, Device};
//! use tch_lr::groups::ParamGroups;
//! use tch_lr::schedulers::{Base, LRScheduler, LrPolicy};
//! use tch_lr::Optim;
//!
//! /// `lr = base_lr / sqrt(max(epoch, 1))`: an inverse square root decay.
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! struct InverseSqrtLR;
//!
//! impl LrPolicy for InverseSqrtLR {
//!     const NAME: &'static str = "InverseSqrtLR";
//!     type State = ();
//!
//!     fn get_lr(&self, _: &(), base: &Base, _groups: &mut ParamGroups, out: &mut [f64]) -> tch_lr::Result<()> {
//!         self.closed_form(&(), base, out).map(drop)
//!     }
//!     fn closed_form(&self, _: &(), base: &Base, out: &mut [f64]) -> tch_lr::Result<bool> {
//!         let k = (base.last_epoch.max(1) as f64).sqrt();
//!         for (lr, base_lr) in out.iter_mut().zip(&base.base_lrs) {
//!             *lr = base_lr / k;
//!         }
//!         Ok(true)
//!     }
//! }
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let _w = vs.root().zeros("w", &[1]);
//! let opt = Optim::new(nn::Sgd::default(), &vs, 0.1)?;
//! let mut sched = LRScheduler::from_args(InverseSqrtLR).build(opt)?;
//! for _ in 0..4 {
//!     sched.step()?;
//! }
//! assert_eq!(sched.last_lr(), [0.1 / 2.0]); // epoch 4: 0.1 / sqrt(4)
//! # Ok::<(), tch_lr::Error>(())
//! ```
//!
//! To make it part of tch-lr, so that configs, `tch-lr list`, the tests and
//! the benchmarks know it:
//!
//! 1. **One new file** here with the policy above, its keyword arguments
//!    declared once with their defaults (`kwargs! { pub struct
//!    InverseSqrtLRConfig for InverseSqrtLR { ... } }`, which also writes
//!    `InverseSqrtLR::new(required)` and a setter per defaulted argument), the
//!    policy on that struct, `pub type InverseSqrtLR =
//!    LRScheduler<InverseSqrtLRConfig>`, and `impl ScheduleConfig for InverseSqrtLRConfig`:
//!    the config `NAME`, an `EXAMPLE` config that changes within a dozen steps
//!    on any number of groups, and `schedule()` (config → schedule). Declare
//!    the module in this file and re-export the two types. For a run to move
//!    between the reference and tch-lr, the same file declares the
//!    reference's `state_dict()` beyond the base class's: a serde struct
//!    whose fields are the reference's attribute names (`#[serde(rename =
//!    "_anneal_strategy")]` where Rust's rules differ), filled from the
//!    schedule in `LrPolicy::torch_args` (`TimmPolicy::torch_args` for timm's) with
//!    every default resolved as the reference's constructor resolves it. Both
//!    directions come from it: `--save-pytorch` writes it, `--resume-from`
//!    reads a file through it (every key known, the arguments the file states
//!    the config's, the base class's step counters taken).
//! 2. **One registry line** in `registry.rs`: `InverseSqrtLR(InverseSqrtLRConfig),`.
//! 3. **Its fixture cases**: an entry in `FILES` of the reference's generator
//!    (`scripts/fixtures/gen_pytorch.py` for PyTorch), then run it to write
//!    `tests/fixtures/parity/InverseSqrtLR.json`, and in `CLASSES` of
//!    `scripts/fixtures/gen_interop_state.py` (runs saved by the reference
//!    at two steps). The parity, resume, runtime, allocation, interop and
//!    config tests pick the schedule up from the registry.
//!
//! `tests/schedules/registry.rs` then says what else is missing: a config in
//! `configs/`, a case in each list of `benches/schedulers.rs` and
//! `scripts/bench/pytorch.py`, and a plot `docs/InverseSqrtLR.png`
//! (`scripts/docs/plots.sh`) shown in the README.

mod composite;
mod cosine;
mod cyclic;
pub mod deepspeed;
mod lambda;
mod lr_scheduler;
// Megatron-core (issue 25).
pub mod megatron;
mod one_cycle;
mod plateau;
mod polynomial;
pub(crate) mod pymath;
pub mod registry;
pub(crate) mod schedule;
mod step;
mod swa;
pub mod timm;
pub(crate) mod torch_state;
pub mod transformers;
mod warmup;

pub use composite::{ChainedScheduler, SequentialLR};
pub use cosine::{CosineAnnealingLR, CosineAnnealingWarmRestarts};
pub use cyclic::{CyclicLR, CyclicMode, ScaleFn, ScaleMode};
pub use lambda::{LambdaLR, LrLambda, LrLambdas, MultiplicativeLR};
pub use lr_scheduler::{Base, LRScheduler, LrPolicy};
pub use one_cycle::{AnnealStrategy, OneCycleLR};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ThresholdMode};
pub use polynomial::PolynomialLR;
pub use registry::{ScheduleConfig, ScheduleInfo, SchedulerConfig, REGISTRY};
pub use schedule::{PlainStep, Schedule};
pub use step::{ExponentialLR, MultiStepLR, StepLR};
pub use swa::{SWA, SWALR};
pub use torch_state::TorchArgs;
pub use warmup::{ConstantLR, LinearLR};

/// The keyword arguments of each PyTorch schedule, public as `tch_lr::config::*Config`.
pub(crate) mod configs {
    pub use super::composite::{ChainedSchedulerConfig, SequentialLRConfig};
    pub use super::cosine::{CosineAnnealingLRConfig, CosineAnnealingWarmRestartsConfig};
    pub use super::cyclic::CyclicLRConfig;
    pub use super::lambda::{LambdaLRConfig, MultiplicativeLRConfig};
    pub use super::one_cycle::OneCycleLRConfig;
    pub use super::plateau::ReduceLROnPlateauConfig;
    pub use super::polynomial::PolynomialLRConfig;
    pub use super::step::{ExponentialLRConfig, MultiStepLRConfig, StepLRConfig};
    pub use super::swa::{SWAConfig, SWALRConfig};
    pub use super::warmup::{ConstantLRConfig, LinearLRConfig, WarmupConfig};
}
pub(crate) use configs::*;

pub(crate) use pymath::py_float;
