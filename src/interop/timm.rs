//! A timm checkpoint (`last.pth.tar`, `checkpoint-N.pth.tar`, `model_best.pth.tar`): the
//! `torch.save` of timm's `CheckpointSaver`, a dict of `epoch`, `arch`, `state_dict`,
//! `optimizer`, `version`, `args` (the argparse Namespace, a record) and `metric`. It
//! holds no scheduler state: timm's train.py resumes at `epoch + 1` and calls
//! `step(epoch + 1)` (`step_update((epoch + 1) * updates_per_epoch)` per update) on a
//! schedule built on the loaded optimizer, whose groups' `initial_lr` are its base LRs.
//! Only `epoch`, `arch` and the optimizer's `param_groups` are read; the tensors stay
//! on disk.

use super::Value;
use crate::error::{Error, Result};

/// What a timm checkpoint holds for tch-lr.
#[derive(Clone, Debug, PartialEq)]
pub struct TimmCheckpoint {
    /// The last epoch the run finished (0-based).
    pub epoch: i64,
    /// The model's name (`arch`), when a string.
    pub arch: Option<String>,
    /// Each optimizer group's base LR (`initial_lr`, else `lr`).
    pub base_lrs: Vec<f64>,
}

/// Whether `file` (a loaded `torch.save`) is timm's checkpoint: a dict with `epoch`,
/// `state_dict` and `optimizer`, and no `scheduler` (a PyTorch run's file).
pub fn is_checkpoint(file: &Value) -> bool {
    file.items().is_some()
        && ["epoch", "state_dict", "optimizer"].iter().all(|k| file.get(k).is_some())
        && file.get("scheduler").is_none()
}

/// Reads the checkpoint in `file`.
///
/// # Errors
/// [`Error::State`] in one line: an `epoch` that is not an integer of 0 or more, an
/// `optimizer` without `param_groups` (saved without it), a group without a numeric
/// `lr`.
pub fn read(file: &Value) -> Result<TimmCheckpoint> {
    let epoch = match file.get("epoch") {
        Some(Value::Int(e)) if *e >= 0 => *e,
        Some(v) => return Err(Error::State(format!("timm checkpoint: `epoch` is a {}, not an epoch", v.type_name()))),
        None => return Err(Error::State("timm checkpoint: no `epoch`".into())),
    };
    let arch = match file.get("arch") {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let Some(Value::List(groups)) = file.get("optimizer").and_then(|o| o.get("param_groups")) else {
        return Err(Error::State("timm checkpoint: its `optimizer` has no `param_groups` list".into()));
    };
    let number = |v: Option<&Value>| match v {
        Some(Value::Float(f)) if f.is_finite() => Some(*f),
        Some(Value::Int(i)) => Some(*i as f64),
        _ => None,
    };
    let base_lrs = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            number(g.get("initial_lr")).or_else(|| number(g.get("lr"))).ok_or_else(|| {
                Error::State(format!(
                    "timm checkpoint: optimizer param_groups[{i}] has no numeric `initial_lr` or `lr`"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TimmCheckpoint { epoch, arch, base_lrs })
}
