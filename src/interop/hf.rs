//! A Hugging Face Trainer checkpoint folder (`checkpoint-N/`, what
//! `transformers.Trainer` saves every `save_steps`): its scheduler
//! (`scheduler.pt`, the `LambdaLR` state of the `lr_scheduler_type`), its
//! optimizer (`optimizer.pt`) and `trainer_state.json` (the step, `max_steps`
//! and the learning rate logged at each logging step), so that
//! `tch-lr trace CONFIG --steps N --resume-from checkpoint-K/` shows what the
//! Python run's learning rate does next.
//!
//! The schedule's own parameters (`lr_scheduler_type`, `warmup_steps`,
//! `lr_scheduler_kwargs`, `learning_rate`) are in `training_args.bin`, a
//! pickle of the `TrainingArguments` class, which the pickle reader reads as
//! a record (never constructed; see [the allowlist](super)):
//! [`recipe::load`](crate::recipe::load) turns the folder into its config.
//! A config written by hand (`transformers.<lr_scheduler_type>`,
//! `num_warmup_steps`, `num_training_steps: max_steps`, the Trainer's two
//! parameter groups: with and without weight decay) works as well. A trace
//! resumed from the folder ([`crate::trace`]) holds the config to the
//! learning rates the run logged up to the checkpoint, so a config that does
//! not describe the run is refused in one line instead of tracing another
//! schedule.
//!
//! The Trainer's AdamW is PyTorch's fused one by default (`fused: True` in
//! each group): the flag does not change the schedule, and is dropped on
//! import ([`TrainerCheckpoint::dropped`]); an optimizer continued from such
//! a state steps with tch-lr's single-tensor formula, not the fused kernel's.

use std::path::Path;

use super::{torch_file, Value};
use crate::error::{Error, Result};

/// The largest `trainer_state.json` read (its `log_history` grows by a line
/// per logging step; a million steps logged take about 150 MiB): 256 MiB.
pub const MAX_TRAINER_STATE: u64 = 256 << 20;

/// What a Trainer checkpoint folder holds for tch-lr.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerCheckpoint {
    /// `{"optimizer": optimizer.pt, "scheduler": scheduler.pt}`, as
    /// [`state::from_pytorch`](super::state::from_pytorch) takes it.
    pub state: Value,
    /// `trainer_state.json`'s `global_step` (the scheduler's `last_epoch`).
    pub global_step: u64,
    /// `trainer_state.json`'s `max_steps` (the schedule's `num_training_steps`).
    pub max_steps: u64,
    /// Each logged step and the learning rate logged there (the first
    /// group's, after that step).
    pub logged_lr: Vec<(u64, f64)>,
    /// The optimizer's options dropped on import (`fused`), with the number of
    /// groups that set them.
    pub dropped: Vec<String>,
}

impl TrainerCheckpoint {
    /// The number of parameter groups of the checkpoint's optimizer.
    pub fn param_groups(&self) -> usize {
        match self.state.get("optimizer").and_then(|o| o.get("param_groups")) {
            Some(Value::List(groups)) => groups.len(),
            _ => 0,
        }
    }
}

fn bad(dir: &Path, message: impl std::fmt::Display) -> Error {
    Error::State(format!("{}: {message}", dir.display()))
}

/// Whether `dir` looks like a Trainer checkpoint folder (it holds `scheduler.pt`).
pub fn is_trainer_checkpoint(dir: &Path) -> bool {
    dir.is_dir() && dir.join("scheduler.pt").is_file()
}

/// The files of a checkpoint folder tch-lr reads.
const FILES: [&str; 3] = ["scheduler.pt", "optimizer.pt", "trainer_state.json"];

/// Reads the checkpoint folder `dir`: `trainer_state.json`, and of
/// `scheduler.pt` and `optimizer.pt` their directory and pickle only
/// ([`torch_file::load`]): the optimizer's per-parameter tensors (Adam's
/// moments, twice the model's size) stay on disk until asked for.
///
/// # Errors
/// One line each: [`Error::State`] for a folder without `scheduler.pt`,
/// `optimizer.pt` or `trainer_state.json`, a `trainer_state.json` that is not
/// the Trainer's (or beyond [`MAX_TRAINER_STATE`]), a scheduler whose step is
/// not the Trainer's `global_step`; [`Error::TorchFile`] for a `.pt` file that
/// cannot be read; [`Error::Io`].
pub fn load(dir: &Path) -> Result<TrainerCheckpoint> {
    for f in FILES {
        if !dir.join(f).is_file() {
            return Err(bad(dir, format!("no {f}: not a Hugging Face Trainer checkpoint folder")));
        }
    }
    let scheduler = torch_file::load(dir.join("scheduler.pt"))?;
    let (optimizer, dropped) = without_fused(torch_file::load(dir.join("optimizer.pt"))?);
    let TrainerState { global_step, max_steps, logged_lr } = trainer_state(dir)?;
    let last_epoch = match scheduler.get("last_epoch") {
        Some(Value::Int(e)) => *e,
        _ => return Err(bad(dir, "scheduler.pt has no last_epoch: not a Trainer's LambdaLR state")),
    };
    if u64::try_from(last_epoch).ok() != Some(global_step) {
        return Err(bad(
            dir,
            format!("scheduler.pt is at step {last_epoch}, trainer_state.json's global_step {global_step}"),
        ));
    }
    let key = |k: &str| Value::Str(k.into());
    let state = Value::Dict(vec![(key("optimizer"), optimizer), (key("scheduler"), scheduler)]);
    Ok(TrainerCheckpoint { state, global_step, max_steps, logged_lr, dropped })
}

/// The optimizer state with each group's `fused: True` set to `None`, and
/// what was dropped.
fn without_fused(mut optimizer: Value) -> (Value, Vec<String>) {
    let mut fused = 0;
    if let Value::Dict(items) = &mut optimizer {
        for (k, groups) in items.iter_mut() {
            let (Value::Str(k), Value::List(groups)) = (k, groups) else { continue };
            if k != "param_groups" {
                continue;
            }
            for group in groups {
                let Value::Dict(options) = group else { continue };
                for (name, v) in options.iter_mut() {
                    if matches!(name, Value::Str(n) if n == "fused") && *v == Value::Bool(true) {
                        *v = Value::None;
                        fused += 1;
                    }
                }
            }
        }
    }
    let dropped = if fused > 0 { vec![format!("fused (in {fused} group(s))")] } else { vec![] };
    (optimizer, dropped)
}

/// What tch-lr reads of `trainer_state.json`.
struct TrainerState {
    global_step: u64,
    max_steps: u64,
    logged_lr: Vec<(u64, f64)>,
}

/// `trainer_state.json`: the global step, `max_steps` and the logged learning rates.
fn trainer_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join("trainer_state.json");
    let io = |source| Error::Io { path: path.clone(), source };
    let size = std::fs::metadata(&path).map_err(io)?.len();
    if size > MAX_TRAINER_STATE {
        return Err(bad(dir, format!("trainer_state.json is {size} bytes, more than {MAX_TRAINER_STATE}")));
    }
    let text = std::fs::read(&path).map_err(io)?;
    let json: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(dir, format!("trainer_state.json: {e}")))?;
    let count = |k: &str| {
        json.get(k)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad(dir, format!("trainer_state.json has no `{k}` count: not the Trainer's")))
    };
    let (global_step, max_steps) = (count("global_step")?, count("max_steps")?);
    let history = json
        .get("log_history")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad(dir, "trainer_state.json has no `log_history` list: not the Trainer's"))?;
    let logged = history
        .iter()
        .filter_map(|e| Some((e.get("step")?.as_u64()?, e.get("learning_rate")?.as_f64()?)))
        .filter(|(_, lr)| lr.is_finite())
        .collect();
    Ok(TrainerState { global_step, max_steps, logged_lr: logged })
}
