//! PyTorch's own files: read and write what `torch.save` writes, so that a run moves between PyTorch
//! and Rust.
//!
//! - [`torch_file::load`](crate::interop::torch_file::load) /
//!   [`torch_file::read`](crate::interop::torch_file::read) read a `torch.save` zip archive
//!   (`<name>/data.pkl`, a protocol-2 pickle, and one `<name>/data/<key>` record per tensor storage,
//!   little-endian) into a [`Value`](crate::interop::Value) tree: `None`, `bool`, `int` (within
//!   `i64`), `float`, `str`, `bytes`, `list`, `tuple`, `dict`, `OrderedDict`, `Counter` and tensors
//!   ([`TensorRecord`](crate::interop::TensorRecord): dtype, shape, strides, offset and the storage,
//!   whose bytes [`torch_file::load`](crate::interop::torch_file::load) leaves on disk until asked
//!   for). That covers scheduler and optimizer `state_dict()`s and a plain `model.state_dict()`
//!   (Hugging Face Trainer's `optimizer.pt` / `scheduler.pt` have the same layout).
//! - [`torch_file::save`](crate::interop::torch_file::save) /
//!   [`torch_file::write`](crate::interop::torch_file::write) write the same tree as a `torch.save`
//!   archive that `torch.load(f, weights_only=True)` accepts.
//! - [`model::load_state_dict`](crate::interop::model::load_state_dict) /
//!   [`model::state_dict`](crate::interop::model::state_dict) move a model's weights between PyTorch's
//!   `model.state_dict()` and a `VarStore` of the same names.
//! - [`hf::load`](crate::interop::hf::load) reads a Hugging Face Trainer checkpoint folder
//!   (`scheduler.pt`, `optimizer.pt`, `trainer_state.json`).
//! - [`megatron::load`](crate::interop::megatron::load) reads a Megatron-LM checkpoint
//!   (`iter_XXXXXXX/mp_rank_00/model_optim_rng.pt`): its scheduler state and optimizer groups.
//! - [`torch_file::to_tch`](crate::interop::torch_file::to_tch) /
//!   [`torch_file::from_tch`](crate::interop::torch_file::from_tch) convert a record to and from a
//!   contiguous CPU `tch::Tensor`.
//!
//! ```
//! use tch_lr::interop::{torch_file, DType, TensorRecord, Value};
//!
//! // {"step": tensor(3.), "lrs": [0.1]}, as torch.save writes it.
//! let step = TensorRecord::contiguous(DType::Float32, vec![], 3f32.to_le_bytes().to_vec())?;
//! let state = Value::Dict(vec![
//!     (Value::Str("step".into()), Value::Tensor(step)),
//!     (Value::Str("lrs".into()), Value::List(vec![Value::Float(0.1)])),
//! ]);
//! let bytes = torch_file::write(&state)?; // torch.load(f, weights_only=True) reads it
//! let back = torch_file::read(&bytes)?;
//! assert_eq!(back, state);
//! let Some(Value::Tensor(t)) = back.get("step") else { unreachable!() };
//! assert_eq!(torch_file::to_tch(t)?.double_value(&[]), 3.0);
//! # Ok::<(), tch_lr::Error>(())
//! ```
//!
//! # A pickle is code: the allowlist
//! Nothing in a file is executed. A pickle's `GLOBAL` may name only the globals of
//! [`pickle::ALLOWLIST`](crate::interop::pickle::ALLOWLIST) (`collections.OrderedDict`,
//! `collections.Counter`, `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`,
//! `_codecs.encode`, `torch.Size` as a tuple of ints, the class `argparse.Namespace` read as a
//! record, the Hugging Face Trainer's arguments file read as records:
//! `transformers.training_args.TrainingArguments`,
//! `transformers.training_args_seq2seq.Seq2SeqTrainingArguments`,
//! `transformers.trainer_pt_utils.AcceleratorConfig`, `accelerate.state.PartialState`, the enums
//! `transformers.training_args.OptimizerNames`, `transformers.trainer_utils.SchedulerType`,
//! `transformers.trainer_utils.IntervalStrategy`, `transformers.trainer_utils.SaveStrategy`,
//! `transformers.trainer_utils.HubStrategy`, `accelerate.utils.dataclasses.DistributedType` and
//! `torch.device`; NumPy's arrays and dtypes read as records:
//! `numpy._core.multiarray._reconstruct`, `numpy.core.multiarray._reconstruct`,
//! `numpy.ndarray`, `numpy.dtype`; and the `torch.*Storage` classes as persistent-id storage
//! types), each interpreted by the fixed rule its documentation gives. A class read as a record
//! (Megatron-LM's `args` is an `argparse.Namespace`): `NEWOBJ` with no arguments then `BUILD`
//! with a dict of attributes gives a [`Value::Object`](crate::interop::Value::Object), the
//! class's name and those attributes, never an instance; a NumPy array (Megatron-LM's
//! `rng_state` holds NumPy's random state) gives the record `numpy.ndarray` (its dtype, shape and
//! bytes). Any other global, a `REDUCE` on anything else, a
//! `BUILD` on anything but an `OrderedDict` or a record and any opcode beyond protocol 2's are
//! refused with one line ([`Error::TorchFile`]).
//!
//! # Limits
//! - No allocation follows a declared size beyond the file's real size: every string, int, entry and
//!   storage length is checked against the bytes that are there; a storage must hold exactly its
//!   declared elements, and each tensor's view (offset, sizes, strides) must stay inside its storage.
//! - Ints beyond `i64` are refused; nesting beyond
//!   [`pickle::MAX_DEPTH`](crate::interop::pickle::MAX_DEPTH) levels is refused; shared (memoised)
//!   objects are copied into the tree within a budget of 64 bytes of output per byte of pickle, plus
//!   16 MiB, plus the archive's size for the tensors' elements, so a small file cannot expand
//!   without bound; the `REDUCE`s of `OrderedDict` and `Counter` copy at most 16 items per byte of
//!   pickle (plus 65,536) in all. Tensor storages are shared, never copied; a record is expanded
//!   (made contiguous) only when asked
//!   ([`TensorRecord::contiguous_bytes`](crate::interop::TensorRecord::contiguous_bytes),
//!   [`torch_file::to_tch`](crate::interop::torch_file::to_tch)).
//! - Archives: STORED entries only (what `torch.save` writes), zip64 read, CRC-32 checked, at most
//!   [`torch_file::MAX_ENTRIES`](crate::interop::torch_file::MAX_ENTRIES) entries; big-endian files
//!   (`byteorder` other than `little`) are refused.
//! - The pickle loads whole or not at all: errors carry no partial value. A file read with
//!   [`torch_file::load`](crate::interop::torch_file::load) keeps its tensors' bytes on disk
//!   ([`Storage`](crate::interop::Storage)): each is read when asked for, its CRC-32 and the file's
//!   size checked then, so a file cut, damaged or rewritten after the load is refused in one line
//!   naming the file and the entry, never read as other values.
//!
//! [`Error::TorchFile`]: crate::Error::TorchFile

pub mod deepspeed;
pub mod hf;
// Megatron-core (issue 25).
pub mod megatron;
pub mod model;
pub mod optimizer;
pub mod pickle;
pub mod state;
mod storage;
mod tensor;
pub mod timm;
pub mod torch_file;
mod value;

pub use storage::Storage;
pub use tensor::{DType, TensorRecord};
pub use value::Value;
