//! The objects a pickle builds while it runs: scalars inline, everything else
//! a node of a flat arena, which the memo shares as Python's does.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use super::allowlist::{Global, Record};
use crate::error::{Error, Result};
use crate::interop::storage::Storage;
use crate::interop::tensor::{DType, TensorRecord};

/// A value on the stack or in the memo: scalars inline, everything else an
/// index into the arena.
#[derive(Debug, Clone)]
pub(super) enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Global(Global),
    Node(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DictKind {
    Plain,
    Ordered,
    Counter,
}

#[derive(Debug)]
pub(super) struct DictObj {
    pub(super) kind: DictKind,
    pub(super) items: Vec<(Obj, Obj)>,
    index: HashMap<Key, usize>,
    /// The attributes a `BUILD` gave an `OrderedDict` (a plain dict).
    pub(super) attrs: Option<Obj>,
}

#[derive(Debug)]
pub(super) enum Node {
    Str(Rc<str>, u64),
    Bytes(Vec<u8>),
    List(Vec<Obj>),
    Tuple(Vec<Obj>),
    Dict(DictObj),
    Storage(DType, Storage),
    Tensor(TensorRecord),
    /// An instance of a class read as a record, with the attributes (a
    /// plain dict) its `BUILD` gave it.
    Object(Record, Option<Obj>),
    /// A NumPy array (`_reconstruct`), with what its `BUILD` gave it.
    NdArray(Option<NdArrayState>),
    /// A NumPy dtype: its `descr` (`u4`), then, once its `BUILD` ran, its
    /// byte order and `descr` (`<u4`, NumPy's `dtype.str`).
    Dtype(Rc<str>, Option<Rc<str>>),
}

/// What `BUILD` gives a NumPy array.
#[derive(Debug)]
pub(super) struct NdArrayState {
    pub(super) dtype: Rc<str>,
    pub(super) shape: Vec<i64>,
    pub(super) fortran_order: bool,
    pub(super) data: Vec<u8>,
}

impl Node {
    /// Python's name of its type, for messages.
    pub(super) fn name(&self) -> &'static str {
        match self {
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
            Node::Object(r, _) => r.class(),
            Node::NdArray(_) => "numpy.ndarray",
            Node::Dtype(..) => "numpy.dtype",
        }
    }
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

fn refuse(msg: String) -> Error {
    Error::torch_file(msg)
}

/// The nodes, and the strings interned so far.
#[derive(Default)]
pub(super) struct Arena {
    nodes: Vec<Node>,
    strings: HashSet<Rc<str>>,
}

impl Arena {
    pub(super) fn push(&mut self, n: Node) -> Obj {
        self.nodes.push(n);
        Obj::Node(self.nodes.len() - 1)
    }

    pub(super) fn get(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub(super) fn get_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    /// A str node; equal strings share one `Rc` (interned), so dict keys
    /// compare by pointer.
    pub(super) fn str_obj(&mut self, s: &str) -> Obj {
        let h = str_hash(s);
        let rc = match self.strings.get(s) {
            Some(rc) => rc.clone(),
            None => {
                let rc: Rc<str> = s.into();
                self.strings.insert(rc.clone());
                rc
            }
        };
        self.push(Node::Str(rc, h))
    }

    pub(super) fn new_dict(&mut self, kind: DictKind) -> usize {
        self.nodes.push(Node::Dict(DictObj { kind, items: Vec::new(), index: HashMap::new(), attrs: None }));
        self.nodes.len() - 1
    }

    fn key(&self, o: &Obj) -> Result<Key> {
        Ok(match o {
            Obj::None => Key::None,
            Obj::Bool(b) => Key::Int(*b as i64),
            Obj::Int(i) => Key::Int(*i),
            Obj::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Key::Int(*f as i64),
            Obj::Float(f) => Key::Float(f.to_bits()),
            Obj::Node(i) => match self.get(*i) {
                Node::Str(s, h) => Key::Str(s.clone(), *h),
                n => return Err(refuse(format!("a dict key of type {} is not supported", n.name()))),
            },
            Obj::Global(g) => return Err(refuse(format!("a dict key of type {g:?} is not supported"))),
        })
    }

    /// Sets each `key, value` of `pairs` in the dict `dict`, as Python's
    /// `d[key] = value` (a key set again keeps its place).
    pub(super) fn set_items(&mut self, dict: usize, pairs: Vec<Obj>) -> Result<()> {
        if !pairs.len().is_multiple_of(2) {
            return Err(refuse("SETITEMS with an odd number of items".into()));
        }
        let keys = pairs.iter().step_by(2).map(|k| self.key(k)).collect::<Result<Vec<_>>>()?;
        let Node::Dict(d) = &mut self.nodes[dict] else {
            return Err(refuse(format!("SETITEM on a {}", self.nodes[dict].name())));
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
}
