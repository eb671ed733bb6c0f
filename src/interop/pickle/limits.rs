//! The reader's bounds, so that a small pickle cannot make a large value or
//! take long.

/// The deepest nesting of containers a pickle may hold (a nested
/// `SequentialLR` state is 5 levels deep).
pub const MAX_DEPTH: usize = 100;

/// What the `REDUCE`s of `OrderedDict` and `Counter` may copy in all: this
/// many items per byte of pickle, plus [`WORK_BASE`].
pub(crate) const WORK_PER_BYTE: u64 = 16;
/// See [`WORK_PER_BYTE`].
pub(crate) const WORK_BASE: u64 = 1 << 16;

/// The output a pickle may expand to (shared objects are copied once per
/// reference): this many bytes per byte of pickle, plus [`OUTPUT_BASE`], plus
/// the bytes of the storages it may view.
pub(crate) const OUTPUT_PER_BYTE: u64 = 64;
/// See [`OUTPUT_PER_BYTE`].
pub(crate) const OUTPUT_BASE: u64 = 16 << 20;
/// What each output node costs, besides its text or elements.
pub(crate) const NODE_COST: u64 = 64;
/// What each dimension of an output tensor costs.
pub(crate) const DIM_COST: usize = 16;

/// The longest `GLOBAL` line (a module or a name).
pub(crate) const MAX_GLOBAL_LINE: usize = 1024;
/// The most arguments a `REDUCE` may pass (`_rebuild_tensor_v2` takes 7).
pub(crate) const MAX_REDUCE_ARGS: usize = 7;
