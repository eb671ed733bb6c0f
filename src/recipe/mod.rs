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

/// What [`load`] needs besides the path, for recipes that leave it to the
/// training script's run (timm's `args.yaml`: the number of updates per
/// epoch, the number of processes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipeOptions {
    /// Updates (optimizer steps) per epoch, for a schedule that steps on
    /// updates.
    pub updates_per_epoch: Option<u64>,
    /// The number of processes the run trained on.
    pub world_size: Option<u64>,
}

/// A config, and where a run's own files put it.
#[derive(Clone, Debug)]
pub struct Recipe {
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
/// a value the recipe cannot honour ([`Error::Unsupported`]) naming it, and
/// an option given to a recipe that does not take it.
pub fn load(path: &Path, options: &RecipeOptions) -> Result<Recipe> {
    let recipe = if crate::interop::deepspeed::is_deepspeed_checkpoint(path) {
        deepspeed::load(path)?
    } else if hf::is_trainer_run(path) {
        hf::load(path)?
    } else {
        Recipe { config: Config::from_path(path)?, resume_from: None, found: None }
    };
    if recipe_takes_no(options) {
        return Ok(recipe);
    }
    Err(Error::Unsupported(format!(
        "{}: --updates-per-epoch and --world-size are for timm's args.yaml (its train.py counts them at run time)",
        path.display()
    )))
}

fn recipe_takes_no(options: &RecipeOptions) -> bool {
    options.updates_per_epoch.is_none() && options.world_size.is_none()
}
