//! Pickle protocol 2, as `torch.save` writes it: a reader into a [`Value`]
//! tree that honours only an allowlist of globals, and a writer whose output
//! `torch.load(f, weights_only=True)` accepts.
//!
//! The reader never executes anything: a `GLOBAL` opcode names a callable,
//! and only the callables of [`super`]'s allowlist are recognised (each is
//! interpreted here, by a fixed rule); any other global is refused, naming
//! it. Objects live in a flat arena while the pickle runs (the memo shares
//! them, as Python's does), and become a [`Value`] tree at `STOP`, within a
//! depth and size budget, so that shared references cannot blow up memory.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use crate::error::readable;
use crate::{Error, Result};

/// The deepest nesting of containers a pickle may hold (a nested
/// `SequentialLR` state is 5 levels deep).
pub const MAX_DEPTH: usize = 100;

/// A refusal, on one line.
pub(crate) fn err(msg: impl AsRef<str>) -> Error {
    Error::TorchFile(readable(msg.as_ref()))
}

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
}

impl Value {
    /// The value under `key` of a dict, ordered dict or counter with string keys.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items()?.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v)
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
        }
    }
}

/// A tensor's element type, as its `torch.*Storage` class names it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `torch.float32` (`FloatStorage`).
    Float32,
    /// `torch.float64` (`DoubleStorage`).
    Float64,
    /// `torch.float16` (`HalfStorage`).
    Float16,
    /// `torch.bfloat16` (`BFloat16Storage`).
    BFloat16,
    /// `torch.int64` (`LongStorage`).
    Int64,
    /// `torch.int32` (`IntStorage`).
    Int32,
    /// `torch.int16` (`ShortStorage`).
    Int16,
    /// `torch.int8` (`CharStorage`).
    Int8,
    /// `torch.uint8` (`ByteStorage`).
    UInt8,
    /// `torch.bool` (`BoolStorage`).
    Bool,
}

impl DType {
    /// Every dtype, for lookups.
    pub const ALL: [DType; 10] = [
        DType::Float32,
        DType::Float64,
        DType::Float16,
        DType::BFloat16,
        DType::Int64,
        DType::Int32,
        DType::Int16,
        DType::Int8,
        DType::UInt8,
        DType::Bool,
    ];

    /// The storage class's name in module `torch`.
    pub fn storage_name(self) -> &'static str {
        match self {
            DType::Float32 => "FloatStorage",
            DType::Float64 => "DoubleStorage",
            DType::Float16 => "HalfStorage",
            DType::BFloat16 => "BFloat16Storage",
            DType::Int64 => "LongStorage",
            DType::Int32 => "IntStorage",
            DType::Int16 => "ShortStorage",
            DType::Int8 => "CharStorage",
            DType::UInt8 => "ByteStorage",
            DType::Bool => "BoolStorage",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Float64 | DType::Int64 => 8,
            DType::Float32 | DType::Int32 => 4,
            DType::Float16 | DType::BFloat16 | DType::Int16 => 2,
            DType::Int8 | DType::UInt8 | DType::Bool => 1,
        }
    }
}

/// A tensor as a `torch.save` file holds it: a view (`shape`, `strides`,
/// `offset`, in elements) into a storage of little-endian elements. Tensors
/// that share a storage in the file share `storage` here. Built only through
/// [`TensorRecord::new`], which checks that the view stays inside its storage.
#[derive(Clone)]
pub struct TensorRecord {
    dtype: DType,
    shape: Vec<i64>,
    strides: Vec<i64>,
    offset: i64,
    storage: Arc<[u8]>,
    /// Whether PyTorch is to rebuild it with `requires_grad=True`.
    pub requires_grad: bool,
}

impl std::fmt::Debug for TensorRecord {
    /// The view and the storage's length, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorRecord")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("strides", &self.strides)
            .field("offset", &self.offset)
            .field("storage_bytes", &self.storage.len())
            .field("requires_grad", &self.requires_grad)
            .finish()
    }
}

impl PartialEq for TensorRecord {
    /// Equal dtype, shape, `requires_grad` and elements (bit for bit), whatever the layout.
    fn eq(&self, o: &Self) -> bool {
        self.dtype == o.dtype
            && self.shape == o.shape
            && self.requires_grad == o.requires_grad
            && self.contiguous_bytes() == o.contiguous_bytes()
    }
}

impl TensorRecord {
    /// A view into `storage` (little-endian elements of `dtype`): refused in
    /// one line unless every element it reaches lies inside the storage.
    pub fn new(
        dtype: DType,
        shape: Vec<i64>,
        strides: Vec<i64>,
        offset: i64,
        storage: Arc<[u8]>,
        requires_grad: bool,
    ) -> Result<Self> {
        if shape.len() != strides.len() {
            return Err(err(format!("tensor has {} sizes but {} strides", shape.len(), strides.len())));
        }
        if shape.len() > 64 {
            return Err(err(format!("tensor has {} dimensions (at most 64)", shape.len())));
        }
        if !storage.len().is_multiple_of(dtype.size()) {
            return Err(err(format!("storage of {} bytes is not a whole number of {dtype:?} elements", storage.len())));
        }
        if offset < 0 || shape.iter().any(|&s| s < 0) || strides.iter().any(|&s| s < 0) {
            return Err(err(format!("tensor has a negative offset, size or stride: {shape:?} {strides:?} {offset}")));
        }
        let numel = shape.iter().try_fold(1i64, |n, &s| n.checked_mul(s));
        let Some(numel) = numel else {
            return Err(err(format!("tensor size {shape:?} overflows")));
        };
        if numel > 0 {
            let last = shape
                .iter()
                .zip(&strides)
                .try_fold(offset, |acc, (&s, &st)| (s - 1).checked_mul(st).and_then(|x| acc.checked_add(x)));
            let elements = (storage.len() / dtype.size()) as i64;
            match last {
                Some(last) if last < elements => {}
                _ => {
                    return Err(err(format!(
                        "tensor of size {shape:?}, strides {strides:?} and offset {offset} reaches beyond its storage of {elements} elements"
                    )))
                }
            }
        }
        Ok(TensorRecord { dtype, shape, strides, offset, storage, requires_grad })
    }

    /// A contiguous tensor holding `data` (little-endian elements).
    pub fn contiguous(dtype: DType, shape: Vec<i64>, data: Vec<u8>) -> Result<Self> {
        let mut strides = vec![0i64; shape.len()];
        let mut acc = 1i64;
        for (i, &s) in shape.iter().enumerate().rev() {
            strides[i] = acc;
            acc = acc.saturating_mul(s.max(1));
        }
        let numel = shape.iter().try_fold(1usize, |n, &s| usize::try_from(s).ok().and_then(|s| n.checked_mul(s)));
        if numel.and_then(|n| n.checked_mul(dtype.size())) != Some(data.len()) {
            return Err(err(format!("{} bytes do not make a {dtype:?} tensor of size {shape:?}", data.len())));
        }
        TensorRecord::new(dtype, shape, strides, 0, data.into(), false)
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The size of each dimension.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }
    /// The stride of each dimension, in elements.
    pub fn strides(&self) -> &[i64] {
        &self.strides
    }
    /// The first element's index in the storage.
    pub fn offset(&self) -> i64 {
        self.offset
    }
    /// The whole storage (little-endian elements), shared with the other views of it.
    pub fn storage(&self) -> &Arc<[u8]> {
        &self.storage
    }
    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&s| s as usize).product()
    }

    /// The elements in row-major order, little-endian (bounds were checked at construction).
    pub fn contiguous_bytes(&self) -> Vec<u8> {
        let es = self.dtype.size();
        let n = self.numel();
        let mut out = Vec::with_capacity(n * es);
        if n == 0 {
            return out;
        }
        let mut expected = 1i64;
        let dense = self.shape.iter().zip(&self.strides).rev().all(|(&size, &stride)| {
            let ok = size == 1 || stride == expected;
            expected *= size;
            ok
        });
        if dense {
            let at = self.offset as usize * es;
            out.extend_from_slice(&self.storage[at..at + n * es]);
            return out;
        }
        let mut index = vec![0i64; self.shape.len()];
        for _ in 0..n {
            let pos: i64 = self.offset + index.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<i64>();
            let at = pos as usize * es;
            out.extend_from_slice(&self.storage[at..at + es]);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        out
    }
}

/// A storage a pickle refers to by persistent id: `("storage", torch.<Type>Storage, key, location, numel)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// The element type.
    pub dtype: DType,
    /// The record's key (`data/<key>` in the archive).
    pub key: String,
    /// The device it was saved from (`"cpu"`, `"cuda:0"`); tch-lr loads to the CPU.
    pub location: String,
    /// The declared number of elements.
    pub numel: u64,
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

/// Resolves a storage's persistent id to its element type and bytes.
pub type PersistentLoad<'a> = dyn FnMut(&StorageRef) -> Result<(DType, Arc<[u8]>)> + 'a;

/// The globals a pickle may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    OrderedDict,
    Counter,
    RebuildTensorV2,
    RebuildParameter,
    CodecsEncode,
    Storage(DType),
}

/// The allowlist, as `module.name`.
pub const ALLOWLIST: &[&str] = &[
    "collections.OrderedDict",
    "collections.Counter",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "_codecs.encode",
    "torch.FloatStorage",
    "torch.DoubleStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
];

fn global(module: &str, name: &str) -> Option<Global> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("collections", "Counter") => Global::Counter,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("_codecs", "encode") => Global::CodecsEncode,
        ("torch", n) => Global::Storage(DType::ALL.into_iter().find(|d| d.storage_name() == n)?),
        _ => return None,
    })
}

/// A value on the stack or in the memo: scalars inline, everything else an
/// index into the arena.
#[derive(Debug, Clone)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Global(Global),
    Node(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DictKind {
    Plain,
    Ordered,
    Counter,
}

#[derive(Debug)]
struct DictObj {
    kind: DictKind,
    items: Vec<(Obj, Obj)>,
    index: HashMap<Key, usize>,
    attrs: Option<Obj>,
}

#[derive(Debug)]
enum Node {
    Str(Rc<str>, u64),
    Bytes(Vec<u8>),
    List(Vec<Obj>),
    Tuple(Vec<Obj>),
    Dict(DictObj),
    Storage(DType, Arc<[u8]>),
    Tensor(TensorRecord),
}

/// A hashable dict key: Python's equality for the scalar keys state dicts use
/// (`True == 1`, `1.0 == 1`); strings hash once, when created.
#[derive(Debug, Clone)]
enum Key {
    None,
    Int(i64),
    Float(u64),
    Str(Rc<str>, u64),
}

impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        match (self, o) {
            (Key::None, Key::None) => true,
            (Key::Int(a), Key::Int(b)) => a == b,
            (Key::Float(a), Key::Float(b)) => a == b,
            // Interned: equal strings are the same `Rc`.
            (Key::Str(a, ha), Key::Str(b, hb)) => ha == hb && Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Key::None => 0u8.hash(h),
            Key::Int(i) => (1u8, i).hash(h),
            Key::Float(f) => (2u8, f).hash(h),
            Key::Str(_, s) => (3u8, s).hash(h),
        }
    }
}

fn str_hash(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

struct Reader<'a, 'f> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Obj>,
    marks: Vec<usize>,
    memo: HashMap<u32, Obj>,
    arena: Vec<Node>,
    strings: std::collections::HashSet<Rc<str>>,
    /// What `REDUCE`s may still copy: 16 items per byte of pickle, plus 65,536.
    work: u64,
    persistent_load: &'f mut PersistentLoad<'f>,
}

/// Reads a pickle that holds no tensors (a tensor is refused).
pub fn read(data: &[u8]) -> Result<Value> {
    read_with(data, &mut |_| Err(err("a tensor outside a torch.save archive")))
}

/// Reads a pickle; `persistent_load` resolves each storage a tensor refers to
/// (the same storage's key must give the same bytes each time).
pub fn read_with(data: &[u8], persistent_load: &mut PersistentLoad) -> Result<Value> {
    read_budgeted(data, 0, persistent_load)
}

/// [`read_with`], with `storage_bytes` (the bytes of the storages the pickle
/// may load) added to the output budget.
pub(crate) fn read_budgeted(data: &[u8], storage_bytes: u64, persistent_load: &mut PersistentLoad) -> Result<Value> {
    let mut r = Reader {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        arena: Vec::new(),
        strings: Default::default(),
        work: (data.len() as u64).saturating_mul(16).saturating_add(1 << 16),
        persistent_load,
    };
    let top = r.run()?;
    // Each output node costs about 64 bytes plus its text, each tensor its
    // elements' bytes: a shared object is copied (or a storage viewed) once
    // per reference, within this budget.
    let mut budget = (data.len() as u64).saturating_mul(64).saturating_add(16 << 20).saturating_add(storage_bytes);
    r.value(&top, 0, &mut budget)
}

impl Reader<'_, '_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(err(format!(
                "pickle ends early: {n} bytes declared at offset {} with {} left",
                self.pos,
                self.data.len() - self.pos
            )));
        };
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().take(1024).position(|&b| b == b'\n') else {
            return Err(err("GLOBAL without a newline within 1024 bytes"));
        };
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| err("GLOBAL name is not UTF-8"))?.to_string();
        self.pos += n + 1;
        Ok(s)
    }
    fn push_node(&mut self, n: Node) -> Obj {
        self.arena.push(n);
        Obj::Node(self.arena.len() - 1)
    }
    fn pop(&mut self) -> Result<Obj> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(err("pickle pops past a MARK"));
        }
        self.stack.pop().ok_or_else(|| err("pickle pops an empty stack"))
    }
    fn pop_mark(&mut self) -> Result<Vec<Obj>> {
        let m = self.marks.pop().ok_or_else(|| err("pickle has no MARK to pop to"))?;
        Ok(self.stack.split_off(m))
    }
    fn top_index(&self) -> Result<usize> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(err("pickle reads past a MARK"));
        }
        match self.stack.last() {
            Some(Obj::Node(i)) => Ok(*i),
            Some(_) | None => Err(err("pickle appends to something that is not a list or dict")),
        }
    }
    /// A str node; equal strings share one `Rc` (interned), so dict keys
    /// compare by pointer.
    fn str_obj(&mut self, s: String) -> Obj {
        let h = str_hash(&s);
        let rc = match self.strings.get(s.as_str()) {
            Some(rc) => rc.clone(),
            None => {
                let rc: Rc<str> = s.into();
                self.strings.insert(rc.clone());
                rc
            }
        };
        self.push_node(Node::Str(rc, h))
    }

    /// Charges `n` units of work (items copied by a `REDUCE`) to the budget.
    fn charge(&mut self, n: usize) -> Result<()> {
        self.work = self.work.checked_sub(n as u64).ok_or_else(|| err("pickle does more work than its size allows"))?;
        Ok(())
    }
    fn tuple(&mut self, items: Vec<Obj>) -> Obj {
        self.push_node(Node::Tuple(items))
    }
    fn new_dict(&mut self, kind: DictKind) -> Obj {
        self.push_node(Node::Dict(DictObj { kind, items: Vec::new(), index: HashMap::new(), attrs: None }))
    }

    fn key(&self, o: &Obj) -> Result<Key> {
        Ok(match o {
            Obj::None => Key::None,
            Obj::Bool(b) => Key::Int(*b as i64),
            Obj::Int(i) => Key::Int(*i),
            Obj::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Key::Int(*f as i64),
            Obj::Float(f) => Key::Float(f.to_bits()),
            Obj::Node(i) => match &self.arena[*i] {
                Node::Str(s, h) => Key::Str(s.clone(), *h),
                n => return Err(err(format!("a dict key of type {} is not supported", node_name(n)))),
            },
            Obj::Global(g) => return Err(err(format!("a dict key of type {g:?} is not supported"))),
        })
    }

    fn set_items(&mut self, dict: usize, pairs: Vec<Obj>) -> Result<()> {
        if !pairs.len().is_multiple_of(2) {
            return Err(err("SETITEMS with an odd number of items"));
        }
        let mut keys = Vec::with_capacity(pairs.len() / 2);
        for k in pairs.iter().step_by(2) {
            keys.push(self.key(k)?);
        }
        let Node::Dict(d) = &mut self.arena[dict] else {
            return Err(err(format!("SETITEM on a {}", node_name(&self.arena[dict]))));
        };
        let mut it = pairs.into_iter();
        for key in keys {
            let (k, v) = (it.next().unwrap(), it.next().unwrap());
            match d.index.get(&key) {
                Some(&at) => d.items[at].1 = v,
                None => {
                    d.index.insert(key, d.items.len());
                    d.items.push((k, v));
                }
            }
        }
        Ok(())
    }

    fn int_of(&self, o: &Obj, what: &str) -> Result<i64> {
        match o {
            Obj::Int(i) => Ok(*i),
            Obj::Bool(b) => Ok(*b as i64),
            _ => Err(err(format!("{what} must be an int"))),
        }
    }

    fn ints_of(&self, o: &Obj, what: &str) -> Result<Vec<i64>> {
        match o {
            Obj::Node(i) => match &self.arena[*i] {
                Node::Tuple(v) => v.iter().map(|x| self.int_of(x, what)).collect(),
                _ => Err(err(format!("{what} must be a tuple of ints"))),
            },
            _ => Err(err(format!("{what} must be a tuple of ints"))),
        }
    }

    fn empty_hooks(&self, o: &Obj) -> Result<()> {
        match o {
            Obj::Node(i) => match &self.arena[*i] {
                Node::Dict(d) if d.items.is_empty() => Ok(()),
                Node::Dict(_) => Err(err("a tensor with backward hooks is not supported")),
                n => Err(err(format!("a tensor's backward hooks must be an OrderedDict, not {}", node_name(n)))),
            },
            _ => Err(err("a tensor's backward hooks must be an OrderedDict")),
        }
    }

    fn reduce(&mut self, callable: Obj, args: Obj) -> Result<Obj> {
        let g = match callable {
            Obj::Global(g) => g,
            Obj::Node(i) => {
                return Err(err(format!(
                    "REDUCE on a {} that is not an allowlisted callable",
                    node_name(&self.arena[i])
                )))
            }
            _ => return Err(err("REDUCE on a value that is not an allowlisted callable")),
        };
        let args = match args {
            Obj::Node(i) => match &self.arena[i] {
                Node::Tuple(v) if v.len() <= 7 => v.clone(),
                Node::Tuple(v) => return Err(err(format!("REDUCE of {g:?} with {} arguments", v.len()))),
                n => return Err(err(format!("REDUCE's arguments must be a tuple, not {}", node_name(n)))),
            },
            _ => return Err(err("REDUCE's arguments must be a tuple")),
        };
        match g {
            Global::OrderedDict | Global::Counter => {
                let kind = if g == Global::Counter { DictKind::Counter } else { DictKind::Ordered };
                let out = self.new_dict(kind);
                let Obj::Node(at) = out else { unreachable!() };
                match args.as_slice() {
                    [] => {}
                    [Obj::Node(src)] => {
                        let n = match &self.arena[*src] {
                            Node::Dict(d) => d.items.len(),
                            Node::List(items) | Node::Tuple(items) => items.len(),
                            _ => 0,
                        };
                        self.charge(n)?;
                        let pairs: Vec<Obj> = match &self.arena[*src] {
                            Node::Dict(d) => d.items.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
                            Node::List(items) | Node::Tuple(items) => {
                                let mut pairs = Vec::new();
                                for item in items {
                                    match item {
                                        Obj::Node(p) => match &self.arena[*p] {
                                            Node::Tuple(kv) | Node::List(kv) if kv.len() == 2 => {
                                                pairs.extend(kv.iter().cloned())
                                            }
                                            _ => return Err(err(format!("{g:?} needs (key, value) pairs"))),
                                        },
                                        _ => return Err(err(format!("{g:?} needs (key, value) pairs"))),
                                    }
                                }
                                pairs
                            }
                            n => return Err(err(format!("{g:?} of a {}", node_name(n)))),
                        };
                        self.set_items(at, pairs)?;
                    }
                    [_] => return Err(err(format!("{g:?} of a value that is not a mapping or a list of pairs"))),
                    _ => return Err(err(format!("{g:?} takes at most one argument here"))),
                }
                Ok(out)
            }
            Global::RebuildTensorV2 => {
                if !(6..=7).contains(&args.len()) {
                    return Err(err(format!("_rebuild_tensor_v2 with {} arguments (6 or 7)", args.len())));
                }
                let (dtype, storage) = match &args[0] {
                    Obj::Node(i) => match &self.arena[*i] {
                        Node::Storage(d, s) => (*d, s.clone()),
                        n => return Err(err(format!("_rebuild_tensor_v2 of a {}, not a storage", node_name(n)))),
                    },
                    _ => return Err(err("_rebuild_tensor_v2 of a value that is not a storage")),
                };
                let offset = self.int_of(&args[1], "a tensor's storage offset")?;
                let shape = self.ints_of(&args[2], "a tensor's size")?;
                let strides = self.ints_of(&args[3], "a tensor's stride")?;
                let requires_grad = match args[4] {
                    Obj::Bool(b) => b,
                    _ => return Err(err("a tensor's requires_grad must be a bool")),
                };
                self.empty_hooks(&args[5])?;
                let t = TensorRecord::new(dtype, shape, strides, offset, storage, requires_grad)?;
                Ok(self.push_node(Node::Tensor(t)))
            }
            Global::RebuildParameter => {
                if args.len() != 3 {
                    return Err(err(format!("_rebuild_parameter with {} arguments (3)", args.len())));
                }
                let mut t = match &args[0] {
                    Obj::Node(i) => match &self.arena[*i] {
                        Node::Tensor(t) => t.clone(),
                        n => return Err(err(format!("_rebuild_parameter of a {}", node_name(n)))),
                    },
                    _ => return Err(err("_rebuild_parameter of a value that is not a tensor")),
                };
                t.requires_grad = match args[1] {
                    Obj::Bool(b) => b,
                    _ => return Err(err("a parameter's requires_grad must be a bool")),
                };
                self.empty_hooks(&args[2])?;
                Ok(self.push_node(Node::Tensor(t)))
            }
            Global::CodecsEncode => {
                let text = match args.as_slice() {
                    [Obj::Node(s), Obj::Node(e)] => match (&self.arena[*s], &self.arena[*e]) {
                        (Node::Str(s, _), Node::Str(e, _)) if &**e == "latin1" => s.clone(),
                        _ => return Err(err("_codecs.encode is allowed only as encode(str, 'latin1')")),
                    },
                    _ => return Err(err("_codecs.encode is allowed only as encode(str, 'latin1')")),
                };
                let bytes = text
                    .chars()
                    .map(|c| u8::try_from(c as u32).map_err(|_| err("_codecs.encode: a character beyond latin1")))
                    .collect::<Result<Vec<u8>>>()?;
                Ok(self.push_node(Node::Bytes(bytes)))
            }
            Global::Storage(d) => Err(err(format!("torch.{} called directly", d.storage_name()))),
        }
    }

    fn persistent(&mut self, pid: Obj) -> Result<Obj> {
        let parts = match &pid {
            Obj::Node(i) => match &self.arena[*i] {
                Node::Tuple(v) if v.len() == 5 => v.clone(),
                _ => return Err(err("a persistent id must be a tuple of 5")),
            },
            _ => return Err(err("a persistent id must be a tuple")),
        };
        let text = |o: &Obj| match o {
            Obj::Node(i) => match &self.arena[*i] {
                Node::Str(s, _) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        let (dtype, key, location, numel) = match parts.as_slice() {
            [tag, Obj::Global(Global::Storage(d)), key, loc, Obj::Int(n)]
                if text(tag).as_deref() == Some("storage") =>
            {
                match (text(key), text(loc)) {
                    (Some(k), Some(l)) if *n >= 0 => (*d, k, l, *n as u64),
                    _ => {
                        return Err(err(
                            "a persistent id must be ('storage', torch.<Type>Storage, key, location, numel)",
                        ))
                    }
                }
            }
            _ => return Err(err("a persistent id must be ('storage', torch.<Type>Storage, key, location, numel)")),
        };
        let sref = StorageRef { dtype, key, location, numel };
        let (dtype, bytes) = (self.persistent_load)(&sref)?;
        Ok(self.push_node(Node::Storage(dtype, bytes)))
    }

    fn long(&mut self, n: usize) -> Result<Obj> {
        let b = self.take(n)?.to_vec();
        if b.is_empty() {
            return Ok(Obj::Int(0));
        }
        let negative = b[n - 1] & 0x80 != 0;
        let fill = if negative { 0xff } else { 0 };
        if n > 8 && (b[8..].iter().any(|&x| x != fill) || (b[7] & 0x80 != 0) != negative) {
            return Err(err(format!("an int of {n} bytes beyond the 64-bit range")));
        }
        let mut v = [fill; 8];
        let k = n.min(8);
        v[..k].copy_from_slice(&b[..k]);
        Ok(Obj::Int(i64::from_le_bytes(v)))
    }

    fn run(&mut self) -> Result<Obj> {
        loop {
            let at = self.pos;
            let op = self.take(1).map_err(|_| err("pickle ends without STOP"))?[0];
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 2 {
                        return Err(err(format!("pickle protocol {p} (torch.save writes 2)")));
                    }
                }
                b'.' => {
                    let top = self.pop()?;
                    if !self.stack.is_empty() || !self.marks.is_empty() {
                        return Err(err("pickle stops with values left on its stack"));
                    }
                    return Ok(top);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.pop()?;
                    self.stack.push(top.clone());
                    self.stack.push(top);
                }
                b'N' => self.stack.push(Obj::None),
                0x88 => self.stack.push(Obj::Bool(true)),
                0x89 => self.stack.push(Obj::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                    self.stack.push(Obj::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Obj::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Obj::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let v = self.long(n)?;
                    self.stack.push(v);
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let v = self.long(n)?;
                    self.stack.push(v);
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.stack.push(Obj::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = std::str::from_utf8(self.take(n)?).map_err(|_| err("BINUNICODE is not UTF-8"))?.to_string();
                    let o = self.str_obj(s);
                    self.stack.push(o);
                }
                b']' => {
                    let o = self.push_node(Node::List(Vec::new()));
                    self.stack.push(o);
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let o = self.push_node(Node::List(items));
                    self.stack.push(o);
                }
                b'a' | b'e' => {
                    let items = if op == b'a' { vec![self.pop()?] } else { self.pop_mark()? };
                    let at = self.top_index()?;
                    match &mut self.arena[at] {
                        Node::List(v) => v.extend(items),
                        n => return Err(err(format!("APPEND to a {}", node_name(n)))),
                    }
                }
                b')' => {
                    let o = self.tuple(Vec::new());
                    self.stack.push(o);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let o = self.tuple(items);
                    self.stack.push(o);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let o = self.tuple(items);
                    self.stack.push(o);
                }
                b'}' => {
                    let o = self.new_dict(DictKind::Plain);
                    self.stack.push(o);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let o = self.new_dict(DictKind::Plain);
                    let Obj::Node(at) = o else { unreachable!() };
                    self.set_items(at, items)?;
                    self.stack.push(o);
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = self.pop()?;
                        let k = self.pop()?;
                        vec![k, v]
                    } else {
                        self.pop_mark()?
                    };
                    let at = self.top_index()?;
                    self.set_items(at, items)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let Some(g) = global(&module, &name) else {
                        return Err(err(format!(
                            "global {module}.{name} is not on the allowlist (collections.OrderedDict, collections.Counter, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, _codecs.encode, torch.*Storage)"
                        )));
                    };
                    self.stack.push(Obj::Global(g));
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let o = self.reduce(callable, args)?;
                    self.stack.push(o);
                }
                b'b' => {
                    let state = self.pop()?;
                    let at = self.top_index()?;
                    let ok = matches!(&state, Obj::Node(s) if matches!(&self.arena[*s], Node::Dict(d) if d.kind == DictKind::Plain));
                    match &mut self.arena[at] {
                        Node::Dict(d) if d.kind == DictKind::Ordered && ok && d.attrs.is_none() => {
                            d.attrs = Some(state)
                        }
                        n => {
                            return Err(err(format!("BUILD on a {} (only an OrderedDict, with a dict)", node_name(n))))
                        }
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let o = self.persistent(pid)?;
                    self.stack.push(o);
                }
                b'q' | b'r' => {
                    let i = if op == b'q' { self.u8()? as u32 } else { self.u32()? };
                    let top = self.stack.last().cloned().ok_or_else(|| err("PUT on an empty stack"))?;
                    self.memo.insert(i, top);
                }
                b'h' | b'j' => {
                    let i = if op == b'h' { self.u8()? as u32 } else { self.u32()? };
                    let o = self.memo.get(&i).cloned().ok_or_else(|| err(format!("GET of memo {i}, never PUT")))?;
                    self.stack.push(o);
                }
                _ => return Err(err(format!("pickle opcode 0x{op:02x} at offset {at} is not supported"))),
            }
        }
    }

    fn value(&self, o: &Obj, depth: usize, budget: &mut u64) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(err(format!("pickle nests deeper than {MAX_DEPTH} levels")));
        }
        let mut spend = |n: usize| {
            *budget = budget
                .checked_sub((n as u64).saturating_add(64))
                .ok_or_else(|| err("pickle expands beyond its size budget"))?;
            Ok::<(), Error>(())
        };
        spend(0)?;
        let pairs = |items: &[(Obj, Obj)], budget: &mut u64| -> Result<Vec<(Value, Value)>> {
            items
                .iter()
                .map(|(k, v)| Ok((self.value(k, depth + 1, budget)?, self.value(v, depth + 1, budget)?)))
                .collect()
        };
        Ok(match o {
            Obj::None => Value::None,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::Int(*i),
            Obj::Float(f) => Value::Float(*f),
            Obj::Global(g) => return Err(err(format!("a bare global {g:?} in the result"))),
            Obj::Node(i) => match &self.arena[*i] {
                Node::Str(s, _) => {
                    spend(s.len())?;
                    Value::Str(s.to_string())
                }
                Node::Bytes(b) => {
                    spend(b.len())?;
                    Value::Bytes(b.clone())
                }
                Node::List(v) => {
                    Value::List(v.iter().map(|x| self.value(x, depth + 1, budget)).collect::<Result<_>>()?)
                }
                Node::Tuple(v) => {
                    Value::Tuple(v.iter().map(|x| self.value(x, depth + 1, budget)).collect::<Result<_>>()?)
                }
                Node::Dict(d) => {
                    let items = pairs(&d.items, budget)?;
                    match d.kind {
                        DictKind::Plain => Value::Dict(items),
                        DictKind::Counter => Value::Counter(items),
                        DictKind::Ordered => {
                            let attrs = match &d.attrs {
                                Some(Obj::Node(a)) => match &self.arena[*a] {
                                    Node::Dict(ad) => pairs(&ad.items, budget)?,
                                    _ => Vec::new(),
                                },
                                _ => Vec::new(),
                            };
                            Value::OrderedDict { items, attrs }
                        }
                    }
                }
                Node::Storage(..) => return Err(err("a bare storage in the result")),
                Node::Tensor(t) => {
                    let bytes = (t.numel() as u64).saturating_mul(t.dtype.size() as u64);
                    spend(usize::try_from(bytes).unwrap_or(usize::MAX).saturating_add(t.shape.len() * 16))?;
                    Value::Tensor(t.clone())
                }
            },
        })
    }
}

fn node_name(n: &Node) -> &'static str {
    match n {
        Node::Str(..) => "str",
        Node::Bytes(_) => "bytes",
        Node::List(_) => "list",
        Node::Tuple(_) => "tuple",
        Node::Dict(d) => match d.kind {
            DictKind::Plain => "dict",
            DictKind::Ordered => "OrderedDict",
            DictKind::Counter => "Counter",
        },
        Node::Storage(..) => "storage",
        Node::Tensor(_) => "Tensor",
    }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/// Writes `value` as a protocol-2 pickle; each tensor's storage is written
/// through `storage_key`, which returns its record's key (the same storage,
/// the same key).
pub fn write_with(value: &Value, storage_key: &mut dyn FnMut(&TensorRecord) -> String) -> Result<Vec<u8>> {
    let mut out = vec![0x80, 2];
    write_value(&mut out, value, storage_key, 0)?;
    out.push(b'.');
    Ok(out)
}

/// Writes a pickle that holds no tensors (a tensor is refused).
pub fn write(value: &Value) -> Result<Vec<u8>> {
    let mut found = false;
    let out = write_with(value, &mut |_| {
        found = true;
        String::new()
    })?;
    if found {
        return Err(err("a tensor can be written only into a torch.save archive"));
    }
    Ok(out)
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    let n = u32::try_from(s.len()).map_err(|_| err("a string of 4 GiB or more"))?;
    out.push(b'X');
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn write_global(out: &mut Vec<u8>, module: &str, name: &str) {
    out.push(b'c');
    out.extend_from_slice(module.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
}

fn write_int(out: &mut Vec<u8>, i: i64) {
    if (0..256).contains(&i) {
        out.extend_from_slice(&[b'K', i as u8]);
    } else if (0..65536).contains(&i) {
        out.push(b'M');
        out.extend_from_slice(&(i as u16).to_le_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(b'J');
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        // The shortest two's-complement form, as LONG1.
        let b = i.to_le_bytes();
        let mut n = 8;
        while n > 1 {
            let drop = (b[n - 1] == 0 && b[n - 2] & 0x80 == 0) || (b[n - 1] == 0xff && b[n - 2] & 0x80 != 0);
            if !drop {
                break;
            }
            n -= 1;
        }
        out.extend_from_slice(&[0x8a, n as u8]);
        out.extend_from_slice(&b[..n]);
    }
}

fn write_ints_tuple(out: &mut Vec<u8>, v: &[i64]) {
    out.push(b'(');
    for &i in v {
        write_int(out, i);
    }
    out.push(b't');
}

fn write_items(
    out: &mut Vec<u8>,
    items: &[(Value, Value)],
    key: &mut dyn FnMut(&TensorRecord) -> String,
    depth: usize,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    out.push(b'(');
    for (k, v) in items {
        write_value(out, k, key, depth + 1)?;
        write_value(out, v, key, depth + 1)?;
    }
    out.push(b'u');
    Ok(())
}

fn write_value(
    out: &mut Vec<u8>,
    value: &Value,
    key: &mut dyn FnMut(&TensorRecord) -> String,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(err(format!("a value nested deeper than {MAX_DEPTH} levels")));
    }
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
        Value::Int(i) => write_int(out, *i),
        Value::Float(f) => {
            out.push(b'G');
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Str(s) => write_str(out, s)?,
        Value::Bytes(b) => {
            write_global(out, "_codecs", "encode");
            let text: String = b.iter().map(|&c| c as char).collect();
            write_str(out, &text)?;
            write_str(out, "latin1")?;
            out.extend_from_slice(&[0x86, b'R']);
        }
        Value::List(v) => {
            out.push(b']');
            if !v.is_empty() {
                out.push(b'(');
                for x in v {
                    write_value(out, x, key, depth + 1)?;
                }
                out.push(b'e');
            }
        }
        Value::Tuple(v) => {
            out.push(b'(');
            for x in v {
                write_value(out, x, key, depth + 1)?;
            }
            out.push(b't');
        }
        Value::Dict(items) => {
            out.push(b'}');
            write_items(out, items, key, depth)?;
        }
        Value::OrderedDict { items, attrs } => {
            write_global(out, "collections", "OrderedDict");
            out.extend_from_slice(b")R");
            if !attrs.is_empty() {
                out.push(b'}');
                write_items(out, attrs, key, depth)?;
                out.push(b'b');
            }
            write_items(out, items, key, depth)?;
        }
        Value::Counter(items) => {
            write_global(out, "collections", "Counter");
            out.push(b'}');
            write_items(out, items, key, depth)?;
            out.extend_from_slice(&[0x85, b'R']);
        }
        Value::Tensor(t) => {
            write_global(out, "torch._utils", "_rebuild_tensor_v2");
            out.extend_from_slice(b"((");
            write_str(out, "storage")?;
            write_global(out, "torch", t.dtype.storage_name());
            write_str(out, &key(t))?;
            write_str(out, "cpu")?;
            write_int(out, (t.storage.len() / t.dtype.size()) as i64);
            out.extend_from_slice(b"tQ");
            write_int(out, t.offset);
            write_ints_tuple(out, &t.shape);
            write_ints_tuple(out, &t.strides);
            out.push(if t.requires_grad { 0x88 } else { 0x89 });
            write_global(out, "collections", "OrderedDict");
            out.extend_from_slice(b")Rt");
            out.push(b'R');
        }
    }
    Ok(())
}
