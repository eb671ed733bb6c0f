//! The arena's objects as a [`Value`] tree, within a depth and an output
//! budget: a shared (memoised) object is copied once per reference, so the
//! budget bounds what a small pickle can expand to.

use super::arena::{Arena, DictKind, DictObj, Node, Obj};
use super::limits::{DIM_COST, MAX_DEPTH, NODE_COST};
use crate::error::{Error, Result};
use crate::interop::value::Value;

/// `o` as a value, `depth` levels down, charging `budget` for what it copies.
pub(super) fn value(arena: &Arena, o: &Obj, depth: usize, budget: &mut u64) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::torch_file(format!("pickle nests deeper than {MAX_DEPTH} levels")));
    }
    spend(budget, 0)?;
    Ok(match o {
        Obj::None => Value::None,
        Obj::Bool(b) => Value::Bool(*b),
        Obj::Int(i) => Value::Int(*i),
        Obj::Float(f) => Value::Float(*f),
        Obj::Global(g) => return Err(Error::torch_file(format!("a bare global {g:?} in the result"))),
        Obj::Node(i) => node(arena, arena.get(*i), depth, budget)?,
    })
}

/// Charges one node and `n` bytes.
fn spend(budget: &mut u64, n: usize) -> Result<()> {
    *budget = budget
        .checked_sub((n as u64).saturating_add(NODE_COST))
        .ok_or_else(|| Error::torch_file("pickle expands beyond its size budget"))?;
    Ok(())
}

fn node(arena: &Arena, n: &Node, depth: usize, budget: &mut u64) -> Result<Value> {
    let all = |v: &[Obj], budget: &mut u64| v.iter().map(|x| value(arena, x, depth + 1, budget)).collect::<Result<_>>();
    Ok(match n {
        Node::Str(s, _) => {
            spend(budget, s.len())?;
            Value::Str(s.to_string())
        }
        Node::Bytes(b) => {
            spend(budget, b.len())?;
            Value::Bytes(b.clone())
        }
        Node::List(v) => Value::List(all(v, budget)?),
        Node::Tuple(v) => Value::Tuple(all(v, budget)?),
        Node::Dict(d) => dict(arena, d, depth, budget)?,
        Node::Storage(..) => return Err(Error::torch_file("a bare storage in the result")),
        Node::Object(r, attrs) => {
            let mut fields = Vec::new();
            if let Some(Obj::Node(a)) = attrs
                && let Node::Dict(d) = arena.get(*a)
            {
                for (k, v) in &d.items {
                    let Value::Str(k) = value(arena, k, depth + 1, budget)? else {
                        return Err(Error::torch_file(format!("a {} attribute whose name is not a str", r.class())));
                    };
                    fields.push((k, value(arena, v, depth + 1, budget)?));
                }
            }
            Value::Object { class: r.class(), fields }
        }
        Node::NdArray(None) => return Err(Error::torch_file("a numpy.ndarray that no BUILD filled")),
        Node::NdArray(Some(a)) => {
            spend(budget, a.data.len().saturating_add(a.shape.len() * DIM_COST))?;
            let fields = vec![
                ("dtype".to_string(), Value::Str(a.dtype.to_string())),
                ("shape".to_string(), Value::Tuple(a.shape.iter().map(|&d| Value::Int(d)).collect())),
                ("fortran_order".to_string(), Value::Bool(a.fortran_order)),
                ("data".to_string(), Value::Bytes(a.data.clone())),
            ];
            Value::Object { class: "numpy.ndarray", fields }
        }
        Node::Dtype(short, full) => {
            let descr = full.as_ref().unwrap_or(short);
            spend(budget, descr.len())?;
            Value::Object { class: "numpy.dtype", fields: vec![("descr".to_string(), Value::Str(descr.to_string()))] }
        }
        Node::Tensor(t) => {
            // Its elements, as if expanded: a stride-0 view of a billion
            // elements over a small storage is refused here.
            let bytes = (t.numel() as u64).saturating_mul(t.dtype().size() as u64);
            spend(budget, usize::try_from(bytes).unwrap_or(usize::MAX).saturating_add(t.shape().len() * DIM_COST))?;
            Value::Tensor(t.clone())
        }
    })
}

fn dict(arena: &Arena, d: &DictObj, depth: usize, budget: &mut u64) -> Result<Value> {
    let pairs = |items: &[(Obj, Obj)], budget: &mut u64| -> Result<Vec<(Value, Value)>> {
        items
            .iter()
            .map(|(k, v)| Ok((value(arena, k, depth + 1, budget)?, value(arena, v, depth + 1, budget)?)))
            .collect()
    };
    let items = pairs(&d.items, budget)?;
    Ok(match d.kind {
        DictKind::Plain => Value::Dict(items),
        DictKind::Counter => Value::Counter(items),
        DictKind::Ordered => {
            let attrs = match &d.attrs {
                Some(Obj::Node(a)) => match arena.get(*a) {
                    Node::Dict(ad) => pairs(&ad.items, budget)?,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            Value::OrderedDict { items, attrs }
        }
    })
}
