//! The pickle writer: a [`Value`] as protocol 2, with the opcodes and globals
//! `torch.save` writes, so that `torch.load(f, weights_only=True)` accepts it.

use super::allowlist::{self, Global};
use super::limits::MAX_DEPTH;
use super::opcode::Opcode;
use crate::error::{Error, Result};
use crate::interop::tensor::TensorRecord;
use crate::interop::value::Value;

/// Writes `value` as a protocol-2 pickle; each tensor's storage is written
/// through `storage_key`, which returns its record's key (the same storage,
/// the same key).
pub fn write_with(value: &Value, storage_key: &mut dyn FnMut(&TensorRecord) -> String) -> Result<Vec<u8>> {
    let mut w = Writer { out: Vec::new(), storage_key };
    w.op(Opcode::Proto);
    w.out.push(2);
    w.value(value, 0)?;
    w.op(Opcode::Stop);
    Ok(w.out)
}

/// Writes a pickle that holds no tensors (a tensor is refused).
pub fn write(value: &Value) -> Result<Vec<u8>> {
    let mut found = false;
    let out = write_with(value, &mut |_| {
        found = true;
        String::new()
    })?;
    if found {
        return Err(Error::torch_file("a tensor can be written only into a torch.save archive"));
    }
    Ok(out)
}

struct Writer<'k> {
    out: Vec<u8>,
    storage_key: &'k mut dyn FnMut(&TensorRecord) -> String,
}

impl Writer<'_> {
    fn op(&mut self, op: Opcode) {
        self.out.push(op as u8);
    }

    fn ops(&mut self, ops: &[Opcode]) {
        self.out.extend(ops.iter().map(|&op| op as u8));
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::torch_file(format!("a value nested deeper than {MAX_DEPTH} levels")));
        }
        match value {
            Value::None => self.op(Opcode::None),
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => self.int(*i),
            Value::Float(f) => {
                self.op(Opcode::BinFloat);
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            Value::Str(s) => self.str(s)?,
            Value::Bytes(b) => self.bytes(b)?,
            Value::List(v) => self.list(v, depth)?,
            Value::Tuple(v) => {
                self.op(Opcode::Mark);
                v.iter().try_for_each(|x| self.value(x, depth + 1))?;
                self.op(Opcode::Tuple);
            }
            Value::Dict(items) => {
                self.op(Opcode::EmptyDict);
                self.items(items, depth)?;
            }
            Value::OrderedDict { items, attrs } => self.ordered_dict(items, attrs, depth)?,
            Value::Counter(items) => {
                self.global(Global::Counter);
                self.op(Opcode::EmptyDict);
                self.items(items, depth)?;
                self.ops(&[Opcode::Tuple1, Opcode::Reduce]);
            }
            Value::Tensor(t) => self.tensor(t)?,
            Value::Object { class, .. } => {
                return Err(Error::torch_file(format!("a {class} record is read, never written")));
            }
        }
        Ok(())
    }

    fn bool(&mut self, b: bool) {
        self.op(if b { Opcode::NewTrue } else { Opcode::NewFalse });
    }

    fn int(&mut self, i: i64) {
        if let Ok(v) = u8::try_from(i) {
            self.op(Opcode::BinInt1);
            self.out.push(v);
        } else if let Ok(v) = u16::try_from(i) {
            self.op(Opcode::BinInt2);
            self.out.extend_from_slice(&v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(i) {
            self.op(Opcode::BinInt);
            self.out.extend_from_slice(&v.to_le_bytes());
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
            self.op(Opcode::Long1);
            self.out.push(n as u8);
            self.out.extend_from_slice(&b[..n]);
        }
    }

    fn str(&mut self, s: &str) -> Result<()> {
        let n = u32::try_from(s.len()).map_err(|_| Error::torch_file("a string of 4 GiB or more"))?;
        self.op(Opcode::BinUnicode);
        self.out.extend_from_slice(&n.to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// `bytes`, as protocol 2 pickles them: `_codecs.encode(str, "latin1")`.
    fn bytes(&mut self, b: &[u8]) -> Result<()> {
        self.global(Global::CodecsEncode);
        let text: String = b.iter().map(|&c| c as char).collect();
        self.str(&text)?;
        self.str("latin1")?;
        self.ops(&[Opcode::Tuple2, Opcode::Reduce]);
        Ok(())
    }

    fn global(&mut self, g: Global) {
        let (module, name) = allowlist::names(g);
        self.op(Opcode::Global);
        for line in [module, name] {
            self.out.extend_from_slice(line.as_bytes());
            self.out.push(b'\n');
        }
    }

    fn list(&mut self, v: &[Value], depth: usize) -> Result<()> {
        self.op(Opcode::EmptyList);
        if !v.is_empty() {
            self.op(Opcode::Mark);
            v.iter().try_for_each(|x| self.value(x, depth + 1))?;
            self.op(Opcode::Appends);
        }
        Ok(())
    }

    /// The items of the dict on the stack, set with one `SETITEMS`.
    fn items(&mut self, items: &[(Value, Value)], depth: usize) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.op(Opcode::Mark);
        for (k, v) in items {
            self.value(k, depth + 1)?;
            self.value(v, depth + 1)?;
        }
        self.op(Opcode::SetItems);
        Ok(())
    }

    fn ordered_dict(&mut self, items: &[(Value, Value)], attrs: &[(Value, Value)], depth: usize) -> Result<()> {
        self.global(Global::OrderedDict);
        self.ops(&[Opcode::EmptyTuple, Opcode::Reduce]);
        if !attrs.is_empty() {
            self.op(Opcode::EmptyDict);
            self.items(attrs, depth)?;
            self.op(Opcode::Build);
        }
        self.items(items, depth)
    }

    fn ints_tuple(&mut self, v: &[i64]) {
        self.op(Opcode::Mark);
        v.iter().for_each(|&i| self.int(i));
        self.op(Opcode::Tuple);
    }

    /// `_rebuild_tensor_v2((storage pid), offset, size, stride, requires_grad, OrderedDict())`.
    fn tensor(&mut self, t: &TensorRecord) -> Result<()> {
        self.global(Global::RebuildTensorV2);
        self.ops(&[Opcode::Mark, Opcode::Mark]);
        self.str("storage")?;
        self.global(Global::Storage(t.dtype()));
        let key = (self.storage_key)(t);
        self.str(&key)?;
        self.str("cpu")?;
        self.int((t.storage().len() / t.dtype().size()) as i64);
        self.ops(&[Opcode::Tuple, Opcode::BinPersId]);
        self.int(t.offset());
        self.ints_tuple(t.shape());
        self.ints_tuple(t.strides());
        self.bool(t.requires_grad);
        self.global(Global::OrderedDict);
        self.ops(&[Opcode::EmptyTuple, Opcode::Reduce, Opcode::Tuple, Opcode::Reduce]);
        Ok(())
    }
}
