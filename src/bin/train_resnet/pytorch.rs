//! The run as PyTorch's own checkpoint, so that it moves between this example
//! and its PyTorch twin (`scripts/reference/train_resnet_torch.py`) and
//! continues there bit for bit on the CPU. One `torch.save` file:
//!
//! ```text
//! {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
//!  "scheduler": scheduler.state_dict(),
//!  "progress": {"step": s, "epoch": e, "batch": b},   # the next batch
//!  "run": {"model": "resnet20", "seed": .., "batch_size": .., "train_size": ..}}
//! ```
//!
//! `--save-pytorch FILE` writes it when the run stops (at its end or at
//! `--stop-after`), the twin's `--resume FILE` continues it; the twin's
//! `--save FILE` writes it, `--resume-pytorch FILE` continues it here. The
//! model's weights go by name (this ResNet-20 names its variables as the
//! twin's modules do); the optimizer's `state` by PyTorch's parameter index;
//! the data's position is the step, epoch and batch (each epoch's order is
//! seeded by the run's seed and the epoch, on both sides); the run uses no
//! other random numbers after its start, so no generator state is saved.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::nn::VarStore;
use tch::Tensor;
use tch_lr::config::Config;
use tch_lr::interop::{model, state, torch_file, Value};
use tch_lr::{Schedule, Scheduler};

use crate::average::Averaged;
use crate::checkpoint::RunSettings;

/// PyTorch's BatchNorm counts its training batches (`num_batches_tracked`);
/// tch's does not keep the count.
const BATCHES_TRACKED: &str = "num_batches_tracked";

fn int(v: i64) -> Value {
    Value::Int(v)
}

fn key(k: &str) -> Value {
    Value::Str(k.into())
}

/// The settings that make two runs the same run: the model and the data's
/// order and batches.
fn run_keys(run: &RunSettings) -> Vec<(&'static str, Value)> {
    vec![
        ("model", Value::Str(run.model.clone())),
        ("seed", int(run.seed)),
        ("batch_size", int(run.batch_size)),
        ("train_size", int(run.train_size)),
        ("swa_start", run.swa.as_ref().map_or(Value::None, |s| int(s.start))),
        ("ema", run.ema.map_or(Value::None, Value::Float)),
    ]
}

/// The key of the averaged model's `state_dict` in the file.
const AVERAGED: &str = "averaged_model";

/// `--weights FILE`: PyTorch's `model.state_dict()` (or a file holding it
/// under "model") into the model, all or nothing.
pub fn load_weights(path: &Path, vs: &mut VarStore) -> Result<()> {
    let at = || format!("--weights {}", path.display());
    let file = torch_file::load(path).with_context(at)?;
    let weights = file.get("model").unwrap_or(&file);
    model::load_state_dict(vs, weights, &[BATCHES_TRACKED]).with_context(at)?;
    println!("weights: {}", path.display());
    Ok(())
}

/// Loads the checkpoint at `path` into the model, the scheduler and the
/// optimizer; the global step, epoch and batch the run goes on from
/// (`batches` an epoch). A Hugging Face Trainer checkpoint folder continues
/// its schedule only ([`trainer`]).
pub fn load(
    path: &Path,
    config: &Config,
    run: &RunSettings,
    batches: usize,
    vs: &mut VarStore,
    sched: &mut Scheduler<Box<dyn Schedule>>,
    averaged: Option<&mut Averaged>,
) -> Result<(u64, usize, usize)> {
    let at = || format!("--resume-pytorch {}", path.display());
    if tch_lr::interop::hf::is_trainer_checkpoint(path) {
        return trainer(path, config, batches, sched, averaged.is_some()).with_context(at);
    }
    let file = torch_file::load(path).with_context(at)?;
    let part = |k: &str| file.get(k).with_context(|| format!("{}: no `{k}` (not a train_resnet checkpoint)", at()));
    let saved = part("run")?;
    for (k, want) in run_keys(run) {
        let got = saved.get(k);
        if got != Some(&want) {
            bail!("{}: the run's {k} is {got:?}, this run's {want:?} (give the flags of the run saved)", at());
        }
    }
    let weights = part("model")?;
    model::load_state_dict(vs, weights, &[BATCHES_TRACKED]).with_context(at)?;
    // The optimizer's state is by parameter index: PyTorch's order (the
    // modules' registration order, as the state_dict lists them; the head,
    // group 1, is last) must be the owned optimizer's.
    let order = model::optimizer_order(vs);
    let saved: Vec<&str> = weights
        .items()
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| match k {
            Value::Str(n) if order.contains(n) => Some(n.as_str()),
            _ => None,
        })
        .collect();
    if saved != order {
        bail!("{}: PyTorch's parameters are in another order than this model's ({saved:?}, {order:?})", at());
    }
    let sched_state = state::from_pytorch(config, sched, &file).with_context(at)?;
    sched.load_state(sched_state).with_context(at)?;
    let optimizer_state = part("optimizer")?.get("state").with_context(|| format!("{}: no optimizer state", at()))?;
    state::optimizer_state_from_pytorch(sched.optimizer_mut(), optimizer_state).with_context(at)?;
    if let Some(a) = averaged {
        a.load_state_dict(part(AVERAGED)?).with_context(at)?;
    }
    let progress = part("progress")?;
    let count = |k: &str| match progress.get(k) {
        Some(Value::Int(n)) if *n >= 0 => Ok(*n as u64),
        other => bail!("{}: progress `{k}` is {other:?}, not a count", at()),
    };
    let (step, epoch, batch) = (count("step")?, count("epoch")? as usize, count("batch")? as usize);
    println!("resuming {} (PyTorch's checkpoint) at step {step} (epoch {epoch}, batch {batch})", path.display());
    Ok((step, epoch, batch))
}

/// A Hugging Face Trainer checkpoint folder (`checkpoint-K/`): its schedule
/// continues at step K, from its `scheduler.pt` and its optimizer's groups
/// (their LRs and settings), as `tch-lr trace` continues it; its weights and
/// its optimizer's moments belong to the Trainer's model, not this one, so
/// this model's weights and moments start afresh (said so). The config must
/// be the run's schedule (`--recipe checkpoint-K/` reads it from the
/// folder), stepped once per update as the Trainer steps it.
fn trainer(
    path: &Path,
    config: &Config,
    batches: usize,
    sched: &mut Scheduler<Box<dyn Schedule>>,
    averaged: bool,
) -> Result<(u64, usize, usize)> {
    if averaged {
        bail!("a Hugging Face Trainer checkpoint holds no weight average for --swa-start or --ema to continue");
    }
    if config.interval != tch_lr::config::Interval::Step {
        bail!("a Hugging Face Trainer steps its schedule once per update: the config's interval must be step");
    }
    let checkpoint = tch_lr::interop::hf::load(path)?;
    let sched_state = state::from_pytorch(config, sched, &checkpoint.state)?;
    sched.load_state(sched_state)?;
    for note in &checkpoint.dropped {
        println!("note: dropped {note}: the schedule does not depend on it");
    }
    let step = checkpoint.global_step;
    let batches = batches.max(1) as u64;
    let (epoch, batch) = ((step / batches) as usize, (step % batches) as usize);
    println!(
        "resuming {} (a Hugging Face Trainer checkpoint) at step {step} (epoch {epoch}, batch {batch}): its schedule; \
         the weights and the optimizer's moments start afresh (the Trainer's are its own model's)",
        path.display()
    );
    Ok((step, epoch, batch))
}

/// Writes the run, whose next batch is `batch` of `epoch` at global `step`,
/// to `path` (atomically) for the twin's `--resume`.
#[allow(clippy::too_many_arguments)]
pub fn save(
    path: &Path,
    config: &Config,
    run: &RunSettings,
    vs: &VarStore,
    sched: &Scheduler<Box<dyn Schedule>>,
    averaged: Option<&Averaged>,
    (step, epoch, batch): (u64, usize, usize),
) -> Result<()> {
    let Value::Dict(mut out) = state::to_pytorch(config, sched)? else { bail!("a state that is not a dict") };
    let Value::OrderedDict { mut items, attrs } = model::state_dict(vs)? else { bail!("a model that is not a dict") };
    // Each BatchNorm has seen one batch per training step (its running_mean's
    // module gets PyTorch's counter).
    let counters: Vec<String> = items
        .iter()
        .filter_map(|(k, _)| match k {
            Value::Str(n) => n.strip_suffix(".running_mean").map(|m| format!("{m}.{BATCHES_TRACKED}")),
            _ => None,
        })
        .collect();
    for name in counters {
        let count = torch_file::from_tch(&Tensor::from(step as i64))?;
        items.push((Value::Str(name), Value::Tensor(count)));
    }
    out.push((key("model"), Value::OrderedDict { items, attrs }));
    let progress = [("step", int(step as i64)), ("epoch", int(epoch as i64)), ("batch", int(batch as i64))];
    out.push((key("progress"), Value::Dict(progress.into_iter().map(|(k, v)| (key(k), v)).collect())));
    out.push((key("run"), Value::Dict(run_keys(run).into_iter().map(|(k, v)| (key(k), v)).collect())));
    if let Some(a) = averaged {
        out.push((key(AVERAGED), a.state_dict()?));
    }
    torch_file::save(path, &Value::Dict(out)).with_context(|| format!("--save-pytorch {}", path.display()))?;
    println!("saved {} (PyTorch's checkpoint) at step {step} (epoch {epoch}, batch {batch})", path.display());
    Ok(())
}
