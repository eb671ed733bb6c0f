//! Items the crate's own tests and benchmarks use, which are not part of the
//! API: PyTorch's internal scheduler protocol (to step a pure schedule
//! without an optimizer), the test helpers, timm's random generator and the
//! group count of a `VarStore`. Behind the `internals` feature, which only
//! the crate's dev-dependency on itself enables.

pub use crate::schedulers::schedule::Protocol;
pub use crate::schedulers::timm::noise::TorchGenerator;
pub use crate::support::{tiny_var_store, write_atomic};

/// The number of parameter groups of `vs` (tch's `nn::Optimizer` makes one
/// per distinct group of trainable variables).
pub fn group_count(vs: &tch::nn::VarStore) -> usize {
    crate::optim::group_count(vs)
}

/// The owned optimizer's write path alone: every group's LR, `lrs`, in one
/// call into libtorch's options, without the change checks of
/// [`Optim::sync`](crate::Optim::sync) (the floor of the benchmarks).
///
/// # Errors
/// [`Error::Unsupported`](crate::Error::Unsupported) for tch's optimizer; a
/// libtorch error for another number of groups.
pub fn write_lrs(opt: &mut crate::Optim, lrs: &[f64]) -> crate::Result<()> {
    opt.write_lrs(lrs)
}
