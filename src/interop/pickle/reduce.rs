//! The fixed rule of each allowlisted global ([`super::allowlist`]): what a
//! `REDUCE` of it builds, what `BUILD` may set, and how a persistent id
//! names a storage. Nothing is called.

use super::allowlist::{Global, Record, RecordForm};
use super::arena::{DictKind, NdArrayState, Node, Obj};
use super::limits::MAX_REDUCE_ARGS;
use super::reader::{refuse, Reader};
use crate::error::Result;
use crate::interop::tensor::{StorageRef, TensorRecord};

impl Reader<'_, '_> {
    /// `REDUCE`: `callable(*args)`, for an allowlisted `callable` only.
    pub(super) fn reduce(&mut self, callable: Obj, args: Obj) -> Result<Obj> {
        let g = match callable {
            Obj::Global(g) => g,
            Obj::Node(i) => {
                return Err(refuse(format!(
                    "REDUCE on a {} that is not an allowlisted callable",
                    self.arena.get(i).name()
                )))
            }
            _ => return Err(refuse("REDUCE on a value that is not an allowlisted callable")),
        };
        let args = match args {
            Obj::Node(i) => match self.arena.get(i) {
                Node::Tuple(v) if v.len() <= MAX_REDUCE_ARGS => v.clone(),
                Node::Tuple(v) => return Err(refuse(format!("REDUCE of {g:?} with {} arguments", v.len()))),
                n => return Err(refuse(format!("REDUCE's arguments must be a tuple, not {}", n.name()))),
            },
            _ => return Err(refuse("REDUCE's arguments must be a tuple")),
        };
        match g {
            Global::OrderedDict => self.mapping(g, DictKind::Ordered, &args),
            Global::Counter => self.mapping(g, DictKind::Counter, &args),
            Global::RebuildTensorV2 => self.rebuild_tensor(&args),
            Global::RebuildParameter => self.rebuild_parameter(&args),
            Global::CodecsEncode => self.codecs_encode(&args),
            Global::Size => self.size(&args),
            Global::Storage(d) => Err(refuse(format!("torch.{} called directly", d.storage_name()))),
            Global::Record(r) => self.record_call(r, &args),
            Global::NdArray => self.nd_array(&args),
            Global::NumpyDtype => self.numpy_dtype(&args),
            Global::NdArrayClass => Err(refuse("numpy.ndarray called directly (only _reconstruct takes it)")),
        }
    }

    /// `REDUCE` of a record's class: an enum with its one str or int value
    /// (`{value}`), or `torch.device(type[, index])` (`{type, index}`);
    /// never a call. A class read by `NEWOBJ` then `BUILD` is refused here.
    fn record_call(&mut self, r: Record, args: &[Obj]) -> Result<Obj> {
        let is_str = |o: &Obj| matches!(o, Obj::Node(i) if matches!(self.arena.get(*i), Node::Str(..)));
        let fields: Vec<(&str, Obj)> = match (r.form(), args) {
            (RecordForm::Enum, [v @ Obj::Int(_)]) => vec![("value", v.clone())],
            (RecordForm::Enum, [v]) if is_str(v) => vec![("value", v.clone())],
            (RecordForm::Enum, _) => {
                return Err(refuse(format!("{} is an enum, read only as a call with one str or int", r.class())))
            }
            (RecordForm::Device, [t]) if is_str(t) => vec![("type", t.clone()), ("index", Obj::None)],
            (RecordForm::Device, [t, i @ Obj::Int(_)]) if is_str(t) => vec![("type", t.clone()), ("index", i.clone())],
            (RecordForm::Device, _) => {
                return Err(refuse("torch.device is read only as device(type) or device(type, index)"))
            }
            (RecordForm::Build, _) => return Err(record_only(r)),
        };
        let at = self.arena.new_dict(DictKind::Plain);
        let mut pairs = Vec::with_capacity(fields.len() * 2);
        for (k, v) in fields {
            pairs.push(self.arena.str_obj(k));
            pairs.push(v);
        }
        self.arena.set_items(at, pairs)?;
        Ok(self.arena.push(Node::Object(r, Some(Obj::Node(at)))))
    }

    /// `_reconstruct(numpy.ndarray, (0,), b'b')`: an array that `BUILD` fills.
    fn nd_array(&mut self, args: &[Obj]) -> Result<Obj> {
        match args {
            [Obj::Global(Global::NdArrayClass), Obj::Node(_), Obj::Node(_)] => Ok(self.arena.push(Node::NdArray(None))),
            _ => Err(refuse("numpy's _reconstruct is read only as _reconstruct(numpy.ndarray, shape, typecode)")),
        }
    }

    /// `numpy.dtype(descr, align, copy)`: its `descr`.
    fn numpy_dtype(&mut self, args: &[Obj]) -> Result<Obj> {
        let descr = match args {
            [Obj::Node(d), Obj::Bool(_), Obj::Bool(_)] => match self.arena.get(*d) {
                Node::Str(s, _) => s.clone(),
                _ => return Err(refuse("numpy.dtype's descr must be a str")),
            },
            _ => return Err(refuse("numpy.dtype is read only as dtype(descr, align, copy)")),
        };
        Ok(self.arena.push(Node::Dtype(descr, None)))
    }

    /// `BUILD` on a NumPy array: `(version, shape, dtype, fortran_order,
    /// raw bytes)`, the bytes exactly the elements' (an array of Python
    /// objects, whose state is a list, is refused).
    fn build_nd_array(&self, state: &Obj) -> Result<NdArrayState> {
        let bad = || refuse("numpy.ndarray's BUILD takes (version, shape, dtype, fortran_order, bytes)");
        let Obj::Node(s) = state else { return Err(bad()) };
        let Node::Tuple(parts) = self.arena.get(*s) else { return Err(bad()) };
        let [Obj::Int(_), shape, Obj::Node(dtype), Obj::Bool(fortran_order), Obj::Node(data)] = parts.as_slice() else {
            return Err(bad());
        };
        let shape = self.ints_of(shape, "a numpy array's shape")?;
        let Node::Dtype(_, Some(descr)) = self.arena.get(*dtype) else { return Err(bad()) };
        let data = match self.arena.get(*data) {
            Node::Bytes(b) => b.clone(),
            Node::List(_) => return Err(refuse("an array of Python objects (numpy dtype object) is not read")),
            _ => return Err(bad()),
        };
        let size: u64 =
            descr.trim_start_matches(['<', '>', '|', '=']).get(1..).and_then(|n| n.parse().ok()).unwrap_or(0);
        let numel = shape.iter().try_fold(1u64, |n, &d| u64::try_from(d).ok().and_then(|d| n.checked_mul(d)));
        if size == 0 || numel.and_then(|n| n.checked_mul(size)) != Some(data.len() as u64) {
            return Err(refuse(format!(
                "a numpy array of dtype {descr} and shape {shape:?} with {} bytes of data",
                data.len()
            )));
        }
        Ok(NdArrayState { dtype: descr.clone(), shape, fortran_order: *fortran_order, data })
    }

    /// `NEWOBJ`: `cls.__new__(cls, *args)`, for a class read as a record
    /// only, with no arguments: an empty record, which `BUILD` fills.
    pub(super) fn new_obj(&mut self, class: Obj, args: Obj) -> Result<Obj> {
        let Obj::Global(Global::Record(r)) = class else {
            return Err(refuse("NEWOBJ of something that is not a class read as a record"));
        };
        if r.form() != RecordForm::Build {
            return Err(refuse(format!("NEWOBJ of {}, which is read only as a call of its class", r.class())));
        }
        match args {
            Obj::Node(i) if matches!(self.arena.get(i), Node::Tuple(v) if v.is_empty()) => {}
            _ => return Err(record_only(r)),
        }
        Ok(self.arena.push(Node::Object(r, None)))
    }

    /// `BUILD` on `target` with `state`: only an `OrderedDict`'s attributes
    /// or a record's (a plain dict; a record's keys str), once.
    pub(super) fn build(&mut self, target: usize, state: Obj) -> Result<()> {
        let dict = match &state {
            Obj::Node(s) => match self.arena.get(*s) {
                Node::Dict(d) if d.kind == DictKind::Plain => Some(d),
                _ => None,
            },
            _ => None,
        };
        let ok = dict.is_some();
        let str_keys = dict.is_some_and(|d| {
            d.items.iter().all(|(k, _)| matches!(k, Obj::Node(i) if matches!(self.arena.get(*i), Node::Str(..))))
        });
        if matches!(self.arena.get(target), Node::NdArray(None)) {
            let built = self.build_nd_array(&state)?;
            if let Node::NdArray(slot) = self.arena.get_mut(target) {
                *slot = Some(built);
            }
            return Ok(());
        }
        // A dtype's state: (version, byte order, ...).
        let order = match &state {
            Obj::Node(s) => match self.arena.get(*s) {
                Node::Tuple(t) => match t.get(1) {
                    Some(Obj::Node(o)) => match self.arena.get(*o) {
                        Node::Str(o, _) if matches!(&**o, "<" | ">" | "|" | "=") => Some(o.clone()),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        match self.arena.get_mut(target) {
            Node::Dtype(descr, built @ None) if order.is_some() => {
                let order = order.unwrap_or_default();
                *built = Some(format!("{order}{descr}").into());
                Ok(())
            }
            Node::Dict(d) if d.kind == DictKind::Ordered && ok && d.attrs.is_none() => {
                d.attrs = Some(state);
                Ok(())
            }
            Node::Object(_, attrs @ None) if str_keys => {
                *attrs = Some(state);
                Ok(())
            }
            Node::Object(r, _) => Err(refuse(format!(
                "BUILD on a {} with {} (a record takes one dict of its attributes, str keys)",
                r.class(),
                if ok { "a second dict, or keys that are not str" } else { "something that is not a dict" }
            ))),
            n => Err(refuse(format!(
                "BUILD on a {} (only an OrderedDict or a record, with a dict; a numpy array or dtype once, with a tuple)",
                n.name()
            ))),
        }
    }

    /// `OrderedDict(...)` / `Counter(...)`: empty, or the items of a mapping
    /// or of `(key, value)` pairs, within the work budget.
    fn mapping(&mut self, g: Global, kind: DictKind, args: &[Obj]) -> Result<Obj> {
        let at = self.arena.new_dict(kind);
        match args {
            [] => {}
            [Obj::Node(src)] => {
                let pairs = self.pairs_of(g, *src)?;
                self.arena.set_items(at, pairs)?;
            }
            [_] => return Err(refuse(format!("{g:?} of a value that is not a mapping or a list of pairs"))),
            _ => return Err(refuse(format!("{g:?} takes at most one argument here"))),
        }
        Ok(Obj::Node(at))
    }

    /// The keys and values, in turn, of the mapping or list of pairs `src`.
    fn pairs_of(&mut self, g: Global, src: usize) -> Result<Vec<Obj>> {
        let n = match self.arena.get(src) {
            Node::Dict(d) => d.items.len(),
            Node::List(items) | Node::Tuple(items) => items.len(),
            _ => 0,
        };
        self.work =
            self.work.checked_sub(n as u64).ok_or_else(|| refuse("pickle does more work than its size allows"))?;
        match self.arena.get(src) {
            Node::Dict(d) => Ok(d.items.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect()),
            Node::List(items) | Node::Tuple(items) => {
                let mut pairs = Vec::with_capacity(items.len() * 2);
                for item in items {
                    match item {
                        Obj::Node(p) => match self.arena.get(*p) {
                            Node::Tuple(kv) | Node::List(kv) if kv.len() == 2 => pairs.extend(kv.iter().cloned()),
                            _ => return Err(refuse(format!("{g:?} needs (key, value) pairs"))),
                        },
                        _ => return Err(refuse(format!("{g:?} needs (key, value) pairs"))),
                    }
                }
                Ok(pairs)
            }
            n => Err(refuse(format!("{g:?} of a {}", n.name()))),
        }
    }

    /// `torch.Size((d0, d1, ...))`: the tuple of ints itself.
    fn size(&mut self, args: &[Obj]) -> Result<Obj> {
        match args {
            [dims] => {
                self.ints_of(dims, "a torch.Size")?;
                Ok(dims.clone())
            }
            _ => Err(refuse(format!("torch.Size with {} arguments (1: a tuple of ints)", args.len()))),
        }
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    fn rebuild_tensor(&mut self, args: &[Obj]) -> Result<Obj> {
        if !(6..=7).contains(&args.len()) {
            return Err(refuse(format!("_rebuild_tensor_v2 with {} arguments (6 or 7)", args.len())));
        }
        let (dtype, storage) = match &args[0] {
            Obj::Node(i) => match self.arena.get(*i) {
                Node::Storage(d, s) => (*d, s.clone()),
                n => return Err(refuse(format!("_rebuild_tensor_v2 of a {}, not a storage", n.name()))),
            },
            _ => return Err(refuse("_rebuild_tensor_v2 of a value that is not a storage")),
        };
        let offset = int_of(&args[1], "a tensor's storage offset")?;
        let shape = self.ints_of(&args[2], "a tensor's size")?;
        let strides = self.ints_of(&args[3], "a tensor's stride")?;
        let Obj::Bool(requires_grad) = args[4] else {
            return Err(refuse("a tensor's requires_grad must be a bool"));
        };
        self.empty_hooks(&args[5])?;
        let t = TensorRecord::new(dtype, shape, strides, offset, storage, requires_grad)?;
        Ok(self.arena.push(Node::Tensor(t)))
    }

    /// `_rebuild_parameter(tensor, requires_grad, hooks)`.
    fn rebuild_parameter(&mut self, args: &[Obj]) -> Result<Obj> {
        if args.len() != 3 {
            return Err(refuse(format!("_rebuild_parameter with {} arguments (3)", args.len())));
        }
        let mut t = match &args[0] {
            Obj::Node(i) => match self.arena.get(*i) {
                Node::Tensor(t) => t.clone(),
                n => return Err(refuse(format!("_rebuild_parameter of a {}", n.name()))),
            },
            _ => return Err(refuse("_rebuild_parameter of a value that is not a tensor")),
        };
        let Obj::Bool(requires_grad) = args[1] else {
            return Err(refuse("a parameter's requires_grad must be a bool"));
        };
        t.requires_grad = requires_grad;
        self.empty_hooks(&args[2])?;
        Ok(self.arena.push(Node::Tensor(t)))
    }

    /// `_codecs.encode(str, "latin1")`: `bytes`.
    fn codecs_encode(&mut self, args: &[Obj]) -> Result<Obj> {
        let only = || refuse("_codecs.encode is allowed only as encode(str, 'latin1')");
        let text = match args {
            [Obj::Node(s), Obj::Node(e)] => match (self.arena.get(*s), self.arena.get(*e)) {
                (Node::Str(s, _), Node::Str(e, _)) if &**e == "latin1" => s.clone(),
                _ => return Err(only()),
            },
            _ => return Err(only()),
        };
        let bytes = text
            .chars()
            .map(|c| u8::try_from(c as u32).map_err(|_| refuse("_codecs.encode: a character beyond latin1")))
            .collect::<Result<Vec<u8>>>()?;
        Ok(self.arena.push(Node::Bytes(bytes)))
    }

    /// `BINPERSID`: `("storage", torch.<Type>Storage, key, location, numel)`,
    /// resolved by the caller's persistent load.
    pub(super) fn persistent(&mut self, pid: Obj) -> Result<Obj> {
        let form = || refuse("a persistent id must be ('storage', torch.<Type>Storage, key, location, numel)");
        let parts = match &pid {
            Obj::Node(i) => match self.arena.get(*i) {
                Node::Tuple(v) if v.len() == 5 => v.clone(),
                _ => return Err(refuse("a persistent id must be a tuple of 5")),
            },
            _ => return Err(refuse("a persistent id must be a tuple")),
        };
        let sref = match parts.as_slice() {
            [tag, Obj::Global(Global::Storage(d)), key, loc, Obj::Int(n)] if self.text(tag) == Some("storage") => {
                match (self.text(key), self.text(loc)) {
                    (Some(k), Some(l)) if *n >= 0 => {
                        StorageRef { dtype: *d, key: k.to_string(), location: l.to_string(), numel: *n as u64 }
                    }
                    _ => return Err(form()),
                }
            }
            _ => return Err(form()),
        };
        let (dtype, storage) = (self.persistent_load)(&sref)?;
        Ok(self.arena.push(Node::Storage(dtype, storage)))
    }

    /// The text of a str node.
    fn text(&self, o: &Obj) -> Option<&str> {
        match o {
            Obj::Node(i) => match self.arena.get(*i) {
                Node::Str(s, _) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    fn ints_of(&self, o: &Obj, what: &str) -> Result<Vec<i64>> {
        match o {
            Obj::Node(i) => match self.arena.get(*i) {
                Node::Tuple(v) => v.iter().map(|x| int_of(x, what)).collect(),
                _ => Err(refuse(format!("{what} must be a tuple of ints"))),
            },
            _ => Err(refuse(format!("{what} must be a tuple of ints"))),
        }
    }

    fn empty_hooks(&self, o: &Obj) -> Result<()> {
        match o {
            Obj::Node(i) => match self.arena.get(*i) {
                Node::Dict(d) if d.items.is_empty() => Ok(()),
                Node::Dict(_) => Err(refuse("a tensor with backward hooks is not supported")),
                n => Err(refuse(format!("a tensor's backward hooks must be an OrderedDict, not {}", n.name()))),
            },
            _ => Err(refuse("a tensor's backward hooks must be an OrderedDict")),
        }
    }
}

fn int_of(o: &Obj, what: &str) -> Result<i64> {
    match o {
        Obj::Int(i) => Ok(*i),
        Obj::Bool(b) => Ok(*b as i64),
        _ => Err(refuse(format!("{what} must be an int"))),
    }
}

/// The refusal of a record's class used otherwise than `NEWOBJ` with no
/// arguments, then `BUILD`.
fn record_only(r: Record) -> crate::error::Error {
    refuse(format!(
        "{} is read as a record only (NEWOBJ with no arguments, then BUILD with its attributes), never called",
        r.class()
    ))
}
