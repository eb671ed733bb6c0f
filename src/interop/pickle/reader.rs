//! The pickle machine: reads opcodes, keeps the stack, marks and memo, and
//! dispatches each opcode to its rule. The globals' rules (`REDUCE`, `BUILD`,
//! persistent ids) are in [`super::reduce`]; the result becomes a [`Value`]
//! tree in [`super::tree`].

use std::collections::HashMap;

use super::allowlist;
use super::arena::{Arena, DictKind, Node, Obj};
use super::limits::{MAX_GLOBAL_LINE, OUTPUT_BASE, OUTPUT_PER_BYTE, WORK_BASE, WORK_PER_BYTE};
use super::opcode::Opcode;
use super::tree;
use crate::error::{Error, Result};
use crate::interop::storage::Storage;
use crate::interop::tensor::{DType, StorageRef};
use crate::interop::value::Value;

/// Resolves a storage's persistent id to its element type and storage.
pub type PersistentLoad<'a> = dyn FnMut(&StorageRef) -> Result<(DType, Storage)> + 'a;

/// Reads a pickle that holds no tensors (a tensor is refused).
pub fn read(data: &[u8]) -> Result<Value> {
    read_with(data, &mut |_| Err(Error::torch_file("a tensor outside a torch.save archive")))
}

/// Reads a pickle; `persistent_load` resolves each storage a tensor refers to
/// (the same storage's key must give the same storage each time).
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
        arena: Arena::default(),
        work: (data.len() as u64).saturating_mul(WORK_PER_BYTE).saturating_add(WORK_BASE),
        persistent_load,
    };
    let top = r.run()?;
    let mut budget =
        (data.len() as u64).saturating_mul(OUTPUT_PER_BYTE).saturating_add(OUTPUT_BASE).saturating_add(storage_bytes);
    tree::value(&r.arena, &top, 0, &mut budget)
}

pub(super) fn refuse(msg: impl AsRef<str>) -> Error {
    Error::torch_file(msg)
}

pub(super) struct Reader<'a, 'f> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Obj>,
    marks: Vec<usize>,
    memo: HashMap<u32, Obj>,
    pub(super) arena: Arena,
    /// What `REDUCE`s may still copy ([`WORK_PER_BYTE`]).
    pub(super) work: u64,
    pub(super) persistent_load: &'f mut PersistentLoad<'f>,
}

impl<'a> Reader<'a, '_> {
    /// Runs the pickle to its `STOP`: its value.
    fn run(&mut self) -> Result<Obj> {
        loop {
            let at = self.pos;
            let byte = self.take(1).map_err(|_| refuse("pickle ends without STOP"))?[0];
            let op = Opcode::try_from(byte).map_err(|b| {
                refuse(format!("pickle opcode 0x{b:02x} at offset {at} is not supported (no such opcode)"))
            })?;
            if op == Opcode::Stop {
                return self.stop();
            }
            self.step(op, at)?;
        }
    }

    /// Runs one opcode (not `STOP`).
    fn step(&mut self, op: Opcode, at: usize) -> Result<()> {
        use Opcode as O;
        match op {
            O::Proto => self.proto(),
            O::Mark => self.mark(),
            O::Pop => self.pop().map(drop),
            O::PopMark => self.pop_mark().map(drop),
            O::Dup => self.dup(),
            O::None => self.push(Obj::None),
            O::NewTrue => self.push(Obj::Bool(true)),
            O::NewFalse => self.push(Obj::Bool(false)),
            O::BinInt => self.int(|b: [u8; 4]| i32::from_le_bytes(b).into()),
            O::BinInt1 => self.int(|b: [u8; 1]| b[0].into()),
            O::BinInt2 => self.int(|b: [u8; 2]| u16::from_le_bytes(b).into()),
            O::Long1 => self.long(|b: [u8; 1]| b[0].into()),
            O::Long4 => self.long(|b: [u8; 4]| u32::from_le_bytes(b) as usize),
            O::BinFloat => self.float(),
            O::BinUnicode => self.bin_unicode(),
            O::EmptyList => self.push_node(Node::List(Vec::new())),
            O::List => self.list_of_mark(),
            O::Append => self.append_top(),
            O::Appends => self.append_mark(),
            O::EmptyTuple => self.push_node(Node::Tuple(Vec::new())),
            O::Tuple => self.tuple_of_mark(),
            O::Tuple1 => self.tuple_of_top(1),
            O::Tuple2 => self.tuple_of_top(2),
            O::Tuple3 => self.tuple_of_top(3),
            O::EmptyDict => self.empty_dict(),
            O::Dict => self.dict_of_mark(),
            O::SetItem => self.set_item(),
            O::SetItems => self.set_items_of_mark(),
            O::Global => self.global(),
            O::Reduce => self.reduce_top(),
            O::NewObj => self.new_obj_top(),
            O::Build => self.build_top(),
            O::BinPersId => self.persistent_top(),
            O::BinPut => self.put(|b: [u8; 1]| b[0].into()),
            O::LongBinPut => self.put(u32::from_le_bytes),
            O::BinGet => self.get(|b: [u8; 1]| b[0].into()),
            O::LongBinGet => self.get(u32::from_le_bytes),
            other => Err(refuse(format!(
                "pickle opcode 0x{:02x} ({}, protocol {}) at offset {at} is not supported",
                other as u8,
                other.name(),
                other.protocol()
            ))),
        }
    }
}

// Reading the pickle's bytes.
impl<'a> Reader<'a, '_> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(refuse(format!(
                "pickle ends early: {n} bytes declared at offset {} with {} left",
                self.pos,
                self.data.len() - self.pos
            )));
        };
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take gives N bytes"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// A `GLOBAL`'s module or name: a line of text.
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().take(MAX_GLOBAL_LINE).position(|&b| b == b'\n') else {
            return Err(refuse(format!("GLOBAL without a newline within {MAX_GLOBAL_LINE} bytes")));
        };
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| refuse("GLOBAL name is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }
}

// The opcodes' rules.
impl Reader<'_, '_> {
    fn proto(&mut self) -> Result<()> {
        let p = self.u8()?;
        if p > 2 {
            return Err(refuse(format!("pickle protocol {p} (torch.save writes 2)")));
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<Obj> {
        let top = self.pop()?;
        if !self.stack.is_empty() || !self.marks.is_empty() {
            return Err(refuse("pickle stops with values left on its stack"));
        }
        Ok(top)
    }

    fn mark(&mut self) -> Result<()> {
        self.marks.push(self.stack.len());
        Ok(())
    }

    fn dup(&mut self) -> Result<()> {
        let top = self.pop()?;
        self.stack.push(top.clone());
        self.push(top)
    }

    /// `BININT*`: an int of `N` bytes.
    fn int<const N: usize>(&mut self, value: fn([u8; N]) -> i64) -> Result<()> {
        let v = value(self.array()?);
        self.push(Obj::Int(v))
    }

    fn float(&mut self) -> Result<()> {
        let v = f64::from_be_bytes(self.array()?);
        self.push(Obj::Float(v))
    }

    /// `LONG1`/`LONG4`: a little-endian two's-complement int whose length
    /// takes `N` bytes, refused beyond `i64`.
    fn long<const N: usize>(&mut self, len: fn([u8; N]) -> usize) -> Result<()> {
        let n = len(self.array()?);
        let b = self.take(n)?;
        let Some(&last) = b.last() else { return self.push(Obj::Int(0)) };
        let negative = last & 0x80 != 0;
        let fill = if negative { 0xff } else { 0 };
        if n > 8 && (b[8..].iter().any(|&x| x != fill) || (b[7] & 0x80 != 0) != negative) {
            return Err(refuse(format!("an int of {n} bytes beyond the 64-bit range")));
        }
        let mut v = [fill; 8];
        let k = n.min(8);
        v[..k].copy_from_slice(&b[..k]);
        self.push(Obj::Int(i64::from_le_bytes(v)))
    }

    fn bin_unicode(&mut self) -> Result<()> {
        let n = u32::from_le_bytes(self.array()?) as usize;
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| refuse("BINUNICODE is not UTF-8"))?;
        let o = self.arena.str_obj(s);
        self.push(o)
    }

    fn list_of_mark(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        self.push_node(Node::List(items))
    }

    fn append_top(&mut self) -> Result<()> {
        let item = self.pop()?;
        self.append(vec![item])
    }

    fn append_mark(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        self.append(items)
    }

    fn append(&mut self, items: Vec<Obj>) -> Result<()> {
        let at = self.top_index()?;
        match self.arena.get_mut(at) {
            Node::List(v) => {
                v.extend(items);
                Ok(())
            }
            n => Err(refuse(format!("APPEND to a {}", n.name()))),
        }
    }

    fn tuple_of_mark(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        self.push_node(Node::Tuple(items))
    }

    fn tuple_of_top(&mut self, n: usize) -> Result<()> {
        let mut items = (0..n).map(|_| self.pop()).collect::<Result<Vec<_>>>()?;
        items.reverse();
        self.push_node(Node::Tuple(items))
    }

    fn empty_dict(&mut self) -> Result<()> {
        let at = self.arena.new_dict(DictKind::Plain);
        self.push(Obj::Node(at))
    }

    fn dict_of_mark(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        let at = self.arena.new_dict(DictKind::Plain);
        self.arena.set_items(at, items)?;
        self.push(Obj::Node(at))
    }

    fn set_item(&mut self) -> Result<()> {
        let v = self.pop()?;
        let k = self.pop()?;
        let at = self.top_index()?;
        self.arena.set_items(at, vec![k, v])
    }

    fn set_items_of_mark(&mut self) -> Result<()> {
        let items = self.pop_mark()?;
        let at = self.top_index()?;
        self.arena.set_items(at, items)
    }

    fn global(&mut self) -> Result<()> {
        let module = self.line()?;
        let name = self.line()?;
        let g = allowlist::lookup(module, name).ok_or_else(|| allowlist::refusal(module, name))?;
        self.push(Obj::Global(g))
    }

    fn reduce_top(&mut self) -> Result<()> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let o = self.reduce(callable, args)?;
        self.push(o)
    }

    fn new_obj_top(&mut self) -> Result<()> {
        let args = self.pop()?;
        let class = self.pop()?;
        let o = self.new_obj(class, args)?;
        self.push(o)
    }

    fn build_top(&mut self) -> Result<()> {
        let state = self.pop()?;
        let target = self.top_index()?;
        self.build(target, state)
    }

    fn persistent_top(&mut self) -> Result<()> {
        let pid = self.pop()?;
        let o = self.persistent(pid)?;
        self.push(o)
    }

    /// `BINPUT`/`LONG_BINPUT`: the top of the stack into the memo.
    fn put<const N: usize>(&mut self, index: fn([u8; N]) -> u32) -> Result<()> {
        let i = index(self.array()?);
        let top = self.stack.last().cloned().ok_or_else(|| refuse("PUT on an empty stack"))?;
        self.memo.insert(i, top);
        Ok(())
    }

    /// `BINGET`/`LONG_BINGET`: a memo entry onto the stack.
    fn get<const N: usize>(&mut self, index: fn([u8; N]) -> u32) -> Result<()> {
        let i = index(self.array()?);
        let o = self.memo.get(&i).cloned().ok_or_else(|| refuse(format!("GET of memo {i}, never PUT")))?;
        self.push(o)
    }
}

// The stack.
impl Reader<'_, '_> {
    fn push(&mut self, o: Obj) -> Result<()> {
        self.stack.push(o);
        Ok(())
    }

    fn push_node(&mut self, n: Node) -> Result<()> {
        let o = self.arena.push(n);
        self.push(o)
    }

    pub(super) fn pop(&mut self) -> Result<Obj> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(refuse("pickle pops past a MARK"));
        }
        self.stack.pop().ok_or_else(|| refuse("pickle pops an empty stack"))
    }

    fn pop_mark(&mut self) -> Result<Vec<Obj>> {
        let m = self.marks.pop().ok_or_else(|| refuse("pickle has no MARK to pop to"))?;
        Ok(self.stack.split_off(m))
    }

    /// The arena index of the top of the stack (a list or dict to add to).
    fn top_index(&self) -> Result<usize> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(refuse("pickle reads past a MARK"));
        }
        match self.stack.last() {
            Some(Obj::Node(i)) => Ok(*i),
            Some(_) | None => Err(refuse("pickle appends to something that is not a list or dict")),
        }
    }
}
