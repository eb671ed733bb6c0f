//! Data parallelism under torchrun (`./scripts/train.sh --nproc N`), through
//! `tch_lr::distributed` (PyTorch's c10d: Gloo on the CPU, NCCL on GPUs) when
//! the example is built with the `distributed` feature; a single process
//! otherwise, where every call here does nothing.
//!
//! What each rank does, as PyTorch's DDP: it starts from rank 0's weights and
//! buffers; it trains on its shard of each global batch (`--batch-size` is the
//! global batch; the world size must divide it); rank 0's buffers (BatchNorm's
//! statistics) are broadcast before each forward and before each evaluation;
//! gradients are averaged after each backward; the scheduler counts global
//! steps, the same on every rank. Rank 0 alone writes the log, the plot and
//! the checkpoints; the loss logged is the mean of the ranks' losses.

use std::ops::Range;

use anyhow::Result;
use tch::nn::VarStore;
use tch::{Device, Tensor};

#[cfg(feature = "distributed")]
use tch_lr::distributed::{Launch, ProcessGroup};

/// This process's place among the ranks.
pub struct Parallel {
    #[cfg(feature = "distributed")]
    pg: Option<ProcessGroup>,
    rank: usize,
    world: usize,
    restart: u32,
}

impl Parallel {
    /// A single process.
    pub fn single() -> Parallel {
        Parallel {
            #[cfg(feature = "distributed")]
            pg: None,
            rank: 0,
            world: 1,
            restart: 0,
        }
    }

    /// Joins torchrun's process group when launched by it (`WORLD_SIZE` set),
    /// on `device`, every wait bounded by `timeout_s` seconds.
    pub fn from_env(device: Device, timeout_s: u64) -> Result<Parallel> {
        #[cfg(feature = "distributed")]
        {
            let Some(launch) = Launch::from_env()? else { return Ok(Parallel::single()) };
            let pg = ProcessGroup::join(&launch, device, std::time::Duration::from_secs(timeout_s))?;
            Ok(Parallel { rank: pg.rank(), world: pg.world_size(), restart: launch.restart, pg: Some(pg) })
        }
        #[cfg(not(feature = "distributed"))]
        {
            let _ = (device, timeout_s);
            match std::env::var("WORLD_SIZE") {
                Ok(w) if w.trim() != "1" => anyhow::bail!(
                    "launched for {w} processes, but this build has no data parallelism: build it with \
                     `--features distributed` (./scripts/train.sh --nproc N does)"
                ),
                _ => Ok(Parallel::single()),
            }
        }
    }

    /// This process's rank (0 alone).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes.
    pub fn world(&self) -> usize {
        self.world
    }

    /// torchrun's restart count (0 at first, and for a single process).
    pub fn restart(&self) -> u32 {
        self.restart
    }

    /// Whether this rank writes logs, plots and checkpoints.
    pub fn is_writer(&self) -> bool {
        self.rank == 0
    }

    /// This rank's part of a global batch of `batch` samples.
    pub fn shard(&self, batch: i64) -> Result<Range<i64>> {
        #[cfg(feature = "distributed")]
        if let Some(pg) = &self.pg {
            return Ok(pg.shard(batch)?);
        }
        Ok(0..batch)
    }

    /// Rank 0's weights and buffers, on every rank.
    pub fn sync_start(&self, vs: &VarStore) -> Result<()> {
        #[cfg(feature = "distributed")]
        if let Some(pg) = &self.pg {
            pg.sync_var_store(vs)?;
        }
        let _ = vs;
        Ok(())
    }

    /// Rank 0's buffers on every rank (before a forward, as DDP).
    pub fn sync_buffers(&self, vs: &VarStore) -> Result<()> {
        #[cfg(feature = "distributed")]
        if let Some(pg) = &self.pg {
            pg.broadcast_buffers(vs)?;
        }
        let _ = vs;
        Ok(())
    }

    /// The gradients averaged over the ranks (after a backward).
    pub fn average_gradients(&self, vs: &VarStore) -> Result<()> {
        #[cfg(feature = "distributed")]
        if let Some(pg) = &self.pg {
            pg.average_gradients(vs)?;
        }
        let _ = vs;
        Ok(())
    }

    /// The mean of the ranks' `loss` (a 0-dim float tensor): summed, then
    /// divided by the world size, as the twin does.
    pub fn mean_loss(&self, loss: &Tensor) -> Result<f64> {
        #[cfg(feature = "distributed")]
        if let Some(pg) = &self.pg {
            let l = loss.detach().copy();
            pg.all_reduce_sum(&[&l])?;
            return Ok((l / self.world as f64).double_value(&[]));
        }
        Ok(loss.double_value(&[]))
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> Result<()> {
        #[cfg(feature = "distributed")]
        if let Some(pg) = &self.pg {
            pg.barrier()?;
        }
        Ok(())
    }
}
