//! Items the crate's own tests and benchmarks use, which are not part of the
//! API: PyTorch's internal scheduler protocol (to step a pure schedule
//! without an optimizer), the test helpers, timm's random generator and the
//! group count of a `VarStore`. Behind the `internals` feature, which only
//! the crate's dev-dependency on itself enables.

pub use crate::optim::group_count;
pub use crate::schedulers::schedule::Protocol;
pub use crate::schedulers::timm::TorchGenerator;
pub use crate::support::{tiny_var_store, write_atomic};
