//! The guide: everything the README leaves out, one chapter a module.
//!
//! The same chapters are the markdown files of `docs/guide/` (an mdBook:
//! `mdbook build docs/guide`), where their images and links resolve. Their
//! Rust examples are compiled and run as doctests here.

// The examples are whole programs, as a reader copies them.
#![allow(clippy::needless_doctest_main)]

#[doc = include_str!("../docs/guide/getting-started.md")]
pub mod getting_started {}

#[doc = include_str!("../docs/guide/configs.md")]
pub mod configs {}

#[doc = include_str!("../docs/guide/schedules-pytorch.md")]
pub mod schedules_pytorch {}

#[doc = include_str!("../docs/guide/schedules-transformers.md")]
pub mod schedules_transformers {}

#[doc = include_str!("../docs/guide/schedules-timm.md")]
pub mod schedules_timm {}

#[doc = include_str!("../docs/guide/schedules-deepspeed.md")]
pub mod schedules_deepspeed {}

#[doc = include_str!("../docs/guide/cli.md")]
pub mod cli {}

#[doc = include_str!("../docs/guide/training.md")]
pub mod training {}

#[doc = include_str!("../docs/guide/optimizer-state.md")]
pub mod optimizer_state {}

#[doc = include_str!("../docs/guide/pytorch-interop.md")]
pub mod pytorch_interop {}

/// (Compiled with the `distributed` feature, whose API its example uses.)
#[cfg(feature = "distributed")]
#[doc = include_str!("../docs/guide/data-parallel.md")]
pub mod data_parallel {}

#[doc = include_str!("../docs/guide/swa.md")]
pub mod swa {}

#[doc = include_str!("../docs/guide/weight-decay-momentum.md")]
pub mod weight_decay_momentum {}

#[doc = include_str!("../docs/guide/lr-finder.md")]
pub mod lr_finder {}

#[doc = include_str!("../docs/guide/exactness.md")]
pub mod exactness {}

#[doc = include_str!("../docs/guide/benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("../docs/guide/registry.md")]
pub mod registry {}
