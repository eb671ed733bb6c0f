//! The programs as a user runs them: `tch-lr` against PyTorch (`cli`), the
//! training program (`train`: against its PyTorch twin, stopped and resumed,
//! moved between the languages, under torchrun) and the data-parallel engine
//! (`distributed`, feature `distributed`: this binary run as two workers
//! under torchrun).
//!
//! One test binary: `cargo test --features distributed --test end_to_end`. The
//! programs are Cargo's (`CARGO_BIN_EXE_tch-lr`, `CARGO_BIN_EXE_train_resnet`),
//! built with the test's features.

#[path = "../common/mod.rs"]
mod common;

mod cli;
#[cfg(feature = "distributed")]
mod distributed;
mod recipe_timm;
mod train;
