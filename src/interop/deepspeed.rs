//! A DeepSpeed checkpoint (`engine.save_checkpoint(save_dir)`, DeepSpeed
//! 0.19.8): `<save_dir>/<tag>/mp_rank_00_model_states.pt` (`tag` defaults to
//! `global_step<N>`; `<save_dir>/latest` names the last), whose
//! `lr_scheduler` entry is the scheduler's `state_dict()` beside the
//! engine's `global_steps`, so that `tch-lr trace CONFIG --steps N
//! --resume-from <save_dir>/<tag>` shows what the run's learning rate does next.
//!
//! What the engine writes there (its `_save_checkpoint`): `module` (the
//! model), `buffer_names`, `optimizer` (the optimizer's `state_dict()`, or
//! `None` under ZeRO, which keeps it in `zero_pp_rank_*_optim_states.pt`
//! files), `param_shapes`, `frozen_param_shapes`, `shared_params`,
//! `frozen_param_fragments`, `lr_scheduler`, `data_sampler`, `random_ltd`,
//! `skipped_steps`, `global_steps`, `global_samples`, `dp_world_size`,
//! `mp_world_size`, `checkpoint_parallel_dimensions`, `ds_config` and
//! `ds_version`. tch-lr reads the pickle and, of it, `lr_scheduler`,
//! `optimizer`'s `param_groups`, the step counts and `ds_version`: the
//! model's and the optimizer's tensors are records, read on demand, and are
//! not asked for. With fp16 (no ZeRO) `optimizer` wraps the optimizer's
//! state (`optimizer_state_dict`); under ZeRO the groups' values follow from
//! the schedule's state for DeepSpeed's own schedules
//! (the protocol's `load_torch_entries_alone`),
//! and a `torch.optim.lr_scheduler` class (which reads the optimizer's
//! values) is refused.

use std::path::{Path, PathBuf};

use super::{torch_file, Value};
use crate::error::{Error, Result};

/// What a DeepSpeed checkpoint holds for tch-lr.
#[derive(Clone, Debug, PartialEq)]
pub struct DeepSpeedCheckpoint {
    /// The model-states file read.
    pub file: PathBuf,
    /// `{"scheduler": lr_scheduler}`, with `"optimizer"`: the optimizer's
    /// `state_dict()` where the file holds it (not under ZeRO), as
    /// [`state::from_pytorch`](super::state::from_pytorch) takes it.
    pub state: Value,
    /// `global_steps`: the optimizer steps taken.
    pub global_steps: i64,
    /// `skipped_steps`: the fp16 overflow steps among them, on which the
    /// engine did not step the scheduler.
    pub skipped_steps: i64,
    /// `ds_version`: the DeepSpeed that wrote it.
    pub ds_version: Option<String>,
    /// `ds_config`: the JSON config the engine ran with (as the engine held
    /// it: Trainer's `"auto"` values filled in), where the file has one.
    pub ds_config: Option<Value>,
}

impl DeepSpeedCheckpoint {
    /// Whether the file holds the optimizer's state (no ZeRO).
    pub fn has_optimizer(&self) -> bool {
        self.state.get("optimizer").is_some()
    }
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::State(format!("{}: {message}", path.display()))
}

/// Whether `name` is a model-states file's: `mp_rank_NN_model_states.pt`
/// (ZeRO-3: `zero_pp_rank_R_mp_rank_NN_model_states.pt`).
fn is_model_states(name: &str) -> bool {
    name.ends_with("_model_states.pt") && (name.starts_with("mp_rank_") || name.starts_with("zero_pp_rank_"))
}

/// The first rank's model-states file in a tag folder.
fn in_tag(dir: &Path) -> Option<PathBuf> {
    ["mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_model_states.pt"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// The model-states file `path` names: the file itself, a tag folder
/// (`<save_dir>/<tag>`), or the save folder with its `latest` file.
fn model_states(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        let name = path.file_name()?.to_str()?;
        return is_model_states(name).then(|| path.to_path_buf());
    }
    if !path.is_dir() {
        return None;
    }
    in_tag(path).or_else(|| {
        let tag = std::fs::read_to_string(path.join("latest")).ok()?;
        in_tag(&path.join(tag.trim()))
    })
}

/// Whether `path` is a DeepSpeed checkpoint: a model-states file, a tag
/// folder holding one, or a save folder whose `latest` names such a tag.
pub fn is_deepspeed_checkpoint(path: &Path) -> bool {
    model_states(path).is_some()
}

/// Reads the checkpoint at `path` (see [`is_deepspeed_checkpoint`]): the
/// model-states file's directory and pickle ([`torch_file::load`]; the
/// tensors stay on disk) and, of it, what tch-lr needs.
///
/// # Errors
/// One line each: [`Error::State`] for a path that is no DeepSpeed
/// checkpoint, a file without `lr_scheduler` (the engine had no scheduler)
/// or step counts; [`Error::TorchFile`] for a file that cannot be read.
pub fn load(path: &Path) -> Result<DeepSpeedCheckpoint> {
    let file = model_states(path).ok_or_else(|| {
        bad(path, "not a DeepSpeed checkpoint (<save_dir>/<tag>/mp_rank_00_model_states.pt, its tag folder, or <save_dir> with `latest`)")
    })?;
    let value = torch_file::load(&file)?;
    let count = |k: &str| match value.get(k) {
        Some(Value::Int(n)) => Ok(*n),
        _ => Err(bad(&file, format!("no `{k}` count: not a DeepSpeed engine's checkpoint"))),
    };
    let (global_steps, skipped_steps) = (count("global_steps")?, count("skipped_steps")?);
    let scheduler = match value.get("lr_scheduler") {
        Some(Value::None) | None => {
            return Err(bad(&file, "its `lr_scheduler` is None: the engine had no scheduler to continue"))
        }
        Some(s) => s.clone(),
    };
    let key = |k: &str| Value::Str(k.into());
    let mut state = vec![(key("scheduler"), scheduler)];
    match value.get("optimizer") {
        None | Some(Value::None) => {}
        // FP16_Optimizer's state wraps the optimizer's.
        Some(o) if o.get("param_groups").is_none() && o.get("optimizer_state_dict").is_some() => {
            state.push((key("optimizer"), o.get("optimizer_state_dict").cloned().unwrap_or(Value::None)));
        }
        Some(o) => state.push((key("optimizer"), o.clone())),
    }
    let ds_version = match value.get("ds_version") {
        Some(Value::Str(v)) => Some(v.clone()),
        _ => None,
    };
    let ds_config = value.get("ds_config").filter(|c| c.items().is_some()).cloned();
    Ok(DeepSpeedCheckpoint { file, state: Value::Dict(state), global_steps, skipped_steps, ds_version, ds_config })
}
