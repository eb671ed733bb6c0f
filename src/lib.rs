//! # tch-lr
//!
//! PyTorch's learning-rate schedulers for [tch](https://docs.rs/tch), step for
//! step identical to `torch.optim.lr_scheduler` (PyTorch 2.13), with
//! transformers', timm's and DeepSpeed's schedules ([`deepspeed`]: also its JSON
//! config and checkpoints).
//!
//! Start with the [`guide`] (also `docs/guide/` in the repository) and the
//! [`Scheduler`] and [`config`] docs; `CHANGELOG.md` lists what changed.
//!
//! ```
//! use tch::{nn, nn::Module, Device, Kind, Tensor};
//! use tch_lr::{Optim, StepLR};
//!
//! let vs = nn::VarStore::new(Device::cuda_if_available());
//! let net = nn::linear(vs.root(), 16, 1, Default::default());
//! // The optimizer, with what tch-lr must know of it (kind, LR, momentum).
//! let opt = Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, &vs, 0.05)?;
//! // StepLR(optimizer, step_size=30, gamma=0.1)
//! let mut sched = StepLR::new(30).gamma(0.1).build(opt)?;
//! for epoch in 0..90 {
//!     let x = Tensor::randn([64, 16], (Kind::Float, vs.device()));
//!     let loss = net.forward(&x).square().mean(Kind::Float);
//!     sched.optimizer_mut().backward_step(&loss);
//!     sched.step()?; // after the optimizer step, as in PyTorch
//!     println!("epoch {epoch}: lr {:?}", sched.last_lr());
//! }
//! # Ok::<(), tch_lr::Error>(())
//! ```
//!
//! ## How it is built
//! - [`Optim`] wraps a `tch::nn::Optimizer` ([`Optim::new`]) or libtorch's
//!   own optimizer, built and owned by tch-lr ([`Optim::owned`]), and keeps
//!   what tch cannot report: the number of parameter groups, each group's LR,
//!   momentum and weight decay.
//! - Each scheduler ([`StepLR`], [`OneCycleLR`], ...) is a pure state machine
//!   (a [`Schedule`]) over the groups, a line-by-line port of PyTorch's
//!   recursive `get_lr()`, closed forms and constructors.
//! - `build` (a method of every schedule) binds a schedule to an [`Optim`] as
//!   a [`Scheduler`], which writes changed values through `set_lr`,
//!   `set_lr_group` and `set_momentum_group` after each step.
//! - [`Scheduler::with_schedule`] adds a schedule for the weight decay or the
//!   momentum ([`hyper`]): any schedule, applied to those values as to the LR.
//! - [`config`] reads a YAML file with the references' class names and
//!   keyword arguments; each schedule's arguments are declared once, in its
//!   `config::*Config` struct, from which the Rust builder
//!   (`StepLR::new(30).gamma(0.1)`), the YAML reader, `tch-lr list` and the
//!   docs' defaults all come.
//! - [`Scheduler::save`] / [`Scheduler::load`] checkpoint the state atomically,
//!   and [`Optim::save`] / [`Optim::load`] the owned optimizer's (momentum
//!   buffers, moments, step counts): a resumed run continues bit for bit.
//! - [`config`] builds any scheduler from a YAML file that names PyTorch's
//!   classes and keyword arguments.
//! - [`swa_utils::AveragedModel`] keeps PyTorch's `AveragedModel` (SWA's equal
//!   mean or an EMA) in a second `VarStore` built like the model's, and
//!   [`swa_utils::update_bn`] recomputes its BatchNorm statistics, both with
//!   PyTorch's arithmetic.

#![warn(missing_docs)]

mod checks;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod error;
mod ffi;
pub mod groups;
pub mod guide;
pub mod hyper;
#[cfg(feature = "internals")]
pub mod internals;
/// PyTorch's `torch.save` files: a safe reader (allowlisted pickle globals, bounded sizes) and a writer `torch.load(weights_only=True)` accepts.
pub mod interop;
pub mod lr_finder;
pub mod optim;
pub mod plan;
#[cfg(feature = "plot")]
pub mod plot;
pub mod recipe;
pub mod scheduler;
pub mod schedulers;
pub(crate) mod support;
/// PyTorch's `torch.optim.swa_utils.AveragedModel` (SWA and EMA weight averages) and `update_bn`.
pub mod swa_utils;
pub mod trace;

pub use error::{Error, Result};
pub use optim::Optim;
pub use scheduler::Scheduler;
pub use schedulers::{
    deepspeed, timm, transformers, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts,
    CyclicLR, ExponentialLR, LambdaLR, LinearLR, MultiStepLR, MultiplicativeLR, OneCycleLR, PolynomialLR,
    ReduceLROnPlateau, Schedule, SequentialLR, StepLR, SWA, SWALR,
};
// Megatron-core (issue 25).
pub use schedulers::megatron;

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
