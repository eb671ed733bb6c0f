//! Pickle protocol 2, as `torch.save` writes it: a reader into a [`Value`]
//! tree that honours only an allowlist of globals, and a writer whose output
//! `torch.load(f, weights_only=True)` accepts.
//!
//! The reader never executes anything: a `GLOBAL` opcode names a callable,
//! and only those of [`ALLOWLIST`] are recognised (each is interpreted by a
//! fixed rule); any other global is refused, naming it. Objects live in a
//! flat arena while the pickle runs (the memo shares them, as Python's does),
//! and become a [`Value`] tree at `STOP`, within a depth and size budget, so
//! that shared references cannot blow up memory.
//!
//! - `opcode`: the opcodes by name, shared by the reader and the writer;
//! - `allowlist`: the one table of globals;
//! - `reader`: the machine and each opcode's rule; `reduce`: the globals'
//!   rules; `arena`: its objects; `tree`: the result as a [`Value`];
//! - `writer`; `limits`: the bounds.

mod allowlist;
mod arena;
mod limits;
mod opcode;
mod reader;
mod reduce;
mod tree;
mod writer;

pub use allowlist::ALLOWLIST;
pub use limits::MAX_DEPTH;
pub(crate) use reader::read_budgeted;
pub use reader::{read, read_with, PersistentLoad};
pub use writer::{write, write_with};

pub use crate::interop::storage::Storage;
pub use crate::interop::tensor::{DType, StorageRef, TensorRecord};
pub use crate::interop::value::Value;
