//! Data-parallel training on PyTorch's own engine, c10d (feature
//! `distributed`, Linux): the process group torchrun's workers join, with
//! Gloo for CPU tensors and NCCL for CUDA ones, the broadcast of rank 0's
//! weights at start, gradients averaged after each backward, a barrier, and
//! which rank writes.
//!
//! ```no_run
//! use tch::{nn, Device};
//! use tch_lr::distributed::{Launch, ProcessGroup};
//!
//! # fn main() -> tch_lr::Result<()> {
//! // Under `torchrun --nproc-per-node 2 --no-python ./my_trainer`:
//! let launch = Launch::from_env()?.expect("launched by torchrun");
//! let pg = ProcessGroup::join(&launch, Device::Cpu, std::time::Duration::from_secs(300))?;
//! let vs = nn::VarStore::new(Device::Cpu);
//! // ... build the model and the optimizer ...
//! pg.sync_var_store(&vs)?; // every rank starts from rank 0's weights
//! let shard = pg.shard(64)?; // this rank's samples of each global batch of 64
//! // per step: forward on the shard, loss.backward(),
//! pg.average_gradients(&vs)?; // as DDP: each rank's gradient / world size, summed
//! // optimizer step; the scheduler counts global steps, the same on every rank
//! if pg.is_writer() { /* log, checkpoint */ }
//! pg.barrier()?;
//! # let _ = shard; Ok(()) }
//! ```
//!
//! ## How the engine is reached
//! A small C++ file (`src/distributed/c10d.cpp`, compiled by `build.rs` with
//! this feature; its C functions are declared for Rust in the crate's `ffi`
//! module) calls libtorch's c10d: a `TCPStore` (torchrun's agent store, or
//! rank 0's own), a `PrefixStore` per restart, and `ProcessGroupGloo` or
//! `ProcessGroupNCCL`, through their `Backend` base class (`allreduce`,
//! `broadcast`, `barrier`, each waited on with the group's timeout). The
//! wheel ships c10d's headers but not gloo's (`ProcessGroupGloo.hpp` includes
//! `<gloo/...>`), and `ProcessGroupNCCL.hpp` needs CUDA headers it lacks: the
//! shim includes neither. It declares what it calls of each backend class
//! (the constructor, the options' factory or constructor, the destructor)
//! with their exact C++ signatures, so the linker resolves them or the build
//! fails; its declarations make the destructor the key function, so no
//! vtable of its own is emitted to shadow libtorch's. No gloo or CUDA
//! declaration is used, and no other project's file is in this repository.
//!
//! The lifetime rule: libtorch exports no factory that allocates a
//! `ProcessGroupGloo` (nor NCCL's options), so tch-lr owns the memory of
//! those objects from allocation to free, and libtorch never frees it. Each
//! is built in a 64 KiB block from `operator new`, far larger than the class
//! and filled with a pattern first (an object that reaches the block's second
//! half, after construction or by the time it is destroyed, is refused in
//! one line), and handed to c10's `intrusive_ptr` through
//! `unsafe_adapt_non_heap_allocated`, c10's mechanism for objects it must
//! not free: no reference, in tch-lr or in libtorch, can run the class's
//! deleting destructor, which would free the block with the size of the
//! real class. When the group is left, and only if no one else still holds
//! a reference (the reference counts are back to their values right after
//! adapting), the object is destroyed by its own virtual destructor called
//! through its base class (inside libtorch, freeing nothing) and the block
//! is freed with the size it was allocated with; a backend still referenced
//! is left allocated rather than freed under its holder, which
//! [`ProcessGroup::leave`] reports. NCCL's options follow the backend that
//! holds them. Gloo's options come from libtorch's own factory and are freed
//! by libtorch.
//!
//! `tests/end_to_end/distributed.rs` proves the result against the running libtorch:
//! exact all-reduce and broadcast of known tensors and averaged gradients
//! across processes launched by torchrun; those workers, and the training
//! program on 2 processes, run under an `LD_PRELOAD` interposer of
//! `operator new`/`delete` that aborts when a block is freed with another
//! size than it was allocated with; and the absence of a shadowing vtable in
//! the built library.
//!
//! ## Collectives
//! Tensors are grouped by dtype and device and each group flattened into one
//! buffer in the order given: one collective per group (a coalesced
//! all-reduce, not DDP's buckets). The mean divides each rank's part by the
//! world size before the sum, as DDP does, so with two ranks the result is
//! DDP's bit for bit (a sum of two is the same either way round). Every rank
//! must call the same collectives in the same order; a peer that dies or a
//! timeout ends the call with [`Error::Distributed`], one line.

use std::ffi::CString;
use std::ops::Range;
use std::time::Duration;

use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::error::{Error, Result};
use crate::ffi;

fn dist(message: impl Into<String>) -> Error {
    Error::Distributed(crate::error::one_line(&message.into()))
}

/// How this process was launched: torchrun's environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// `RANK`: this process among all.
    pub rank: usize,
    /// `WORLD_SIZE`: the number of processes.
    pub world_size: usize,
    /// `LOCAL_RANK`: this process on its machine (its GPU).
    pub local_rank: usize,
    /// `MASTER_ADDR`: the store's host.
    pub master_addr: String,
    /// `MASTER_PORT`: the store's port.
    pub master_port: u16,
    /// `TORCHELASTIC_USE_AGENT_STORE`: torchrun's agent serves the store, and
    /// every rank connects to it; else rank 0 serves it.
    pub agent_store: bool,
    /// `TORCHELASTIC_RESTART_COUNT`: how many times torchrun restarted the
    /// job (0 at first); the store's keys are prefixed with it.
    pub restart: u32,
}

impl Launch {
    /// torchrun's environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
    /// `MASTER_ADDR`, `MASTER_PORT`, `TORCHELASTIC_USE_AGENT_STORE`,
    /// `TORCHELASTIC_RESTART_COUNT`), or `None` when `WORLD_SIZE` is unset (a
    /// process not launched for data parallelism).
    ///
    /// # Errors
    /// [`Error::Distributed`] naming the variable that is missing or not a number.
    pub fn from_env() -> Result<Option<Launch>> {
        Launch::from_vars(|k| std::env::var(k).ok())
    }

    /// [`from_env`](Self::from_env) over any source of variables.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        if var("WORLD_SIZE").is_none() {
            return Ok(None);
        }
        let get = |k: &str| var(k).ok_or_else(|| dist(format!("{k} is not set (WORLD_SIZE is): launch with torchrun")));
        let num = |k: &str| -> Result<u64> {
            let v = get(k)?;
            v.trim().parse().map_err(|_| dist(format!("{k}={v:?} is not a whole number")))
        };
        let world_size = num("WORLD_SIZE")? as usize;
        let rank = num("RANK")? as usize;
        if world_size == 0 || rank >= world_size {
            return Err(dist(format!("RANK {rank} is not below WORLD_SIZE {world_size}")));
        }
        let local_rank = var("LOCAL_RANK").map_or(Ok(rank as u64), |_| num("LOCAL_RANK"))? as usize;
        let master_port = u16::try_from(num("MASTER_PORT")?).map_err(|_| dist("MASTER_PORT is not a port"))?;
        let restart = var("TORCHELASTIC_RESTART_COUNT").map_or(Ok(0), |_| num("TORCHELASTIC_RESTART_COUNT"))?;
        Ok(Some(Launch {
            rank,
            world_size,
            local_rank,
            master_addr: get("MASTER_ADDR")?,
            master_port,
            agent_store: var("TORCHELASTIC_USE_AGENT_STORE").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            restart: restart as u32,
        }))
    }
}

/// The process group this process joined: its rank, the world size, and the
/// collectives (see the module). While it lives, libtorch's own log threshold
/// is raised to FATAL: c10d logs each failure with a C++ backtrace before
/// raising it, and the group's errors come back as one-line
/// [`Error::Distributed`]s instead; dropping the group puts it back.
#[derive(Debug)]
pub struct ProcessGroup {
    group: ffi::Group,
    launch: Launch,
    cuda: bool,
}

impl ProcessGroup {
    /// Joins the group of `launch`: connects to the store (rank 0 serves it
    /// unless torchrun's agent does), keys prefixed by the restart count, and
    /// creates Gloo's backend for `Device::Cpu` or NCCL's for `Device::Cuda`;
    /// waits for every rank, at most `timeout`, which also bounds every
    /// collective afterwards.
    ///
    /// # Errors
    /// [`Error::Distributed`] in one line: the store cannot be reached, a rank
    /// does not come within `timeout`, libtorch refuses.
    pub fn join(launch: &Launch, device: Device, timeout: Duration) -> Result<Self> {
        let c = |s: &str| CString::new(s).map_err(|_| dist(format!("{s:?} holds a NUL byte")));
        let host = c(&launch.master_addr)?;
        let prefix = c(&format!("/tch_lr/attempt_{}/", launch.restart))?;
        let cuda = matches!(device, Device::Cuda(_));
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let is_server = !launch.agent_store && launch.rank == 0;
        let group = ffi::Group::join(
            &host,
            launch.master_port,
            launch.rank,
            launch.world_size,
            is_server,
            &prefix,
            timeout_ms,
            cuda,
        )
        .map_err(|why| {
            dist(format!("joining the process group at {}:{}: {why}", launch.master_addr, launch.master_port))
        })?;
        Ok(ProcessGroup { group, launch: launch.clone(), cuda })
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.launch.rank
    }

    /// The number of processes.
    pub fn world_size(&self) -> usize {
        self.launch.world_size
    }

    /// How this process was launched.
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    /// Whether this rank writes logs and checkpoints: rank 0.
    pub fn is_writer(&self) -> bool {
        self.launch.rank == 0
    }

    /// Whether the group is NCCL's (CUDA tensors) rather than Gloo's.
    pub fn is_cuda(&self) -> bool {
        self.cuda
    }

    /// Sums `tensors` over the ranks, in place.
    ///
    /// # Errors
    /// [`Error::Distributed`]: a peer failed, or the timeout passed.
    pub fn all_reduce_sum(&self, tensors: &[&Tensor]) -> Result<()> {
        self.group.all_reduce(tensors, false).map_err(dist)
    }

    /// Averages `tensors` over the ranks, in place: each rank's values
    /// divided by the world size, then summed (DDP's order).
    ///
    /// # Errors
    /// As [`all_reduce_sum`](Self::all_reduce_sum).
    pub fn all_reduce_mean(&self, tensors: &[&Tensor]) -> Result<()> {
        self.group.all_reduce(tensors, true).map_err(dist)
    }

    /// Copies rank `root`'s `tensors` into every rank's, in place.
    ///
    /// # Errors
    /// As [`all_reduce_sum`](Self::all_reduce_sum).
    pub fn broadcast(&self, tensors: &[&Tensor], root: usize) -> Result<()> {
        self.group.broadcast(tensors, root).map_err(dist)
    }

    /// Waits until every rank has called it.
    ///
    /// # Errors
    /// As [`all_reduce_sum`](Self::all_reduce_sum).
    pub fn barrier(&self) -> Result<()> {
        self.group.barrier().map_err(dist)
    }

    /// Leaves the group now, as dropping it does (libtorch's log threshold
    /// is put back), and reports what a drop cannot: a backend object
    /// libtorch still references, which is then left allocated rather than
    /// freed under its holder (see "How the engine is reached").
    ///
    /// # Errors
    /// [`Error::Distributed`] in one line naming the object left allocated.
    pub fn leave(self) -> Result<()> {
        self.group.leave().map_err(|why| dist(format!("leaving the process group: {why}")))
    }

    /// Every variable of `vs` (parameters and buffers), by name: rank 0's
    /// copied into every rank's (DDP's start).
    ///
    /// # Errors
    /// As [`all_reduce_sum`](Self::all_reduce_sum).
    pub fn sync_var_store(&self, vs: &VarStore) -> Result<()> {
        let vars = sorted(vs, |_| true);
        self.broadcast(&vars.iter().collect::<Vec<_>>(), 0)
    }

    /// The variables of `vs` that are not trained (BatchNorm's running
    /// statistics): rank 0's copied into every rank's, as DDP does before
    /// each forward (`broadcast_buffers=True`).
    ///
    /// # Errors
    /// As [`all_reduce_sum`](Self::all_reduce_sum).
    pub fn broadcast_buffers(&self, vs: &VarStore) -> Result<()> {
        let vars = sorted(vs, |t| !t.requires_grad());
        if vars.is_empty() {
            return Ok(());
        }
        self.broadcast(&vars.iter().collect::<Vec<_>>(), 0)
    }

    /// The gradients of the trainable variables of `vs`, averaged over the
    /// ranks in place (after `backward`, before the optimizer's step).
    ///
    /// # Errors
    /// [`Error::Distributed`] for a trainable variable without a gradient
    /// (unused by the forward: every rank must average the same tensors), or
    /// as [`all_reduce_sum`](Self::all_reduce_sum).
    pub fn average_gradients(&self, vs: &VarStore) -> Result<()> {
        let vars = vs.variables();
        let mut names: Vec<&String> = vars.keys().filter(|n| vars[*n].requires_grad()).collect();
        names.sort();
        let mut grads = Vec::with_capacity(names.len());
        for name in names {
            let g = vars[name].grad();
            if !g.defined() {
                return Err(dist(format!(
                    "`{name}` has no gradient (not used by the forward): every rank must average the same ones"
                )));
            }
            grads.push(g);
        }
        self.all_reduce_mean(&grads.iter().collect::<Vec<_>>())
    }

    /// This rank's samples of a global batch of `global_batch`: the `rank`-th
    /// of `world_size` equal parts, the same for any run of that world size.
    ///
    /// # Errors
    /// [`Error::Distributed`] when the world size does not divide the batch.
    pub fn shard(&self, global_batch: i64) -> Result<Range<i64>> {
        shard(global_batch, self.launch.rank, self.launch.world_size)
    }
}

/// The `rank`-th of `world_size` equal parts of a global batch.
///
/// # Errors
/// [`Error::Distributed`] when `world_size` does not divide `global_batch`.
pub fn shard(global_batch: i64, rank: usize, world_size: usize) -> Result<Range<i64>> {
    let w = world_size as i64;
    if w == 0 || global_batch % w != 0 {
        return Err(dist(format!(
            "the global batch of {global_batch} does not split into {world_size} equal parts: give a batch size that \
             {world_size} divides"
        )));
    }
    let part = global_batch / w;
    Ok(part * rank as i64..part * (rank as i64 + 1))
}

/// The variables of `vs` that `keep` keeps, in name order (the same on every rank).
fn sorted(vs: &VarStore, keep: impl Fn(&Tensor) -> bool) -> Vec<Tensor> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| keep(t)).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(_, t)| t).collect()
}
