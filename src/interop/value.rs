//! A decoded pickle: Python's values as `torch.load(..., weights_only=True)`
//! builds them.

use super::tensor::TensorRecord;

/// A decoded pickle: Python's values as `torch.load(..., weights_only=True)`
/// builds them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int` (within `i64`; larger ones are refused).
    Int(i64),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `bytes` (pickled by protocol 2 as `_codecs.encode(str, "latin1")`).
    Bytes(Vec<u8>),
    /// `list`.
    List(Vec<Value>),
    /// `tuple`.
    Tuple(Vec<Value>),
    /// `dict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// `collections.OrderedDict`, with the attributes a `BUILD` gave it (a
    /// model's `state_dict()` carries `_metadata`), both in order.
    OrderedDict {
        /// The items.
        items: Vec<(Value, Value)>,
        /// The instance attributes (`__dict__`), empty for most.
        attrs: Vec<(Value, Value)>,
    },
    /// `collections.Counter` (MultiStepLR's milestones), in insertion order.
    Counter(Vec<(Value, Value)>),
    /// A tensor (`torch._utils._rebuild_tensor_v2`, or `_rebuild_parameter`).
    Tensor(TensorRecord),
    /// An instance of a class on the allowlist of classes read as records
    /// (`argparse.Namespace`: Megatron-LM's `args`): its class's
    /// `module.name` and its attributes (the `__dict__` that the pickle's
    /// `BUILD` gives), in order. Never constructed; not written back.
    Object {
        /// The class, `module.name`.
        class: &'static str,
        /// The attributes, in order.
        fields: Vec<(String, Value)>,
    },
}

impl Value {
    /// The value under `key` of a dict, ordered dict or counter with string keys.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items()?.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v)
    }

    /// The attribute `name` of a record ([`Value::Object`]).
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object { fields, .. } => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The items of a dict, ordered dict or counter.
    pub fn items(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(items) | Value::Counter(items) | Value::OrderedDict { items, .. } => Some(items),
            _ => None,
        }
    }

    /// Python's name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::OrderedDict { .. } => "OrderedDict",
            Value::Counter(_) => "Counter",
            Value::Tensor(_) => "Tensor",
            Value::Object { class, .. } => class,
        }
    }
}
