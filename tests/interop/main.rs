//! Files from outside: PyTorch's `torch.save` files read and written
//! (`files`), the scheduler state across PyTorch and tch-lr (`state`), the
//! owned optimizer's state as PyTorch's (`optimizer`), and fuzzing of every
//! loader: configs and archives (`loader_fuzz`), decoded states
//! (`state_fuzz`); Megatron-LM checkpoints and their records (`megatron`).
//!
//! One test binary (it links libtorch once): `cargo test --test interop`.

#[path = "../common/mod.rs"]
mod common;

mod files;
// A run's own files as the config (issue 26): a Trainer's training_args.bin.
mod hf_args;
mod loader_fuzz;
// Megatron-core (issue 25).
mod megatron;
mod optimizer;
mod state;
mod state_fuzz;
