//! Megatron-core's `OptimizerParamScheduler` (megatron-core 0.19.2,
//! `megatron/core/optimizer_param_scheduler.py`), value for value: in
//! configs `name: megatron.OptimizerParamScheduler` with its constructor's
//! keyword arguments, `wd_mult` and the loop's `increment`.
//!
//! | class (config `name`) | file | reference |
//! |---|---|---|
//! | `megatron.OptimizerParamScheduler` | `scheduler.rs` | `megatron/core/optimizer_param_scheduler.py` |
//!
//! - `config.rs`: the keyword arguments, and what is refused when a config is read;
//! - `formula.rs`: `get_lr` and `get_wd` in Megatron's float order;
//! - `scheduler.rs`: [`OptimizerParamScheduler`], its construction and steps;
//! - `state.rs`: its `state_dict()` and `load_state_dict()` with Megatron's rules.
//!
//! # Steps, samples and the weight decay
//!
//! Megatron-LM's loop calls `opt_param_scheduler.step(increment=global_batch_size)`
//! after each successful update, so `num_steps` and every length
//! (`lr_warmup_steps`, `lr_decay_steps`, `wsd_decay_steps`, `wd_incr_steps`)
//! count samples: tch-lr's [`Scheduler::step`](crate::Scheduler::step) adds
//! `increment` (default 1). Unlike every PyTorch schedule, it writes each
//! group's weight decay too (`get_wd(group) * group['wd_mult']`), so a trace
//! shows the weight decay and the optimizer receives it at every step; it
//! cannot run beside a `weight_decay_scheduler:`, nor inside `SequentialLR`,
//! `ChainedScheduler` or `SWA` (it has no PyTorch `LRScheduler` protocol).

mod config;
mod formula;
mod scheduler;
mod state;

pub use config::{DecayStyle, OptimizerParamSchedulerConfig, Steps, WdIncrStyle, WsdDecayStyle};
pub use formula::{Class, LrAt, WdAt};
pub use scheduler::OptimizerParamScheduler;
