//! The globals a pickle may name: one table, from which the reader's lookup,
//! its refusal, [`ALLOWLIST`] and its documentation, and each dtype's storage
//! class ([`DType::storage_name`]) are all derived.
//!
//! Besides the callables, the table holds classes read as records
//! ([`Record`]): an instance pickled by `NEWOBJ` then `BUILD` (protocol 2's
//! `copyreg.__newobj__`) is read as its class's name and the `__dict__`
//! `BUILD` gives it ([`Value::Object`](crate::interop::Value::Object)),
//! never constructed. An enum's class (Python's `Enum`, pickled as a call
//! of its class with its value: `REDUCE` with one str or int) is read as a
//! record holding `value`; `torch.device(type[, index])` as a record holding
//! `type` and `index`. Each record's form is [`Record::form`]. Adding a class
//! is one line here and one variant of [`Record`].

use crate::error::Error;
use crate::interop::tensor::DType;

/// A global the reader knows: what a `GLOBAL` opcode of the allowlist pushes.
/// What each does when reduced is the reader's fixed rule for it, never a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Global {
    OrderedDict,
    Counter,
    RebuildTensorV2,
    RebuildParameter,
    CodecsEncode,
    Size,
    Storage(DType),
    Record(Record),
    /// NumPy's `_reconstruct` (an array: Megatron-LM's `rng_state` holds
    /// NumPy's random state), read as the record `numpy.ndarray`.
    NdArray,
    /// `numpy.ndarray`, the class `_reconstruct` takes (only there).
    NdArrayClass,
    /// `numpy.dtype`, read as the record `numpy.dtype`.
    NumpyDtype,
}

/// A class read as a record: its instances become
/// [`Value::Object`](crate::interop::Value::Object) (the class's
/// `module.name` and the attributes `BUILD` gives), never constructed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record {
    /// `argparse.Namespace`: Megatron-LM's `args` in its checkpoints.
    ArgparseNamespace,
    /// `transformers.training_args.TrainingArguments`: a Trainer's
    /// `training_args.bin`.
    TrainingArguments,
    /// `transformers.training_args_seq2seq.Seq2SeqTrainingArguments`: the
    /// same, with generation's fields (the Trainer's schedule is the same).
    Seq2SeqTrainingArguments,
    /// `transformers.trainer_pt_utils.AcceleratorConfig` (a field of the
    /// arguments).
    AcceleratorConfig,
    /// `accelerate.state.PartialState` (the arguments' `distributed_state`).
    PartialState,
    /// `transformers.training_args.OptimizerNames` (an enum: `optim`).
    OptimizerNames,
    /// `transformers.trainer_utils.SchedulerType` (an enum: `lr_scheduler_type`).
    SchedulerType,
    /// `transformers.trainer_utils.IntervalStrategy` (an enum).
    IntervalStrategy,
    /// `transformers.trainer_utils.SaveStrategy` (an enum).
    SaveStrategy,
    /// `transformers.trainer_utils.HubStrategy` (an enum).
    HubStrategy,
    /// `accelerate.utils.dataclasses.DistributedType` (an enum).
    DistributedType,
    /// `torch.device`.
    TorchDevice,
}

/// How a record's class pickles, and so what the reader accepts of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordForm {
    /// `NEWOBJ` with no arguments, then `BUILD` with a dict of its
    /// attributes (str keys).
    Build,
    /// An enum: `REDUCE` of its class with exactly one str or int, read as a
    /// record holding `value`.
    Enum,
    /// `torch.device`: `REDUCE` with `(type)` or `(type, index)`, a str and
    /// an int, read as a record holding `type` and `index` (`None` without).
    Device,
}

/// Declares [`ALLOWLIST`] (with its documentation) and the lookup table from
/// one list of `(module, name) => global, rule;`.
macro_rules! allowlist {
    ($(($module:literal, $name:literal) => $global:expr, $rule:literal;)*) => {
        /// The globals a pickle may name, as `module.name`; any other is
        /// refused in one line, naming it. None is called: each is read by a
        /// fixed rule.
        ///
        $(#[doc = concat!("- `", $module, ".", $name, "`: ", $rule)])*
        pub const ALLOWLIST: &[&str] = &[$(concat!($module, ".", $name)),*];

        /// The allowlist, for lookups: module, name, global.
        const TABLE: &[(&str, &str, Global)] = &[$(($module, $name, $global)),*];
    };
}

allowlist! {
    ("collections", "OrderedDict") => Global::OrderedDict,
        "an `OrderedDict`: `REDUCE` with no argument, a mapping or `(key, value)` pairs; `BUILD` with a dict \
         of attributes (a model's `_metadata`).";
    ("collections", "Counter") => Global::Counter,
        "a `Counter` (MultiStepLR's milestones): `REDUCE` with no argument, a mapping or `(key, value)` pairs.";
    ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        "a tensor: `(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])`, the hooks \
         empty, the view inside its storage.";
    ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        "a parameter: `(tensor, requires_grad, backward_hooks)`, the hooks empty.";
    ("_codecs", "encode") => Global::CodecsEncode,
        "`bytes` (as protocol 2 pickles them): `encode(str, 'latin1')` only.";
    ("torch", "Size") => Global::Size,
        "a tensor shape (DeepSpeed's ZeRO checkpoints list each parameter's in `param_shapes`): `REDUCE` with \
         one tuple of ints, read as that tuple.";
    ("torch", "FloatStorage") => Global::Storage(DType::Float32),
        "the type of a persistent id's storage of `float32` elements; likewise each below.";
    ("torch", "DoubleStorage") => Global::Storage(DType::Float64), "`float64`.";
    ("torch", "HalfStorage") => Global::Storage(DType::Float16), "`float16`.";
    ("torch", "BFloat16Storage") => Global::Storage(DType::BFloat16), "`bfloat16`.";
    ("torch", "LongStorage") => Global::Storage(DType::Int64), "`int64`.";
    ("torch", "IntStorage") => Global::Storage(DType::Int32), "`int32`.";
    ("torch", "ShortStorage") => Global::Storage(DType::Int16), "`int16`.";
    ("torch", "CharStorage") => Global::Storage(DType::Int8), "`int8`.";
    ("torch", "ByteStorage") => Global::Storage(DType::UInt8), "`uint8`.";
    ("torch", "BoolStorage") => Global::Storage(DType::Bool), "`bool`.";
    ("argparse", "Namespace") => Global::Record(Record::ArgparseNamespace),
        "a record (Megatron-LM's `args`): `NEWOBJ` with no arguments, then `BUILD` with a dict of its \
         attributes (str keys), read as the class's name and those attributes, never constructed.";
    ("transformers.training_args", "TrainingArguments") => Global::Record(Record::TrainingArguments),
        "a record (a Hugging Face Trainer's `training_args.bin`), as `argparse.Namespace` is: `NEWOBJ` with no \
         arguments, then `BUILD` with its fields.";
    ("transformers.training_args_seq2seq", "Seq2SeqTrainingArguments") =>
        Global::Record(Record::Seq2SeqTrainingArguments), "the same (a `Seq2SeqTrainer`'s).";
    ("transformers.trainer_pt_utils", "AcceleratorConfig") => Global::Record(Record::AcceleratorConfig),
        "a record, the same way (the arguments' `accelerator_config`).";
    ("accelerate.state", "PartialState") => Global::Record(Record::PartialState),
        "a record, the same way (the arguments' `distributed_state`).";
    ("transformers.training_args", "OptimizerNames") => Global::Record(Record::OptimizerNames),
        "an enum (`optim`): `REDUCE` of the class with exactly one str or int, read as a record holding \
         `value`, never called; likewise each enum below.";
    ("transformers.trainer_utils", "SchedulerType") => Global::Record(Record::SchedulerType),
        "an enum (`lr_scheduler_type`).";
    ("transformers.trainer_utils", "IntervalStrategy") => Global::Record(Record::IntervalStrategy), "an enum.";
    ("transformers.trainer_utils", "SaveStrategy") => Global::Record(Record::SaveStrategy), "an enum.";
    ("transformers.trainer_utils", "HubStrategy") => Global::Record(Record::HubStrategy), "an enum.";
    ("accelerate.utils.dataclasses", "DistributedType") => Global::Record(Record::DistributedType), "an enum.";
    ("torch", "device") => Global::Record(Record::TorchDevice),
        "`device(type)` or `device(type, index)` (`REDUCE` with a str, and an int), read as a record holding \
         `type` and `index` (`None` without), never called.";
    ("numpy._core.multiarray", "_reconstruct") => Global::NdArray,
        "a NumPy array (NumPy 2; Megatron-LM's `rng_state` holds NumPy's random state): \
         `_reconstruct(numpy.ndarray, (0,), b'b')`, then `BUILD` with `(version, shape, dtype, fortran_order, \
         raw bytes)`; read as the record `numpy.ndarray` (`dtype`, `shape`, `fortran_order`, `data`), never \
         constructed. An array of Python objects is refused.";
    ("numpy.core.multiarray", "_reconstruct") => Global::NdArray, "the same, NumPy 1's name.";
    ("numpy", "ndarray") => Global::NdArrayClass, "the class `_reconstruct` takes, there only.";
    ("numpy", "dtype") => Global::NumpyDtype,
        "`dtype(descr, False, True)`, then `BUILD` with its state tuple: read as the record `numpy.dtype` \
         (`descr`).";
}

/// The global `module.name` names, if it is on the allowlist.
pub(crate) fn lookup(module: &str, name: &str) -> Option<Global> {
    TABLE.iter().find(|(m, n, _)| *m == module && *n == name).map(|(_, _, g)| *g)
}

/// The refusal of a global off the allowlist, listing the allowlist in short
/// (groups by their kind: the tensor rebuilds, NumPy's, the storages, the
/// Trainer's arguments and their fields' classes).
pub(crate) fn refusal(module: &str, name: &str) -> Error {
    let grouped = |g: &Global| match g {
        Global::NdArray | Global::NdArrayClass | Global::NumpyDtype | Global::Storage(_) => true,
        Global::RebuildTensorV2 | Global::RebuildParameter => true,
        Global::Record(r) => *r != Record::ArgparseNamespace,
        _ => false,
    };
    let mut allowed: Vec<&str> =
        ALLOWLIST.iter().zip(TABLE).filter(|(_, (_, _, g))| !grouped(g)).map(|(full, _)| *full).collect();
    allowed.push("torch's tensor rebuilds");
    allowed.push("numpy's arrays and dtypes");
    allowed.push("torch.*Storage");
    allowed.push("transformers' TrainingArguments and its fields' classes");
    Error::torch_file(format!("global {module}.{name} is not on the allowlist ({})", allowed.join(", ")))
}

/// The module and name of `g`, as the writer writes its `GLOBAL`.
pub(crate) fn names(g: Global) -> (&'static str, &'static str) {
    TABLE
        .iter()
        .find_map(|&(module, name, entry)| (entry == g).then_some((module, name)))
        .expect("every Global is on the allowlist (a unit test checks)")
}

impl Record {
    /// How the class pickles ([`RecordForm`]).
    pub(crate) fn form(self) -> RecordForm {
        match self {
            Record::ArgparseNamespace
            | Record::TrainingArguments
            | Record::Seq2SeqTrainingArguments
            | Record::AcceleratorConfig
            | Record::PartialState => RecordForm::Build,
            Record::OptimizerNames
            | Record::SchedulerType
            | Record::IntervalStrategy
            | Record::SaveStrategy
            | Record::HubStrategy
            | Record::DistributedType => RecordForm::Enum,
            Record::TorchDevice => RecordForm::Device,
        }
    }

    /// The class's `module.name` (its entry of [`ALLOWLIST`]).
    pub(crate) fn class(self) -> &'static str {
        ALLOWLIST
            .iter()
            .zip(TABLE)
            .find_map(|(full, (_, _, g))| (*g == Global::Record(self)).then_some(*full))
            .expect("every Record is on the allowlist (a unit test checks)")
    }
}

impl DType {
    /// The storage class's name in module `torch` (its entry of [`ALLOWLIST`]).
    pub fn storage_name(self) -> &'static str {
        names(Global::Storage(self)).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtype_has_one_storage_class() {
        for d in DType::ALL {
            let name = d.storage_name();
            assert_eq!(lookup("torch", name), Some(Global::Storage(d)));
            assert!(ALLOWLIST.contains(&format!("torch.{name}").as_str()));
        }
        let storages = TABLE.iter().filter(|(_, _, g)| matches!(g, Global::Storage(_))).count();
        assert_eq!(storages, DType::ALL.len());
        for g in [Global::OrderedDict, Global::Counter, Global::RebuildTensorV2, Global::RebuildParameter, Global::Size]
        {
            let (module, name) = names(g);
            assert_eq!(lookup(module, name), Some(g));
        }
        assert_eq!(names(Global::CodecsEncode), ("_codecs", "encode"));
        let r = Global::Record(Record::ArgparseNamespace);
        assert_eq!(lookup("argparse", "Namespace"), Some(r));
        assert_eq!(Record::ArgparseNamespace.class(), "argparse.Namespace");
        for (r, class, form) in [
            (Record::TrainingArguments, "transformers.training_args.TrainingArguments", RecordForm::Build),
            (Record::OptimizerNames, "transformers.training_args.OptimizerNames", RecordForm::Enum),
            (Record::SchedulerType, "transformers.trainer_utils.SchedulerType", RecordForm::Enum),
            (Record::DistributedType, "accelerate.utils.dataclasses.DistributedType", RecordForm::Enum),
            (Record::PartialState, "accelerate.state.PartialState", RecordForm::Build),
            (Record::TorchDevice, "torch.device", RecordForm::Device),
        ] {
            assert_eq!((r.class(), r.form()), (class, form));
        }
    }

    #[test]
    fn the_refusal_lists_the_callables() {
        let e = refusal("os", "system").to_string();
        assert!(e.contains("os.system is not on the allowlist"), "{e}");
        for full in ["collections.OrderedDict", "_codecs.encode", "torch.*Storage"] {
            assert!(e.contains(full), "{e}");
        }
        assert!(!e.contains("FloatStorage") && e.len() <= 300, "{e}");
        // A long class name still fits one line of 300.
        let e = refusal("trl.trainer.sft_config", "SFTConfig").to_string();
        assert!(e.contains("TrainingArguments") && e.len() <= 300, "{} chars: {e}", e.len());
    }
}
