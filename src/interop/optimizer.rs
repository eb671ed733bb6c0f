//! PyTorch's optimizer `state_dict()`, to and from tch-lr's: its
//! `param_groups` (each group's options) against [`ParamGroups`], and its
//! `state` (each parameter's tensors) against the owned optimizer's
//! ([`Optim::owned`](crate::Optim::owned)). [`state`](super::state) reads and
//! writes the groups beside a scheduler's state; the tensors are read and
//! written on their own ([`optimizer_state_from_pytorch`],
//! [`optimizer_state_to_pytorch`]).

use super::Value;
use crate::config::OptimizerConfig;
use crate::error::{Error, Result};
use crate::groups::{GroupKey, OptimizerKind, ParamGroups};

fn dict(items: Vec<(&str, Value)>) -> Value {
    Value::Dict(items.into_iter().map(|(k, v)| (Value::Str(k.into()), v)).collect())
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// PyTorch's class of a group, by its keys.
fn group_kind(g: &Value) -> Result<(OptimizerKind, &'static str)> {
    let has = |k| g.get(k).is_some();
    if has("nesterov") || has("dampening") {
        Ok((OptimizerKind::Sgd, "SGD"))
    } else if has("centered") || has("alpha") {
        Ok((OptimizerKind::RmsProp, "RMSprop"))
    } else if has("betas") {
        match g.get("decoupled_weight_decay") {
            Some(Value::Bool(true)) => Ok((OptimizerKind::AdamW, "AdamW")),
            _ => Ok((OptimizerKind::Adam, "Adam")),
        }
    } else {
        Err(Error::OptimizerState("the file's optimizer is none of SGD, Adam, AdamW, RMSprop".into()))
    }
}

const GROUP_KEYS: &[&str] = &[
    "params",
    "param_names",
    "lr",
    "momentum",
    "betas",
    "weight_decay",
    "dampening",
    "nesterov",
    "eps",
    "alpha",
    "centered",
    "amsgrad",
    "maximize",
    "foreach",
    "capturable",
    "differentiable",
    "fused",
    "decoupled_weight_decay",
    // DeepSpeed's FusedAdam and CPUAdam: bias correction on (checked) and
    // FusedAdam's step count, which its state has too.
    "bias_correction",
    "step",
    // Megatron-core's param groups (`_get_param_groups`): flags no schedule
    // reads (its `max_lr`, `min_lr`, `wd_mult`, ... are `GroupKey`s).
    "lr_mult",
    "is_decoupled_lr",
    "is_expert_parallel",
    "default_config",
];

pub(crate) fn read_groups(groups: &mut ParamGroups, opt: &Value) -> Result<()> {
    let bad = |m: String| Error::OptimizerState(m);
    let pg = opt.get("param_groups").ok_or_else(|| bad("the file's optimizer has no `param_groups`".into()))?;
    let Value::List(pg) = pg else {
        return Err(bad(format!("`param_groups` is a {}, not a list", pg.type_name())));
    };
    if pg.len() != groups.len() {
        return Err(bad(format!(
            "the file's optimizer has {} parameter group(s), this one has {}",
            pg.len(),
            groups.len()
        )));
    }
    let mine = groups.kind();
    for (i, g) in pg.iter().enumerate() {
        let (kind, class) = group_kind(g)?;
        let family = |k: OptimizerKind| if k == OptimizerKind::AdamW { OptimizerKind::Adam } else { k };
        let adam_without_flag = g.get("decoupled_weight_decay").is_none() && family(kind) == family(mine);
        if kind != mine && !adam_without_flag {
            return Err(bad(format!("the file's optimizer is {class}, this one is {}", mine.name())));
        }
        for (k, _) in g.items().unwrap_or(&[]) {
            let Value::Str(k) = k else { return Err(bad(format!("group {i} has a key that is not a string"))) };
            if !GROUP_KEYS.contains(&k.as_str()) && !GroupKey::ALL.iter().any(|g| g.name() == k) {
                return Err(bad(format!("group {i} has the key `{k}`, unknown to {class}")));
            }
        }
        if matches!(g.get("bias_correction"), Some(Value::Bool(false))) {
            return Err(Error::Unsupported(
                "the file's optimizer has `bias_correction=False` (DeepSpeed's Adam without it): tch-lr's Adam \
                 always corrects the bias"
                    .into(),
            ));
        }
        for flag in ["maximize", "capturable", "differentiable", "fused"] {
            if matches!(g.get(flag), Some(Value::Bool(true))) {
                return Err(Error::Unsupported(format!(
                    "the file's optimizer has `{flag}=True`, which libtorch's C++ optimizers lack"
                )));
            }
        }
        let what = |k: &str| format!("group {i} `{k}`");
        let f =
            |k: &str| g.get(k).map(|v| num(v).ok_or_else(|| bad(format!("{} is not a number", what(k))))).transpose();
        let dst = &mut groups.groups_mut()[i];
        dst.lr = f("lr")?.ok_or_else(|| bad(format!("group {i} has no `lr`")))?;
        if kind.uses_beta1() {
            match g.get("betas") {
                Some(Value::List(b) | Value::Tuple(b)) if b.len() == 2 => {
                    let n = |v| num(v).ok_or_else(|| bad(format!("{} is not a number", what("betas"))));
                    dst.momentum = n(&b[0])?;
                    // A beta2 the schedule sets (DeepSpeed's OneCycle) is the file's.
                    if dst.beta2.is_some() {
                        dst.beta2 = Some(n(&b[1])?);
                    }
                }
                _ => return Err(bad(format!("{} is not a pair", what("betas")))),
            }
        } else {
            dst.momentum = f("momentum")?.ok_or_else(|| bad(format!("group {i} has no `momentum`")))?;
        }
        if let Some(wd) = f("weight_decay")? {
            dst.weight_decay = wd;
        }
        for key in GroupKey::ALL {
            if let Some(v) = f(key.name())? {
                *dst.slot(key) = Some(v);
            }
        }
    }
    Ok(())
}

pub(crate) fn write_groups(groups: &ParamGroups, o: &OptimizerConfig, sizes: Option<&[usize]>) -> Vec<Value> {
    let kind = groups.kind();
    let f = Value::Float;
    let b = Value::Bool;
    groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut d: Vec<(&str, Value)> = vec![("lr", f(g.lr))];
            match kind {
                OptimizerKind::Sgd => {
                    d.push(("momentum", f(g.momentum)));
                    d.push(("dampening", f(o.dampening.unwrap_or(0.0))));
                    d.push(("weight_decay", f(g.weight_decay)));
                    d.push(("nesterov", b(o.nesterov.unwrap_or(false))));
                    d.push(("maximize", b(false)));
                    d.push(("foreach", Value::None));
                    d.push(("differentiable", b(false)));
                    d.push(("fused", Value::None));
                }
                OptimizerKind::Adam | OptimizerKind::AdamW => {
                    let beta2 = g.beta2.unwrap_or_else(|| o.betas.map_or(0.999, |b| b[1]));
                    d.push(("betas", Value::Tuple(vec![f(g.momentum), f(beta2)])));
                    d.push(("eps", f(o.eps.unwrap_or(1e-8))));
                    d.push(("weight_decay", f(g.weight_decay)));
                    d.push(("amsgrad", b(o.amsgrad.unwrap_or(false))));
                    d.push(("maximize", b(false)));
                    d.push(("foreach", Value::None));
                    d.push(("capturable", b(false)));
                    d.push(("differentiable", b(false)));
                    d.push(("fused", Value::None));
                    d.push(("decoupled_weight_decay", b(kind == OptimizerKind::AdamW)));
                }
                OptimizerKind::RmsProp => {
                    d.push(("momentum", f(g.momentum)));
                    d.push(("alpha", f(o.alpha.unwrap_or(0.99))));
                    d.push(("eps", f(o.eps.unwrap_or(1e-8))));
                    d.push(("centered", b(o.centered.unwrap_or(false))));
                    d.push(("weight_decay", f(g.weight_decay)));
                    d.push(("capturable", b(false)));
                    d.push(("foreach", Value::None));
                    d.push(("maximize", b(false)));
                    d.push(("differentiable", b(false)));
                }
            }
            for key in GroupKey::ALL {
                if let Some(v) = g.get(key) {
                    d.push((key.name(), f(v)));
                }
            }
            // PyTorch's parameter indices run on through the groups.
            let (first, n) = match sizes {
                Some(sizes) => (sizes[..i].iter().sum::<usize>(), sizes.get(i).copied().unwrap_or(0)),
                None => (i, 1),
            };
            d.push(("params", Value::List((first..first + n).map(|p| Value::Int(p as i64)).collect())));
            dict(d)
        })
        .collect()
}

/// Loads PyTorch's `optimizer.state_dict()["state"]` (`state`: a dict from
/// PyTorch's integer parameter index, in group order, to the parameter's
/// state tensors) into the owned optimizer `opt`: SGD's `momentum_buffer`;
/// Adam's and AdamW's `step`, `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`;
/// RMSprop's `step`, `square_avg`, `momentum_buffer`, `grad_avg`. A
/// `momentum_buffer` of `None` (SGD without momentum) is no state.
///
/// # Errors
/// [`Error::Unsupported`] for tch's optimizer; [`Error::OptimizerState`] in
/// one line for a state that is not such a dict, an unknown index or key, a
/// tensor of another shape or dtype than its parameter, or a step that is not
/// a whole number: nothing is then loaded.
pub fn optimizer_state_from_pytorch(opt: &mut crate::Optim, state: &Value) -> Result<()> {
    let bad = |m: String| Error::OptimizerState(m);
    let items =
        state.items().ok_or_else(|| bad(format!("the optimizer's state is a {}, not a dict", state.type_name())))?;
    let mut all = Vec::with_capacity(items.len());
    for (k, v) in items {
        let index = match k {
            Value::Int(i) if *i >= 0 => *i as usize,
            _ => {
                return Err(bad(format!("the optimizer's state is keyed by {}, not a parameter index", k.type_name())))
            }
        };
        let entries = v
            .items()
            .ok_or_else(|| bad(format!("the state of parameter {index} is a {}, not a dict", v.type_name())))?;
        let mut tensors = Vec::with_capacity(entries.len());
        for (name, t) in entries {
            let Value::Str(name) = name else {
                return Err(bad(format!("the state of parameter {index} has a {} key", name.type_name())));
            };
            match t {
                Value::None if name == "momentum_buffer" => {}
                Value::Tensor(t) => tensors.push((name.clone(), super::torch_file::to_tch(t)?)),
                // PyTorch before 1.12 saved the step as a number.
                Value::Int(_) | Value::Float(_) if name == "step" => {
                    tensors.push((name.clone(), tch::Tensor::from(num(t).unwrap_or(f64::NAN) as f32)))
                }
                _ => return Err(bad(format!("the state's {name} of parameter {index} is a {}", t.type_name()))),
            }
        }
        if !tensors.is_empty() {
            all.push((index, tensors));
        }
    }
    opt.load_state_tensors(&all)
}

/// The owned optimizer's per-parameter state as PyTorch's
/// `optimizer.state_dict()["state"]` (see [`optimizer_state_from_pytorch`]),
/// which `optimizer.load_state_dict` accepts.
///
/// # Errors
/// [`Error::Unsupported`] for tch's optimizer; [`Error::OptimizerState`] when
/// libtorch fails or a step is beyond float32's whole numbers.
pub fn optimizer_state_to_pytorch(opt: &crate::Optim) -> Result<Value> {
    let mut out = Vec::new();
    for (index, tensors) in opt.state_tensors()? {
        let entries = tensors
            .iter()
            .map(|(name, t)| Ok((Value::Str(name.clone()), Value::Tensor(super::torch_file::from_tch(t)?))))
            .collect::<Result<Vec<_>>>()?;
        out.push((Value::Int(index as i64), Value::Dict(entries)));
    }
    Ok(Value::Dict(out))
}
