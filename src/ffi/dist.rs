//! The process group of `src/distributed/c10d.cpp` (feature `distributed`).

use std::ffi::{c_int, CStr};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use tch::Tensor;
use torch_sys::C_tensor;

use super::{
    call, tch_lr_dist_all_reduce, tch_lr_dist_barrier, tch_lr_dist_broadcast, tch_lr_dist_free, tch_lr_dist_new,
    DistGroup, Outcome,
};

/// A joined process group, left by [`leave`](Self::leave) or `Drop`.
#[derive(Debug)]
pub(crate) struct Group {
    /// Invariant: a live group from `tch_lr_dist_new`, freed only by `leave`
    /// or `Drop`, once.
    raw: NonNull<DistGroup>,
}

// SAFETY: the shim's group is used from one thread at a time (its methods take
// `&self` and call blocking collectives; `Group` is not `Sync`), and c10d's
// backends have no thread affinity.
unsafe impl Send for Group {}

impl Group {
    /// Joins (`tch_lr_dist_new`): a TCPStore at `host:port` (its server when
    /// `is_server`), keys under `prefix`, Gloo or (`cuda`) NCCL, `timeout_ms`
    /// for the rendezvous and every collective.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join(
        host: &CStr,
        port: u16,
        rank: usize,
        size: usize,
        is_server: bool,
        prefix: &CStr,
        timeout_ms: i64,
        cuda: bool,
    ) -> Outcome<Self> {
        let int = |v: usize, what: &str| c_int::try_from(v).map_err(|_| format!("{what} {v} is too large"));
        let (rank, size) = (int(rank, "rank")?, int(size, "world size")?);
        let mut out: *mut DistGroup = std::ptr::null_mut();
        // SAFETY: the strings live for the call; `out` and `e` are valid for
        // writes.
        call(|e| unsafe {
            tch_lr_dist_new(
                host.as_ptr(),
                c_int::from(port),
                rank,
                size,
                c_int::from(is_server),
                prefix.as_ptr(),
                timeout_ms,
                c_int::from(cuda),
                &mut out,
                e,
            )
        })?;
        NonNull::new(out).map(|raw| Group { raw }).ok_or_else(|| "no process group was created".into())
    }

    /// The tensors' handles, as the shim takes them.
    fn handles(tensors: &[&Tensor]) -> Vec<*mut C_tensor> {
        tensors.iter().map(|t| t.as_ptr().cast_mut()).collect()
    }

    /// Sums (`mean`: averages) `tensors` over the ranks, in place.
    pub(crate) fn all_reduce(&self, tensors: &[&Tensor], mean: bool) -> Outcome<()> {
        let t = Self::handles(tensors);
        // SAFETY: `raw` is live (struct invariant); `t` holds `t.len()`
        // tensor handles, valid for the call (the tensors are borrowed);
        // `e` is valid for a write.
        call(|e| unsafe { tch_lr_dist_all_reduce(self.raw.as_ptr(), t.as_ptr(), t.len(), c_int::from(mean), e) })
    }

    /// Copies rank `root`'s `tensors` into every rank's, in place.
    pub(crate) fn broadcast(&self, tensors: &[&Tensor], root: usize) -> Outcome<()> {
        let root = c_int::try_from(root).map_err(|_| format!("rank {root} is too large"))?;
        let t = Self::handles(tensors);
        // SAFETY: as in `all_reduce`.
        call(|e| unsafe { tch_lr_dist_broadcast(self.raw.as_ptr(), t.as_ptr(), t.len(), root, e) })
    }

    /// Waits until every rank has called it.
    pub(crate) fn barrier(&self) -> Outcome<()> {
        // SAFETY: `raw` is live (struct invariant); `e` is valid for a write.
        call(|e| unsafe { tch_lr_dist_barrier(self.raw.as_ptr(), e) })
    }

    /// Leaves the group (`tch_lr_dist_free`): an error when libtorch still
    /// referenced a backend object, which was then left allocated.
    pub(crate) fn leave(self) -> Outcome<()> {
        let this = ManuallyDrop::new(self);
        free(this.raw)
    }
}

/// Frees the group `raw`.
fn free(raw: NonNull<DistGroup>) -> Outcome<()> {
    // SAFETY: `raw` is a live group (from `Group`, whose `leave` and `Drop`
    // each call this once and then never use it); `e` is valid for a write.
    call(|e| unsafe { tch_lr_dist_free(raw.as_ptr(), e) })
}

impl Drop for Group {
    fn drop(&mut self) {
        // What `leave` reports cannot be reported here: a backend libtorch
        // still references stays allocated (never freed under its holder).
        let _ = free(self.raw);
    }
}
