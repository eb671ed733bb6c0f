//! The schedules against their references, with no program around them: each
//! registered schedule's PyTorch/transformers/timm fixtures (`parity`), a
//! saved and resumed run (`resume`), the values libtorch applies (`runtime`),
//! the registry's completeness (`registry`), configs and their errors
//! (`config`, `validation`), random arguments (`properties`), the blog
//! post's claims (`seed`), timm's generator (`timm`), weight decay and
//! momentum schedules (`hyper`), the LR range test (`lr_finder`), weight
//! averaging (`swa`), the owned optimizer (`optimizer_*`), DeepSpeed's
//! schedules beyond their fixtures (`deepspeed`) and every config traced as
//! `tch-lr trace` traces it (`trace`).
//!
//! One test binary (it links libtorch once): `cargo test --test schedules`;
//! one module, `cargo test --test schedules parity::`; one schedule of the
//! suites that iterate the registry, `TCH_LR_SCHEDULES=StepLR cargo test --test schedules`.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod deepspeed;
mod hyper;
mod lr_finder;
// Megatron-core (issue 25).
mod megatron;
mod optimizer_state;
mod optimizer_steps;
mod optimizer_write;
mod parity;
mod properties;
mod registry;
mod resume;
mod runtime;
mod seed;
mod swa;
mod timm;
mod trace;
mod validation;
