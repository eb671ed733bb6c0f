//! A Megatron-LM checkpoint (`--ckpt-format torch`):
//! `<save>/iter_XXXXXXX/mp_rank_00/model_optim_rng.pt`, what Megatron-LM's
//! `save_checkpoint` writes, so that `tch-lr trace CONFIG --resume-from
//! <save>/iter_0001000/mp_rank_00/model_optim_rng.pt` (or the `iter_0001000`
//! folder, or `<save>` with its `latest_checkpointed_iteration.txt`) shows
//! what the run's LR and weight decay do next.
//!
//! The file is a `torch.save` of Megatron-LM's `generate_state_dict`: `args`
//! (the run's `argparse.Namespace`, read as a record: see [the
//! allowlist](super)), `checkpoint_version`, `iteration`, `model`,
//! `optimizer`, `opt_param_scheduler` (before Megatron-LM's renames:
//! `lr_scheduler`), `rng_state` and `num_floating_point_operations_so_far`.
//! It is read with [`torch_file::load`]: the pickle whole, the tensors'
//! bytes (the model's weights, the optimizer's moments) never. Only the
//! scheduler's state and the optimizer's `param_groups` are taken; the
//! schedule's arguments come from the tch-lr config, which the state must
//! match (Megatron's load rules, [`crate::megatron`]).
//!
//! The optimizer is Megatron's `state_dict()`: torch's own (FP32), or
//! `{"optimizer": torch's, ...}` (mixed precision, the distributed
//! optimizer's common part). A `ChainedOptimizer`'s list of optimizers, and
//! the `torch_dist` format (`common.pt` and shards), are refused in one line.

use std::path::{Path, PathBuf};

use super::{torch_file, Value};
use crate::error::{Error, Result};

/// The file in a checkpoint folder (`iter_XXXXXXX/`) for tensor-parallel rank 0
/// without pipeline parallelism.
pub const RANK_FILE: &str = "mp_rank_00/model_optim_rng.pt";

/// The marker Megatron-LM writes beside its `iter_*` folders.
pub const TRACKER: &str = "latest_checkpointed_iteration.txt";

/// What a Megatron-LM checkpoint holds for tch-lr.
#[derive(Clone, Debug, PartialEq)]
pub struct MegatronCheckpoint {
    /// The file read.
    pub file: PathBuf,
    /// `{"optimizer": <torch's param_groups>, "scheduler": <opt_param_scheduler>}`,
    /// as [`state::from_pytorch`](super::state::from_pytorch) takes it.
    pub state: Value,
    /// `iteration`: the updates the run had made.
    pub iteration: Option<i64>,
    /// The class of `args` (`argparse.Namespace`), when it is a record.
    pub args_class: Option<&'static str>,
    /// Of `args`, the arguments in [`ARGS_READ`] it has (name, value), in
    /// its order; nothing else of it is kept.
    pub args: Vec<(String, Value)>,
    /// Whether the scheduler's state is under the legacy key `lr_scheduler`.
    pub legacy_key: bool,
}

/// The arguments of Megatron-LM's `args` that are kept: those its
/// `get_optimizer_param_scheduler` and optimizer read
/// ([`crate::recipe`] builds the schedule from them).
pub const ARGS_READ: [&str; 27] = [
    "global_batch_size",
    "rampup_batch_size",
    "train_iters",
    "train_samples",
    "lr",
    "min_lr",
    "lr_decay_style",
    "lr_decay_iters",
    "lr_decay_samples",
    "lr_warmup_fraction",
    "lr_warmup_iters",
    "lr_warmup_samples",
    "lr_warmup_init",
    "lr_wsd_decay_style",
    "lr_wsd_decay_iters",
    "lr_wsd_decay_samples",
    "weight_decay",
    "start_weight_decay",
    "end_weight_decay",
    "weight_decay_incr_style",
    "optimizer",
    "adam_beta1",
    "adam_beta2",
    "adam_eps",
    "sgd_momentum",
    "use_checkpoint_opt_param_scheduler",
    "override_opt_param_scheduler",
];

/// Whether `path` names a Megatron-LM checkpoint: a `model_optim_rng.pt`,
/// an `iter_*` folder holding one, or a save folder with its
/// `latest_checkpointed_iteration.txt`.
pub fn is_checkpoint(path: &Path) -> bool {
    if path.is_dir() {
        path.join(RANK_FILE).is_file() || path.join(TRACKER).is_file()
    } else {
        path.file_name().is_some_and(|n| n == "model_optim_rng.pt")
    }
}

/// The `model_optim_rng.pt` that `path` names (see [`is_checkpoint`]).
///
/// # Errors
/// [`Error::State`] for a tracker file that holds no iteration (`release`
/// checkpoints have no scheduler) or whose folder is missing.
pub fn rank_file(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if path.join(RANK_FILE).is_file() {
        return Ok(path.join(RANK_FILE));
    }
    let tracker = path.join(TRACKER);
    let text = read_small(&tracker)?;
    let text = text.trim();
    let iteration: u64 = text.parse().map_err(|_| {
        Error::State(format!(
            "{}: `{}` is not an iteration (a release checkpoint has no scheduler)",
            TRACKER,
            cut(text)
        ))
    })?;
    let file = path.join(format!("iter_{iteration:07}")).join(RANK_FILE);
    if !file.is_file() {
        return Err(Error::State(format!(
            "{TRACKER} names iteration {iteration}, but there is no iter_{iteration:07}/{RANK_FILE} (another \
             tensor- or pipeline-parallel rank's file, or the torch_dist format, is not read)"
        )));
    }
    Ok(file)
}

/// The tracker file: a line, at most 64 bytes.
fn read_small(path: &Path) -> Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|source| Error::Io { path: path.into(), source })?;
    let mut text = String::new();
    f.take(64).read_to_string(&mut text).map_err(|source| Error::Io { path: path.into(), source })?;
    Ok(text)
}

fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Reads the checkpoint `path` names.
///
/// # Errors
/// [`Error::Io`], [`Error::TorchFile`] (a class in its pickle that is not on
/// the allowlist, ...) and [`Error::State`] in one line: no scheduler state
/// (saved with `--no-save-optim`), no optimizer, a `ChainedOptimizer`.
pub fn load(path: &Path) -> Result<MegatronCheckpoint> {
    let file = rank_file(path)?;
    let top = torch_file::load(&file)?;
    if top.items().is_none() {
        return Err(Error::State(format!("the file holds a {}, not Megatron-LM's dict", top.type_name())));
    }
    let (scheduler, legacy_key) = match (top.get("opt_param_scheduler"), top.get("lr_scheduler")) {
        (Some(s), _) => (s.clone(), false),
        (None, Some(s)) => (s.clone(), true),
        (None, None) => {
            return Err(Error::State(
                "it has no `opt_param_scheduler` (nor the legacy `lr_scheduler`): saved with --no-save-optim?".into(),
            ))
        }
    };
    let optimizer = match top.get("optimizer") {
        None => return Err(Error::State("it has no `optimizer`: saved with --no-save-optim?".into())),
        Some(o) if o.get("param_groups").is_some() => o,
        Some(o) if o.get("optimizer").and_then(|i| i.get("param_groups")).is_some() => o.get("optimizer").unwrap_or(o),
        Some(Value::List(l)) => {
            return Err(Error::Unsupported(format!(
                "its `optimizer` is a ChainedOptimizer's list of {} optimizers: not read yet",
                l.len()
            )))
        }
        Some(o) => return Err(Error::State(format!("its `optimizer` is a {} without `param_groups`", o.type_name()))),
    };
    // The optimizer's groups only: its per-parameter state stays on disk.
    let param_groups = optimizer.get("param_groups").cloned().unwrap_or(Value::None);
    let optimizer = Value::Dict(vec![
        (Value::Str("state".into()), Value::Dict(Vec::new())),
        (Value::Str("param_groups".into()), param_groups),
    ]);
    let iteration = match top.get("iteration") {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    };
    let (args_class, args) = match top.get("args") {
        Some(Value::Object { class, fields }) => {
            let kept = fields.iter().filter(|(k, _)| ARGS_READ.contains(&k.as_str())).cloned().collect();
            (Some(*class), kept)
        }
        _ => (None, Vec::new()),
    };
    let state =
        Value::Dict(vec![(Value::Str("optimizer".into()), optimizer), (Value::Str("scheduler".into()), scheduler)]);
    Ok(MegatronCheckpoint { file, state, iteration, args_class, args, legacy_key })
}
