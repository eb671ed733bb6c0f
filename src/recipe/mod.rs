//! A Python run's own files as the config: what a run saved beside its
//! weights, read as its training script reads it, so that a run is continued
//! (or traced, or plotted) with nothing to translate by hand.
//!
//! [`load`] takes a path and returns the [`Config`] it describes, the file to
//! resume from where the path is a checkpoint, and one line saying what it
//! found (the CLI prints it as a note):
//!
//! | the path | read as |
//! |---|---|
//! | a tch-lr YAML config, DeepSpeed's JSON config | [`Config::from_path`] |
//! | a DeepSpeed checkpoint (`<save_dir>/<tag>`, its `mp_rank_00_model_states.pt`, `<save_dir>` with `latest`) | its `ds_config` (the config the engine ran with), resumed at its `global_steps` |
//! | a Megatron-LM checkpoint (`iter_XXXXXXX/mp_rank_00/model_optim_rng.pt`, its `iter_` folder, the save folder) | its `args` as `get_optimizer_param_scheduler` reads them, each group's `max_lr`, `min_lr`, `wd_mult`; resumed at its `num_steps` |
//! | timm's `args.yaml` (a YAML mapping with `sched`, `lr_base` and `model`) | the LR, optimizer and schedule its `train.py` builds ([`RecipeOptions`]: its updates per epoch, its world size) |
//! | a Hugging Face Trainer `checkpoint-K/`, a folder with `training_args.bin`, that file | its `TrainingArguments` and `max_steps`, as the Trainer builds its schedule (resumed at step K from a checkpoint) |
//!
//! Files from outside are untrusted: they are read with the crate's pickle
//! reader ([`crate::interop`]: an allowlist, bounded sizes, classes read as
//! records, never constructed), and only the fields the schedule needs are
//! kept.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};

mod deepspeed;
mod hf;
mod megatron;
mod timm;

/// What [`load`] needs besides the path, for recipes that leave it to the
/// training script's run (timm's `args.yaml`: the number of updates per
/// epoch, the number of processes). A recipe that does not need them ignores
/// them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipeOptions {
    /// Updates (optimizer steps) per epoch, for a schedule that steps on
    /// updates.
    pub updates_per_epoch: Option<u64>,
    /// The number of processes the run trained on.
    pub world_size: Option<u64>,
}

/// What a path was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecipeKind {
    /// A config file: tch-lr's YAML, or DeepSpeed's JSON config.
    Config,
    /// A DeepSpeed checkpoint.
    DeepSpeed,
    /// A Megatron-LM checkpoint.
    Megatron,
    /// A Hugging Face Trainer's files (`training_args.bin`).
    Trainer,
    /// timm's `args.yaml`.
    Timm,
}

/// A config, and where a run's own files put it.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// What the path was read as.
    pub kind: RecipeKind,
    /// The optimizer and schedule the run built.
    pub config: Config,
    /// The checkpoint to continue from, where the path is one (pass it as
    /// [`TraceOptions::resume_from`](crate::trace::TraceOptions::resume_from)).
    pub resume_from: Option<PathBuf>,
    /// What was found, in one line (`deepspeed.WarmupDecayLR, ... from
    /// mp_rank_00_model_states.pt's ds_config`); `None` for a config file.
    pub found: Option<String>,
}

/// Reads the config at `path`: a tch-lr config or a run's own files (see
/// the module).
///
/// # Errors
/// One line each: the config's errors ([`Error::Config`], placed in the
/// file), a file that cannot be read ([`Error::Io`], [`Error::TorchFile`]),
/// and a value the recipe cannot honour ([`Error::Unsupported`]) naming it.
pub fn load(path: &Path, options: &RecipeOptions) -> Result<Recipe> {
    let recipe = if crate::interop::deepspeed::is_deepspeed_checkpoint(path) {
        deepspeed::load(path)?
    } else if crate::interop::megatron::is_checkpoint(path) {
        megatron::load(path)?
    } else if hf::is_trainer_run(path) {
        hf::load(path)?
    } else if path.is_dir() {
        return Err(Error::Unsupported(format!(
            "{}: a folder that is no run tch-lr reads (a Trainer folder with training_args.bin, a DeepSpeed tag \
             folder or save folder with `latest`, a Megatron-LM iter_ folder or save folder); a config is a file",
            path.display()
        )));
    } else if let Some(args) = timm::args_yaml(path) {
        timm::load(path, &args, options)?
    } else {
        Recipe { kind: RecipeKind::Config, config: Config::from_path(path)?, resume_from: None, found: None }
    };
    Ok(recipe)
}
