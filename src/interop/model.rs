//! A model's weights as PyTorch's `model.state_dict()`: the `VarStore`'s
//! variables by name, as PyTorch names a module's parameters and buffers
//! (tch joins path components with `.`, as PyTorch does, and its layers name
//! their variables as PyTorch's: `weight`, `bias`, `running_mean`,
//! `running_var`). A model built under the same names loads a PyTorch
//! `state_dict` and writes one PyTorch's `model.load_state_dict` accepts.
//!
//! ```
//! use tch::{nn, Device};
//! use tch_lr::interop::model;
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let _fc = nn::linear(vs.root() / "fc", 4, 2, Default::default());
//! let sd = model::state_dict(&vs)?; // OrderedDict {"fc.bias": .., "fc.weight": ..}
//! let mut twin = nn::VarStore::new(Device::Cpu);
//! let _fc = nn::linear(twin.root() / "fc", 4, 2, Default::default());
//! model::load_state_dict(&mut twin, &sd, &[])?;
//! let weight = |vs: &nn::VarStore| vs.variables()["fc.weight"].shallow_clone();
//! assert!(weight(&twin).equal(&weight(&vs)));
//! # Ok::<(), tch_lr::Error>(())
//! ```

use std::collections::BTreeMap;

use tch::nn::VarStore;
use tch::Tensor;

use super::torch_file::{from_tch, to_tch};
use super::Value;
use crate::error::{Error, Result};

/// How many names a message lists before "and N more".
const LISTED: usize = 4;

fn bad(message: String) -> Error {
    Error::ModelState(message)
}

/// The first names of `names`, quoted, and how many more.
pub(crate) fn listed<S: AsRef<str>>(names: &[S]) -> String {
    let quoted = names.iter().take(LISTED).map(|n| format!("`{}`", n.as_ref()));
    let mut s = quoted.collect::<Vec<_>>().join(", ");
    if names.len() > LISTED {
        s += &format!(" and {} more", names.len() - LISTED);
    }
    s
}

/// The body of a strict load's refusal: `<missing_word> ..; <unexpected_word>
/// ..` (each list as [`listed`] writes it, an empty one left out), or `None`
/// when both lists are empty.
pub(crate) fn names_differ<M: AsRef<str>, U: AsRef<str>>(
    (missing_word, missing): (&str, &[M]),
    (unexpected_word, unexpected): (&str, &[U]),
) -> Option<String> {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("{missing_word} {}", listed(missing)));
    }
    if !unexpected.is_empty() {
        parts.push(format!("{unexpected_word} {}", listed(unexpected)));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Loads PyTorch's `model.state_dict()` (`state_dict`: a dict or
/// `OrderedDict` of name → tensor, as [`torch_file::load`](super::torch_file::load)
/// reads it) into the variables of `vs` with the same names, as PyTorch's
/// `load_state_dict(strict=True)`: every variable must be there with its
/// shape and dtype, and every entry must be a variable, but for entries
/// whose last name component is in `ignore` (for example
/// `num_batches_tracked`, a counter PyTorch's BatchNorm keeps and tch's does
/// not). Values are copied onto each variable's device.
///
/// # Errors
/// [`Error::ModelState`] in one line naming the missing, unexpected or
/// mismatched entries; everything is checked before anything is copied, so
/// on error `vs` is unchanged.
pub fn load_state_dict(vs: &mut VarStore, state_dict: &Value, ignore: &[&str]) -> Result<()> {
    let items = state_dict
        .items()
        .ok_or_else(|| bad(format!("a model's state_dict is a dict of tensors, not a {}", state_dict.type_name())))?;
    let variables = vs.variables();
    let mut entries = BTreeMap::new();
    let mut unexpected = Vec::new();
    for (k, v) in items {
        let Value::Str(name) = k else {
            return Err(bad(format!("a model's state_dict has a {} key, not a name", k.type_name())));
        };
        let Value::Tensor(record) = v else {
            return Err(bad(format!("`{name}` is a {}, not a tensor", v.type_name())));
        };
        if variables.contains_key(name) {
            if entries.insert(name.as_str(), record).is_some() {
                return Err(bad(format!("`{name}` is in the state_dict twice")));
            }
        } else if !ignore.contains(&name.rsplit('.').next().unwrap_or(name)) {
            unexpected.push(name.as_str());
        }
    }
    let mut missing: Vec<&str> = variables.keys().map(String::as_str).filter(|n| !entries.contains_key(n)).collect();
    missing.sort_unstable();
    if let Some(differ) = names_differ(("missing", &missing), ("unexpected", &unexpected)) {
        return Err(bad(format!("the state_dict does not fit the model: {differ}")));
    }
    let mut values = Vec::with_capacity(entries.len());
    for (name, record) in entries {
        let var = &variables[name];
        let value = to_tch(record)?;
        if value.size() != var.size() || value.kind() != var.kind() {
            return Err(bad(format!(
                "`{name}` is {:?}{:?} in the state_dict, {:?}{:?} in the model",
                value.kind(),
                value.size(),
                var.kind(),
                var.size()
            )));
        }
        values.push((var.shallow_clone(), value));
    }
    tch::no_grad(|| -> Result<()> {
        for (mut var, value) in values {
            var.f_copy_(&value)?;
        }
        Ok(())
    })
}

/// The names of the trainable variables of `vs` in the order an owned
/// optimizer over them numbers its parameters (group 0's, then group 1's,
/// ..., each group in the order the variables were created): the indices of
/// `optimizer.state_dict()["state"]` that
/// [`optimizer_state_from_pytorch`](super::state::optimizer_state_from_pytorch)
/// maps. PyTorch numbers its parameters in its `param_groups`' order (for one
/// group over `model.parameters()`, the modules' registration order): the
/// two must agree for the state to land on the right parameters. Check it
/// against the `state_dict`'s order when the model registers its modules in
/// its groups' order.
pub fn optimizer_order(vs: &VarStore) -> Vec<String> {
    let vars = vs.variables_.lock().unwrap_or_else(|e| e.into_inner());
    let names: std::collections::HashMap<usize, &String> =
        vars.named_variables.iter().map(|(n, t)| (t.data_ptr() as usize, n)).collect();
    let mut order: Vec<(usize, String)> = vars
        .trainable_variables
        .iter()
        .map(|v| (v.group, names.get(&(v.tensor.data_ptr() as usize)).map_or_else(String::new, |n| (*n).clone())))
        .collect();
    order.sort_by_key(|(group, _)| *group);
    order.into_iter().map(|(_, n)| n).collect()
}

/// The variables of `vs` as PyTorch's `model.state_dict()`: an `OrderedDict`
/// of name → tensor (copied to the CPU), in name order, which PyTorch's
/// `model.load_state_dict` accepts for a module of the same names (add what
/// tch does not keep, such as BatchNorm's `num_batches_tracked`, to its
/// items). Write it with [`torch_file::save`](super::torch_file::save).
///
/// # Errors
/// [`Error::TorchFile`] for a variable of a kind a `torch.save` file cannot
/// hold; [`Error::Tch`] when libtorch fails to copy.
pub fn state_dict(vs: &VarStore) -> Result<Value> {
    let variables: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let items = variables
        .iter()
        .map(|(name, t)| {
            let mut record = from_tch(t)?;
            // A state_dict holds detached tensors.
            record.requires_grad = false;
            Ok((Value::Str(name.clone()), Value::Tensor(record)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::OrderedDict { items, attrs: vec![] })
}
